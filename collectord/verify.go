package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
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
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/tlsconfig"
)

const verifyUsage = `Usage: collectord verify --secure [options]

Check this host's secure collector set-up, as 'pcp verify --secure' does: the
configuration (file and flags, as collectord would read them), the certificate
store or tls.conf, the server certificate and its key, and then a TLS connection
to the running collector over loopback with a fetch of hinv.ncpu.

Each check prints one line, PASS, WARN or FAIL, and for WARN and FAIL the fix.
Run it as the collector's user (sudo -u gopcp collectord verify --secure) so the
store is read with the daemon's rights.

Options:
  --secure                    check the TLS set-up (required; the only mode)
  --config FILE               collectord's configuration (default /etc/gopcp/collectord.toml)
  -C DIR, -M NICKNAME         the server identity, as for collectord
  -P FILE                     the store's password file
  --tls-conf FILE             a PCP 6 tls.conf instead of a store
  -Q                          check as if collectord ran with -Q
  -p PORT                     the collector's port (default: from the configuration, 44321)
  -i ADDRESS                  address to connect to (default: loopback)
  --client-store DIR          client store for the connection (default $PCP_SECURE_DB_PATH,
                              else ~/.pki/gopcp): it must trust the collector's CA (C)
                              and, with -Q, hold a client certificate
  --client-password-file FILE its password (default $PCP_SECURE_DB_PASSWORD_FILE)
  --client-nickname NICK      client certificate to present ($PCP_SECURE_CLIENT_NICKNAME)
  --timeout SECONDS           connection and request timeout (default 5)

Examples:
  collectord verify --secure
  collectord verify --secure --config /etc/gopcp/collectord.toml --client-store /etc/gopcp/certs/client
  collectord verify --secure -C /etc/gopcp/certs/server -M "PCP Collector certificate" -p 44321

Exit status: 0 every check passed (warnings allowed), 1 a check failed, 2 usage error.
`

type verifyOptions struct {
	opts         *options
	secure       bool
	clientStore  string
	clientPWFile string
	clientNick   string
	timeout      float64
}

func newVerifyFlagSet(v *verifyOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("collectord verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	identityFlags(fs, v.opts)
	fs.BoolVar(&v.secure, "secure", false, "check the TLS set-up")
	fs.StringVar(&v.clientStore, "client-store", "", "client store")
	fs.StringVar(&v.clientPWFile, "client-password-file", "", "client store password file")
	fs.StringVar(&v.clientNick, "client-nickname", "", "client certificate nickname")
	fs.Float64Var(&v.timeout, "timeout", 5, "timeout in seconds")
	return fs
}

func init() {
	for k, v := range map[string]string{"client-store": "dir", "client-password-file": "file", "client-nickname": "", "timeout": ""} {
		flagArgs[k] = v
	}
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

func runVerify(args []string, stdout, stderr io.Writer) int {
	vo := &verifyOptions{opts: &options{set: map[string]bool{}}}
	fs := newVerifyFlagSet(vo)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, verifyUsage)
			return 0
		}
		fmt.Fprintf(stderr, "collectord verify: %v\nRun 'collectord verify --help' for usage.\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "collectord verify: unexpected argument %q\nRun 'collectord verify --help' for usage.\n", fs.Arg(0))
		return 2
	}
	if !vo.secure {
		fmt.Fprintln(stderr, "collectord verify: say what to verify: --secure (the only check so far)\nRun 'collectord verify --help' for usage.")
		return 2
	}
	if vo.timeout <= 0 {
		fmt.Fprintln(stderr, "collectord verify: --timeout must be positive")
		return 2
	}
	fs.Visit(func(f *flag.Flag) { vo.opts.set[f.Name] = true })
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
	cert  tls.Certificate
	leaf  *x509.Certificate
	roots *x509.CertPool // CAs that should anchor the server certificate
	inter *x509.CertPool
	peers []*x509.Certificate
	// anchors says where roots come from, and fix how to add a CA there.
	anchors, addCA string
}

func (v *verifier) run(vo *verifyOptions) {
	o := vo.opts
	path, required := o.configPath()
	cfg, err := loadConfig(o)
	if err != nil {
		v.failed("config", err.Error(), "correct the file and check it with 'collectord --check-config --config "+path+"'")
		return
	}
	if _, serr := os.Stat(path); serr != nil && !required {
		v.ok("config", "no %s; using the flags and defaults", path)
	} else {
		v.ok("config", "%s loaded", path)
	}
	if !cfg.TLS.Enabled() {
		v.failed("identity", "no server certificate configured: the collector serves plain text only",
			"set tls.cert_db and tls.nickname in "+path+" (or -C DIR -M NICK); 'certdb quickstart' makes a store")
		return
	}
	var id *identity
	if cfg.TLS.CertDB != "" {
		id = v.checkStore(cfg.TLS)
	} else {
		id = v.checkTLSConf(cfg.TLS)
	}
	if id == nil {
		return
	}
	v.checkValidity(id.leaf)
	v.checkUsage(id.leaf)
	names := v.checkNames(id.leaf)
	v.checkChain(id)
	v.checkClientPolicy(cfg.TLS)
	copts := v.checkClientIdentity(vo, cfg.TLS.RequireClientCert)
	v.checkConnection(vo, cfg, id, names, copts)
}

// checkStore opens the store and finds the identity with its key.
func (v *verifier) checkStore(c TLSConfig) *identity {
	dir := c.CertDB
	v.checkPerms("permissions", dir, true, "chmod 700 "+dir)
	if c.PasswordFile != "" {
		v.checkPerms("permissions", c.PasswordFile, false, "chmod 600 "+c.PasswordFile)
	}
	if !store.Exists(dir) {
		v.failed("store", "no certificate store in "+dir,
			"create one with 'certdb quickstart --dir DIR --host $(hostname -f)', or point tls.cert_db (-C) at the store")
		return nil
	}
	pw, err := tlsconfig.ReadPassword(c.PasswordFile)
	if err != nil {
		v.failed("store", err.Error(), "make the password file readable by the collector's user, or drop -P for an empty password")
		return nil
	}
	st, err := store.Open(dir, pw)
	switch {
	case errors.Is(err, store.ErrBadPassword):
		v.failed("store", err.Error(), "give the store's password file with -P (tls.password_file)")
		return nil
	case errors.Is(err, store.ErrLooseKeyPermissions):
		v.failed("store", err.Error(), "chmod 600 "+filepath.Join(dir, store.FileName))
		return nil
	case errors.Is(err, fs.ErrPermission):
		v.failed("store", err.Error(), "run as the collector's user (sudo -u gopcp collectord verify --secure), or give that user the store (chown -R gopcp: "+dir+")")
		return nil
	case err != nil:
		v.failed("store", err.Error(), "check the store with 'certdb list -d "+dir+"'")
		return nil
	}
	v.ok("store", "%s opened (%d certificates)", dir, len(st.List()))
	if _, err := st.Get(c.Nickname); err != nil {
		var nicks []string
		for _, e := range st.Identities() {
			nicks = append(nicks, strconv.Quote(e.Nickname))
		}
		fix := "the store holds no certificate with a key; import one (certdb import -d " + dir + " -i server.p12)"
		if len(nicks) > 0 {
			fix = "use one of the store's identities with -M (tls.nickname): " + strings.Join(nicks, ", ")
		}
		v.failed("nickname", fmt.Sprintf("no certificate %q in %s", c.Nickname, dir), fix)
		return nil
	}
	v.ok("nickname", "%q found", c.Nickname)
	cert, err := st.Identity(c.Nickname)
	switch {
	case errors.Is(err, store.ErrNoKey):
		v.failed("key", fmt.Sprintf("%q has no private key in the store", c.Nickname),
			"import the certificate with its key: certdb import -d "+dir+" -i server.p12")
		return nil
	case errors.Is(err, store.ErrKeyMismatch):
		v.failed("key", fmt.Sprintf("the key stored for %q does not match its certificate", c.Nickname),
			"import the certificate and its key together again: certdb import -d "+dir+" -i server.p12")
		return nil
	case err != nil:
		v.failed("key", err.Error(), "check the store's password (-P) and 'certdb keys -d "+dir+"'")
		return nil
	}
	v.ok("key", "private key present and matches the certificate")
	id := &identity{cert: cert, leaf: cert.Leaf, inter: st.Intermediates(), peers: st.TrustedPeers(), roots: x509.NewCertPool(),
		anchors: "the store", addCA: "add the issuing CA with trust CT,, (certdb add -d " + dir + " -n \"Root CA\" -t CT,, -i ca.pem)"}
	for _, e := range st.List() {
		if e.Trust.TrustedServerCA() || e.Trust.TrustedClientCA() {
			id.roots.AddCert(e.Cert)
		}
	}
	return id
}

// checkTLSConf reads a tls.conf identity.
func (v *verifier) checkTLSConf(c TLSConfig) *identity {
	conf, err := tlsconfig.ParseTLSConf(c.TLSConf)
	if err != nil {
		v.failed("tls.conf", err.Error(), "correct "+c.TLSConf)
		return nil
	}
	if conf.CertFile == "" || conf.KeyFile == "" {
		v.failed("tls.conf", c.TLSConf+" names no tls-cert-file or tls-key-file", "add both to "+c.TLSConf)
		return nil
	}
	v.ok("tls.conf", "%s read", c.TLSConf)
	v.checkPerms("permissions", conf.KeyFile, false, "chmod 600 "+conf.KeyFile)
	cert, err := tls.LoadX509KeyPair(conf.CertFile, conf.KeyFile)
	if err != nil {
		fix := "check that " + conf.CertFile + " and " + conf.KeyFile + " are whole PEM files"
		if strings.Contains(err.Error(), "does not match") {
			fix = conf.KeyFile + " is not the key of " + conf.CertFile + ": install the matching pair"
		} else if errors.Is(err, fs.ErrPermission) {
			fix = "run as the collector's user, or give it read access to the files"
		}
		v.failed("key", err.Error(), fix)
		return nil
	}
	v.ok("key", "%s matches %s", conf.KeyFile, conf.CertFile)
	id := &identity{cert: cert, leaf: cert.Leaf, inter: x509.NewCertPool(), anchors: "tls-ca-cert-file",
		addCA: "set tls-ca-cert-file in " + c.TLSConf + " to the CA that issued the certificate"}
	if conf.CAFile == "" && conf.CADir == "" {
		id.anchors = "the system's CAs (" + c.TLSConf + " sets no tls-ca-cert-file)"
	}
	if id.leaf == nil {
		id.leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	for _, raw := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(raw); err == nil {
			id.inter.AddCert(c)
		}
	}
	if id.roots, err = conf.CAPool(); err != nil {
		v.failed("chain", err.Error(), "correct tls-ca-cert-file in "+c.TLSConf)
		id.roots = x509.NewCertPool()
	}
	return id
}

// checkPerms warns about a folder or file others can read, and fails a file with
// secrets that others can read or anybody else can write.
func (v *verifier) checkPerms(name, path string, dir bool, fix string) {
	fi, err := os.Stat(path)
	if err != nil {
		return // the check that opens it reports why
	}
	perm := fi.Mode().Perm()
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

func (v *verifier) checkValidity(leaf *x509.Certificate) {
	left := leaf.NotAfter.Sub(v.now)
	until := leaf.NotAfter.UTC().Format(time.RFC3339)
	renew := "issue a new certificate (certdb issue --server) and reload the collector (systemctl reload collectord)"
	switch {
	case v.now.Before(leaf.NotBefore):
		v.failed("expiry", "the certificate is not valid before "+leaf.NotBefore.UTC().Format(time.RFC3339), "check the clock (timedatectl), or wait")
	case left <= 0:
		v.failed("expiry", "the certificate expired on "+until, renew)
	case left < check.DefaultExpiryWarning:
		v.warning("expiry", fmt.Sprintf("the certificate expires on %s, in %d days", until, int(left.Hours()/24)), renew)
	default:
		v.ok("expiry", "valid until %s (%d days)", until, int(left.Hours()/24))
	}
}

func (v *verifier) checkUsage(leaf *x509.Certificate) {
	if len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0 {
		v.ok("usage", "no extendedKeyUsage: every use allowed, serverAuth included")
		return
	}
	if slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		v.ok("usage", "extendedKeyUsage allows serverAuth")
		return
	}
	v.failed("usage", "the extendedKeyUsage does not allow serverAuth: clients will refuse it",
		"issue a server certificate (certdb issue --server)")
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

// checkNames reports which of this host's names the certificate holds, and returns
// the ones it does (the connection check verifies against the first).
func (v *verifier) checkNames(leaf *x509.Certificate) []string {
	var in, out []string
	for _, n := range hostNames() {
		if leaf.VerifyHostname(n) == nil {
			in = append(in, n)
		} else {
			out = append(out, n)
		}
	}
	held := strings.Join(certNames(leaf), ", ")
	fix := "issue a certificate naming them (certdb issue --server --host " + strings.Join(out, " --host ") + ")"
	switch {
	case len(out) == 0:
		v.ok("names", "the certificate names %s", strings.Join(in, ", "))
	case len(in) == 0:
		v.failed("names", "the certificate names none of this host's names "+strings.Join(out, ", ")+" (it names "+held+")", fix)
	default:
		v.warning("names", "the certificate does not name "+strings.Join(out, ", ")+" (it names "+held+"); clients using those names will refuse it", fix)
	}
	return in
}

func certNames(c *x509.Certificate) []string {
	n := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		n = append(n, ip.String())
	}
	if len(n) == 0 {
		n = append(n, "no subjectAltName, CN="+c.Subject.CommonName)
	}
	return n
}

func (v *verifier) checkChain(id *identity) {
	for _, p := range id.peers {
		if p.Equal(id.leaf) && id.leaf.CheckSignatureFrom(id.leaf) == nil {
			v.warning("chain", "the certificate is self-signed and trusted as a peer (P): every client must trust this very certificate",
				"issue it from a CA (certdb quickstart, or certdb ca + certdb issue) and trust the CA on the clients")
			return
		}
	}
	chains, err := id.leaf.Verify(x509.VerifyOptions{Roots: id.roots, Intermediates: id.inter, CurrentTime: v.now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		var ua x509.UnknownAuthorityError
		if errors.As(err, &ua) {
			v.failed("chain", fmt.Sprintf("the certificate's issuer %q is not a CA trusted in %s", id.leaf.Issuer.String(), id.anchors), id.addCA)
			return
		}
		v.failed("chain", err.Error(), id.addCA)
		return
	}
	root := chains[0][len(chains[0])-1]
	v.ok("chain", "chains to %q, trusted in %s", root.Subject.String(), id.anchors)
}

// checkClientPolicy reports -Q and whether a client CA backs it.
func (v *verifier) checkClientPolicy(c TLSConfig) {
	if !c.RequireClientCert {
		v.warning("client certificates", "not required: remote clients can fetch without a certificate",
			"start collectord with -Q (tls.require_client_cert = true)")
		return
	}
	n := 0
	switch {
	case c.CertDB != "":
		pw, _ := tlsconfig.ReadPassword(c.PasswordFile)
		if st, err := store.Open(c.CertDB, pw); err == nil {
			for _, e := range st.List() {
				if e.Trust.TrustedClientCA() {
					n++
				}
			}
		}
		if n == 0 {
			v.failed("client certificates", "-Q is in effect but no CA in the store is trusted for client certificates (T): every client will be refused",
				"certdb trust -d "+c.CertDB+" -n \"Root CA\" -t CT,,")
			return
		}
	default:
		if conf, err := tlsconfig.ParseTLSConf(c.TLSConf); err == nil && conf.CAFile == "" && conf.CADir == "" {
			v.warning("client certificates", "-Q is in effect and "+c.TLSConf+" names no tls-ca-cert-file: client certificates are checked against the system CAs",
				"set tls-ca-cert-file to the CA that issues client certificates")
			return
		}
		n = 1
	}
	v.ok("client certificates", "required (-Q); %d client CA(s) trusted", n)
}

// checkClientIdentity looks at the store the connection will use as a client.
func (v *verifier) checkClientIdentity(vo *verifyOptions, required bool) tlsconfig.ClientOptions {
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
	fix := "give a client store holding a client certificate and trusting the collector's CA: --client-store DIR or " +
		tlsconfig.EnvDBPath + " ('certdb quickstart' makes one)"
	if !store.Exists(co.StoreDir) {
		v.failed("client store", "no store in "+co.StoreDir+" to connect with", fix)
		return co
	}
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
				v.ok("client store", "%s, client certificate %s", co.StoreDir, strings.Join(ids, ", "))
			case required:
				v.failed("client store", co.StoreDir+" holds no client certificate and the collector requires one (-Q)", fix)
			default:
				v.ok("client store", "%s (no client certificate; the collector does not require one)", co.StoreDir)
			}
			return co
		}
	}
	v.failed("client store", err.Error(), "give its password with --client-password-file, or "+fix)
	return co
}

// checkConnection connects to the running collector with TLS enforced and fetches
// hinv.ncpu.
func (v *verifier) checkConnection(vo *verifyOptions, cfg Config, id *identity, names []string, co tlsconfig.ClientOptions) {
	host := "127.0.0.1"
	if vo.opts.set["i"] && len(vo.opts.addrs) > 0 {
		host = vo.opts.addrs[0]
	} else if a := cfg.Server.Address; len(a) > 0 && !slices.ContainsFunc(a, isLoopbackOrAny) {
		host = a[0]
	}
	port := cfg.Server.Port
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	verifyName := host
	if len(names) > 0 {
		verifyName = names[0]
	}
	var served *x509.Certificate
	var state tls.ConnectionState
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
					if cert != nil && cert.Leaf != nil {
						presented = strconv.Quote(cert.Leaf.Subject.CommonName) + " presented"
					}
					return cert, err
				}
			}
			check := c.VerifyConnection
			c.VerifyConnection = func(cs tls.ConnectionState) error {
				state = cs
				if len(cs.PeerCertificates) > 0 {
					served = cs.PeerCertificates[0]
				}
				return check(cs)
			}
			return c, nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*timeout)
	defer cancel()
	pc, err := pmapi.Connect(ctx, host, opts)
	if err != nil {
		v.failed("handshake", fmt.Sprintf("TLS connection to %s: %v", addr, err), connectFix(err, addr))
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
			v.failed("fetch", "the collector has no hinv.ncpu", "check the collector's metrics (pminfo hinv)")
			return
		}
		msg := fmt.Sprintf("%s with %s: the collector closed the session after the TLS handshake (%v)",
			tls.VersionName(state.Version), addr, err)
		fix := "check the collector's log (journalctl -u collectord)"
		if presented == "none presented" {
			msg += "; no client certificate was presented"
			fix = connectFix(errors.New("certificate required"), addr)
		}
		v.failed("handshake", msg, fix)
		return
	}
	v.ok("handshake", "%s with %s, server verified as %s, client certificate %s", tls.VersionName(state.Version), addr, verifyName,
		presented)
	if served != nil && !served.Equal(id.leaf) {
		v.warning("served certificate", fmt.Sprintf("the collector serves %s (sha256 %s), not the configured certificate (sha256 %s)",
			served.Subject, tlsconfig.Fingerprint(served), tlsconfig.Fingerprint(id.leaf)),
			"reload the collector (systemctl reload collectord) or check that the running one uses this configuration")
	}
	res, err := pc.Fetch(ids)
	if err != nil {
		v.failed("fetch", "fetching hinv.ncpu: "+err.Error(), "check the collector's log (journalctl -u collectord)")
		return
	}
	if len(res.VSets) != 1 || res.VSets[0].NumVal < 1 {
		code := int32(0)
		if len(res.VSets) == 1 {
			code = res.VSets[0].NumVal
		}
		v.failed("fetch", fmt.Sprintf("hinv.ncpu has no value (%d)", code), "check the collector's log (journalctl -u collectord)")
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

// connectFix turns a connection failure into the next thing to do.
func connectFix(err error, addr string) string {
	var ue *tlsconfig.UntrustedError
	var be *tlsconfig.BadDomainError
	var pe *protocol.Error
	msg := err.Error()
	switch {
	case errors.As(err, &ue):
		return "trust the collector's CA in the client store (certdb add -d CLIENTSTORE -n \"Root CA\" -t C,, -i ca.pem)"
	case errors.As(err, &be):
		return "issue the collector a certificate that names this host (certdb issue --server --host NAME)"
	case strings.Contains(msg, "refused"):
		return "start the collector (systemctl start collectord), or give its port with -p"
	case errors.As(err, &pe) && pe.Code == protocol.ErrNeedClientCert,
		strings.Contains(msg, "certificate required"), strings.Contains(msg, "bad certificate"):
		return "present a client certificate issued by a CA the collector trusts (T): --client-store DIR, --client-nickname NICK"
	case strings.Contains(msg, "not supported"), strings.Contains(msg, "Operation not supported"):
		return "the running collector has no TLS: restart it with this configuration (systemctl restart collectord)"
	case strings.Contains(msg, "timed out"), strings.Contains(msg, "timeout"):
		return "check that " + addr + " is the collector and not firewalled, or raise --timeout"
	}
	return "check the collector's log (journalctl -u collectord)"
}
