package tlsconfig

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"sync"
	"time"
)

// clientVerifier is a server configuration's decision on client certificates
// (its VerifyPeerCertificate): VerifyClient, then the CRLs. A PCP client
// reconnects with the same certificate every time (a monitoring tool, pmlogger,
// proxyd), and the chain check costs an ECDSA verification and a parse of every
// certificate per handshake, a tenth of a mutual-TLS connection's server CPU.
// So a chain accepted once is remembered, by the SHA-256 of exactly the bytes
// the client sent, for as long as the same check is sure to give the same answer
// (acceptedFor); a later handshake that sends the same bytes is accepted without
// parsing them again. Refusals are never remembered: they always take the full
// path, and the log line says why each time.
//
// The verifier belongs to one *tls.Config: a reload (new store, new trust flags,
// new CRL) builds a new configuration and so starts with nothing remembered.
type clientVerifier struct {
	anchors  Anchors
	crls     *CRLSet // nil: no CRL configured
	required bool
	now      func() time.Time

	mu       sync.Mutex
	accepted map[[sha256.Size]byte]validity
}

// maxAccepted bounds the remembered chains. Only chains that verified are
// added, so only holders of a client certificate from a trusted CA can fill it;
// when full it is emptied and refills from the next handshakes.
const maxAccepted = 1024

// validity is when a remembered acceptance holds: from notBefore to notAfter,
// both included (as crypto/x509 checks validity), and strictly before until
// (zero: no such bound).
type validity struct {
	notBefore, notAfter, until time.Time
}

func (v validity) holds(t time.Time) bool {
	return !t.Before(v.notBefore) && !t.After(v.notAfter) && (v.until.IsZero() || t.Before(v.until))
}

// verifyPeer is the configuration's VerifyPeerCertificate. raw is what the
// client sent, not yet verified by crypto/tls (ClientAuth asks for any
// certificate so that the reasons can be ours).
func (v *clientVerifier) verifyPeer(raw [][]byte, _ [][]*x509.Certificate) error {
	if len(raw) == 0 {
		if v.required {
			return errors.New("client presented no certificate and one is required (-Q)")
		}
		return nil
	}
	now := v.now()
	key := chainKey(raw)
	v.mu.Lock()
	w, ok := v.accepted[key]
	v.mu.Unlock()
	if ok && w.holds(now) {
		return nil
	}
	certs, err := parseClientChain(raw)
	if err != nil {
		return err
	}
	chain, err := verifyClientCerts(certs, v.anchors, now)
	if err != nil {
		return err
	}
	if err := v.crls.CheckPeer(certs, "client certificate", now); err != nil {
		return err
	}
	w = acceptedFor(chain, certs, v.crls, now)
	v.mu.Lock()
	if v.accepted == nil || len(v.accepted) >= maxAccepted {
		v.accepted = make(map[[sha256.Size]byte]validity)
	}
	v.accepted[key] = w
	v.mu.Unlock()
	return nil
}

// chainKey is the SHA-256 of the certificates as sent, each with its length, so
// that no two different lists of certificates share a key.
func chainKey(raw [][]byte) [sha256.Size]byte {
	h := sha256.New()
	var n [4]byte
	for _, r := range raw {
		binary.BigEndian.PutUint32(n[:], uint32(len(r)))
		h.Write(n[:])
		h.Write(r)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// acceptedFor is how long the acceptance of certs, made at now through chain,
// is sure to hold. Everything the check reads is fixed for the configuration
// (anchors, distrusted certificates, CRLs) except the clock, which enters only
// through certificates' validity:
//
//   - VerifyClient accepts when some chain to a trusted CA avoids every
//     distrusted certificate. While every certificate of chain is valid, chain
//     is still found and still clean, so the answer stays yes; other chains
//     appearing or going away cannot turn it into no.
//   - CheckPeer refuses when any chain, built from the certificates sent and the
//     CAs the CRLs' configuration knows, holds a revoked certificate: a CA that
//     becomes valid later could add such a chain. So with CRLs the acceptance
//     also ends at the first moment any of those certificates becomes valid or
//     expires, and at the first CRL's next update (so the warning that it is
//     stale is logged by the full check, as without the memory).
func acceptedFor(chain, sent []*x509.Certificate, crls *CRLSet, now time.Time) validity {
	w := validity{notBefore: chain[0].NotBefore, notAfter: chain[0].NotAfter}
	for _, c := range chain[1:] {
		if c.NotBefore.After(w.notBefore) {
			w.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(w.notAfter) {
			w.notAfter = c.NotAfter
		}
	}
	if crls.Len() == 0 {
		return w
	}
	earliest := func(t time.Time) {
		if t.After(now) && (w.until.IsZero() || t.Before(w.until)) {
			w.until = t
		}
	}
	for _, set := range [][]*x509.Certificate{sent, crls.cas} {
		for _, c := range set {
			earliest(c.NotBefore)
			earliest(c.NotAfter)
		}
	}
	for _, l := range crls.crls {
		earliest(l.list.NextUpdate)
	}
	if w.until.IsZero() {
		// Nothing changes after now; an acceptance still ends with its chain.
		w.until = w.notAfter.Add(time.Nanosecond)
	}
	return w
}
