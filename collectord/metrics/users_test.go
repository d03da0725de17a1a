package metrics

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// utmpRecord builds one glibc utmp record.
func utmpRecord(typ int16, user string) []byte {
	b := make([]byte, utmpRecordSize)
	binary.NativeEndian.PutUint16(b, uint16(typ))
	copy(b[utmpUserOffset:utmpUserOffset+utmpUserSize], user)
	return b
}

// TestUtmpCounts: the counting rules measured against the real linux agent (see
// users.go), on the fixture and on hand-made files.
func TestUtmpCounts(t *testing.T) {
	// The fixture: boot, root, alice, bob, a USER_PROCESS without a user, a login
	// prompt, a dead session, an init record. The real pmcd gave 3, 1, 7 for it.
	r := newFixtureRegistry(t, fixtureDir)
	res := fetchByName(t, r, "kernel.all.nusers", "kernel.all.nroots", "kernel.all.nsessions")
	for name, want := range map[string]uint64{"kernel.all.nusers": 3, "kernel.all.nroots": 1, "kernel.all.nsessions": 7} {
		if v := res[name].Values; res[name].Err != 0 || len(v) != 1 || v[0].U != want {
			t.Errorf("%s = %+v, want %d", name, res[name], want)
		}
	}
	// A 32-byte user name fills the field with no NUL: "root" followed by more is not root.
	long := strings.Repeat("r", 32)
	c, err := countUtmp(append(utmpRecord(7, long), utmpRecord(7, "rootx")...))
	if err != nil || c != (utmpCounts{users: 2, roots: 0, sessions: 2}) {
		t.Errorf("long names: %+v %v", c, err)
	}
}

// TestUtmpHostile: a missing utmp is "nobody logged in" (0, as the real agent); a file
// that is not whole records, or is far too large, fails the source and counts an
// error; nothing panics.
func TestUtmpHostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	path := filepath.Join(dir, "var/run/utmp")
	r := newFixtureRegistry(t, dir)
	names := []string{"kernel.all.nusers", "kernel.all.nroots", "kernel.all.nsessions"}

	os.Remove(path)
	for _, n := range names {
		res := fetchByName(t, r, n)[n]
		if res.Err != 0 || len(res.Values) != 1 || res.Values[0].U != 0 {
			t.Errorf("no utmp: %s = %+v, want 0", n, res)
		}
	}
	for _, bad := range [][]byte{
		utmpRecord(7, "root")[:200],                // torn
		append(utmpRecord(7, "root"), 1, 2, 3),     // trailing bytes
		[]byte("this is not a utmp file at all\n"), // text
	} {
		writeFile(t, path, string(bad))
		before := r.SourceErrors()["utmp"]
		for _, n := range names {
			res := fetchByName(t, r, n)[n]
			if res.Err != protocol.ErrValue || len(res.Values) != 0 {
				t.Errorf("bad utmp (%d bytes): %s = %+v, want PM_ERR_VALUE", len(bad), n, res)
			}
		}
		if r.SourceErrors()["utmp"] != before+3 {
			t.Errorf("bad utmp: source errors %d, want %d", r.SourceErrors()["utmp"], before+3)
		}
	}
	// A directory where the file should be: an error (EISDIR), not 0 and not a crash.
	os.Remove(path)
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if res := fetchByName(t, r, "kernel.all.nusers")["kernel.all.nusers"]; res.Err == 0 {
		t.Errorf("utmp is a directory: %+v", res)
	}
}

func FuzzCountUtmp(f *testing.F) {
	f.Add(utmpRecord(7, "root"))
	f.Add(append(utmpRecord(2, "reboot"), utmpRecord(7, "")...))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := countUtmp(b)
		if err == nil && (c.roots > c.users || c.users > c.sessions || int(c.sessions) > len(b)/utmpRecordSize) {
			t.Errorf("counts %+v for %d bytes", c, len(b))
		}
	})
}
