package upstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// pmcdGreeting is the greeting of a real pmcd 6.0.3 with TLS and -Q
// (PROTOCOL.md 3.1).
var pmcdGreeting = []byte{0, 0, 0, 0x14, 0, 0, 0x70, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x01, 0x0e, 0xd5}

func TestReadGreeting(t *testing.T) {
	g, err := ReadGreeting(bytes.NewReader(append(append([]byte(nil), pmcdGreeting...), "more"...)))
	if err != nil || !bytes.Equal(g, pmcdGreeting) {
		t.Fatalf("pmcd's greeting: %x %v", g, err)
	}
	refusal := protocol.Encode(nil, protocol.Greeting(protocol.ErrPermission, 0), 0)
	if _, err := ReadGreeting(bytes.NewReader(refusal)); err != nil {
		t.Fatalf("a refusal greeting is a collector's: %v", err)
	}
	bad := map[string][]byte{
		"empty":       nil,
		"http":        []byte("HTTP/1.1 400 Bad Request\r\n\r\n"),
		"short error": protocol.Encode(nil, &protocol.ErrorPDU{Code: 0}, 0),
		"cut":         pmcdGreeting[:19],
		"version 3":   append(append([]byte(nil), pmcdGreeting[:16]...), 0x03, 0x01, 0x0e, 0xd5),
		"positive":    append(append([]byte(nil), pmcdGreeting[:12]...), 0, 0, 0, 1, 0x02, 0x01, 0x0e, 0xd5),
	}
	for name, b := range bad {
		_, err := ReadGreeting(bytes.NewReader(b))
		var nc *NotCollectorError
		if !errors.Is(err, ErrNotCollector) || !errors.As(err, &nc) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestReadGreetingReadsNoMore: a peer announcing another length is refused
// after the 12-byte header, without waiting for (or reading) more.
func TestReadGreetingReadsNoMore(t *testing.T) {
	b := make([]byte, 12, 1<<20)
	binary.BigEndian.PutUint32(b, 1<<20)
	binary.BigEndian.PutUint32(b[4:], uint32(protocol.TypeError))
	r := io.MultiReader(bytes.NewReader(b), eofAfterPanic{t})
	if _, err := ReadGreeting(r); !errors.Is(err, ErrNotCollector) {
		t.Fatal(err)
	}
}

type eofAfterPanic struct{ t *testing.T }

func (e eofAfterPanic) Read([]byte) (int, error) {
	e.t.Error("read past the header")
	return 0, io.EOF
}

func FuzzReadGreeting(f *testing.F) {
	f.Add(pmcdGreeting)
	f.Add([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ReadGreeting(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrNotCollector) {
				t.Fatalf("error not ErrNotCollector: %v", err)
			}
			return
		}
		if len(g) != GreetingSize || !bytes.Equal(g, b[:GreetingSize]) {
			t.Fatalf("accepted %x from %x", g, b)
		}
		if _, err := protocol.ParseGreeting(mustDecode(t, g)); err != nil && protocol.CodeOf(err) >= 0 {
			t.Fatalf("accepted a greeting pmapi would not: %v", err)
		}
	})
}

func mustDecode(t *testing.T, b []byte) protocol.PDU {
	p, _, err := protocol.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
