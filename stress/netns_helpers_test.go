package stress

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/netnstest"
	"github.com/gopcp/gopcp/internal/safetext"
	"github.com/gopcp/gopcp/internal/testcerts"
)

// Ports inside the server namespace, which has a port space of its own: the
// usual PCP layout.
const (
	nsCollectorPort = 44321
	nsProxyPort     = 44322
	nsBannerPort    = 7777 // a service that is not PCP, on loopback only
)

// site is the usual PCP layout on a host of its own: collectord -Q and proxyd
// beside it in the server namespace, attackers in the client namespace.
type site struct {
	pair *netnstest.Pair
	dir  string
	// secret is the collector's host name (kernel.uname.nodename, pmcd.hostname):
	// collectord runs in a UTS namespace of its own named so, so the string
	// appears only where a metric value went.
	secret string
	// bannerSecret is what the non-PCP loopback service says to anyone.
	bannerSecret string

	// Client material, all made with certdb as an administrator would.
	validStore    string // PCP_SECURE_DB_PATH: the CA and a valid client identity
	trustOnly     string // the CA, no identity: TLS without a certificate
	strangerStore string // the CA, and an identity from another CA
	validPEM      string // certificate and key, for curl and pcpattack
	strangerPEM   string
	home          string // an empty $HOME, so no user store is picked up
	unixSocket    string // collectord's unix socket ("": this collectord has none)

	bins map[string]string // the client programs built here, by name
}

// randomToken is a name no host has.
func randomToken(t testing.TB, prefix string) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// certdbRun runs the certdb CLI and fails t on error.
func certdbRun(t testing.TB, args ...string) {
	t.Helper()
	out, errOut, code := runCmd(t, cleanEnv(), program(t, "certdb"), args...)
	if code != 0 {
		t.Fatalf("certdb %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
}

// newSite makes the namespaces and the certificates and starts the daemons.
func newSite(t *testing.T) *site {
	t.Helper()
	s := &site{pair: netnstest.New(t), dir: t.TempDir(),
		secret: randomToken(t, "gopcpsecret"), bannerSecret: randomToken(t, "gopcpbanner")}
	t.Logf("namespaces %s", s.pair)
	s.bins = map[string]string{"pminfo": program(t, "pminfo"), "pcpattack": program(t, "pcpattack")}
	// The site's certificates as an administrator makes them: certdb quickstart.
	pki := filepath.Join(s.dir, "pki")
	certdbRun(t, "quickstart", "--dir", pki, "--ip", s.pair.ServerIP.String())
	s.validStore = filepath.Join(pki, "client")
	s.validPEM = filepath.Join(s.dir, "valid.pem")
	certdbRun(t, "export", "-d", s.validStore, "-n", "PCP client certificate", "--format", "pem", "--with-key", "-o", s.validPEM)
	st, err := store.Open(s.validStore, nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := st.Get("PCP CA")
	if err != nil {
		t.Fatal(err)
	}
	// The attackers' material, made here (faster than more certdb runs): a
	// client certificate from a CA of their own, and stores that trust the
	// site's CA (so our pminfo gets as far as the collector) with that identity
	// or none.
	other := testcerts.New(t, nil, testcerts.Options{CN: "attacker CA", IsCA: true})
	stranger := testcerts.New(t, other, testcerts.Options{CN: "PCP client certificate", Client: true})
	s.strangerPEM = filepath.Join(s.dir, "stranger.pem")
	if err := os.WriteFile(s.strangerPEM, append(stranger.CertPEM(), stranger.KeyPEM(t)...), 0o600); err != nil {
		t.Fatal(err)
	}
	s.trustOnly = filepath.Join(s.dir, "trust-only")
	s.strangerStore = filepath.Join(s.dir, "stranger")
	for _, dir := range []string{s.trustOnly, s.strangerStore} {
		ns, err := store.CreateWith(dir, nil, storeOptions())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ns.AddCert("PCP CA", ca.Cert, store.MustParseTrust("C,,")); err != nil {
			t.Fatal(err)
		}
		if dir == s.strangerStore {
			if _, err := ns.AddIdentity("stranger", stranger.Cert, stranger.Key, store.MustParseTrust("u,u,u")); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.home = filepath.Join(s.dir, "home")
	if err := os.Mkdir(s.home, 0o700); err != nil {
		t.Fatal(err)
	}

	// collectord -Q on every address of the server namespace, in a UTS namespace
	// named after the secret, with a unix socket (whose clients -Q exempts) when
	// this collectord has one: proxyd must not open it for anyone. (Older
	// collectords, without -s, still run, so the suite can be pointed at them.)
	args := []string{program(t, "collectord"), "--config", "/dev/null", "-C", filepath.Join(pki, "server"),
		"-M", "PCP Collector certificate", "-Q", "-p", strconv.Itoa(nsCollectorPort)}
	if help, _, _ := runCmd(t, cleanEnv(), program(t, "collectord"), "--help"); strings.Contains(help, "unix-domain socket") {
		s.unixSocket = filepath.Join(s.dir, "collectord.socket")
		args = append(args, "-s", s.unixSocket)
	}
	s.start(t, "collectord", nsCollectorPort, "unshare", append([]string{"--uts", "--", "sh", "-c", `hostname "$0" && exec "$@"`, s.secret}, args...)...)
	// proxyd beside it, as documented: TLS for its own clients, and a client
	// certificate of its own for the collector (its REST API must work).
	cfg := filepath.Join(s.dir, "proxyd.toml")
	conf := fmt.Sprintf("[upstream.client]\nsecure = \"enforce\"\ncert_db = %q\nnickname = \"PCP client certificate\"\n", s.validStore)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start(t, "proxyd", nsProxyPort, program(t, "proxyd"), "--config", cfg, "-p", strconv.Itoa(nsProxyPort),
		"-C", filepath.Join(pki, "server"), "-M", "PCP Collector certificate")
	s.start(t, "banner", nsBannerPort, program(t, "pcpattack"), "banner", "127.0.0.1:"+strconv.Itoa(nsBannerPort), s.bannerSecret)
	return s
}

// start runs a program in the server namespace and waits until it listens on
// port there (as its own /proc/PID/net shows: the test process is outside the
// namespace and cannot dial it).
func (s *site) start(t *testing.T, what string, port int, name string, args ...string) {
	t.Helper()
	cmd := netnstest.Command(s.pair.Server, name, args...)
	cmd.Env = cleanEnv("HOME=" + s.home)
	// A test process killed before its cleanup takes its daemons with it (the
	// signal survives the execs of ip netns exec, unshare and sh), so none is
	// left serving in a namespace nobody can reach any more.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	log := &syncBuf{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s log:\n%s", what, escapeLog(log.String()))
		}
	})
	ok := waitFor(15*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		return listening(cmd.Process.Pid, port)
	})
	select {
	case <-exited:
		t.Fatalf("%s exited: %s", what, escapeLog(log.String()))
	default:
	}
	if !ok {
		t.Fatalf("%s does not listen on port %d within 15 s: %s", what, port, escapeLog(log.String()))
	}
}

// listening reports whether the network namespace of process pid has a TCP
// socket listening on port.
func listening(pid, port int) bool {
	want := fmt.Sprintf(":%04X ", port)
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			// sl local_address rem_address st: 0A is LISTEN
			if len(fl) > 3 && strings.HasSuffix(fl[1]+" ", want) && fl[3] == "0A" {
				return true
			}
		}
	}
	return false
}

// escapeLog escapes control characters of text from the network or from
// certificates line by line (safetext), keeping the lines, for a person to read.
func escapeLog(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = safetext.Escape(l)
	}
	return strings.Join(lines, "\n")
}

// nsRun runs a program in namespace ns (at most 30 s) and returns its combined
// output and exit code.
func nsRun(ns string, env []string, name string, args ...string) (string, int) {
	cmd := netnstest.Command(ns, name, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Sprintf("%s: %v", name, err), -1
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		return out.String() + "\n(killed after 30 s)", -1
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// lookPath finds an optional outside program (the real pminfo, curl).
func lookPath(name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	return p
}
