package nssdb

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExistsAndFiles: a folder counts as an NSS database by any of its files,
// in either format, with or without "sql:"; Files names the sql pair.
func TestExistsAndFiles(t *testing.T) {
	for _, f := range []string{"cert9.db", "key4.db", "cert8.db", "key3.db"} {
		d := t.TempDir()
		if Exists(d) {
			t.Fatalf("empty folder counts as a database")
		}
		os.WriteFile(filepath.Join(d, f), nil, 0o600)
		if !Exists(d) || !Exists("sql:"+d) {
			t.Errorf("%s not detected", f)
		}
	}
	if Exists(filepath.Join(t.TempDir(), "missing")) {
		t.Error("a missing folder counts as a database")
	}
	got := Files("sql:/etc/pcp/nssdb/")
	if len(got) != 2 || got[0] != "/etc/pcp/nssdb/cert9.db" || got[1] != "/etc/pcp/nssdb/key4.db" {
		t.Errorf("Files = %q", got)
	}
	db := &DB{}
	if db.HasKeyFor(nil) || db.LegacyEncryption() || len(db.CRLs()) != 0 {
		t.Error("an empty database claims keys, old encryption or CRLs")
	}
}
