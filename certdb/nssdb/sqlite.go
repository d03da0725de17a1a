package nssdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
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
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
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

// scanTable calls fn with the record payload of every row of the table b-tree
// rooted at root.
func (db *sqliteDB) scanTable(root uint32, fn func(payload []byte) error) error {
	visited := map[uint32]bool{}
	var walk func(n uint32, depth int) error
	walk = func(n uint32, depth int) error {
		if depth > 40 || visited[n] {
			return db.errorf("b-tree loop or too deep at page %d", n)
		}
		visited[n] = true
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
				payload, err := db.payload(cell[k+k2:], size)
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
// overflow chain.
func (db *sqliteDB) payload(local []byte, size uint64) ([]byte, error) {
	if size > uint64(len(db.data)) {
		return nil, db.errorf("payload of %d bytes", size)
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
	out := make([]byte, 0, p)
	out = append(out, local[:k]...)
	next := binary.BigEndian.Uint32(local[k:])
	seen := map[uint32]bool{}
	for len(out) < p {
		if next == 0 || seen[next] {
			return nil, db.errorf("overflow chain broken")
		}
		seen[next] = true
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
	var types []uint64
	for p := k; p < int(hlen); {
		t, n, ok := varint(payload[p:hlen])
		if !ok {
			return nil, errors.New("record serial type")
		}
		types = append(types, t)
		p += n
	}
	body := payload[hlen:]
	out := make([]any, 0, len(types))
	for _, t := range types {
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

// table returns the column names and rows of the named table.
func (db *sqliteDB) table(name string) ([]string, [][]any, error) {
	var root uint32
	var sql string
	err := db.scanTable(1, func(p []byte) error {
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
	err = db.scanTable(root, func(p []byte) error {
		r, err := record(p)
		if err != nil {
			return db.errorf("table %s: %v", name, err)
		}
		// Rows written before an ALTER TABLE ADD COLUMN are shorter.
		for len(r) < len(cols) {
			r = append(r, nil)
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
