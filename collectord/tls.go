package main

import (
	"crypto/tls"
	"log/slog"

	"github.com/gopcp/gopcp/tlsconfig"
)

// buildTLS returns the server's TLS configuration source, or nil when no identity
// is configured. The configuration is built and checked now, so a daemon with an
// unusable certificate refuses to start and says why.
func buildTLS(c TLSConfig, log *slog.Logger) (func() *tls.Config, error) {
	if c.CertDB == "" && c.TLSConf == "" {
		return nil, nil
	}
	cfg, err := tlsconfig.Server(tlsconfig.ServerOptions{
		Store: c.CertDB, Nickname: c.Nickname, PasswordFile: c.PasswordFile,
		TLSConf: c.TLSConf, RequireClientCert: c.RequireClientCert,
	})
	if err != nil {
		return nil, err
	}
	log.Debug("TLS identity loaded", "subject", cfg.Certificates[0].Leaf.Subject.String(),
		"sha256", tlsconfig.Fingerprint(cfg.Certificates[0].Leaf))
	return func() *tls.Config { return cfg }, nil
}

// notifyReady tells a supervisor the daemon is ready (systemd support comes later).
func notifyReady(log *slog.Logger) {}
