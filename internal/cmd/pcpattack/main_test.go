package main

import (
	"bytes"
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/collectord/server/servertest"
	"github.com/gopcp/gopcp/internal/testcerts"
)

// startServer runs an in-process collector on loopback that serves anyone (TLS
// offered, no client certificate required), so every mode must report data.
func startServer(t *testing.T) string {
	t.Helper()
	id := testcerts.New(t, nil, testcerts.Options{CN: "collector", Server: true, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key}}}
	_, addr := servertest.Start(t, func(s *server.Server) { s.TLSConfig = func() *tls.Config { return cfg } })
	return addr
}

// TestDetectsData: against a collector that serves anyone, every mode reports
// what it got (exit 0, "VERDICT got-data"), so a "nothing" from it elsewhere
// means nothing came.
func TestDetectsData(t *testing.T) {
	addr := startServer(t)
	for _, mode := range []string{"plain", "tls", "blind"} {
		t.Run(mode, func(t *testing.T) {
			var out bytes.Buffer
			code := run([]string{mode, addr}, &out)
			if code != 0 || !strings.Contains(out.String(), "VERDICT got-data") {
				t.Fatalf("exit %d:\n%s", code, out.String())
			}
			if mode != "blind" && !strings.Contains(out.String(), "PDU RESULT") && !strings.Contains(out.String(), "PDU HIGHRES_RESULT") {
				t.Fatalf("no fetch result:\n%s", out.String())
			}
		})
	}
}

// TestReportsNothing: a peer that closes at once gives "VERDICT nothing" and
// exit 1 in every mode; an unknown mode is a usage error (2).
func TestReportsNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, mode := range []string{"plain", "tls", "blind"} {
		var out bytes.Buffer
		if code := run([]string{"-timeout", "1s", mode, ln.Addr().String()}, &out); code != 1 || !strings.Contains(out.String(), "VERDICT nothing") {
			t.Fatalf("%s: exit %d:\n%s", mode, code, out.String())
		}
	}
	var out bytes.Buffer
	if code := run([]string{"bogus", "x"}, &out); code != 2 {
		t.Fatalf("unknown mode: exit %d", code)
	}
}
