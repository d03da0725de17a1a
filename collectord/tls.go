package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
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
	cfg, err := tlsconfig.Server(tlsconfig.ServerOptions{
		Store: c.CertDB, Nickname: c.Nickname, PasswordFile: c.PasswordFile,
		TLSConf: c.TLSConf, RequireClientCert: c.RequireClientCert,
	})
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

// tlsFiles lists the files a TLS configuration is built from, for the change
// watch: the store file and password file, or the tls.conf and the certificate,
// key and CA files it names (a CA directory's files included).
func tlsFiles(c TLSConfig) []string {
	var files []string
	switch {
	case c.CertDB != "":
		files = append(files, filepath.Join(c.CertDB, store.FileName))
	case c.TLSConf != "":
		files = append(files, c.TLSConf)
		if conf, err := tlsconfig.ParseTLSConf(c.TLSConf); err == nil {
			for _, f := range []string{conf.CertFile, conf.KeyFile, conf.CAFile} {
				if f != "" {
					files = append(files, f)
				}
			}
			if conf.CADir != "" {
				files = append(files, conf.CADir)
				if ents, err := os.ReadDir(conf.CADir); err == nil {
					for _, e := range ents {
						files = append(files, filepath.Join(conf.CADir, e.Name()))
					}
				}
			}
		}
	}
	if c.PasswordFile != "" {
		files = append(files, c.PasswordFile)
	}
	sort.Strings(files)
	return files
}
