package server

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/pcptest"
)

// stockHosts are a real pmcd (pmcd, linux and proc agents) and collectord, each on
// TCP loopback and on a unix socket. The real proc agent refuses per-process values
// to TCP clients without credentials (PM_ERR_PERMISSION), so the process tools run
// over the unix sockets, as a local user runs them.
type stockHosts struct {
	realTCP, ourTCP, realUnix, ourUnix string
}

// startStockHosts starts both collectors for one test.
func startStockHosts(t *testing.T) stockHosts {
	t.Helper()
	realPort, realSock := startRealPMCDWithSocket(t)
	s, addr, _ := startServer(t, nil)
	sock := filepath.Join(t.TempDir(), "pmcd.socket")
	serveUnix(t, s, sock)
	return stockHosts{
		realTCP: "127.0.0.1:" + strconv.Itoa(realPort), ourTCP: addr,
		realUnix: "unix:" + realSock, ourUnix: "unix:" + sock,
	}
}

// startRealPMCDWithSocket is pcptest.StartPMCD that also returns the path of the real
// pmcd's unix socket (reference-pcp puts it at DIR/run/pmcd.socket).
func startRealPMCDWithSocket(t *testing.T) (int, string) {
	t.Helper()
	script, err := pcptest.ReferenceScript()
	if err != nil {
		t.Fatalf("cannot start the real pmcd: %v", err)
	}
	dir := t.TempDir()
	port := pcptest.FreePort(t)
	if out, err := exec.Command(script, "start", dir, strconv.Itoa(port)).CombinedOutput(); err != nil {
		t.Fatalf("reference-pcp start: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(script, "stop", dir).Run() })
	sock := filepath.Join(dir, "run", "pmcd.socket")
	// pmcd accepts before its agents answer; wait until a process value comes back.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		cmd := exec.Command(pcptest.PMInfo, "-h", "unix:"+sock, "-f", "proc.nprocs")
		cmd.Env = pcptest.Env()
		if out, err := cmd.Output(); err == nil && strings.Contains(string(out), "value") {
			return port, sock
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("real pmcd on port %d did not answer on %s", port, sock)
	return 0, ""
}

// stockCase is one stock tool run against both collectors.
type stockCase struct {
	name string
	args []string // "HOST" is replaced by the collector's address
	unix bool     // over the unix sockets (the tool reads per-process values)
	// skipFirst: lines at the top whose layout depends on the host's state, not on
	// the metrics (a first row of rates with blanks).
	skipFirst int
	// reduce gives what must not differ; valueLayout when nil.
	reduce func(string) []string
	// alone: the output counts the host's other clients (pcp summary prints
	// pmcd.numclients less its own), so the case runs before the parallel ones.
	alone bool
}

// valueNumber is a value as these tools print it: pmval's "2751." and "1.457E+04",
// pcp vmstat's "11K" and "16359m" included.
var valueNumber = regexp.MustCompile(`^[-+]?[0-9][0-9.:,]*([eE][-+]?[0-9]+)?[BkKmMgGT]?$`)

// valueLayout is layout with valueNumber.
func valueLayout(out string) []string { return layout(out, valueNumber, false) }

// stockProblem is how the stock tools report a metric the collector lacks or
// cannot give.
var stockProblem = regexp.MustCompile(`(?i)missing|invalid metric|unknown metric|not in namespace|not available|not found|PM_ERR|\bError:`)

// runStockCase runs tc against the real pmcd and against collectord: each run must
// exit 0 with nothing on standard error and no missing-metric complaint, and the
// two must reduce to the same layout.
func runStockCase(t *testing.T, h stockHosts, tc stockCase) {
	t.Helper()
	realHost, ourHost := h.realTCP, h.ourTCP
	if tc.unix {
		realHost, ourHost = h.realUnix, h.ourUnix
	}
	reduce := tc.reduce
	if reduce == nil {
		reduce = valueLayout
	}
	run := func(host string) (string, []string) {
		args := append([]string(nil), tc.args...)
		for i := range args {
			args[i] = strings.ReplaceAll(args[i], "HOST", host)
		}
		out, errOut, code := runStock(t, args...)
		if code != 0 || errOut != "" || stockProblem.MatchString(out) {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		// Tools that print the address they were given (pmie) must not differ by it.
		l := reduce(strings.ReplaceAll(out, host, "HOST"))
		if len(l) > tc.skipFirst {
			l = l[tc.skipFirst:]
		}
		return out, l
	}
	wantOut, want := run(realHost)
	gotOut, got := run(ourHost)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		// Once more before failing: the state of the host may change between the two
		// runs (once the real pmcd's :sar-y run printed "=" for the tty instance and
		// N/A for every value, and the normal line on the next run).
		wantOut, want = run(realHost)
		gotOut, got = run(ourHost)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("layout differs from the real pmcd's:\n--- collectord\n%s--- real pmcd\n%s", gotOut, wantOut)
	}
}

// pmrepDir holds the pmrep configurations PCP ships.
const pmrepDir = "/etc/pcp/pmrep"

// pmrepNotDriven are the shipped pmrep sections this test does not run, with why.
var pmrepNotDriven = map[string]string{
	"pmproxy":          "pmproxy's own agent, not linux or proc",
	"pmproxy-resource": "pmproxy's own agent, not linux or proc",
	"pmproxy-series":   "pmproxy's own agent, not linux or proc",
	"proc-activity":    "bcc agent (bcc.proc.net.*), not installed with the real pmcd either",
	"proc-net":         "bcc agent (bcc.proc.net.*), not installed with the real pmcd either",
	"proc-net-ext":     "bcc agent (bcc.proc.net.*), not installed with the real pmcd either",
	// The real pmcd as reference-pcp starts it lists the tty instance but gives no
	// tty.serial.* value (pmrep prints "=" and N/A on every row), so there is no
	// layout to compare; collectord gives values from /proc/tty/driver/serial.
	"sar-y": "the real pmcd started for the test serves no tty.serial.* values",
}

// pmrepSections lists the sections of the shipped pmrep configurations, file by
// file, as pmrep reads them (a line "[name]"; [options] holds defaults).
func pmrepSections(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(pmrepDir, "*.conf"))
	if err != nil || len(files) == 0 {
		t.Skipf("no pmrep configurations in %s: install the Debian package pcp (scripts/reference-pcp install)", pmrepDir)
	}
	var secs []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
				if name := l[1 : len(l)-1]; name != "options" {
					secs = append(secs, name)
				}
			}
		}
		fh.Close()
	}
	sort.Strings(secs)
	return secs
}

// TestStockPmrepConfigs runs the real pmrep with every section of the configurations
// under /etc/pcp/pmrep that reads the linux and proc agents (:sar*, :iostat*,
// :mpstat*, :numa-*, :vmstat*, :collectl-*, :pidstat*, :proc-*) against collectord
// and the real pmcd: no errors, same layout. The per-process sections run over the
// unix sockets for process 1 only, so that both list the same instance.
func TestStockPmrepConfigs(t *testing.T) {
	requirePCPTools(t, "/usr/bin/pmrep")
	secs := pmrepSections(t)
	h := startStockHosts(t)
	driven := 0
	for _, sec := range secs {
		if why, ok := pmrepNotDriven[sec]; ok {
			t.Logf(":%s not run: %s", sec, why)
			continue
		}
		driven++
		tc := stockCase{name: sec, args: []string{"/usr/bin/pmrep", "-h", "HOST", "-t", "0.2", "-s", "2", ":" + sec}}
		if strings.HasPrefix(sec, "pidstat") || (strings.HasPrefix(sec, "proc-") && sec != "proc-os-stats") {
			tc.unix = true
			tc.args = append(tc.args, "-i", "000001 .*")
		}
		t.Run(sec, func(t *testing.T) {
			t.Parallel()
			runStockCase(t, h, tc)
		})
	}
	if driven < 60 {
		t.Errorf("only %d pmrep sections driven of %d", driven, len(secs))
	}
}

// versionWord hides pmcd's version in pcp summary: collectord reports the PCP
// release it follows with gopcp's own version as the build (pmcd.version, pmcd.build).
var versionWord = regexp.MustCompile(`Version \S+,`)

// atopSystemLine is a line of pcp atop's system section ("CPU | sys 58% | ...").
var atopSystemLine = regexp.MustCompile(`^[A-Za-z]{3} +\|`)

// atopLayout keeps atop's system section: per line, the resource and the label of
// each cell ("PRC sys user #proc ..."); the process list below it differs by nature.
// Runs of lines of one resource are sorted: atop orders cpus, disks and interfaces
// by how busy they are, which changes from one run to the next (and the real linux
// agent gives an interface whose sysfs speed is -1, unknown, the speed ethtool's
// SPEED_UNKNOWN reads as, 4294967295 Mbit/s, so atop ranks it by a busy percentage;
// collectord leaves that speed absent and atop prints "----").
func atopLayout(out string) []string {
	var s []string
	for _, l := range strings.Split(out, "\n") {
		if !atopSystemLine.MatchString(l) {
			continue
		}
		var labels []string
		for _, cell := range strings.Split(l, "|") {
			if f := strings.Fields(cell); len(f) > 0 {
				labels = append(labels, f[0])
			}
		}
		s = append(s, strings.Join(labels, " "))
	}
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && strings.Fields(s[j])[0] == strings.Fields(s[i])[0] {
			j++
		}
		sort.Strings(s[i:j])
		i = j
	}
	return s
}

// TestStockCommandsAgainstCollectord runs the rest of the stock commands that read
// the linux and proc agents against collectord and the real pmcd: pcp atop, dstat's
// other plugins (mem, swap, vm, io, fs, ipc, lock, raw, socket, tcp, udp, unix), ipcs,
// numastat, summary, tapestat, vmstat, iostat, pidstat and ps, and pmval of a few
// metrics. Each must exit 0 with nothing on standard error and no missing-metric
// complaint, and print the same layout as with the real pmcd.
func TestStockCommandsAgainstCollectord(t *testing.T) {
	requirePCPTools(t, "/usr/bin/pcp", "/usr/bin/pmval", "/usr/lib/pcp/bin/pcp-atop",
		"/usr/lib/pcp/bin/pcp-ipcs", "/usr/lib/pcp/bin/pcp-numastat", "/usr/lib/pcp/bin/pcp-summary",
		"/usr/lib/pcp/bin/pcp-tapestat", "/usr/lib/pcp/bin/pcp-vmstat", "/usr/lib/pcp/bin/pcp-iostat",
		"/usr/lib/pcp/bin/pcp-pidstat", "/usr/lib/pcp/bin/pcp-ps")
	h := startStockHosts(t)
	pcp := func(args ...string) []string { return append([]string{"/usr/bin/pcp", "-h", "HOST"}, args...) }
	cases := []stockCase{
		{name: "atop", args: pcp("atop", "1", "1"), unix: true, reduce: atopLayout},
		// The dstat plugins TestStockMonitorsAgainstCollectord does not run.
		{name: "dstat-more", args: pcp("dstat", "--nocolor", "--mem", "--swap", "--vm", "--io", "--fs", "--ipc",
			"--lock", "--raw", "--socket", "--tcp", "--udp", "--unix", "1", "2"), reduce: toolLayout},
		{name: "ipcs", args: pcp("ipcs")},
		{name: "numastat", args: pcp("numastat")},
		{name: "summary", args: pcp("summary"), alone: true, reduce: func(out string) []string {
			return valueLayout(versionWord.ReplaceAllString(out, "Version V,"))
		}},
		{name: "tapestat", args: pcp("tapestat", "-t", "0.3", "-s", "2")},
		{name: "vmstat", args: pcp("vmstat", "1", "2"), skipFirst: 1},
		{name: "iostat", args: pcp("iostat", "-t", "0.3", "-s", "2")},
		{name: "iostat-x", args: pcp("iostat", "-t", "0.3", "-s", "2", "-x", "t")},
		{name: "pidstat", args: pcp("pidstat", "-p", "1", "-t", "0.3", "-s", "2"), unix: true},
		{name: "pidstat-r", args: pcp("pidstat", "-p", "1", "-r", "-t", "0.3", "-s", "2"), unix: true},
		{name: "ps", args: pcp("ps", "-p", "1"), unix: true},
		{name: "ps-u", args: pcp("ps", "-u", "-p", "1"), unix: true},
	}
	for _, m := range []string{"kernel.all.load", "kernel.percpu.cpu.user", "mem.util.used", "disk.dev.read",
		"network.interface.in.bytes", "swap.pagesin", "hinv.ncpu", "proc.nprocs"} {
		cases = append(cases, stockCase{name: "pmval-" + m, args: []string{"/usr/bin/pmval", "-h", "HOST", "-t", "0.2", "-s", "2", m}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.alone {
				t.Parallel() // paused until every case that runs alone is done
			}
			runStockCase(t, h, tc)
		})
	}
}

// pmieDelta is every "delta = N min;" line of a pmieconf configuration: the rules
// are evaluated every minute or two, too slow for a test, so each becomes a second.
var pmieDelta = regexp.MustCompile(`(?m)^delta = [0-9]+ mins?;$`)

// pmieVerdict is a line of pmie -v: a rule and what it evaluated to.
var pmieVerdict = regexp.MustCompile(`^([a-z_][a-z0-9_.]*): (true|false|unknown)$`)

// pmieNoValue are the shipped pmie rules that evaluate against the real pmcd here
// but stay unknown against collectord, with why.
var pmieNoValue = map[string]string{
	// The real linux agent reports 0 for every cpu when
	// /sys/devices/system/cpu/cpuN/thermal_throttle is absent (a virtual machine);
	// collectord leaves the value absent, as issue 15 asks for what the kernel does
	// not expose.
	"power.thermal_throttle": "hinv.cpu.thermal_throttle.package.time absent without sysfs thermal_throttle",
}

// pmieRun runs the real pmie against host with config for three seconds, printing
// each rule's verdict (-v), and returns its diagnostics (host names replaced) and,
// per rule, the verdicts seen.
func pmieRun(t *testing.T, host, config string) ([]string, map[string]map[string]bool) {
	t.Helper()
	out, errOut, code := runStock(t, "/usr/bin/pmie", "-v", "-T", "3sec", "-h", host, "-c", config)
	if code != 0 {
		t.Fatalf("pmie -h %s: exit %d\n%s%s", host, code, out, errOut)
	}
	diag := map[string]bool{}
	for _, l := range strings.Split(errOut, "\n") {
		// "Info: evaluator exiting" is stamped with the time and pmie's process id.
		if l = strings.TrimSpace(l); l != "" && !strings.Contains(l, "Info: evaluator exiting") {
			diag[strings.ReplaceAll(l, host, "HOST")] = true
		}
	}
	verdicts := map[string]map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if m := pmieVerdict.FindStringSubmatch(l); m != nil {
			if verdicts[m[1]] == nil {
				verdicts[m[1]] = map[string]bool{}
			}
			verdicts[m[1]][m[2]] = true
		}
	}
	if len(verdicts) == 0 {
		t.Fatalf("pmie -h %s printed no verdicts:\n%s%s", host, out, errOut)
	}
	var d []string
	for l := range diag {
		d = append(d, l)
	}
	sort.Strings(d)
	return d, verdicts
}

// TestPmieRulesAgainstCollectord generates pmie's configuration from the shipped
// pmieconf rules (every rule enabled by default), evaluates it with the real pmie
// every second for three seconds against the real pmcd and against collectord, and
// requires of collectord no diagnostic (unknown metric, metric not in the namespace,
// ...) the real pmcd does not give, and a verdict for every rule that gets one from
// the real pmcd (a rule left unknown lacks values), but for pmieNoValue.
func TestPmieRulesAgainstCollectord(t *testing.T) {
	requirePCPTools(t, "/usr/bin/pmie", "/usr/bin/pmieconf")
	h := startStockHosts(t)
	dir := t.TempDir()
	generated := filepath.Join(dir, "generated")
	out, errOut, code := runStock(t, "/usr/bin/pmieconf", "-F", "-f", generated)
	if code != 0 {
		t.Fatalf("pmieconf -F: exit %d\n%s%s", code, out, errOut)
	}
	rules, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pmieDelta.FindAll(rules, -1)); n < 10 {
		t.Fatalf("pmieconf wrote %d rules:\n%s", n, rules)
	}
	config := filepath.Join(dir, "config")
	if err := os.WriteFile(config, pmieDelta.ReplaceAll(rules, []byte("delta = 1 sec;")), 0o600); err != nil {
		t.Fatal(err)
	}
	realDiag, realVerdicts := pmieRun(t, h.realTCP, config)
	ourDiag, ourVerdicts := pmieRun(t, h.ourTCP, config)
	known := map[string]bool{}
	for _, l := range realDiag {
		known[l] = true
	}
	for _, l := range ourDiag {
		if !known[l] {
			t.Errorf("pmie against collectord: %s", l)
		}
	}
	for rule, v := range realVerdicts {
		if !v["true"] && !v["false"] {
			continue
		}
		if ov := ourVerdicts[rule]; !ov["true"] && !ov["false"] {
			if why, ok := pmieNoValue[rule]; ok {
				t.Logf("%s: no verdict against collectord: %s", rule, why)
				continue
			}
			t.Errorf("rule %s: a verdict against the real pmcd, only unknown against collectord", rule)
		}
	}
	t.Logf("pmie: %d rules; diagnostics: real pmcd %d, collectord %d", len(realVerdicts), len(realDiag), len(ourDiag))
}

// terminalEscape is a terminal control sequence as htop writes them (CSI sequences,
// character-set selection, keypad mode).
var terminalEscape = regexp.MustCompile("\x1b\\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>]")

// htopMeter is the label of one of htop's meters ("Tasks:", "Load average:", "Mem[").
var htopMeter = regexp.MustCompile(`[A-Z][a-z]+(?: [a-z]+)?[:\[]`)

// htopScreen runs pcp htop against host in a pseudo-terminal (script(1) provides it)
// until the first screen is drawn, its key bar included, or 60 seconds pass, and
// returns the screen's text with the terminal escapes removed.
func htopScreen(t *testing.T, host string) string {
	t.Helper()
	cmd := exec.Command("/usr/bin/script", "-qfec", "/usr/bin/pcp -h '"+host+"' htop -d 10", "/dev/null")
	cmd.Env = stockEnv()
	if os.Getenv("TERM") == "" {
		// htop refuses to start without a terminal type; CI runs tests without one.
		cmd.Env = append(cmd.Env, "TERM=xterm")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("script: %v", err)
	}
	pw.Close()
	screen := make(chan string, 1)
	go func() {
		var all []byte
		buf := make([]byte, 4096)
		sent := false
		for {
			n, err := pr.Read(buf)
			all = append(all, buf[:n]...)
			if text := terminalEscape.ReplaceAllString(string(all), ""); !sent && strings.Contains(text, "F10Quit") {
				screen <- text
				sent = true
			}
			if err != nil {
				if !sent {
					screen <- terminalEscape.ReplaceAllString(string(all), "")
				}
				return
			}
		}
	}()
	var text string
	select {
	case text = <-screen:
	case <-time.After(60 * time.Second):
		text = "(nothing drawn in 60 s)"
	}
	// script ends htop with its session on SIGTERM.
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	pr.Close()
	return text
}

// htopThreads finds the thread count of htop's Tasks meter ("Tasks: 101, 250 thr,
// 62 kthr; 2 running"): -1 when the meter shows none.
var htopThreads = regexp.MustCompile(`Tasks: [0-9]+, ([0-9]+) thr`)

// TestStockHtopAgainstCollectord starts the real pcp htop in a pseudo-terminal over
// the unix sockets (as a local user runs it: per-process values) against the real
// pmcd and against collectord: each must draw its first screen with the same meters
// and no complaint about metrics above the process list. htop stores
// proc.control.perclient.threads 1 for itself and counts the tasks that are not
// their process's leader: where the real pmcd's screen shows threads, collectord's
// must too (a number, not "0 thr"; the two hosts' counts differ by the tasks that
// came and went between the screens).
func TestStockHtopAgainstCollectord(t *testing.T) {
	requirePCPTools(t, "/usr/bin/pcp", "/usr/lib/pcp/bin/pcp-htop", "/usr/bin/script")
	h := startStockHosts(t)
	meters := func(host string) ([]string, int) {
		screen := htopScreen(t, host)
		top, _, ok := strings.Cut(screen, "PID USER")
		if !ok || !strings.Contains(screen, "F10Quit") {
			t.Fatalf("pcp htop -h %s drew no screen:\n%s", host, screen)
		}
		if stockProblem.MatchString(top) {
			t.Errorf("pcp htop -h %s:\n%s", host, top)
		}
		thr := -1
		if m := htopThreads.FindStringSubmatch(top); m != nil {
			thr, _ = strconv.Atoi(m[1])
		}
		return htopMeter.FindAllString(top, -1), thr
	}
	want, wantThr := meters(h.realUnix)
	got, gotThr := meters(h.ourUnix)
	if strings.Join(got, " ") != strings.Join(want, " ") || len(want) < 4 {
		t.Errorf("htop's meters against collectord: %q, against the real pmcd: %q", got, want)
	}
	t.Logf("htop's thread count: real pmcd %d, collectord %d", wantThr, gotThr)
	if wantThr > 0 && gotThr <= 0 {
		t.Errorf("htop shows %d thr against the real pmcd, %d against collectord", wantThr, gotThr)
	}
}
