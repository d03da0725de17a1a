// Command floorserver is a benchmark baseline: a PCP server that does no work at
// all (package floor says exactly what it answers). fetchbench against it
// measures only the libpcp client, the Go runtime, the kernel and loopback: the
// floor under any Go collector's CPU per operation on this machine.
// bench/floorserver.c is the same server in C, the floor without a runtime.
//
//	floorserver [-p PORT] [-loop goroutine|raw]
//	floorserver [-p PORT] -loop rest -collector HOST:PORT [-names A,B] [-context N] [-block]
//
// -loop goroutine (the default) serves each connection on a goroutine of its own
// through the net package, as collectord does (keep-alive off, reads and writes
// raw: floor.ServeConns); -loop raw runs one event
// loop whose system calls are all raw (floor.RawLoop); -loop rest is the floor
// under proxyd's REST fetch instead, an HTTP server answering every request with
// a fetch of -names from the collector, as proxyd answers
// GET /pmapi/N/fetch?names=... (floor.REST; restfloor.go), waiting for data in
// the runtime's poller, or with -block inside read(2). It listens on 127.0.0.1
// only; with -p 0 it takes a free port and prints "port N" on stdout. It runs
// until killed.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/gopcp/gopcp/internal/cmd/floorserver/floor"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("floorserver", flag.ContinueOnError)
	fl.SetOutput(stderr)
	port := fl.Int("p", 44799, "port on 127.0.0.1 (0: any free port, printed)")
	loop := fl.String("loop", "goroutine", "goroutine (one per connection, net package), raw (one raw-epoll event loop) or rest (proxyd's REST fetch)")
	var ro restOptions
	fl.StringVar(&ro.collector, "collector", "", "-loop rest: the PCP collector, host:port")
	fl.StringVar(&ro.names, "names", "kernel.all.load", "-loop rest: the metrics every answer fetches, comma separated")
	fl.UintVar(&ro.context, "context", 1, "-loop rest: the context number every answer carries")
	fl.BoolVar(&ro.block, "block", false, "-loop rest: wait in blocking read(2), not in the runtime's poller")
	if err := fl.Parse(args); err != nil || fl.NArg() != 0 || *port < 0 || *port > 65535 ||
		(*loop != "goroutine" && *loop != "raw" && *loop != "rest") ||
		(*loop == "rest") != (ro.collector != "") || ro.context > 1<<32-1 || (ro.block && *loop != "rest") {
		fmt.Fprintln(stderr, "usage: floorserver [-p 0..65535] [-loop goroutine|raw]")
		fmt.Fprintln(stderr, "       floorserver [-p 0..65535] -loop rest -collector HOST:PORT [-names A,B] [-context N] [-block]")
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var err error
	switch *loop {
	case "raw":
		err = serveRaw(*port, stdout)
	case "rest":
		err = serveREST(*port, ro, stdout)
	default:
		err = serveGoroutines(*port, stdout)
	}
	log.Error("floorserver stopped", "loop", *loop, "port", *port, "err", err)
	return 1
}

func serveRaw(port int, stdout io.Writer) error {
	l, err := floor.ListenRaw(port)
	if err != nil {
		return err
	}
	if port == 0 {
		fmt.Fprintf(stdout, "port %d\n", l.Addr().Port())
	}
	return l.Serve()
}

func serveGoroutines(port int, stdout io.Writer) error {
	ln, err := floor.Listen(port)
	if err != nil {
		return err
	}
	if port == 0 {
		fmt.Fprintf(stdout, "port %d\n", ln.Addr().(*net.TCPAddr).Port)
	}
	return floor.ServeConns(ln)
}
