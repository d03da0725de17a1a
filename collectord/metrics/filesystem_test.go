package metrics

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFilesysExtras: inode counts, read-only flag, block size, space available and
// percentage full from statfs; an impossible statfs answer (more free blocks than
// blocks) gives no used inodes or percentage rather than a wrapped number.
func TestFilesysExtras(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	r := newFixtureRegistry(t, dir)
	root := filepath.Join(dir, "rootfs")
	source[*fsSource](t, r, "mounts").statfs = func(path string, st *unix.Statfs_t) error {
		switch path {
		case filepath.Join(root, "/"):
			*st = unix.Statfs_t{Bsize: 4096, Blocks: 1000, Bfree: 400, Bavail: 300, Files: 500, Ffree: 120, Flags: unix.ST_RDONLY}
		case filepath.Join(root, "/srv/my data"):
			*st = unix.Statfs_t{Bsize: 1024, Blocks: 10, Bfree: 20, Files: 5, Ffree: 9}
		default:
			return unix.ENOENT
		}
		return nil
	}
	names := []string{"filesys.maxfiles", "filesys.usedfiles", "filesys.freefiles", "filesys.full",
		"filesys.blocksize", "filesys.avail", "filesys.readonly", "hinv.nfilesys"}
	want := []string{
		"filesys.maxfiles [0]=500 [1]=5",
		"filesys.usedfiles [0]=380",
		"filesys.freefiles [0]=120 [1]=9",
		"filesys.full [0]=66.66666666666667",
		"filesys.blocksize [0]=4096 [1]=1024",
		"filesys.avail [0]=1200 [1]=0",
		"filesys.readonly [0]=1 [1]=0",
		"hinv.nfilesys 3",
	}
	res := fetchByName(t, r, names...)
	for i, n := range names {
		m, _ := r.ByName(n)
		if got := formatResult(m, res[n]); got != want[i] {
			t.Errorf("got  %s\nwant %s", got, want[i])
		}
	}
}
