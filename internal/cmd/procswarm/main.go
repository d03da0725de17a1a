// Command procswarm is a benchmark load: it starts N idle processes (sleep(1), each
// with its own argument, so every command line differs as on a real host) and keeps
// them until it is told to stop, so that scripts/bench-proc.sh can measure the
// per-process metrics of 1,000 processes on any machine.
//
//	procswarm [-n 1000] [-sleep /bin/sleep] [-ready-timeout 1m]
//
// It prints "ready N" on stdout once all N are asleep in the program with their own
// command line, then waits for SIGTERM, SIGINT or its standard input to close, kills
// them and exits. The children also get SIGKILL from the kernel when procswarm
// itself dies (PR_SET_PDEATHSIG), so a killed benchmark leaves no processes behind.
//
// "Started" is not "ready": exec.Cmd.Start returns when the child's exec has
// closed its close-on-exec descriptors, which the kernel does before it sets up
// the new program's arguments, so /proc/PID/cmdline can still read empty then,
// and the program has yet to load and reach its sleep. procswarm therefore
// watches each child's /proc/PID/cmdline and stat until it shows its own argument
// and state S, and fails (exit 1, the children killed) if that takes longer than
// -ready-timeout.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("procswarm", flag.ContinueOnError)
	fl.SetOutput(stderr)
	n := fl.Int("n", 1000, "number of idle processes")
	sleep := fl.String("sleep", "sleep", "the sleep(1) program the processes run")
	timeout := fl.Duration("ready-timeout", defaultReadyTimeout, "how long the processes may take to be asleep in the program")
	if err := fl.Parse(args); err != nil || fl.NArg() != 0 || *n < 1 || *n > 100000 || *timeout <= 0 {
		fmt.Fprintln(stderr, "usage: procswarm [-n 1..100000] [-sleep PROGRAM] [-ready-timeout DURATION>0]")
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	// run is also called by the tests: give SIGINT back to the default action
	// once it returns, or Ctrl-C would no longer end the test binary.
	defer signal.Stop(sigs)
	sw, err := start(*sleep, *n)
	if err != nil {
		log.Error("procswarm: could not start the processes", "started", len(sw.cmds), "wanted", *n, "err", err)
		sw.stop(log)
		return 1
	}
	if err := sw.awaitAsleep(procfs.DefaultMountPoint, *timeout); err != nil {
		log.Error("procswarm: the processes did not become ready", "err", err)
		sw.stop(log)
		return 1
	}
	fmt.Fprintf(stdout, "ready %d\n", len(sw.cmds))
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin) // returns when standard input closes
		close(closed)
	}()
	select {
	case <-sigs:
	case <-closed:
	}
	sw.stop(log)
	return 0
}

// defaultReadyTimeout bounds the wait for the children to be asleep: 1000 execs
// take well under a second on an idle machine; a minute leaves room for a loaded
// one and still ends a hung start.
const defaultReadyTimeout = time.Minute

// maxPoll is the longest pause between two looks at a child that is not ready.
const maxPoll = 50 * time.Millisecond

// swarm is the set of started children.
type swarm struct{ cmds []*exec.Cmd }

// start runs n copies of program, the i-th with the argument 1000000+i (seconds:
// some eleven days, longer than any benchmark).
func start(program string, n int) (*swarm, error) {
	sw := &swarm{}
	path, err := exec.LookPath(program)
	if err != nil {
		return sw, err
	}
	for i := 0; i < n; i++ {
		c := exec.Command(path, strconv.Itoa(1000000+i))
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			return sw, err
		}
		sw.cmds = append(sw.cmds, c)
	}
	return sw, nil
}

// awaitAsleep returns once every child has finished its exec, shows its own last
// argument as the last word of /proc/PID/cmdline (the file reads empty until the
// kernel has set the new program's arguments, some time after Start returned) and
// is asleep (state S, as sleep(1) is in nanosleep). It fails at once if a child has
// exited, and once timeout has passed if one is still not ready, naming it.
func (sw *swarm) awaitAsleep(procRoot string, timeout time.Duration) error {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return fmt.Errorf("cannot watch the children: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for _, c := range sw.cmds {
		pid, want := c.Process.Pid, c.Args[len(c.Args)-1]
		pause := time.Millisecond
		for {
			args, state, err := look(fs, pid)
			if err == nil && len(args) > 0 && args[len(args)-1] == want && state == "S" {
				break
			}
			if state == "Z" || state == "X" {
				return fmt.Errorf("process %d (%s %s) exited before it was asleep: is %q a sleep(1) program?", pid, c.Path, want, c.Path)
			}
			if time.Now().After(deadline) {
				if err != nil {
					return fmt.Errorf("process %d (%s %s) not ready after %v: %w", pid, c.Path, want, timeout, err)
				}
				return fmt.Errorf("process %d (%s %s) not ready after %v: command line %q, state %s (want its argument %s last, state S)",
					pid, c.Path, want, timeout, args, state, want)
			}
			time.Sleep(pause)
			pause = min(2*pause, maxPoll)
		}
	}
	return nil
}

// look reads a child's command line, then its scheduler state: in that order, so
// that an S goes with a finished exec (a sleep seen before the exec completed,
// while the kernel read the program, does not count).
func look(fs procfs.FS, pid int) (args []string, state string, err error) {
	p, err := fs.Proc(pid)
	if err != nil {
		return nil, "", err
	}
	if args, err = p.CmdLine(); err != nil {
		return nil, "", err
	}
	st, err := p.Stat()
	if err != nil {
		return args, "", err
	}
	return args, st.State, nil
}

// stop kills and reaps every child.
func (sw *swarm) stop(log *slog.Logger) {
	for _, c := range sw.cmds {
		_ = c.Process.Kill()
	}
	for _, c := range sw.cmds {
		var ee *exec.ExitError
		if err := c.Wait(); err != nil && !errors.As(err, &ee) {
			log.Warn("procswarm: wait", "pid", c.Process.Pid, "err", err)
		}
	}
	sw.cmds = nil
}
