package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gopcp/gopcp/certdb/check"
	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/safetext"
	"github.com/gopcp/gopcp/internal/shellquote"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/tlsconfig"
)

// verifyOptions are collectord verify's flags; its command table is in main.go
// (verifyCommand), with its help.
type verifyOptions struct {
	opts         *options
	secure       bool
	clientStore  string
	clientPWFile string
	clientNick   string
	timeout      float64
}

// verifier runs the checks and prints their lines.
type verifier struct {
	w                io.Writer
	pass, warn, fail int
	now              time.Time
}

func (v *verifier) line(status, name, msg, fix string) {
	s := fmt.Sprintf("%s %s: %s", status, name, msg)
	if fix != "" {
		s += "; fix: " + fix
	}
	fmt.Fprintln(v.w, s)
}

func (v *verifier) ok(name, format string, args ...any) {
	v.pass++
	v.line("PASS", name, fmt.Sprintf(format, args...), "")
}

func (v *verifier) warning(name, msg, fix string) {
	v.warn++
	v.line("WARN", name, msg, fix)
}

func (v *verifier) failed(name, msg, fix string) {
	v.fail++
	v.line("FAIL", name, msg, fix)
}

// runVerify is collectord verify's action, its flags parsed.
func runVerify(vo *verifyOptions, stdout, stderr io.Writer) int {
	if !vo.secure {
		fmt.Fprintln(stderr, "collectord verify: say what to verify: --secure (the only check so far)\nRun 'collectord verify --help' for usage.")
		return 2
	}
	if vo.timeout <= 0 {
		fmt.Fprintln(stderr, "collectord verify: --timeout must be positive")
		return 2
	}
	v := &verifier{w: stdout, now: time.Now()}
	v.run(vo)
	fmt.Fprintf(stdout, "%d passed, %d warnings, %d failed\n", v.pass, v.warn, v.fail)
	if v.fail > 0 {
		return 1
	}
	return 0
}

// identity is what the checks learn about the server certificate.
type identity struct {
	leaf *x509.Certificate
}

// report prints the results of certdb/check, the one certificate checker, as
// verify lines.
func (v *verifier) report(rs ...check.Result) {
	for _, r := range rs {
		switch r.Status {
		case check.Pass:
			v.pass++
		case check.Warn:
			v.warn++
		default:
			v.fail++
		}
		fmt.Fprintln(v.w, r.String())
	}
}

func (v *verifier) run(vo *verifyOptions) {
	o := vo.opts
	path, required := o.configPath()
	cfg, err := loadConfig(o)
	if err != nil {
		v.failed("config", safetext.Escape(err.Error())+"; correct the file, then check it with collectord --check-config --config "+shellquote.Quote(path), "")
		return
	}
	if _, serr := os.Stat(path); serr != nil && !required {
		v.ok("config", "no %s; using the flags and defaults", safetext.Escape(path))
	} else {
		v.ok("config", "%s loaded", safetext.Escape(path))
	}
	if !cfg.TLS.Enabled() {
		v.failed("identity", "no server certificate configured: the collector serves plain text only; set tls.cert_db and tls.nickname in "+
			path+" (or -C DIR -M NICK), tls.tls_conf (--tls-conf FILE) or tls.keystore; certdb quickstart makes a store", "")
		return
	}
	host := connectHost(vo, cfg)
	// The certificate is checked for this machine too: its names, and the
	// addresses clients reach it at.
	this := &check.Machine{Names: hostNames(), Addrs: hostAddrs(host)}
	var id *identity
	if cfg.TLS.Keystore != "" {
		id = v.checkKeystore(cfg.TLS, this) // verify_keystore.go
	} else if cfg.TLS.CertDB != "" && tlsconfig.IsNSSDatabase(cfg.TLS.CertDB) {
		id = v.checkNSS(cfg.TLS, this) // verify_nss.go
	} else if cfg.TLS.CertDB != "" {
		id = v.checkStore(cfg.TLS, this)
	} else {
		id = v.checkTLSConf(cfg.TLS, this)
	}
	if id == nil {
		return
	}
	v.checkClientPolicy(cfg.TLS)
	copts := v.checkClientIdentity(vo, cfg.TLS)
	v.checkConnection(vo, cfg, id, host, copts)
}

// checkStore opens the store as the daemon would and checks the identity with
// certdb/check.
func (v *verifier) checkStore(c TLSConfig, this *check.Machine) *identity {
	dir := c.CertDB
	v.checkPerms("permissions", dir, true, shellquote.Join("chmod", "700", dir))
	if c.PasswordFile != "" {
		v.checkPerms("permissions", c.PasswordFile, false, shellquote.Join("chmod", "600", c.PasswordFile))
	}
	if !store.Exists(dir) {
		v.failed("store", "no certificate store in "+safetext.Escape(dir)+
			"; point tls.cert_db (-C) at the store, or make one with certdb quickstart (its server folder is the collector's store)", "")
		return nil
	}
	pw, err := tlsconfig.ReadPassword(c.PasswordFile)
	if err != nil {
		v.failed("store", safetext.Escape(err.Error())+"; make the password file readable by the collector's user, or drop -P for an empty password", "")
		return nil
	}
	st, err := store.Open(dir, pw)
	switch {
	case errors.Is(err, store.ErrBadPassword):
		v.failed("store", safetext.Escape(err.Error())+"; give the store's password file with -P (tls.password_file)", "")
		return nil
	case errors.Is(err, store.ErrLooseKeyPermissions):
		v.failed("store", safetext.Escape(err.Error()), shellquote.Join("chmod", "600", filepath.Join(dir, store.FileName)))
		return nil
	case errors.Is(err, fs.ErrPermission):
		v.failed("store", safetext.Escape(err.Error())+"; run as the collector's user (sudo -u gopcp collectord verify --secure), or give that user the store", "")
		return nil
	case err != nil:
		v.failed("store", safetext.Escape(err.Error())+"; inspect it with "+shellquote.Join("certdb", "list", "-d", dir), "")
		return nil
	}
	v.ok("store", "%s opened (%d certificates)", safetext.Escape(dir), len(st.List()))
	e, err := st.Get(c.Nickname)
	if err != nil {
		var nicks []string
		for _, e := range st.Identities() {
			nicks = append(nicks, strconv.Quote(e.Nickname))
		}
		msg := fmt.Sprintf("no certificate %q in %s; ", c.Nickname, safetext.Escape(dir))
		if len(nicks) > 0 {
			msg += "use one of the store's identities with -M (tls.nickname): " + strings.Join(nicks, ", ")
		} else {
			msg += "the store holds no certificate with a key: import one with certdb import -d " + shellquote.Quote(dir) + " -i PKCS12-FILE"
		}
		v.failed("nickname", msg, "")
		return nil
	}
	v.ok("nickname", "%q found", c.Nickname)
	rep, err := check.InStore(st, c.Nickname, check.StoreOptions{Role: check.RoleServer, Now: v.now, ThisHost: this})
	if err != nil {
		v.failed("certificate", safetext.Escape(err.Error())+"; inspect the store with "+shellquote.Join("certdb", "list", "-d", dir), "")
		return nil
	}
	v.report(rep.Results...)
	return &identity{leaf: e.Cert}
}

// checkTLSConf reads a tls.conf identity as the daemon would and checks it with
// certdb/check.
func (v *verifier) checkTLSConf(c TLSConfig, this *check.Machine) *identity {
	conf, err := tlsconfig.ParseTLSConf(c.TLSConf)
	if err != nil {
		v.failed("tls.conf", safetext.Escape(err.Error())+"; correct "+safetext.Escape(c.TLSConf), "")
		return nil
	}
	if conf.CertFile == "" || conf.KeyFile == "" {
		v.failed("tls.conf", safetext.Escape(c.TLSConf)+" names no tls-cert-file or tls-key-file; add both", "")
		return nil
	}
	v.ok("tls.conf", "%s read", safetext.Escape(c.TLSConf))
	v.checkPerms("permissions", conf.KeyFile, false, shellquote.Join("chmod", "600", conf.KeyFile))
	var anchors *check.Anchors
	if !conf.HasCA() {
		anchors = &check.Anchors{NotChecked: safetext.Escape(c.TLSConf) + " names no tls-ca-cert-file or tls-ca-cert-dir (clients check it against their own CAs)"}
	} else {
		cas, err := conf.CACerts()
		if err != nil {
			v.failed("tls.conf", safetext.Escape(err.Error())+"; correct tls-ca-cert-file in "+safetext.Escape(c.TLSConf), "")
			return nil
		}
		where := "in the tls-ca-cert-file of " + safetext.Escape(c.TLSConf)
		anchors = check.AnchorsFromCerts(cas, "CAs "+where, where,
			"set tls-ca-cert-file in "+safetext.Escape(c.TLSConf)+" to the CA that issued it")
	}
	rep, err := check.InFiles(conf.CertFile, conf.KeyFile, check.FileOptions{Role: check.RoleServer, Now: v.now, Anchors: anchors, ThisHost: this})
	if err != nil {
		msg := safetext.Escape(err.Error())
		if errors.Is(err, fs.ErrPermission) {
			msg += "; run as the collector's user, or give it read access to the file"
		} else {
			msg += "; tls-cert-file must be a PEM certificate"
		}
		v.failed("certificate", msg, "")
		return nil
	}
	v.report(rep.Results...)
	return &identity{leaf: rep.Cert}
}

// checkPerms warns about a folder or file others can read, and fails a file with
// secrets that others can read or anybody else can write.
func (v *verifier) checkPerms(name, path string, dir bool, fix string) {
	fi, err := os.Stat(path)
	if err != nil {
		return // the check that opens it reports why
	}
	perm := fi.Mode().Perm()
	path = safetext.Escape(path)
	switch {
	case perm&0o022 != 0:
		v.failed(name, fmt.Sprintf("%s is mode %04o: others can change it", path, perm), fix)
	case perm&0o004 != 0 && !dir:
		v.failed(name, fmt.Sprintf("%s is mode %04o: everybody can read it", path, perm), fix)
	case perm&0o077 != 0:
		v.warning(name, fmt.Sprintf("%s is mode %04o: group or others can read it", path, perm), fix)
	default:
		v.ok(name, "%s is mode %04o", path, perm)
	}
}

// hostNames are this host's names: its hostname, its FQDN when it resolves to one,
// and localhost.
func hostNames() []string {
	var names []string
	h, err := os.Hostname()
	if err == nil && h != "" {
		names = append(names, h)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if cn, err := net.DefaultResolver.LookupCNAME(ctx, h); err == nil {
			if cn = strings.TrimSuffix(cn, "."); cn != "" && !strings.EqualFold(cn, h) && strings.Contains(cn, ".") {
				names = append(names, cn)
			}
		}
	}
	if !slices.Contains(names, "localhost") {
		names = append(names, "localhost")
	}
	return names
}

// checkClientPolicy reports -Q and whether a client CA backs it.
func (v *verifier) checkClientPolicy(c TLSConfig) {
	if !c.RequireClientCert {
		v.warning("client certificates", "not required: remote clients can fetch without a certificate; start collectord with -Q (tls.require_client_cert = true)", "")
		return
	}
	n := 0
	switch {
	case c.Keystore != "":
		if n = v.keystoreClientCAs(c); n == 0 {
			return
		}
	case c.CertDB != "" && tlsconfig.IsNSSDatabase(c.CertDB):
		if n = v.nssClientCAs(c); n == 0 {
			return
		}
	case c.CertDB != "":
		pw, _ := tlsconfig.ReadPassword(c.PasswordFile)
		fix := ""
		if st, err := store.Open(c.CertDB, pw); err == nil {
			for _, e := range st.List() {
				switch {
				case e.Trust.TrustedClientCA():
					n++
				case e.Cert.IsCA && fix == "":
					// A CA the store holds but does not trust for clients:
					// trusting it is the likely fix.
					fix = shellquote.Join("certdb", "trust", "-d", c.CertDB, "-n", e.Nickname, "-t", "CT,,")
				}
			}
		}
		if n == 0 {
			msg := "-Q is in effect but no CA in the store is trusted for client certificates (T): every client will be refused"
			if fix == "" {
				msg += "; add the CA that issues client certificates: certdb add -d " + shellquote.Quote(c.CertDB) + " -n 'CA NAME' -t CT,, -i CA-CERTIFICATE-FILE"
			}
			v.failed("client certificates", msg, fix)
			return
		}
	default:
		if conf, err := tlsconfig.ParseTLSConf(c.TLSConf); err == nil && !conf.HasCA() {
			v.failed("client certificates", "-Q is in effect and "+safetext.Escape(c.TLSConf)+
				" names no tls-ca-cert-file: no client can be verified, and the collector refuses to start; set tls-ca-cert-file to the CA that issues client certificates", "")
			return
		}
		n = 1
	}
	v.ok("client certificates", "required (-Q); %d client CA(s) trusted", n)
}

// checkClientIdentity looks at what the connection will use as a client: the
// client store, or with none a PCP 6 tls.conf (PCP_TLSCONF_PATH, else the
// collector's own, as clients on the collector's host would read it).
func (v *verifier) checkClientIdentity(vo *verifyOptions, c TLSConfig) tlsconfig.ClientOptions {
	required := c.RequireClientCert
	co := tlsconfig.ClientOptionsFromEnv(nil)
	co.AllowSelfCert, co.AllowBadDomain = false, false // verify means verify
	if vo.clientStore != "" {
		co.StoreDir = strings.TrimPrefix(vo.clientStore, "sql:")
	}
	if vo.clientPWFile != "" {
		co.PasswordFile = vo.clientPWFile
	}
	if vo.clientNick != "" {
		co.Nickname = vo.clientNick
	}
	envConf := co.TLSConf // PCP_TLSCONF_PATH: clients add its CAs to the store's
	if co.TLSConf == "" && vo.clientStore == "" {
		co.TLSConf = c.TLSConf
	}
	advice := "give a client store holding a client certificate and trusting the collector's CA: --client-store DIR or " +
		tlsconfig.EnvDBPath + " (certdb quickstart makes one)"
	if tlsconfig.IsNSSDatabase(co.StoreDir) {
		v.checkClientNSS(co, required, advice)
		return co
	}
	if !store.Exists(co.StoreDir) {
		if co.TLSConf != "" {
			v.checkClientTLSConf(co, required)
			return co
		}
		v.failed("client store", "no store in "+safetext.Escape(co.StoreDir)+" to connect with; "+advice, "")
		return co
	}
	// With a store, the collector's own tls.conf is not the client's; one named
	// by PCP_TLSCONF_PATH still is, as for pminfo.
	co.TLSConf = envConf
	pw, err := tlsconfig.ReadPassword(co.PasswordFile)
	if err == nil {
		var st *store.Store
		if st, err = store.Open(co.StoreDir, pw); err == nil {
			var ids []string
			for _, e := range st.Identities() {
				if co.Nickname == "" || e.Nickname == co.Nickname {
					ids = append(ids, strconv.Quote(e.Nickname))
				}
			}
			switch {
			case len(ids) > 0:
				v.ok("client store", "%s, client certificate %s", safetext.Escape(co.StoreDir), strings.Join(ids, ", "))
			case required:
				v.failed("client store", safetext.Escape(co.StoreDir)+" holds no client certificate and the collector requires one (-Q); "+advice, "")
			default:
				v.ok("client store", "%s (no client certificate; the collector does not require one)", safetext.Escape(co.StoreDir))
			}
			return co
		}
	}
	v.failed("client store", safetext.Escape(err.Error())+"; give its password with --client-password-file, or "+advice, "")
	return co
}

// checkClientTLSConf reports the tls.conf a client without a store connects
// with: its CAs verify the collector, its client certificate (or its
// tls-cert-file, as libpcp falls back) is presented.
func (v *verifier) checkClientTLSConf(co tlsconfig.ClientOptions, required bool) {
	name := safetext.Escape(co.TLSConf)
	conf, err := tlsconfig.ParseTLSConf(co.TLSConf)
	if err != nil {
		v.failed("client tls.conf", safetext.Escape(err.Error())+"; correct "+name, "")
		return
	}
	if !conf.HasCA() {
		v.failed("client tls.conf", "no client store, and "+name+" names no tls-ca-cert-file to verify the collector with; set it to the CA that issued the collector's certificate", "")
		return
	}
	cert := conf.ClientCertFile
	if cert == "" {
		cert = conf.CertFile
	}
	switch {
	case cert != "":
		v.ok("client tls.conf", "no client store; connecting as PCP 6 clients do with the CAs of %s and the client certificate %s", name, safetext.Escape(cert))
	case required:
		v.failed("client tls.conf", "no client store, and "+name+" names no client certificate (tls-client-cert-file) while the collector requires one (-Q)", "")
	default:
		v.ok("client tls.conf", "no client store; connecting as PCP 6 clients do with the CAs of %s (no client certificate; the collector does not require one)", name)
	}
}

// connectHost is the address verify connects to: -i, else the configured
// address when it is not loopback or any, else 127.0.0.1.
func connectHost(vo *verifyOptions, cfg Config) string {
	if vo.opts.Given("i") && len(vo.opts.Addrs) > 0 {
		return vo.opts.Addrs[0]
	}
	if a := cfg.Server.Address; len(a) > 0 && !slices.ContainsFunc(a, isLoopbackOrAny) {
		return a[0]
	}
	return "127.0.0.1"
}

// hostAddrs are the addresses clients may reach this host at: the one verify
// connects to, then the host's global unicast addresses.
func hostAddrs(host string) []string {
	addrs := []string{host}
	ifs, err := net.InterfaceAddrs()
	if err != nil {
		return addrs
	}
	for _, a := range ifs {
		if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() && !slices.Contains(addrs, n.IP.String()) {
			addrs = append(addrs, n.IP.String())
		}
	}
	return addrs
}

// serverName is the name the connection verifies the collector as: the first
// of this host's names the certificate holds, else the first of its addresses
// (the one connected to first), else its common name when it has no subjectAltName (the
// walkthrough's certificates), matched as clients match it.
func serverName(leaf *x509.Certificate, host string) string {
	for _, n := range hostNames() {
		if ok, _ := check.MatchHost(leaf, n); ok {
			return n
		}
	}
	for _, a := range hostAddrs(host) {
		if ok, _ := check.MatchHost(leaf, a); ok {
			return a
		}
	}
	if ok, byCN := check.MatchHost(leaf, leaf.Subject.CommonName); ok && byCN {
		return leaf.Subject.CommonName
	}
	return host
}

// checkConnection connects to the running collector with TLS enforced and fetches
// hinv.ncpu.
func (v *verifier) checkConnection(vo *verifyOptions, cfg Config, id *identity, host string, co tlsconfig.ClientOptions) {
	port := cfg.Server.Port
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	verifyName := serverName(id.leaf, host)
	var served *x509.Certificate
	var state tls.ConnectionState
	byCN := false
	presented := "none presented"
	clientTLS := tlsconfig.Client(co)
	timeout := time.Duration(vo.timeout * float64(time.Second))
	opts := pmapi.Options{
		Secure: pmapi.SecureEnforce, Ports: []int{port},
		RequestTimeout: timeout, ConnectTimeout: timeout,
		TLSConfig: func(string) (*tls.Config, error) {
			c, err := clientTLS(verifyName)
			if err != nil {
				return nil, err
			}
			if get := c.GetClientCertificate; get != nil {
				c.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
					cert, err := get(cri)
					if cert != nil {
						leaf := cert.Leaf
						if leaf == nil && len(cert.Certificate) > 0 {
							leaf, _ = x509.ParseCertificate(cert.Certificate[0])
						}
						if leaf != nil {
							presented = strconv.Quote(leaf.Subject.CommonName) + " presented"
						}
					}
					return cert, err
				}
			}
			verify := c.VerifyConnection
			c.VerifyConnection = func(cs tls.ConnectionState) error {
				state = cs
				if len(cs.PeerCertificates) > 0 {
					served = cs.PeerCertificates[0]
				}
				err := verify(cs)
				// The client library matches a certificate without any
				// subjectAltName against its common name, as NSS and OpenSSL
				// clients do (certdb/check.MatchHost); say so in the result.
				if err == nil && served != nil {
					_, byCN = check.MatchHost(served, verifyName)
				}
				return err
			}
			return c, nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*timeout)
	defer cancel()
	pc, err := pmapi.Connect(ctx, host, opts)
	if err != nil {
		advice, fix := connectFix(err, addr)
		v.failed("handshake", fmt.Sprintf("TLS connection to %s: %s; %s", addr, safetext.Escape(err.Error()), advice), fix)
		return
	}
	defer pc.Close()
	// Under TLS 1.3 the client finishes its handshake before the server has checked
	// the client certificate: a refusal shows on the first request, so the
	// handshake passes only once one has been answered.
	ids, err := pc.LookupNames([]string{"hinv.ncpu"})
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) && pe.Code == protocol.ErrName {
			v.failed("fetch", "the collector has no hinv.ncpu; check the collector's metrics (pminfo hinv)", "")
			return
		}
		msg := fmt.Sprintf("%s with %s: the collector closed the session after the TLS handshake (%s)",
			tls.VersionName(state.Version), addr, safetext.Escape(err.Error()))
		advice, fix := "check the collector's log", "journalctl -u collectord"
		if presented == "none presented" {
			msg += "; no client certificate was presented"
			advice, fix = connectFix(errors.New("certificate required"), addr)
		}
		v.failed("handshake", msg+"; "+advice, fix)
		return
	}
	how := ""
	if byCN {
		how = " (by its common name: it has no subjectAltName)"
	}
	v.ok("handshake", "%s with %s, server verified as %s%s, client certificate %s", tls.VersionName(state.Version), addr,
		safetext.Escape(verifyName), how, safetext.Escape(presented))
	if served != nil && !served.Equal(id.leaf) {
		v.warning("served certificate", fmt.Sprintf("the collector serves %s (sha256 %s), not the configured certificate (sha256 %s); reload it, or check that the running one uses this configuration",
			safetext.Escape(served.Subject.String()), tlsconfig.Fingerprint(served), tlsconfig.Fingerprint(id.leaf)),
			"systemctl reload collectord")
	}
	res, err := pc.Fetch(ids)
	if err != nil {
		v.failed("fetch", "fetching hinv.ncpu: "+safetext.Escape(err.Error())+"; check the collector's log", "journalctl -u collectord")
		return
	}
	if len(res.VSets) != 1 || res.VSets[0].NumVal < 1 {
		code := int32(0)
		if len(res.VSets) == 1 {
			code = res.VSets[0].NumVal
		}
		v.failed("fetch", fmt.Sprintf("hinv.ncpu has no value (%d); check the collector's log", code), "journalctl -u collectord")
		return
	}
	n, _ := res.VSets[0].Values[0].Int64(protocol.TypeU32, true)
	v.ok("fetch", "hinv.ncpu = %d over TLS", n)
}

func isLoopbackOrAny(a string) bool {
	switch a {
	case "", "0.0.0.0", "::", "[::]", "localhost":
		return true
	}
	ip := net.ParseIP(a)
	return ip != nil && ip.IsLoopback()
}

// connectFix turns a connection failure into the next thing to do, and the
// command that does it when there is one.
func connectFix(err error, addr string) (advice, fix string) {
	var ue *tlsconfig.UntrustedError
	var be *tlsconfig.BadDomainError
	var pe *protocol.Error
	msg := err.Error()
	switch {
	case errors.As(err, &ue):
		return "trust the CA that issued the collector's certificate with C in the client store (certdb add -d CLIENTSTORE -n 'CA NAME' -t CT,, -i CA-CERTIFICATE-FILE)", ""
	case errors.As(err, &be):
		return "the collector's certificate does not name the host connected to: see the \"this host\" line above", ""
	case strings.Contains(msg, "refused"):
		return "start the collector, or give its port with -p", "systemctl start collectord"
	case errors.As(err, &pe) && pe.Code == protocol.ErrNeedClientCert,
		strings.Contains(msg, "certificate required"), strings.Contains(msg, "bad certificate"):
		return "present a client certificate issued by a CA the collector trusts (T): --client-store DIR, --client-nickname NICK", ""
	case strings.Contains(msg, "not supported"), strings.Contains(msg, "Operation not supported"):
		return "the running collector has no TLS: restart it with this configuration", "systemctl restart collectord"
	case strings.Contains(msg, "timed out"), strings.Contains(msg, "timeout"):
		return "check that " + addr + " is the collector and not firewalled, or raise --timeout", ""
	}
	return "check the collector's log", "journalctl -u collectord"
}
