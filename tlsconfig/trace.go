package tlsconfig

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"

	"github.com/gopcp/gopcp/internal/safetext"
)

// Trace adds debug log lines (the daemons' -D tls) to a server configuration's
// callbacks, keeping their decisions: one line per ClientHello, client
// certificate decision and completed handshake. log's level decides whether
// they are written; it is asked first, so that with tracing off a handshake
// pays for no line it will not write (the accepted-certificate line would parse
// the certificate a second time).
func Trace(cfg *tls.Config, log *slog.Logger) {
	on := func() bool { return log.Enabled(context.Background(), slog.LevelDebug) }
	next := cfg.GetConfigForClient
	cfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		if on() {
			peer := ""
			if h.Conn != nil {
				peer = h.Conn.RemoteAddr().String()
			}
			log.Debug("tls: ClientHello", "peer", peer, "sni", h.ServerName, "versions", versionNames(h.SupportedVersions))
		}
		if next != nil {
			return next(h)
		}
		return nil, nil
	}
	verify := cfg.VerifyPeerCertificate
	cfg.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) error {
		var err error
		if verify != nil {
			err = verify(raw, chains)
		}
		if !on() {
			return err
		}
		switch {
		case err != nil:
			log.Debug("tls: client certificate refused", "err", err)
		case len(raw) > 0:
			if c, perr := x509.ParseCertificate(raw[0]); perr == nil {
				log.Debug("tls: client certificate accepted", "subject", safetext.Escape(c.Subject.String()), "sha256", Fingerprint(c))
			}
		default:
			log.Debug("tls: client presented no certificate")
		}
		return err
	}
	conn := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if on() {
			log.Debug("tls: handshake complete", "version", tls.VersionName(cs.Version),
				"cipher", tls.CipherSuiteName(cs.CipherSuite), "sni", cs.ServerName, "resumed", cs.DidResume)
		}
		if conn != nil {
			return conn(cs)
		}
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
