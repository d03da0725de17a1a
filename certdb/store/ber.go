package store

import (
	"bytes"
	"encoding/asn1"
	"errors"
)

// NSS's pk12util writes PKCS#12 files in BER: indefinite lengths, and OCTET
// STRINGs (and the implicitly tagged encrypted content of PKCS#7 EncryptedData)
// split into constructed chunks. go-pkcs12 reads DER only, so berToDER rewrites
// such files in DER first. The bytes the MAC and the encryption cover are the
// contents of OCTET STRINGs, which flattening leaves as they are.

var errBER = errors.New("malformed BER")

const (
	maxBERDepth = 64
	// Tags.
	tagOctetString            = 0x04
	tagOctetStringConstructed = 0x24
	tagSequence               = 0x30
	tagContext0Constructed    = 0xa0
	tagContext0Primitive      = 0x80
)

var oidPKCS7Data = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}

type berNode struct {
	tag      byte // single-byte identifier (PKCS#12 uses no high tag numbers)
	content  []byte
	children []*berNode
}

func (n *berNode) constructed() bool { return n.tag&0x20 != 0 }

// parseBER reads one element from b, returning it and the rest of b.
func parseBER(b []byte, depth int) (*berNode, []byte, error) {
	if depth > maxBERDepth || len(b) < 2 {
		return nil, nil, errBER
	}
	n := &berNode{tag: b[0]}
	if n.tag&0x1f == 0x1f {
		return nil, nil, errBER // high tag numbers do not occur in PKCS#12
	}
	b = b[1:]
	l := int(b[0])
	b = b[1:]
	indefinite := false
	switch {
	case l == 0x80:
		indefinite = true
		if !n.constructed() {
			return nil, nil, errBER
		}
	case l > 0x80:
		k := l & 0x7f
		if k > 4 || len(b) < k {
			return nil, nil, errBER
		}
		l = 0
		for _, c := range b[:k] {
			l = l<<8 | int(c)
		}
		b = b[k:]
		if l < 0 {
			return nil, nil, errBER
		}
	}
	if indefinite {
		for {
			if len(b) < 2 {
				return nil, nil, errBER
			}
			if b[0] == 0 && b[1] == 0 {
				return n, b[2:], nil
			}
			c, rest, err := parseBER(b, depth+1)
			if err != nil {
				return nil, nil, err
			}
			n.children = append(n.children, c)
			b = rest
		}
	}
	if len(b) < l {
		return nil, nil, errBER
	}
	body, rest := b[:l], b[l:]
	if !n.constructed() {
		n.content = body
		return n, rest, nil
	}
	for len(body) > 0 {
		c, r, err := parseBER(body, depth+1)
		if err != nil {
			return nil, nil, err
		}
		n.children = append(n.children, c)
		body = r
	}
	return n, rest, nil
}

// flatten concatenates the contents of a (possibly constructed) string.
func (n *berNode) flatten() ([]byte, error) {
	if !n.constructed() {
		return n.content, nil
	}
	var out []byte
	for _, c := range n.children {
		if c.tag&^0x20 != tagOctetString {
			return nil, errBER
		}
		b, err := c.flatten()
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// isEncryptedContentInfo reports whether n is SEQUENCE { OID data, SEQUENCE, [0] }:
// a PKCS#7 EncryptedContentInfo, whose [0] is an IMPLICIT OCTET STRING.
func (n *berNode) isEncryptedContentInfo() bool {
	if n.tag != tagSequence || len(n.children) != 3 || n.children[0].tag != 0x06 ||
		n.children[1].tag != tagSequence || n.children[2].tag&^0x20 != tagContext0Primitive {
		return false
	}
	var oid asn1.ObjectIdentifier
	der := encodeTLV(0x06, n.children[0].content)
	_, err := asn1.Unmarshal(der, &oid)
	return err == nil && oid.Equal(oidPKCS7Data)
}

func encodeTLV(tag byte, content []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(tag)
	l := len(content)
	switch {
	case l < 0x80:
		b.WriteByte(byte(l))
	default:
		var lb []byte
		for x := l; x > 0; x >>= 8 {
			lb = append([]byte{byte(x)}, lb...)
		}
		b.WriteByte(0x80 | byte(len(lb)))
		b.Write(lb)
	}
	b.Write(content)
	return b.Bytes()
}

func (n *berNode) der() ([]byte, error) {
	if n.tag == tagOctetStringConstructed {
		c, err := n.flatten()
		if err != nil {
			return nil, err
		}
		return encodeTLV(tagOctetString, c), nil
	}
	if !n.constructed() {
		return encodeTLV(n.tag, n.content), nil
	}
	var body []byte
	for i, c := range n.children {
		if i == 2 && c.tag == tagContext0Constructed && n.isEncryptedContentInfo() {
			flat, err := c.flatten()
			if err != nil {
				return nil, err
			}
			body = append(body, encodeTLV(tagContext0Primitive, flat)...)
			continue
		}
		d, err := c.der()
		if err != nil {
			return nil, err
		}
		body = append(body, d...)
	}
	return encodeTLV(n.tag, body), nil
}

// berToDER rewrites a BER PKCS#12 file in DER. Data that is not BER comes back
// unchanged, for the PKCS#12 decoder to report.
func berToDER(data []byte) []byte {
	n, rest, err := parseBER(data, 0)
	if err != nil || len(rest) != 0 {
		return data
	}
	der, err := n.der()
	if err != nil {
		return data
	}
	return der
}
