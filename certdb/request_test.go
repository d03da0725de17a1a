package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRequestSignedByOpenSSL: certdb request, the CA signs with the real
// `openssl x509 -req` (as the seed does), certdb receive.
func TestRequestSignedByOpenSSL(t *testing.T) {
	needOpenSSL(t)
	d := t.TempDir()
	in := func(f string) string { return filepath.Join(d, f) }
	sh(t, d, "openssl", "genrsa", "-out", "rootCA.key", "2048")
	sh(t, d, "openssl", "req", "-new", "-x509", "-extensions", "v3_ca", "-key", "rootCA.key", "-out", "rootCA.crt", "-days", "3650", "-subj", "/CN=Org CA")
	db := in("agent")

	out := must(t, "request", "-d", db, "-n", "agent", "--cn", "agent.example", "--san", "DNS: agent.example, IP: 192.0.2.5", "--server", "-o", in("agent.csr"))
	if !strings.HasPrefix(out, "wrote the request "+in("agent.csr")+" (CN=agent.example, DNS:agent.example, IP:192.0.2.5, ECDSA P-256 key kept in new store "+db+` as "agent" until its certificate comes); once signed: certdb receive -d `+db+" -n agent -i SIGNED.crt") {
		t.Errorf("request said %q", out)
	}
	sh(t, d, "openssl", "req", "-verify", "-noout", "-in", "agent.csr")
	text := sh(t, d, "openssl", "req", "-noout", "-text", "-in", "agent.csr")
	for _, w := range []string{"CN = agent.example", "DNS:agent.example, IP Address:192.0.2.5", "TLS Web Server Authentication"} {
		if !strings.Contains(text, w) {
			t.Errorf("openssl req -text lacks %q:\n%s", w, text)
		}
	}
	keys := must(t, "keys", "-d", db)
	if !strings.Contains(keys, "< 0> ec ") || !strings.HasSuffix(keys, " agent (request pending)\n") {
		t.Errorf("keys: %q", keys)
	}
	_, errs, _ := cli(t, nil, "list", "-d", db)
	if !strings.Contains(errs, `1 key(s) waiting for their certificate (certdb request): "agent"`) {
		t.Errorf("list stderr: %q", errs)
	}
	if det := must(t, "list", "-d", db, "-n", "agent"); !strings.Contains(det, "Requested Subject:    CN=agent.example") {
		t.Errorf("list -n of a pending key: %s", det)
	}
	// Nickname taken; -o exists.
	fails(t, 1, "request", "-d", db, "-n", "agent", "--cn", "x", "-o", in("other.csr"))
	fails(t, 1, "request", "-d", db, "-n", "other", "--cn", "x", "-o", in("agent.csr"))
	fails(t, 2, "request", "-d", db, "-n", "other", "-o", in("other.csr"))

	// The CA signs: openssl x509 -req as in the walkthrough.
	sh(t, d, "openssl", "x509", "-req", "-in", "agent.csr", "-CA", "rootCA.crt", "-CAkey", "rootCA.key", "-CAcreateserial",
		"-copy_extensions", "copy", "-out", "agent.crt", "-days", "500", "-sha256")

	// A certificate for another key is refused, nothing changes.
	sh(t, d, "openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "stranger.key", "-out", "stranger.csr", "-subj", "/CN=stranger")
	sh(t, d, "openssl", "x509", "-req", "-in", "stranger.csr", "-CA", "rootCA.crt", "-CAkey", "rootCA.key", "-CAcreateserial", "-out", "stranger.crt", "-days", "5")
	before := dirSnapshot(t, db)
	errs = fails(t, 1, "receive", "-d", db, "-n", "agent", "-i", in("stranger.crt"))
	if !strings.Contains(errs, in("stranger.crt")) || !strings.Contains(errs, "for another key") {
		t.Errorf("foreign certificate: %s", errs)
	}
	errs = fails(t, 1, "add", "-d", db, "-n", "agent", "-i", in("stranger.crt"))
	if !strings.Contains(errs, "is for another key") {
		t.Errorf("add of a foreign certificate: %s", errs)
	}
	errs = fails(t, 1, "receive", "-d", db, "-n", "nobody", "-i", in("agent.crt"))
	if !strings.Contains(errs, `under "nobody"`) {
		t.Errorf("receive without request: %s", errs)
	}
	assertUnchanged(t, db, before)

	// The signed certificate, followed by its CA as a bundle.
	bundle, _ := os.ReadFile(in("agent.crt"))
	ca, _ := os.ReadFile(in("rootCA.crt"))
	writeFile(t, in("bundle.pem"), append(append([]byte{}, ca...), bundle...))
	out = must(t, "receive", "-d", db, "-n", "agent", "-i", in("bundle.pem"))
	if !strings.HasPrefix(out, `stored "agent" (CN=agent.example, valid until `) || !strings.Contains(out, `with its key, trust u,u,u, and 1 CA certificate(s) with no trust: ["Org CA"]`) {
		t.Errorf("receive said %q", out)
	}
	must(t, "trust", "-d", db, "-n", "Org CA", "-t", "CT,,")
	if got := must(t, "list", "-d", db); got != listHeader+
		"agent                                                        u,u,u\n"+
		"Org CA                                                       CT,, \n" {
		t.Errorf("list:\n%s", got)
	}
	// The key and the certificate work together: export and check with openssl.
	must(t, "export", "-d", db, "-n", "agent", "-o", in("agent.pem"), "--format", "pem", "--with-key")
	certMod := sh(t, d, "openssl", "x509", "-noout", "-pubkey", "-in", "agent.pem")
	keyMod := sh(t, d, "openssl", "pkey", "-pubout", "-in", "agent.pem")
	if certMod != keyMod {
		t.Errorf("exported key does not match the certificate")
	}

	// certdb add also joins a signed certificate to its request.
	must(t, "request", "-d", db, "-n", "client", "--cn", "pmclient", "--client", "--key-type", "rsa2048", "-o", in("client.csr"))
	sh(t, d, "openssl", "x509", "-req", "-in", "client.csr", "-CA", "rootCA.crt", "-CAkey", "rootCA.key", "-CAcreateserial", "-out", "client.crt", "-days", "30")
	out = must(t, "add", "-d", db, "-n", "client", "-i", in("client.crt"))
	if !strings.Contains(out, "to the key its request was made with, trust u,u,u") {
		t.Errorf("add said %q", out)
	}
	if keys := must(t, "keys", "-d", db); strings.Contains(keys, "pending") || strings.Count(keys, "\n") != 2 {
		t.Errorf("keys after receiving both: %q", keys)
	}

	// A pending key is only deleted with -F.
	must(t, "request", "-d", db, "-n", "spare", "--cn", "spare", "-o", "-")
	errs = fails(t, 1, "delete", "-d", db, "-n", "spare")
	if !strings.Contains(errs, "-F") {
		t.Errorf("delete pending: %s", errs)
	}
	if out := must(t, "delete", "-d", db, "-n", "spare", "-F"); out != "deleted the pending key \"spare\"\n" {
		t.Errorf("delete -F said %q", out)
	}
}

func TestRequestToStdout(t *testing.T) {
	db := filepath.Join(t.TempDir(), "db")
	out := must(t, "request", "-d", db, "-n", "x", "--cn", "x.example", "-o", "-")
	b, _ := pem.Decode([]byte(out))
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("stdout: %q", out)
	}
	if _, err := x509.ParseCertificateRequest(b.Bytes); err != nil {
		t.Fatal(err)
	}
}
