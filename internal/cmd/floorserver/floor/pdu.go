// Package floor is a PCP server that does no work at all, in two Go shapes (a
// goroutine per connection as collectord serves them, ServeConns, and one
// raw-epoll event loop, RawLoop), for scripts/bench.sh to measure against: what
// is left of a server's CPU per operation when it has nothing to do is the cost
// of its shape, the runtime, the kernel and loopback, the floor under any
// collector of that shape on the machine. bench/floorserver.c is the same server
// in C and answers byte for byte the same (the tests compare).
//
// What the floor answers (the only protocol it knows):
//   - on accept: the 20-byte greeting of a pmcd with no error, features HIGHRES,
//     DESCS and LABELS;
//   - CREDS and PROFILE: nothing, as pmcd;
//   - PMNS_NAMES with N names: PMNS_IDS, status N, the PMIDs 60<<22 + i (domain
//     60, then counting up) for i = 0..N-1, whatever the names;
//   - FETCH or HIGHRES_FETCH of N PMIDs: RESULT or HIGHRES_RESULT, timestamp
//     zero, and for each PMID asked, in order, one insitu value 1 of instance
//     PM_IN_NULL;
//   - any other PDU, or a NAMES or FETCH whose counts do not fit its length: an
//     ERROR PDU with PM_ERR_IPC, so that a client waiting for a reply gets one.
//
// A PDU whose length word is below the 12-byte header or above MaxPDU ends the
// connection. The event loops (RawLoop, the C floor) keep no output queue, so a
// client that does not take its replies (a write that does not complete at once)
// is dropped there too; a goroutine per connection just blocks in its write, as
// any net.Conn writer.
package floor

import (
	"encoding/binary"
	"errors"
)

// Limits and wire constants. The PDU types and codes are PCP's (protocol/pdu.go
// and protocol/errors.go hold the same numbers); they are written out here so
// that the floor's framing is visibly the whole of its work.
const (
	// MaxPDU is the largest PDU a floor takes: the 30-name lookup fetchbench
	// sends is about 1 KiB.
	MaxPDU = 64 * 1024

	headerSize = 12

	typeError         = 0x7000
	typeResult        = 0x7001
	typeProfile       = 0x7002
	typeFetch         = 0x7003
	typeCreds         = 0x700c
	typePMNSIDs       = 0x700d
	typePMNSNames     = 0x700e
	typeHighresFetch  = 0x7014
	typeHighresResult = 0x7015

	errIPC   = 1<<32 - 12366 // PM_ERR_IPC (-12366) as the word on the wire
	inNull   = 0xffffffff    // PM_IN_NULL: the instance of a singular metric
	pmidBase = 60 << 22      // domain 60 in a PMID's top nine bits

	// greeting's datum: PDU version 2, licence byte 1, features HIGHRES (0x400),
	// DESCS (0x800) and LABELS (0x200).
	greetingDatum = 2<<24 | 1<<16 | 0x0e00
)

// ErrFrame is returned by Respond for a length word no PDU can have.
var ErrFrame = errors.New("floor: PDU length out of range (below the 12-byte header or above 64 KiB)")

// Greeting is what a floor writes first on every connection.
func Greeting() []byte {
	return be32(nil, 20, typeError, 0, 0, greetingDatum)
}

// Respond appends to out the replies to the complete PDUs at the start of in and
// returns them with the number of bytes of in it consumed; a partial PDU at the
// end is left for the caller to complete. A length word out of range gives
// ErrFrame (the caller closes the connection). Replies are bounded by the input:
// at most 5 bytes of reply per byte of request, plus 32.
func Respond(out, in []byte) ([]byte, int, error) {
	used := 0
	for len(in)-used >= 4 {
		n := int(binary.BigEndian.Uint32(in[used:]))
		if n < headerSize || n > MaxPDU {
			return out, used, ErrFrame
		}
		if len(in)-used < n {
			break
		}
		out = reply(out, in[used:used+n])
		used += n
	}
	return out, used, nil
}

// reply appends the reply to one complete PDU p.
func reply(out, p []byte) []byte {
	typ := binary.BigEndian.Uint32(p[4:])
	body := p[headerSize:]
	switch typ {
	case typeCreds, typeProfile:
		return out
	case typePMNSNames:
		// nstrbytes, nstatus, numnames, then the names: every name takes at
		// least its length word, which bounds N by the PDU's length without
		// reading the names.
		if len(body) < 12 {
			break
		}
		n := int(int32(binary.BigEndian.Uint32(body[8:])))
		if n < 1 || n > (len(body)-12)/4 {
			break
		}
		out = be32(out, uint32(20+4*n), typePMNSIDs, 0, uint32(n), uint32(n))
		for i := range n {
			out = be32(out, uint32(pmidBase+i))
		}
		return out
	case typeFetch, typeHighresFetch:
		// context, a 64-bit time, numpmid, then exactly numpmid PMIDs.
		if len(body) < 16 {
			break
		}
		n := int(int32(binary.BigEndian.Uint32(body[12:])))
		if n < 1 || n != (len(body)-16)/4 || len(body)%4 != 0 {
			break
		}
		if typ == typeFetch {
			// seconds, microseconds, numpmid
			out = be32(out, uint32(24+20*n), typeResult, 0, 0, 0, uint32(n))
		} else {
			// numpmid, 64-bit seconds, 64-bit nanoseconds
			out = be32(out, uint32(32+20*n), typeHighresResult, 0, uint32(n), 0, 0, 0, 0)
		}
		for i := range n {
			id := binary.BigEndian.Uint32(body[16+4*i:])
			// PMID, numval, valfmt insitu, instance, value
			out = be32(out, id, 1, 0, inNull, 1)
		}
		return out
	}
	return be32(out, 16, typeError, 0, errIPC)
}

// be32 appends the words big-endian, as every PDU field is.
func be32(b []byte, words ...uint32) []byte {
	for _, w := range words {
		b = binary.BigEndian.AppendUint32(b, w)
	}
	return b
}
