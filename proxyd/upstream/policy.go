// Package upstream decides which collectors proxyd may reach and opens the
// connections to them: the allow list (so that the proxy is not an open relay),
// name resolution checked against it, the connect timeout, and the client identity
// proxyd presents to each collector on the connections it makes itself (REST and
// /metrics).
//
// The rule is simple: a connection may go to a loopback address on the collector
// port 44321 (unless AllowLoopback is off) or to an address and port that match an
// entry of the allow list. Other loopback ports are not reachable by default:
// services bound to 127.0.0.1 (a web console, a database) trust loopback, and
// proxyd must not hand that trust to remote clients; a collector on another
// loopback port is listed like any other ("127.0.0.1:44399"). Host names are
// resolved first and every resolved address is checked, so a name cannot smuggle
// in an address the list does not allow; a host name listed as such allows
// whatever it resolves to.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// MaxHostLen is the longest host name accepted from a client (DNS's limit).
const MaxHostLen = 255

// LoopbackPort is the only loopback port reachable without an allow entry: the
// PCP collector port (pmcd's and collectord's 44321).
const LoopbackPort = 44321

// DeniedError says that the policy does not allow a collector.
type DeniedError struct {
	Host string
	Port int
	Addr string // the resolved address refused, when the host was a name
}

func (e *DeniedError) Error() string {
	hp := net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
	if e.Addr != "" && e.Addr != e.Host {
		return fmt.Sprintf("collector %s (%s) is not allowed by proxyd's allow list", hp, e.Addr)
	}
	return fmt.Sprintf("collector %s is not allowed by proxyd's allow list", hp)
}

// entry is one allow-list entry: an address prefix or a host name, and a port
// (0 = any).
type entry struct {
	prefix netip.Prefix
	name   string
	port   int
}

// Policy is the allow list. The zero value allows nothing; use NewPolicy.
type Policy struct {
	allowLoopback bool
	entries       []entry
	// Resolver looks host names up; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// NewPolicy parses the allow list. Each entry is an IP address, a CIDR prefix or a
// host name, optionally followed by :PORT (IPv6 in brackets: [::1]:44321,
// [fd00::/8]:44321). allowLoopback adds every loopback address on LoopbackPort
// only; other loopback ports must be listed.
func NewPolicy(allow []string, allowLoopback bool) (*Policy, error) {
	p := &Policy{allowLoopback: allowLoopback}
	for _, s := range allow {
		e, err := parseEntry(s)
		if err != nil {
			return nil, err
		}
		p.entries = append(p.entries, e)
	}
	return p, nil
}

func parseEntry(s string) (entry, error) {
	orig := s
	s = strings.TrimSpace(s)
	bad := func(why string) (entry, error) {
		return entry{}, fmt.Errorf("allow entry %q: %s", orig, why)
	}
	if s == "" {
		return bad("empty")
	}
	var e entry
	host := s
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return bad("missing ]")
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return bad("junk after ]")
			}
			n, err := strconv.Atoi(rest[1:])
			if err != nil || n < 1 || n > 65535 {
				return bad("bad port")
			}
			e.port = n
		}
	case strings.Count(s, ":") == 1:
		i := strings.IndexByte(s, ':')
		host = s[:i]
		n, err := strconv.Atoi(s[i+1:])
		if err != nil || n < 1 || n > 65535 {
			return bad("bad port")
		}
		e.port = n
	}
	if strings.Contains(host, "/") {
		pfx, err := netip.ParsePrefix(host)
		if err != nil {
			return bad("bad CIDR prefix")
		}
		e.prefix = pfx.Masked()
		return e, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		e.prefix = netip.PrefixFrom(a, a.BitLen())
		return e, nil
	}
	if !validHostName(host) {
		return bad("not an address, prefix or host name")
	}
	e.name = canonName(host)
	return e, nil
}

func canonName(h string) string { return strings.ToLower(strings.TrimSuffix(h, ".")) }

// validHostName accepts the characters of DNS names (and the underscores some
// local names carry).
func validHostName(h string) bool {
	if h == "" || len(h) > MaxHostLen {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}

// AllowLoopback reports whether loopback collectors on LoopbackPort are allowed
// without listing.
func (p *Policy) AllowLoopback() bool { return p.allowLoopback }

// nameAllowed reports whether host is a listed host name (for port).
func (p *Policy) nameAllowed(host string, port int) bool {
	h := canonName(host)
	for _, e := range p.entries {
		if e.name != "" && e.name == h && (e.port == 0 || e.port == port) {
			return true
		}
	}
	return false
}

// AddrAllowed reports whether an address may be connected to on port.
func (p *Policy) AddrAllowed(a netip.Addr, port int) bool {
	a = a.Unmap()
	if a.IsUnspecified() {
		// 0.0.0.0 and :: reach this host's own services when connected to: never a
		// collector anyone means.
		return false
	}
	if p.allowLoopback && a.IsLoopback() && port == LoopbackPort {
		return true
	}
	for _, e := range p.entries {
		if e.name != "" || !e.prefix.Contains(a) || (e.port != 0 && e.port != port) {
			continue
		}
		// A wide entry (10.0.0.0/8 is fine, 0.0.0.0/0 or ::/0 is the worry) is
		// about other hosts: it must not open this host's loopback services too.
		// Loopback is reached only through an entry that is itself loopback.
		if a.IsLoopback() && !loopbackPrefix(e.prefix) {
			continue
		}
		return true
	}
	return false
}

// loopbackPrefix reports whether every address of pfx is a loopback address.
func loopbackPrefix(pfx netip.Prefix) bool {
	if pfx.Addr().Is4() {
		return pfx.Bits() >= 8 && pfx.Addr().IsLoopback()
	}
	return pfx.Bits() == 128 && pfx.Addr().IsLoopback()
}

// Resolve checks host:port against the policy and returns the addresses that may
// be dialled, in resolver order. A refusal is a *DeniedError.
func (p *Policy) Resolve(ctx context.Context, host string, port int) ([]netip.AddrPort, error) {
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("bad collector port %d", port)
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		if a.Zone() != "" {
			return nil, &DeniedError{Host: host, Port: port}
		}
		if !p.AddrAllowed(a, port) {
			return nil, &DeniedError{Host: host, Port: port}
		}
		return []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), uint16(port))}, nil
	}
	if !validHostName(host) {
		return nil, fmt.Errorf("bad collector host name %q", host)
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	byName := p.nameAllowed(host, port)
	var out []netip.AddrPort
	var refused netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if byName || p.AddrAllowed(a, port) {
			out = append(out, netip.AddrPortFrom(a, uint16(port)))
		} else if !refused.IsValid() {
			refused = a
		}
	}
	if len(out) == 0 {
		d := &DeniedError{Host: host, Port: port}
		if refused.IsValid() {
			d.Addr = refused.String()
		}
		return nil, d
	}
	return out, nil
}

// Dial connects to host:port through the policy, trying each allowed address in
// turn, each within timeout (<= 0: only ctx bounds it).
func (p *Policy) Dial(ctx context.Context, host string, port int, timeout time.Duration) (net.Conn, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	addrs, err := p.Resolve(ctx, host, port)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	var last error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", a.String())
		if err == nil {
			return c, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

// IsDenied reports whether err is a policy refusal.
func IsDenied(err error) bool {
	var d *DeniedError
	return errors.As(err, &d)
}
