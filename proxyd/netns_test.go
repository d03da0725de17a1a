package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/netnstest"
	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/proxyd/internal/ptest"
)

// TestRemoteClientsNetns plays the review's attack from another host: proxyd
// and a collectord -Q run in a server namespace on the usual ports, with a web
// service bound to the server's loopback; the attacker is in a client
// namespace and reaches only proxyd, over a veth pair.
//
//   - REST without a certificate: 403, the collector's metrics are not read
//     with proxyd's identity;
//   - REST over HTTPS with a client certificate proxyd verifies: the metrics;
//   - the same request from the server's own loopback: the metrics;
//   - the relay to the loopback web service (even listed): zero bytes either way.
func TestRemoteClientsNetns(t *testing.T) {
	pair := netnstest.New(t)
	pki := ptest.NewPKI(t)
	dir := t.TempDir()
	col, pxBin := build(t, "github.com/gopcp/gopcp/collectord"), build(t, "github.com/gopcp/gopcp/proxyd")
	caPEM, certPEM, keyPEM := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	os.WriteFile(caPEM, pki.CA.CertPEM(), 0o644)
	os.WriteFile(certPEM, pki.Client.CertPEM(), 0o644)
	os.WriteFile(keyPEM, pki.Client.KeyPEM(t), 0o600)
	cfg := writeFile(t, "proxyd.toml", `
[tls]
cert_db = "`+pki.ServerStore+`"
nickname = "`+ptest.ServerNick+`"
[upstream]
allow = ["127.0.0.1:8080"]  # listed on purpose: the greeting check must still stop it
[upstream.client]
secure = "enforce"
cert_db = "`+pki.ClientStore+`"
nickname = "`+ptest.ClientNick+`"
`)
	start := func(name string, args ...string) *syncBuffer {
		out := &syncBuffer{}
		cmd := netnstest.Command(pair.Server, name, args...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return out
	}
	start(col, "--config", "/dev/null", "-i", "127.0.0.1", "-p", "44321", "-C", pki.ServerStore, "-M", ptest.ServerNick, "-Q")
	start(pxBin, "--config", cfg, "-i", pair.ServerIP.String()+",127.0.0.1", "-p", "44322")
	webLog := start("python3", "-u", "-m", "http.server", "8080", "--bind", "127.0.0.1")

	curl := func(ns string, args ...string) (string, error) {
		out, err := netnstest.Command(ns, "curl", append([]string{"-sS", "--max-time", "10", "-w", " HTTP%{http_code}"}, args...)...).CombinedOutput()
		return string(out), err
	}
	path := "/pmapi/fetch?names=hinv.ncpu&hostspec=127.0.0.1:44321"
	local := "http://127.0.0.1:44322" + path
	var out string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		if out, err = curl(pair.Server, local); err == nil && strings.HasSuffix(out, "HTTP200") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxyd and collectord not serving on the server's loopback: %s", out)
		}
	}
	if !strings.Contains(out, `"hinv.ncpu"`) {
		t.Fatalf("loopback: %s", out)
	}
	remote := "http://" + pair.ServerIP.String() + ":44322" + path
	if out, _ := curl(pair.Client, remote); !strings.HasSuffix(out, "HTTP403") || strings.Contains(out, `"values"`) ||
		!strings.Contains(out, "authenticated to proxyd") {
		t.Errorf("remote, no certificate: %s", out)
	}
	if out, _ := curl(pair.Client, "--resolve", "localhost:44322:"+pair.ServerIP.String(), "--cacert", caPEM,
		"--cert", certPEM, "--key", keyPEM, "https://localhost:44322"+path); !strings.HasSuffix(out, "HTTP200") || !strings.Contains(out, `"hinv.ncpu"`) {
		t.Errorf("remote, authenticated: %s", out)
	}
	if out, _ := curl(pair.Client, "--resolve", "localhost:44322:"+pair.ServerIP.String(), "--cacert", caPEM,
		"https://localhost:44322"+path); !strings.HasSuffix(out, "HTTP403") {
		t.Errorf("remote, HTTPS without a certificate: %s", out)
	}

	// The relay, from the client namespace, to the web service on the server's
	// loopback: a raw client that sends its request with the prelude.
	const probe = `
import socket, sys
s = socket.create_connection((sys.argv[1], 44322), timeout=10)
s.sendall(b"pmproxy-client 1\n127.0.0.1 8080\nGET / HTTP/1.0\r\n\r\n")
got = b""
while True:
    try:
        b = s.recv(4096)
    except Exception:
        break
    if not b:
        break
    got += b
sys.stdout.write(repr(got))
`
	b, err := netnstest.Command(pair.Client, "python3", "-c", probe, pair.ServerIP.String()).CombinedOutput()
	if err != nil || string(b) != `b'pmproxy-server 1\n'` {
		t.Errorf("relay to the web service: %s %v", b, err)
	}
	time.Sleep(200 * time.Millisecond)
	if strings.Contains(webLog.String(), "GET") {
		t.Errorf("the web service on the server's loopback served a relayed request:\n%s", webLog)
	}

	// The real pminfo from the other host through the relay to the collector on
	// the default port: TLS runs end to end, so its own certificate decides.
	if _, err := os.Stat(pcptest.PMInfo); err != nil {
		t.Logf("real pminfo not tested: %s", pcptest.InstallHint)
		return
	}
	spec := "127.0.0.1:44321@" + pair.ServerIP.String() + ":44322"
	pminfo := func(env ...string) (string, error) {
		cmd := netnstest.Command(pair.Client, pcptest.PMInfo, "-h", spec, "-f", "hinv.ncpu")
		cmd.Env = toolEnv(env...)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if out, err := pminfo("PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH="+pki.ClientTLSConf); err != nil || !strings.Contains(out, "value ") {
		t.Errorf("real pminfo with a certificate through the relay: %v\n%s", err, out)
	}
	if out, err := pminfo("PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH="+pki.NoCertTLSConf); err == nil || strings.Contains(out, "value ") {
		t.Errorf("real pminfo without a certificate through the relay: %v\n%s", err, out)
	}
}
