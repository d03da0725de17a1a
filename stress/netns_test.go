package stress

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/netnstest"
	"github.com/gopcp/gopcp/internal/safetext"
)

// nsCase is one client run against the site: an attack (must get nothing) or a
// positive control (must get the secret).
type nsCase struct {
	name    string
	server  bool     // run in the server namespace (loopback controls); else the client's
	tool    string   // "pcpattack", "pminfo", "pcp-pminfo" (the real one), "curl"
	args    []string // after the program
	env     []string // beside cleanEnv and HOME
	control bool
}

// TestNetnsNoPathAroundQ: with proxyd beside a collectord -Q on a host of its
// own (a network namespace), no client on another host (another namespace,
// joined by a veth pair) reads a metric without a certificate the collector
// trusts: not directly (plaintext, TLS without a certificate, a certificate
// from another CA; our pminfo, the real PCP pminfo and a raw client that
// ignores the flags it is sent), not through proxyd's relay (the same, raw
// bytes after the prelude, TLS first to proxyd, other loopback names), not
// through the REST API or /metrics (every host spec trick, HTTPS without or
// with a stranger's certificate, a context number made by a loopback client),
// and the relay gives nothing of a loopback service that is not PCP. The
// secret is the collector's host name, set in a UTS namespace of its own, so
// it appears only where a metric value went. Positive controls prove the
// detector: a valid certificate gets the value directly and through the relay,
// and proxyd's REST API works for a loopback client on the collector's host.
func TestNetnsNoPathAroundQ(t *testing.T) {
	if why := netnstest.Available(); why != "" {
		t.Skip(why)
	}
	program(t, "pcpattack") // builds every program first: not part of the figures
	start := time.Now()
	s := newSite(t)
	setup := time.Since(start)
	srv := s.pair.ServerIP.String()
	direct := srv + ":" + strconv.Itoa(nsCollectorPort)
	proxy := srv + ":" + strconv.Itoa(nsProxyPort)
	col := "127.0.0.1:" + strconv.Itoa(nsCollectorPort)
	metrics := []string{"-f", "kernel.uname.nodename", "hinv.ncpu"}
	names := "names=kernel.uname.nodename,hinv.ncpu"
	enforce := func(store string) []string {
		return []string{"PCP_SECURE_SOCKETS=enforce", "PCP_SECURE_DB_PATH=" + store}
	}
	relayTo := func(host string, port int) []string { return []string{"-relay", host + " " + strconv.Itoa(port)} }

	// A context made by a loopback client, whose number a remote client may guess.
	// (Without curl the cases that use it are skipped with the others.)
	var ctx struct {
		Context int `json:"context"`
	}
	if lookPath("curl") != "" {
		ctxOut, code := nsRun(s.pair.Server, cleanEnv(), "curl", "-sS", "--max-time", "10",
			"http://127.0.0.1:"+strconv.Itoa(nsProxyPort)+"/pmapi/context?polltimeout=600&hostspec="+col)
		if code != 0 || json.Unmarshal([]byte(ctxOut), &ctx) != nil || ctx.Context == 0 {
			t.Fatalf("a loopback client on the collector's host cannot make a REST context (exit %d): %s", code, escapeLog(ctxOut))
		}
	}

	var cases []nsCase
	add := func(c nsCase) { cases = append(cases, c) }
	attack := func(name, tool string, env []string, args ...string) {
		add(nsCase{name: name, tool: tool, args: args, env: env})
	}
	// Directly to the collector.
	attack("direct/plaintext/pcpattack", "pcpattack", nil, "plain", direct)
	attack("direct/plaintext-blind/pcpattack", "pcpattack", nil, "blind", direct)
	attack("direct/plaintext/pminfo", "pminfo", nil, append([]string{"-h", srv}, metrics...)...)
	attack("direct/plaintext/pcp-pminfo", "pcp-pminfo", nil, append([]string{"-h", srv}, metrics...)...)
	attack("direct/tls-no-cert/pcpattack", "pcpattack", nil, "tls", direct)
	attack("direct/tls-no-cert/pminfo", "pminfo", enforce(s.trustOnly), append([]string{"-h", srv}, metrics...)...)
	attack("direct/tls-untrusted-ca/pcpattack", "pcpattack", nil, "-cert", s.strangerPEM, "-key", s.strangerPEM, "tls", direct)
	attack("direct/tls-untrusted-ca/pminfo", "pminfo", enforce(s.strangerStore), append([]string{"-h", srv}, metrics...)...)
	// Through proxyd's relay, to the collector on proxyd's loopback.
	for _, h := range []string{"127.0.0.1", "localhost", "::1"} {
		attack("relay/plaintext/pcpattack/"+h, "pcpattack", nil, append(relayTo(h, nsCollectorPort), "plain", proxy)...)
	}
	attack("relay/raw-after-prelude/pcpattack", "pcpattack", nil, append(relayTo("127.0.0.1", nsCollectorPort), "blind", proxy)...)
	attack("relay/tls-first-to-proxyd-then-plaintext/pcpattack", "pcpattack", nil,
		append(relayTo("127.0.0.1", nsCollectorPort), "-proxy-tls", "plain", proxy)...)
	attack("relay/tls-no-cert/pcpattack", "pcpattack", nil, append(relayTo("127.0.0.1", nsCollectorPort), "tls", proxy)...)
	attack("relay/tls-untrusted-ca/pcpattack", "pcpattack", nil,
		append(relayTo("127.0.0.1", nsCollectorPort), "-cert", s.strangerPEM, "-key", s.strangerPEM, "tls", proxy)...)
	viaProxy := "127.0.0.1@" + proxy
	attack("relay/plaintext/pminfo", "pminfo", nil, append([]string{"-h", viaProxy}, metrics...)...)
	attack("relay/plaintext/pcp-pminfo", "pcp-pminfo", nil, append([]string{"-h", viaProxy}, metrics...)...)
	attack("relay/plaintext/pcp-pminfo-PMPROXY_HOST", "pcp-pminfo", []string{"PMPROXY_HOST=" + srv, "PMPROXY_PORT=" + strconv.Itoa(nsProxyPort)},
		append([]string{"-h", "127.0.0.1"}, metrics...)...)
	attack("relay/tls-no-cert/pminfo", "pminfo", enforce(s.trustOnly), append([]string{"-h", viaProxy}, metrics...)...)
	attack("relay/tls-untrusted-ca/pminfo", "pminfo", enforce(s.strangerStore), append([]string{"-h", viaProxy}, metrics...)...)
	// Through the relay to a loopback service that is not PCP.
	attack("relay/non-pcp-service/banner-blind", "pcpattack", nil, append(relayTo("127.0.0.1", nsBannerPort), "blind", proxy)...)
	attack("relay/non-pcp-service/banner-plain", "pcpattack", nil, append(relayTo("127.0.0.1", nsBannerPort), "plain", proxy)...)
	// The REST API and /metrics, with host spec tricks.
	hostspecs := []string{"", col, "localhost", "localhost:44321", "[::1]:44321", "127.0.0.2:44321", srv + ":44321",
		col + "?secure=none", "pcp://" + col + "?secure=none", "local:", "unix:/run/pcp/pmcd.socket", "unix:" + s.unixSocket,
		"127.0.0.1:" + strconv.Itoa(nsBannerPort), "127.0.0.1:22"}
	for _, hs := range hostspecs {
		q := ""
		if hs != "" {
			q = "hostspec=" + url.QueryEscape(hs) + "&"
		}
		label := hs
		switch hs {
		case "":
			label = "default"
		case "unix:" + s.unixSocket:
			label = "unix:collectord's-socket" // a temporary path: keep the name stable
		}
		for _, ep := range []string{"context", "fetch", "metric"} {
			attack("rest/"+ep+"/hostspec="+label, "curl", nil, "http://"+proxy+"/pmapi/"+ep+"?"+q+names)
		}
	}
	attack("rest/children", "curl", nil, "http://"+proxy+"/pmapi/children?prefix=kernel.uname")
	attack("rest/fetch/loopback-client's-context", "curl", nil, "http://"+proxy+"/pmapi/fetch?context="+strconv.Itoa(ctx.Context)+"&"+names)
	attack("rest/N/fetch/loopback-client's-context", "curl", nil, "http://"+proxy+"/pmapi/"+strconv.Itoa(ctx.Context)+"/fetch?"+names)
	for _, q := range []string{"", "?target=" + col, "?hostspec=" + col, "?hostspec=localhost&names=hinv.ncpu"} {
		attack("metrics"+q, "curl", nil, "http://"+proxy+"/metrics"+q)
	}
	attack("pmapi/metrics", "curl", nil, "http://"+proxy+"/pmapi/metrics?hostspec="+col)
	attack("https-no-cert/fetch", "curl", nil, "https://"+proxy+"/pmapi/fetch?hostspec="+col+"&"+names)
	attack("https-no-cert/metrics", "curl", nil, "https://"+proxy+"/metrics")
	attack("https-untrusted-ca/fetch", "curl", nil, "--cert", s.strangerPEM, "https://"+proxy+"/pmapi/fetch?hostspec="+col+"&"+names)

	// Positive controls.
	control := func(name string, server bool, tool string, env []string, args ...string) {
		add(nsCase{name: "control/" + name, server: server, tool: tool, args: args, env: env, control: true})
	}
	control("direct/valid-cert/pminfo", false, "pminfo", enforce(s.validStore), append([]string{"-h", srv}, metrics...)...)
	control("direct/valid-cert/pcpattack", false, "pcpattack", nil, "-cert", s.validPEM, "-key", s.validPEM, "tls", direct)
	control("relay/valid-cert/pminfo", false, "pminfo", enforce(s.validStore), append([]string{"-h", viaProxy}, metrics...)...)
	control("relay/valid-cert/pcpattack", false, "pcpattack", nil,
		append(relayTo("127.0.0.1", nsCollectorPort), "-cert", s.validPEM, "-key", s.validPEM, "tls", proxy)...)
	control("https-valid-cert/fetch", false, "curl", nil, "--cert", s.validPEM, "https://"+proxy+"/pmapi/fetch?hostspec="+col+"&"+names)
	control("rest-loopback/fetch", true, "curl", nil, "http://127.0.0.1:"+strconv.Itoa(nsProxyPort)+"/pmapi/fetch?hostspec="+col+"&"+names)
	control("rest-loopback/fetch-default-hostspec", true, "curl", nil, "http://127.0.0.1:"+strconv.Itoa(nsProxyPort)+"/pmapi/fetch?"+names)
	control("rest-loopback/context", true, "curl", nil, "http://127.0.0.1:"+strconv.Itoa(nsProxyPort)+"/pmapi/context?hostspec="+col)

	// The cases run at once, six at a time (most of their time is spent
	// waiting on a refusal or a timeout), then each is judged in its own subtest.
	type outcome struct {
		out        string
		code       int
		ran, leaks bool
	}
	results := make([]outcome, len(cases))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 6)
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			o := &results[i]
			o.out, o.code, o.ran = s.run(c)
			o.leaks = o.ran && s.gotThrough(c, o.out, o.code)
		}()
	}
	wg.Wait()
	ran := time.Since(start) - setup

	var tried, through, skipped, controlsOK, controls int
	var leaked []string
	for i, c := range cases {
		o := results[i]
		t.Run(c.name, func(t *testing.T) {
			if !o.ran {
				skipped++
				t.Skip(o.out)
			}
			t.Logf("exit %d: %s", o.code, safetext.Escape(clip(summary(o.out))))
			if c.control {
				controls++
				if !o.leaks {
					t.Errorf("positive control failed (exit %d): the detector or the set-up is broken:\n%s", o.code, escapeLog(clip(o.out)))
					return
				}
				controlsOK++
				return
			}
			tried++
			if o.leaks {
				through++
				leaked = append(leaked, c.name)
				t.Errorf("GOT THROUGH: a client without a trusted certificate received collector data (exit %d):\n%s", o.code, escapeLog(clip(o.out)))
			}
		})
	}
	figure(t, "Security across hosts (netns)", "cases tried %d, got through %d, skipped %d; positive controls %d/%d (set-up %.1f s, cases %.1f s)",
		tried, through, skipped, controlsOK, controls, setup.Seconds(), ran.Seconds())
	if through > 0 {
		t.Logf("got through: %s", strings.Join(leaked, ", "))
	}
}

// summary is what a run ended with: pcpattack's verdict, curl's status and
// the start of the body, or pminfo's last line.
func summary(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if strings.HasPrefix(last, "HTTPSTATUS") && len(lines) > 1 {
		body := lines[0]
		if len(body) > 160 {
			body = body[:160] + "..."
		}
		return last + " " + body
	}
	return last
}

// clip keeps the start and end of a long output (a /metrics page), enough to see
// what a client got.
func clip(s string) string {
	const keep = 1500
	if len(s) <= 2*keep {
		return s
	}
	return s[:keep] + fmt.Sprintf("\n[... %d bytes ...]\n", len(s)-2*keep) + s[len(s)-keep:]
}

// run runs one case and returns its output and exit code; ok is false when its
// tool is not installed (out says which; the case is skipped, and not counted).
func (s *site) run(c nsCase) (out string, code int, ok bool) {
	ns := s.pair.Client
	if c.server {
		ns = s.pair.Server
	}
	env := cleanEnv(append([]string{"HOME=" + s.home}, c.env...)...)
	switch c.tool {
	case "pcpattack", "pminfo":
		out, code = nsRun(ns, env, s.bins[c.tool], c.args...)
	case "pcp-pminfo":
		p := lookPath("/usr/bin/pminfo")
		if p == "" {
			return "the real PCP pminfo is not installed (scripts/reference-pcp install)", 0, false
		}
		out, code = nsRun(ns, env, p, c.args...)
	case "curl":
		if lookPath("curl") == "" {
			return "curl is not installed", 0, false
		}
		args := append([]string{"-sS", "-k", "--globoff", "--max-time", "15", "-w", "\nHTTPSTATUS %{http_code}\n"}, c.args...)
		out, code = nsRun(ns, env, "curl", args...)
	default:
		return "unknown tool " + c.tool, 0, false
	}
	return out, code, true
}

// gotThrough reports whether a client received collector data: the secret (or
// the non-PCP service's) in its output, or its tool's own sign of success (a
// metric PDU for pcpattack, exit 0 for pminfo, HTTP 200 for curl).
func (s *site) gotThrough(c nsCase, out string, code int) bool {
	if strings.Contains(out, s.bannerSecret) {
		return true
	}
	hasSecret := strings.Contains(out, s.secret)
	var success bool
	switch c.tool {
	case "pcpattack":
		success = strings.Contains(out, "VERDICT got-data")
	case "pminfo", "pcp-pminfo":
		success = code == 0
	case "curl":
		success = strings.Contains(out, "HTTPSTATUS 200")
	}
	if c.control {
		return hasSecret && success
	}
	return hasSecret || success
}
