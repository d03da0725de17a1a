package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/gopcp/gopcp/internal/tomlconfig"
)

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string // substrings of the error
	}{
		{"unknown key with its line and a suggestion", "[server]\nport = 1\n\nprot = 2\n",
			[]string{"line 4", `unknown key "server.prot"`, `did you mean "server.port"`}},
		{"unknown table reported once", "[log]\nlevel = \"info\"\n[tsl]\ncert_db = \"x\"\n",
			[]string{"line 3", `unknown key "tsl"`, `"tls"`}},
		{"key at the top level that belongs in a table", "port = 44321\n",
			[]string{"line 1", `unknown key "port"`, `did you mean "server.port"`}},
		{"dotted key", "[tls]\nnickname = \"a\"\nextra.thing = 1\n",
			[]string{"line 3", `unknown key "tls.extra.thing"`}},
		{"two unknown keys", "[server]\na = 1\nb = 2\n",
			[]string{`line 2: unknown key "server.a"`, `line 3: unknown key "server.b"`}},
		{"syntax error", "[server]\nport = \n", []string{"line 2"}},
		{"bad duration", "[server]\nidle_timeout = \"soon\"\n", []string{"line 2", "bad duration"}},
		{"wrong type", "[server]\nport = \"44321\"\n", []string{"port"}},
		{"log format", "[log]\nformat = \"xml\"\n", []string{"log format \"xml\""}},
		{"log level", "[log]\nlevel = \"chatty\"\n", []string{"log level \"chatty\""}},
		{"debug class", "[log]\ndebug = [\"tls\", \"wire\"]\n", []string{`unknown debug class "wire"`}},
		{"store without nickname", "[tls]\ncert_db = \"/x\"\n", []string{"needs the nickname"}},
		{"both identities", "[tls]\ncert_db = \"/x\"\nnickname = \"n\"\ntls_conf = \"/y\"\n", []string{"alternatives"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.toml")
			writeFile(t, path, tc.file)
			_, err := LoadConfig(path, true)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), path) && !strings.HasPrefix(err.Error(), "config:") {
				t.Errorf("error %q names neither the file nor config", err)
			}
		})
	}
}

func TestConfigMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.toml")
	if _, err := LoadConfig(missing, false); err != nil {
		t.Fatalf("optional missing file: %v", err)
	}
	if _, err := LoadConfig(missing, true); err == nil || !strings.Contains(err.Error(), "none.toml") {
		t.Fatalf("required missing file: %v", err)
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.toml")
	writeFile(t, path, "[server]\nport = 5000\naddress = [\"::1\"]\n[log]\nlevel = \"warn\"\ndebug = [\"pdu\"]\n[tls]\ncert_db = \"sql:/a\"\nnickname = \"n\"\n")
	o, err := parseFlags([]string{"--config", path, "-p", "6000", "-D", "tls", "-C", "sql:/b", "-t", "2.5"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Port != 6000 || c.Server.Address[0] != "::1" || c.Log.Level != "warn" ||
		strings.Join(c.Log.Debug, ",") != "tls" || c.TLS.CertDB != "/b" || c.TLS.Nickname != "n" ||
		c.Server.RequestTimeout.Duration != 2500*time.Millisecond {
		t.Fatalf("merged config %+v", c)
	}
	if c.Reload.Interval() != DefaultWatchInterval {
		t.Fatalf("watch interval %v", c.Reload.Interval())
	}
}

func TestWatchIntervalOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.toml")
	writeFile(t, path, "[reload]\nwatch_interval = \"0s\"\n")
	c, err := LoadConfig(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Reload.Interval() != 0 {
		t.Fatalf("interval %v, want 0 (off)", c.Reload.Interval())
	}
}

// TestExampleCollectordConfig: etc/collectord.toml loads strictly, sets every key
// the Config has, and says what the defaults are.
func TestExampleCollectordConfig(t *testing.T) {
	path := filepath.Join("..", "etc", "collectord.toml")
	c, err := LoadConfig(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Port != 44321 || c.TLS.Nickname != serverNick || !c.TLS.RequireClientCert ||
		c.Reload.Interval() != 2*time.Second || c.Server.MaxPDUSize != 65536 {
		t.Fatalf("example config %+v", c)
	}
	data, _ := os.ReadFile(path)
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		t.Fatal(err)
	}
	// tls_conf is shown commented out: it is the alternative to cert_db.
	for _, k := range tomlconfig.KnownKeys(Config{}) {
		if !md.IsDefined(strings.Split(k, ".")...) && k != "tls.tls_conf" {
			t.Errorf("the example does not show %s", k)
		}
	}
}

func TestRestartOnly(t *testing.T) {
	var a Config
	a.Server.Port = 44321
	a.TLS = TLSConfig{CertDB: "/s", Nickname: "n"}
	b := a
	b.Server.Port = 44322
	b.Server.Address = []string{"127.0.0.1"}
	b.TLS.Nickname = "other" // reloadable
	b.TLS.RequireClientCert = true
	b.Log.Level = "debug" // reloadable
	got := strings.Join(restartOnly(a, b), "; ")
	b.Server.MaxClients = 9 // reloadable
	want := `server.address ([] -> ["127.0.0.1"]); server.port (44321 -> 44322)`
	if got != want {
		t.Fatalf("restartOnly:\n got %s\nwant %s", got, want)
	}
	c := a
	c.TLS = TLSConfig{}
	c.Metrics.ProcRoot = "/host/proc"
	if got := restartOnly(a, c); len(got) != 1 || got[0] != `metrics.proc_root ("" -> "/host/proc")` {
		t.Fatalf("TLS off and a new proc root: %q", got)
	}
}
