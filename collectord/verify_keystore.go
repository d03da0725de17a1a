package main

import (
	"crypto"
	"crypto/x509"
	"errors"
	"io/fs"

	"github.com/gopcp/gopcp/certdb/check"
	"github.com/gopcp/gopcp/internal/safetext"
	"github.com/gopcp/gopcp/internal/shellquote"
)

// checkKeystore reads a Java keystore identity (tls.keystore) as the daemon
// would, through tlsconfig, and checks it with certdb/check against the
// truststore's CAs (what clients of the same site trust).
func (v *verifier) checkKeystore(c TLSConfig, this *check.Machine) *identity {
	j := c.java()
	seen := map[string]bool{}
	for _, f := range []string{c.Keystore, c.KeystorePasswordFile, c.TruststorePasswordFile} {
		if f != "" && !seen[f] {
			seen[f] = true
			v.checkPerms("permissions", f, false, shellquote.Join("chmod", "600", f))
		}
	}
	if err := j.Validate(); err != nil {
		v.failed("keystore", safetext.Escape(err.Error()), "")
		return nil
	}
	id, alias, err := j.Identity()
	if err != nil {
		msg := safetext.Escape(err.Error())
		if errors.Is(err, fs.ErrPermission) {
			msg += "; run as the collector's user, or give it read access to the file"
		}
		v.failed("keystore", msg, "")
		return nil
	}
	v.ok("keystore", "%s read, key entry \"%s\"", safetext.Escape(c.Keystore), safetext.Escape(alias))
	var anchors *check.Anchors
	if c.Truststore == "" {
		anchors = &check.Anchors{NotChecked: "no tls.truststore (clients check the certificate against their own CAs)"}
	} else {
		cas, err := j.TrustedCAs()
		if err != nil {
			v.failed("truststore", safetext.Escape(err.Error()), "")
			return nil
		}
		v.ok("truststore", "%s read, %d trusted CA(s)", safetext.Escape(c.Truststore), len(cas))
		where := "in truststore " + safetext.Escape(c.Truststore)
		anchors = check.AnchorsFromCerts(cas, "CAs "+where, where,
			"add the CA that issued it to "+safetext.Escape(c.Truststore)+" (keytool -importcert, certdb export-truststore)")
	}
	leaf := id.Leaf
	signer, _ := id.PrivateKey.(crypto.Signer)
	o := check.Options{Role: check.RoleServer, Now: v.now, Anchors: anchors, ThisHost: this,
		Key: check.Key{State: check.KeyHeld, Signer: signer, Where: "in " + safetext.Escape(c.Keystore)}}
	for _, raw := range id.Certificate[1:] {
		if ic, err := x509.ParseCertificate(raw); err == nil {
			o.Chain = append(o.Chain, ic)
		}
	}
	v.report(check.Certificate(leaf, o).Results...)
	return &identity{leaf: leaf}
}

// keystoreClientCAs reports -Q's client CAs when they come from a truststore
// and returns how many there are (0: the failure is reported).
func (v *verifier) keystoreClientCAs(c TLSConfig) int {
	if c.Truststore == "" {
		v.failed("client certificates", "-Q is in effect but no tls.truststore names the CA that issues client certificates: the collector refuses to start; set tls.truststore (certdb export-truststore makes one)", "")
		return 0
	}
	cas, err := c.java().TrustedCAs()
	if err != nil {
		v.failed("client certificates", safetext.Escape(err.Error()), "")
		return 0
	}
	return len(cas)
}
