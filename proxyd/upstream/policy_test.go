package upstream

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/pmapi"
)

func TestParseEntries(t *testing.T) {
	good := []string{"10.1.2.3", "10.0.0.0/8", "::1", "fd00::/8", "[fe80::1]:44321", "[fd00::/8]:44321",
		"db1.example.com", "db1.example.com:44321", "10.1.2.3:44321", " host_1.local "}
	for _, s := range good {
		if _, err := NewPolicy([]string{s}, false); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := []string{"", "10.0.0.0/33", "host:0", "host:99999", "[::1", "[::1]x", "bad name!", "a:b:c/99", "host:port"}
	for _, s := range bad {
		if _, err := NewPolicy([]string{s}, false); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestAddrAllowed(t *testing.T) {
	p, err := NewPolicy([]string{"192.0.2.0/24", "198.51.100.7:44321", "[2001:db8::/32]:44321"}, true)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		addr string
		port int
		want bool
	}{
		{"127.0.0.1", 44321, true}, {"127.1.2.3", 44321, true}, {"::1", 44321, true},
		// Only the collector port on loopback by default: not a web service on 8080.
		{"127.0.0.1", 1, false}, {"127.0.0.1", 8080, false}, {"::1", 80, false}, {"::ffff:127.0.0.1", 22, false},
		{"::", 44321, false},
		{"::ffff:127.0.0.1", 44321, true}, {"192.0.2.200", 9, true}, {"192.0.3.1", 44321, false},
		{"198.51.100.7", 44321, true}, {"198.51.100.7", 44322, false}, {"2001:db8::5", 44321, true},
		{"2001:db8::5", 80, false}, {"0.0.0.0", 44321, false}, {"10.0.0.1", 44321, false},
	}
	for _, c := range cases {
		if got := p.AddrAllowed(netip.MustParseAddr(c.addr), c.port); got != c.want {
			t.Errorf("%s:%d: got %v", c.addr, c.port, got)
		}
	}
	noLoop, _ := NewPolicy(nil, false)
	if noLoop.AddrAllowed(netip.MustParseAddr("127.0.0.1"), 44321) {
		t.Error("loopback allowed with allow_loopback off")
	}
}

// TestLoopbackPorts: another loopback port is reached only by listing it, and a
// wide entry meant for other hosts does not open loopback.
func TestLoopbackPorts(t *testing.T) {
	p, err := NewPolicy([]string{"127.0.0.1:44399", "[::1]:44398", "0.0.0.0/0", "::/0"}, true)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		addr string
		port int
		want bool
	}{
		{"127.0.0.1", 44399, true}, {"127.0.0.1", 44398, false}, {"::1", 44398, true}, {"::1", 44399, false},
		{"127.0.0.1", 44321, true}, {"127.0.0.2", 44399, false}, {"127.0.0.1", 8080, false},
		{"0.0.0.0", 8080, false}, {"::", 8080, false}, {"203.0.113.9", 8080, true},
	}
	for _, c := range cases {
		if got := p.AddrAllowed(netip.MustParseAddr(c.addr), c.port); got != c.want {
			t.Errorf("%s:%d: got %v, want %v", c.addr, c.port, got, c.want)
		}
	}
	all, _ := NewPolicy([]string{"127.0.0.0/8", "::1"}, false)
	if !all.AddrAllowed(netip.MustParseAddr("127.0.0.1"), 8080) || !all.AddrAllowed(netip.MustParseAddr("::1"), 8080) {
		t.Error("an explicit loopback entry without a port allows every loopback port")
	}
	ctx := context.Background()
	if _, err := p.Resolve(ctx, "localhost", 8080); !IsDenied(err) {
		t.Errorf("localhost:8080 through a name: %v", err)
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	p, _ := NewPolicy([]string{"192.0.2.1"}, true)
	if a, err := p.Resolve(ctx, "127.0.0.1", 44321); err != nil || len(a) != 1 || a[0].String() != "127.0.0.1:44321" {
		t.Fatalf("loopback literal: %v %v", a, err)
	}
	if a, err := p.Resolve(ctx, "localhost", 44321); err != nil || len(a) == 0 || !a[0].Addr().IsLoopback() {
		t.Fatalf("localhost: %v %v", a, err)
	}
	_, err := p.Resolve(ctx, "203.0.113.9", 44321)
	var d *DeniedError
	if !errors.As(err, &d) || !strings.Contains(err.Error(), "203.0.113.9:44321 is not allowed") {
		t.Fatalf("unlisted address: %v", err)
	}
	if _, err := p.Resolve(ctx, "fe80::1%eth0", 44321); !IsDenied(err) {
		t.Fatalf("zoned address: %v", err)
	}
	if _, err := p.Resolve(ctx, "bad name", 44321); err == nil || IsDenied(err) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := p.Resolve(ctx, "127.0.0.1", 0); err == nil {
		t.Fatal("port 0 accepted")
	}
	// A listed name allows what it resolves to; an unlisted one only what its
	// addresses allow.
	strict, _ := NewPolicy([]string{"localhost:44321"}, false)
	if _, err := strict.Resolve(ctx, "localhost", 44321); err != nil {
		t.Fatalf("listed name: %v", err)
	}
	if _, err := strict.Resolve(ctx, "localhost", 44322); !IsDenied(err) {
		t.Fatalf("listed name, other port: %v", err)
	}
	if _, err := strict.Resolve(ctx, "127.0.0.1", 44321); !IsDenied(err) {
		t.Fatalf("address of a listed name is not listed itself: %v", err)
	}
}

func TestDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	p, _ := NewPolicy([]string{"127.0.0.1:" + strconv.Itoa(port)}, true)
	c, err := p.Dial(context.Background(), "127.0.0.1", port, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	ln.Close()
	if _, err := p.Dial(context.Background(), "127.0.0.1", port, time.Second); err == nil || IsDenied(err) {
		t.Fatalf("closed port: %v", err)
	}
	if _, err := p.Dial(context.Background(), "192.0.2.1", port, time.Second); !IsDenied(err) {
		t.Fatalf("unlisted: %v", err)
	}
}

func TestClients(t *testing.T) {
	c := &Clients{
		Default: Identity{Secure: pmapi.SecureRelaxed},
		Collectors: []CollectorIdentity{
			{Host: "db1.example.com", Port: 44321, Identity: Identity{Secure: pmapi.SecureEnforce, StoreDir: "/a"}},
			{Host: "::1", Identity: Identity{StoreDir: "/b"}},
		},
	}
	if id := c.For("DB1.example.com.", 44321); id.StoreDir != "/a" {
		t.Errorf("name match: %+v", id)
	}
	if id := c.For("db1.example.com", 1); id.Secure != pmapi.SecureRelaxed || id.StoreDir != "" {
		t.Errorf("port mismatch gives default: %+v", id)
	}
	if id := c.For("0:0::1", 9); id.StoreDir != "/b" {
		t.Errorf("address match: %+v", id)
	}
	if (Identity{}).TLSConfig() != nil {
		t.Error("no store: want pmapi's default hook")
	}
	if (Identity{StoreDir: "/nonexistent"}).TLSConfig() == nil {
		t.Error("store: want a hook")
	}
	for _, s := range []string{"", "none", "relaxed", "enforce"} {
		if _, err := ParseSecure(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseSecure("maybe"); err == nil {
		t.Error("bad secure accepted")
	}
}
