package tlsconfig

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
)

// makeCRL signs a CRL by ca listing revoked, with next update at next.
func makeCRL(t *testing.T, ca *testcerts.Cert, number int64, next time.Time, revoked ...*testcerts.Cert) *x509.RevocationList {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: next}
	for _, r := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: r.Cert.SerialNumber, RevocationTime: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func crlPEM(l *x509.RevocationList) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: l.Raw})
}

func writeTestFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// crlConf is a server tls.conf in a folder: identity, CA file, and extra lines.
func crlConf(t *testing.T, ca, server *testcerts.Cert, extra string) (dir, conf string) {
	t.Helper()
	dir = t.TempDir()
	writeTestFile(t, filepath.Join(dir, "ca.crt"), ca.CertPEM())
	writeTestFile(t, filepath.Join(dir, "server.crt"), server.CertPEM())
	if err := os.WriteFile(filepath.Join(dir, "server.key"), server.KeyPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	conf = writeTestFile(t, filepath.Join(dir, "tls.conf"), []byte(
		"tls-cert-file = server.crt\ntls-key-file = server.key\ntls-ca-cert-file = ca.crt\ntls-verify-clients = true\n"+extra))
	return dir, conf
}

// clientCfg presents id (with the chain extra) and trusts any server: the
// attacker's side of a client-certificate check.
func clientCfg(id *testcerts.Cert, extra ...*testcerts.Cert) *tls.Config {
	chain := [][]byte{id.Cert.Raw}
	for _, e := range extra {
		chain = append(chain, e.Cert.Raw)
	}
	// GetClientCertificate sends it whatever CAs the server asks for.
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &tls.Certificate{Certificate: chain, PrivateKey: id.Key}, nil
		}}
}

// TestServerRefusesRevokedClient: a client whose certificate a CRL of its CA
// lists is refused, and the error names it (subject, serial, SHA-256, date); one
// the CRL does not list is served. PEM and DER files, tls-crl-file and
// tls-crl-dir, and the TOML list (CRLFiles) all work.
func TestServerRefusesRevokedClient(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "CRL CA", IsCA: true})
	server := testcerts.New(t, ca, testcerts.Options{CN: "server", Server: true, DNS: []string{"localhost"}})
	revoked := testcerts.New(t, ca, testcerts.Options{CN: "revoked\x1b[2Jclient", Client: true})
	good := testcerts.New(t, ca, testcerts.Options{CN: "good", Client: true})
	crl := makeCRL(t, ca, 1, time.Now().Add(24*time.Hour), revoked)
	for _, tc := range []struct {
		name  string
		setup func(dir string) (extra string, files []string)
	}{
		{"PEM tls-crl-file", func(dir string) (string, []string) {
			writeTestFile(t, filepath.Join(dir, "ca.crl"), crlPEM(crl))
			return "tls-crl-file = ca.crl\n", nil
		}},
		{"DER in a comma list", func(dir string) (string, []string) {
			writeTestFile(t, filepath.Join(dir, "ca.der"), crl.Raw)
			other := makeCRL(t, ca, 2, time.Now().Add(time.Hour))
			writeTestFile(t, filepath.Join(dir, "other.pem"), crlPEM(other))
			return "tls-crl-file = other.pem, ca.der\n", nil
		}},
		{"tls-crl-dir", func(dir string) (string, []string) {
			os.Mkdir(filepath.Join(dir, "crls"), 0o755)
			writeTestFile(t, filepath.Join(dir, "crls", "ca.pem"), crlPEM(crl))
			return "tls-crl-dir = crls\n", nil
		}},
		{"crl_files (TOML)", func(dir string) (string, []string) {
			return "", []string{writeTestFile(t, filepath.Join(dir, "x.crl"), crlPEM(crl))}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			extra, files := tc.setup(dir)
			_, conf := crlConf(t, ca, server, "")
			if extra != "" {
				// Relative names are relative to the tls.conf: put it beside the CRLs.
				b, _ := os.ReadFile(conf)
				b = bytes.ReplaceAll(b, []byte("= server"), []byte("= "+filepath.Dir(conf)+"/server"))
				b = bytes.ReplaceAll(b, []byte("= ca.crt"), []byte("= "+filepath.Dir(conf)+"/ca.crt"))
				conf = writeTestFile(t, filepath.Join(dir, "tls.conf"), append(b, extra...))
			}
			srv, err := Server(ServerOptions{TLSConf: conf, CRLFiles: files})
			if err != nil {
				t.Fatal(err)
			}
			_, serr := testcerts.Handshake(t, srv, clientCfg(revoked))
			var re *RevokedError
			if !errors.As(serr, &re) {
				t.Fatalf("revoked client: server error %v, want a RevokedError", serr)
			}
			msg := serr.Error()
			for _, w := range []string{`client certificate "CN=revoked\x1b[2Jclient`, strings.ToUpper(revoked.Cert.SerialNumber.Text(16)),
				Fingerprint(revoked.Cert), "2026-03-04T05:06:07Z", "CN=CRL CA"} {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q: %s", w, msg)
				}
			}
			if strings.Contains(msg, "\x1b") {
				t.Errorf("control character from the certificate in the error: %q", msg)
			}
			if cerr, serr := testcerts.Handshake(t, srv, clientCfg(good)); cerr != nil || serr != nil {
				t.Fatalf("good client refused: %v / %v", cerr, serr)
			}
		})
	}
}

// TestCRLLoadErrors: a CRL that nobody configured signed, one forged under the
// CA's name, an unreadable file and garbage are configuration errors naming the
// file, never a server that runs without the revocation it was given.
func TestCRLLoadErrors(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "Real CA", IsCA: true})
	server := testcerts.New(t, ca, testcerts.Options{CN: "server", Server: true})
	other := testcerts.New(t, nil, testcerts.Options{CN: "Other CA", IsCA: true})
	// A forger's CA with the real CA's name but its own key.
	forger := testcerts.New(t, nil, testcerts.Options{CN: "Real CA", IsCA: true})
	dir, conf := crlConf(t, ca, server, "")
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"wrong CA", "not a configured CA", crlPEM(makeCRL(t, other, 1, time.Now().Add(time.Hour)))},
		{"forged signature", "signature does not verify", crlPEM(makeCRL(t, forger, 1, time.Now().Add(time.Hour)))},
		{"garbage", "neither PEM nor a DER CRL", []byte("\x30\x82\xff\xff garbage")},
		{"PEM without a CRL", "no X509 CRL PEM block", ca.CertPEM()},
		{"truncated DER", "CRL", makeCRL(t, ca, 1, time.Now().Add(time.Hour)).Raw[:40]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := writeTestFile(t, filepath.Join(dir, "bad.crl"), tc.data)
			_, err := Server(ServerOptions{TLSConf: conf, CRLFiles: []string{f}})
			if err == nil || !strings.Contains(err.Error(), f) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s and %q", err, f, tc.want)
			}
		})
	}
	_, err := Server(ServerOptions{TLSConf: conf, CRLFiles: []string{filepath.Join(dir, "missing.crl")}})
	if err == nil || !strings.Contains(err.Error(), "missing.crl") {
		t.Fatalf("missing CRL file: %v", err)
	}
}

// TestRevokedIntermediate: the root's CRL revokes an intermediate CA; a client
// certificate it issued is refused whether the client sends the intermediate or
// the server's store holds it, while another intermediate's clients are served.
func TestRevokedIntermediate(t *testing.T) {
	root := testcerts.New(t, nil, testcerts.Options{CN: "Root", IsCA: true})
	badCA := testcerts.New(t, root, testcerts.Options{CN: "Bad Intermediate", IsCA: true})
	okCA := testcerts.New(t, root, testcerts.Options{CN: "Good Intermediate", IsCA: true})
	server := testcerts.New(t, root, testcerts.Options{CN: "server", Server: true})
	victim := testcerts.New(t, badCA, testcerts.Options{CN: "under the bad CA", Client: true})
	fine := testcerts.New(t, okCA, testcerts.Options{CN: "under the good CA", Client: true})

	dir := filepath.Join(t.TempDir(), "db")
	st, err := store.CreateWith(dir, nil, store.CreateOptions{TestOnlyFastKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	st.AddCert("Root", root.Cert, store.MustParseTrust("CT,,"))
	st.AddCert("Bad Intermediate", badCA.Cert, store.Trust{})
	if _, err := st.AddIdentity("server", server.Cert, server.Key, store.Trust{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AddCRL(makeCRL(t, root, 1, time.Now().Add(time.Hour), badCA).Raw); err != nil {
		t.Fatal(err)
	}
	srv, err := Server(ServerOptions{Store: dir, Nickname: "server", RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cli  *tls.Config
	}{{"intermediate sent", clientCfg(victim, badCA)}, {"intermediate from the store", clientCfg(victim)}} {
		_, serr := testcerts.Handshake(t, srv, tc.cli)
		var re *RevokedError
		if !errors.As(serr, &re) || !re.Cert.Equal(badCA.Cert) || !strings.Contains(serr.Error(), "CA certificate in the chain of the client certificate") {
			t.Fatalf("%s: %v", tc.name, serr)
		}
	}
	if _, serr := testcerts.Handshake(t, srv, clientCfg(fine, okCA)); serr != nil {
		t.Fatalf("client of the good intermediate refused: %v", serr)
	}
}

// TestStaleCRLStillUsed: a CRL past its next update is logged as such and still
// refuses what it lists.
func TestStaleCRLStillUsed(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "CA", IsCA: true})
	server := testcerts.New(t, ca, testcerts.Options{CN: "server", Server: true})
	revoked := testcerts.New(t, ca, testcerts.Options{CN: "revoked", Client: true})
	stale := makeCRL(t, ca, 1, time.Now().Add(-time.Second), revoked)
	dir, conf := crlConf(t, ca, server, "")
	f := writeTestFile(t, filepath.Join(dir, "stale.crl"), crlPEM(stale))
	var log bytes.Buffer
	srv, err := Server(ServerOptions{TLSConf: conf, CRLFiles: []string{f}, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "CRL is past its next update") || !strings.Contains(log.String(), f) {
		t.Fatalf("no stale warning:\n%s", log.String())
	}
	var re *RevokedError
	if _, serr := testcerts.Handshake(t, srv, clientCfg(revoked)); !errors.As(serr, &re) {
		t.Fatalf("stale CRL not applied: %v", serr)
	}
	if n := strings.Count(log.String(), "past its next update"); n != 1 {
		t.Fatalf("stale warning logged %d times, want once", n)
	}
}

// TestClientRefusesRevokedServer: pminfo's and proxyd's client refuses a server
// certificate listed by a CRL in the user's store, even when it chains to a
// trusted CA, is pinned (P,,) or PCP_ALLOW_SERVER_SELF_CERT is set; the trust
// prompt is not offered for it.
func TestClientRefusesRevokedServer(t *testing.T) {
	p := newPKI(t)
	srvCfg, err := Server(ServerOptions{Store: p.serverDir, Nickname: "pmserver_cert"})
	if err != nil {
		t.Fatal(err)
	}
	cliStore := makeStore(t, p.ca, "", nil)
	st, err := store.Open(cliStore, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := ClientOptions{StoreDir: cliStore, TLSConf: "", Warn: &bytes.Buffer{}}
	cfg, err := o.config("localhost")
	if err != nil {
		t.Fatal(err)
	}
	if cerr, _ := testcerts.Handshake(t, srvCfg, cfg); cerr != nil {
		t.Fatalf("before the CRL: %v", cerr)
	}
	if _, _, err := st.AddCRL(makeCRL(t, p.ca, 1, time.Now().Add(time.Hour), p.server).Raw); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    ClientOptions
		pin  bool
	}{
		{"chained", o, false},
		{"ALLOW_SERVER_SELF_CERT", ClientOptions{StoreDir: cliStore, AllowSelfCert: true, AllowBadDomain: true, Warn: &bytes.Buffer{}}, false},
		{"pinned", o, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pin {
				if _, err := st.AddCert("pinned server", p.server.Cert, store.MustParseTrust("P,,")); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := tc.o.config("localhost")
			if err != nil {
				t.Fatal(err)
			}
			cerr, _ := testcerts.Handshake(t, srvCfg, cfg)
			var re *RevokedError
			if !errors.As(cerr, &re) || !re.Cert.Equal(p.server.Cert) || !strings.Contains(cerr.Error(), "server certificate") {
				t.Fatalf("revoked server accepted or wrong error: %v", cerr)
			}
			if ok, _ := Prompt(cerr, strings.NewReader("y\n"), &bytes.Buffer{}); ok {
				t.Fatal("the trust prompt offered a revoked certificate")
			}
		})
	}
}

// TestClientCRLFromTLSConf: PCP_TLSCONF_PATH's tls-crl-file applies to the client,
// with the CA of tls-ca-cert-file.
func TestClientCRLFromTLSConf(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "CA", IsCA: true})
	server := testcerts.New(t, ca, testcerts.Options{CN: "server", Server: true, DNS: []string{"localhost"}})
	dir, srvConf := crlConf(t, ca, server, "")
	srvCfg, err := Server(ServerOptions{TLSConf: srvConf})
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "ca.crl"), crlPEM(makeCRL(t, ca, 1, time.Now().Add(time.Hour), server)))
	conf := writeTestFile(t, filepath.Join(dir, "client.conf"), []byte("tls-ca-cert-file = ca.crt\ntls-crl-file = ca.crl\n"))
	cfg, err := ClientOptions{StoreDir: filepath.Join(dir, "nostore"), TLSConf: conf}.config("localhost")
	if err != nil {
		t.Fatal(err)
	}
	cerr, _ := testcerts.Handshake(t, srvCfg, cfg)
	var re *RevokedError
	if !errors.As(cerr, &re) {
		t.Fatalf("revoked server accepted: %v", cerr)
	}
}

// TestOpenSSLCRL: CRLs made by `openssl ca -gencrl` (PEM, and DER through
// `openssl crl -outform DER`) revoke what openssl revoked.
func TestOpenSSLCRL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (apt-get install openssl)")
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	writeTestFile(t, filepath.Join(dir, "index.txt"), nil)
	writeTestFile(t, filepath.Join(dir, "crlnumber"), []byte("1000\n"))
	writeTestFile(t, filepath.Join(dir, "ca.cnf"), []byte(`[ca]
default_ca = local
[local]
database = index.txt
crlnumber = crlnumber
default_md = sha256
default_crl_days = 7
[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
[client]
extendedKeyUsage = clientAuth
[server]
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
`))
	run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
		"-subj", "/CN=OpenSSL CA", "-days", "30", "-config", "ca.cnf", "-extensions", "v3_ca")
	for _, n := range []string{"server", "alice", "bob"} {
		run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", n+".key", "-out", n+".csr", "-subj", "/CN="+n, "-config", "ca.cnf")
		ext := "client"
		if n == "server" {
			ext = "server"
		}
		run("x509", "-req", "-in", n+".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", n+".crt", "-days", "30",
			"-extfile", "ca.cnf", "-extensions", ext)
	}
	run("ca", "-config", "ca.cnf", "-revoke", "alice.crt", "-keyfile", "ca.key", "-cert", "ca.crt", "-crl_reason", "keyCompromise")
	run("ca", "-config", "ca.cnf", "-gencrl", "-keyfile", "ca.key", "-cert", "ca.crt", "-out", "ca.crl.pem")
	run("crl", "-in", "ca.crl.pem", "-outform", "DER", "-out", "ca.crl.der")
	conf := writeTestFile(t, filepath.Join(dir, "tls.conf"), []byte("tls-cert-file = server.crt\ntls-key-file = server.key\ntls-ca-cert-file = ca.crt\n"))
	for _, crl := range []string{"ca.crl.pem", "ca.crl.der"} {
		srv, err := Server(ServerOptions{TLSConf: conf, CRLFiles: []string{filepath.Join(dir, crl)}})
		if err != nil {
			t.Fatalf("%s: %v", crl, err)
		}
		for _, who := range []string{"alice", "bob"} {
			kp, err := tls.LoadX509KeyPair(filepath.Join(dir, who+".crt"), filepath.Join(dir, who+".key"))
			if err != nil {
				t.Fatal(err)
			}
			_, serr := testcerts.Handshake(t, srv, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{kp}})
			var re *RevokedError
			if revoked := errors.As(serr, &re); revoked != (who == "alice") {
				t.Errorf("%s with %s: %v", who, crl, serr)
			}
		}
	}
}

// TestCRLFilesWatched: Files lists every CRL file and folder, so the daemons'
// watch reloads them; a store's crl/ folder is listed before it exists.
func TestCRLFilesWatched(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "CA", IsCA: true})
	server := testcerts.New(t, ca, testcerts.Options{CN: "server", Server: true})
	dir, conf := crlConf(t, ca, server, "tls-crl-file = a.crl, b.crl\ntls-crl-dir = crls\n")
	os.Mkdir(filepath.Join(dir, "crls"), 0o755)
	writeTestFile(t, filepath.Join(dir, "crls", "x.pem"), nil)
	files := ServerOptions{TLSConf: conf, CRLFiles: []string{"/etc/extra.crl"}}.Files()
	for _, w := range []string{filepath.Join(dir, "a.crl"), filepath.Join(dir, "b.crl"), filepath.Join(dir, "crls"),
		filepath.Join(dir, "crls", "x.pem"), "/etc/extra.crl"} {
		if !slices.Contains(files, w) {
			t.Errorf("Files() lacks %s: %v", w, files)
		}
	}
	files = ServerOptions{Store: "/srv/db", Nickname: "n"}.Files()
	if !slices.Contains(files, filepath.Join("/srv/db", store.CRLDirName)) {
		t.Errorf("store crl folder not watched: %v", files)
	}
}

// BenchmarkCRL: loading a CRL of 10,000 entries (once per reload, or per client
// connection), and the check added to one handshake.
func BenchmarkCRL(b *testing.B) {
	ca := testcerts.New(b, nil, testcerts.Options{CN: "CA", IsCA: true})
	leaf := testcerts.New(b, ca, testcerts.Options{CN: "client", Client: true})
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}
	for i := range 10000 {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: big.NewInt(int64(1e6 + i)), RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		b.Fatal(err)
	}
	f := filepath.Join(b.TempDir(), "big.crl")
	os.WriteFile(f, der, 0o644)
	in := crlInputs{files: []string{f}, cas: []*x509.Certificate{ca.Cert}}
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			if _, err := loadCRLs(in, time.Now(), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	set, _ := loadCRLs(in, time.Now(), nil)
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			if err := set.CheckPeer([]*x509.Certificate{leaf.Cert}, "client certificate", time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
