package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gopcp/gopcp/protocol"
)

const fixtureDir = "testdata/fixture"

// fakeSelf is a server as the pmcd metrics see it.
type fakeSelf struct {
	feat    Features
	clients []Client
}

func (f *fakeSelf) NumClients() int    { return len(f.clients) }
func (f *fakeSelf) Features() Features { return f.feat }
func (f *fakeSelf) Clients() []Client  { return f.clients }

func testSelf() *fakeSelf {
	return &fakeSelf{
		feat: Features{Secure: true, ClientCertRequired: false, CredsRequired: true, UnixSockets: true, Local: false},
		clients: []Client{
			{Slot: 7, WhoAmI: "pmval", Start: time.Date(2026, 11, 3, 9, 5, 1, 0, time.UTC)},
			{Slot: 2, WhoAmI: "127.0.0.1", Container: "web", Start: time.Date(2026, 11, 23, 14, 38, 25, 0, time.UTC)},
		},
	}
}

// fakeStatfs answers statfs for the fixture's mount points (under root) and fails
// for anything else, the way a vanished mount point would.
func fakeStatfs(root string) func(string, *unix.Statfs_t) error {
	sizes := map[string]unix.Statfs_t{
		filepath.Join(root, "/"):            {Bsize: 4096, Blocks: 66053021, Bfree: 63089650, Bavail: 59000000},
		filepath.Join(root, "/srv/my data"): {Bsize: 1024, Blocks: 1000, Bfree: 250},
	}
	return func(path string, st *unix.Statfs_t) error {
		v, ok := sizes[path]
		if !ok {
			return syscall.ENOENT
		}
		*st = v
		return nil
	}
}

// newFixtureRegistry builds a registry over a fixture tree with every volatile input
// (pid, time zone, page size, statfs, server) pinned.
func newFixtureRegistry(t testing.TB, dir string) *Registry {
	t.Helper()
	r, err := New(Options{
		ProcRoot: filepath.Join(dir, "proc"),
		SysRoot:  filepath.Join(dir, "sys"),
		EtcRoot:  filepath.Join(dir, "etc"),
		RootFS:   filepath.Join(dir, "rootfs"),
		UtmpPath: filepath.Join(dir, "var/run/utmp"),
		Hostname: "fixturehost.example.org",
		Version:  "1.2.3",
		Self:     testSelf(),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.env.pid = 4242
	r.env.pageSize = 4096
	r.env.getenv = func(string) string { return "" }
	r.env.loc = time.UTC
	source[*fsSource](t, r, "mounts").statfs = fakeStatfs(filepath.Join(dir, "rootfs"))
	return r
}

// source returns the registered source called name, with its concrete type.
func source[T Source](t testing.TB, r *Registry, name string) T {
	t.Helper()
	for _, st := range r.sources {
		if st.spec.name == name {
			s, ok := st.src.(T)
			if !ok {
				t.Fatalf("source %s is a %T", name, st.src)
			}
			return s
		}
	}
	t.Fatalf("no source %s", name)
	panic("unreachable")
}

// copyTree copies a fixture into a fresh temporary directory (keeping symbolic links)
// so a test can damage it.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	// os.CopyFS keeps symlinks (os.DirFS is a ReadLinkFS) as the fixtures need.
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func allPMIDs(r *Registry) []protocol.PMID {
	var p []protocol.PMID
	for _, m := range r.Metrics() {
		p = append(p, m.Desc.PMID)
	}
	return p
}

func fetchByName(t testing.TB, r *Registry, names ...string) map[string]Result {
	t.Helper()
	var pmids []protocol.PMID
	for _, n := range names {
		m, ok := r.ByName(n)
		if !ok {
			t.Fatalf("no metric %s", n)
		}
		pmids = append(pmids, m.Desc.PMID)
	}
	res := r.Fetch(nil, pmids)
	out := make(map[string]Result, len(names))
	for i, n := range names {
		out[n] = res[i]
	}
	return out
}

// volatile metrics: their values depend on the test process, not on the fixture.
var volatile = map[string]bool{"pmcd.cputime.total": true}

// formatResult renders one result for the golden file.
func formatResult(m *Metric, res Result) string {
	var b strings.Builder
	b.WriteString(m.Name)
	switch {
	case res.Err != 0:
		fmt.Fprintf(&b, " error %d (%s)", res.Err, protocol.ErrStr(res.Err))
	case len(res.Values) == 0:
		b.WriteString(" no values")
	case volatile[m.Name]:
		fmt.Fprintf(&b, " %d volatile value(s)", len(res.Values))
	default:
		for _, v := range res.Values {
			b.WriteByte(' ')
			if v.Inst != protocol.InNull {
				fmt.Fprintf(&b, "[%d]=", v.Inst)
			}
			b.WriteString(formatValue(m.Desc.Type, v))
		}
	}
	return b.String()
}

func formatValue(typ int32, v Value) string {
	switch typ {
	case protocol.Type32, protocol.Type64:
		return strconv.FormatInt(int64(v.U), 10)
	case protocol.TypeU32, protocol.TypeU64:
		return strconv.FormatUint(v.U, 10)
	case protocol.TypeFloat:
		return strconv.FormatFloat(v.F, 'g', -1, 32)
	case protocol.TypeDouble:
		return strconv.FormatFloat(v.F, 'g', -1, 64)
	case protocol.TypeString:
		return strconv.Quote(v.S)
	}
	return "?"
}

func formatInstances(in []Instance) string {
	parts := make([]string, len(in))
	for i, x := range in {
		parts[i] = fmt.Sprintf("%d %q", x.ID, x.Name)
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

func pmidOf(t testing.TB, r *Registry, name string) protocol.PMID {
	t.Helper()
	m, ok := r.ByName(name)
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	return m.Desc.PMID
}
