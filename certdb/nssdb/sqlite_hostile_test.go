package nssdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Hostile SQLite files, built byte by byte: each breaks one thing the reader
// must not trust (a page count, a pointer, a size, a varint) and must give an
// error, never a panic, a hang or an allocation beyond a small multiple of the
// file's size.

// sqlVarint encodes v as an SQLite varint.
func sqlVarint(v uint64) []byte {
	if v > 0x00ffffffffffffff {
		out := make([]byte, 9)
		out[8] = byte(v)
		v >>= 8
		for i := 7; i >= 0; i-- {
			out[i] = byte(v&0x7f) | 0x80
			v >>= 7
		}
		return out
	}
	var rev []byte
	for {
		rev = append(rev, byte(v&0x7f))
		v >>= 7
		if v == 0 {
			break
		}
	}
	out := make([]byte, len(rev))
	for i := range rev {
		out[i] = rev[len(rev)-1-i]
		if i < len(rev)-1 {
			out[i] |= 0x80
		}
	}
	return out
}

// mkRecord encodes values (nil, int64, string, []byte) as an SQLite record.
func mkRecord(values ...any) []byte {
	var hdr, body []byte
	for _, v := range values {
		switch x := v.(type) {
		case nil:
			hdr = append(hdr, 0)
		case int64:
			hdr = append(hdr, 6)
			body = binary.BigEndian.AppendUint64(body, uint64(x))
		case string:
			hdr = append(hdr, sqlVarint(uint64(13+2*len(x)))...)
			body = append(body, x...)
		case []byte:
			hdr = append(hdr, sqlVarint(uint64(12+2*len(x)))...)
			body = append(body, x...)
		default:
			panic(fmt.Sprintf("mkRecord: %T", v))
		}
	}
	// The header length counts itself; one byte is enough below 128.
	hl := sqlVarint(uint64(len(hdr) + 1))
	if len(hdr)+1 >= 128 {
		hl = sqlVarint(uint64(len(hdr) + 2))
	}
	return append(append(hl, hdr...), body...)
}

// leafCell is a table leaf cell whose payload fits in the page.
func leafCell(rowid uint64, payload []byte) []byte {
	return append(append(sqlVarint(uint64(len(payload))), sqlVarint(rowid)...), payload...)
}

// sqlFile is a database being built: pages of ps bytes, page 1 starting with
// the 100-byte file header.
type sqlFile struct {
	ps    int
	pages [][]byte
}

func newSQLFile(ps, pages int) *sqlFile {
	f := &sqlFile{ps: ps}
	for i := 0; i < pages; i++ {
		f.pages = append(f.pages, make([]byte, ps))
	}
	return f
}

func (f *sqlFile) hdr(n int) int {
	if n == 1 {
		return 100
	}
	return 0
}

// leaf makes page n a table leaf holding cells, one pointer per cell (ptrs
// repeats the last cell's pointer that many more times).
func (f *sqlFile) leaf(n int, cells [][]byte, extraPtrs int) {
	pg, h := f.pages[n-1], f.hdr(n)
	end := f.ps
	var offs []int
	for _, c := range cells {
		end -= len(c)
		copy(pg[end:], c)
		offs = append(offs, end)
	}
	for i := 0; i < extraPtrs; i++ {
		offs = append(offs, offs[len(offs)-1])
	}
	pg[h] = 0x0D
	binary.BigEndian.PutUint16(pg[h+3:], uint16(len(offs)))
	binary.BigEndian.PutUint16(pg[h+5:], uint16(end))
	for i, o := range offs {
		binary.BigEndian.PutUint16(pg[h+8+2*i:], uint16(o))
	}
}

// interior makes page n a table interior page with children and right.
func (f *sqlFile) interior(n int, children []uint32, right uint32) {
	pg, h := f.pages[n-1], f.hdr(n)
	end := f.ps
	pg[h] = 0x05
	binary.BigEndian.PutUint16(pg[h+3:], uint16(len(children)))
	binary.BigEndian.PutUint32(pg[h+8:], right)
	for i, c := range children {
		cell := binary.BigEndian.AppendUint32(nil, c)
		cell = append(cell, sqlVarint(uint64(i+1))...)
		end -= len(cell)
		copy(pg[end:], cell)
		binary.BigEndian.PutUint16(pg[h+12+2*i:], uint16(end))
	}
	binary.BigEndian.PutUint16(pg[h+5:], uint16(end))
}

// overflow makes page n an overflow page pointing to next, holding data.
func (f *sqlFile) overflow(n int, next uint32, data []byte) {
	binary.BigEndian.PutUint32(f.pages[n-1], next)
	copy(f.pages[n-1][4:], data)
}

// schema puts the row for table t (rooted at root, columns cols) on page 1.
func (f *sqlFile) schema(root int64, sql string) {
	f.leaf(1, [][]byte{leafCell(1, mkRecord("table", "t", "t", root, sql))}, 0)
}

func (f *sqlFile) bytes() []byte {
	var out []byte
	for _, p := range f.pages {
		out = append(out, p...)
	}
	copy(out, "SQLite format 3\x00")
	ps := f.ps
	if ps == 65536 {
		ps = 1
	}
	binary.BigEndian.PutUint16(out[16:], uint16(ps))
	out[18], out[19], out[21], out[22], out[23] = 1, 1, 64, 32, 32
	binary.BigEndian.PutUint32(out[24:], 1)
	binary.BigEndian.PutUint32(out[28:], uint32(len(f.pages)))
	binary.BigEndian.PutUint32(out[44:], 4)
	binary.BigEndian.PutUint32(out[56:], 1)
	binary.BigEndian.PutUint32(out[92:], 1)
	return out
}

// readT parses data and reads table t.
func readT(data []byte) ([]string, [][]any, error) {
	db, err := parseSQLite("hostile.db", data)
	if err != nil {
		return nil, nil, err
	}
	return db.table("t")
}

// allocated returns the bytes allocated by fn.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// allocBound is what the reader may allocate for a file of n bytes: the
// package comment's 32 times the file, plus a constant for small files.
func allocBound(n int) uint64 { return 32*uint64(n) + 64<<10 }

func TestSQLiteBuilderValid(t *testing.T) {
	for _, ps := range []int{512, 4096, 65536} {
		f := newSQLFile(ps, 2)
		f.schema(2, "CREATE TABLE t (a, b, c)")
		f.leaf(2, [][]byte{leafCell(1, mkRecord(int64(7), "x", []byte{1, 2})), leafCell(2, mkRecord(nil, "y"))}, 0)
		cols, rows, err := readT(f.bytes())
		if err != nil {
			t.Fatalf("page size %d: %v", ps, err)
		}
		if strings.Join(cols, ",") != "a,b,c" || len(rows) != 2 || rows[0][0] != int64(7) || rows[0][1] != "x" || len(rows[1]) != 2 || rows[1][1] != "y" {
			t.Errorf("page size %d: %v %v", ps, cols, rows)
		}
	}
}

// hostileCases returns the crafted files with what their error must say.
func hostileCases() []struct {
	name, want string
	data       []byte
} {
	type tc = struct {
		name, want string
		data       []byte
	}
	var out []tc
	add := func(name, want string, data []byte) { out = append(out, tc{name, want, data}) }
	base := func(pages int) *sqlFile {
		f := newSQLFile(512, pages)
		f.schema(2, "CREATE TABLE t (a, b)")
		return f
	}

	f := base(2)
	f.interior(2, nil, 2)
	add("interior page pointing to itself", "reached twice", f.bytes())

	f = base(3)
	f.interior(2, nil, 3)
	f.interior(3, nil, 2)
	add("interior page pointing to its parent", "reached twice", f.bytes())

	f = base(3)
	f.interior(2, []uint32{3}, 3)
	f.leaf(3, [][]byte{leafCell(1, mkRecord("a"))}, 0)
	add("leaf shared by two cells of its parent", "reached twice", f.bytes())

	f = base(3)
	f.interior(2, nil, 1)
	add("table pointing back at the schema page", "reached twice", f.bytes())

	f = base(60)
	for n := 2; n < 60; n++ {
		f.interior(n, nil, uint32(n+1))
	}
	f.leaf(60, [][]byte{leafCell(1, mkRecord("a"))}, 0)
	add("b-tree 59 levels deep", "deeper than", f.bytes())

	f = base(2)
	f.interior(2, []uint32{0}, 99)
	add("child page 0", "out of range", f.bytes())

	f = base(2)
	f.leaf(2, [][]byte{append(append(bytes.Repeat([]byte{0xff}, 9), 1), "abc"...)}, 0)
	add("payload size as a 9-byte varint", "payload of", f.bytes())

	f = base(2)
	f.leaf(2, [][]byte{bytes.Repeat([]byte{0xff}, 8)}, 0)
	// The cell runs into the end of the page: the varint is unfinished.
	f.pages[1][510], f.pages[1][511] = 0xff, 0xff
	binary.BigEndian.PutUint16(f.pages[1][8:], 504)
	add("varint cut by the page end", "size", f.bytes())

	// Payload of 1000 bytes (the file has 1536) whose overflow chain loops.
	f = base(3)
	f.leaf(2, [][]byte{overflowCell(512, 1000, 3)}, 0)
	f.overflow(3, 3, nil)
	add("overflow page pointing to itself", "reached twice", f.bytes())

	f = base(3)
	f.leaf(2, [][]byte{overflowCell(512, 1000, 2)}, 0)
	add("overflow chain into a b-tree page", "reached twice", f.bytes())

	f = base(3)
	f.leaf(2, [][]byte{overflowCell(512, 1000, 0)}, 0)
	add("overflow chain to page 0", "ends", f.bytes())

	// A payload that claims nearly the whole file, more than is left once the
	// schema's row is counted.
	f = base(3)
	f.leaf(2, [][]byte{overflowCell(512, 1500, 3)}, 0)
	add("payload of nearly the whole file", "payload", f.bytes())

	f = base(2)
	f.leaf(2, [][]byte{leafCell(1, []byte{0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80})}, 0)
	add("record header length as a giant varint", "record header", f.bytes())

	f = base(2)
	f.leaf(2, [][]byte{leafCell(1, append([]byte{10}, bytes.Repeat([]byte{0xff}, 9)...))}, 0)
	add("serial type as a giant varint", "too long", f.bytes())

	f = base(2)
	f.leaf(2, [][]byte{leafCell(1, mkRecord("a", "b", "c"))}, 0)
	add("row with more values than columns", "3 values in 2 columns", f.bytes())

	f = base(2)
	f.leaf(2, [][]byte{leafCell(1, mkRecord("a"))}, 0)
	binary.BigEndian.PutUint16(f.pages[1][3:], 0xffff)
	add("65535 cells on a 512-byte page", "do not fit", f.bytes())

	f = base(2)
	f.leaf(2, [][]byte{leafCell(1, mkRecord("a"))}, 0)
	binary.BigEndian.PutUint16(f.pages[1][8:], 600)
	add("cell pointer past the page", "cell 0 at 600", f.bytes())

	f = base(2)
	f.leaf(2, [][]byte{leafCell(1, mkRecord("a"))}, 0)
	f.pages[1][0] = 0x0A
	add("index page as a table page", "not a table", f.bytes())

	f = base(2)
	f.schema(99, "CREATE TABLE t (a)")
	add("root page past the file", "out of range", f.bytes())

	f = base(2)
	f.schema(2, "CREATE TABLE t a")
	add("unreadable schema", "unreadable schema", f.bytes())

	valid := base(3)
	valid.leaf(2, [][]byte{leafCell(1, mkRecord("a"))}, 0)
	data := valid.bytes()
	p1 := append([]byte{}, data...)
	binary.BigEndian.PutUint16(p1[16:], 1)
	add("page size 1 (65536) on a small file", "not a whole number", p1)
	for _, ps := range []uint16{0, 3, 256, 513, 1000} {
		b := append([]byte{}, data...)
		binary.BigEndian.PutUint16(b[16:], ps)
		add(fmt.Sprintf("page size %d", ps), "page size", b)
	}
	add("truncated mid-page", "not a whole number", data[:1000])
	add("truncated to the header", "not a whole number", data[:100])
	add("truncated in the header", "no SQLite header", data[:99])
	add("one page missing", "header says 3", data[:1024])
	b := append([]byte{}, data...)
	binary.BigEndian.PutUint32(b[28:], 0xffffffff)
	add("page count 2^32-1", "header says", b)
	b = append([]byte{}, data...)
	b[20] = 255
	add("255 reserved bytes per page", "reserved", b)
	b = append([]byte{}, data...)
	binary.BigEndian.PutUint32(b[56:], 2)
	add("UTF-16 text", "UTF-16", b)
	return out
}

// overflowCell is a leaf cell claiming a payload of size bytes (zeros) whose
// overflow chain starts at page first.
func overflowCell(ps, size int, first uint32) []byte {
	c := append(sqlVarint(uint64(size)), sqlVarint(1)...)
	c = append(c, make([]byte, cellLocal(ps, size))...)
	return binary.BigEndian.AppendUint32(c, first)
}

// cellLocal is how many payload bytes of a size-byte payload stay in a table
// leaf cell of a page of ps bytes (no reserved space), per the file format.
func cellLocal(ps, size int) int {
	u := ps
	x := u - 35
	if size <= x {
		return size
	}
	m := (u-12)*32/255 - 23
	k := m + (size-m)%(u-4)
	if k > x {
		k = m
	}
	return k
}

func TestSQLiteHostile(t *testing.T) {
	for _, tc := range hostileCases() {
		var err error
		alloc := allocated(func() { _, _, err = readT(tc.data) })
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "hostile.db") {
			t.Errorf("%s: %v, want an error naming the file and saying %q", tc.name, err, tc.want)
		}
		if alloc > allocBound(len(tc.data)) {
			t.Errorf("%s: %d bytes allocated for a file of %d", tc.name, alloc, len(tc.data))
		}
	}
}

// TestSQLiteSharedCells: every cell pointer of a leaf points to one cell whose
// payload runs through an overflow chain over most of the file. The reader
// used to assemble that payload once per pointer (with 4 KiB pages, 2000
// pointers times 150 KiB); the payload budget stops it at the second.
func TestSQLiteSharedCells(t *testing.T) {
	for _, ps := range []int{512, 4096} {
		pages := 40
		f := newSQLFile(ps, pages)
		f.schema(2, "CREATE TABLE t (a)")
		size := (pages - 3) * (ps - 4)
		rec := mkRecord(make([]byte, size-4))
		cell := append(append(sqlVarint(uint64(len(rec))), sqlVarint(1)...), rec[:cellLocal(ps, len(rec))]...)
		cell = binary.BigEndian.AppendUint32(cell, 3)
		rest := rec[cellLocal(ps, len(rec)):]
		for n := 3; len(rest) > 0; n++ {
			next := uint32(n + 1)
			chunk := rest[:min(len(rest), ps-4)]
			rest = rest[len(chunk):]
			if len(rest) == 0 {
				next = 0
			}
			f.overflow(n, next, chunk)
		}
		maxPtrs := (ps - 8 - len(cell)) / 2
		// One pointer: a valid table of one row.
		f.leaf(2, [][]byte{cell}, 0)
		if _, rows, err := readT(f.bytes()); err != nil || len(rows) != 1 {
			t.Fatalf("page size %d, one pointer: %d rows, %v", ps, len(rows), err)
		}
		f.pages[1] = make([]byte, ps)
		f.leaf(2, [][]byte{cell}, maxPtrs-1)
		data := f.bytes()
		var err error
		alloc := allocated(func() { _, _, err = readT(data) })
		if err == nil || !strings.Contains(err.Error(), "more payload than the file holds") {
			t.Errorf("page size %d, %d pointers to one cell: %v", ps, maxPtrs, err)
		}
		t.Logf("page size %d: %d pointers to one %d-byte payload in a %d-byte file: %d bytes allocated (%.1f x the file)",
			ps, maxPtrs, size, len(data), alloc, float64(alloc)/float64(len(data)))
		if alloc > allocBound(len(data)) {
			t.Errorf("page size %d: %d bytes allocated for a file of %d", ps, alloc, len(data))
		}
	}
}

// TestSQLiteWideSchema: a schema of thousands of columns and many short rows.
// The reader used to pad every row to the schema's width (rows x columns
// interface slots, quadratic in the file); short rows now stay short.
func TestSQLiteWideSchema(t *testing.T) {
	const ps, leaves = 512, 20
	var cols []string
	for i := 0; i < 2000; i++ {
		cols = append(cols, fmt.Sprintf("a%x", i))
	}
	sql := "CREATE TABLE t (" + strings.Join(cols, ", ") + ")"
	rec := mkRecord("table", "t", "t", int64(2), sql)
	f := newSQLFile(ps, 2+leaves)
	// Schema row with its overflow chain on pages after the leaves.
	local := cellLocal(ps, len(rec))
	cell := append(append(sqlVarint(uint64(len(rec))), sqlVarint(1)...), rec[:local]...)
	first := uint32(len(f.pages) + 1)
	cell = binary.BigEndian.AppendUint32(cell, first)
	f.leaf(1, [][]byte{cell}, 0)
	rest := rec[local:]
	for len(rest) > 0 {
		f.pages = append(f.pages, make([]byte, ps))
		n := len(f.pages)
		chunk := rest[:min(len(rest), ps-4)]
		rest = rest[len(chunk):]
		next := uint32(n + 1)
		if len(rest) == 0 {
			next = 0
		}
		f.overflow(n, next, chunk)
	}
	var children []uint32
	row := uint64(0)
	for l := 0; l < leaves; l++ {
		var cells [][]byte
		for used := 8; ; {
			c := leafCell(row+1, mkRecord(nil, nil))
			if used += 2 + len(c); used > ps {
				break
			}
			row++
			cells = append(cells, c)
		}
		f.leaf(3+l, cells, 0)
		if l < leaves-1 {
			children = append(children, uint32(3+l))
		}
	}
	f.interior(2, children, uint32(2+leaves))
	data := f.bytes()
	var rows [][]any
	var err error
	alloc := allocated(func() { _, rows, err = readT(data) })
	if err != nil || uint64(len(rows)) != row {
		t.Fatalf("%d rows, want %d: %v", len(rows), row, err)
	}
	t.Logf("%d rows of 2 values under 2000 columns, %d-byte file: %d bytes allocated (%.1f x the file)",
		len(rows), len(data), alloc, float64(alloc)/float64(len(data)))
	if alloc > allocBound(len(data)) {
		t.Errorf("%d bytes allocated for a file of %d", alloc, len(data))
	}
}

// TestSQLiteDenseValues: the worst case for the per-value cost, records made
// only of one-byte values, stays within the bound.
func TestSQLiteDenseValues(t *testing.T) {
	const ps = 4096
	f := newSQLFile(ps, 3)
	f.schema(2, "CREATE TABLE t (a)")
	// One record of 1900 one-byte integers (-1, boxed) in one cell: header of
	// 1902 bytes, body of 1900.
	var hdr, body []byte
	for i := 0; i < 1900; i++ {
		hdr = append(hdr, 1)
		body = append(body, 0xff)
	}
	rec := append(append(sqlVarint(uint64(len(hdr)+2)), hdr...), body...)
	f.leaf(2, [][]byte{leafCell(1, rec)}, 0)
	db, err := parseSQLite("dense.db", f.bytes())
	if err != nil {
		t.Fatal(err)
	}
	var r []any
	alloc := allocated(func() { r, err = record(rec) })
	if err != nil || len(r) != 1900 || r[0] != int64(-1) {
		t.Fatalf("%d values: %v", len(r), err)
	}
	t.Logf("record of %d bytes, %d values: %d bytes allocated (%.1f x)", len(rec), len(r), alloc, float64(alloc)/float64(len(rec)))
	if alloc > 32*uint64(len(rec)) {
		t.Errorf("%d bytes allocated for a record of %d", alloc, len(rec))
	}
	if _, _, err := db.table("t"); err == nil {
		t.Error("1900 values in a 1-column table read")
	}
}

// nssDatabases makes a real NSS database with certutil (a self-signed
// certificate and its key) and returns cert9.db and key4.db.
func nssDatabases(t testing.TB) (cert9, key4 []byte) {
	t.Helper()
	if _, err := exec.LookPath("certutil"); err != nil {
		t.Skip("certutil not found: install libnss3-tools to test with real NSS databases")
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	noise := filepath.Join(dir, "noise")
	os.WriteFile(pw, nil, 0o600)
	os.WriteFile(noise, []byte(strings.Repeat("noise for certutil ", 20)), 0o600)
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + dir, "-f", pw},
		{"-S", "-x", "-n", "fuzz seed", "-s", "CN=seed.example", "-t", "CT,,", "-k", "ec", "-q", "nistp256", "-d", "sql:" + dir, "-f", pw, "-z", noise},
	} {
		if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	var err error
	if cert9, err = os.ReadFile(filepath.Join(dir, "cert9.db")); err != nil {
		t.Fatal(err)
	}
	if key4, err = os.ReadFile(filepath.Join(dir, "key4.db")); err != nil {
		t.Fatal(err)
	}
	return cert9, key4
}

// TestSQLiteRealNSSAllocations: reading the tables of real certutil databases
// stays within the same bound as the hostile files.
func TestSQLiteRealNSSAllocations(t *testing.T) {
	cert9, key4 := nssDatabases(t)
	for _, c := range []struct {
		data   []byte
		tables []string
	}{{cert9, []string{"nssPublic"}}, {key4, []string{"nssPrivate", "metaData"}}} {
		for _, table := range c.tables {
			var rows [][]any
			var err error
			alloc := allocated(func() {
				db, e := parseSQLite("real.db", c.data)
				if err = e; e == nil {
					_, rows, err = db.table(table)
				}
			})
			if err != nil || len(rows) == 0 {
				t.Fatalf("%s: %d rows, %v", table, len(rows), err)
			}
			t.Logf("%s: %d rows from a %d-byte file: %d bytes allocated (%.1f x the file)", table, len(rows), len(c.data), alloc, float64(alloc)/float64(len(c.data)))
			if alloc > allocBound(len(c.data)) {
				t.Errorf("%s: %d bytes allocated for a file of %d", table, alloc, len(c.data))
			}
		}
	}
}

// FuzzSQLiteNSS starts from databases made by the real certutil and from the
// hostile files above, and reads every table NSS has.
func FuzzSQLiteNSS(f *testing.F) {
	cert9, key4 := nssDatabases(f)
	f.Add(cert9)
	f.Add(key4)
	for _, tc := range hostileCases() {
		f.Add(tc.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := parseSQLite("fuzz.db", data)
		if err != nil {
			return
		}
		start := time.Now()
		for _, table := range []string{"nssPublic", "nssPrivate", "metaData", "t"} {
			cols, rows, err := db.table(table)
			if err != nil {
				continue
			}
			for _, r := range rows {
				if len(r) > len(cols) {
					t.Fatalf("%s: row of %d values in %d columns", table, len(r), len(cols))
				}
			}
		}
		// Not a timing assertion on the reader's speed: a catch for a loop
		// the page budget failed to stop.
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("%d-byte file took %v", len(data), d)
		}
	})
}

// TestSQLiteFIFORefused: a FIFO in place of cert9.db is refused at once rather
// than waited on.
func TestSQLiteFIFORefused(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "cert9.db"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Open(dir); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Open waits on a FIFO")
	}
}
