package stress

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/internal/testcerts"
	"golang.org/x/sys/unix"
)

// certdb runs the certdb binary and fails t unless it succeeds.
func certdb(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, code := runCmd(t, cleanEnv(), program(t, "certdb"), args...)
	if code != 0 {
		t.Fatalf("certdb %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

var listLine = regexp.MustCompile(`^(.*\S)\s{2,}(\S+)\s*$`)

// listStore runs certdb list and returns nickname -> trust; a store that does not
// open fails t.
func listStore(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := certdb(t, "list", "-d", dir)
	m := map[string]string{}
	for i, l := range strings.Split(out, "\n") {
		if i < 3 || strings.TrimSpace(l) == "" {
			continue
		}
		if g := listLine.FindStringSubmatch(l); g != nil {
			m[g[1]] = g[2]
		} else {
			t.Fatalf("unreadable list line %q", l)
		}
	}
	return m
}

// certFile writes a new self-signed certificate as PEM and returns its path.
func certFile(t testing.TB, dir, cn string) string {
	t.Helper()
	c := testcerts.New(t, nil, testcerts.Options{CN: cn})
	p := filepath.Join(dir, cn+".pem")
	if err := os.WriteFile(p, c.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tempFiles lists the files a writer left behind in a store folder.
func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Name() != store.FileName && e.Name() != store.LockName {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestStoreKill9: certdb writes (trust changes and additions) killed with
// SIGKILL at random moments leave a store that certdb opens and that holds, for
// each write, either the old or the new entry, and every write that finished;
// the next writer removes the temporary file a kill left; collectord starts on it.
func TestStoreKill9(t *testing.T) {
	t.Parallel()
	writes := pick(1000, 60)
	dir := filepath.Join(t.TempDir(), "db")
	files := t.TempDir()
	certdb(t, "ca", "-d", dir, "-n", "CA", "--cn", "stress CA")
	certdb(t, "issue", "-d", dir, "--ca", "CA", "-n", "srv", "--server", "--san", "IP:127.0.0.1")
	certdb(t, "add", "-d", dir, "-n", "target", "-t", "P,,", "-i", certFile(t, files, "target"))
	trusts := []string{"P,,", "C,,", "T,,", "CT,,", "c,,", ",,", "p,,"}

	// How long a write takes when left alone, to spread the kills over it.
	var took []time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		certdb(t, "trust", "-d", dir, "-n", "target", "-t", trusts[i%len(trusts)])
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	typical := took[len(took)/2]

	rng := rand.New(rand.NewPCG(1, 2))
	w := newWatcher(t, unix.IN_CREATE|unix.IN_MOVED_TO, dir)
	model := listStore(t, dir) // what the store must hold
	var killed, finished, oldKept, newSeen, killedNew, leftAfterKill int
	deadline := time.Now().Add(pick(20*time.Minute, 3*time.Minute))
	for i := 0; i < writes && time.Now().Before(deadline); i++ {
		var args []string
		var nick, newTrust string
		if i%2 == 0 {
			nick = "target"
			newTrust = trusts[rng.IntN(len(trusts))]
			for newTrust == model[nick] {
				newTrust = trusts[rng.IntN(len(trusts))]
			}
			args = []string{"trust", "-d", dir, "-n", nick, "-t", newTrust}
		} else {
			nick = fmt.Sprintf("entry %d", i)
			newTrust = "P,,"
			args = []string{"add", "-d", dir, "-n", nick, "-t", newTrust, "-i", certFile(t, files, fmt.Sprintf("e%d", i))}
		}
		w.events(0) // drop what earlier writes left
		cmd := exec.Command(program(t, "certdb"), args...)
		cmd.Env = cleanEnv()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// A third of the kills anywhere in the write's life, a third around its
		// end, a third in the write itself: 0-1 ms after certdb creates its
		// temporary file (it then writes, fsyncs and renames it).
		var delay time.Duration
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		mode := rng.IntN(3)
		switch mode {
		case 0:
			delay = time.Duration(rng.Int64N(int64(typical)))
		case 1:
			delay = typical*7/10 + time.Duration(rng.Int64N(int64(typical/2)))
		}
		if mode == 2 {
			delay = time.Duration(rng.Int64N(int64(time.Millisecond))) * time.Duration(rng.IntN(2)) // half at once
			kill := time.Time{}
			for kill.IsZero() {
				for _, ev := range w.events(2 * typical) {
					if strings.HasPrefix(filepath.Base(ev.path), ".certdb.json.tmp-") && ev.mask&unix.IN_CREATE != 0 {
						kill = time.Now().Add(delay)
					}
				}
				select {
				case err = <-done:
					kill = time.Now() // finished (or failed) before we saw it
					goto waited
				default:
				}
			}
			time.Sleep(time.Until(kill))
			cmd.Process.Signal(syscall.SIGKILL)
			err = <-done
		} else {
			select {
			case err = <-done:
			case <-time.After(delay):
				cmd.Process.Signal(syscall.SIGKILL)
				err = <-done
			}
		}
	waited:
		completed := err == nil
		if !completed {
			if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !st.Signaled() {
				t.Fatalf("write %d (%s) failed by itself: %v\n%s", i, strings.Join(args, " "), err, out.String())
			}
			killed++
		} else {
			finished++
		}
		got := listStore(t, dir)
		old, had := model[nick]
		now, has := got[nick]
		switch {
		case completed && (!has || now != newTrust):
			t.Fatalf("write %d finished but the store holds %q=%q (has %v), want %q", i, nick, now, has, newTrust)
		case has && now == newTrust:
			newSeen++
			if !completed {
				killedNew++
			}
		case had == has && old == now:
			oldKept++
		default:
			t.Fatalf("write %d killed after %v (mode %d): %q is %q (present %v), neither the old %q (present %v) nor the new %q",
				i, delay, mode, nick, now, has, old, had, newTrust)
		}
		// Nothing else changed.
		for k, v := range model {
			if k != nick && got[k] != v {
				t.Fatalf("write %d to %q changed %q from %q to %q", i, nick, k, v, got[k])
			}
		}
		for k := range got {
			if _, ok := model[k]; !ok && k != nick {
				t.Fatalf("write %d to %q made %q appear", i, nick, k)
			}
		}
		model = got
		if tf := tempFiles(t, dir); len(tf) > 1 {
			t.Fatalf("temporary files accumulate: %v", tf)
		} else if len(tf) == 1 {
			leftAfterKill++
		}
	}
	leftovers := len(tempFiles(t, dir))
	// One more write, left alone, cleans up.
	certdb(t, "trust", "-d", dir, "-n", "target", "-t", "P,,")
	if tf := tempFiles(t, dir); len(tf) > 0 {
		t.Fatalf("temporary files left after a clean write: %v", tf)
	}
	figure(t, "store kill -9", "%d certdb writes, %d killed by SIGKILL (aimed anywhere, near the end, or 0-1 ms after the temporary file appeared), %d finished: the store opened every time; %d held the new entry (%d of them killed after the rename), %d the old; %d kills left a temporary file, never more than one at a time, removed by the next writer (%d at the end, 0 after one more write)",
		killed+finished, killed, finished, newSeen, killedNew, oldKept, leftAfterKill, leftovers)
	// The store still serves: collectord starts on it with its identity.
	d := startDaemon(t, "", "-C", dir, "-M", "srv")
	d.alive(t)
}

// TestStoreTwoWriters: two certdb processes adding certificates at the same time
// lose nothing.
func TestStoreTwoWriters(t *testing.T) {
	t.Parallel()
	each := pick(100, 15)
	dir := filepath.Join(t.TempDir(), "db")
	files := t.TempDir()
	certdb(t, "create", "-d", dir)
	var wg sync.WaitGroup
	errs := make(chan string, 2*each)
	for _, w := range []string{"a", "b"} {
		paths := make([]string, each)
		for i := range paths {
			paths[i] = certFile(t, files, fmt.Sprintf("%s%d", w, i))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, p := range paths {
				out, errOut, code := runCmd(t, cleanEnv(), program(t, "certdb"), "add", "-d", dir, "-n", fmt.Sprintf("%s-%d", w, i), "-t", "P,,", "-i", p)
				if code != 0 {
					errs <- fmt.Sprintf("writer %s #%d: exit %d %s%s", w, i, code, out, errOut)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	got := listStore(t, dir)
	for _, w := range []string{"a", "b"} {
		for i := 0; i < each; i++ {
			if _, ok := got[fmt.Sprintf("%s-%d", w, i)]; !ok {
				t.Errorf("%s-%d lost", w, i)
			}
		}
	}
	if len(got) != 2*each {
		t.Fatalf("%d entries, want %d", len(got), 2*each)
	}
	figure(t, "store two writers", "2 certdb processes x %d additions at once: %d entries, none lost", each, len(got))
}

// TestLooseKeyPermissions: collectord refuses to start on a store whose key file
// group or others may read or write, and says how to fix it.
func TestLooseKeyPermissions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "db")
	certdb(t, "ca", "-d", dir, "-n", "CA", "--cn", "stress CA")
	certdb(t, "issue", "-d", dir, "--ca", "CA", "-n", "srv", "--server", "--san", "IP:127.0.0.1")
	file := filepath.Join(dir, store.FileName)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606, 0o601} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			if err := os.Chmod(file, mode); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(file, 0o600)
			port := pcptest.FreePort(t)
			cmd := exec.Command(program(t, "collectord"), "-i", "127.0.0.1", "-p", strconv.Itoa(port),
				"--config", "/dev/null", "-C", dir, "-M", "srv")
			cmd.Env = cleanEnv()
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("collectord started on a store of mode %04o", mode)
			}
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				c.Close()
				t.Fatal("something listens on the port")
			}
			msg := out.String()
			if code := cmd.ProcessState.ExitCode(); code != 2 {
				t.Fatalf("exit %d, want 2 (configuration error):\n%s", code, msg)
			}
			if !strings.Contains(msg, "chmod 600 "+file) || !strings.Contains(msg, fmt.Sprintf("%04o", mode)) {
				t.Fatalf("the message does not give the mode and the fix (chmod 600 %s):\n%s", file, msg)
			}
			if mode == 0o644 {
				figure(t, "loose key permissions", "collectord -C exits 2: %s", strings.TrimSpace(msg))
			}
		})
	}
	// Back to 0600 it starts.
	d := startDaemon(t, "", "-C", dir, "-M", "srv")
	d.alive(t)
}
