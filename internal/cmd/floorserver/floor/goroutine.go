package floor

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"

	"github.com/gopcp/gopcp/internal/rawconn"
)

// Listen listens on 127.0.0.1:port (0: any free port) as collectord's listener
// does (collectord/server.ListenConfig): no TCP keep-alive on accepted sockets,
// which spares four setsockopt calls per connection.
func Listen(port int) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(context.Background(), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}

// ServeConns answers every connection ln accepts on a goroutine of its own
// through the net package, with reads and writes as raw system calls
// (internal/rawconn): collectord/server's connection shape without its work, so
// that collectord less this floor is collectord's own work. It returns when ln
// is closed (nil) or fails, after every connection's goroutine has ended;
// closing ln also closes the connections.
func ServeConns(ln net.Listener) error {
	return serve(ln, rawconn.Wrap, serveConn)
}

// serve runs handle on a goroutine of its own for every connection ln
// accepts, wrapped by wrap, and closes the connection after.
func serve(ln net.Listener, wrap func(net.Conn) net.Conn, handle func(net.Conn)) error {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		for c := range conns {
			shutdown(c)
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		mu.Lock()
		conns[nc] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			handle(wrap(nc))
			mu.Lock()
			delete(conns, nc)
			mu.Unlock()
			nc.Close()
		})
	}
}

// serveConn reads into one buffer per connection (1 KiB to start, grown to
// MaxPDU at most when a PDU needs it) and writes each read's replies at once.
func serveConn(nc net.Conn) {
	if _, err := nc.Write(Greeting()); err != nil {
		return
	}
	in := make([]byte, 0, 1024)
	var out []byte
	for {
		if len(in) >= MaxPDU {
			return // unreachable: Respond takes every complete PDU, and a longer one is refused
		}
		if len(in) == cap(in) {
			in = append(in, make([]byte, min(2*cap(in), MaxPDU)-len(in))...)[:len(in)]
		}
		n, err := nc.Read(in[len(in):cap(in)])
		if err != nil {
			return
		}
		in = in[:len(in)+n]
		var used int
		out, used, err = Respond(out[:0], in)
		if len(out) > 0 {
			if _, werr := nc.Write(out); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
		in = in[:copy(in, in[used:])]
	}
}
