package main

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
)

// Bad arguments are refused with the usage line before anything listens.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-loop", "epoll"}, {"-p", "70000"}, {"-p", "-1"}, {"extra"},
		{"-loop", "rest"}, {"-collector", "127.0.0.1:44321"}, {"-loop", "rest", "-collector", "127.0.0.1:1", "-context", "4294967296"},
		{"-block"}, {"-loop", "raw", "-block"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage: floorserver") {
			t.Errorf("run(%q) = %d, stderr %q; want 2 and the usage", args, code, errb.String())
		}
	}
}

// A port already taken is reported with the loop and the reason, status 1.
func TestPortBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, loop := range []string{"goroutine", "raw"} {
		var out, errb bytes.Buffer
		code := run([]string{"-p", port, "-loop", loop}, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "address already in use") || !strings.Contains(errb.String(), "loop="+loop) {
			t.Errorf("-loop %s on a busy port: %d, stderr %q; want 1 and the reason", loop, code, errb.String())
		}
	}
}

// -loop rest reaches its collector before it listens: one that cannot be
// reached is reported, status 1.
func TestRESTCollectorUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	var out, errb bytes.Buffer
	code := run([]string{"-p", "0", "-loop", "rest", "-collector", addr}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "connection refused") || out.Len() != 0 {
		t.Errorf("unreachable collector: %d, stdout %q, stderr %q; want 1, nothing listening and the reason", code, out.String(), errb.String())
	}
}
