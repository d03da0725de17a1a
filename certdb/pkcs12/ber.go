package pkcs12

import (
	"encoding/asn1"
	"fmt"
	"math/big"
)

// PKCS#12 files come in DER (OpenSSL, Java, go-pkcs12) and in BER (NSS's
// pk12util: indefinite lengths, OCTET STRINGs split into constructed chunks).
// The skeleton of the file is walked here with a lazy BER reader that never
// builds a tree: an element is its tag and a slice of the input, every length
// is checked against the bytes that are left before anything is sliced, and
// nothing is allocated from a claimed length. Small leaf structures
// (algorithm identifiers, MAC data) are re-encoded in DER and handed to
// encoding/asn1.

// maxDepth bounds nesting: the deepest real PKCS#12 structure is about ten
// levels; more is a crafted file trying to exhaust the stack.
const maxDepth = 32

const (
	tagInteger          = 0x02
	tagOctetString      = 0x04
	tagOID              = 0x06
	tagBMPString        = 0x1e
	tagConstructed      = 0x20
	tagSequence         = 0x30
	tagSet              = 0x31
	tagContext0         = 0x80
	tagContext0Explicit = 0xa0
)

// element is one BER element of the input.
type element struct {
	tag   byte
	body  []byte // the contents octets (without an end-of-contents marker)
	depth int
}

func (e element) constructed() bool { return e.tag&tagConstructed != 0 }

func corruptf(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrCorrupt)...)
}

// parseElement reads the element at the start of b and returns it with the
// bytes after it.
func parseElement(b []byte, depth int) (element, []byte, error) {
	if depth > maxDepth {
		return element{}, nil, corruptf("nested deeper than %d levels", maxDepth)
	}
	if len(b) < 2 {
		return element{}, nil, corruptf("truncated")
	}
	e := element{tag: b[0], depth: depth}
	if e.tag&0x1f == 0x1f {
		return element{}, nil, corruptf("tag number above 30, which PKCS#12 never uses")
	}
	if e.tag == 0 {
		return element{}, nil, corruptf("unexpected end-of-contents marker")
	}
	first := b[1]
	b = b[2:]
	var n uint64
	switch {
	case first < 0x80:
		n = uint64(first)
	case first == 0x80:
		if !e.constructed() {
			return element{}, nil, corruptf("indefinite length on a primitive element")
		}
		// Scan the children to find the end-of-contents marker. Each child is
		// bounded by what is left, so this reads the input and allocates nothing.
		rest := b
		for {
			if len(rest) < 2 {
				return element{}, nil, corruptf("indefinite length without its end")
			}
			if rest[0] == 0 && rest[1] == 0 {
				e.body = b[:len(b)-len(rest)]
				return e, rest[2:], nil
			}
			_, r, err := parseElement(rest, depth+1)
			if err != nil {
				return element{}, nil, err
			}
			rest = r
		}
	default:
		k := int(first & 0x7f)
		if k > 4 {
			return element{}, nil, corruptf("a length of %d bytes", k)
		}
		if len(b) < k {
			return element{}, nil, corruptf("truncated length")
		}
		for _, c := range b[:k] {
			n = n<<8 | uint64(c)
		}
		b = b[k:]
	}
	if n > uint64(len(b)) {
		return element{}, nil, corruptf("an element claims %d bytes where %d are left", n, len(b))
	}
	e.body = b[:n]
	return e, b[n:], nil
}

// parseOne reads b as exactly one element.
func parseOne(b []byte, depth int) (element, error) {
	e, rest, err := parseElement(b, depth)
	if err != nil {
		return element{}, err
	}
	if len(rest) != 0 {
		return element{}, corruptf("%d bytes of trailing data", len(rest))
	}
	return e, nil
}

// children iterates over the elements inside a constructed element.
type children struct {
	b     []byte
	depth int
}

func (e element) children() *children { return &children{b: e.body, depth: e.depth + 1} }

func (c *children) more() bool { return len(c.b) > 0 }

func (c *children) next() (element, error) {
	e, rest, err := parseElement(c.b, c.depth)
	if err != nil {
		return element{}, err
	}
	c.b = rest
	return e, nil
}

// items returns the children of e, which must be between min and max of them
// (fixed-shape structures only; SEQUENCE OF goes through children).
func (e element) items(what string, min, max int) ([]element, error) {
	if !e.constructed() {
		return nil, corruptf("%s is not a structure", what)
	}
	var out []element
	c := e.children()
	for c.more() {
		if len(out) == max {
			return nil, corruptf("%s has more than %d parts", what, max)
		}
		x, err := c.next()
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	if len(out) < min {
		return nil, corruptf("%s has %d parts, want at least %d", what, len(out), min)
	}
	return out, nil
}

// octets returns the contents of an OCTET STRING (or of an implicitly tagged
// one, whatever its tag), joining BER's constructed chunks.
func (e element) octets() ([]byte, error) {
	if !e.constructed() {
		return e.body, nil
	}
	var out []byte
	c := e.children()
	for c.more() {
		x, err := c.next()
		if err != nil {
			return nil, err
		}
		if x.tag&^tagConstructed != tagOctetString {
			return nil, corruptf("a constructed string holds a %#x element", x.tag)
		}
		b, err := x.octets()
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// toDER re-encodes e in DER: definite lengths and whole OCTET STRINGs. (Set
// ordering is left as it is; nothing here depends on it.)
func (e element) toDER() ([]byte, error) {
	switch {
	case e.tag == tagOctetString|tagConstructed:
		b, err := e.octets()
		if err != nil {
			return nil, err
		}
		return encodeTLV(tagOctetString, b), nil
	case !e.constructed():
		return encodeTLV(e.tag, e.body), nil
	}
	var body []byte
	c := e.children()
	for c.more() {
		x, err := c.next()
		if err != nil {
			return nil, err
		}
		d, err := x.toDER()
		if err != nil {
			return nil, err
		}
		body = append(body, d...)
	}
	return encodeTLV(e.tag, body), nil
}

// unmarshal decodes e (BER) into out with encoding/asn1.
func (e element) unmarshal(what string, out any) error {
	der, err := e.toDER()
	if err != nil {
		return err
	}
	rest, err := asn1.Unmarshal(der, out)
	if err != nil {
		return corruptf("%s: %v", what, err)
	}
	if len(rest) != 0 {
		return corruptf("%s: trailing data", what)
	}
	return nil
}

func (e element) oid() (asn1.ObjectIdentifier, error) {
	if e.tag != tagOID {
		return nil, corruptf("an object identifier was expected, found tag %#x", e.tag)
	}
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(encodeTLV(tagOID, e.body), &oid); err != nil {
		return nil, corruptf("object identifier: %v", err)
	}
	return oid, nil
}

func (e element) integer() (*big.Int, error) {
	if e.tag != tagInteger || len(e.body) == 0 {
		return nil, corruptf("an integer was expected")
	}
	n := new(big.Int).SetBytes(e.body)
	if e.body[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(e.body))))
	}
	return n, nil
}

func encodeTLV(tag byte, content []byte) []byte {
	l := len(content)
	out := make([]byte, 0, l+6)
	out = append(out, tag)
	switch {
	case l < 0x80:
		out = append(out, byte(l))
	case l < 0x100:
		out = append(out, 0x81, byte(l))
	case l < 0x10000:
		out = append(out, 0x82, byte(l>>8), byte(l))
	case l < 0x1000000:
		out = append(out, 0x83, byte(l>>16), byte(l>>8), byte(l))
	default:
		out = append(out, 0x84, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
	}
	return append(out, content...)
}
