package pmapi

import (
	"encoding/binary"
	"time"

	"github.com/gopcp/gopcp/protocol"
)

// AppendFetch appends to dst the fetch PDU Fetch sends for pmids on this
// context (HIGHRES_FETCH when the collector advertised HIGHRES, else FETCH),
// for FetchRaw. A caller that polls the same PMIDs encodes it once.
func (c *Context) AppendFetch(dst []byte, pmids []protocol.PMID) []byte {
	return protocol.Encode(dst, &protocol.Fetch{PMIDs: pmids, Highres: c.features&protocol.FeatureHighres != 0}, c.conn.From)
}

// FetchRaw is Fetch for a caller that reads the reply in place: it sends req
// (from AppendFetch: the instance profile goes first when needed, as for
// Fetch) and hands read the whole RESULT or HIGHRES_RESULT PDU, header
// included, instead of a decoded *protocol.Result. The bytes are the
// connection's read buffer, valid only during the call: nothing is allocated
// per fetch. ERROR replies and state-change notices are handled as Fetch
// handles them. An error from read means the reply was malformed: the channel
// is then left unusable, as for any malformed PDU, and FetchRaw returns
// PM_ERR_IPC.
//
// ok is false, and nothing is sent, when Fetch must be used instead: req
// names a derived metric (evaluated here, not by the collector), is not one
// PDU, or is not the fetch this context sends (made before a reconnection
// that changed the collector's features).
func (c *Context) FetchRaw(req []byte, read func(reply []byte) error) (ok bool, err error) {
	want, ok := c.rawFetchReply(req)
	if !ok {
		return false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.sendProfile(); err != nil {
		return true, err
	}
	if c.closed {
		return true, pcpErr(protocol.ErrNoContext)
	}
	if c.broken {
		return true, pcpErr(protocol.ErrIPC)
	}
	// The write and the first read are bounded from one reading of the
	// clock (a clock read costs about 150 ns here): the reply's bound then
	// starts before the request is written, a few microseconds stricter
	// than recv's.
	nc := c.conn.Conn
	var now time.Time
	if c.timeout > 0 {
		now = time.Now()
		nc.SetWriteDeadline(now.Add(c.timeout))
	}
	if err := c.conn.WriteRaw(req); err != nil {
		c.broken = true
		return true, sendError(err)
	}
	b, err := c.recvRaw(want, now)
	if err != nil {
		return true, err
	}
	if read(b) != nil {
		c.broken = true
		return true, pcpErr(protocol.ErrIPC)
	}
	return true, nil
}

// rawFetchReply checks req against the fetch this context would send and
// returns the reply type to expect.
func (c *Context) rawFetchReply(req []byte) (int32, bool) {
	n, typ, _, err := protocol.ParseHeader(req)
	// context, a 64-bit time, numpmid, then the PMIDs
	if err != nil || int(n) != len(req) || len(req) < protocol.HeaderSize+16 {
		return 0, false
	}
	want, reply := protocol.TypeFetch, protocol.TypeResult
	if c.features&protocol.FeatureHighres != 0 {
		want, reply = protocol.TypeHighresFetch, protocol.TypeHighresResult
	}
	pmids := req[protocol.HeaderSize+16:]
	if typ != want || len(pmids)%4 != 0 || int(binary.BigEndian.Uint32(req[protocol.HeaderSize+12:])) != len(pmids)/4 {
		return 0, false
	}
	if c.derived != nil {
		for i := 0; i < len(pmids); i += 4 {
			if protocol.PMID(binary.BigEndian.Uint32(pmids[i:])).Domain() == derivedDomain {
				return 0, false
			}
		}
	}
	return reply, true
}
