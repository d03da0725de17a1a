package server

import (
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// BenchmarkConnectLookupFetch is what libpcp's `fetchbench -C -s 1` asks of a
// plain collector per connection (scripts/bench.sh's connect row): connect,
// greeting, CREDS, a lookup of one name, a profile, a fetch of that metric,
// close. The server logs at Error level, as bench.sh runs collectord, so that
// what logging costs when it is off shows as it does in production.
func BenchmarkConnectLookupFetch(b *testing.B) {
	_, addr, _ := startServer(b, func(s *Server) {
		s.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
	})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		connectLookupFetch(b, addr)
	}
}

// connectLookupFetch runs one connection of BenchmarkConnectLookupFetch and
// checks that the fetch answered kernel.all.load with its three values.
func connectLookupFetch(tb testing.TB, addr string) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	c := protocol.NewConn(nc)
	if _, err := c.Read(); err != nil {
		tb.Fatal(err)
	}
	c.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}})
	c.Write(&protocol.PMNSNames{Names: []string{"kernel.all.load"}})
	r, err := c.Read()
	if err != nil {
		tb.Fatal(err)
	}
	ids, ok := r.(*protocol.PMNSIDs)
	if !ok || len(ids.IDs) != 1 || ids.Status != 1 {
		tb.Fatalf("lookup of kernel.all.load: %#v", r)
	}
	c.Write(&protocol.Profile{})
	c.Write(&protocol.Fetch{Highres: true, PMIDs: ids.IDs})
	r, err = c.Read()
	if err != nil {
		tb.Fatal(err)
	}
	res, ok := r.(*protocol.Result)
	if !ok || len(res.VSets) != 1 || res.VSets[0].NumVal != 3 {
		tb.Fatalf("fetch of kernel.all.load: %#v", r)
	}
}
