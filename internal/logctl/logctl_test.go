package logctl

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/internal/syncbuf"
)

// TestApply: loggers made before a change follow it: level, format, classes, and
// the attributes they carry.
func TestApply(t *testing.T) {
	var b syncbuf.Buffer
	lc := New(&b)
	lc.Apply("text", "warn", nil)
	log := lc.Logger().With("k", "v")
	pdu := lc.Class("pdu")
	log.Info("hidden")
	pdu.Debug("hidden too")
	lc.Apply("json", "info", map[string]bool{"pdu": true})
	log.Info("shown")
	pdu.Debug("traced")
	out := b.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, `"msg":"shown","k":"v"`) ||
		!strings.Contains(out, `"msg":"traced","class":"pdu"`) {
		t.Fatalf("log:\n%s", out)
	}
	if lc.Logger().Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("debug enabled at info")
	}
	if !lc.ClassOn("pdu") || lc.ClassOn("tls") {
		t.Fatal("classes")
	}
	lc.Apply("text", "bogus", nil)
	if !lc.Logger().Enabled(context.Background(), slog.LevelInfo) || lc.Logger().Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("an unknown level is not info")
	}
}

func TestParseClasses(t *testing.T) {
	known := []string{"tls", "pdu"}
	got, err := ParseClasses([]string{" TLS", "none", ""}, known)
	if err != nil || !got["tls"] || got["pdu"] || len(got) != 1 {
		t.Fatalf("%v %v", got, err)
	}
	if got, _ := ParseClasses([]string{"all"}, known); !got["tls"] || !got["pdu"] {
		t.Fatalf("all: %v", got)
	}
	if _, err := ParseClasses([]string{"pdus"}, known); err == nil || !strings.Contains(err.Error(), `"pdus"`) {
		t.Fatalf("unknown class: %v", err)
	}
}
