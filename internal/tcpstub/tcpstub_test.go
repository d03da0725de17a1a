package tcpstub

import (
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestServe: each connection gets the handler, and the server closes the
// connection when the handler returns (the client reads EOF, not a hang).
func TestServe(t *testing.T) {
	port := Serve(t, func(c net.Conn) { c.Write([]byte("hello")) })
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second)) // a server that never closes fails, not hangs
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(b) != "hello" {
			t.Fatalf("connection %d read %q, %v", i, b, err)
		}
	}
}
