package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"time"

	"github.com/gopcp/gopcp/tlsconfig"
)

// ExpiryWarning is how close to its expiry a server certificate is reported (in the
// log at load and by verify --secure).
const ExpiryWarning = 30 * 24 * time.Hour

// tlsBundle is one built server TLS configuration.
type tlsBundle struct {
	cfg    *tls.Config
	leaf   *x509.Certificate
	source string // what it was loaded from, for log lines
}

// buildTLS builds and checks the server's TLS configuration, or returns nil when no
// identity is configured. A daemon with an unusable certificate refuses to start
// (and a reload keeps the old one) and says why. tlsLog is the -D tls logger: it
// gets a line for each ClientHello, client-certificate decision and handshake.
func buildTLS(c TLSConfig, tlsLog *slog.Logger) (*tlsBundle, error) {
	if !c.Enabled() {
		return nil, nil
	}
	cfg, err := tlsconfig.Server(c.serverOptions())
	if err != nil {
		return nil, err
	}
	b := &tlsBundle{cfg: cfg, leaf: cfg.Certificates[0].Leaf}
	if c.CertDB != "" {
		b.source = fmt.Sprintf("%q in store %s", c.Nickname, c.CertDB)
	} else {
		b.source = "tls.conf " + c.TLSConf
	}
	traceTLS(cfg, tlsLog)
	return b, nil
}

// traceTLS adds the -D tls log lines to cfg's callbacks, keeping their decisions.
func traceTLS(cfg *tls.Config, log *slog.Logger) {
	cfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		peer := ""
		if h.Conn != nil {
			peer = h.Conn.RemoteAddr().String()
		}
		log.Debug("tls: ClientHello", "peer", peer, "sni", h.ServerName, "versions", versionNames(h.SupportedVersions))
		return nil, nil
	}
	verify := cfg.VerifyPeerCertificate
	cfg.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) error {
		err := verify(raw, chains)
		switch {
		case err != nil:
			log.Debug("tls: client certificate refused", "err", err)
		case len(raw) > 0:
			if c, perr := x509.ParseCertificate(raw[0]); perr == nil {
				log.Debug("tls: client certificate accepted", "subject", c.Subject.String(), "sha256", tlsconfig.Fingerprint(c))
			}
		default:
			log.Debug("tls: client presented no certificate")
		}
		return err
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		log.Debug("tls: handshake complete", "version", tls.VersionName(cs.Version),
			"cipher", tls.CipherSuiteName(cs.CipherSuite), "sni", cs.ServerName, "resumed", cs.DidResume)
		return nil
	}
}

func versionNames(vs []uint16) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = tls.VersionName(v)
	}
	return out
}

// serverOptions are the tlsconfig options of this configuration.
func (c TLSConfig) serverOptions() tlsconfig.ServerOptions {
	return tlsconfig.ServerOptions{
		Store: c.CertDB, Nickname: c.Nickname, PasswordFile: c.PasswordFile,
		TLSConf: c.TLSConf, RequireClientCert: c.RequireClientCert,
	}
}

// tlsFiles lists the files the TLS configuration is built from, for the watch.
func tlsFiles(c TLSConfig) []string { return c.serverOptions().Files() }
