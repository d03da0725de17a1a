package pkcs12

import (
	"crypto/hmac"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf16"
)

// Errors; test with errors.Is.
var (
	ErrBadPassword = errors.New("PKCS#12 password incorrect")
	ErrCorrupt     = errors.New("damaged or not a PKCS#12 file")
	ErrUnsupported = errors.New("unsupported PKCS#12 content")
	// ErrTooMuchWork: the file asks for more key derivation, or holds more
	// bags or attributes, than Limits allow. It is refused whatever the password.
	ErrTooMuchWork = errors.New("too much work for one PKCS#12 file")
)

var (
	oidData            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidKeyBag          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidSafeContentsBag = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 6}
	oidX509Certificate = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
	oidFriendlyName    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20}
	oidLocalKeyID      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 21}
	// Java's "trusted certificate" attribute (a truststore entry).
	oidJavaTrusted = asn1.ObjectIdentifier{2, 16, 840, 1, 113894, 746875, 1, 1}
)

// Limits bound the work one file can make us do. A file over a limit is
// refused before any key derivation when what it asks for is visible without
// the password (the MAC, encrypted safes, shrouded keys outside them); a key
// hidden inside an encrypted safe is checked against what is left of the
// budget before its own derivation.
type Limits struct {
	// MaxIterations bounds the KDF iteration counts summed over the file: the
	// MAC, every encrypted safe and every shrouded key. (The derivation of a
	// legacy key and IV hashes a few times per iteration, and the empty
	// password is tried both ways, so the real work is a small multiple.)
	MaxIterations int64
	// MaxBags bounds the safe bags in the file, nested ones included.
	MaxBags int
	// MaxAttributes bounds the attribute values of one bag.
	MaxAttributes int
}

// DefaultLimits: ten million iterations is 5.5 times what NSS's pk12util
// (3.87) writes, 600,000 each for the MAC, the key and the certificates,
// which took 1.0 s to read on our 2-CPU test machine under load; OpenSSL 3
// writes 6,144 in all and keytool 200,000. Real files have a handful of bags
// with two or three attributes each.
func DefaultLimits() Limits {
	return Limits{MaxIterations: 10_000_000, MaxBags: 10_000, MaxAttributes: 64}
}

// Bag is one key or certificate of a file.
type Bag struct {
	// PrivateKey is a PKCS#8 PrivateKeyInfo in DER (a shrouded key decrypted),
	// for a key bag; nil for a certificate bag.
	PrivateKey []byte
	// Certificate is set for an X.509 certificate bag.
	Certificate *x509.Certificate
	// FriendlyName is the bag's friendlyName attribute (pk12util's nickname,
	// Java's alias), as it is in the file: escape it before showing it.
	FriendlyName string
	LocalKeyID   []byte
	// JavaTrusted is Java's trusted-certificate attribute: a truststore entry.
	JavaTrusted bool
}

// Contents is what a file holds: its key and X.509 certificate bags in file
// order (CRL, secret and non-X.509 certificate bags are skipped), and the
// KDF iterations it cost.
type Contents struct {
	Bags       []Bag
	Iterations int64
}

// Decode reads a PKCS#12 file, DER or BER, with DefaultLimits.
func Decode(data, password []byte) (*Contents, error) {
	return DefaultLimits().Decode(data, password)
}

// budget counts what a file costs against Limits.
type budget struct {
	lim        Limits
	iterations big.Int
	bags       int
}

func (b *budget) addIterations(n *big.Int) error {
	if n == nil {
		return nil
	}
	if n.Sign() <= 0 {
		return corruptf("an iteration count of %s", n)
	}
	b.iterations.Add(&b.iterations, n)
	return b.checkIterations()
}

func (b *budget) checkIterations() error {
	if !b.iterations.IsInt64() || b.iterations.Int64() > b.lim.MaxIterations {
		return fmt.Errorf("the file asks for %s iterations of key derivation; at most %d are allowed (if it is yours, export it again with the tool's default counts): %w",
			&b.iterations, b.lim.MaxIterations, ErrTooMuchWork)
	}
	return nil
}

func (b *budget) addBag() error {
	b.bags++
	if b.bags > b.lim.MaxBags {
		return fmt.Errorf("the file holds more than %d bags: %w", b.lim.MaxBags, ErrTooMuchWork)
	}
	return nil
}

type contentInfo struct {
	typ     asn1.ObjectIdentifier
	content element // what the [0] EXPLICIT holds
}

type macData struct {
	Mac struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	MacSalt    []byte
	Iterations *big.Int `asn1:"optional"`
}

type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

type decoder struct {
	password []byte
	bmp      [][]byte // PKCS#12 KDF passwords to try, the one the MAC took first
	macOK    bool     // the MAC verified: the password is right
	spent    budget
	out      Contents
}

// Decode reads a PKCS#12 file, DER or BER, within l: its key bags (plain or
// shrouded) and certificate bags, after checking the MAC if there is one.
func (l Limits) Decode(data, password []byte) (*Contents, error) {
	d := &decoder{password: password, bmp: bmpCandidates(password), spent: budget{lim: l}}
	authSafe, mac, infos, err := readPFX(data)
	if err != nil {
		return nil, err
	}
	if err := planWork(l, mac, infos); err != nil {
		return nil, err
	}
	if mac != nil {
		if err := d.checkMAC(mac, authSafe); err != nil {
			return nil, err
		}
	}
	for _, ci := range infos {
		switch {
		case ci.typ.Equal(oidData):
			sc, err := safeContentsOf(ci.content)
			if err != nil {
				return nil, err
			}
			if err := d.walk(sc, 0); err != nil {
				return nil, err
			}
		case ci.typ.Equal(oidEncryptedData):
			alg, ct, err := encryptedContent(ci.content)
			if err != nil {
				return nil, err
			}
			plain, err := d.decrypt(alg, ct)
			if errors.Is(err, errDecrypt) {
				return nil, fmt.Errorf("the certificates do not decrypt with the password: %w", ErrBadPassword)
			}
			if err != nil {
				return nil, err
			}
			sc, err := parseOne(plain, 0)
			if err != nil {
				if !d.macOK {
					// Without a MAC a wrong password can pass the padding check
					// by chance and leave garbage.
					return nil, fmt.Errorf("the certificates do not decrypt with the password: %w", ErrBadPassword)
				}
				return nil, err
			}
			if err := d.walk(sc, 0); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("content of type %s (public-key encryption): %w", ci.typ, ErrUnsupported)
		}
	}
	d.out.Iterations = d.spent.iterations.Int64()
	return &d.out, nil
}

// readPFX reads the outer structure: PFX ::= SEQUENCE { version 3, authSafe
// ContentInfo (data), macData MacData OPTIONAL }, and the authenticated safe's
// ContentInfos.
func readPFX(data []byte) (authSafe []byte, mac *macData, infos []contentInfo, err error) {
	pfx, err := parseOne(data, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	if pfx.tag != tagSequence {
		return nil, nil, nil, corruptf("not a PKCS#12 file")
	}
	parts, err := pfx.items("PFX", 2, 3)
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := parts[0].integer()
	if err != nil {
		return nil, nil, nil, err
	}
	if v.Cmp(big.NewInt(3)) != 0 {
		return nil, nil, nil, fmt.Errorf("PKCS#12 version %s (want 3): %w", v, ErrUnsupported)
	}
	ci, err := readContentInfo(parts[1])
	if err != nil {
		return nil, nil, nil, err
	}
	if !ci.typ.Equal(oidData) {
		return nil, nil, nil, fmt.Errorf("a public-key protected file (%s): %w", ci.typ, ErrUnsupported)
	}
	if ci.content.tag&^tagConstructed != tagOctetString {
		return nil, nil, nil, corruptf("the authenticated safe is not an OCTET STRING")
	}
	if authSafe, err = ci.content.octets(); err != nil {
		return nil, nil, nil, err
	}
	if len(parts) == 3 {
		mac = new(macData)
		if err := parts[2].unmarshal("MAC data", mac); err != nil {
			return nil, nil, nil, err
		}
		if mac.Iterations == nil {
			mac.Iterations = big.NewInt(1) // DEFAULT 1
		}
	}
	safe, err := parseOne(authSafe, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	if safe.tag != tagSequence {
		return nil, nil, nil, corruptf("the authenticated safe is not a SEQUENCE")
	}
	c := safe.children()
	for c.more() {
		x, err := c.next()
		if err != nil {
			return nil, nil, nil, err
		}
		ci, err := readContentInfo(x)
		if err != nil {
			return nil, nil, nil, err
		}
		infos = append(infos, ci)
	}
	return authSafe, mac, infos, nil
}

// readContentInfo reads ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }.
func readContentInfo(e element) (contentInfo, error) {
	if e.tag != tagSequence {
		return contentInfo{}, corruptf("a ContentInfo is not a SEQUENCE")
	}
	parts, err := e.items("ContentInfo", 2, 2)
	if err != nil {
		return contentInfo{}, err
	}
	typ, err := parts[0].oid()
	if err != nil {
		return contentInfo{}, err
	}
	if parts[1].tag != tagContext0Explicit {
		return contentInfo{}, corruptf("ContentInfo content is not [0]")
	}
	inner, err := parts[1].items("ContentInfo content", 1, 1)
	if err != nil {
		return contentInfo{}, err
	}
	return contentInfo{typ: typ, content: inner[0]}, nil
}

// safeContentsOf opens a Data content: an OCTET STRING holding SafeContents.
func safeContentsOf(content element) (element, error) {
	if content.tag&^tagConstructed != tagOctetString {
		return element{}, corruptf("data content is not an OCTET STRING")
	}
	b, err := content.octets()
	if err != nil {
		return element{}, err
	}
	return parseOne(b, 0)
}

// encryptedContent opens EncryptedData ::= SEQUENCE { version, SEQUENCE {
// contentType, algorithm, [0] IMPLICIT OCTET STRING } }.
func encryptedContent(content element) (pkix.AlgorithmIdentifier, []byte, error) {
	var alg pkix.AlgorithmIdentifier
	if content.tag != tagSequence {
		return alg, nil, corruptf("EncryptedData is not a SEQUENCE")
	}
	parts, err := content.items("EncryptedData", 2, 2)
	if err != nil {
		return alg, nil, err
	}
	eci, err := parts[1].items("EncryptedContentInfo", 2, 3)
	if err != nil {
		return alg, nil, err
	}
	if err := eci[1].unmarshal("encryption algorithm", &alg); err != nil {
		return alg, nil, err
	}
	if len(eci) < 3 {
		return alg, nil, nil // no content: nothing to decrypt
	}
	if eci[2].tag&^tagConstructed != tagContext0 {
		return alg, nil, corruptf("encrypted content is not [0]")
	}
	ct, err := eci[2].octets()
	return alg, ct, err
}

// planWork adds up what the file asks for that can be seen without the
// password, and refuses it before any key derivation if it is too much.
func planWork(l Limits, mac *macData, infos []contentInfo) error {
	b := &budget{lim: l}
	var total big.Int
	add := func(n *big.Int) error {
		if n == nil {
			return nil
		}
		if n.Sign() <= 0 {
			return corruptf("an iteration count of %s", n)
		}
		total.Add(&total, n)
		return nil
	}
	if mac != nil {
		if err := add(mac.Iterations); err != nil {
			return err
		}
	}
	var visit func(sc element, depth int) error
	visit = func(sc element, depth int) error {
		return eachBag(sc, depth, b, func(typ asn1.ObjectIdentifier, value, _ element) error {
			switch {
			case typ.Equal(oidShroudedKeyBag):
				var epki encryptedPrivateKeyInfo
				if err := value.unmarshal("encrypted key", &epki); err != nil {
					return err
				}
				n, err := iterationsOf(epki.Algorithm)
				if err != nil {
					return err
				}
				return add(n)
			case typ.Equal(oidSafeContentsBag):
				return visit(value, depth+1)
			}
			return nil
		})
	}
	for _, ci := range infos {
		switch {
		case ci.typ.Equal(oidData):
			sc, err := safeContentsOf(ci.content)
			if err != nil {
				return err
			}
			if err := visit(sc, 0); err != nil {
				return err
			}
		case ci.typ.Equal(oidEncryptedData):
			alg, _, err := encryptedContent(ci.content)
			if err != nil {
				return err
			}
			n, err := iterationsOf(alg)
			if err != nil {
				return err
			}
			if err := add(n); err != nil {
				return err
			}
		}
	}
	b.iterations.Set(&total)
	return b.checkIterations()
}

// maxNesting bounds SafeContents bags inside SafeContents bags.
const maxNesting = 4

// eachBag calls fn for each SafeBag ::= SEQUENCE { bagId, [0] EXPLICIT
// bagValue, bagAttributes SET OF Attribute OPTIONAL } of sc, counting them in b.
// attrs has tag 0 when the bag has none.
func eachBag(sc element, depth int, b *budget, fn func(typ asn1.ObjectIdentifier, value, attrs element) error) error {
	if depth > maxNesting {
		return corruptf("safe contents nested more than %d deep", maxNesting)
	}
	if sc.tag != tagSequence {
		return corruptf("SafeContents is not a SEQUENCE")
	}
	c := sc.children()
	for c.more() {
		x, err := c.next()
		if err != nil {
			return err
		}
		if err := b.addBag(); err != nil {
			return err
		}
		if x.tag != tagSequence {
			return corruptf("a SafeBag is not a SEQUENCE")
		}
		parts, err := x.items("SafeBag", 2, 3)
		if err != nil {
			return err
		}
		typ, err := parts[0].oid()
		if err != nil {
			return err
		}
		if parts[1].tag != tagContext0Explicit {
			return corruptf("SafeBag value is not [0]")
		}
		value, err := parts[1].items("SafeBag value", 1, 1)
		if err != nil {
			return err
		}
		var attrs element
		if len(parts) == 3 {
			if parts[2].tag != tagSet {
				return corruptf("SafeBag attributes are not a SET")
			}
			attrs = parts[2]
			if err := countAttributes(attrs, b.lim.MaxAttributes); err != nil {
				return err
			}
		}
		if err := fn(typ, value[0], attrs); err != nil {
			return err
		}
	}
	return nil
}

func countAttributes(attrs element, max int) error {
	n := 0
	c := attrs.children()
	for c.more() {
		a, err := c.next()
		if err != nil {
			return err
		}
		parts, err := a.items("attribute", 2, 2)
		if err != nil {
			return err
		}
		vc := parts[1].children()
		for vc.more() {
			if _, err := vc.next(); err != nil {
				return err
			}
			if n++; n > max {
				return fmt.Errorf("a bag has more than %d attribute values: %w", max, ErrTooMuchWork)
			}
		}
	}
	return nil
}

// checkMAC verifies the MAC and settles which encoding of the password the
// file uses.
func (d *decoder) checkMAC(mac *macData, authSafe []byte) error {
	alg := mac.Mac.Algorithm.Algorithm
	if alg.Equal(oidPBMAC1) {
		return fmt.Errorf("a PBMAC1 integrity check (RFC 9579): %w", ErrUnsupported)
	}
	h, v, ok := hashFor(alg)
	if !ok {
		return fmt.Errorf("MAC algorithm %s: %w", alg, ErrUnsupported)
	}
	if err := d.spent.addIterations(mac.Iterations); err != nil {
		return err
	}
	it := int(mac.Iterations.Int64())
	for i, bmp := range d.bmp {
		if hmac.Equal(pkcs12MAC(h, v, mac.MacSalt, bmp, it, authSafe), mac.Mac.Digest) {
			rest := append([][]byte{}, d.bmp[i+1:]...)
			// Decrypt with this encoding first; the other (an empty password
			// only) stays as a fallback for writers that mix them.
			d.bmp = append([][]byte{bmp}, d.bmp[:i]...)
			d.bmp = append(d.bmp, rest...)
			d.macOK = true
			return nil
		}
	}
	return fmt.Errorf("the integrity check fails (wrong password, or a changed file): %w", ErrBadPassword)
}

// decrypt charges alg's iterations and decrypts data, trying each encoding
// of the password the PKCS#12 KDF might have used. An encoding whose result
// has valid padding but does not parse as one DER element is passed over for
// the next: with the wrong key, CBC padding is valid by chance about once in
// 256 files, and the empty password has two encodings to try. When no
// encoding gives a parsable result, the first result with valid padding is
// returned, and the caller's parse reports it.
func (d *decoder) decrypt(alg pkix.AlgorithmIdentifier, data []byte) ([]byte, error) {
	n, err := iterationsOf(alg)
	if err != nil {
		return nil, err
	}
	if err := d.spent.addIterations(n); err != nil {
		return nil, err
	}
	it := 0
	if n != nil {
		it = int(n.Int64())
	}
	candidates := d.bmp
	if !isPKCS12PBE(alg.Algorithm) {
		candidates = candidates[:1] // PBES2 uses the password as it is
	}
	var padded []byte
	for _, bmp := range candidates {
		out, err := decrypt(alg, data, bmp, d.password, it)
		switch {
		case errors.Is(err, errDecrypt):
			continue
		case err != nil:
			return nil, err
		}
		if _, perr := parseOne(out, 0); perr == nil {
			return out, nil
		}
		if padded == nil {
			padded = out
		}
	}
	if padded != nil {
		return padded, nil
	}
	return nil, errDecrypt
}

// walk decodes the bags of sc.
func (d *decoder) walk(sc element, depth int) error {
	return eachBag(sc, depth, &d.spent, func(typ asn1.ObjectIdentifier, value, attrs element) error {
		var bag Bag
		if attrs.tag != 0 {
			readAttributes(attrs, &bag)
		}
		switch {
		case typ.Equal(oidCertBag):
			parts, err := value.items("certificate bag", 2, 2)
			if err != nil {
				return err
			}
			certType, err := parts[0].oid()
			if err != nil {
				return err
			}
			if !certType.Equal(oidX509Certificate) {
				return nil // SDSI certificates: nothing anyone here can use
			}
			inner, err := parts[1].items("certificate", 1, 1)
			if err != nil {
				return err
			}
			der, err := inner[0].octets()
			if err != nil {
				return err
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return corruptf("certificate %q: %v", bag.FriendlyName, err)
			}
			bag.Certificate = c
		case typ.Equal(oidKeyBag):
			der, err := value.toDER()
			if err != nil {
				return err
			}
			bag.PrivateKey = der
		case typ.Equal(oidShroudedKeyBag):
			var epki encryptedPrivateKeyInfo
			if err := value.unmarshal("encrypted key", &epki); err != nil {
				return err
			}
			plain, err := d.decrypt(epki.Algorithm, epki.EncryptedData)
			if errors.Is(err, errDecrypt) {
				return fmt.Errorf("private key %q does not decrypt with the password: %w", bag.FriendlyName, ErrBadPassword)
			}
			if err != nil {
				return fmt.Errorf("private key %q: %w", bag.FriendlyName, err)
			}
			k, err := parseOne(plain, 0)
			if err == nil {
				plain, err = k.toDER()
			}
			if err != nil {
				if !d.macOK {
					return fmt.Errorf("private key %q does not decrypt with the password: %w", bag.FriendlyName, ErrBadPassword)
				}
				return fmt.Errorf("private key %q: %w", bag.FriendlyName, err)
			}
			bag.PrivateKey = plain
		case typ.Equal(oidSafeContentsBag):
			return d.walk(value, depth+1)
		default:
			return nil // CRLs, secrets: not for us
		}
		d.out.Bags = append(d.out.Bags, bag)
		return nil
	})
}

// readAttributes takes the attributes certdb uses; a malformed value is
// ignored, as it only ever names or pairs things.
func readAttributes(attrs element, bag *Bag) {
	c := attrs.children()
	for c.more() {
		a, err := c.next()
		if err != nil {
			return
		}
		parts, err := a.items("attribute", 2, 2)
		if err != nil {
			continue
		}
		id, err := parts[0].oid()
		if err != nil {
			continue
		}
		vals, err := parts[1].items("attribute values", 0, 64)
		if err != nil || len(vals) == 0 {
			continue
		}
		switch {
		case id.Equal(oidFriendlyName):
			if vals[0].tag == tagBMPString {
				bag.FriendlyName = decodeBMP(vals[0].body)
			}
		case id.Equal(oidLocalKeyID):
			if vals[0].tag&^tagConstructed == tagOctetString {
				if b, err := vals[0].octets(); err == nil {
					bag.LocalKeyID = b
				}
			}
		case id.Equal(oidJavaTrusted):
			bag.JavaTrusted = true
		}
	}
}

func decodeBMP(b []byte) string {
	if len(b)%2 != 0 {
		return ""
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return strings.TrimRight(string(utf16.Decode(u)), "\x00")
}
