package floor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gopcp/gopcp/internal/rawconn"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/proxyd/httpapi"
)

// REST is the floor under proxyd's REST fetch: a relay of proxyd's shape (a
// goroutine per HTTP connection through the net package, reads and writes raw
// through internal/rawconn, one collector connection behind) that answers
// every request on a connection, whatever it asks, with what proxyd answers to
// GET /pmapi/CTX/fetch?names=... for the names given to DialREST. Per request
// it only finds the end of the head, sends one prepared FETCH (or
// HIGHRES_FETCH) PDU to the collector, reads the reply and turns it into
// proxyd's JSON: no routing, no query, no context lookup, no plan. What it
// spends is the least a Go relay of proxyd's shape can spend on a REST fetch:
// the runtime, the kernel, loopback and the JSON.
//
// The collector connection is opened, greeted and asked for the names' PMIDs
// and descriptors once, in DialREST. A reply that is not the fetch's (an
// ERROR PDU, a malformed PDU) is answered with 502 and closes the HTTP
// connection and the collector connection: a floor does not recover.
type REST struct {
	// Block makes Serve wait for data inside read(2) on blocking sockets,
	// never in the runtime's poller (blockingConn): the floor of a Go relay
	// that could do without the poller. Set it before Serve.
	Block bool

	ctx   uint32          // the context number written in every answer
	fetch []byte          // the prepared fetch PDU
	want  int32           // the reply's PDU type
	heads []string        // each metric's JSON object up to `"instances":[`
	descs []protocol.Desc // each metric's descriptor

	mu     sync.Mutex // one exchange at a time on the collector connection
	tcp    net.Conn   // the collector connection
	up     net.Conn   // tcp, rawconn-wrapped (or blocking: Block)
	reply  []byte
	broken error
}

// maxHead is the longest request head a REST floor reads (proxyd's loop reads
// 4 KiB; a longer head closes the connection here).
const maxHead = 4096

// DialREST connects to the PCP collector at addr (host:port), greets it, looks
// names up and prepares the fetch of those that exist, in the order given.
// Answers carry ctx as their context number. Unknown names are left out, as
// proxyd leaves them out; none known is an error.
func DialREST(addr string, names []string, ctx uint32) (*REST, error) {
	if len(names) == 0 {
		return nil, errors.New("floor: no metric names to fetch")
	}
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	r, err := setupREST(nc, names, ctx)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("floor: collector %s: %w", addr, err)
	}
	return r, nil
}

// setupREST runs the greeting, CREDS, the name lookup and the descriptor
// requests through protocol.Conn (setup is not measured), then keeps the socket
// for raw exchanges: every request was answered, so nothing is left buffered.
func setupREST(nc net.Conn, names []string, ctx uint32) (*REST, error) {
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	pc := protocol.NewConn(nc)
	g, err := pc.Read()
	if err != nil {
		return nil, fmt.Errorf("reading the greeting: %w", err)
	}
	features, err := protocol.ParseGreeting(g)
	if err != nil {
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if features&(protocol.FeatureCredsReqd|protocol.FeatureAuth|protocol.FeatureSecure) != 0 {
		return nil, fmt.Errorf("it asks for credentials or TLS (features %#x); the REST floor speaks plain PCP only", features)
	}
	if err := pc.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}}); err != nil {
		return nil, err
	}
	ask := func(req protocol.PDU) (protocol.PDU, error) {
		if err := pc.Write(req); err != nil {
			return nil, err
		}
		p, err := pc.Read()
		if err != nil {
			return nil, err
		}
		if e, ok := p.(*protocol.ErrorPDU); ok {
			return nil, fmt.Errorf("%s answered with PCP error %d", protocol.TypeName(req.Type()), e.Code)
		}
		return p, nil
	}
	p, err := ask(&protocol.PMNSNames{Names: names})
	if err != nil {
		return nil, fmt.Errorf("looking up names: %w", err)
	}
	ids, ok := p.(*protocol.PMNSIDs)
	if !ok || len(ids.IDs) != len(names) {
		return nil, fmt.Errorf("looking up names: unexpected %s", protocol.TypeName(p.Type()))
	}
	r := &REST{ctx: ctx}
	var pmids []protocol.PMID
	for i, id := range ids.IDs {
		if id == protocol.PMIDNull {
			continue
		}
		p, err := ask(&protocol.DescReq{PMID: id})
		if err != nil {
			return nil, fmt.Errorf("descriptor of %s: %w", names[i], err)
		}
		dp, ok := p.(*protocol.DescPDU)
		if !ok {
			return nil, fmt.Errorf("descriptor of %s: unexpected %s", names[i], protocol.TypeName(p.Type()))
		}
		h := append([]byte(`{"pmid":"`), id.String()...)
		h = append(h, `","name":`...)
		h = httpapi.AppendJSONString(h, names[i])
		h = append(h, `,"instances":[`...)
		r.heads = append(r.heads, string(h))
		r.descs = append(r.descs, dp.Desc)
		pmids = append(pmids, id)
	}
	if len(pmids) == 0 {
		return nil, errors.New("none of the names is known")
	}
	// A collector answers a fetch before any PROFILE with PM_ERR_NOPROFILE:
	// all instances, sent once (PROFILE has no reply), as pmapi sends it.
	if err := pc.Write(&protocol.Profile{GState: protocol.ProfileInclude}); err != nil {
		return nil, err
	}
	highres := features&protocol.FeatureHighres != 0
	r.fetch = protocol.Encode(nil, &protocol.Fetch{PMIDs: pmids, Highres: highres}, 0)
	r.want = protocol.TypeResult
	if highres {
		r.want = protocol.TypeHighresResult
	}
	nc.SetDeadline(time.Time{})
	r.tcp, r.up = nc, rawconn.Wrap(nc)
	r.reply = make([]byte, 0, 1024)
	return r, nil
}

// Close closes the collector connection.
func (r *REST) Close() error {
	shutdown(r.tcp)
	return r.tcp.Close()
}

// Serve answers every connection ln accepts on a goroutine of its own, as
// ServeConns does; it returns when ln is closed (nil) or fails, after every
// connection has ended.
func (r *REST) Serve(ln net.Listener) error {
	if !r.Block {
		return serve(ln, rawconn.Wrap, r.serveConn)
	}
	r.mu.Lock()
	up, err := blocking(r.tcp)
	if err == nil {
		r.up = up
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	return serve(ln, func(nc net.Conn) net.Conn {
		if c, err := blocking(nc); err == nil {
			return c
		}
		return nc // served through the poller: a floor does not fail a request for it
	}, r.serveConn)
}

// serveConn reads requests into one buffer and answers each complete head
// with one write.
func (r *REST) serveConn(nc net.Conn) {
	in := make([]byte, 0, maxHead)
	var out, body []byte
	for {
		n, err := nc.Read(in[len(in):cap(in)])
		if err != nil {
			return
		}
		in = in[:len(in)+n]
		used := 0
		for {
			end := bytes.Index(in[used:], []byte("\r\n\r\n"))
			if end < 0 {
				break
			}
			used += end + 4
			var ok bool
			out, body, ok = r.answer(out[:0], body[:0])
			if _, err := nc.Write(out); err != nil || !ok {
				return
			}
		}
		if used == 0 && len(in) == cap(in) {
			return // a head longer than maxHead
		}
		in = in[:copy(in, in[used:])]
	}
}

// answer appends the HTTP response to one request to out; body is the
// reused body buffer. ok false: the collector failed (502), close.
func (r *REST) answer(out, body []byte) (_, _ []byte, ok bool) {
	body, err := r.appendFetch(body)
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadGateway
		body = append(body[:0], `{"message":"floor: collector failed","success":false}`+"\r\n"...)
	}
	out = append(out, "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(status), 10)
	out = append(out, ' ')
	out = append(out, http.StatusText(status)...)
	// The headers proxyd writes, in its (sorted) order: the CORS ones are
	// fixed strings there too.
	out = append(out, "\r\nAccess-Control-Allow-Headers: Accept, Accept-Language, Content-Language, Content-Type"+
		"\r\nAccess-Control-Allow-Origin: *\r\nAccess-Control-Max-Age: 86400"+
		"\r\nContent-Type: application/json\r\nDate: "...)
	out = time.Now().UTC().AppendFormat(out, http.TimeFormat)
	out = append(out, "\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	out = append(out, "\r\n\r\n"...)
	out = append(out, body...)
	return out, body, err == nil
}

// appendFetch sends the prepared fetch, reads the reply and appends proxyd's
// JSON for it.
func (r *REST) appendFetch(b []byte) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broken != nil {
		return b, r.broken
	}
	p, err := r.exchange()
	if err == nil {
		b, err = r.appendResult(b, p)
	}
	if err != nil {
		r.broken = err
		shutdown(r.tcp)
	}
	return b, err
}

// exchange writes the fetch and reads one whole PDU back.
func (r *REST) exchange() ([]byte, error) {
	if _, err := r.up.Write(r.fetch); err != nil {
		return nil, err
	}
	in := r.reply[:0]
	for {
		if len(in) >= 4 {
			n := int(binary.BigEndian.Uint32(in))
			if n < protocol.HeaderSize || n > MaxPDU {
				return nil, ErrFrame
			}
			if len(in) >= n {
				if len(in) > n {
					return nil, errors.New("floor: the collector sent more than one reply")
				}
				return in, nil
			}
			if cap(in) < n {
				in = append(make([]byte, 0, n), in...)
				r.reply = in
			}
		}
		if len(in) == cap(in) {
			in = append(in, make([]byte, 4*cap(in))...)[:len(in)]
			r.reply = in
		}
		k, err := r.up.Read(in[len(in):cap(in)])
		if err != nil {
			return nil, err
		}
		in = in[:len(in)+k]
	}
}

var errReply = errors.New("floor: malformed or unexpected fetch reply")

// appendResult appends {"context":N,"timestamp":S.N,"values":[...]} for a
// RESULT or HIGHRES_RESULT PDU p, read in place and written by proxyd's own
// code (httpapi.AppendResultJSON). Value sets are matched to the prepared
// metrics by position, as proxyd matches them to its plan.
func (r *REST) appendResult(b, p []byte) ([]byte, error) {
	if int32(binary.BigEndian.Uint32(p[4:])) != r.want {
		return b, errReply
	}
	b = append(b, `{"context":`...)
	b = strconv.AppendUint(b, uint64(r.ctx), 10)
	b, err := httpapi.AppendResultJSON(b, p, r.heads, r.descs)
	if err != nil {
		return b, errReply
	}
	return append(b, "]}\r\n"...), nil
}
