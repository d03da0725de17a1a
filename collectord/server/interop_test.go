package server

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/pmapi"
)

// commonMetrics are served by both the real pmcd and ours (PROTOCOL.md 8.2).
var commonMetrics = []string{
	"kernel.uname.release", "kernel.uname.version", "kernel.uname.sysname", "kernel.uname.machine",
	"kernel.uname.nodename", "kernel.uname.distro", "kernel.all.load", "kernel.all.nprocs",
	"kernel.all.cpu.user", "kernel.all.cpu.nice", "kernel.all.cpu.sys", "kernel.all.cpu.idle",
	"kernel.all.cpu.intr", "kernel.all.cpu.wait.total", "kernel.all.cpu.irq.soft", "kernel.all.cpu.irq.hard",
	"kernel.all.cpu.steal", "kernel.all.cpu.guest", "kernel.percpu.cpu.user", "kernel.percpu.cpu.nice",
	"kernel.percpu.cpu.sys", "kernel.percpu.cpu.idle", "kernel.percpu.cpu.wait.total", "kernel.all.intr",
	"kernel.all.pswitch", "kernel.all.sysfork", "kernel.all.running", "kernel.all.blocked",
	"kernel.all.boottime", "kernel.all.hz", "kernel.all.uptime", "kernel.all.idletime", "hinv.ncpu",
	"hinv.ndisk", "hinv.physmem", "hinv.pagesize", "hinv.ninterface", "hinv.machine", "mem.physmem",
	"mem.util.used", "mem.util.free", "mem.util.shared", "mem.util.bufmem", "mem.util.cached",
	"mem.util.slab", "mem.util.available", "mem.freemem", "swap.length", "swap.used", "swap.free",
	"swap.pagesin", "swap.pagesout", "swap.in", "swap.out", "disk.dev.read", "disk.dev.write",
	"disk.dev.total", "disk.dev.read_bytes", "disk.dev.write_bytes", "disk.dev.total_bytes",
	"disk.dev.avactive", "disk.all.read", "disk.all.write", "disk.all.total", "disk.all.read_bytes",
	"disk.all.write_bytes", "disk.all.total_bytes", "network.interface.in.bytes",
	"network.interface.in.packets", "network.interface.in.errors", "network.interface.in.drops",
	"network.interface.out.bytes", "network.interface.out.packets", "network.interface.out.errors",
	"network.interface.out.drops", "network.interface.mtu", "network.interface.speed",
	"network.interface.up", "filesys.capacity", "filesys.used", "filesys.free", "filesys.mountdir",
	"proc.nprocs", "pmcd.numclients", "pmcd.version", "pmcd.hostname", "pmcd.pid",
	"pmcd.feature.secure", "pmcd.feature.client_cert_required",
}

func runTool(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = pcptest.Env()
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	return out.String(), errb.String(), code
}

// TestRealPminfoMetadata: the real pminfo sees the same names, PMIDs and descriptors
// from our collectord as from the real pmcd. The help text is our own (not PCP's), so
// for -t and -T the real pminfo must show exactly the catalogue's text, and our
// pminfo must print byte for byte what the real one prints against the same server.
func TestRealPminfoMetadata(t *testing.T) {
	pcptest.Require(t, pcptest.PMCD, pcptest.PMInfo)
	realPort := pcptest.StartPMCD(t, "")
	s, addr, _ := startServer(t, nil)
	for _, flags := range []string{"-d", "-m", "-dm"} {
		args := append([]string{flags}, commonMetrics...)
		want, werr, wcode := runTool(t, pcptest.PMInfo, append([]string{"-h", "127.0.0.1:" + strconv.Itoa(realPort)}, args...)...)
		got, gerr, gcode := runTool(t, pcptest.PMInfo, append([]string{"-h", addr}, args...)...)
		if got != want || gerr != werr || gcode != wcode {
			t.Errorf("pminfo %s differs from the real pmcd's:\n%s", flags, firstDiff(got+gerr, want+werr))
		}
	}

	ours := buildOurPminfo(t)
	for _, flags := range []string{"-t", "-T", "-dmtT"} {
		args := append([]string{"-h", addr, flags}, commonMetrics...)
		real, rerr, rcode := runTool(t, pcptest.PMInfo, args...)
		got, gerr, gcode := runTool(t, ours, args...)
		if got != real || gerr != rerr || gcode != rcode {
			t.Errorf("our pminfo %s differs from the real one against the same collectord:\n%s", flags, firstDiff(got+gerr, real+rerr))
		}
		if rcode != 0 || rerr != "" {
			t.Errorf("real pminfo %s: exit %d, %s", flags, rcode, rerr)
		}
		// The real pminfo shows the catalogue's text for every metric.
		for _, name := range commonMetrics {
			m, ok := s.Registry.ByName(name)
			if !ok {
				t.Fatalf("%s: not in the catalogue", name)
			}
			var want string
			switch flags {
			case "-t":
				want = "\n" + name + " [" + m.OneLine() + "]\n"
			case "-T":
				want = "\n" + name + "\nHelp:\n" + m.Help() + "\n"
			default:
				want = "\n" + name + " PMID: " + m.Desc.PMID.String() + " [" + m.OneLine() + "]\n"
				if !strings.Contains(real, "Help:\n"+m.Help()+"\n") {
					t.Errorf("real pminfo %s: no long help of %s", flags, name)
				}
			}
			if !strings.Contains("\n"+real, want) {
				t.Errorf("real pminfo %s does not show our help of %s: want %q", flags, name, want)
			}
		}
	}
}

// buildOurPminfo builds the pminfo program of this module into a temporary directory.
func buildOurPminfo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pminfo")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/gopcp/gopcp/pminfo").CombinedOutput(); err != nil {
		t.Fatalf("building our pminfo: %v\n%s", err, out)
	}
	return bin
}

// firstDiff shows the first differing line of two outputs.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n  ours: " + a + "\n  real: " + b
		}
	}
	return "(equal)"
}

// TestRealPminfoValues: the real pminfo -f and -l against ours give sensible values.
func TestRealPminfoValues(t *testing.T) {
	pcptest.Require(t, pcptest.PMInfo)
	_, addr, _ := startServer(t, nil)
	out, errOut, code := runTool(t, pcptest.PMInfo, "-h", addr, "-f", "hinv.ncpu", "kernel.all.load", "kernel.uname.nodename", "kernel.all.cpu")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "\nhinv.ncpu\n    value "+strconv.Itoa(runtime.NumCPU())+"\n") {
		t.Errorf("ncpu:\n%s", out)
	}
	load := regexp.MustCompile(`    inst \[(1|5|15) or "(1|5|15) minute"\] value ([0-9.e+-]+)\n`)
	m := load.FindAllStringSubmatch(out, -1)
	if len(m) != 3 {
		t.Fatalf("load lines:\n%s", out)
	}
	for _, l := range m {
		v, err := strconv.ParseFloat(l[3], 64)
		if err != nil || v < 0 || v > 1000 {
			t.Errorf("load %q", l[3])
		}
	}
	for _, n := range []string{"kernel.all.cpu.user", "kernel.all.cpu.wait.total", "kernel.all.cpu.irq.hard"} {
		if !regexp.MustCompile(`\n` + regexp.QuoteMeta(n) + `\n    value [0-9]+\n`).MatchString(out) {
			t.Errorf("non-leaf expansion lacks %s:\n%s", n, out)
		}
	}
	out, _, code = runTool(t, pcptest.PMInfo, "-h", addr, "-l", "kernel.all.load")
	if code != 0 || !strings.Contains(out, `    labels {"agent":"linux","domainname":"`) ||
		!strings.Contains(out, `    inst [15 or "15 minute"] labels {"agent":"linux",`) {
		t.Errorf("labels:\n%s", out)
	}
	_, errOut, code = runTool(t, pcptest.PMInfo, "-h", addr, "-f", "nonexistent.metric")
	if code != 1 || errOut != "Error: nonexistent.metric: Unknown metric name\n" {
		t.Errorf("unknown name: exit %d %q", code, errOut)
	}
}

// TestRealPminfoListing: the whole namespace lists, and every name is a leaf we serve.
func TestRealPminfoListing(t *testing.T) {
	pcptest.Require(t, pcptest.PMInfo)
	s, addr, _ := startServer(t, nil)
	out, _, code := runTool(t, pcptest.PMInfo, "-h", addr)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	// The real pminfo appends its client-side derived metrics: libpcp's
	// anonymous event ones and those of its default configuration directory
	// (PCP_DERIVED_CONFIG as the caller has it) whose operands we serve.
	derived := map[string]bool{}
	for _, d := range pmapi.LoadDerivedFromEnv(os.Getenv, os.LookupEnv, nil).Defs() {
		derived[d.Name] = true
	}
	var names []string
	for _, n := range strings.Fields(out) {
		if !derived[n] {
			names = append(names, n)
		}
	}
	if len(names) != len(s.Registry.Metrics()) {
		t.Fatalf("listed %d names, registry has %d", len(names), len(s.Registry.Metrics()))
	}
	for _, n := range names {
		if _, ok := s.Registry.ByName(n); !ok {
			t.Errorf("listed %q which is not a metric", n)
		}
	}
}

func TestRealPmvalAndPmprobe(t *testing.T) {
	pcptest.Require(t, pcptest.PMVal, pcptest.PMProbe)
	_, addr, _ := startServer(t, nil)
	out, errOut, code := runTool(t, pcptest.PMVal, "-h", addr, "-s", "3", "-t", "0.2", "kernel.all.load")
	if code != 0 {
		t.Fatalf("pmval exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 12 || lines[1] != "metric:    kernel.all.load" || !strings.HasPrefix(lines[2], "host:      ") ||
		lines[3] != "semantics: instantaneous value" || lines[5] != "samples:   3" ||
		!strings.Contains(lines[8], "1 minute      5 minute     15 minute") {
		t.Fatalf("pmval output:\n%s", out)
	}
	out, errOut, code = runTool(t, pcptest.PMProbe, "-h", addr, "-v", "kernel.all.load", "hinv.ncpu", "kernel.uname.nodename", "pmcd.numclients")
	if code != 0 {
		t.Fatalf("pmprobe exit %d: %s", code, errOut)
	}
	want := regexp.MustCompile(`^kernel.all.load 3 [0-9.e+-]+ [0-9.e+-]+ [0-9.e+-]+\nhinv.ncpu 1 ` +
		strconv.Itoa(runtime.NumCPU()) + `\nkernel.uname.nodename 1 "[^"]+"\npmcd.numclients 1 [1-9][0-9]*\n$`)
	if !want.MatchString(out) {
		t.Fatalf("pmprobe output:\n%s", out)
	}
}
