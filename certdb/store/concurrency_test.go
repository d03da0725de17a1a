package store

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a writer process: TestMain runs the helper named by
// this variable instead of the tests.
const helperEnv = "GOPCP_CERTDB_STORE_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Args[len(os.Args)-3:]))
	}
	os.Exit(m.Run())
}

// quickCert makes a distinct self-signed certificate with its key.
func quickCert(cn string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

// runHelper: "add DIR PREFIX COUNT" adds COUNT certificates; "crash DIR PREFIX START"
// adds certificates with keys for ever, printing each index once it is written.
func runHelper(mode string, args []string) int {
	dir, prefix := args[0], args[1]
	n, _ := strconv.Atoi(args[2])
	s, err := Open(dir, []byte("pw"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; mode == "crash" || i < n; i++ {
		idx := i
		if mode == "crash" {
			idx = n + i
		}
		name := fmt.Sprintf("%s-%d", prefix, idx)
		c, k, err := quickCert(name)
		if err == nil {
			_, err = s.AddCert(name, c, Trust{SSL: "P"})
		}
		if err == nil {
			err = s.ImportKey(name, k)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if mode == "crash" {
			fmt.Fprintln(out, idx)
			out.Flush()
		}
	}
	return 0
}

func helperCmd(t *testing.T, mode, dir, prefix string, n int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$", dir, prefix, strconv.Itoa(n))
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.Stderr = os.Stderr
	return cmd
}

func checkAll(t *testing.T, dir string, prefixes []string, n int) {
	t.Helper()
	s, err := Open(dir, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	have := make(map[string]bool)
	for _, e := range s.List() {
		have[e.Nickname] = true
		if !e.HasKey {
			t.Errorf("%s lost its key", e.Nickname)
		}
	}
	for _, p := range prefixes {
		for i := 0; i < n; i++ {
			if name := fmt.Sprintf("%s-%d", p, i); !have[name] {
				t.Errorf("%s lost", name)
			}
		}
	}
	if want := len(prefixes) * n; len(have) != want {
		t.Errorf("%d entries, want %d", len(have), want)
	}
}

// Two writers in one process, each with its own Store: the flock serialises them.
func TestConcurrentWritersGoroutines(t *testing.T) {
	dir := t.TempDir()
	if _, err := CreateWith(dir, []byte("pw"), fastKDF); err != nil {
		t.Fatal(err)
	}
	const n = 25
	prefixes := []string{"a", "b", "c"}
	var wg sync.WaitGroup
	errs := make(chan error, len(prefixes))
	for _, p := range prefixes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(dir, []byte("pw"))
			if err != nil {
				errs <- err
				return
			}
			for i := 0; i < n; i++ {
				name := fmt.Sprintf("%s-%d", p, i)
				c, k, err := quickCert(name)
				if err == nil {
					_, err = s.AddCert(name, c, Trust{})
				}
				if err == nil {
					err = s.ImportKey(name, k)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkAll(t, dir, prefixes, n)
}

// Two writer processes at once lose nothing.
func TestConcurrentWritersProcesses(t *testing.T) {
	dir := t.TempDir()
	if _, err := CreateWith(dir, []byte("pw"), fastKDF); err != nil {
		t.Fatal(err)
	}
	const n = 40
	prefixes := []string{"p1", "p2"}
	var cmds []*exec.Cmd
	for _, p := range prefixes {
		cmd := helperCmd(t, "add", dir, p, n)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer: %v", err)
		}
	}
	checkAll(t, dir, prefixes, n)
}

// A writer killed with SIGKILL at random moments leaves a store that opens and
// holds every write it acknowledged, and at most the one it was doing.
func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	if _, err := CreateWith(dir, []byte("pw"), fastKDF); err != nil {
		t.Fatal(err)
	}
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	next := 0
	deadline := time.Now().Add(60 * time.Second)
	for round := 0; round < rounds && time.Now().Before(deadline); round++ {
		cmd := helperCmd(t, "crash", dir, "n", next)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := next - 1
		lines := make(chan int)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				i, _ := strconv.Atoi(sc.Text())
				lines <- i
			}
			close(lines)
		}()
		// Once it has written its first entry (opening the store takes a while
		// under the race detector), let it go on for a time that varies, then kill.
		var kill <-chan time.Time
		first := true
		stuck := time.After(30 * time.Second)
	loop:
		for {
			select {
			case i, ok := <-lines:
				if !ok {
					break loop
				}
				acked = i
				if first {
					first = false
					kill = time.After(time.Duration(50+round*37) * time.Millisecond)
				}
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				kill = nil
			case <-stuck:
				cmd.Process.Signal(syscall.SIGKILL)
				t.Fatalf("round %d: the writer wrote nothing in 30s", round)
			}
		}
		cmd.Wait()

		s, err := Open(dir, []byte("pw"))
		if err != nil {
			t.Fatalf("round %d: store does not open after SIGKILL: %v", round, err)
		}
		entries := s.List()
		// Entries are n-0, n-1, ... in order: a prefix, all acknowledged ones included.
		for i, e := range entries {
			if e.Nickname != fmt.Sprintf("n-%d", i) {
				t.Fatalf("round %d: entry %d is %q", round, i, e.Nickname)
			}
			if !e.HasKey && i != len(entries)-1 {
				t.Fatalf("round %d: %q has no key", round, e.Nickname)
			}
		}
		if len(entries) < acked+1 || len(entries) > acked+2 {
			t.Fatalf("round %d: %d entries after %d acknowledged writes", round, len(entries), acked+1)
		}
		// An entry whose key the writer had not stored yet is completed or dropped
		// before the next round, so that every round starts from whole entries.
		if n := len(entries); n > 0 && !entries[n-1].HasKey {
			if err := s.Delete(entries[n-1].Nickname); err != nil {
				t.Fatal(err)
			}
			entries = entries[:n-1]
		}
		next = len(entries)
		t.Logf("round %d: %d entries, %d acknowledged", round, len(entries), acked+1)
	}
	if next == 0 {
		t.Fatal("the writer never wrote anything")
	}
}
