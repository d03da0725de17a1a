package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/gopcp/gopcp/protocol"
)

// The socket table sources: /proc/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}, one source
// per file so that a fetch reads only the tables it asks about, and a broken table
// fails (and is counted against) only its own metrics. Each serves counts of the
// table's rows: TCP sockets by state (network.tcpconn.*, tcpconn6.*), UDP sockets
// in the established and "listening" (unconnected, state 07) states, raw sockets, and
// Unix sockets by type and state.
//
// The tables are read here rather than with procfs (NetTCP, NetUDP, NetUNIX): procfs
// builds a struct with net.IP addresses, and for Unix sockets a path string, for
// every row, and a busy host has hundreds of thousands of rows; these counts need
// two short fields of each (on a 10,000-row /proc/net/tcp, NetTCP made 110,022
// allocations, 7 MB, per read; a fetch here makes 13, 2 KB, BenchmarkConnFetch10k). The file is streamed through one fixed buffer, so memory
// does not grow with the table, and a row is checked and counted in place without
// allocating. A row that is not a kernel row (its slot is not "N:", its state is not
// exactly two hex digits, a Unix row's type not four) is garbage: the table's metrics
// fail and the source counts an error, rather than count a row that is not one. A
// table that is missing is an error too, except an IPv6 one: a kernel without IPv6
// has none, and its metrics simply have no value.

// connTable is one socket table file and what it counts.
type connTable struct {
	source string // the source's name
	file   string // under /proc
	six    bool   // an IPv6 table: absent when the kernel has no IPv6
	unix   bool   // the Unix socket table, whose rows differ
	name   string // in help text
	items  []connItem
}

// connItem is one metric of a table: the count of rows in one state (inet tables),
// of all rows (state -1), or one of the Unix counts.
type connItem struct {
	name  string
	item  protocol.PMID
	state int
	what  string
}

// The TCP states as the kernel numbers them (include/net/tcp_states.h), which are
// also the items of the tcpconn clusters.
var tcpStates = []struct {
	name string
	what string
}{
	1: {"established", "established"}, 2: {"syn_sent", "SYN_SENT (connecting)"}, 3: {"syn_recv", "SYN_RECV (being accepted)"},
	4: {"fin_wait1", "FIN_WAIT1"}, 5: {"fin_wait2", "FIN_WAIT2"}, 6: {"time_wait", "TIME_WAIT"},
	7: {"close", "CLOSE"}, 8: {"close_wait", "CLOSE_WAIT"}, 9: {"last_ack", "LAST_ACK"},
	10: {"listen", "LISTEN"}, 11: {"closing", "CLOSING"},
}

func tcpItems(prefix string, cluster uint32) []connItem {
	var out []connItem
	for st := 1; st < len(tcpStates); st++ {
		out = append(out, connItem{prefix + tcpStates[st].name, pmid(60, cluster, uint32(st)), st,
			"sockets in state " + tcpStates[st].what})
	}
	return out
}

// Unix socket counts, in the state field's place.
const (
	unixDgram = iota
	unixStreamEstab
	unixStreamListen
	unixStream
	numUnixCounts
)

var connTables = []connTable{
	{"tcpconn", "net/tcp", false, false, "IPv4 TCP", tcpItems("network.tcpconn.", 19)},
	{"tcpconn6", "net/tcp6", true, false, "IPv6 TCP", tcpItems("network.tcpconn6.", 76)},
	{"udpconn", "net/udp", false, false, "IPv4 UDP", []connItem{
		{"network.udpconn.established", pmid(60, 79, 1), 1, "connected sockets (state 01)"},
		{"network.udpconn.listen", pmid(60, 79, 2), 7, "unconnected sockets (state 07)"}}},
	{"udpconn6", "net/udp6", true, false, "IPv6 UDP", []connItem{
		{"network.udpconn6.established", pmid(60, 80, 1), 1, "connected sockets (state 01)"},
		{"network.udpconn6.listen", pmid(60, 80, 2), 7, "unconnected sockets (state 07)"}}},
	{"rawconn", "net/raw", false, false, "IPv4 raw", []connItem{
		{"network.rawconn.count", pmid(60, 77, 1), -1, "sockets, every row of the table"}}},
	{"rawconn6", "net/raw6", true, false, "IPv6 raw", []connItem{
		{"network.rawconn6.count", pmid(60, 78, 1), -1, "sockets, every row of the table"}}},
	{"unixconn", "net/unix", false, true, "Unix domain", []connItem{
		{"network.unix.datagram.count", pmid(60, 81, 1), unixDgram, "datagram sockets (type 0002)"},
		{"network.unix.stream.established", pmid(60, 81, 2), unixStreamEstab, "stream sockets that are connected (type 0001, state 03)"},
		{"network.unix.stream.listen", pmid(60, 81, 3), unixStreamListen, "stream sockets in state 01 (unconnected: listening ones and others)"},
		{"network.unix.stream.count", pmid(60, 81, 4), unixStream, "stream sockets in any state (type 0001)"}}},
}

func init() {
	for _, tb := range connTables {
		defs := make([]metricDef, len(tb.items))
		for i, it := range tb.items {
			defs[i] = metricDef{it.name, it.item, tU32, null, semI, uCount, i}
		}
		registerSource(&sourceSpec{
			name:   tb.source,
			domain: DomainLinux,
			new: func(e *env) Source {
				return &connSource{table: tb, path: filepath.Join(e.procRoot, tb.file)}
			},
			metrics: defs,
			help: func(d metricDef) helpText {
				if d.sel < 0 || d.sel >= len(tb.items) {
					return helpText{}
				}
				it := tb.items[d.sel]
				absent := "No value when the file cannot be read or holds a row that is not a socket."
				if tb.six {
					absent = "No value when the kernel has no IPv6 (no such file), the file cannot be\n" +
						"read, or it holds a row that is not a socket."
				}
				return helpText{tb.name + " " + it.what,
					"The number of " + tb.name + " " + it.what + ", counted from the rows of\n" +
						"/proc/" + tb.file + " at the time of the fetch. " + absent}
			},
		})
	}
}

// connBufSize is the read buffer: rows are at most a few hundred bytes (a Unix
// socket path is at most 108), so a row longer than this is garbage.
const connBufSize = 64 << 10

type connSource struct {
	table connTable
	path  string
	buf   []byte
	// the last read: rows by state (inet tables) or the Unix counts
	states [256]uint64
	rows   uint64
	unix   [numUnixCounts]uint64
}

func (s *connSource) Fetch(reqs []Request) error {
	err := s.read()
	if s.table.six && errors.Is(err, fs.ErrNotExist) {
		return nil // no IPv6: no values, and nothing wrong
	}
	if err != nil {
		return err
	}
	for _, rq := range reqs {
		if rq.Sel < 0 || rq.Sel >= len(s.table.items) {
			continue
		}
		it := s.table.items[rq.Sel]
		var v uint64
		switch {
		case s.table.unix:
			v = s.unix[it.state]
		case it.state < 0:
			v = s.rows
		default:
			v = s.states[it.state]
		}
		if v <= 1<<32-1 {
			putU(rq.Res, protocol.InNull, v)
		}
	}
	return nil
}

// read streams the table through s.buf and counts its rows.
func (s *connSource) read() error {
	s.states, s.rows, s.unix = [256]uint64{}, 0, [numUnixCounts]uint64{}
	if fileHook != nil {
		fileHook(s.path)
	}
	fd, err := unix.Open(s.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: s.path, Err: err}
	}
	defer unix.Close(fd)
	if s.buf == nil {
		s.buf = make([]byte, connBufSize)
	}
	line, n := 0, 0 // rows seen; bytes held in buf
	for {
		m, err := unix.Read(fd, s.buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "read", Path: s.path, Err: err}
		}
		n += m
		b := s.buf[:n]
		for {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				break
			}
			if err := s.row(line, b[:i]); err != nil {
				return fmt.Errorf("%s: row %d: %w", s.path, line+1, err)
			}
			line++
			b = b[i+1:]
		}
		n = copy(s.buf, b) // the unfinished row, to the front
		if m == 0 {
			break
		}
		if n == len(s.buf) {
			return fmt.Errorf("%s: row %d: %w: longer than %d bytes", s.path, line+1, errParse, connBufSize)
		}
	}
	if n > 0 { // a last row without its newline
		if err := s.row(line, s.buf[:n]); err != nil {
			return fmt.Errorf("%s: row %d: %w", s.path, line+1, err)
		}
		line++
	}
	if line == 0 {
		return fmt.Errorf("%s: %w: empty, not even a header", s.path, errParse)
	}
	return nil
}

// row checks and counts one row; row 0 is the header.
func (s *connSource) row(n int, b []byte) error {
	f1, r := nextField(b)
	if n == 0 {
		want := "sl"
		if s.table.unix {
			want = "Num"
		}
		if string(f1) != want {
			return fmt.Errorf("%w: the header does not start with %q", errParse, want)
		}
		return nil
	}
	if len(f1) == 0 {
		return fmt.Errorf("%w: an empty row", errParse)
	}
	if s.table.unix {
		// "Num: RefCount Protocol Flags Type St Inode [Path]"
		if !isHex(f1[:len(f1)-1], 1, 16) || f1[len(f1)-1] != ':' {
			return fmt.Errorf("%w: no socket address", errParse)
		}
		var f [5][]byte
		for i := range f {
			f[i], r = nextField(r)
		}
		if !isHex(f[0], 8, 8) || !isHex(f[1], 8, 8) || !isHex(f[2], 8, 8) || !isHex(f[3], 4, 4) || !isHex(f[4], 2, 2) {
			return fmt.Errorf("%w: not a Unix socket row", errParse)
		}
		typ, st := hexVal(f[3]), hexVal(f[4])
		switch typ {
		case 2: // SOCK_DGRAM
			s.unix[unixDgram]++
		case 1: // SOCK_STREAM
			s.unix[unixStream]++
			switch st {
			case 1: // SS_UNCONNECTED, which a listening socket is
				s.unix[unixStreamListen]++
			case 3: // SS_CONNECTED
				s.unix[unixStreamEstab]++
			}
		}
		return nil
	}
	// "sl: local_address rem_address st ..."
	if _, ok := parseUint(f1[:len(f1)-1]); !ok || f1[len(f1)-1] != ':' {
		return fmt.Errorf("%w: no slot number", errParse)
	}
	local, r := nextField(r)
	remote, r := nextField(r)
	st, _ := nextField(r)
	if !isHexAddr(local) || !isHexAddr(remote) || !isHex(st, 2, 2) {
		return fmt.Errorf("%w: not a socket row", errParse)
	}
	s.states[hexVal(st)]++
	s.rows++
	return nil
}

// isHex: b is min to max hexadecimal digits.
func isHex(b []byte, min, max int) bool {
	if len(b) < min || len(b) > max {
		return false
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// isHexAddr: "ADDR:PORT", an IPv4 (8) or IPv6 (32) address and a 4-digit port in hex.
func isHexAddr(b []byte) bool {
	if len(b) != 8+1+4 && len(b) != 32+1+4 {
		return false
	}
	a := len(b) - 5
	return b[a] == ':' && isHex(b[:a], 8, 32) && isHex(b[a+1:], 4, 4)
}

// hexVal converts hex digits already checked by isHex (at most 8).
func hexVal(b []byte) uint32 {
	var v uint32
	for _, c := range b {
		switch {
		case c <= '9':
			v = v<<4 | uint32(c-'0')
		case c >= 'a':
			v = v<<4 | uint32(c-'a'+10)
		default:
			v = v<<4 | uint32(c-'A'+10)
		}
	}
	return v
}
