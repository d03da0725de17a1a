package server

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/pcptest"
)

// parseDescs reads `pminfo -dm` output into name -> "PMID | type | indom | sem | units".
func parseDescs(out string) map[string]string {
	descs := map[string]string{}
	var name, pmid, typ string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(l, " PMID: ") && !strings.HasPrefix(l, " "):
			name, pmid, _ = strings.Cut(l, " PMID: ")
		case strings.HasPrefix(l, "    Data Type: "):
			typ = strings.TrimPrefix(l, "    Data Type: ")
		case strings.HasPrefix(l, "    Semantics: ") && name != "":
			descs[name] = pmid + " | " + typ + " | " + strings.TrimPrefix(l, "    Semantics: ")
			name = ""
		}
	}
	return descs
}

// TestRealDescriptorsMatch walks the real pmcd's whole namespace and ours with the real
// pminfo -dm and, for every name both serve, compares PMID, type, instance domain,
// semantics and units. It also fails on a name we serve that the real pmcd does not
// (other than our own pmcd.gopcp.*), and reports how far the breadth is.
func TestRealDescriptorsMatch(t *testing.T) {
	pcptest.Require(t, pcptest.PMCD, pcptest.PMInfo)
	realPort := pcptest.StartPMCD(t, "")
	_, addr, _ := startServer(t, nil)
	wantOut, _, _ := runTool(t, pcptest.PMInfo, "-h", "127.0.0.1:"+strconv.Itoa(realPort), "-dm")
	gotOut, gerr, gcode := runTool(t, pcptest.PMInfo, "-h", addr, "-dm")
	if gcode != 0 || gerr != "" {
		t.Errorf("pminfo -dm against collectord: exit %d\n%s", gcode, gerr)
	}
	want, got := parseDescs(wantOut), parseDescs(gotOut)
	if len(want) < 1000 {
		t.Fatalf("only %d descriptors from the real pmcd", len(want))
	}
	common, missing := 0, 0
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			missing++
			continue
		}
		common++
		if g != w {
			t.Errorf("%s:\n ours: %s\n real: %s", name, g, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok && !strings.HasPrefix(name, "pmcd.gopcp.") {
			t.Errorf("%s: served by collectord, not by the real pmcd", name)
		}
	}
	t.Logf("real pmcd serves %d names, collectord %d; %d in common, %d of the real ones missing", len(want), len(got), common, missing)
}

// stockEnv runs PCP's Python tools with the system Python (which has the pcp module),
// whatever python3 comes first on PATH.
func stockEnv() []string {
	return pcptest.Env("PATH=/usr/bin:/bin:" + os.Getenv("PATH"))
}

func runStock(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = stockEnv()
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", args[0], err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not finish", args)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// plainNumber is a number as pcp free, uptime and pmrep print it.
var plainNumber = regexp.MustCompile(`^[-+]?[0-9][0-9.:,]*$`)

// shape is the layout of a tool's output: per line, the count of fields, and the
// words that are not numbers (headers, labels), so that values may differ.
func shape(out string) []string { return layout(out, plainNumber, false) }

// layout reduces out to what must not differ between two hosts: per line, its count
// of fields and its words, with each word num matches (and "N/A") replaced by "#".
// splitBars first sets "|" apart, for tools that join a value to a separator.
func layout(out string, num *regexp.Regexp, splitBars bool) []string {
	var s []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if splitBars {
			l = strings.ReplaceAll(l, "|", " | ")
		}
		f := strings.Fields(l)
		words := []string{strconv.Itoa(len(f))}
		for _, w := range f {
			if num.MatchString(w) || w == "N/A" {
				w = "#"
			}
			words = append(words, w)
		}
		s = append(s, strings.Join(words, " "))
	}
	return s
}

// requirePCPTools skips t unless the real pmcd and pminfo, the given tools and
// PCP's Python module (which the pcp-* commands import) are installed.
func requirePCPTools(t *testing.T, tools ...string) {
	t.Helper()
	pcptest.Require(t, pcptest.PMCD, pcptest.PMInfo)
	for _, p := range tools {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s missing: install the Debian packages pcp and python3-pcp (scripts/reference-pcp install)", p)
		}
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import pcp.pmapi").Run(); err != nil {
		t.Skip("the PCP Python module is missing: apt-get install python3-pcp")
	}
}

// TestStockToolsAgainstCollectord runs the real `pcp free`, `pcp uptime` and
// `pmrep :vmstat` against collectord and against the real pmcd: both must succeed
// with no error output, and print the same layout (header lines, columns).
func TestStockToolsAgainstCollectord(t *testing.T) {
	requirePCPTools(t, "/usr/bin/pcp", "/usr/bin/pmrep", "/usr/lib/pcp/bin/pcp-free", "/usr/lib/pcp/bin/pcp-uptime")
	realHost := "127.0.0.1:" + strconv.Itoa(pcptest.StartPMCD(t, ""))
	_, addr, _ := startServer(t, nil)
	uptime := regexp.MustCompile(`^ \d\d:\d\d:\d\d up .+, +\d+ users?, +load average: [0-9.]+, [0-9.]+, [0-9.]+$`)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"free", []string{"/usr/bin/pcp", "-h", "HOST", "free"}},
		{"uptime", []string{"/usr/bin/pcp", "-h", "HOST", "uptime"}},
		{"vmstat", []string{"/usr/bin/pmrep", "-h", "HOST", "-t", "0.2", "-s", "2", ":vmstat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(host string) (string, []string) {
				args := append([]string(nil), tc.args...)
				for i := range args {
					if args[i] == "HOST" {
						args[i] = host
					}
				}
				out, errOut, code := runStock(t, args...)
				if code != 0 || errOut != "" {
					t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
				}
				return out, shape(out)
			}
			wantOut, want := run(realHost)
			gotOut, got := run(addr)
			if tc.name == "uptime" {
				if !uptime.MatchString(strings.TrimRight(gotOut, "\n")) {
					t.Errorf("pcp uptime against collectord: %q", gotOut)
				}
				return // "up 5 min" and "up 1:05" differ in fields: the pattern is the shape
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("layout differs from the real pmcd's:\n--- collectord\n%s--- real pmcd\n%s", gotOut, wantOut)
			}
		})
	}
}
