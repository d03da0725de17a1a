package pkcs12

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/gopcp/gopcp/certdb/pkcs12/internal/rc2"
)

var (
	oidPBES2             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPBMAC1            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidPBEWithSHA3DES    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	oidPBEWithSHA2DES    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 4}
	oidPBEWithSHARC2_128 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 5}
	oidPBEWithSHARC2_40  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 6}
	oidAES128CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC        = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

type pbeParams struct {
	Salt       []byte
	Iterations *big.Int
}

type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       asn1.RawValue
	Iterations *big.Int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

// errDecrypt is wrong padding after decryption: the password, almost surely.
var errDecrypt = errors.New("decryption failed")

func isPKCS12PBE(oid asn1.ObjectIdentifier) bool {
	return oid.Equal(oidPBEWithSHA3DES) || oid.Equal(oidPBEWithSHA2DES) ||
		oid.Equal(oidPBEWithSHARC2_128) || oid.Equal(oidPBEWithSHARC2_40)
}

// iterationsOf reads the iteration count of a password-based encryption
// algorithm without deriving anything, so that the work a file asks for can
// be refused before any of it is done. An algorithm we do not know costs
// nothing here (decryption will refuse it).
func iterationsOf(alg pkix.AlgorithmIdentifier) (*big.Int, error) {
	switch {
	case isPKCS12PBE(alg.Algorithm):
		var p pbeParams
		if err := unmarshalDER(alg.Parameters.FullBytes, &p, "PBE parameters"); err != nil {
			return nil, err
		}
		return p.Iterations, nil
	case alg.Algorithm.Equal(oidPBES2):
		_, kp, err := parsePBES2(alg)
		if err != nil {
			return nil, err
		}
		return kp.Iterations, nil
	}
	return big.NewInt(0), nil
}

func unmarshalDER(der []byte, out any, what string) error {
	rest, err := asn1.Unmarshal(der, out)
	if err != nil {
		return corruptf("%s: %v", what, err)
	}
	if len(rest) != 0 {
		return corruptf("%s: trailing data", what)
	}
	return nil
}

func parsePBES2(alg pkix.AlgorithmIdentifier) (*pbes2Params, *pbkdf2Params, error) {
	var p pbes2Params
	if err := unmarshalDER(alg.Parameters.FullBytes, &p, "PBES2 parameters"); err != nil {
		return nil, nil, err
	}
	if !p.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) {
		return nil, nil, fmt.Errorf("PBES2 key derivation %s: %w", p.KeyDerivationFunc.Algorithm, ErrUnsupported)
	}
	var kp pbkdf2Params
	if err := unmarshalDER(p.KeyDerivationFunc.Parameters.FullBytes, &kp, "PBKDF2 parameters"); err != nil {
		return nil, nil, err
	}
	if kp.Salt.Tag != asn1.TagOctetString || kp.Salt.Class != asn1.ClassUniversal {
		return nil, nil, fmt.Errorf("PBKDF2 with a non-literal salt: %w", ErrUnsupported)
	}
	return &p, &kp, nil
}

// decrypter returns a CBC decrypter for alg. bmp is the password for the
// PKCS#12 KDF, utf8 the password for PBKDF2 (PBES2 takes it as bytes).
// iterations was checked and charged by the caller.
func decrypter(alg pkix.AlgorithmIdentifier, bmp, utf8 []byte, iterations int) (cipher.BlockMode, error) {
	switch {
	case isPKCS12PBE(alg.Algorithm):
		var p pbeParams
		if err := unmarshalDER(alg.Parameters.FullBytes, &p, "PBE parameters"); err != nil {
			return nil, err
		}
		key := func(n int) []byte { return kdf(sha1.New, 64, p.Salt, bmp, iterations, idKey, n) }
		var block cipher.Block
		var err error
		switch {
		case alg.Algorithm.Equal(oidPBEWithSHA3DES):
			block, err = des.NewTripleDESCipher(key(24))
		case alg.Algorithm.Equal(oidPBEWithSHA2DES):
			k := key(16)
			block, err = des.NewTripleDESCipher(append(k, k[:8]...))
		case alg.Algorithm.Equal(oidPBEWithSHARC2_128):
			block, err = rc2.New(key(16), 128)
		default:
			block, err = rc2.New(key(5), 40)
		}
		if err != nil {
			return nil, err
		}
		iv := kdf(sha1.New, 64, p.Salt, bmp, iterations, idIV, block.BlockSize())
		return cipher.NewCBCDecrypter(block, iv), nil
	case alg.Algorithm.Equal(oidPBES2):
		p, kp, err := parsePBES2(alg)
		if err != nil {
			return nil, err
		}
		prf := sha1.New
		if len(kp.PRF.Algorithm) > 0 {
			h, _, ok := hashFor(kp.PRF.Algorithm)
			if !ok {
				return nil, fmt.Errorf("PBKDF2 PRF %s: %w", kp.PRF.Algorithm, ErrUnsupported)
			}
			prf = h
		}
		var keyLen int
		var newBlock func([]byte) (cipher.Block, error)
		switch enc := p.EncryptionScheme.Algorithm; {
		case enc.Equal(oidAES128CBC):
			keyLen, newBlock = 16, aes.NewCipher
		case enc.Equal(oidAES192CBC):
			keyLen, newBlock = 24, aes.NewCipher
		case enc.Equal(oidAES256CBC):
			keyLen, newBlock = 32, aes.NewCipher
		case enc.Equal(oidDESEDE3CBC):
			keyLen, newBlock = 24, des.NewTripleDESCipher
		default:
			return nil, fmt.Errorf("PBES2 cipher %s: %w", enc, ErrUnsupported)
		}
		if kp.KeyLength != 0 && kp.KeyLength != keyLen {
			return nil, corruptf("PBKDF2 key length %d for a %d-byte key", kp.KeyLength, keyLen)
		}
		var iv []byte
		if err := unmarshalDER(p.EncryptionScheme.Parameters.FullBytes, &iv, "PBES2 IV"); err != nil {
			return nil, err
		}
		key, err := pbkdf2.Key(prf, string(utf8), kp.Salt.Bytes, iterations, keyLen)
		if err != nil {
			return nil, err
		}
		block, err := newBlock(key)
		if err != nil {
			return nil, err
		}
		if len(iv) != block.BlockSize() {
			return nil, corruptf("PBES2 IV of %d bytes", len(iv))
		}
		return cipher.NewCBCDecrypter(block, iv), nil
	}
	return nil, fmt.Errorf("encryption algorithm %s: %w", alg.Algorithm, ErrUnsupported)
}

// decrypt decrypts data and removes its padding; errDecrypt means the padding
// was wrong.
func decrypt(alg pkix.AlgorithmIdentifier, data, bmp, utf8 []byte, iterations int) ([]byte, error) {
	mode, err := decrypter(alg, bmp, utf8, iterations)
	if err != nil {
		return nil, err
	}
	bs := mode.BlockSize()
	if len(data) == 0 || len(data)%bs != 0 {
		return nil, corruptf("encrypted data of %d bytes", len(data))
	}
	out := make([]byte, len(data))
	mode.CryptBlocks(out, data)
	n := int(out[len(out)-1])
	if n == 0 || n > bs {
		return nil, errDecrypt
	}
	want := make([]byte, n)
	for i := range want {
		want[i] = byte(n)
	}
	if subtle.ConstantTimeCompare(out[len(out)-n:], want) != 1 {
		return nil, errDecrypt
	}
	return out[:len(out)-n], nil
}
