package pmapi

import (
	"os"
	"strconv"
	"strings"

	"github.com/gopcp/gopcp/protocol"
)

// Host is one host of a host specification: a name (an IPv6 address without its
// brackets, or for local:/unix: specs the socket path) and its ports (none given: use
// $PMCD_PORT or the default).
type Host struct {
	Name  string
	Ports []int
}

// HostSpec is a parsed PCP host specification, as libpcp's __pmParseHostAttrsSpec
// understands it:
//
//	[pcp:|pcps:][//]host[:port[,port...]][@proxy[:port]][?attr[=value][&attr...]]
//	local:[path][?attrs]    unix:path[?attrs]
//
// Hosts[0] is the pmcd host; any further hosts are pmproxy hops.
type HostSpec struct {
	// Scheme is "pcp", "pcps", "local", "unix" or "" (none written).
	Scheme string
	Hosts  []Host
	// Attrs holds the recognised attributes by canonical name (secure, container,
	// username, password, method, realm, userauth, compress, exclusive, unixsock,
	// local, userid, groupid, processid); a name without "=value" maps to "".
	// Unknown attributes are ignored, as libpcp ignores them.
	Attrs map[string]string
}

// Local reports whether the spec names a local (unix socket) connection.
func (h *HostSpec) Local() bool { return h.Scheme == "local" || h.Scheme == "unix" }

// Attr returns an attribute's value and whether it was given.
func (h *HostSpec) Attr(name string) (string, bool) {
	v, ok := h.Attrs[name]
	return v, ok
}

// HostSpecError is a malformed host specification. Its code is PM_ERR_GENERIC, as
// libpcp reports it after printing Detail.
type HostSpecError struct {
	Spec   string
	Offset int    // byte offset of the fault in Spec
	Reason string // e.g. "non-numeric port"
}

func (e *HostSpecError) Error() string {
	return "bad host specification " + strconv.Quote(e.Spec) + ": " + e.Reason
}

// Unwrap lets protocol.CodeOf and errors.As see PM_ERR_GENERIC.
func (e *HostSpecError) Unwrap() error { return &protocol.Error{Code: protocol.ErrGeneric} }

// Detail renders the error as libpcp does: the spec, then a caret under the fault
// followed by " -- reason", each line ending in a newline.
func (e *HostSpecError) Detail() string {
	var b strings.Builder
	b.WriteString(e.Spec)
	b.WriteByte('\n')
	for i := 0; i < e.Offset && i < len(e.Spec); i++ {
		c := e.Spec[i]
		if c > ' ' && c < 0x7f {
			b.WriteByte(' ')
		} else {
			b.WriteByte(c)
		}
	}
	b.WriteString("^ -- ")
	b.WriteString(e.Reason)
	b.WriteByte('\n')
	return b.String()
}

var attrKeys = map[string]string{
	"compress": "compress", "userauth": "userauth", "authorise": "userauth",
	"authorize": "userauth", "user": "username", "username": "username",
	"realm": "realm", "authmeth": "method", "method": "method", "pass": "password",
	"password": "password", "unix": "unixsock", "unixsock": "unixsock",
	"local": "local", "uid": "userid", "userid": "userid", "gid": "groupid",
	"groupid": "groupid", "pid": "processid", "processid": "processid",
	"secure": "secure", "container": "container", "exclusive": "exclusive",
}

// ParseHostSpec parses a host specification exactly as libpcp 6.0.3 does (including
// its leniencies: "pcp:host" without slashes, trailing "/", unknown attributes).
func ParseHostSpec(spec string) (*HostSpec, error) {
	h := &HostSpec{Attrs: map[string]string{}}
	pos := 0
	for _, p := range []string{"pcps", "pcp", "local", "unix"} {
		if strings.HasPrefix(spec, p+":") {
			h.Scheme = p
			pos = len(p) + 1
			for pos < len(spec) && spec[pos] == '/' {
				pos++
			}
			break
		}
	}
	switch h.Scheme {
	case "local", "unix":
		pos = parseSocketPath(spec, pos, h)
		if h.Scheme == "local" {
			h.Attrs["local"] = ""
		} else {
			h.Attrs["unixsock"] = ""
		}
	default:
		if h.Scheme != "" {
			h.Attrs["protocol"] = h.Scheme
		}
		var err error
		if pos, err = parseHosts(spec, pos, h); err != nil {
			return nil, err
		}
	}
	if pos < len(spec) {
		switch spec[pos] {
		case '?':
			pos++
		case '/':
		default:
			return nil, &HostSpecError{Spec: spec, Offset: pos, Reason: "unexpected terminal character"}
		}
	}
	parseAttrs(spec, pos, h)
	return h, nil
}

func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func parseHosts(spec string, pos int, h *HostSpec) (int, error) {
	start := pos
	s := pos
	for {
		var next int
		if s == start && at(spec, s) == '[' {
			for s++; at(spec, s) != ']' && at(spec, s) != 0; s++ {
			}
			if at(spec, s) != ']' {
				return 0, &HostSpecError{Spec: spec, Offset: s, Reason: "missing closing ']' for host spec"}
			}
			next = s + 1
			if c := at(spec, next); c != ':' && c != '@' && c != 0 && c != '/' && c != '?' {
				return 0, &HostSpecError{Spec: spec, Offset: next, Reason: "extra characters after host spec"}
			}
			start++
		} else {
			next = s
		}
		c := at(spec, next)
		if c == ':' || c == '@' || c == 0 || c == '/' || c == '?' {
			if s == pos {
				return s, nil
			}
			if s == start {
				if c == 0 {
					return s, nil
				}
				s++
				continue
			}
			h.Hosts = append(h.Hosts, Host{Name: spec[start:s]})
			s = next
			if at(spec, s) == ':' {
				s++
				start = s
				for ; ; s++ {
					c := at(spec, s)
					if c == ',' || c == '@' || c == 0 || c == '/' || c == '?' {
						if s-start < 1 {
							return 0, &HostSpecError{Spec: spec, Offset: s, Reason: "missing port"}
						}
						port, _ := strconv.Atoi(spec[start:s])
						last := &h.Hosts[len(h.Hosts)-1]
						last.Ports = append(last.Ports, port)
						start = s + 1
						if c != ',' {
							break
						}
						continue
					}
					if c >= '0' && c <= '9' {
						continue
					}
					return 0, &HostSpecError{Spec: spec, Offset: s, Reason: "non-numeric port"}
				}
			}
			if at(spec, s) == '@' {
				start = s + 1
				s++
				continue
			}
			return s, nil
		}
		s++
	}
}

// DefaultSocketPath is where libpcp looks for pmcd's unix socket: $PMCD_SOCKET, else
// $PCP_RUN_DIR/pmcd.socket, else /run/pcp/pmcd.socket.
func DefaultSocketPath() string {
	if p := os.Getenv("PMCD_SOCKET"); p != "" {
		return p
	}
	dir := os.Getenv("PCP_RUN_DIR")
	if dir == "" {
		dir = "/run/pcp"
	}
	return dir + "/pmcd.socket"
}

func parseSocketPath(spec string, pos int, h *HostSpec) int {
	s := pos
	delimited := false
	for ; s < len(spec); s++ {
		if spec[s] == ':' || spec[s] == '?' {
			delimited = true
			break
		}
	}
	var path string
	if s == pos || (delimited && s == pos+1) {
		path = DefaultSocketPath()
	} else {
		path = spec[pos:s]
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	h.Hosts = []Host{{Name: path}}
	return s
}

func parseAttrs(spec string, pos int, h *HostSpec) {
	start := pos
	v := -1
	for s := pos; ; s++ {
		c := at(spec, s)
		if c == 0 || c == '/' || c == '&' {
			if (c == 0 || c == '/') && s == start {
				return
			}
			n := s - start
			if v >= 0 {
				n = v - start - 1
			}
			name := spec[start : start+n]
			if len(name) > 31 {
				name = name[:31]
			}
			if key, ok := attrKeys[name]; ok {
				val := ""
				if v >= 0 {
					val = spec[v:s]
				}
				h.Attrs[key] = val
			}
			v = -1
			if c == 0 || c == '/' {
				return
			}
			start = s + 1
			continue
		}
		if c == '=' {
			v = s + 1
		}
	}
}
