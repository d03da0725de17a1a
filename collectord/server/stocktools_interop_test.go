package server

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/internal/pcptest"
)

// suffixedNumber is a number as dstat, mpstat and pmiostat print it, dstat's "284k"
// and "8186B" included.
var suffixedNumber = regexp.MustCompile(`^[-+]?[0-9][0-9.:,]*[BkKmMgGT]?$`)

// toolLayout is layout for the monitors: numbers may carry a unit suffix, and dstat
// joins a column group's last value to its "|" separator.
func toolLayout(out string) []string { return layout(out, suffixedNumber, true) }

// TestStockMonitorsAgainstCollectord runs the real pcp dstat (default set and the
// cpu, disk, net, load, proc and sys plugins), pcp mpstat, pmiostat and pmstat
// against collectord and against the real pmcd: each must exit 0 with nothing on
// standard error and no missing-metric complaint, and print the same layout.
func TestStockMonitorsAgainstCollectord(t *testing.T) {
	requirePCPTools(t, "/usr/bin/pcp", "/usr/bin/pmiostat", "/usr/bin/pmstat",
		"/usr/lib/pcp/bin/pcp-dstat", "/usr/lib/pcp/bin/pcp-mpstat")
	realHost := "127.0.0.1:" + strconv.Itoa(pcptest.StartPMCD(t, ""))
	_, addr, _ := startServer(t, nil)
	missing := regexp.MustCompile(`(?i)missing|invalid metric|unknown metric|not available|PM_ERR`)
	for _, tc := range []struct {
		name string
		args []string
		// skipFirst: lines at the top whose layout depends on the host's state,
		// not on the metrics (dstat's first row has blanks for rates).
		skipFirst int
	}{
		{"dstat", []string{"/usr/bin/pcp", "-h", "HOST", "dstat", "--nocolor", "1", "2"}, 0},
		{"dstat-plugins", []string{"/usr/bin/pcp", "-h", "HOST", "dstat", "--nocolor", "--cpu", "--disk", "--net", "--load", "--proc", "--sys", "1", "2"}, 0},
		{"mpstat", []string{"/usr/bin/pcp", "-h", "HOST", "mpstat", "-t", "0.5", "-s", "2"}, 1},
		{"mpstat-all", []string{"/usr/bin/pcp", "-h", "HOST", "mpstat", "-t", "0.5", "-s", "2", "-P", "ALL"}, 1},
		{"iostat", []string{"/usr/bin/pmiostat", "-h", "HOST", "-t", "0.5", "-s", "2"}, 0},
		{"iostat-x", []string{"/usr/bin/pmiostat", "-h", "HOST", "-t", "0.5", "-s", "2", "-x", "t"}, 0},
		{"pmstat", []string{"/usr/bin/pmstat", "-h", "HOST", "-t", "0.5", "-s", "2"}, 1},
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
				if code != 0 || errOut != "" || missing.MatchString(out) {
					t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
				}
				l := toolLayout(out)
				if len(l) > tc.skipFirst {
					l = l[tc.skipFirst:]
				}
				return out, l
			}
			wantOut, want := run(realHost)
			gotOut, got := run(addr)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("layout differs from the real pmcd's:\n--- collectord\n%s--- real pmcd\n%s", gotOut, wantOut)
			}
		})
	}
}
