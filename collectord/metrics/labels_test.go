package metrics

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestContextLabels(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	want := `{"domainname":"localdomain","hostname":"fixturehost","machineid":"3d1219c7c4c5404aaa1f6d2a48adfda4"}`
	if got := r.ContextLabels(); got != want {
		t.Errorf("ContextLabels() = %s\nwant %s", got, want)
	}

	dir := copyTree(t, fixtureDir)
	writeFile(t, filepath.Join(dir, "proc/sys/kernel/domainname"), "lab.example.org\n")
	if err := os.Remove(filepath.Join(dir, "etc/machine-id")); err != nil {
		t.Fatal(err)
	}
	r = newFixtureRegistry(t, dir)
	r.env.hostname = `we"ird\host`
	want = `{"domainname":"lab.example.org","hostname":"we\"ird\\host"}`
	got := r.ContextLabels()
	if got != want {
		t.Errorf("ContextLabels() = %s\nwant %s", got, want)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(got), &m); err != nil || m["hostname"] != `we"ird\host` {
		t.Errorf("not valid JSON: %v %v", err, m)
	}
	if strings.ContainsAny(got, " \n") {
		t.Errorf("not compact: %q", got)
	}
}

func TestDomainLabels(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	for d, want := range map[uint32]string{2: `{"agent":"pmcd"}`, 3: `{"agent":"proc"}`, 60: `{"agent":"linux"}`} {
		if got, ok := r.DomainLabels(d); !ok || got != want {
			t.Errorf("DomainLabels(%d) = %s %v, want %s", d, got, ok, want)
		}
	}
	for _, d := range []uint32{0, 1, 4, 511} {
		if _, ok := r.DomainLabels(d); ok {
			t.Errorf("DomainLabels(%d) answered", d)
		}
	}
}
