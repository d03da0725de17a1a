package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// DefaultConfigPath is read when it exists and no --config is given.
const DefaultConfigPath = "/etc/gopcp/collectord.toml"

// Config is collectord's TOML configuration. Flags override it.
type Config struct {
	Server  ServerConfig  `toml:"server"`
	TLS     TLSConfig     `toml:"tls"`
	Metrics MetricsConfig `toml:"metrics"`
	Log     LogConfig     `toml:"log"`
}

// ServerConfig holds the listener and its limits.
type ServerConfig struct {
	Port             int      `toml:"port"`              // -p, default 44321
	Address          []string `toml:"address"`           // -i, default all interfaces
	MaxPDUSize       int      `toml:"max_pdu_size"`      // -L, default 65536
	MaxClients       int      `toml:"max_clients"`       // default 4096
	RequestTimeout   Duration `toml:"request_timeout"`   // -t, default 5s
	IdleTimeout      Duration `toml:"idle_timeout"`      // default 1h
	HandshakeTimeout Duration `toml:"handshake_timeout"` // default 10s
}

// TLSConfig selects the daemon's identity and client-certificate policy.
type TLSConfig struct {
	CertDB            string `toml:"cert_db"`             // -C: certificate store directory
	Nickname          string `toml:"nickname"`            // -M
	PasswordFile      string `toml:"password_file"`       // -P
	RequireClientCert bool   `toml:"require_client_cert"` // -Q
	TLSConf           string `toml:"tls_conf"`            // --tls-conf: PCP 6 tls.conf
}

// MetricsConfig points the metric sources at a root, for containers and tests.
type MetricsConfig struct {
	ProcRoot string `toml:"proc_root"`
	SysRoot  string `toml:"sys_root"`
	EtcRoot  string `toml:"etc_root"`
	RootFS   string `toml:"rootfs"`
}

// LogConfig selects the log format and level.
type LogConfig struct {
	Format string   `toml:"format"` // text | json
	Level  string   `toml:"level"`  // debug | info | warn | error
	Debug  []string `toml:"debug"`  // debug classes: tls, pdu
}

// Duration is a time.Duration written as "5s" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("bad duration %q: %w", b, err)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", b)
	}
	d.Duration = v
	return nil
}

// LoadConfig reads path strictly: an unknown key is an error naming it. A missing
// file is an error only when required.
func LoadConfig(path string, required bool) (Config, error) {
	var c Config
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !required {
			return c, nil
		}
		return c, fmt.Errorf("config: %w", err)
	}
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return c, fmt.Errorf("config %s: line %d: %s", path, pe.Position.Line, pe.Message)
		}
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return c, fmt.Errorf("config %s: unknown key %s", path, strings.Join(keys, ", "))
	}
	return c, c.Validate()
}

// Validate checks values that decode but make no sense.
func (c Config) Validate() error {
	switch {
	case c.Server.Port < 0 || c.Server.Port > 65535:
		return fmt.Errorf("config: port %d out of range", c.Server.Port)
	case c.Server.MaxPDUSize < 0 || (c.Server.MaxPDUSize > 0 && c.Server.MaxPDUSize < 1024):
		return fmt.Errorf("config: max_pdu_size %d below 1024", c.Server.MaxPDUSize)
	case c.Server.MaxClients < 0:
		return fmt.Errorf("config: max_clients %d is negative", c.Server.MaxClients)
	case c.TLS.RequireClientCert && c.TLS.CertDB == "" && c.TLS.TLSConf == "":
		return errors.New("config: require_client_cert (-Q) needs a certificate: set cert_db and nickname (-C, -M) or tls_conf")
	case c.TLS.CertDB != "" && c.TLS.TLSConf != "":
		return errors.New("config: cert_db (-C) and tls_conf are alternatives: set one")
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		return fmt.Errorf("config: log format %q: want text or json", c.Log.Format)
	}
	return nil
}
