// Command procswarm is a benchmark load: it starts N idle processes (sleep(1), each
// with its own argument, so every command line differs as on a real host) and keeps
// them until it is told to stop, so that scripts/bench-proc.sh can measure the
// per-process metrics of 1,000 processes on any machine.
//
//	procswarm [-n 1000] [-sleep /bin/sleep]
//
// It prints "ready N" on stdout once all N are running, then waits for SIGTERM,
// SIGINT or its standard input to close, kills them and exits. The children also
// get SIGKILL from the kernel when procswarm itself dies (PR_SET_PDEATHSIG), so a
// killed benchmark leaves no processes behind.
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
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("procswarm", flag.ContinueOnError)
	fl.SetOutput(stderr)
	n := fl.Int("n", 1000, "number of idle processes")
	sleep := fl.String("sleep", "sleep", "the sleep(1) program the processes run")
	if err := fl.Parse(args); err != nil || fl.NArg() != 0 || *n < 1 || *n > 100000 {
		fmt.Fprintln(stderr, "usage: procswarm [-n 1..100000] [-sleep PROGRAM]")
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	sw, err := start(*sleep, *n)
	if err != nil {
		log.Error("procswarm: could not start the processes", "started", len(sw.cmds), "wanted", *n, "err", err)
		sw.stop()
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
	sw.stop()
	return 0
}

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

// stop kills and reaps every child.
func (sw *swarm) stop() {
	for _, c := range sw.cmds {
		_ = c.Process.Kill()
	}
	for _, c := range sw.cmds {
		var ee *exec.ExitError
		if err := c.Wait(); err != nil && !errors.As(err, &ee) {
			slog.Warn("procswarm: wait", "pid", c.Process.Pid, "err", err)
		}
	}
	sw.cmds = nil
}
