package stress

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gopcp/gopcp/collectord/metrics"
	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/protocol"
)

// fixtureDir is the metric sources' fixture tree of /proc, /sys and /etc.
func fixtureDir(t testing.TB) string {
	t.Helper()
	root, err := pcptest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "collectord", "metrics", "testdata", "fixture")
}

// copyTree copies a fixture tree, symbolic links as links.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "root")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, out)
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, b, 0o644)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// fixtureOptions points every source at the tree dir.
func fixtureOptions(dir string) metrics.Options {
	return metrics.Options{ProcRoot: filepath.Join(dir, "proc"), SysRoot: filepath.Join(dir, "sys"),
		EtcRoot: filepath.Join(dir, "etc"), RootFS: filepath.Join(dir, "rootfs"), Hostname: "fixturehost.example.org", Version: "stress"}
}

func newFixtureRegistry(t testing.TB, dir string) *metrics.Registry {
	t.Helper()
	r, err := metrics.New(fixtureOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func allPMIDs(r *metrics.Registry) []protocol.PMID {
	var ids []protocol.PMID
	for _, m := range r.Metrics() {
		ids = append(ids, m.Desc.PMID)
	}
	return ids
}

// fetchAll fetches every metric and returns name -> result.
func fetchAll(r *metrics.Registry) map[string]metrics.Result {
	res := r.Fetch(nil, allPMIDs(r))
	out := make(map[string]metrics.Result, len(res))
	for i, m := range r.Metrics() {
		out[m.Name] = res[i]
	}
	return out
}

func fmtResult(r metrics.Result) string { return fmt.Sprintf("err %d %v", r.Err, r.Values) }

// volatileMetric reports values that change by themselves: statfs of the real file
// system under the fixture's rootfs, this process's CPU time.
func volatileMetric(name string) bool {
	return strings.HasPrefix(name, "filesys.") || strings.HasPrefix(name, "pmcd.cputime")
}

// dependencies finds, for every metric, the files and folders of the tree its
// fetch opens (inotify IN_OPEN), each with a fresh registry so that a source that
// keeps what it read once is seen reading it.
func dependencies(t testing.TB, dir string) map[string]map[string]bool {
	t.Helper()
	var dirs []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	w := newWatcher(t, unix.IN_OPEN, dirs...)
	deps := map[string]map[string]bool{}
	names := newFixtureRegistry(t, dir).Metrics()
	for _, m := range names {
		r := newFixtureRegistry(t, dir)
		w.events(0)
		r.Fetch(nil, []protocol.PMID{m.Desc.PMID})
		set := map[string]bool{}
		for _, ev := range w.events(0) {
			rel, _ := filepath.Rel(dir, ev.path)
			set[rel] = true
		}
		deps[m.Name] = set
	}
	return deps
}

// mutation breaks one file of the tree.
type mutation struct {
	name  string
	apply func(path string, b []byte, rng *rand.Rand) ([]byte, bool) // new content; false: remove
}

var digits = regexp.MustCompile(`[0-9]+`)

var mutations = []mutation{
	{"vanishes", func(string, []byte, *rand.Rand) ([]byte, bool) { return nil, false }},
	{"is empty", func(string, []byte, *rand.Rand) ([]byte, bool) { return []byte{}, true }},
	{"holds 4 KiB of binary garbage", func(_ string, _ []byte, rng *rand.Rand) ([]byte, bool) {
		g := make([]byte, 4096)
		for i := range g {
			g[i] = byte(rng.IntN(256))
		}
		return g, true
	}},
	{"has an unexpected line", func(_ string, b []byte, _ *rand.Rand) ([]byte, bool) {
		first, rest, _ := bytes.Cut(b, []byte("\n"))
		out := append(append([]byte{}, first...), "\ngopcp_unexpected: 12 34 x y\n"...)
		return append(out, rest...), true
	}},
	{"has numbers too big for 64 bits", func(_ string, b []byte, _ *rand.Rand) ([]byte, bool) {
		return digits.ReplaceAll(b, []byte("99999999999999999999999")), true
	}},
	{"has negative numbers", func(_ string, b []byte, _ *rand.Rand) ([]byte, bool) {
		return digits.ReplaceAll(b, []byte("-$0")), true
	}},
	{"lost its second half", func(_ string, b []byte, _ *rand.Rand) ([]byte, bool) {
		lines := bytes.SplitAfter(b, []byte("\n"))
		return bytes.Join(lines[:len(lines)/2], nil), true
	}},
}

// keyValueFiles hold one value per named line; the other files are tables (a row
// per disk, interface, CPU, mount) or free text.
var keyValueFiles = map[string]bool{"proc/meminfo": true, "proc/vmstat": true, "proc/loadavg": true,
	"proc/uptime": true, "proc/self/status": true}

// requiredFiles fail their source (SourceErrors counts it) when they vanish or hold
// garbage; the others are optional (a process that exits, an attribute a driver
// does not have, a release file a distribution does not ship).
var requiredFiles = map[string]bool{
	"proc/stat": true, "proc/meminfo": true, "proc/loadavg": true, "proc/uptime": true, "proc/vmstat": true,
	"proc/diskstats": true, "proc/net/dev": true, "proc/mounts": true,
}

// TestProcFaultMatrix: each file of the fixture tree, in turn, vanishes, empties,
// fills with garbage, gets an unexpected line, numbers that overflow, negative
// numbers or loses half its lines. Only the metrics that read that file may change
// (they learn which from inotify), and those only to an error, to no value or to
// fewer instances with the same values: never to a wrong value (absent is not
// zero). A required file that vanishes or holds garbage is recorded in
// SourceErrors. Process directories and network interfaces vanish whole too.
func TestProcFaultMatrix(t *testing.T) {
	clean := copyTree(t, fixtureDir(t))
	deps := dependencies(t, clean)
	readers := map[string][]string{} // path -> metrics that open it
	for m, set := range deps {
		for p := range set {
			readers[p] = append(readers[p], m)
		}
	}
	base := fetchAll(newFixtureRegistry(t, clean))
	again := fetchAll(newFixtureRegistry(t, clean))
	for n := range base {
		if fmtResult(base[n]) != fmtResult(again[n]) && !volatileMetric(n) {
			t.Fatalf("%s differs between two fetches of the same tree: %s / %s", n, fmtResult(base[n]), fmtResult(again[n]))
		}
	}

	var files, folders []string
	filepath.WalkDir(clean, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(clean, p)
		switch {
		case err != nil || rel == "." || strings.HasPrefix(rel, "rootfs"):
		case d.Type().IsRegular() && d.Name() != ".keep":
			files = append(files, rel)
		case d.IsDir() && (regexp.MustCompile(`^proc/[0-9]+$`).MatchString(rel) || regexp.MustCompile(`^sys/class/net/[^/]+$`).MatchString(rel)):
			folders = append(folders, rel)
		}
		return nil
	})
	sort.Strings(files)

	rng := rand.New(rand.NewPCG(3, 4))
	cat := newFixtureRegistry(t, clean)
	cases, violations := 0, 0
	// changeAllowed says whether a metric that reads the broken file may show a
	// value it did not have (rather than an error, no value, or fewer instances
	// with the same values).
	changeAllowed := func(n, file, mu string) bool {
		m, _ := cat.ByName(n)
		switch {
		case m.Desc.Type == protocol.TypeString:
			return true // text is whatever the file says
		case mu == "vanishes whole":
			return true // a process or an interface gone: counts change
		case mu == "has numbers too big for 64 bits":
			return m.Desc.Type == protocol.TypeFloat || m.Desc.Type == protocol.TypeDouble
		case mu == "is empty" || mu == "lost its second half" || mu == "vanishes":
			// Fewer rows of a table are fewer disks, interfaces, CPUs or files:
			// totals and counts change. A key-value file that loses keys must
			// not make values computed from them change (absent is not zero).
			return m.Desc.InDom == protocol.InDomNull && !keyValueFiles[file]
		}
		return false
	}
	check := func(file, mu string, allowed map[string]bool, mustRecord bool, dir string) {
		what := file + " " + mu
		cases++
		r := newFixtureRegistry(t, dir)
		got := fetchAll(r)
		bad := 0
		for n, b := range base {
			a := got[n]
			if strings.HasPrefix(n, "pmcd.gopcp.") {
				continue // the daemon's own record of failures
			}
			if !allowed[n] {
				same := fmtResult(a) == fmtResult(b)
				if volatileMetric(n) {
					same = a.Err == b.Err && len(a.Values) == len(b.Values)
				}
				if !same {
					t.Errorf("%s: %s changed, though it does not read that file: %.80q -> %.80q", what, n, fmtResult(b), fmtResult(a))
					bad++
				}
				continue
			}
			if a.Err < 0 || len(a.Values) == 0 || volatileMetric(n) || changeAllowed(n, file, mu) {
				continue
			}
			for _, v := range a.Values {
				found := false
				for _, bv := range b.Values {
					if bv.Inst == v.Inst {
						found = bv == v
						break
					}
				}
				if !found {
					t.Errorf("%s: %s has a value that was not there: %.80q (before: %.80q)", what, n, fmt.Sprintf("%+v", v), fmt.Sprint(b.Values))
					bad++
					break
				}
			}
		}
		if mustRecord {
			var total uint64
			for _, c := range r.SourceErrors() {
				total += c
			}
			if total == 0 {
				t.Errorf("%s: SourceErrors recorded nothing", what)
				bad++
			}
		}
		if bad > 0 {
			violations++
		}
	}
	for _, f := range files {
		for _, mu := range mutations {
			dir := copyTree(t, clean)
			p := filepath.Join(dir, f)
			b, _ := os.ReadFile(p)
			nb, keep := mu.apply(p, b, rng)
			if keep && bytes.Equal(nb, b) {
				continue
			}
			if keep {
				os.WriteFile(p, nb, 0o644)
			} else {
				os.Remove(p)
			}
			allowed := map[string]bool{}
			for _, m := range readers[f] {
				allowed[m] = true
			}
			if !keep { // a listing of its folder changes too
				for _, m := range readers[filepath.Dir(f)] {
					allowed[m] = true
				}
			}
			check(f, mu.name, allowed, requiredFiles[f] && mu.name == "vanishes", dir)
		}
	}
	for _, d := range folders {
		dir := copyTree(t, clean)
		os.RemoveAll(filepath.Join(dir, d))
		allowed := map[string]bool{}
		for p, ms := range readers {
			if p == d || strings.HasPrefix(p, d+"/") || p == filepath.Dir(d) {
				for _, m := range ms {
					allowed[m] = true
				}
			}
		}
		check(d, "vanishes whole", allowed, false, dir)
	}
	figure(t, "/proc fault matrix", "%d files x %d faults and %d vanishing folders: %d cases, %d with a metric outside the broken file changed or a wrong value",
		len(files), len(mutations), len(folders), cases, violations)
}

// TestGarbageIsRecorded: a required kernel file full of binary garbage fails its
// metrics and is counted in SourceErrors (pmcd.gopcp.source.errors), so that an
// operator sees it; reporting "no values" for everything would hide it.
func TestGarbageIsRecorded(t *testing.T) {
	clean := copyTree(t, fixtureDir(t))
	rng := rand.New(rand.NewPCG(5, 6))
	var files []string
	for f := range requiredFiles {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			dir := copyTree(t, clean)
			g, _ := mutations[2].apply("", nil, rng)
			if err := os.WriteFile(filepath.Join(dir, f), g, 0o644); err != nil {
				t.Fatal(err)
			}
			r := newFixtureRegistry(t, dir)
			fetchAll(r)
			var failed []string
			for name, c := range r.SourceErrors() {
				if c > 0 {
					failed = append(failed, name)
				}
			}
			if len(failed) == 0 {
				if n := garbageNeeds[f]; n != "" {
					t.Skipf("needs: %s", n)
				}
				t.Fatalf("%s holds 4 KiB of binary garbage and SourceErrors recorded nothing", f)
			}
			if len(failed) > 1 {
				t.Fatalf("garbage in %s failed several sources: %v", f, failed)
			}
		})
	}
}

// garbageNeeds are the changes the sources need for TestGarbageIsRecorded.
var garbageNeeds = map[string]string{
	"proc/vmstat": "collectord/metrics/memory.go (*vmstatSource).Fetch: count in `lines` only the lines whose value " +
		"field parses as a decimal number (today any line with a first field counts), so that a file with no `name value` " +
		"line returns errParse and Registry.run counts it, instead of every metric reporting no value",
	"proc/mounts": "collectord/metrics/filesystem.go (*fsSource).read: return errParse when /proc/mounts is not empty " +
		"and none of its lines has the device, mount point and type fields (today such lines are skipped and the " +
		"result is no file systems, with nothing counted in SourceErrors)",
}
