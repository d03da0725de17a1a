package pmapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gopcp/gopcp/protocol"
)

// Context is one connection to a pmcd (libpcp's host context). Its methods send one
// request and wait for its reply; calls from several goroutines are serialised.
type Context struct {
	mu       sync.Mutex
	conn     *protocol.Conn
	spec     *HostSpec
	host     string // the host name the connection was made with
	unix     bool   // connected over a unix socket
	proxied  bool   // through a pmproxy relay: host is the collector's name, not the peer's
	features uint16 // advertised by pmcd in the greeting
	flags    uint16 // requested in CREDS
	tls      bool
	timeout  time.Duration // per reply; <= 0 none
	closed   bool
	broken   bool // the channel failed; further requests fail with PM_ERR_IPC

	profile     []profileEntry
	profileAll  bool // global state: true = include all (PM_PROFILE_INCLUDE)
	profileSent bool

	stateChange int32 // bits from positive ERROR PDUs (pmcd state changes)

	derived *derivedCtx // client-side derived metrics (UseDerived); nil for none
}

// connector carries what Connect decided before talking to any pmcd.
type connector struct {
	opts      Options
	spec      *HostSpec
	secure    SecureMode
	container string
	wantCont  bool
	auth      bool
	compress  bool
	rt, ct    time.Duration
}

// Connect opens a context to the pmcd named by hostspec and performs libpcp's
// handshake: read the greeting, choose CREDS flags from the advertised features,
// send CREDS (from = our pid), upgrade to TLS if negotiated, send the container
// attribute if asked. Failures are *protocol.Error values carrying the code libpcp
// would report (e.g. -ECONNREFUSED "Connection refused", PM_ERR_TIMEOUT,
// PM_ERR_NEEDCLIENTCERT), or a *HostSpecError for a malformed spec.
//
// local: tries the unix socket (DefaultSocketPath) and then TCP to localhost, as
// libpcp does; unix:PATH only the socket. host@proxy and $PMPROXY_HOST go through
// pmproxy's "pmproxy-client 1" prelude.
func Connect(ctx context.Context, hostspec string, opts Options) (*Context, error) {
	spec, err := ParseHostSpec(hostspec)
	if err != nil {
		return nil, err
	}
	if len(spec.Hosts) == 0 || spec.Hosts[0].Name == "" {
		return nil, pcpErr(protocol.ErrNotHost)
	}
	k := &connector{opts: opts, spec: spec, secure: opts.Secure}
	if spec.Scheme == "pcps" {
		k.secure = SecureEnforce
		if v, ok := spec.Attr("secure"); ok {
			if k.secure, err = ParseSecure(v); err != nil {
				// Never fall back to plaintext on a misspelt value.
				return nil, &HostSpecError{Spec: hostspec, Offset: strings.Index(hostspec, "secure="), Reason: "unknown secure= value " + strconv.Quote(v) + "; use " + SecureValues}
			}
		}
	}
	k.container = opts.Container
	if k.container != "" {
		k.wantCont = true
	} else if v, ok := spec.Attr("container"); ok {
		k.container, k.wantCont = v, true
	} else if v, ok := os.LookupEnv("PCP_CONTAINER"); ok {
		k.container, k.wantCont = v, true
	}
	for _, a := range []string{"userauth", "username", "password", "method", "realm"} {
		if _, ok := spec.Attr(a); ok {
			k.auth = true
		}
	}
	_, k.compress = spec.Attr("compress")
	k.rt = opts.RequestTimeout
	if k.rt == 0 {
		k.rt = RequestTimeoutFromEnv()
	}
	k.ct = opts.ConnectTimeout
	if k.ct == 0 {
		k.ct = ConnectTimeoutFromEnv()
	}
	ports := opts.Ports
	if len(ports) == 0 {
		ports = PortsFromEnv()
	}

	name := spec.Hosts[0].Name
	if spec.Local() {
		c, err := k.try(ctx, "unix", name, name, "", 0)
		if err == nil || spec.Scheme == "unix" {
			return c, unwrapDial(err)
		}
		name = "localhost"
	} else if len(spec.Hosts[0].Ports) > 0 {
		ports = spec.Hosts[0].Ports
	}

	proxy, proxyPorts := "", []int(nil)
	if len(spec.Hosts) > 1 {
		proxy, proxyPorts = spec.Hosts[1].Name, spec.Hosts[1].Ports
		if len(proxyPorts) == 0 {
			proxyPorts = []int{44322}
		}
	} else if !spec.Local() {
		proxy, proxyPorts = ProxyFromEnv()
	}

	var last error = errnoErr(syscall.ECONNREFUSED)
	for _, port := range ports {
		var c *Context
		if proxy != "" {
			addr := net.JoinHostPort(proxy, strconv.Itoa(proxyPorts[0]))
			// The handshake (TLS server name, locality) is about the collector:
			// TLS runs end to end through the relay, so the certificate to check
			// is the collector's and must name it, not the proxy.
			c, err = k.try(ctx, "tcp", addr, name, name, port)
		} else {
			c, err = k.try(ctx, "tcp", net.JoinHostPort(name, strconv.Itoa(port)), name, "", 0)
		}
		if err == nil {
			return c, nil
		}
		last = unwrapDial(err)
		if proxy != "" && last != err {
			return nil, last // libpcp gives up when pmproxy itself is unreachable
		}
	}
	return nil, last
}

// dialFailure marks an error from connect(2), as opposed to one from the handshake.
type dialFailure struct{ err error }

func (d *dialFailure) Error() string { return d.err.Error() }
func (d *dialFailure) Unwrap() error { return d.err }

func unwrapDial(err error) error {
	var df *dialFailure
	if errors.As(err, &df) {
		return df.err
	}
	return err
}

// try connects to one address and runs the handshake. hostname is the name the
// handshake uses (locality, SNI); with a non-empty pmcdHost the address is a pmproxy
// that is asked to relay to pmcdHost:pmcdPort.
func (k *connector) try(ctx context.Context, network, addr, hostname, pmcdHost string, pmcdPort int) (*Context, error) {
	dctx := ctx
	if k.ct > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, k.ct)
		defer cancel()
	}
	dial := k.opts.Dial
	if dial == nil {
		d := &net.Dialer{}
		dial = d.DialContext
	}
	nc, err := dial(dctx, network, addr)
	if err != nil {
		return nil, &dialFailure{err: dialError(err)}
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		tc.SetLinger(0)
	}
	// Abandon the handshake if the caller's context ends.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c := &Context{spec: k.spec, host: hostname, unix: network == "unix", proxied: pmcdHost != "", timeout: k.rt, profileAll: true}
	if pmcdHost != "" {
		if err := c.negotiateProxy(nc, pmcdHost, pmcdPort); err != nil {
			nc.Close()
			return nil, err
		}
	}
	c.conn = protocol.NewConn(nc)
	if err := c.handshake(ctx, k); err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, pcpErr(protocol.ErrTimeout)
		}
		return nil, err
	}
	return c, nil
}

// negotiateProxy runs pmproxy's text prelude (PROTOCOL.md 7.1).
func (c *Context) negotiateProxy(nc net.Conn, host string, port int) error {
	c.setDeadline(nc)
	if _, err := nc.Write([]byte("pmproxy-client 1\n")); err != nil {
		return pcpErr(protocol.ErrIPC)
	}
	var line []byte
	one := make([]byte, 1)
	for len(line) < 256+10 {
		if _, err := nc.Read(one); err != nil {
			return replyError(err)
		}
		if one[0] == '\n' || one[0] == '\r' {
			break
		}
		line = append(line, one[0])
	}
	if string(line) != "pmproxy-server 1" {
		return pcpErr(protocol.ErrIPC)
	}
	if _, err := nc.Write([]byte(host + " " + strconv.Itoa(port) + "\n")); err != nil {
		return pcpErr(protocol.ErrIPC)
	}
	return nil
}

func (c *Context) setDeadline(nc net.Conn) {
	if c.timeout > 0 {
		nc.SetDeadline(time.Now().Add(c.timeout))
	} else {
		nc.SetDeadline(time.Time{})
	}
}

// isLocal is libpcp's is_local_connection: a unix socket, a local: or unix:
// spec, or the host "localhost". libpcp matches any name containing
// "localhost", and a local connection skips the client-certificate request; we
// count the exact name only, so that "localhost.evil.example" is remote. A
// connection through a relay is never local: "localhost@proxy" is the relay's
// localhost, and this client is not on it.
func (c *Context) isLocal() bool {
	if c.proxied {
		return false
	}
	_, l := c.spec.Attr("local")
	_, u := c.spec.Attr("unixsock")
	return c.unix || l || u || IsLocalHostName(c.host)
}

// IsLocalHostName reports whether host is the loopback name "localhost" (any
// case, with or without the root's trailing dot). Names that merely start with
// or contain it ("localfoo", "localhost.evil.example") are ordinary remote names.
func IsLocalHostName(host string) bool {
	return strings.EqualFold(strings.TrimSuffix(host, "."), "localhost")
}

// credsFlags is libpcp's check_feature_flags.
func (k *connector) credsFlags(features uint16, local bool) (uint16, error) {
	var flags uint16
	if features&protocol.FeatureCredsReqd != 0 {
		flags |= protocol.FeatureCredsReqd
	}
	if features&protocol.FeatureCertReqd != 0 && !local {
		flags |= protocol.FeatureCertReqd
		if k.secure != SecureEnforce {
			return 0, pcpErr(protocol.ErrNeedClientCert)
		}
	}
	if k.secure != SecureNone {
		if features&protocol.FeatureSecure != 0 {
			flags |= protocol.FeatureSecure
			if features&protocol.FeatureSecureAck != 0 {
				flags |= protocol.FeatureSecureAck
			}
		} else if k.secure == SecureEnforce {
			return 0, errnoErr(syscall.EOPNOTSUPP)
		}
	}
	if k.compress {
		// PCP 6 never offers compression.
		return 0, errnoErr(syscall.EOPNOTSUPP)
	}
	if k.auth {
		if features&protocol.FeatureAuth == 0 {
			return 0, errnoErr(syscall.EOPNOTSUPP)
		}
		flags |= protocol.FeatureAuth
	}
	if k.wantCont {
		if features&protocol.FeatureContainer == 0 {
			return 0, errnoErr(syscall.EOPNOTSUPP)
		}
		flags |= protocol.FeatureContainer
	}
	return flags, nil
}

func (c *Context) handshake(ctx context.Context, k *connector) error {
	nc := c.conn.Conn
	c.setDeadline(nc)
	b, err := c.conn.ReadRaw()
	if err != nil {
		return replyError(err)
	}
	p, _, err := protocol.Decode(b)
	if err != nil {
		return pcpErr(protocol.ErrIPC)
	}
	features, err := protocol.ParseGreeting(p)
	if err != nil {
		return err
	}
	c.features = features
	flags, err := k.credsFlags(features, c.isLocal())
	if err != nil {
		return err
	}
	// SASL (AUTH, or CREDS_REQD on a TCP socket) is not implemented; fail before
	// pmcd starts waiting for it.
	if flags&protocol.FeatureAuth != 0 || (flags&protocol.FeatureCredsReqd != 0 && !c.unix) {
		return pcpErr(protocol.ErrNYI)
	}
	c.flags = flags
	creds := protocol.Encode(nil, &protocol.Creds{Creds: []uint32{protocol.VersionCred(flags)}}, int32(os.Getpid()))
	if err := c.conn.WriteRaw(creds); err != nil {
		return sendError(err)
	}
	if flags&protocol.FeatureSecure != 0 {
		if flags&protocol.FeatureSecureAck != 0 {
			c.setDeadline(nc)
			b, err := c.conn.ReadRaw()
			if err != nil {
				return replyError(err)
			}
			p, _, err := protocol.Decode(b)
			e, ok := p.(*protocol.ErrorPDU)
			if err != nil || !ok {
				return pcpErr(protocol.ErrIPC)
			}
			if e.Code < 0 {
				return pcpErr(e.Code)
			}
		}
		nc.SetDeadline(time.Time{})
		if err := c.upgrade(ctx, k); err != nil {
			return err
		}
	}
	if flags&protocol.FeatureContainer != 0 {
		if err := c.conn.Write(&protocol.Attr{Attr: attrContainer, Value: []byte(k.container)}); err != nil {
			return sendError(err)
		}
	}
	c.conn.Conn.SetDeadline(time.Time{})
	return nil
}

// attrContainer is PCP_ATTR_CONTAINER.
const attrContainer = 15

// serverName is the TLS server name for a host: the host string itself, or this
// machine's name for unix sockets and "localhost" (the collector's certificate
// names the machine). libpcp uses the machine's name for any host beginning with
// "local", which would check "localfoo"'s certificate against this machine's name.
func serverName(host string, unix bool) string {
	if unix || IsLocalHostName(host) {
		if h, err := os.Hostname(); err == nil {
			return h
		}
	}
	return host
}

func (c *Context) upgrade(ctx context.Context, k *connector) error {
	sn := c.host
	if !c.proxied {
		// "localhost" through a relay is the relay's machine, whose name this
		// client does not know: check the name as given.
		sn = serverName(c.host, c.unix)
	}
	var cfg *tls.Config
	if k.opts.TLSConfig != nil {
		var err error
		if cfg, err = k.opts.TLSConfig(sn); err != nil || cfg == nil {
			// Keep the cause for callers that explain it; the code stays PM_ERR_TLS.
			if err == nil {
				err = errors.New("no TLS configuration")
			}
			return fmt.Errorf("%w: %w", pcpErr(protocol.ErrTLS), err)
		}
	} else {
		cfg = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12, ServerName: sn}
	}
	hctx := ctx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	if _, err := c.conn.UpgradeClient(hctx, cfg); err != nil {
		if isTimeout(err) {
			return pcpErr(protocol.ErrTimeout)
		}
		// The verification error (an untrusted or misnamed certificate) stays
		// reachable with errors.As for the trust prompt.
		return fmt.Errorf("%w: %w", pcpErr(protocol.ErrTLS), err)
	}
	c.tls = true
	return nil
}

// Features returns the feature bits pmcd advertised in its greeting.
func (c *Context) Features() uint16 { return c.features }

// CredsFlags returns the feature bits this client requested in CREDS.
func (c *Context) CredsFlags() uint16 { return c.flags }

// TLS reports whether the connection was upgraded to TLS.
func (c *Context) TLS() bool { return c.tls }

// Host returns the host name the connection was made with ("localhost" when a
// local: spec fell back to TCP).
func (c *Context) Host() string { return c.host }

// Spec returns the parsed host specification.
func (c *Context) Spec() *HostSpec { return c.spec }

// StateChange returns and clears the pmcd state-change bits received (positive
// ERROR PDUs before a reply: 1 agent added, 2 agent restarted, 4 agent dropped,
// 8 context labels changed, 16 names changed).
func (c *Context) StateChange() int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stateChange
	c.stateChange = 0
	return s
}

// Close closes the connection (libpcp sends no goodbye).
func (c *Context) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.conn.Close()
}

// send writes one request. The caller holds c.mu.
func (c *Context) send(p protocol.PDU) error {
	if c.closed {
		return pcpErr(protocol.ErrNoContext)
	}
	if c.broken {
		return pcpErr(protocol.ErrIPC)
	}
	nc := c.conn.Conn
	if c.timeout > 0 {
		nc.SetWriteDeadline(time.Now().Add(c.timeout))
	}
	if err := c.conn.Write(p); err != nil {
		c.broken = true
		return sendError(err)
	}
	return nil
}

// recv reads the reply to the request just sent: a PDU of type want, or an ERROR
// whose negative code becomes a *protocol.Error. Positive ERROR codes (state-change
// notices) are recorded and skipped. A timeout, a malformed PDU or an unexpected
// type leaves the channel unusable, as libpcp closes it.
func (c *Context) recv(want int32) (protocol.PDU, error) {
	b, err := c.recvRaw(want, time.Time{})
	if err != nil {
		return nil, err
	}
	p, _, err := protocol.Decode(b)
	if err != nil {
		c.broken = true
		return nil, pcpErr(protocol.ErrIPC)
	}
	return p, nil
}

// recvRaw is recv's loop without the decoding of the reply it returns: the
// whole PDU of type want, header included, in the connection's read buffer
// (valid until the next read). ERROR PDUs are handled as recv says. The first
// read's deadline counts from start when it is set (a caller that read the
// clock for its write), else from now.
func (c *Context) recvRaw(want int32, start time.Time) ([]byte, error) {
	nc := c.conn.Conn
	for {
		if c.timeout > 0 {
			if start.IsZero() {
				start = time.Now()
			}
			nc.SetReadDeadline(start.Add(c.timeout))
			start = time.Time{} // a notice was skipped: the next reply's bound starts then
		}
		b, err := c.conn.ReadRaw()
		if err != nil {
			c.broken = true
			return nil, replyError(err)
		}
		_, typ, _, err := protocol.ParseHeader(b)
		if err == nil && typ == want && want != protocol.TypeError {
			return b, nil
		}
		if err == nil && typ == protocol.TypeError {
			if p, _, err := protocol.Decode(b); err == nil {
				switch e := p.(*protocol.ErrorPDU); {
				case e.Code > 0:
					c.stateChange |= e.Code
					continue
				case e.Code < 0:
					return nil, pcpErr(e.Code)
				case want == protocol.TypeError:
					return b, nil
				}
			}
		}
		c.broken = true
		return nil, pcpErr(protocol.ErrIPC)
	}
}

// call sends req and waits for a reply of type want.
func (c *Context) call(req protocol.PDU, want int32) (protocol.PDU, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.send(req); err != nil {
		return nil, err
	}
	return c.recv(want)
}

// HostName is pmGetContextHostName: the value of pmcd.hostname when pmcd has one,
// else this machine's name for unix sockets and "localhost*", else the host name
// the context was opened with.
func (c *Context) HostName() string {
	if ids, err := c.LookupNames([]string{"pmcd.hostname"}); err == nil {
		r, err := c.Fetch(ids)
		if err == nil && len(r.VSets) > 0 && r.VSets[0].NumVal > 0 && len(r.VSets[0].Values) > 0 &&
			r.VSets[0].ValFmt != protocol.ValFmtInsitu {
			p := r.VSets[0].Values[0].Payload
			if i := bytes.IndexByte(p, 0); i >= 0 {
				p = p[:i]
			}
			return string(p)
		}
	}
	if c.unix || strings.HasPrefix(c.host, "/") || !c.proxied && IsLocalHostName(c.host) {
		if h, err := os.Hostname(); err == nil {
			return h
		}
	}
	return c.host
}
