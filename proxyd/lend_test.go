package main

import (
	"strings"
	"testing"

	"github.com/gopcp/gopcp/proxyd/upstream"
)

// TestLendIdentityConfig: [[collector]] lend_identity is off ("trusted") unless
// written, "always" and "never" are read, and a misspelling is an error naming
// the collector rather than a silent default.
func TestLendIdentityConfig(t *testing.T) {
	base := "[[collector]]\nhost = \"127.0.0.1\"\nport = 44399\ncert_db = \"/x\"\n"
	for text, want := range map[string]upstream.LendMode{
		base:                                  upstream.LendTrusted,
		base + "lend_identity = \"always\"\n": upstream.LendAlways,
		base + "lend_identity = \"never\"\n":  upstream.LendNever,
	} {
		c, err := LoadConfig(writeFile(t, "p.toml", text), true)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := c.clients().For("127.0.0.1", 44399).Lend; got != want {
			t.Errorf("%q: lend %v, want %v", text, got, want)
		}
		// Listing a collector on another loopback port allows that port.
		if p, _ := c.policy(); len(mustResolve(t, p, 44399)) != 1 {
			t.Errorf("collector port not allowed")
		}
	}
	c, _ := LoadConfig(writeFile(t, "p.toml", base+"lend_identity = \"sometimes\"\n"), true)
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "collector 127.0.0.1") || !strings.Contains(err.Error(), "lend_identity") {
		t.Fatalf("bad lend_identity: %v", err)
	}
}

func mustResolve(t *testing.T, p *upstream.Policy, port int) []string {
	t.Helper()
	a, err := p.Resolve(t.Context(), "127.0.0.1", port)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range a {
		out = append(out, x.String())
	}
	return out
}
