package upstream

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/tlsconfig"
)

// Identity is how proxyd itself connects to a collector (REST and /metrics
// requests; relayed clients negotiate their own TLS end to end): whether it asks
// for TLS, and the certificate store holding the CAs it trusts and the client
// certificate it presents.
type Identity struct {
	// Secure asks the collector for TLS (a pcps:// host spec asks too).
	Secure pmapi.SecureMode
	// StoreDir is a certdb store: trusted CAs and peers, and proxyd's client
	// certificate. With neither StoreDir nor TLSConf the server certificate is not
	// verified, as the PCP 6.0.3 client does not verify it.
	StoreDir, PasswordFile, Nickname string
	// TLSConf is a PCP 6 client tls.conf, instead of or besides the store.
	TLSConf string
	// AllowSelfCert and AllowBadDomain relax server verification
	// (PCP_ALLOW_SERVER_SELF_CERT, PCP_ALLOW_BAD_CERT_DOMAIN).
	AllowSelfCert, AllowBadDomain bool
	// Warn receives the warnings of the relaxed checks.
	Warn io.Writer
	// CRLFiles are checked for the collector's certificate, besides the
	// store's and the tls.conf's CRLs.
	CRLFiles []string
	// Lend says for which HTTP clients proxyd presents this identity's client
	// certificate (see LendMode).
	Lend LendMode
	// Java is a keystore (client certificate) and truststore (collector CAs)
	// used in place of StoreDir or TLSConf.
	Java tlsconfig.JavaStores
}

// LendMode says on whose behalf proxyd presents its client certificate to a
// collector. A collector that requires client certificates (-Q) trusts whoever
// holds one; if proxyd presented its own for any HTTP client, anyone who can
// reach proxyd would read that collector with proxyd's identity.
type LendMode int

const (
	// LendTrusted, the default, presents the certificate only for HTTP clients on
	// loopback or authenticated to proxyd with a verified client certificate.
	LendTrusted LendMode = iota
	// LendAlways presents it for every HTTP client: proxyd's identity is then
	// available to anyone who can reach proxyd.
	LendAlways
	// LendNever never presents it.
	LendNever
)

// ParseLend maps a configuration word to a LendMode: "" or "trusted",
// "always", "never".
func ParseLend(s string) (LendMode, error) {
	switch strings.ToLower(s) {
	case "", "trusted":
		return LendTrusted, nil
	case "always":
		return LendAlways, nil
	case "never":
		return LendNever, nil
	}
	return LendTrusted, fmt.Errorf("lend_identity %q: want trusted (the default), always or never", s)
}

// Presents reports whether the client certificate is presented on behalf of an
// HTTP client; trusted says whether that client is on loopback or authenticated
// to proxyd.
func (id Identity) Presents(trusted bool) bool {
	switch id.Lend {
	case LendAlways:
		return true
	case LendNever:
		return false
	}
	return trusted
}

// TLSConfigFor is TLSConfig, without the client certificate unless withCert:
// the server is still verified with the identity's trusted CAs, but the
// collector is offered no certificate, so one that requires them refuses.
func (id Identity) TLSConfigFor(withCert bool) func(serverName string) (*tls.Config, error) {
	hook := id.TLSConfig()
	if withCert || hook == nil {
		return hook
	}
	return func(serverName string) (*tls.Config, error) {
		cfg, err := hook(serverName)
		if err != nil || cfg == nil {
			return cfg, err
		}
		cfg = cfg.Clone()
		cfg.Certificates = nil
		// An empty certificate answers a CertificateRequest with none.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &tls.Certificate{}, nil
		}
		return cfg, nil
	}
}

// ParseSecure maps a configuration word to a mode: "" or "none", "relaxed",
// "enforce".
func ParseSecure(s string) (pmapi.SecureMode, error) {
	switch strings.ToLower(s) {
	case "", "none", "off", "no":
		return pmapi.SecureNone, nil
	case "relaxed":
		return pmapi.SecureRelaxed, nil
	case "enforce", "on", "yes":
		return pmapi.SecureEnforce, nil
	}
	return pmapi.SecureNone, fmt.Errorf("secure %q: want none, relaxed or enforce", s)
}

// TLSConfig returns the pmapi TLS hook for this identity; nil means pmapi's
// default (no server verification, no client certificate).
func (id Identity) TLSConfig() func(serverName string) (*tls.Config, error) {
	if id.StoreDir == "" && id.TLSConf == "" && !id.Java.Enabled() {
		return nil
	}
	w := id.Warn
	if w == nil {
		w = io.Discard
	}
	return tlsconfig.Client(tlsconfig.ClientOptions{
		StoreDir:       id.StoreDir,
		PasswordFile:   id.PasswordFile,
		Nickname:       id.Nickname,
		TLSConf:        id.TLSConf,
		AllowSelfCert:  id.AllowSelfCert,
		AllowBadDomain: id.AllowBadDomain,
		Warn:           w,
		CRLFiles:       id.CRLFiles,
		Java:           id.Java,
	})
}

// CollectorIdentity is the identity used for one collector: Host (a name or an
// address, as written in host specs) and Port (0 = any port).
type CollectorIdentity struct {
	Host string
	Port int
	Identity
}

// Clients selects the identity for each collector.
type Clients struct {
	Default    Identity
	Collectors []CollectorIdentity
}

// For returns the identity for host:port: the first matching collector entry,
// else the default.
func (c *Clients) For(host string, port int) Identity {
	if c == nil {
		return Identity{}
	}
	for _, ci := range c.Collectors {
		if (ci.Port == 0 || ci.Port == port) && sameHost(ci.Host, host) {
			return ci.Identity
		}
	}
	return c.Default
}

func sameHost(a, b string) bool {
	if x, err := netip.ParseAddr(strings.Trim(a, "[]")); err == nil {
		y, err := netip.ParseAddr(strings.Trim(b, "[]"))
		return err == nil && x.Unmap() == y.Unmap()
	}
	return canonName(a) == canonName(b)
}
