package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/gopcp/gopcp/internal/syncbuf"
	"github.com/gopcp/gopcp/internal/tomlconfig"
	"github.com/gopcp/gopcp/proxyd/internal/ptest"
)

// syncBuffer is a log sink that goroutines may share.
type syncBuffer = syncbuf.Buffer

// proxy is proxyd started in-process through runContext.
type proxy struct {
	addr string
	port int
	logs *syncBuffer
	cfg  string // the configuration file
	hup  chan os.Signal
	rl   *Reloader
}

// reload sends a SIGHUP-equivalent and waits until it is applied or refused.
func (p *proxy) reload(t testing.TB) {
	t.Helper()
	before := p.rl.Stats().Count() + p.rl.Stats().Failures()
	p.hup <- syscall.SIGHUP
	deadline := time.Now().Add(10 * time.Second)
	for p.rl.Stats().Count()+p.rl.Stats().Failures() == before {
		if time.Now().After(deadline) {
			t.Fatalf("reload not done:\n%s", p.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *proxy) url() string { return "http://" + p.addr }

// spec is COLLECTOR@PROXY for a collector on 127.0.0.1.
func (p *proxy) spec(collectorPort int) string {
	return "127.0.0.1:" + strconv.Itoa(collectorPort) + "@127.0.0.1:" + strconv.Itoa(p.port)
}

// startMain runs proxyd with args (plus -p 0 -i 127.0.0.1 and an empty config)
// until the test ends, and checks it exits 0. 127.0.0.1 is allowed on every
// port, as the tests' collectors listen on ephemeral ports.
func startMain(t testing.TB, args ...string) *proxy {
	t.Helper()
	return startConfig(t, "", append([]string{"--allow", "127.0.0.1"}, args...)...)
}

// startConfig is startMain with a configuration file holding cfgText.
func startConfig(t testing.TB, cfgText string, args ...string) *proxy {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "proxyd.toml")
	os.WriteFile(cfg, []byte(cfgText), 0o644)
	args = append([]string{"--config", cfg, "-p", "0", "-i", "127.0.0.1"}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	type started struct {
		addrs []net.Addr
		rl    *Reloader
	}
	ready := make(chan started, 1)
	exit := make(chan int, 1)
	hup := make(chan os.Signal)
	go func() {
		exit <- runContext(ctx, args, logs, logs, hooks{reload: hup,
			ready: func(a []net.Addr, rl *Reloader) { ready <- started{a, rl} }})
	}()
	var st started
	select {
	case st = <-ready:
	case code := <-exit:
		cancel()
		t.Fatalf("proxyd exited %d:\n%s", code, logs)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("proxyd did not start:\n%s", logs)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-exit:
			if code != 0 {
				t.Errorf("proxyd exited %d:\n%s", code, logs)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("proxyd did not stop:\n%s", logs)
		}
	})
	a := st.addrs[0].(*net.TCPAddr)
	return &proxy{addr: a.String(), port: a.Port, logs: logs, cfg: cfg, hup: hup, rl: st.rl}
}

func runCLI(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = runContext(context.Background(), args, &o, &e, hooks{})
	return o.String(), e.String(), code
}

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHelpAndVersion(t *testing.T) {
	for _, a := range []string{"-h", "--help", "-help"} {
		out, errOut, code := runCLI(a)
		if code != 0 || errOut != "" {
			t.Fatalf("%s: exit %d %q", a, code, errOut)
		}
		for _, want := range []string{"Usage: proxyd", "Examples:", "Exit status: 0", "1 runtime failure", "2 usage or configuration error",
			"not an open relay", "pminfo -h 127.0.0.1:44321@localhost:44322", "PMPROXY_HOST=", "/metrics", "/pmapi/fetch", "-Q"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: help lacks %q", a, want)
			}
		}
	}
	if out, _, code := runCLI("--version"); code != 0 || !strings.HasPrefix(out, "proxyd ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestUsageAndConfigErrors(t *testing.T) {
	empty := writeFile(t, "empty.toml", "")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--frobnicate"}, "flag provided but not defined"},
		{"stray argument", []string{"--config", empty, "extra"}, `unexpected argument "extra"`},
		{"bad port", []string{"--config", empty, "-p", "70000"}, "not a port"},
		{"missing config", []string{"--config", "/nonexistent/proxyd.toml"}, "no such file"},
		{"unknown key", []string{"--config", writeFile(t, "k.toml", "[server]\nport = 1\nbogus = 2\n")}, `line 3: unknown key "server.bogus"`},
		{"unknown section", []string{"--config", writeFile(t, "s.toml", "[nonsense]\nx = 1\n")}, `line 1: unknown key "nonsense"`},
		{"syntax", []string{"--config", writeFile(t, "y.toml", "[server\n")}, "line 2: expected"},
		{"bad duration", []string{"--config", writeFile(t, "d.toml", "[server]\nrequest_timeout = \"soon\"\n")}, "bad duration"},
		{"bad allow", []string{"--config", empty, "--allow", "not a host!"}, "allow entry"},
		{"bad secure", []string{"--config", writeFile(t, "c.toml", "[[collector]]\nhost = \"db1\"\nsecure = \"maybe\"\n")}, "collector db1"},
		{"collector without host", []string{"--config", writeFile(t, "h.toml", "[[collector]]\nport = 44321\n")}, "host is required"},
		{"-Q without certificate", []string{"--config", empty, "-Q"}, "needs a certificate"},
		{"missing store", []string{"--config", empty, "-C", "/nonexistent/db", "-M", "x"}, "TLS identity"},
		{"bad log format", []string{"--config", empty, "--log-format", "xml"}, "log format"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := runCLI(c.args...)
			if code != 2 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, c.want)
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	cfg := writeFile(t, "ok.toml", `
[server]
port = 44399
address = ["127.0.0.1"]
max_connections = 10
max_header_bytes = 4096
read_header_timeout = "2s"
request_timeout = "3s"

[upstream]
allow = ["10.0.0.0/8", "db1.example.com:44321"]
allow_loopback = false
connect_timeout = "1s"
default_hostspec = "127.0.0.1:44321"

[upstream.client]
secure = "relaxed"

[[collector]]
host = "db2.example.com"
port = 44321
secure = "enforce"
cert_db = "/etc/gopcp/proxyd-client"
nickname = "proxyd"

[log]
format = "json"
level = "debug"
`)
	out, errOut, code := runCLI("--config", cfg, "--check-config")
	if code != 0 || !strings.Contains(out, "configuration OK") || !strings.Contains(out, "collectors allowed: loopback false; ") ||
		!strings.Contains(out, "db2.example.com") || !strings.Contains(out, "TLS: off") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	c, err := LoadConfig(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.policy()
	if err != nil || p.AllowLoopback() {
		t.Fatalf("policy %v", err)
	}
	if id := c.clients().For("db2.example.com", 44321); id.StoreDir != "/etc/gopcp/proxyd-client" || id.Nickname != "proxyd" {
		t.Errorf("collector identity %+v", id)
	}
}

func TestListenFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	empty := writeFile(t, "empty.toml", "")
	_, errOut, code := runCLI("--config", empty, "-i", "127.0.0.1", "-p", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	if code != 1 || !strings.Contains(errOut, "cannot listen") {
		t.Fatalf("exit %d %q", code, errOut)
	}
}

func TestEnvironmentDefaults(t *testing.T) {
	t.Setenv("PMPROXY_PORT", "45999")
	t.Setenv("PMPROXY_LOCAL", "1")
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	o.merge(&c)
	if c.Server.Port != 45999 || strings.Join(c.Server.Address, ",") != "127.0.0.1,::1" {
		t.Fatalf("%+v", c.Server)
	}
	o, _ = parseFlags([]string{"-p", "1234", "-i", "::1,127.0.0.1", "--allow", "10.1.1.1", "--no-loopback"})
	c = Config{}
	o.merge(&c)
	if c.Server.Port != 1234 || len(c.Server.Address) != 2 || c.allowLoopback() || c.Upstream.Allow[0] != "10.1.1.1" {
		t.Fatalf("%+v %+v", c.Server, c.Upstream)
	}
}

// TestExampleConfig: etc/proxyd.toml loads strictly, shows every key the Config
// has, and proxyd --check-config accepts it once its store exists.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "etc", "proxyd.toml")
	c, err := LoadConfig(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Server.Port != 44322 || len(c.Collectors) != 1 || c.Upstream.Client.Secure != "none" || c.watchInterval() != DefaultWatchInterval {
		t.Fatalf("%+v", c)
	}
	data, _ := os.ReadFile(path)
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range tomlconfig.KnownKeys(Config{}) {
		if strings.HasSuffix(k, ".tls_conf") { // shown commented out: the alternative to cert_db
			continue
		}
		if !md.IsDefined(strings.Split(k, ".")...) {
			t.Errorf("the example does not show %s", k)
		}
	}
	pki := ptest.NewPKI(t)
	cfg := writeFile(t, "proxyd.toml", strings.NewReplacer("/etc/gopcp/certs/server", pki.ServerStore,
		"PCP Collector certificate", ptest.ServerNick).Replace(string(data)))
	if out, errOut, code := runCLI("--config", cfg, "--check-config"); code != 0 {
		t.Fatalf("--check-config refuses the example: %d %s %s", code, out, errOut)
	}
}

// TestFlagTable: --help shows every flag of the table with its placeholder and
// variables; the environment ranks below the file and the flags
// (PMPROXY_PORT), and a variable that is no port is a usage error naming it;
// the manual page and the completion come from the same table.
func TestFlagTable(t *testing.T) {
	help, _, _ := runCLI("--help")
	for _, f := range flags(&options{}) {
		for _, n := range f.Names() {
			w := "-" + n
			if len(n) > 1 {
				w = "--" + n
			}
			if !strings.Contains(help, "  "+w) {
				t.Errorf("help does not document %s", w)
			}
		}
	}
	for _, w := range []string{"-p PORT", "[$PMPROXY_PORT]", "$PMPROXY_LOCAL=1", "--allow HOST", "HTTP endpoints:", "Signals:"} {
		if !strings.Contains(help, w) {
			t.Errorf("help lacks %q", w)
		}
	}

	t.Setenv("PMPROXY_PORT", "45999")
	t.Setenv("PMPROXY_LOCAL", "1")
	file := writeFile(t, "p.toml", "[server]\nport = 45000\naddress = [\"::1\"]\n")
	o, err := parseFlags([]string{"--config", file})
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Port != 45000 || strings.Join(c.Server.Address, ",") != "::1" {
		t.Errorf("the environment overrode the file: %+v", c.Server)
	}
	o, _ = parseFlags([]string{"--config", file, "-p", "0", "-i", "127.0.0.1"})
	if c, err = loadConfig(o); err != nil || c.Server.Port != 0 || strings.Join(c.Server.Address, ",") != "127.0.0.1" {
		t.Errorf("-p 0 (any port) and -i did not override: %+v %v", c.Server, err)
	}
	for _, bad := range []string{"x", "70000"} {
		t.Setenv("PMPROXY_PORT", bad)
		if _, e, code := runCLI("--config", file, "--check-config"); code != 2 || !strings.Contains(e, "PMPROXY_PORT") {
			t.Errorf("PMPROXY_PORT=%s: exit %d %q", bad, code, e)
		}
	}
	t.Setenv("PMPROXY_PORT", "") // empty: not given

	page, e, code := runCLI("--generate-man", "--version", "1.0", "--date", "2030-01-01")
	if code != 0 || !strings.Contains(page, `.TH PROXYD 8 "2030-01-01" "gopcp 1.0"`) || !strings.Contains(page, `\fB--allow HOST\fP`) ||
		!strings.Contains(page, ".SH HTTP ENDPOINTS") {
		t.Errorf("generate-man: exit %d %s\n%s", code, e, page)
	}
	comp, _, code := runCLI("completion", "bash")
	if code != 0 || !strings.Contains(comp, `--log-format) COMPREPLY=($(compgen -W "text json"`) ||
		!strings.Contains(comp, `-C) COMPREPLY=($(compgen -d`) || !strings.Contains(comp, "complete -F _proxyd proxyd") {
		t.Errorf("completion: exit %d\n%s", code, comp)
	}
}
