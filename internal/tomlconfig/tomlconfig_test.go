package tomlconfig

import (
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestKeyLine(t *testing.T) {
	data := []byte("# c\n[server]\n  port = 1 # x\n[ \"tls\" ]\n\"cert_db\" = \"a=b\"\n[log]\nlevel.x = 1\n")
	for key, want := range map[string]int{"server.port": 3, "tls.cert_db": 5, "log.level.x": 7, "log.level": 7, "log": 6, "none": 0} {
		if got := keyLine(data, toml.Key(strings.Split(key, "."))); got != want {
			t.Errorf("keyLine(%s) = %d, want %d", key, got, want)
		}
	}
}

type sample struct {
	Server struct {
		Port    int      `toml:"port"`
		Timeout Duration `toml:"timeout"`
	} `toml:"server"`
	TLS struct {
		Nickname string `toml:"nickname"`
	} `toml:"tls"`
}

func TestDecodeStrict(t *testing.T) {
	var c sample
	_, err := Decode("x.toml", []byte("[server]\nport = 1\ntimeout = \"2s\"\n[tls]\nnick = \"a\"\n"), &c)
	if err == nil || !strings.Contains(err.Error(), `line 5: unknown key "tls.nick" (did you mean "tls.nickname"?)`) {
		t.Fatalf("got %v", err)
	}
	if c.Server.Port != 1 || c.Server.Timeout.Seconds() != 2 {
		t.Fatalf("%+v", c)
	}
	if _, err := Decode("x.toml", []byte("[server]\ntimeout = \"-1s\"\n"), &c); err == nil {
		t.Fatal("negative duration accepted")
	}
	if _, err := Decode("x.toml", []byte("port = 5\n"), &c); err == nil || !strings.Contains(err.Error(), `did you mean "server.port"`) {
		t.Fatalf("top-level key: %v", err)
	}
}
