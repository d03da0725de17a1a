package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/internal/testcerts"
)

const (
	realPminfo = pcptest.PMInfo
	realPmcd   = pcptest.PMCD
)

// startRealPmcd starts the real pmcd on a free loopback port for the test and
// returns the port and its unix socket. extra are reference-pcp arguments after
// the port (-t TLSCONF, -- PMCD_ARGS).
func startRealPmcd(t *testing.T, extra ...string) (int, string) {
	t.Helper()
	pcptest.Require(t, realPminfo, realPmcd)
	tool, err := pcptest.ReferenceScript()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := pcptest.FreePort(t)
	out, err := exec.Command(tool, append([]string{"start", dir, strconv.Itoa(port)}, extra...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("reference-pcp start: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(tool, "stop", dir).Run() })
	return port, filepath.Join(dir, "run", "pmcd.socket")
}

type result struct {
	stdout, stderr string
	status         int
}

// runReal runs the real pminfo with its default environment for derived metrics
// (PCP_DERIVED_CONFIG as the caller has it: unset means the default directory).
func runReal(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(realPminfo, args...)
	cmd.Env = append(append(os.Environ(), "PCP_TLSCONF_PATH=/nonexistent"), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	status := 0
	if ee, ok := err.(*exec.ExitError); ok {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{o.String(), e.String(), status}
}

// runOurs runs this pminfo in-process with the same environment additions.
func runOurs(t *testing.T, env []string, args ...string) result {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var o, e bytes.Buffer
	status := run(args, &o, &e)
	return result{o.String(), e.String(), status}
}

var (
	valueRE  = regexp.MustCompile(`^(\s*(?:inst \[[^\]]*\] )?value )(.*)$`)
	numberRE = regexp.MustCompile(`^(-?[0-9]+(\.[0-9]+)?(e[+-][0-9]+)?|-?inf|-?nan)$`)
)

// maskValues replaces each metric value by its kind (<number>, <string>, or the
// text itself for anything else), since values change between the two runs;
// names, descriptors, help text, labels and instances must match exactly.
func maskValues(s string) []string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		m := valueRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		v := m[2]
		switch {
		case strings.HasPrefix(v, `"`) && strings.HasSuffix(v, `"`):
			v = "<string>"
		case numberRE.MatchString(v):
			v = "<number>"
		}
		lines[i] = m[1] + v
	}
	return lines
}

func firstDiff(a, b []string) string {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y || i >= len(a) || i >= len(b) {
			return fmt.Sprintf("line %d:\n real: %q\n ours: %q", i+1, x, y)
		}
	}
	return ""
}

func compare(t *testing.T, env []string, args ...string) {
	t.Helper()
	real := runReal(t, env, args...)
	ours := runOurs(t, env, args...)
	if real.status != ours.status {
		t.Errorf("pminfo %s: exit status real %d, ours %d", strings.Join(args, " "), real.status, ours.status)
	}
	if real.stderr != withoutStoreLine(ours.stderr) {
		t.Errorf("pminfo %s: stderr differs\n real: %q\n ours: %q", strings.Join(args, " "), real.stderr, ours.stderr)
	}
	r, o := maskValues(real.stdout), maskValues(ours.stdout)
	if d := firstDiff(r, o); d != "" {
		t.Errorf("pminfo %s: stdout differs at %s\n(%d lines real, %d ours)", strings.Join(args, " "), d, len(r), len(o))
	}
}

// TestInteropRealPminfo compares this pminfo with the real PCP 6.0.3 pminfo, both
// talking to the same real pmcd, for every flag combination over leaf names,
// non-leaf names, PMIDs, instance domains, unknown names and the whole namespace.
func TestInteropRealPminfo(t *testing.T) {
	port, socket := startRealPmcd(t)
	cleanEnv(t)
	host := "127.0.0.1:" + strconv.Itoa(port)

	argSets := map[string][]string{
		"leaves":  {"kernel.all.load", "kernel.uname.nodename", "hinv.ncpu", "mem.physmem", "kernel.all.cpu.user"},
		"nonleaf": {"kernel.all.cpu", "hinv", "mem.util", "network.interface.in", "disk.dev", "filesys", "kernel.percpu.cpu.idle", "swap"},
		"ids":     {"60.0.32", "60.2.0", "60.2", "60.3", "2.3", "60.12.4", "60.0"},
		"errors":  {"nonexistent.metric", "hinv.ncpu", "60.0.999", "999.1", "60", "kernel.all.load.bad", "event", "event.flags", "3.1.0.7"},
		"derived": {"kernel.cpu.util", "disk.dev.await", "disk.dm", "proc.hog.net", "mssql", "event", "511.0.3", "511.0.15", "511.0.60", "511.0.999"},
		"pmcd":    {"pmcd.agent", "pmcd.pmlogger", "pmcd.version", "pmcd.feature", "pmcd.control", "pmcd.numagents", "pmcd.labels"},
	}
	flagSets := []string{"", "-m", "-d", "-t", "-T", "-f", "-l", "-dt", "-dT", "-tT", "-fdm", "-fl", "-fT", "-lT",
		"-dtT", "-fdmtTl", "-M", "-I", "-Mt", "-It", "-v", "-s", "-F", "-x", "-fdlsv", "-b1 -fd", "-b2 -lm"}
	for _, flags := range flagSets {
		for set, names := range argSets {
			args := append([]string{"-h", host}, strings.Fields(flags)...)
			args = append(args, names...)
			t.Run(flags+"/"+set, func(t *testing.T) { compare(t, nil, args...) })
		}
	}
	// The whole namespace (no name arguments): values of proc and pmcd.client
	// instances differ between two runs, so only the metadata flags.
	for _, flags := range []string{"", "-m", "-d", "-t", "-T", "-dmtT", "-M", "-I"} {
		args := append([]string{"-h", host}, strings.Fields(flags)...)
		t.Run(flags+"/all", func(t *testing.T) { compare(t, nil, args...) })
	}
	// Host specifications, environment and connection failures.
	closed := strconv.Itoa(pcptest.FreePort(t))
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"-h", "pcp://" + host, "-m", "hinv.ncpu"}},
		{[]string{"PMCD_SOCKET=" + socket}, []string{"-fl", "hinv.ncpu", "kernel.all.load"}},
		{[]string{"PMCD_SOCKET=" + socket}, []string{"-h", "local:", "-dl", "hinv.ncpu"}},
		{nil, []string{"-h", "unix:" + socket, "-ml", "hinv.ncpu"}},
		{nil, []string{"-h", "local:" + socket, "-m", "hinv.ncpu"}},
		{nil, []string{"-h", "unix:" + socket + ".none", "-m", "hinv.ncpu"}},
		{[]string{"PMCD_SOCKET=/nonexistent", "PMCD_PORT=" + strconv.Itoa(port)}, []string{"-dl", "hinv.ncpu"}},
		{[]string{"PMCD_SOCKET=/nonexistent", "PMCD_PORT=" + closed}, []string{"-f", "hinv.ncpu"}},
		{[]string{"PMCD_SOCKET=/nonexistent", "PMCD_PORT=" + strconv.Itoa(port)}, []string{"-h", "localhost", "-fl", "hinv.ncpu"}},
		{nil, []string{"-h", "pcp:" + host + "?foo=bar", "-m", "hinv.ncpu"}},
		{nil, []string{"-h", "localhost:" + strconv.Itoa(port) + "/", "-f", "hinv.ncpu"}},
		{nil, []string{"-h", host + "?container=foo", "-m", "hinv.ncpu"}},
		{nil, []string{"-h", "127.0.0.1:" + closed, "hinv.ncpu"}},
		{nil, []string{"-h", "127.0.0.1:" + closed + "," + strconv.Itoa(port), "-m", "hinv.ncpu"}},
		{[]string{"PMCD_PORT=" + closed + "," + strconv.Itoa(port)}, []string{"-h", "127.0.0.1", "-m", "hinv.ncpu"}},
		{[]string{"PMCD_PORT=" + closed}, []string{"-h", "127.0.0.1", "hinv.ncpu"}},
		{nil, []string{"-h", "host:abc", "hinv.ncpu"}},
		{nil, []string{"-h", ":45", "hinv.ncpu"}},
		{nil, []string{"-h", "[::1", "hinv.ncpu"}},
		{nil, []string{"-h", "", "hinv.ncpu"}},
		{nil, []string{"-h", host + "?compress", "hinv.ncpu"}},
		{nil, []string{"-h", "pcps://" + host, "hinv.ncpu"}},
		{nil, []string{"-h", "pcps://" + host + "?secure=relaxed", "-f", "hinv.ncpu"}},
		{[]string{"PCP_SECURE_SOCKETS=enforce"}, []string{"-h", host, "hinv.ncpu"}},
		{[]string{"PCP_SECURE_SOCKETS="}, []string{"-h", host, "hinv.ncpu"}},
		{[]string{"PCP_SECURE_SOCKETS=relaxed"}, []string{"-h", host, "-d", "hinv.ncpu"}},
		{[]string{"PCP_SECURE_SOCKETS=0"}, []string{"-h", host, "-d", "hinv.ncpu"}},
		{nil, []string{"-h", host, "hinv.ncpu", "-fd"}},
		{nil, []string{"-h", host, "--", "-f"}},
		{nil, []string{"--host=" + host, "--desc", "--fetch", "--oneline", "hinv.ncpu"}},
		{nil, []string{"-h" + host, "-dfm", "hinv.ncpu"}},
		{nil, []string{"-h", host, "-V"}},
		{nil, []string{"-q"}},
		{nil, []string{"-?"}},
		{nil, []string{"--fe", "hinv.ncpu"}},
		{nil, []string{"--foo"}},
		{nil, []string{"--fetch=1"}},
		{nil, []string{"--host"}},
		{nil, []string{"-h"}},
		{nil, []string{"-b", "x", "hinv.ncpu"}},
		{nil, []string{"-h", host, "-h", host, "hinv.ncpu"}},
		{nil, []string{"-z", "-Z", "UTC", "hinv.ncpu"}},
	} {
		t.Run(strings.Join(c.env, " ")+" "+strings.Join(c.args, " "), func(t *testing.T) {
			compare(t, c.env, c.args...)
		})
	}
}

// writeTLSConf makes a self-signed server certificate and a PCP tls.conf naming it.
// writeTLSConf makes a CA and a server certificate for this host (localhost, its
// name, 127.0.0.1), a PCP 6 tls.conf for the real pmcd, and a user store trusting
// the CA (CT,,) for our pminfo, which verifies servers where the real one does not.
func writeTLSConf(t *testing.T) (conf, userStore string) {
	t.Helper()
	dir := t.TempDir()
	host, _ := os.Hostname()
	ca := testcerts.New(t, nil, testcerts.Options{CN: "test CA", IsCA: true})
	srv := testcerts.New(t, ca, testcerts.Options{CN: "pmcd", Server: true,
		DNS: []string{"localhost", host}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, srv.CertPEM(), 0o644)
	os.WriteFile(keyFile, srv.KeyPEM(t), 0o600)
	conf = filepath.Join(dir, "tls.conf")
	os.WriteFile(conf, []byte("tls-cert-file = "+certFile+"\ntls-key-file = "+keyFile+"\n"), 0o644)
	userStore = filepath.Join(dir, "userdb")
	st, err := store.CreateWith(userStore, nil, fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddCert("test CA", ca.Cert, store.MustParseTrust("CT,,")); err != nil {
		t.Fatal(err)
	}
	return conf, userStore
}

// TestInteropTLS compares both clients against real pmcds with TLS configured,
// with and without -Q (client certificates required from remote clients), for the
// PCP_SECURE_SOCKETS settings and pcps:// (PROTOCOL.md 3.3-3.5): neither client
// has a certificate of its own.
func TestInteropTLS(t *testing.T) {
	conf, userStore := writeTLSConf(t)
	plain, _ := startRealPmcd(t, "-t", conf)
	certReqd, _ := startRealPmcd(t, "-t", conf, "--", "-Q")
	cleanEnv(t)
	db := "PCP_SECURE_DB_PATH=" + userStore
	for _, env := range [][]string{{db}, {db, "PCP_SECURE_SOCKETS=enforce"}, {db, "PCP_SECURE_SOCKETS=relaxed"}} {
		for _, port := range []int{plain, certReqd} {
			p := strconv.Itoa(port)
			for _, host := range []string{"127.0.0.1:" + p, "localhost:" + p, "pcps://127.0.0.1:" + p, "pcps://localhost:" + p + "?secure=relaxed"} {
				t.Run(strings.Join(env, " ")+" "+host, func(t *testing.T) {
					compare(t, env, "-h", host, "-fdl", "kernel.uname.nodename", "hinv.ncpu")
				})
			}
		}
	}
}
