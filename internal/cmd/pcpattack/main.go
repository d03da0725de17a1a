// Command pcpattack is a hostile PCP client for the security tests: it ignores
// every flag the server sends and asks for metrics anyway, and reports exactly
// what it received, so a test can tell whether anything got through.
//
//	pcpattack [-relay "HOST PORT"] [-proxy-tls] plain ADDR     CREDS without TLS, whatever CERT_REQD says
//	pcpattack [-relay ...] [-cert F -key F] tls ADDR           TLS (any server certificate), then requests
//	pcpattack [-relay ...] blind ADDR                          CREDS and requests at once, greeting unread
//	pcpattack banner ADDR SECRET                               a non-PCP service: writes SECRET, echoes
//
// -relay first sends proxyd's relay prelude ("pmproxy-client 1", then "HOST PORT");
// -proxy-tls wraps the connection to ADDR in TLS first, as proxyd accepts.
// Every PDU is printed as "PDU TYPE" and every byte received as "DATA %q"; the
// last line is "VERDICT got-data" when anything but an ERROR PDU arrived after
// the greeting (exit 0), else "VERDICT nothing: REASON" (exit 1). Usage errors
// exit 2. It only connects where it is told.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/gopcp/gopcp/protocol"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

// attack is one attempt and what it saw.
type attack struct {
	out       io.Writer
	relay     string
	proxyTLS  bool
	cert      *tls.Certificate
	names     []string
	timeout   time.Duration
	gotData   bool
	lastError string
}

func run(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("pcpattack", flag.ContinueOnError)
	fs.SetOutput(out)
	a := &attack{out: out}
	fs.StringVar(&a.relay, "relay", "", `relay prelude target, "HOST PORT"`)
	fs.BoolVar(&a.proxyTLS, "proxy-tls", false, "TLS to ADDR before anything else (proxyd's TLS first)")
	certFile := fs.String("cert", "", "PEM client certificate for tls mode")
	keyFile := fs.String("key", "", "PEM key of -cert")
	names := fs.String("names", "kernel.uname.nodename,pmcd.hostname,hinv.ncpu", "metrics to ask for")
	fs.DurationVar(&a.timeout, "timeout", 3*time.Second, "per read")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	a.names = strings.Split(*names, ",")
	if *certFile != "" {
		c, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fmt.Fprintf(out, "pcpattack: %v\n", err)
			return 2
		}
		a.cert = &c
	}
	rest := fs.Args()
	if len(rest) == 3 && rest[0] == "banner" {
		return banner(rest[1], rest[2], out)
	}
	if len(rest) != 2 {
		fmt.Fprintln(out, "usage: pcpattack [flags] plain|tls|blind ADDR | banner ADDR SECRET")
		return 2
	}
	var err error
	switch rest[0] {
	case "plain":
		err = a.session(rest[1], false)
	case "tls":
		err = a.session(rest[1], true)
	case "blind":
		err = a.blind(rest[1])
	default:
		fmt.Fprintf(out, "pcpattack: unknown mode %q\n", rest[0])
		return 2
	}
	if a.gotData {
		fmt.Fprintln(out, "VERDICT got-data")
		return 0
	}
	reason := "closed"
	if err != nil {
		reason = err.Error()
	}
	if a.lastError != "" {
		reason = a.lastError + "; " + reason
	}
	fmt.Fprintf(out, "VERDICT nothing: %s\n", reason)
	return 1
}

// dial connects to addr, with TLS first and the relay prelude when asked.
func (a *attack) dial(addr string) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, a.timeout)
	if err != nil {
		return nil, err
	}
	if a.proxyTLS {
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
		nc.SetDeadline(time.Now().Add(a.timeout))
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS to the proxy: %w", err)
		}
		nc = tc
	}
	if a.relay == "" {
		return nc, nil
	}
	nc.SetDeadline(time.Now().Add(a.timeout))
	if _, err := io.WriteString(nc, "pmproxy-client 1\n"); err != nil {
		nc.Close()
		return nil, err
	}
	// One byte at a time, so that nothing after the line is consumed here.
	var line []byte
	b := make([]byte, 1)
	for len(line) < 512 {
		if _, err := nc.Read(b); err != nil {
			nc.Close()
			return nil, fmt.Errorf("relay prelude: %w", err)
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	fmt.Fprintf(a.out, "PRELUDE %q\n", line)
	if _, err := io.WriteString(nc, a.relay+"\n"); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return nc, nil
}

// session speaks PCP in order, reading each reply, and never takes no for an
// answer: after a refusal it still sends its requests.
func (a *attack) session(addr string, useTLS bool) error {
	nc, err := a.dial(addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	c := protocol.NewConn(nc)
	g, err := a.read(c)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	f, err := protocol.ParseGreeting(g)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	fmt.Fprintf(a.out, "GREETING features=%#x\n", f)
	if !useTLS {
		c.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}})
		return a.requests(c)
	}
	c.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(protocol.FeatureSecure | protocol.FeatureSecureAck)}})
	if _, err := a.read(c); err != nil {
		return fmt.Errorf("secure ack: %w", err)
	}
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	if a.cert != nil {
		// Sent whatever the server asks for.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return a.cert, nil }
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	if _, err := c.UpgradeClient(ctx, cfg); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	fmt.Fprintln(a.out, "TLS handshake done (client side)")
	return a.requests(c)
}

// requests looks the names up and fetches them.
func (a *attack) requests(c *protocol.Conn) error {
	if err := c.Write(&protocol.PMNSNames{Names: a.names}); err != nil {
		return err
	}
	p, err := a.read(c)
	if err != nil {
		return err
	}
	ids, ok := p.(*protocol.PMNSIDs)
	if !ok {
		// Refused; ask anyway for a metric whose PMID every Linux collector
		// shares (hinv.ncpu), in case only the lookup was refused.
		ids = &protocol.PMNSIDs{IDs: []protocol.PMID{protocol.NewPMID(60, 0, 32)}}
	}
	// A fetch needs a profile first (no reply to it).
	if err := c.Write(&protocol.Profile{}); err != nil {
		return err
	}
	if err := c.Write(&protocol.Fetch{Highres: true, PMIDs: ids.IDs}); err != nil {
		return err
	}
	_, err = a.read(c)
	return err
}

// read reads one PDU, prints it, and records whether it carried data.
func (a *attack) read(c *protocol.Conn) (protocol.PDU, error) {
	c.Conn.SetReadDeadline(time.Now().Add(a.timeout))
	b, err := c.ReadRaw()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(a.out, "DATA %q\n", b)
	p, _, err := protocol.Decode(b)
	if err != nil {
		a.gotData = true // bytes that are not an ERROR PDU reached us
		return nil, fmt.Errorf("undecodable PDU: %w", err)
	}
	fmt.Fprintf(a.out, "PDU %s\n", protocol.TypeName(p.Type()))
	if e, ok := p.(*protocol.ErrorPDU); ok {
		a.lastError = fmt.Sprintf("ERROR %d", e.Code)
		return p, nil
	}
	a.gotData = true
	return p, nil
}

// blind sends CREDS and every request at once without reading the greeting, as
// a client that assumes it is let in, then prints whatever comes back.
func (a *attack) blind(addr string) error {
	nc, err := a.dial(addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	b := protocol.Encode(nil, &protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}}, 0)
	b = protocol.Encode(b, &protocol.PMNSNames{Names: a.names}, 0)
	b = protocol.Encode(b, &protocol.Profile{}, 0)
	b = protocol.Encode(b, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{protocol.NewPMID(60, 0, 32), protocol.NewPMID(60, 12, 4)}}, 0)
	b = append(b, "GET / HTTP/1.0\r\n\r\n"...) // for a service that is not PCP
	nc.Write(b)
	nc.SetReadDeadline(time.Now().Add(a.timeout))
	got, err := io.ReadAll(nc)
	fmt.Fprintf(a.out, "DATA %q\n", got)
	// The greeting and ERROR PDUs are all a refused client may see.
	for rest := got; len(rest) > 0; {
		n, _, _, herr := protocol.ParseHeader(rest)
		if herr != nil || int(n) < protocol.HeaderSize || int(n) > len(rest) {
			a.gotData = true
			break
		}
		p, _, derr := protocol.Decode(rest[:n])
		if derr != nil {
			a.gotData = true
			break
		}
		fmt.Fprintf(a.out, "PDU %s\n", protocol.TypeName(p.Type()))
		if _, ok := p.(*protocol.ErrorPDU); !ok {
			a.gotData = true
		}
		rest = rest[n:]
	}
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return err
	}
	return nil
}

// banner is a service that is not PCP: every connection gets secret and an echo
// of what it sends, for at most 10 s. It serves until killed.
func banner(addr, secret string, out io.Writer) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(out, "pcpattack banner: %v\n", err)
		return 1
	}
	fmt.Fprintf(out, "listening on %s\n", ln.Addr())
	for {
		nc, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(nc, secret+"\n")
			io.Copy(nc, nc)
		}()
	}
}
