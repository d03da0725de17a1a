package tlsconfig

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
)

// These tests use databases made by the real certutil and pk12util, as PCP 5
// sites have them, and certificates made by openssl as the walkthrough makes
// them (CN only, no subjectAltName, no extendedKeyUsage).

// walkthroughPKI makes the walkthrough's files (16.3) in a temporary folder:
// rootCA, pmclient and pmserver keys, certificates and PKCS#12 files.
func walkthroughPKI(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	testcerts.WalkthroughPKI(t, d, func(string) string { return "secret" })
	return d
}

// nssWalkthrough fills the NSS database dir as 16.4 and 16.5 do for who
// ("pmserver" or "pmclient"); withCA false skips the certutil -A of the CA, so
// the CA arrives with the PKCS#12 file only, without trust.
func nssWalkthrough(t *testing.T, pkiDir, dir, who string, withCA bool) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	db := "sql:" + dir
	testcerts.Run(t, pkiDir, "certutil", "-d", db, "-N", "-f", "empty")
	if withCA {
		testcerts.Run(t, pkiDir, "certutil", "-d", db, "-A", "-t", "CT,,", "-n", "Root CA", "-i", "rootCA.crt")
	}
	testcerts.Run(t, pkiDir, "certutil", "-d", db, "-A", "-t", "P,,", "-n", who+"_cert", "-i", who+".crt")
	testcerts.Run(t, pkiDir, "pk12util", "-i", who+"_pkcs12.key", "-d", db, "-W", "secret", "-k", "empty")
}

// userHome points HOME at a fresh folder with no PCP variables set.
func userHomeForTest(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, v := range []string{EnvDBPath, EnvDBPasswordFile, EnvClientNickname, EnvTLSConf, EnvAllowSelfCert, EnvAllowBadDomain} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	return home
}

func fileSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

// sameFiles fails t unless dir holds exactly the files of before, unchanged: we
// only ever read an NSS database.
func sameFiles(t *testing.T, dir string, before map[string][32]byte) {
	t.Helper()
	after := fileSums(t, dir)
	if len(after) != len(before) {
		t.Errorf("the NSS database's files changed: %d -> %d", len(before), len(after))
	}
	for k, v := range after {
		if before[k] != v {
			t.Errorf("the NSS database's %s changed", k)
		}
	}
}

// TestNSSInPlaceWalkthrough: the collector's sql:/etc/pcp/nssdb and the user's
// ~/.pki/nssdb, made by certutil and pk12util exactly as the walkthrough says,
// work as they are: -Q with the database's T CA, the client found in
// ~/.pki/nssdb without PCP_SECURE_DB_PATH, its certificate presented, the
// server verified by the database's C CA. Attackers: a client without a
// certificate, one from another CA, and a man in the middle with a certificate
// of its own CA.
func TestNSSInPlaceWalkthrough(t *testing.T) {
	testcerts.NeedNSSTools(t)
	d := walkthroughPKI(t)
	srvDB := filepath.Join(t.TempDir(), "etc", "pcp", "nssdb")
	nssWalkthrough(t, d, srvDB, "pmserver", true)
	home := userHomeForTest(t)
	userDB := filepath.Join(home, ".pki", "nssdb")
	nssWalkthrough(t, d, userDB, "pmclient", true)
	before := fileSums(t, userDB)

	so := ServerOptions{Store: "sql:" + srvDB, Nickname: "pmserver_cert", RequireClientCert: true}
	srv, err := Server(so)
	if err != nil {
		t.Fatalf("collectord -C sql:%s -M pmserver_cert -Q: %v", srvDB, err)
	}
	files := strings.Join(so.Files(), " ")
	for _, f := range []string{"cert9.db", "key4.db"} {
		if !strings.Contains(files, filepath.Join(srvDB, f)) {
			t.Errorf("reload watch lacks %s: %s", f, files)
		}
	}

	o := ClientOptionsFromEnv(nil)
	if o.StoreDir != userDB || o.PinStoreDir() != filepath.Join(home, ".pki", "gopcp") {
		t.Fatalf("client store %q, pins %q", o.StoreDir, o.PinStoreDir())
	}
	o.AllowBadDomain = true // the walkthrough's CN is pmserver, we dial 127.0.0.1
	cc, err := Client(o)("127.0.0.1:44321")
	if err != nil {
		t.Fatal(err)
	}
	if ce, se := testcerts.Handshake(t, srv, cc); ce != nil || se != nil {
		t.Fatalf("walkthrough handshake: client %v, server %v", ce, se)
	}
	if !strings.Contains(o.Stores(), `NSS database sql:`+userDB+` (client certificate "pmclient_cert")`) {
		t.Errorf("Stores() = %q", o.Stores())
	}

	// A raw client without a certificate, and one whose certificate comes from
	// a CA the collector's database does not hold.
	if _, se := testcerts.Handshake(t, srv, &tls.Config{InsecureSkipVerify: true}); se == nil {
		t.Error("-Q server accepted a client without a certificate")
	}
	evilCA := testcerts.New(t, nil, testcerts.Options{CN: "myCA", IsCA: true})
	evil := testcerts.New(t, evilCA, testcerts.Options{CN: "pmclient", Client: true})
	if _, se := testcerts.Handshake(t, srv, rawClient(leafConfig(evil, evilCA))); se == nil {
		t.Error("server accepted a client certificate of another CA named like the real one")
	}
	// A man in the middle: its own CA, the collector's names.
	mitm := testcerts.New(t, evilCA, testcerts.Options{CN: "pmserver", Server: true})
	o.AllowBadDomain = true
	cc, _ = Client(o)("127.0.0.1")
	ce, _ := testcerts.Handshake(t, rawServer(leafConfig(mitm, evilCA)), cc)
	var ue *UntrustedError
	if !errors.As(ce, &ue) {
		t.Fatalf("man in the middle: %v", ce)
	}
	if !strings.Contains(ue.Error(), "NSS database sql:"+userDB) || !strings.Contains(ue.Error(), "certutil -A -d sql:"+userDB) {
		t.Errorf("the error does not name the database it used, or gives a certdb add for it: %s", ue)
	}
	sameFiles(t, userDB, before)
}

// TestNSSPinGoesToOwnStore: the user's NSS database got its CA from the
// PKCS#12 file only (no C). The error names that CA's nickname with certutil's
// -M; what pminfo accepts at its prompt is saved in ~/.pki/gopcp (0700), never
// in the NSS database, and afterwards both are read: the pin from one, the
// client certificate from the other.
func TestNSSPinGoesToOwnStore(t *testing.T) {
	testcerts.NeedNSSTools(t)
	d := walkthroughPKI(t)
	srvDB := filepath.Join(t.TempDir(), "nssdb")
	nssWalkthrough(t, d, srvDB, "pmserver", true)
	home := userHomeForTest(t)
	userDB := filepath.Join(home, ".pki", "nssdb")
	nssWalkthrough(t, d, userDB, "pmclient", false)
	before := fileSums(t, userDB)
	// The nickname pk12util gave the CA.
	caNick := ""
	for _, l := range strings.Split(testcerts.Run(t, d, "certutil", "-L", "-d", "sql:"+userDB), "\n") {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(l, "pmclient_cert") && strings.HasSuffix(strings.TrimSpace(l), ",,") {
			caNick = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(l), f[len(f)-1]))
		}
	}
	if caNick == "" {
		t.Fatal("no CA in certutil -L")
	}
	srv, err := Server(ServerOptions{Store: "sql:" + srvDB, Nickname: "pmserver_cert", RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	o := ClientOptionsFromEnv(nil)
	o.AllowBadDomain = true
	cc, err := Client(o)("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ce, _ := testcerts.Handshake(t, srv, cc)
	var ue *UntrustedError
	if !errors.As(ce, &ue) {
		t.Fatalf("want an untrusted server, got %v", ce)
	}
	want := "certutil -M -d sql:" + userDB + " -n '" + caNick + "' -t C,,"
	if caNick == strings.Trim(caNick, " ") && !strings.ContainsAny(caNick, " '") {
		want = "certutil -M -d sql:" + userDB + " -n " + caNick + " -t C,,"
	}
	if !strings.Contains(ue.Error(), want) || strings.Contains(ue.Error(), "certdb add") {
		t.Errorf("hint: %s\nwant %s", ue, want)
	}

	t.Logf("untrusted: %s", ue)
	// pminfo's prompt accepted it.
	nick, err := SavePeer(o.PinStoreDir(), "", ue.Host, ue.Cert)
	if err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(home, ".pki", "gopcp")
	if fi, err := os.Stat(own); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("%s: %v %v", own, fi, err)
	}
	st, err := store.Open(own, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(nick); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, userDB, before)
	// The next run reads both: the pin and the client certificate.
	o = ClientOptionsFromEnv(nil)
	if o.StoreDir != own || len(o.ExtraStoreDirs) != 1 || o.ExtraStoreDirs[0] != userDB {
		t.Fatalf("stores after the pin: %q %q", o.StoreDir, o.ExtraStoreDirs)
	}
	cc, err = Client(o)("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if ce, se := testcerts.Handshake(t, srv, cc); ce != nil || se != nil {
		t.Fatalf("after the pin: client %v, server %v", ce, se)
	}
}

// TestCertdbHintNamesHeldCA: the same state in a certdb store (the PKCS#12
// imported, the CA without trust): the hint is certdb trust with the CA's
// nickname, not an add that the store would refuse as a duplicate.
func TestCertdbHintNamesHeldCA(t *testing.T) {
	p := newPKI(t)
	dir := filepath.Join(t.TempDir(), "db")
	st, err := store.CreateWith(dir, nil, store.CreateOptions{TestOnlyFastKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddCert("myCA", p.ca.Cert, store.MustParseTrust(",,")); err != nil {
		t.Fatal(err)
	}
	srv, err := Server(ServerOptions{Store: p.serverDir, Nickname: "pmserver_cert"})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := Client(ClientOptions{StoreDir: dir})("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ce, _ := testcerts.Handshake(t, srv, cc)
	var ue *UntrustedError
	if !errors.As(ce, &ue) || !strings.Contains(ce.Error(), "certdb trust -d "+dir+" -n myCA -t C,,") || strings.Contains(ce.Error(), "certdb add") {
		t.Fatalf("hint: %v", ce)
	}
	// The hint works: run what it says, through the store API.
	if err := st.SetTrust("myCA", store.MustParseTrust("C,,")); err != nil {
		t.Fatal(err)
	}
	cc, _ = Client(ClientOptions{StoreDir: dir})("127.0.0.1")
	if ce, se := testcerts.Handshake(t, srv, cc); ce != nil || se != nil {
		t.Fatalf("after certdb trust: %v %v", ce, se)
	}
}

// TestNSSDistrustAcrossStores: a CA distrusted (p) in ~/.pki/gopcp is refused
// even though ~/.pki/nssdb trusts it; a hostile or stale trust in one store
// cannot outvote a distrust in the other.
func TestNSSDistrustAcrossStores(t *testing.T) {
	testcerts.NeedNSSTools(t)
	d := walkthroughPKI(t)
	srvDB := filepath.Join(t.TempDir(), "nssdb")
	nssWalkthrough(t, d, srvDB, "pmserver", true)
	home := userHomeForTest(t)
	nssWalkthrough(t, d, filepath.Join(home, ".pki", "nssdb"), "pmclient", true)
	own := filepath.Join(home, ".pki", "gopcp")
	st, err := store.CreateWith(own, nil, store.CreateOptions{TestOnlyFastKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddCert("bad CA", testcerts.ReadPEMCert(t, filepath.Join(d, "rootCA.crt")), store.MustParseTrust("p,,")); err != nil {
		t.Fatal(err)
	}
	srv, err := Server(ServerOptions{Store: "sql:" + srvDB, Nickname: "pmserver_cert"})
	if err != nil {
		t.Fatal(err)
	}
	o := ClientOptionsFromEnv(nil)
	o.AllowBadDomain, o.AllowSelfCert = true, true
	cc, err := Client(o)("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ce, _ := testcerts.Handshake(t, srv, cc)
	var de *DistrustedError
	if !errors.As(ce, &de) {
		t.Fatalf("want the distrusted CA refused, got %v", ce)
	}
}

// TestNSSServerErrors: a password-protected database without -P and with the
// wrong one, a nickname that is not there, a certificate without its key.
func TestNSSServerErrors(t *testing.T) {
	testcerts.NeedNSSTools(t)
	d := walkthroughPKI(t)
	dir := filepath.Join(t.TempDir(), "nssdb")
	os.MkdirAll(dir, 0o700)
	db := "sql:" + dir
	os.WriteFile(filepath.Join(d, "pw"), []byte("Geheim 1\n"), 0o600)
	testcerts.Run(t, d, "certutil", "-d", db, "-N", "-f", "pw")
	testcerts.Run(t, d, "certutil", "-d", db, "-A", "-t", "CT,,", "-n", "Root CA", "-i", "rootCA.crt", "-f", "pw")
	testcerts.Run(t, d, "certutil", "-d", db, "-A", "-t", "P,,", "-n", "client only", "-i", "pmclient.crt", "-f", "pw")
	testcerts.Run(t, d, "pk12util", "-i", "pmserver_pkcs12.key", "-d", db, "-W", "secret", "-k", "pw")
	for _, c := range []struct {
		pw, nick string
		want     []string
	}{
		{"", "pmserver", []string{"NSS database sql:" + dir, "empty password (no -P)", "does not open"}},
		{filepath.Join(d, "empty"), "pmserver", []string{"the password in " + filepath.Join(d, "empty") + " (-P)"}},
		{filepath.Join(d, "pw"), "nobody", []string{`no certificate "nobody"`, "certutil -L -d sql:" + dir}},
		{filepath.Join(d, "pw"), "client only", []string{"has no private key", "pk12util -i"}},
	} {
		_, err := Server(ServerOptions{Store: db, Nickname: c.nick, PasswordFile: c.pw})
		if err == nil {
			t.Errorf("%q %q: accepted", c.pw, c.nick)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q %q: %v lacks %q", c.pw, c.nick, err, w)
			}
		}
	}
	// pk12util names the identity by the certificate's subject here.
	nick := ""
	for _, l := range strings.Split(testcerts.Run(t, d, "certutil", "-L", "-d", db), "\n") {
		if strings.Contains(l, "u,u,u") {
			nick = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(l), "u,u,u"))
		}
	}
	if _, err := Server(ServerOptions{Store: db, Nickname: nick, PasswordFile: filepath.Join(d, "pw")}); err != nil {
		t.Errorf("with the right password, %q: %v", nick, err)
	}
}

// TestNSSLegacyRefusedThenUpgraded: a DBM database (cert8.db, as NSS before
// 3.49 made them) and the sql database NSS converts it to (keys still under
// 3DES) are refused with the upgrade command; running that command with the
// real certutil makes the database usable.
func TestNSSLegacyRefusedThenUpgraded(t *testing.T) {
	testcerts.NeedNSSTools(t)
	d := walkthroughPKI(t)
	dir := filepath.Join(t.TempDir(), "nssdb")
	os.MkdirAll(dir, 0o700)
	cmd := exec.Command("certutil", "-N", "-d", "dbm:"+dir, "-f", "empty")
	cmd.Dir = d
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("this NSS cannot make DBM databases: %v %s", err, out)
	}
	testcerts.Run(t, d, "certutil", "-d", "dbm:"+dir, "-A", "-t", "CT,,", "-n", "Root CA", "-i", "rootCA.crt")
	testcerts.Run(t, d, "pk12util", "-i", "pmserver_pkcs12.key", "-d", "dbm:"+dir, "-W", "secret", "-k", "empty")
	so := ServerOptions{Store: "sql:" + dir, Nickname: "pmserver", PasswordFile: filepath.Join(d, "empty")}
	check := func(what, want string) {
		t.Helper()
		_, err := Server(so)
		var le *LegacyNSSError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "certutil -W -d sql:"+dir) || !strings.Contains(err.Error(), "certdb import-nss") {
			t.Fatalf("%s: %v", what, err)
		}
	}
	check("DBM", "cert8.db")
	_, err := Server(so)
	t.Logf("DBM: %v", err)
	// Any write with sql: converts the files, keeping the old key encryption.
	testcerts.Run(t, d, "certutil", "-M", "-d", "sql:"+dir, "-n", "Root CA", "-t", "CT,,", "-f", "empty")
	check("converted", "PBE-SHA1-3DES")
	// The upgrade the message gives.
	testcerts.Run(t, d, "certutil", "-W", "-d", "sql:"+dir, "-f", "empty", "-@", "empty")
	nick := ""
	for _, l := range strings.Split(testcerts.Run(t, d, "certutil", "-L", "-d", "sql:"+dir), "\n") {
		if strings.Contains(l, "u,u,u") {
			nick = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(l), "u,u,u"))
		}
	}
	so.Nickname = nick
	if _, err := Server(so); err != nil {
		t.Fatalf("after certutil -W: %v", err)
	}
}

// TestNSSCRLInPlace: a CRL imported into the collector's NSS database with
// crlutil refuses the client it lists; a CRL signed by another key is a
// configuration error, not ignored.
func TestNSSCRLInPlace(t *testing.T) {
	testcerts.NeedNSSTools(t)
	if _, err := exec.LookPath("crlutil"); err != nil {
		t.Skip("crlutil not found (libnss3-tools)")
	}
	d := walkthroughPKI(t)
	srvDB := filepath.Join(t.TempDir(), "nssdb")
	nssWalkthrough(t, d, srvDB, "pmserver", true)
	ca := testcerts.ReadPEMCert(t, filepath.Join(d, "rootCA.crt"))
	kb, _ := os.ReadFile(filepath.Join(d, "rootCA.key"))
	blk, _ := pem.Decode(kb)
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	client := testcerts.ReadPEMCert(t, filepath.Join(d, "pmclient.crt"))
	id, err := tls.LoadX509KeyPair(filepath.Join(d, "pmclient.crt"), filepath.Join(d, "pmclient.key"))
	if err != nil {
		t.Fatal(err)
	}
	so := ServerOptions{Store: "sql:" + srvDB, Nickname: "pmserver_cert", RequireClientCert: true}
	srv, err := Server(so)
	if err != nil {
		t.Fatal(err)
	}
	if _, se := testcerts.Handshake(t, srv, rawClient(id)); se != nil {
		t.Fatalf("before the CRL: %v", se)
	}
	// Go checks keyUsage before signing; the walkthrough's CA has none (any use).
	signing := *ca
	signing.KeyUsage |= x509.KeyUsageCRLSign
	crl := func(signer crypto.Signer) string {
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(24 * time.Hour),
			RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: client.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)}}}, &signing, signer)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "ca.crl")
		os.WriteFile(f, der, 0o600)
		return f
	}
	testcerts.Run(t, d, "crlutil", "-I", "-i", crl(key.(crypto.Signer)), "-t", "1", "-d", "sql:"+srvDB, "-f", "empty")
	if srv, err = Server(so); err != nil {
		t.Fatal(err)
	}
	var re *RevokedError
	if _, se := testcerts.Handshake(t, srv, rawClient(id)); !errors.As(se, &re) {
		t.Fatalf("after crlutil -I the revoked client got %v", se)
	}
}

// TestNSSHostileDatabase: a database others may write is refused with the
// chmod that fixes it (anyone could have added a trusted CA); a nickname with
// terminal control sequences reaches no error line raw.
func TestNSSHostileDatabase(t *testing.T) {
	testcerts.NeedNSSTools(t)
	d := walkthroughPKI(t)
	dir := filepath.Join(t.TempDir(), "nssdb")
	nssWalkthrough(t, d, dir, "pmserver", true)
	so := ServerOptions{Store: "sql:" + dir, Nickname: "pmserver_cert"}
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "cert9.db"), "chmod go-w " + filepath.Join(dir, "cert9.db")},
		{filepath.Join(dir, "key4.db"), "chmod go-w " + filepath.Join(dir, "key4.db")},
		{dir, "chmod go-w " + dir},
	} {
		fi, _ := os.Stat(c.path)
		os.Chmod(c.path, fi.Mode().Perm()|0o022)
		if _, err := Server(so); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s writable by others: %v", c.path, err)
		}
		os.Chmod(c.path, fi.Mode().Perm())
	}
	if _, err := Server(so); err != nil {
		t.Fatalf("after chmod go-w: %v", err)
	}

	// A CA held under a hostile nickname, without C.
	home := userHomeForTest(t)
	user := filepath.Join(home, ".pki", "nssdb")
	os.MkdirAll(user, 0o755)
	testcerts.Run(t, d, "certutil", "-d", "sql:"+user, "-N", "-f", "empty")
	testcerts.Run(t, d, "certutil", "-d", "sql:"+user, "-A", "-t", ",,", "-n", "evil\x1b[2J\x1b]0;pwned\a", "-i", "rootCA.crt")
	srv, err := Server(so)
	if err != nil {
		t.Fatal(err)
	}
	o := ClientOptionsFromEnv(nil)
	o.AllowBadDomain = true
	cc, err := Client(o)("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ce, _ := testcerts.Handshake(t, srv, cc)
	var ue *UntrustedError
	if !errors.As(ce, &ue) || !strings.Contains(ue.Error(), "certutil -M") {
		t.Fatalf("want the certutil -M hint, got %v", ce)
	}
	for _, bad := range []string{"\x1b", "\a"} {
		if strings.Contains(ue.Error(), bad) || strings.Contains(o.Stores(), bad) {
			t.Errorf("raw %q in %q / %q", bad, ue.Error(), o.Stores())
		}
	}
}

// TestNSSFromSecureDBPath: PCP_SECURE_DB_PATH=sql:DIR names an NSS database
// (with a password, given by PCP_SECURE_DB_PASSWORD_FILE): it is read in
// place, pins would go to ~/.pki/gopcp, and a wrong password is an error
// naming the variable. A certdb store there keeps its pins itself.
func TestNSSFromSecureDBPath(t *testing.T) {
	testcerts.NeedNSSTools(t)
	d := walkthroughPKI(t)
	srvDB := filepath.Join(t.TempDir(), "srv")
	nssWalkthrough(t, d, srvDB, "pmserver", true)
	home := userHomeForTest(t)
	dir := filepath.Join(t.TempDir(), "mine")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(d, "pw"), []byte("s3cret\n"), 0o600)
	db := "sql:" + dir
	testcerts.Run(t, d, "certutil", "-d", db, "-N", "-f", "pw")
	testcerts.Run(t, d, "certutil", "-d", db, "-A", "-t", "CT,,", "-n", "Root CA", "-i", "rootCA.crt", "-f", "pw")
	testcerts.Run(t, d, "pk12util", "-i", "pmclient_pkcs12.key", "-d", db, "-W", "secret", "-k", "pw")
	srv, err := Server(ServerOptions{Store: "sql:" + srvDB, Nickname: "pmserver_cert", RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDBPath, db)
	t.Setenv(EnvDBPasswordFile, filepath.Join(d, "empty"))
	o := ClientOptionsFromEnv(nil)
	if o.StoreDir != dir || o.PinStoreDir() != filepath.Join(home, ".pki", "gopcp") {
		t.Fatalf("store %q pins %q", o.StoreDir, o.PinStoreDir())
	}
	o.AllowBadDomain = true
	if _, err := Client(o)("127.0.0.1"); err == nil || !strings.Contains(err.Error(), EnvDBPasswordFile) || !strings.Contains(err.Error(), dir) {
		t.Errorf("wrong password: %v", err)
	}
	t.Setenv(EnvDBPasswordFile, filepath.Join(d, "pw"))
	o = ClientOptionsFromEnv(nil)
	o.AllowBadDomain = true
	cc, err := Client(o)("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if ce, se := testcerts.Handshake(t, srv, cc); ce != nil || se != nil {
		t.Fatalf("client %v, server %v", ce, se)
	}
	// A certdb store named by the variable keeps its own pins.
	st := makeStore(t, testcerts.New(t, nil, testcerts.Options{CN: "x", IsCA: true}), "", nil)
	t.Setenv(EnvDBPath, st)
	if o := ClientOptionsFromEnv(nil); o.PinStoreDir() != st || len(o.ExtraStoreDirs) != 0 {
		t.Errorf("certdb store: pins %q, extra %q", o.PinStoreDir(), o.ExtraStoreDirs)
	}
}
