// Package pkcs12 is certdb's one PKCS#12 (RFC 7292) implementation: the
// reader that `certdb import` and the Java keystore code share, and the writer
// behind `certdb export` and PKCS#12 keystores.
//
// What it reads: DER files (OpenSSL, Java keytool, go-pkcs12) and BER files
// (NSS's pk12util: indefinite lengths, chunked OCTET STRINGs); the MAC with
// SHA-1 or SHA-2 and the PKCS#12 KDF of RFC 7292 appendix B; PBES2 with
// PBKDF2 (HMAC-SHA-1/SHA-2) and AES-CBC or 3DES; the legacy
// pbeWithSHAAnd3-KeyTripleDES-CBC, pbeWithSHAAnd2-KeyTripleDES-CBC,
// pbeWithSHAAnd128BitRC2-CBC and pbeWithSHAAnd40BitRC2-CBC of old OpenSSL and
// Java files (RC2 is in internal/rc2, written from RFC 2268); plain and
// shrouded key bags, X.509 certificate bags, nested safe contents, and the
// friendlyName, localKeyId and Java trusted-certificate attributes. An empty
// password is tried both as a BMPString "" (two zero bytes) and as no bytes
// at all, as OpenSSL and NSS do, since writers differ.
//
// Bounded work: every iteration count comes from the file, so a crafted file
// could ask for billions of hash rounds. Limits caps the iterations summed
// over the file (MAC, every encrypted safe, every shrouded key), the number
// of bags and the attributes of a bag. What is visible without the password
// is added up and refused before any key derivation, whatever the password;
// keys hidden inside an encrypted safe are charged against what is left
// before their own derivation. Lengths are checked against the bytes that
// are left before anything is sliced, and nothing is allocated from a length
// the file claims.
//
// Where software.sslmate.com/src/go-pkcs12 is used, and where not, function
// by function:
//   - Decoding is written here. go-pkcs12 reads DER only (NSS files are BER),
//     takes whatever iteration count the file asks for, wants exactly one
//     key, and drops Java's trusted-certificate attribute and the friendly
//     names of keys.
//   - The PKCS#12 KDF and MAC are written here: go-pkcs12 does not export
//     them, and the reader and nameKeyBag need them.
//   - PBKDF2 is crypto/pbkdf2 from the standard library; AES and 3DES are
//     crypto/aes and crypto/des.
//   - RC2 is internal/rc2: go-pkcs12's is internal to it.
//   - Encode and EncodeTrustStore are go-pkcs12's Modern encoder (PBES2
//     AES-256-CBC, PBKDF2-HMAC-SHA-256, HMAC-SHA-256 MAC), which does the
//     job and is widely checked against OpenSSL, NSS and Java; Encode adds
//     the key bag's friendlyName afterwards (nameKeyBag), which go-pkcs12
//     cannot write and Java needs for a key's alias. The output formats are
//     those certdb wrote before this package existed.
package pkcs12
