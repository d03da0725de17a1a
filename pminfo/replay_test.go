package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/pmapi/pmapitest"
)

// cleanEnv removes the environment variables that change how pminfo connects.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{"PCP_SECURE_SOCKETS", "PMPROXY_HOST", "PCP_CONTAINER", "PMCD_PORT",
		"PMCD_REQUEST_TIMEOUT", "PMCD_CONNECT_TIMEOUT", "PMCD_SOCKET"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

// traceArgs turns the trace's "pminfo -h HOST[:port] ARGS" into arguments aimed at
// the replay server's port.
func traceArgs(t *testing.T, tr *pmapitest.Trace, port int) []string {
	t.Helper()
	f := strings.Fields(tr.Command)
	if len(f) < 3 || f[0] != "pminfo" || f[1] != "-h" {
		t.Fatalf("%s: unexpected command %q", tr.Name, tr.Command)
	}
	host, _, _ := strings.Cut(f[2], ":")
	return append([]string{"-h", host + ":" + strconv.Itoa(port)}, f[3:]...)
}

// TestReplayTraces runs pminfo against a server replaying each recorded trace and
// checks that pminfo sends exactly the recorded requests (byte for byte, in order)
// and prints exactly the recorded output with the recorded exit status.
func TestReplayTraces(t *testing.T) {
	// The fake pmcd serves only the traced exchange, recorded with PCP_DERIVED_CONFIG=
	// (derived metrics would add their operand lookups to it).
	t.Setenv("PCP_DERIVED_CONFIG", "")
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no traces in testdata")
	}
	for _, file := range files {
		tr, err := pmapitest.LoadTrace(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(tr.Name, func(t *testing.T) {
			cleanEnv(t)
			mode := pmapitest.Strict
			want := tr.Output
			if tr.Name == "pminfo_all_names" {
				// The recording loaded /etc/pcp/derived/*.conf: libpcp checked those
				// metrics with extra requests and listed them after event.missed.
				// This pminfo has only the two anonymous derived metrics.
				mode = pmapitest.Lookup
				want = want[:strings.Index(want, "event.missed\n")+len("event.missed\n")]
			}
			srv := pmapitest.Replay(t, tr, mode)
			args := traceArgs(t, tr, srv.Port)
			var out bytes.Buffer
			status := run(args, &out, &out)
			srv.Close()
			// The recorded host string carried the recording's port.
			got := strings.ReplaceAll(withoutStoreLine(out.String()), ":"+strconv.Itoa(srv.Port)+`"`, ":44322\"")
			if got != want {
				t.Errorf("pminfo %s: output differs\n got:\n%s\nwant:\n%s", strings.Join(args, " "), got, want)
			}
			if status != tr.Exit {
				t.Errorf("exit status %d, want %d", status, tr.Exit)
			}
		})
	}
}
