package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/gopcp/gopcp/internal/logctl"
	"github.com/gopcp/gopcp/internal/reload"
	"github.com/gopcp/gopcp/internal/tomlconfig"
	"github.com/gopcp/gopcp/tlsconfig"
)

// DefaultConfigPath is read when it exists and no --config is given.
const DefaultConfigPath = "/etc/gopcp/collectord.toml"

// DefaultWatchInterval is how often the certificate files are checked for a change
// when reload.watch_interval is not set.
const DefaultWatchInterval = 2 * time.Second

// Config is collectord's TOML configuration. Flags override it.
//
// On a reload (SIGHUP) the whole file is read and checked again, and everything
// takes effect at once (the tls section, TLS on or off, -Q, the server limits and
// the log) except what is fixed at start: server.port, server.address and server.unix_socket (the
// sockets), the metrics roots and reload.watch_interval. A change to those is
// reported as needing a restart and is not applied. Connected clients keep the
// limits and TLS session they started with.
type Config struct {
	Server  ServerConfig  `toml:"server"`
	TLS     TLSConfig     `toml:"tls"`
	Metrics MetricsConfig `toml:"metrics"`
	Log     LogConfig     `toml:"log"`
	Reload  ReloadConfig  `toml:"reload"`
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

	// MaxClientsPerAddr: connections from one IP address, loopback included
	// (server.DefaultMaxClientsPerAddr); unix-socket clients are exempt.
	MaxClientsPerAddr int `toml:"max_clients_per_addr"`
	// MaxHandshakes: connections still in the handshake (server.DefaultMaxHandshakes).
	MaxHandshakes int `toml:"max_handshakes"`
	// UnixSocket is pmcd -s: a unix-domain socket for local clients, the only ones
	// -Q lets in without a certificate. Empty: none.
	UnixSocket string `toml:"unix_socket"`
	// MemoryLimit is the Go runtime's soft memory limit ("20MiB"; "off" for
	// none; --memory-limit). Unset: GOMEMLIMIT if set, else DefaultMemoryLimit.
	// A reload applies a change.
	MemoryLimit    ByteSize `toml:"memory_limit"`
	memoryLimitSet bool
}

// TLSConfig selects the daemon's identity and client-certificate policy.
type TLSConfig struct {
	CertDB            string `toml:"cert_db"`             // -C: certificate store directory
	Nickname          string `toml:"nickname"`            // -M
	PasswordFile      string `toml:"password_file"`       // -P
	RequireClientCert bool   `toml:"require_client_cert"` // -Q
	TLSConf           string `toml:"tls_conf"`            // --tls-conf: PCP 6 tls.conf
	// CRLFiles are checked for client certificates, besides the CRLs of the
	// store (certdb crl add) and of the tls.conf (tls-crl-file); reloaded on change.
	CRLFiles []string `toml:"crl_files"`

	// A Java keystore used in place, instead of cert_db or tls_conf: its key
	// entry is the identity; the truststore's trusted-certificate entries are
	// the CAs of client certificates. Types are detected when not given.
	Keystore               string `toml:"keystore"`
	KeystoreType           string `toml:"keystore_type"` // jks | pkcs12
	KeystorePasswordFile   string `toml:"keystore_password_file"`
	KeyAlias               string `toml:"key_alias"` // "" = the only key entry
	Truststore             string `toml:"truststore"`
	TruststoreType         string `toml:"truststore_type"` // jks | pkcs12
	TruststorePasswordFile string `toml:"truststore_password_file"`
}

// Enabled reports whether a server identity is configured.
func (t TLSConfig) Enabled() bool { return t.CertDB != "" || t.TLSConf != "" || t.Keystore != "" }

// java is the keystore part of the configuration.
func (t TLSConfig) java() tlsconfig.JavaStores {
	return tlsconfig.JavaStores{Keystore: t.Keystore, KeystoreType: t.KeystoreType, KeystorePasswordFile: t.KeystorePasswordFile,
		KeyAlias: t.KeyAlias, Truststore: t.Truststore, TruststoreType: t.TruststoreType, TruststorePasswordFile: t.TruststorePasswordFile}
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
	Debug  []string `toml:"debug"`  // -D: debug classes: tls, pdu (or all)
}

// ReloadConfig controls the certificate-file watch.
type ReloadConfig struct {
	// WatchInterval is how often the certificate store, tls.conf, certificate, key
	// and password files are checked for a change (size, mtime and content hash);
	// default 2s, "0s" turns the watch off (SIGHUP still reloads).
	WatchInterval Duration `toml:"watch_interval"`
	watchSet      bool
}

// Interval is the watch interval in effect; 0 means no watch.
func (r ReloadConfig) Interval() time.Duration {
	if !r.watchSet {
		return DefaultWatchInterval
	}
	return r.WatchInterval.Duration
}

// Duration is a time.Duration written as "5s" in TOML.
type Duration = tomlconfig.Duration

// Debug classes for -D and log.debug.
var debugClasses = []string{"tls", "pdu"}

// LoadConfig reads path strictly: an unknown key is an error naming it and its line.
// A missing file is an error only when required. The values are validated as they
// are in the file; collectord validates again once the flags are applied.
func LoadConfig(path string, required bool) (Config, error) {
	c, err := readConfig(path, required)
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

// readConfig decodes the file without validating the values.
func readConfig(path string, required bool) (Config, error) {
	var c Config
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !required {
			return c, nil
		}
		return c, fmt.Errorf("config: %w", err)
	}
	return c, decodeConfig(path, data, &c)
}

// decodeConfig decodes data into c, refusing keys the Config does not have.
func decodeConfig(path string, data []byte, c *Config) error {
	md, err := tomlconfig.Decode(path, data, c)
	c.Reload.watchSet = md.IsDefined("reload", "watch_interval")
	c.Server.memoryLimitSet = md.IsDefined("server", "memory_limit")
	return err
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
	case c.Server.MaxClientsPerAddr < 0 || c.Server.MaxHandshakes < 0:
		return errors.New("config: max_clients_per_addr and max_handshakes may not be negative")
	case c.TLS.RequireClientCert && !c.TLS.Enabled():
		return errors.New("config: require_client_cert (-Q) needs a certificate: set cert_db and nickname (-C, -M), tls_conf or keystore")
	case c.TLS.CertDB != "" && c.TLS.TLSConf != "":
		return errors.New("config: cert_db (-C) and tls_conf are alternatives: set one")
	case c.TLS.Keystore != "" && (c.TLS.CertDB != "" || c.TLS.TLSConf != ""):
		return errors.New("config: tls.keystore is an alternative to cert_db (-C) and tls_conf: set one")
	case c.TLS.Truststore != "" && c.TLS.Keystore == "":
		return errors.New("config: tls.truststore goes with tls.keystore; with cert_db or tls_conf, trust the client CA there")
	case len(c.TLS.CRLFiles) > 0 && !c.TLS.Enabled():
		return errors.New("config: tls.crl_files needs a certificate: set cert_db and nickname (-C, -M), tls_conf or keystore")
	case c.TLS.CertDB != "" && c.TLS.Nickname == "":
		return fmt.Errorf("config: cert_db %s needs the nickname of the server certificate (nickname, -M)", c.TLS.CertDB)
	}
	if err := c.TLS.java().Validate(); err != nil {
		return fmt.Errorf("config: tls: %w", err)
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		return fmt.Errorf("config: log format %q: want text or json", c.Log.Format)
	}
	if c.Log.Level != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(c.Log.Level)); err != nil {
			return fmt.Errorf("config: log level %q: want debug, info, warn or error", c.Log.Level)
		}
	}
	if _, err := parseDebugClasses(c.Log.Debug); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// parseDebugClasses checks -D / log.debug values: tls, pdu, all, or none.
func parseDebugClasses(list []string) (map[string]bool, error) {
	return logctl.ParseClasses(list, debugClasses)
}

// fixed is the part of the configuration a reload cannot change: the sockets,
// the metric roots (the sources are opened at start) and the watch interval.
type fixed struct {
	Port          int           `key:"server.port"`
	Address       []string      `key:"server.address"`
	UnixSocket    string        `key:"server.unix_socket"`
	ProcRoot      string        `key:"metrics.proc_root"`
	SysRoot       string        `key:"metrics.sys_root"`
	EtcRoot       string        `key:"metrics.etc_root"`
	RootFS        string        `key:"metrics.rootfs"`
	WatchInterval time.Duration `key:"reload.watch_interval"`
}

func fixedOf(c Config) fixed {
	m := c.Metrics
	return fixed{Port: c.Server.Port, Address: c.Server.Address, UnixSocket: c.Server.UnixSocket, ProcRoot: m.ProcRoot, SysRoot: m.SysRoot,
		EtcRoot: m.EtcRoot, RootFS: m.RootFS, WatchInterval: c.Reload.Interval()}
}

// restartOnly lists the settings whose new value differs from the running one but
// cannot be applied without a restart, as "key (old -> new)".
func restartOnly(old, cur Config) []string { return reload.Changed(fixedOf(old), fixedOf(cur)) }
