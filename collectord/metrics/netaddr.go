package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/gopcp/gopcp/protocol"
)

// The "netaddr" source: the addresses of the network interfaces, on their own
// instance domain (60.17), whose instances are every name that has any of them: the
// entries of /sys/class/net (hardware addresses), the IPv4 address labels (which
// include aliases such as eth0:1) and the interfaces of /proc/net/if_inet6. Instance
// ids are given in that order as names first appear, as the linux agent does, and
// are never reused; the names of the directory are taken in sorted order, not the
// directory's (which on a disk filesystem depends on its hash seed), so that ids do
// not differ between two copies of one tree.
//
//   - hw_addr: the first word of /sys/class/net/<if>/address.
//   - inet_addr: the interface's (or alias's) first IPv4 address, the one the
//     SIOCGIFADDR ioctl the agent uses returns; read here with a netlink
//     RTM_GETADDR dump (the kernel walks the same per-device list for both), which
//     lists every label in one call rather than one ioctl per name. An interface
//     without an IPv4 address has no value, as with the agent. Only the live /proc
//     is asked: with any other root (a test fixture) the dump comes from inet4.
//   - ipv6_addr and ipv6_scope: from /proc/net/if_inet6, "address/prefix" and the
//     scope's name; when an interface has several, the last line wins, as with the
//     agent. A kernel without IPv6 has no such file: no values, and no error.
//
// A fetch reads only what its metrics need. Each of the three fails alone: a
// missing or unreadable /sys/class/net/<if>/address is no value for that
// interface; an if_inet6 line that is not one, or a failed netlink dump, fails the
// metrics that need it, counted (PartialErrors) when the others served.

var indomNetAddr = protocol.NewInDom(DomainLinux, 17)

const (
	selInetAddr = iota
	selIPv6Addr
	selIPv6Scope
	selHWAddr
	numNetAddrSels
)

// ifAddr4 is one IPv4 address of a dump: the label it has (the interface's name, or
// an alias) and the address.
type ifAddr4 struct {
	label string
	addr  netip.Addr
}

func init() {
	setOwnInDomHelp(indomNetAddr, "network interfaces and aliases with an address",
		"Every name in /sys/class/net, every IPv4 address label (aliases such as eth0:1\n"+
			"included) and every interface of /proc/net/if_inet6.")
	help := [numNetAddrSels]helpText{
		selInetAddr: {"the interface's IPv4 address",
			"The first IPv4 address with this interface (or alias) name as its label, in\n" +
				"dotted decimal, from the kernel's address list for the device, read with an\n" +
				"RTM_GETADDR request over netlink(7). No value for an interface without an IPv4\n" +
				"address."},
		selIPv6Addr: {"the interface's IPv6 address and prefix length",
			"An IPv6 address of the interface with its prefix length (\"fe80::1/64\"), from\n" +
				"/proc/net/if_inet6: of several, the one listed last. No value for an\n" +
				"interface without IPv6 addresses, nor on a kernel without IPv6."},
		selIPv6Scope: {"the scope of network.interface.ipv6_addr",
			"The scope of the address in network.interface.ipv6_addr, from its line of\n" +
				"/proc/net/if_inet6: Global, Link, Site, Compat, Host (loopback) or Unknown."},
		selHWAddr: {"the interface's hardware (link layer) address",
			"The first word of /sys/class/net/<if>/address, such as \"52:54:00:12:34:56\".\n" +
				"No value when the file is missing or unreadable."},
	}
	registerSource(&sourceSpec{
		name:   "netaddr",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomNetAddr},
		new: func(e *env) Source {
			s := &netAddrSource{classDir: filepath.Join(e.sysRoot, "class/net"),
				inet6: newKfile(filepath.Join(e.procRoot, "net/if_inet6"))}
			if e.procRoot == "/proc" {
				s.inet4 = netlinkIPv4
			}
			return s
		},
		metrics: []metricDef{
			{"network.interface.inet_addr", pmid(60, 33, 0), tSTR, indomNetAddr, semD, uNone, selInetAddr},
			{"network.interface.ipv6_addr", pmid(60, 33, 1), tSTR, indomNetAddr, semD, uNone, selIPv6Addr},
			{"network.interface.ipv6_scope", pmid(60, 33, 2), tSTR, indomNetAddr, semD, uNone, selIPv6Scope},
			{"network.interface.hw_addr", pmid(60, 33, 3), tSTR, indomNetAddr, semD, uNone, selHWAddr},
		},
		help: func(d metricDef) helpText {
			if d.sel < 0 || d.sel >= numNetAddrSels {
				return helpText{}
			}
			return help[d.sel]
		},
	})
}

type netAddrSource struct {
	classDir string
	inet6    *kfile
	// inet4 lists the IPv4 addresses; nil: none are known (not the live /proc).
	inet4   func() ([]ifAddr4, error)
	buf     []byte
	dirBuf  []byte
	ids     idCache
	partial atomic.Uint64

	// the last read, by instance id
	hw, v4, v6, scope []string
	here              []bool
}

// PartialErrors counts fetches in which the IPv4 or IPv6 addresses failed while
// other addresses served.
func (s *netAddrSource) PartialErrors() uint64 { return s.partial.Load() }

// slot makes sure id has a place in the per-instance slices.
func (s *netAddrSource) slot(id uint32) {
	for uint32(len(s.here)) <= id {
		s.hw, s.v4, s.v6, s.scope = append(s.hw, ""), append(s.v4, ""), append(s.v6, ""), append(s.scope, "")
		s.here = append(s.here, false)
	}
	s.here[id] = true
}

// read refreshes what need asks for (by selector; all of it for the instance
// list). It returns an error per part: the interface list and hardware addresses,
// IPv4, IPv6.
func (s *netAddrSource) read(need [numNetAddrSels]bool) (errs [3]error) {
	clear(s.here)
	clear(s.hw)
	clear(s.v4)
	clear(s.v6)
	clear(s.scope)
	// The interface names first, always: they fix the order of new instance ids
	// whatever a fetch asks for, and a directory listing is cheap.
	var names []string
	buf, err := listDir(s.classDir, s.dirBuf, func(_ int, name []byte) {
		names = append(names, string(name))
	})
	s.dirBuf = buf
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs[0] = err
	}
	slices.Sort(names)
	for _, n := range names {
		if !validIfName(n) {
			continue
		}
		id := s.ids.idString(n)
		s.slot(id)
		if need[selHWAddr] {
			s.hw[id] = s.readHW(n)
		}
	}
	if need[selInetAddr] && s.inet4 != nil {
		addrs, err := s.inet4()
		if err != nil {
			errs[1] = err
		}
		for _, a := range addrs {
			if !validIfName(a.label) {
				continue
			}
			id := s.ids.idString(a.label)
			s.slot(id)
			if s.v4[id] == "" && a.addr.Is4() {
				s.v4[id] = a.addr.String()
			}
		}
	}
	if need[selIPv6Addr] || need[selIPv6Scope] {
		errs[2] = s.readInet6()
	}
	return errs
}

// readHW reads one interface's address file; "" when there is none.
func (s *netAddrSource) readHW(name string) string {
	if !validIfName(name) {
		return ""
	}
	f := kfile{path: filepath.Join(s.classDir, name, "address"), fd: -1, noKeep: true}
	b, err := f.read(s.buf)
	s.buf = b
	if err != nil {
		return ""
	}
	w, _ := nextField(b)
	if len(w) == 0 || len(w) > 63 || !printable(w) {
		return ""
	}
	return string(w)
}

// readInet6 reads /proc/net/if_inet6: "ADDR IFINDEX PLEN SCOPE FLAGS NAME" per line,
// ADDR 32 hex digits and the next four fields hex.
func (s *netAddrSource) readInet6() error {
	b, err := s.inet6.read(s.buf)
	s.buf = b
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no IPv6
	}
	if err != nil {
		return err
	}
	type entry struct {
		id          uint32
		addr, scope string
	}
	var got []entry
	for rest, n := b, 1; len(rest) > 0; n++ {
		var line []byte
		line, rest = nextLine(rest)
		if len(trimSpace(line)) == 0 {
			continue
		}
		var f [6][]byte
		r := line
		for i := range f {
			f[i], r = nextField(r)
		}
		extra, _ := nextField(r)
		if len(f[0]) != 32 || !isHex(f[0], 32, 32) || !isHex(f[1], 1, 8) || !isHex(f[2], 1, 2) ||
			!isHex(f[3], 1, 4) || !isHex(f[4], 1, 4) || !validIfName(string(f[5])) || len(extra) != 0 {
			return fmt.Errorf("%s: line %d: %w: not an address line", s.inet6.path, n, errParse)
		}
		var a16 [16]byte
		for i := range a16 {
			a16[i] = byte(hexVal(f[0][2*i : 2*i+2]))
		}
		plen := hexVal(f[2])
		if plen > 128 {
			return fmt.Errorf("%s: line %d: %w: prefix length %d", s.inet6.path, n, errParse, plen)
		}
		got = append(got, entry{s.ids.id(f[5]), formatIPv6(a16) + "/" + strconv.Itoa(int(plen)), ipv6Scope(hexVal(f[3]))})
	}
	// Only a whole file gives values: a line in the middle that is not one would
	// otherwise leave an interface with an address from an earlier line.
	for _, e := range got {
		s.slot(e.id)
		s.v6[e.id], s.scope[e.id] = e.addr, e.scope
	}
	return nil
}

// ipv6Scope names the scope field of if_inet6 (the kernel's IPV6_ADDR_* scope bits)
// as the linux agent does.
func ipv6Scope(v uint32) string {
	switch v {
	case 0x00:
		return "Global"
	case 0x20:
		return "Link"
	case 0x40:
		return "Site"
	case 0x80:
		return "Compat"
	case 0x10:
		return "Host"
	}
	return "Unknown"
}

// formatIPv6 writes an address as inet_ntop(3) does: RFC 5952 (which netip
// follows), except that glibc writes an address whose first 96 bits are zero and
// whose last 32 are not a bare ::N as IPv4-compatible, "::a.b.c.d".
func formatIPv6(a [16]byte) string {
	if [12]byte(a[:12]) == [12]byte{} && (a[12] != 0 || a[13] != 0) {
		return "::" + netip.AddrFrom4([4]byte(a[12:])).String()
	}
	return netip.AddrFrom16(a).String()
}

// validIfName: a name the kernel could give an interface (or an alias label), so
// that it is safe as one path element and as an instance name.
func validIfName(n string) bool {
	if len(n) == 0 || len(n) > 32 || n == "." || n == ".." {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c <= ' ' || c == '/' || c >= 0x7f {
			return false
		}
	}
	return true
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func (s *netAddrSource) Fetch(reqs []Request) error {
	var need [numNetAddrSels]bool
	for _, rq := range reqs {
		if rq.Sel >= 0 && rq.Sel < numNetAddrSels {
			need[rq.Sel] = true
		}
	}
	errs := s.read(need)
	failed := func(sel int) error {
		switch sel {
		case selInetAddr:
			return errs[1]
		case selIPv6Addr, selIPv6Scope:
			return errs[2]
		}
		return errs[0]
	}
	served, fails := false, []error{}
	for _, rq := range reqs {
		if rq.Sel < 0 || rq.Sel >= numNetAddrSels {
			continue
		}
		if err := failed(rq.Sel); err != nil {
			fails = append(fails, err)
			continue
		}
		served = true
	}
	if !served && len(fails) > 0 {
		return errors.Join(fails...)
	}
	if len(fails) > 0 {
		s.partial.Add(1)
	}
	for _, rq := range reqs {
		if rq.Sel < 0 || rq.Sel >= numNetAddrSels {
			continue
		}
		if failed(rq.Sel) != nil {
			rq.Res.Err = protocol.ErrValue
			continue
		}
		vals := s.hw
		switch rq.Sel {
		case selInetAddr:
			vals = s.v4
		case selIPv6Addr:
			vals = s.v6
		case selIPv6Scope:
			vals = s.scope
		}
		for id, v := range vals {
			if s.here[id] && v != "" {
				putS(rq.Res, uint32(id), v)
			}
		}
	}
	return nil
}

func (s *netAddrSource) Instances(protocol.InDom) ([]Instance, error) {
	errs := s.read([numNetAddrSels]bool{true, true, true, true})
	var out []Instance
	for id, here := range s.here {
		if here {
			out = append(out, Instance{ID: uint32(id), Name: s.ids.name(uint32(id))})
		}
	}
	if len(out) == 0 {
		if err := errors.Join(errs[:]...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// netlinkIPv4 dumps the IPv4 addresses of the collector's network namespace.
func netlinkIPv4() ([]ifAddr4, error) {
	b, err := syscall.NetlinkRIB(syscall.RTM_GETADDR, syscall.AF_INET)
	if err != nil {
		return nil, fmt.Errorf("netlink RTM_GETADDR: %w", err)
	}
	return parseAddrDump(b)
}

// parseAddrDump decodes an RTM_GETADDR dump: for each RTM_NEWADDR message, its
// label (IFA_LABEL) and local address (IFA_LOCAL, else IFA_ADDRESS).
func parseAddrDump(b []byte) ([]ifAddr4, error) {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil, fmt.Errorf("netlink RTM_GETADDR: %w", err)
	}
	var out []ifAddr4
	for _, m := range msgs {
		switch m.Header.Type {
		case syscall.NLMSG_DONE:
			return out, nil
		case syscall.NLMSG_ERROR:
			return nil, fmt.Errorf("netlink RTM_GETADDR: %w: error message", errParse)
		case syscall.RTM_NEWADDR:
		default:
			continue
		}
		if len(m.Data) < syscall.SizeofIfAddrmsg || m.Data[0] != syscall.AF_INET {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, fmt.Errorf("netlink RTM_GETADDR: %w", err)
		}
		var label string
		var local, addr []byte
		for _, a := range attrs {
			switch a.Attr.Type {
			case syscall.IFA_LABEL:
				label = string(bytes.TrimRight(a.Value, "\x00"))
			case syscall.IFA_LOCAL:
				local = a.Value
			case syscall.IFA_ADDRESS:
				addr = a.Value
			}
		}
		if local == nil {
			local = addr
		}
		if len(local) != 4 || label == "" {
			continue
		}
		out = append(out, ifAddr4{label, netip.AddrFrom4([4]byte(local))})
	}
	return out, nil
}
