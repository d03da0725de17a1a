package nssdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"syscall"
)

// A minimal, read-only reader of SQLite 3 database files
// (https://www.sqlite.org/fileformat2.html): enough to read every row of the
// ordinary (rowid) tables an NSS sql database has. It follows table b-trees and
// overflow chains with every offset checked, and refuses a database with an
// unfinished transaction (hot journal or write-ahead log) rather than read a
// half-written state. Indexes, free lists and WITHOUT ROWID tables are not
// needed and not read.

// maxDBSize bounds a database file read into memory.
const maxDBSize = 256 << 20

// maxDepth bounds the height of a b-tree; SQLite's own trees stay far below it
// (a 512-byte-page tree of 40 levels would hold more rows than fit in a file).
const maxDepth = 40

// The reader's memory is linear in the size of the file whatever the file
// claims. Three rules make it so, none of which a database written by SQLite
// can break:
//
//   - every page plays one part per table read: a b-tree page or overflow page
//     reached a second time (a loop, a page shared by two parents or two
//     chains) is an error, so the pages visited are at most the pages there are;
//   - the payloads handed out by one table read (the schema's and the table's)
//     add up to at most the file's size plus 4 bytes per cell, since each byte
//     of a payload is stored once (cells that share bytes, for instance several
//     cell pointers to one cell, run out of budget);
//   - a record's values are at most its header's bytes, each value taking one.
//
// Decoding a record allocates at most about 24 bytes per payload byte (a 16-byte
// interface slot and a boxed value for each one- or two-byte value), so a table
// read allocates less than 32 times the file's size.

var errSQLite = errors.New("not a readable SQLite database")

type sqliteDB struct {
	path     string
	data     []byte
	pageSize int
	usable   int
	pages    int
}

// openSQLite reads the database at path.
func openSQLite(path string) (*sqliteDB, error) {
	// O_NONBLOCK: a FIFO planted in place of the database must not block the
	// open waiting for a writer; it is then refused as not a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s): %w", path, fi.Mode().Type(), errSQLite)
	}
	if fi.Size() > maxDBSize {
		return nil, fmt.Errorf("%s is larger than %d bytes: %w", path, maxDBSize, errSQLite)
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && fi.Size() > 0 {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	for _, side := range []string{"-journal", "-wal"} {
		if st, err := os.Stat(path + side); err == nil && st.Size() > 0 {
			return nil, fmt.Errorf("%s%s exists: the database has changes not yet finished or merged (is an NSS tool using it?); open it once with certutil -L -d sql:DIR, then try again: %w", path, side, errSQLite)
		}
	}
	return parseSQLite(path, data)
}

func parseSQLite(path string, data []byte) (*sqliteDB, error) {
	if len(data) < 100 || !bytes.HasPrefix(data, []byte("SQLite format 3\x00")) {
		return nil, fmt.Errorf("%s: no SQLite header: %w", path, errSQLite)
	}
	ps := int(binary.BigEndian.Uint16(data[16:]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return nil, fmt.Errorf("%s: page size %d: %w", path, ps, errSQLite)
	}
	reserved := int(data[20])
	if enc := binary.BigEndian.Uint32(data[56:]); enc != 0 && enc != 1 {
		return nil, fmt.Errorf("%s: text encoding %d (UTF-16): %w", path, enc, errSQLite)
	}
	if len(data)%ps != 0 {
		return nil, fmt.Errorf("%s: %d bytes, not a whole number of %d-byte pages (truncated?): %w", path, len(data), ps, errSQLite)
	}
	// The page count in the header is valid when written by the version that
	// last changed the file (SQLite 3.7.0 and later).
	if binary.BigEndian.Uint32(data[92:]) == binary.BigEndian.Uint32(data[24:]) {
		if n := int(binary.BigEndian.Uint32(data[28:])); n != 0 && n != len(data)/ps {
			return nil, fmt.Errorf("%s: %d pages, but its header says %d (truncated?): %w", path, len(data)/ps, n, errSQLite)
		}
	}
	db := &sqliteDB{path: path, data: data, pageSize: ps, usable: ps - reserved, pages: len(data) / ps}
	if db.usable < 480 {
		return nil, fmt.Errorf("%s: %d reserved bytes per page: %w", path, reserved, errSQLite)
	}
	return db, nil
}

func (db *sqliteDB) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", db.path, fmt.Sprintf(format, args...), errSQLite)
}

// page returns page n (1-based) and the offset of its b-tree header.
func (db *sqliteDB) page(n uint32) ([]byte, int, error) {
	if n < 1 || int(n) > db.pages {
		return nil, 0, db.errorf("page %d out of range (%d pages)", n, db.pages)
	}
	start := int(n-1) * db.pageSize
	hdr := 0
	if n == 1 {
		hdr = 100
	}
	return db.data[start : start+db.pageSize], hdr, nil
}

// varint reads an SQLite variable-length integer from b.
func varint(b []byte) (uint64, int, bool) {
	var v uint64
	for i := 0; i < 9; i++ {
		if i >= len(b) {
			return 0, 0, false
		}
		if i == 8 {
			return v<<8 | uint64(b[i]), 9, true
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i]&0x80 == 0 {
			return v, i + 1, true
		}
	}
	return 0, 0, false
}

// reading is the state of one table read: which pages have been used and how
// many payload bytes may still be handed out (see the rules above).
type reading struct {
	used []bool // by page number - 1
	left int    // payload budget in bytes
}

func (db *sqliteDB) newReading() *reading {
	return &reading{used: make([]bool, db.pages), left: len(db.data)}
}

// use marks page n as used, or fails if it already was.
func (db *sqliteDB) use(rd *reading, n uint32, what string) error {
	if n < 1 || int(n) > db.pages {
		return db.errorf("%s page %d out of range (%d pages)", what, n, db.pages)
	}
	if rd.used[n-1] {
		return db.errorf("%s page %d reached twice (a loop, or a page shared by two parents)", what, n)
	}
	rd.used[n-1] = true
	return nil
}

// spend takes n bytes from the payload budget.
func (db *sqliteDB) spend(rd *reading, n uint64) error {
	if n > uint64(rd.left) {
		return db.errorf("cells claim more payload than the file holds (cells overlap)")
	}
	rd.left -= int(n)
	return nil
}

// scanTable calls fn with the record payload of every row of the table b-tree
// rooted at root.
func (db *sqliteDB) scanTable(rd *reading, root uint32, fn func(payload []byte) error) error {
	var walk func(n uint32, depth int) error
	walk = func(n uint32, depth int) error {
		if depth > maxDepth {
			return db.errorf("b-tree deeper than %d levels at page %d", maxDepth, n)
		}
		if err := db.use(rd, n, "b-tree"); err != nil {
			return err
		}
		pg, h, err := db.page(n)
		if err != nil {
			return err
		}
		if len(pg) < h+8 {
			return db.errorf("page %d too short", n)
		}
		kind := pg[h]
		cells := int(binary.BigEndian.Uint16(pg[h+3:]))
		hsize := 8
		if kind == 0x05 {
			hsize = 12
		}
		if h+hsize+2*cells > len(pg) {
			return db.errorf("page %d: %d cells do not fit", n, cells)
		}
		ptrs := pg[h+hsize:]
		for i := 0; i < cells; i++ {
			off := int(binary.BigEndian.Uint16(ptrs[2*i:]))
			if off < h+hsize || off >= db.usable {
				return db.errorf("page %d cell %d at %d", n, i, off)
			}
			cell := pg[off:db.usable]
			switch kind {
			case 0x05: // table interior: left child, rowid
				if len(cell) < 4 {
					return db.errorf("page %d cell %d truncated", n, i)
				}
				if err := walk(binary.BigEndian.Uint32(cell), depth+1); err != nil {
					return err
				}
			case 0x0D: // table leaf: payload size, rowid, payload
				size, k, ok := varint(cell)
				if !ok {
					return db.errorf("page %d cell %d size", n, i)
				}
				_, k2, ok := varint(cell[k:])
				if !ok {
					return db.errorf("page %d cell %d rowid", n, i)
				}
				// A cell is at least its pointer and two varints: 4 bytes.
				if err := db.spend(rd, 4); err != nil {
					return err
				}
				payload, err := db.payload(rd, cell[k+k2:], size)
				if err != nil {
					return err
				}
				if err := fn(payload); err != nil {
					return err
				}
			default:
				return db.errorf("page %d is not a table b-tree page (type %#x)", n, kind)
			}
		}
		if kind == 0x05 {
			return walk(binary.BigEndian.Uint32(pg[h+8:]), depth+1)
		}
		return nil
	}
	return walk(root, 0)
}

// payload assembles a cell's payload of size bytes, local part first, then the
// overflow chain. Nothing is allocated before the size has been checked against
// the budget and the number of pages its chain would need.
func (db *sqliteDB) payload(rd *reading, local []byte, size uint64) ([]byte, error) {
	if size > uint64(len(db.data)) {
		return nil, db.errorf("payload of %d bytes in a file of %d", size, len(db.data))
	}
	if err := db.spend(rd, size); err != nil {
		return nil, err
	}
	u := db.usable
	x := u - 35
	p := int(size)
	if p <= x {
		if len(local) < p {
			return nil, db.errorf("payload truncated")
		}
		return local[:p], nil
	}
	m := (u-12)*32/255 - 23
	k := m + (p-m)%(u-4)
	if k > x {
		k = m
	}
	if len(local) < k+4 {
		return nil, db.errorf("payload truncated")
	}
	if chain := (p - k + u - 5) / (u - 4); chain > db.pages {
		return nil, db.errorf("payload of %d bytes needs %d overflow pages; the file has %d", p, chain, db.pages)
	}
	out := make([]byte, 0, p)
	out = append(out, local[:k]...)
	next := binary.BigEndian.Uint32(local[k:])
	for len(out) < p {
		if next == 0 {
			return nil, db.errorf("overflow chain ends %d bytes early", p-len(out))
		}
		if err := db.use(rd, next, "overflow"); err != nil {
			return nil, err
		}
		pg, _, err := db.page(next)
		if err != nil {
			return nil, err
		}
		next = binary.BigEndian.Uint32(pg)
		n := min(p-len(out), u-4)
		out = append(out, pg[4:4+n]...)
	}
	return out, nil
}

// record decodes a record: NULL is nil, integers int64, floats float64, text
// string, blobs []byte.
func record(payload []byte) ([]any, error) {
	hlen, k, ok := varint(payload)
	if !ok || hlen > uint64(len(payload)) || int(hlen) < k {
		return nil, errors.New("record header")
	}
	// Count the serial types first so that out is allocated once, at its size
	// (at most one value per header byte).
	count := 0
	for p := k; p < int(hlen); count++ {
		_, n, ok := varint(payload[p:hlen])
		if !ok {
			return nil, errors.New("record serial type")
		}
		p += n
	}
	body := payload[hlen:]
	out := make([]any, 0, count)
	for p := k; p < int(hlen); {
		t, tn, _ := varint(payload[p:hlen])
		p += tn
		var n int
		switch {
		case t == 0, t == 8, t == 9:
			n = 0
		case t >= 1 && t <= 4:
			n = int(t)
		case t == 5:
			n = 6
		case t == 6, t == 7:
			n = 8
		case t >= 12:
			if t > uint64(len(body))*2+13 {
				return nil, errors.New("record value too long")
			}
			n = int((t - 12) / 2)
		default:
			return nil, fmt.Errorf("record serial type %d", t)
		}
		if n > len(body) {
			return nil, errors.New("record value truncated")
		}
		v := body[:n]
		body = body[n:]
		switch {
		case t == 0:
			out = append(out, nil)
		case t == 8:
			out = append(out, int64(0))
		case t == 9:
			out = append(out, int64(1))
		case t <= 6:
			var x int64
			if v[0]&0x80 != 0 {
				x = -1
			}
			for _, b := range v {
				x = x<<8 | int64(b)
			}
			out = append(out, x)
		case t == 7:
			out = append(out, math.Float64frombits(binary.BigEndian.Uint64(v)))
		case t%2 == 0:
			out = append(out, append([]byte(nil), v...))
		default:
			out = append(out, string(v))
		}
	}
	return out, nil
}

// table returns the column names and rows of the named table. A row may be
// shorter than the columns: the values missing at its end are NULL.
func (db *sqliteDB) table(name string) ([]string, [][]any, error) {
	var root uint32
	var sql string
	rd := db.newReading()
	err := db.scanTable(rd, 1, func(p []byte) error {
		r, err := record(p)
		if err != nil {
			return db.errorf("schema: %v", err)
		}
		// sqlite_schema(type, name, tbl_name, rootpage, sql)
		if len(r) == 5 && r[0] == "table" && r[1] == name {
			if n, ok := r[3].(int64); ok && n > 0 && n <= math.MaxUint32 {
				root = uint32(n)
			}
			sql, _ = r[4].(string)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if root == 0 {
		return nil, nil, db.errorf("no table %s", name)
	}
	cols, err := columns(sql)
	if err != nil {
		return nil, nil, db.errorf("table %s: %v", name, err)
	}
	if strings.Contains(strings.ToUpper(sql), "WITHOUT ROWID") {
		return nil, nil, db.errorf("table %s is WITHOUT ROWID", name)
	}
	var rows [][]any
	err = db.scanTable(rd, root, func(p []byte) error {
		r, err := record(p)
		if err != nil {
			return db.errorf("table %s: %v", name, err)
		}
		// Rows written before an ALTER TABLE ADD COLUMN are shorter: their
		// missing columns are NULL, and are left out rather than filled in (a
		// schema of many columns would otherwise cost that much per row).
		if len(r) > len(cols) {
			return db.errorf("table %s: a row of %d values in %d columns", name, len(r), len(cols))
		}
		rows = append(rows, r)
		return nil
	})
	return cols, rows, err
}

// columns reads the column names of a CREATE TABLE statement as NSS writes
// them: "CREATE TABLE nssPublic (id PRIMARY KEY UNIQUE ON CONFLICT ABORT, a0, a1, ...)".
func columns(sql string) ([]string, error) {
	i, j := strings.Index(sql, "("), strings.LastIndex(sql, ")")
	if i < 0 || j < i {
		return nil, fmt.Errorf("unreadable schema %q", sql)
	}
	var cols []string
	for _, def := range strings.Split(sql[i+1:j], ",") {
		f := strings.Fields(def)
		if len(f) == 0 {
			return nil, fmt.Errorf("unreadable schema %q", sql)
		}
		switch strings.ToUpper(f[0]) {
		case "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT":
			continue // table constraints
		}
		cols = append(cols, strings.Trim(f[0], "`\"[]"))
	}
	return cols, nil
}
