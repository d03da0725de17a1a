package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"

	"github.com/gopcp/gopcp/tlsconfig"
)

// tlsBundle is one built server TLS configuration.
type tlsBundle struct {
	cfg    *tls.Config
	leaf   *x509.Certificate
	source string // what it was loaded from, for log lines
}

// buildTLS builds and checks the server's TLS configuration, or returns nil when no
// identity is configured. A daemon with an unusable certificate refuses to start
// (and a reload keeps the old one) and says why. log gets the CRL warnings;
// tlsLog is the -D tls logger: it gets a line for each ClientHello,
// client-certificate decision and handshake.
func buildTLS(c TLSConfig, log, tlsLog *slog.Logger) (*tlsBundle, error) {
	if !c.Enabled() {
		return nil, nil
	}
	o := c.serverOptions()
	o.Logger = log
	cfg, err := tlsconfig.Server(o)
	if err != nil {
		return nil, err
	}
	b := &tlsBundle{cfg: cfg, leaf: cfg.Certificates[0].Leaf}
	switch {
	case c.Keystore != "":
		b.source = "keystore " + c.Keystore
	case c.CertDB != "":
		b.source = fmt.Sprintf("%q in store %s", c.Nickname, c.CertDB)
	default:
		b.source = "tls.conf " + c.TLSConf
	}
	tlsconfig.Trace(cfg, tlsLog)
	return b, nil
}

// serverOptions are the tlsconfig options of this configuration.
func (c TLSConfig) serverOptions() tlsconfig.ServerOptions {
	return tlsconfig.ServerOptions{
		Store: c.CertDB, Nickname: c.Nickname, PasswordFile: c.PasswordFile,
		TLSConf: c.TLSConf, RequireClientCert: c.RequireClientCert, CRLFiles: c.CRLFiles,
		Java: c.java(),
	}
}

// tlsFiles lists the files the TLS configuration is built from, for the watch.
func tlsFiles(c TLSConfig) []string { return c.serverOptions().Files() }
