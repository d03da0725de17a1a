package main

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/gopcp/gopcp/internal/cmd/floorserver/floor"
)

// restOptions are -loop rest's flags.
type restOptions struct {
	collector string
	names     string
	context   uint
	block     bool
}

// serveREST connects to the collector first (so that a wrong address or name
// fails before anything listens), then serves HTTP on port.
func serveREST(port int, o restOptions, stdout io.Writer) error {
	var names []string
	for n := range strings.SplitSeq(o.names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	r, err := floor.DialREST(o.collector, names, uint32(o.context))
	if err != nil {
		return err
	}
	defer r.Close()
	r.Block = o.block
	ln, err := floor.Listen(port)
	if err != nil {
		return err
	}
	if port == 0 {
		fmt.Fprintf(stdout, "port %d\n", ln.Addr().(*net.TCPAddr).Port)
	}
	return r.Serve(ln)
}
