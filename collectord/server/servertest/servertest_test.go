package servertest

import (
	"context"
	"testing"
	"time"

	"github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/pmapi"
)

// TestStartServes: the server answers a client at the address returned, with
// tweak applied first, and is closed when the test ends.
func TestStartServes(t *testing.T) {
	tweaked := false
	var addr string
	t.Run("serve", func(t *testing.T) {
		var s *server.Server
		s, addr = Start(t, func(*server.Server) { tweaked = true })
		if s.Registry == nil || !tweaked {
			t.Fatalf("registry %v, tweak ran %v", s.Registry, tweaked)
		}
		c, err := pmapi.Connect(context.Background(), addr, pmapi.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if ids, err := c.LookupNames([]string{"hinv.ncpu"}); err != nil || len(ids) != 1 {
			t.Fatalf("lookup: %v %v", ids, err)
		}
	})
	if c, err := pmapi.Connect(context.Background(), addr, pmapi.Options{ConnectTimeout: time.Second, RequestTimeout: time.Second}); err == nil {
		c.Close()
		t.Fatal("still serving after the test that started it ended")
	}
}
