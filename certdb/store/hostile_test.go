package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests from the side of someone who can write a store file, plant names in a
// store folder or own it: each hostile layout must be refused with an error
// that names the file and the fix, and nothing outside the store is touched.

// setKDF rewrites the kdf object of the store file in dir.
func setKDF(t *testing.T, dir string, n, r, p int64) {
	t.Helper()
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	kdf := doc["kdf"].(map[string]any)
	kdf["n"], kdf["r"], kdf["p"] = n, r, p
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestHostileScryptParameters: a store file asking scrypt for gigabytes or for
// minutes of work is refused before any derivation, fast and with little memory.
// Before the bound, N=2^20 r=32 passed validation and Open allocated 4 GiB.
func TestHostileScryptParameters(t *testing.T) {
	_, dir := newStore(t, "")
	path := filepath.Join(dir, FileName)
	for _, tc := range []struct {
		n, r, p int64
		want    string
	}{
		{1 << 30, 8, 1, "ask for 1048576 MiB of memory; at most 256 MiB"},
		{1 << 20, 32, 1, "ask for 4096 MiB of memory; at most 256 MiB"},
		{1 << 19, 8, 1, "ask for 512 MiB of memory"},
		{1 << 62, 1 << 62, 1 << 62, "MiB of memory"},
		{1 << 16, 8, 16, "times the work"},
		{1 << 15, 8, 1 << 40, "times the work"},
		{3, 8, 1, "out of range"},
		{0, 8, 1, "out of range"},
		{-(1 << 20), 8, 1, "out of range"},
		{1 << 15, 0, 1, "out of range"},
		{1 << 15, 8, -1, "out of range"},
	} {
		name := fmt.Sprintf("N=%d r=%d p=%d", tc.n, tc.r, tc.p)
		setKDF(t, dir, tc.n, tc.r, tc.p)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err := Open(dir, nil)
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrCorrupt naming %s and %q", name, err, path, tc.want)
		}
		// Memory, not time, is asserted: a derivation with the file's parameters
		// would allocate at least 128*N*r bytes.
		alloc := after.TotalAlloc - before.TotalAlloc
		if alloc > 4<<20 {
			t.Errorf("%s: Open allocated %d bytes before refusing", name, alloc)
		}
		t.Logf("%s: refused in %v, %d KiB allocated", name, took, alloc>>10)
	}
}

func TestScryptBoundsEdges(t *testing.T) {
	salt := make([]byte, saltLen)
	ok := func(n, r, p int) error { return kdfParams{Name: kdfScrypt, Salt: salt, N: n, R: r, P: p}.validate() }
	// What certdb writes, and the largest accepted in each direction.
	for _, c := range [][3]int{{scryptN, scryptR, scryptP}, {1 << 18, 8, 1}, {1 << 21, 1, 1}, {1 << 15, 8, 8}, {2, 1, 1}} {
		if err := ok(c[0], c[1], c[2]); err != nil {
			t.Errorf("%v refused: %v", c, err)
		}
	}
	for _, c := range [][3]int{{1 << 18, 8, 2}, {1 << 22, 1, 1}, {1 << 15, 8, 9}, {1 << 18, 9, 1}} {
		if err := ok(c[0], c[1], c[2]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%v accepted", c)
		}
	}
	if err := (kdfParams{Name: "argon2\x1b[2J", Salt: salt, N: 2, R: 1, P: 1}).validate(); err == nil || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("unknown KDF: %v (control characters must be escaped)", err)
	}
	if err := (kdfParams{Name: kdfScrypt, Salt: make([]byte, maxSaltLen+1), N: 2, R: 1, P: 1}).validate(); err == nil {
		t.Error("huge salt accepted")
	}
}

// target is a file outside the store standing for /etc/something an attacker
// would like us to create, truncate or lock.
func target(t *testing.T) (string, func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(path, []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	return path, func() {
		t.Helper()
		data, err := os.ReadFile(path)
		now, _ := os.Stat(path)
		if err != nil || string(data) != "root:x:0:0\n" || now.Mode() != fi.Mode() || !now.ModTime().Equal(fi.ModTime()) {
			t.Errorf("%s was touched: %q %v", path, data, err)
		}
	}
}

// TestLockSymlinkRefused: a symbolic link planted at certdb.lock is never
// followed, whether its target exists (it would be locked) or not (it would be
// created, as root, wherever the link points).
func TestLockSymlinkRefused(t *testing.T) {
	p := newPKI(t)
	s, dir := newStore(t, "")
	lock := filepath.Join(dir, LockName)
	tgt, untouched := target(t)
	missing := filepath.Join(filepath.Dir(tgt), "created-by-us")
	for _, to := range []string{tgt, missing} {
		os.Remove(lock)
		if err := os.Symlink(to, lock); err != nil {
			t.Fatal(err)
		}
		before := dirSnapshotLinks(t, dir)
		_, err := s.AddCert("root", p.root.Cert, Trust{})
		if !errors.Is(err, ErrUnsafeStore) || !strings.Contains(err.Error(), lock) || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("link to %s: %v", to, err)
		}
		if after := dirSnapshotLinks(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("store folder changed: %v -> %v", before, after)
		}
	}
	untouched()
	if _, err := os.Lstat(missing); err == nil {
		t.Errorf("%s was created through the link", missing)
	}
	// Create in a folder prepared with a link.
	fresh := filepath.Join(t.TempDir(), "new")
	os.Mkdir(fresh, 0o700)
	os.Symlink(missing, filepath.Join(fresh, LockName))
	if _, err := Create(fresh, nil); !errors.Is(err, ErrUnsafeStore) {
		t.Errorf("Create with a planted lock link: %v", err)
	}
	if _, err := os.Lstat(missing); err == nil || Exists(fresh) {
		t.Error("Create followed the link or wrote a store")
	}
}

// dirSnapshotLinks lists dir's names with their types and link targets.
func dirSnapshotLinks(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink(filepath.Join(dir, e.Name()))
		fi, _ := e.Info()
		out = append(out, e.Name()+" "+fi.Mode().String()+" "+l+fmt.Sprint(fi.Size()))
	}
	return out
}

// TestLockNotPlainRefused: a FIFO, a hard link to another file and a file of
// another user at the lock path are refused, without hanging.
func TestLockNotPlainRefused(t *testing.T) {
	p := newPKI(t)
	s, dir := newStore(t, "")
	lock := filepath.Join(dir, LockName)
	tgt, untouched := target(t)
	plant := map[string]func() error{
		"fifo":      func() error { return unix.Mkfifo(lock, 0o600) },
		"hard link": func() error { return os.Link(tgt, lock) },
	}
	if os.Geteuid() == 0 {
		plant["other owner"] = func() error {
			if err := os.WriteFile(lock, nil, 0o600); err != nil {
				return err
			}
			return os.Chown(lock, 12345, 12345)
		}
	}
	for name, fn := range plant {
		os.Remove(lock)
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := s.AddCert("root", p.root.Cert, Trust{}); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrUnsafeStore) || !strings.Contains(err.Error(), lock) {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: AddCert hangs", name)
		}
	}
	untouched()
	os.Remove(lock)
	if _, err := s.AddCert("root", p.root.Cert, Trust{}); err != nil {
		t.Errorf("after the lock file was removed: %v", err)
	}
}

// TestStoreFileNotPlainRefused: certdb.json as a link to a valid store
// elsewhere (which another user could control) or as a FIFO is refused.
func TestStoreFileNotPlainRefused(t *testing.T) {
	_, dir := newStore(t, "")
	path := filepath.Join(dir, FileName)
	elsewhere := filepath.Join(t.TempDir(), "theirs.json")
	data, _ := os.ReadFile(path)
	os.WriteFile(elsewhere, data, 0o600)
	os.Remove(path)
	os.Symlink(elsewhere, path)
	if _, err := Open(dir, nil); !errors.Is(err, ErrUnsafeStore) || !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), path) {
		t.Errorf("store file is a link: %v", err)
	}
	// The link's target is the planter's text: shown escaped.
	os.Remove(path)
	os.Symlink("/tmp/\x1b[2J\rfake", path)
	if _, err := Open(dir, nil); err == nil || strings.ContainsAny(err.Error(), "\x1b\r") || !strings.Contains(err.Error(), `\x1b[2J\rfake`) {
		t.Errorf("link target not escaped: %q", err)
	}
	os.Remove(path)
	unix.Mkfifo(path, 0o600)
	done := make(chan error, 1)
	go func() { _, err := Open(dir, nil); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnsafeStore) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("store file is a FIFO: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Open hangs on a FIFO")
	}
}

// TestStoreFileLinkedAfterOpen: a link put in place of certdb.json after a Store
// was opened is neither followed nor written through by the next write.
func TestStoreFileLinkedAfterOpen(t *testing.T) {
	p := newPKI(t)
	s, dir := newStore(t, "")
	path := filepath.Join(dir, FileName)
	tgt, untouched := target(t)
	os.Remove(path)
	os.Symlink(tgt, path)
	if _, err := s.AddCert("root", p.root.Cert, Trust{}); !errors.Is(err, ErrUnsafeStore) {
		t.Errorf("write through a linked store file: %v", err)
	}
	untouched()
	if l, err := os.Readlink(path); err != nil || l != tgt {
		t.Errorf("the link was replaced or removed: %q %v", l, err)
	}
}

// TestUnsafeFolderRefused: a folder others may write in, or owned by another
// user, is refused for reading and for writing, with the command that fixes it.
func TestUnsafeFolderRefused(t *testing.T) {
	p := newPKI(t)
	s, dir := newStore(t, "")
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o777, false}, {0o770, false}, {0o702, false}, {0o720, false},
		{0o700, true}, {0o750, true}, {0o755, true},
		// With the sticky bit others may add names but not rename or remove ours;
		// the lock and store files are then checked one by one.
		{os.ModeSticky | 0o777, true}, {os.ModeSticky | 0o770, true},
	} {
		if err := os.Chmod(dir, tc.mode); err != nil {
			t.Fatal(err)
		}
		before := dirSnapshot(t, dir)
		_, errOpen := Open(dir, nil)
		_, errAdd := s.AddCert("root", p.root.Cert, Trust{})
		if tc.ok {
			if errOpen != nil || errAdd != nil {
				t.Errorf("mode %04o refused: %v / %v", tc.mode, errOpen, errAdd)
			}
			continue
		}
		for _, err := range []error{errOpen, errAdd} {
			if !errors.Is(err, ErrUnsafeStore) || !strings.Contains(err.Error(), "chmod go-w "+dir) {
				t.Errorf("mode %04o: %v", tc.mode, err)
			}
		}
		sameDir(t, before, dirSnapshot(t, dir))
	}
	os.Chmod(dir, 0o700)

	// Create into an existing loose folder writes nothing.
	loose := filepath.Join(t.TempDir(), "loose")
	os.Mkdir(loose, 0o700)
	os.Chmod(loose, 0o777)
	if _, err := Create(loose, nil); !errors.Is(err, ErrUnsafeStore) {
		t.Errorf("Create in a 0777 folder: %v", err)
	}
	if ents, _ := os.ReadDir(loose); len(ents) != 0 {
		t.Errorf("Create in a 0777 folder left %d files", len(ents))
	}
}

func TestForeignOwnerRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another uid")
	}
	_, dir := newStore(t, "")
	path := filepath.Join(dir, FileName)
	if err := os.Chown(dir, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, nil)
	if !errors.Is(err, ErrUnsafeStore) || !strings.Contains(err.Error(), "uid 12345") || !strings.Contains(err.Error(), "chown 0 "+dir) {
		t.Errorf("folder of uid 12345: %v", err)
	}
	os.Chown(dir, 0, 0)
	os.Chown(path, 12345, 0)
	_, err = Open(dir, nil)
	if !errors.Is(err, ErrUnsafeStore) || !strings.Contains(err.Error(), "chown 0 "+path) {
		t.Errorf("store file of uid 12345: %v", err)
	}
	os.Chown(path, 0, 0)
	os.Chmod(path, 0o666)
	if _, err = Open(dir, nil); !errors.Is(err, ErrLooseKeyPermissions) || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("store file 0666: %v", err)
	}
	os.Chmod(path, 0o600)
	// A group id of someone else does not matter: only write bits and owners do.
	os.Chown(dir, 0, 12345)
	os.Chown(path, 0, 12345)
	if _, err = Open(dir, nil); err != nil {
		t.Errorf("group 12345 without write permission: %v", err)
	}
}

// TestNewFilesPrivate: every file a write leaves has mode 0600, the folder 0700.
func TestNewFilesPrivate(t *testing.T) {
	p := newPKI(t)
	s, dir := newStore(t, "")
	if _, err := s.AddIdentity("srv", p.server.Cert, p.server.Key, Trust{}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %04o", fi.Mode().Perm())
	}
	for _, name := range []string{FileName, LockName} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || fi.Mode() != 0o600 {
			t.Errorf("%s: %v %v", name, fi.Mode(), err)
		}
	}
}
