package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gopcp/gopcp/internal/logctl"
	"github.com/gopcp/gopcp/internal/tomlconfig"
	"github.com/gopcp/gopcp/proxyd/upstream"
	"github.com/gopcp/gopcp/tlsconfig"
)

// DefaultConfigPath is read when it exists and no --config is given.
const DefaultConfigPath = "/etc/gopcp/proxyd.toml"

// DefaultPort is pmproxy's port.
const DefaultPort = 44322

// Config is proxyd's TOML configuration. Flags override it; unknown keys are
// errors.
type Config struct {
	Server     ServerConfig      `toml:"server"`
	TLS        TLSConfig         `toml:"tls"`
	Upstream   UpstreamConfig    `toml:"upstream"`
	Collectors []CollectorConfig `toml:"collector"`
	Log        LogConfig         `toml:"log"`
	Reload     ReloadConfig      `toml:"reload"`
}

// ReloadConfig controls the certificate-file watch.
type ReloadConfig struct {
	// WatchInterval is how often the certificate store, tls.conf, certificate,
	// key and password files are checked for a change; default 2s, "0s" turns the
	// watch off (SIGHUP still reloads).
	WatchInterval *Duration `toml:"watch_interval"`
}

// watchInterval is the watch interval in effect; 0 means no watch.
func (c Config) watchInterval() time.Duration {
	if c.Reload.WatchInterval == nil {
		return DefaultWatchInterval
	}
	return c.Reload.WatchInterval.Duration
}

// ServerConfig holds the listener and its limits (zero: the default).
type ServerConfig struct {
	Port              int      `toml:"port"`                // -p, default 44322 ($PMPROXY_PORT)
	Address           []string `toml:"address"`             // -i, default all interfaces ($PMPROXY_LOCAL=1: loopback)
	MaxConnections    int      `toml:"max_connections"`     // default 1024
	MaxHeaderBytes    int      `toml:"max_header_bytes"`    // default 16384
	MaxBodyBytes      int64    `toml:"max_body_bytes"`      // default 1048576
	HandshakeTimeout  Duration `toml:"handshake_timeout"`   // first byte, prelude, TLS handshake; default 10s
	ReadHeaderTimeout Duration `toml:"read_header_timeout"` // default 10s
	IdleTimeout       Duration `toml:"idle_timeout"`        // HTTP keep-alive, default 2m
	RequestTimeout    Duration `toml:"request_timeout"`     // collector work per HTTP request, default 10s
	WriteTimeout      Duration `toml:"write_timeout"`       // default 30s
	RelayIdleTimeout  Duration `toml:"relay_idle_timeout"`  // default 1h
	ShutdownTimeout   Duration `toml:"shutdown_timeout"`    // default 10s
}

// TLSConfig is proxyd's own identity, for TLS-first clients (HTTPS and the relay
// over TLS).
type TLSConfig struct {
	CertDB            string `toml:"cert_db"`             // -C
	Nickname          string `toml:"nickname"`            // -M
	PasswordFile      string `toml:"password_file"`       // -P
	RequireClientCert bool   `toml:"require_client_cert"` // -Q
	TLSConf           string `toml:"tls_conf"`            // --tls-conf
	// CRLFiles are checked for client certificates, besides the store's and
	// the tls.conf's CRLs; reloaded on change.
	CRLFiles []string `toml:"crl_files"`
	// A Java keystore used in place instead of cert_db or tls_conf: its key
	// entry is proxyd's identity, the truststore's trusted-certificate entries
	// the CAs of client certificates (tlsconfig.JavaStores).
	Keystore               string `toml:"keystore"`
	KeystoreType           string `toml:"keystore_type"` // jks | pkcs12; "" = detected
	KeystorePasswordFile   string `toml:"keystore_password_file"`
	KeyAlias               string `toml:"key_alias"` // "" = the only key entry
	Truststore             string `toml:"truststore"`
	TruststoreType         string `toml:"truststore_type"`
	TruststorePasswordFile string `toml:"truststore_password_file"`
}

// enabled reports whether proxyd has an identity of its own.
func (t TLSConfig) enabled() bool { return t.CertDB != "" || t.TLSConf != "" || t.Keystore != "" }

// java is the keystore part of [tls].
func (t TLSConfig) java() tlsconfig.JavaStores {
	return tlsconfig.JavaStores{Keystore: t.Keystore, KeystoreType: t.KeystoreType, KeystorePasswordFile: t.KeystorePasswordFile,
		KeyAlias: t.KeyAlias, Truststore: t.Truststore, TruststoreType: t.TruststoreType, TruststorePasswordFile: t.TruststorePasswordFile}
}

// UpstreamConfig says which collectors may be reached and how.
type UpstreamConfig struct {
	Allow           []string       `toml:"allow"`          // --allow
	AllowLoopback   *bool          `toml:"allow_loopback"` // default true
	ConnectTimeout  Duration       `toml:"connect_timeout"`
	DefaultHostspec string         `toml:"default_hostspec"` // default "localhost"
	MetadataTTL     Duration       `toml:"metadata_ttl"`     // default 1m
	Client          ClientIdentity `toml:"client"`           // default identity towards collectors
}

// ClientIdentity is how proxyd connects to collectors for its own requests.
type ClientIdentity struct {
	Secure         string `toml:"secure"` // none | relaxed | enforce
	CertDB         string `toml:"cert_db"`
	Nickname       string `toml:"nickname"`
	PasswordFile   string `toml:"password_file"`
	TLSConf        string `toml:"tls_conf"`
	AllowSelfCert  bool   `toml:"allow_self_cert"`
	AllowBadDomain bool   `toml:"allow_bad_domain"`
	// CRLFiles are checked for collectors' certificates, besides the store's
	// and the tls.conf's CRLs; read for each new connection.
	CRLFiles []string `toml:"crl_files"`
	// A Java keystore (proxyd's client certificate) and truststore (the CAs
	// of collectors' certificates), instead of cert_db or tls_conf; read for
	// each new connection, like the store.
	Keystore               string `toml:"keystore"`
	KeystoreType           string `toml:"keystore_type"`
	KeystorePasswordFile   string `toml:"keystore_password_file"`
	KeyAlias               string `toml:"key_alias"`
	Truststore             string `toml:"truststore"`
	TruststoreType         string `toml:"truststore_type"`
	TruststorePasswordFile string `toml:"truststore_password_file"`
}

// java is the keystore part of a client identity.
func (ci ClientIdentity) java() tlsconfig.JavaStores {
	return tlsconfig.JavaStores{Keystore: ci.Keystore, KeystoreType: ci.KeystoreType, KeystorePasswordFile: ci.KeystorePasswordFile,
		KeyAlias: ci.KeyAlias, Truststore: ci.Truststore, TruststoreType: ci.TruststoreType, TruststorePasswordFile: ci.TruststorePasswordFile}
}

// check refuses two identity sources in one client identity. A truststore
// may stand alone (verify collectors, present no certificate).
func (ci ClientIdentity) check() error {
	if ci.Keystore != "" && (ci.CertDB != "" || ci.TLSConf != "") {
		return errors.New("keystore is an alternative to cert_db and tls_conf: set one")
	}
	if ci.Truststore != "" && (ci.CertDB != "" || ci.TLSConf != "") {
		return errors.New("truststore is an alternative to cert_db and tls_conf (trust the collectors' CA there): set one")
	}
	return ci.java().Validate()
}

// CollectorConfig names one collector: it is allowed, and its identity replaces
// the default one.
type CollectorConfig struct {
	Host string `toml:"host"`
	Port int    `toml:"port"` // 0: any
	ClientIdentity
	// LendIdentity says for which HTTP clients proxyd presents this identity's
	// client certificate to the collector: "trusted" (the default: clients on
	// loopback or authenticated to proxyd with a verified certificate),
	// "always" (anyone who can reach proxyd then reads the collector as proxyd)
	// or "never".
	LendIdentity string `toml:"lend_identity"`
}

// LogConfig selects the log format and level.
type LogConfig struct {
	Format string   `toml:"format"` // text | json
	Level  string   `toml:"level"`  // debug | info | warn | error
	Debug  []string `toml:"debug"`  // -D: debug classes: tls, http (or all)
}

// debugClasses are proxyd's -D classes: tls logs each ClientHello, client
// certificate decision and handshake; http logs each request (an access log).
var debugClasses = []string{"tls", "http"}

// Duration is a time.Duration written as "5s" in TOML.
type Duration = tomlconfig.Duration

// LoadConfig reads path strictly: an unknown key is an error naming it and its
// line. A missing file is an error only when required.
func LoadConfig(path string, required bool) (Config, error) {
	var c Config
	_, err := tomlconfig.Read(path, required, &c)
	return c, err
}

// Validate checks values that decode but make no sense, and builds the policy.
func (c Config) Validate() error {
	s := c.Server
	switch {
	case s.Port < 0 || s.Port > 65535:
		return fmt.Errorf("config: port %d out of range", s.Port)
	case s.MaxConnections < 0:
		return fmt.Errorf("config: max_connections %d is negative", s.MaxConnections)
	case s.MaxHeaderBytes < 0 || (s.MaxHeaderBytes > 0 && s.MaxHeaderBytes < 1024):
		return fmt.Errorf("config: max_header_bytes %d below 1024", s.MaxHeaderBytes)
	case s.MaxBodyBytes < 0:
		return fmt.Errorf("config: max_body_bytes %d is negative", s.MaxBodyBytes)
	case c.TLS.RequireClientCert && !c.TLS.enabled():
		return errors.New("config: require_client_cert (-Q) needs a certificate: set cert_db and nickname (-C, -M), tls_conf or keystore")
	case c.TLS.CertDB != "" && c.TLS.TLSConf != "":
		return errors.New("config: cert_db (-C) and tls_conf are alternatives: set one")
	case c.TLS.Keystore != "" && (c.TLS.CertDB != "" || c.TLS.TLSConf != ""):
		return errors.New("config: tls.keystore is an alternative to cert_db (-C) and tls_conf: set one")
	case c.TLS.Truststore != "" && c.TLS.Keystore == "":
		return errors.New("config: tls.truststore goes with tls.keystore; with cert_db or tls_conf, trust the client CA there")
	case len(c.TLS.CRLFiles) > 0 && !c.TLS.enabled():
		return errors.New("config: tls.crl_files needs a certificate: set cert_db and nickname (-C, -M), tls_conf or keystore")
	case c.watchInterval() < 0:
		return fmt.Errorf("config: reload.watch_interval %v is negative", c.watchInterval())
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		return fmt.Errorf("config: log format %q: want text or json", c.Log.Format)
	}
	switch strings.ToLower(c.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log level %q: want debug, info, warn or error", c.Log.Level)
	}
	if _, err := logctl.ParseClasses(c.Log.Debug, debugClasses); err != nil {
		return fmt.Errorf("config: log.debug: %w", err)
	}
	if err := c.TLS.java().Validate(); err != nil {
		return fmt.Errorf("config: tls: %w", err)
	}
	if _, err := upstream.ParseSecure(c.Upstream.Client.Secure); err != nil {
		return fmt.Errorf("config: upstream.client: %w", err)
	}
	if err := c.Upstream.Client.check(); err != nil {
		return fmt.Errorf("config: upstream.client: %w", err)
	}
	for i, col := range c.Collectors {
		if col.Host == "" {
			return fmt.Errorf("config: collector %d: host is required", i+1)
		}
		if col.Port < 0 || col.Port > 65535 {
			return fmt.Errorf("config: collector %s: port %d out of range", col.Host, col.Port)
		}
		if _, err := upstream.ParseSecure(col.Secure); err != nil {
			return fmt.Errorf("config: collector %s: %w", col.Host, err)
		}
		if _, err := upstream.ParseLend(col.LendIdentity); err != nil {
			return fmt.Errorf("config: collector %s: %w", col.Host, err)
		}
		if err := col.ClientIdentity.check(); err != nil {
			return fmt.Errorf("config: collector %s: %w", col.Host, err)
		}
	}
	_, err := c.policy()
	return err
}

// allowLoopback is upstream.allow_loopback, true unless set false.
func (c Config) allowLoopback() bool {
	return c.Upstream.AllowLoopback == nil || *c.Upstream.AllowLoopback
}

// policy builds the allow list: the listed entries and every configured collector.
func (c Config) policy() (*upstream.Policy, error) {
	allow := append([]string(nil), c.Upstream.Allow...)
	for _, col := range c.Collectors {
		e := col.Host
		if col.Port > 0 {
			e = net.JoinHostPort(strings.Trim(col.Host, "[]"), strconv.Itoa(col.Port))
		}
		allow = append(allow, e)
	}
	p, err := upstream.NewPolicy(allow, c.allowLoopback())
	if err != nil {
		return nil, fmt.Errorf("config: upstream.allow: %w", err)
	}
	return p, nil
}

// identity converts a configured identity.
func identity(ci ClientIdentity) upstream.Identity {
	mode, _ := upstream.ParseSecure(ci.Secure)
	return upstream.Identity{
		Secure:         mode,
		StoreDir:       strings.TrimPrefix(ci.CertDB, "sql:"),
		PasswordFile:   ci.PasswordFile,
		Nickname:       ci.Nickname,
		TLSConf:        ci.TLSConf,
		AllowSelfCert:  ci.AllowSelfCert,
		AllowBadDomain: ci.AllowBadDomain,
		CRLFiles:       ci.CRLFiles,
		Java:           ci.java(),
	}
}

// clients builds the identities towards collectors.
func (c Config) clients() *upstream.Clients {
	cl := &upstream.Clients{Default: identity(c.Upstream.Client)}
	for _, col := range c.Collectors {
		id := identity(col.ClientIdentity)
		id.Lend, _ = upstream.ParseLend(col.LendIdentity) // validated
		cl.Collectors = append(cl.Collectors, upstream.CollectorIdentity{Host: col.Host, Port: col.Port, Identity: id})
	}
	return cl
}
