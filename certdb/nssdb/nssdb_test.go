package nssdb

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makeSQLite builds a database with Python's sqlite3 module (the real SQLite
// library): an NSS-like table with blobs from a few bytes to several pages, so
// that the reader meets interior pages and overflow chains. It returns the
// file and Python's own dump of the rows.
func makeSQLite(t testing.TB, pageSize, rows int) (string, [][]string) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not found: install it (apt-get install python3) to build SQLite test databases")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "t.db")
	script := fmt.Sprintf(`
import sqlite3, json, random, sys
random.seed(7)
c = sqlite3.connect(%q)
c.execute("pragma page_size=%d")
c.execute("CREATE TABLE nssPublic (id PRIMARY KEY UNIQUE ON CONFLICT ABORT, a0, a3, a11, a102)")
c.execute("CREATE TABLE metaData (id PRIMARY KEY UNIQUE ON CONFLICT REPLACE, item1, item2)")
out = []
for i in range(%d):
    n = random.choice([0, 3, 50, 500, 3000, 20000])
    blob = bytes(random.getrandbits(8) for _ in range(n))
    label = "nick %%d é" %% i
    val = random.choice([None, 7, -3, 1 << 40, 0, 1, 2.5])
    c.execute("INSERT INTO nssPublic VALUES (?,?,?,?,?)", (i * 1000 + 17, val, label, blob, b"\xa5\x00\x5a"))
    out.append([repr(i * 1000 + 17), repr(val), label, blob.hex(), "a5005a"])
c.execute("INSERT INTO metaData VALUES ('password', ?, ?)", (b"salt", b"check"))
c.commit()
json.dump(out, sys.stdout)
`, path, pageSize, rows)
	cmd := exec.Command("python3", "-c", script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if strings.Contains(stderr.String(), "No module named") {
			t.Skip("python3 has no sqlite3 module")
		}
		t.Fatalf("python3: %v\n%s", err, stderr.String())
	}
	var want [][]string
	if err := json.Unmarshal(stdout.Bytes(), &want); err != nil {
		t.Fatal(err)
	}
	return path, want
}

func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case int64:
		return fmt.Sprint(x)
	case float64:
		return fmt.Sprint(x)
	case string:
		return x
	case []byte:
		return hex.EncodeToString(x)
	}
	return fmt.Sprintf("%T", v)
}

func TestSQLiteReaderAgainstSQLite(t *testing.T) {
	for _, ps := range []int{512, 4096, 65536} {
		path, want := makeSQLite(t, ps, 300)
		db, err := openSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		cols, rows, err := db.table("nssPublic")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(cols, ",") != "id,a0,a3,a11,a102" {
			t.Errorf("columns %v", cols)
		}
		if len(rows) != len(want) {
			t.Fatalf("page size %d: %d rows, want %d", ps, len(rows), len(want))
		}
		for i, r := range rows {
			got := []string{show(r[0]), show(r[1]), show(r[2]), show(r[3]), show(r[4])}
			if strings.Join(got, "|") != strings.Join(want[i], "|") {
				t.Fatalf("page size %d row %d:\n got %.120v\nwant %.120v", ps, i, got, want[i])
			}
		}
		if _, _, err := db.table("nope"); err == nil {
			t.Error("missing table found")
		}
	}
}

func TestSQLiteDamage(t *testing.T) {
	path, _ := makeSQLite(t, 1024, 60)
	data, _ := os.ReadFile(path)
	// A hot journal next to the file.
	os.WriteFile(path+"-journal", []byte("x"), 0o600)
	if _, err := openSQLite(path); err == nil || !strings.Contains(err.Error(), "-journal exists") {
		t.Errorf("hot journal: %v", err)
	}
	os.Remove(path + "-journal")
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not sqlite", []byte(strings.Repeat("x", 200))},
		{"truncated", data[:len(data)-1024]},
		{"odd size", data[:len(data)-10]},
	} {
		if _, err := parseSQLite("x", tc.data); err == nil {
			if db, _ := parseSQLite("x", tc.data); db != nil {
				if _, _, err := db.table("nssPublic"); err == nil {
					t.Errorf("%s: read without error", tc.name)
				}
			}
		}
	}
	// Every byte flipped in turn: errors or wrong data, never a panic or a hang.
	// The byte is flipped in place and back (the parser only reads its input):
	// a copy of the file per flip was most of the test's time under -race.
	b := append([]byte{}, data...)
	for i := 100; i < len(b); i += 97 {
		b[i] ^= 0xFF
		if db, err := parseSQLite("x", b); err == nil {
			db.table("nssPublic")
		}
		b[i] ^= 0xFF
	}
	if !bytes.Equal(b, data) {
		t.Fatal("the parser changed its input")
	}
}

func FuzzSQLite(f *testing.F) {
	path, _ := makeSQLite(f, 512, 20)
	data, _ := os.ReadFile(path)
	f.Add(data)
	f.Fuzz(func(t *testing.T, b []byte) {
		if db, err := parseSQLite("x", b); err == nil {
			db.table("nssPublic")
		}
	})
}

func TestRecord(t *testing.T) {
	// header 5: types 1 (int8), 0 (NULL), 15 (text "a"), 14 (blob 1 byte)
	r, err := record([]byte{5, 1, 0, 15, 14, 0xFE, 'a', 0x42})
	if err != nil || len(r) != 4 || r[0] != int64(-2) || r[1] != nil || r[2] != "a" || !bytes.Equal(r[3].([]byte), []byte{0x42}) {
		t.Errorf("record: %v %v", r, err)
	}
	for _, bad := range [][]byte{{}, {9}, {2, 14}, {2, 0x80}, {2, 10}} {
		if _, err := record(bad); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	d := t.TempDir()
	if _, err := Open(d); !errors.Is(err, ErrNoDatabase) {
		t.Errorf("empty folder: %v", err)
	}
	os.WriteFile(filepath.Join(d, "key3.db"), nil, 0o600)
	if _, err := Open("sql:" + d); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "key3.db") {
		t.Errorf("DBM: %v", err)
	}
	os.WriteFile(filepath.Join(d, "cert9.db"), []byte("garbage"), 0o600)
	if _, err := Open(d); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "cert9.db") {
		t.Errorf("garbage: %v", err)
	}
}

func TestLetters(t *testing.T) {
	for level, want := range map[uint32]string{cktTrustedDelegator: "C", cktTrusted: "P", cktValidDelegator: "c", cktNotTrusted: "p", cktMustVerify: "", 0: ""} {
		if got := letters(level, "C"); got != want {
			t.Errorf("%#x: %q", level, got)
		}
	}
}
