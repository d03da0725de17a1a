package server

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/tlsconfig"
)

// BenchmarkConnectMTLSFetch is BenchmarkConnectTLSFetch under -Q with the
// server's configuration from tlsconfig (a store, as collectord -C -M -Q builds
// it): the client presents an ECDSA P-256 certificate the server requires and
// verifies, as in bench.sh's mutual-TLS row. Both sides run in this process, so
// the figure is client plus server; the server's log is at the daemon's
// default level (no debug lines).
func BenchmarkConnectMTLSFetch(b *testing.B) {
	p := &testPKI{}
	p.ca = testcerts.New(b, nil, testcerts.Options{CN: "ca", IsCA: true})
	p.server = testcerts.New(b, p.ca, testcerts.Options{CN: "srv", Server: true, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	p.client = testcerts.New(b, p.ca, testcerts.Options{CN: "cli", Client: true})
	dir := filepath.Join(b.TempDir(), "db")
	st, err := store.CreateWith(dir, nil, store.CreateOptions{TestOnlyFastKDF: true})
	if err != nil {
		b.Fatal(err)
	}
	st.AddCert("ca", p.ca.Cert, store.MustParseTrust("CT,,"))
	st.AddCert("srv", p.server.Cert, store.MustParseTrust("u,u,u"))
	if err := st.ImportKey("srv", p.server.Key); err != nil {
		b.Fatal(err)
	}
	srvCfg, err := tlsconfig.Server(tlsconfig.ServerOptions{Store: dir, Nickname: "srv", RequireClientCert: true})
	if err != nil {
		b.Fatal(err)
	}
	_, addr, _ := startServer(b, func(s *Server) {
		s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		s.TLSConfig = func() *tls.Config { return srvCfg }
		s.RequireClientCert = true
	})
	cli := clientCfg(p, p.client)
	b.ReportAllocs()
	b.ResetTimer()
	connectFetchLoop(b, addr, cli)
}
