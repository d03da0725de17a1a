// Package store is gopcp's certificate nickname store: what an NSS database
// (cert9.db + key4.db, driven by certutil and pk12util) was to PCP 5 and earlier.
//
// A store is a folder holding certificates under nicknames, each with NSS-style
// trust attributes (see Trust), and the private keys of some of them, encrypted
// under the store's password. An empty password is allowed, as with
// `certutil -N -f emptyfile`; PCP has always used one. A "sql:" prefix on the
// folder name is accepted and ignored, so paths from NSS-era configuration
// (`-C sql:/etc/pcp/nssdb`) work unchanged.
//
// # On-disk format (version 1)
//
// The folder (created with mode 0700) holds:
//
//	certdb.json   the store: mode 0600, always replaced whole, never edited in place
//	certdb.lock   empty; writers hold an exclusive flock(2) on it
//	.certdb.json.tmp-*   a write in progress (or left by a crash; the next writer removes it)
//
// certdb.json is one JSON object; []byte values are standard base64:
//
//	{
//	  "format": "gopcp-certdb",
//	  "version": 1,
//	  "kdf": {"name": "scrypt", "salt": "<16 random bytes>", "n": 32768, "r": 8, "p": 1},
//	  "check": "<nonce || AES-256-GCM(key, "gopcp certdb password check", aad "gopcp-certdb/v1 check")>",
//	  "entries": [
//	    {"nickname": "Root CA", "trust": "CT,,", "cert": "<DER>"},
//	    {"nickname": "pmserver_cert", "trust": "P,,", "cert": "<DER>",
//	     "key": "<nonce || AES-256-GCM(key, PKCS#8 DER, aad "gopcp-certdb/v1 key\x00" || SHA-256(cert DER))>"}
//	  ]
//	}
//
// Version 2 is version 1 plus keys waiting for their certificate (made for a
// certificate signing request by `certdb request`), in a "pending" array:
//
//	"pending": [
//	  {"nickname": "agent", "public": "<SubjectPublicKeyInfo DER>",
//	   "key": "<nonce || AES-256-GCM(key, PKCS#8 DER, aad "gopcp-certdb/v2 pending\x00" || SHA-256(public))>",
//	   "csr": "<PKCS#10 DER, optional>"}
//	]
//
// A store is written as version 1 whenever it holds no pending key, so stores
// that never used requests stay readable by certdb versions that know only
// version 1. Pending nicknames share the namespace of certificates. When the
// signed certificate arrives, the key is decrypted, sealed again under the
// certificate's additional data, and moves into the certificate's entry.
//
// The AES key is scrypt(password, salt, n, r, p) with a 32-byte output. The salt is
// drawn when the store is created; n, r and p are those shown above, except in
// stores tests make with CreateOptions.TestOnlyFastKDF (n = 64), and Open
// derives with whatever the file records, within the bounds below. The check value makes a wrong password a clear
// ErrBadPassword rather than garbage; the additional data of each key binds it to
// its certificate, so a key moved to another entry does not decrypt. Nonces are 12
// random bytes, fresh for every encryption. Entries keep the order they were added
// in; trust is stored without the u flag, which is derived from the presence of a
// key. Unknown fields make the file unreadable (a newer format must bump version).
//
// # Writes
//
// Every change takes the flock on certdb.lock, re-reads certdb.json (so that two
// writers, in one process or several, never lose each other's changes), applies the
// change, writes the whole store to a temporary file in the same folder, fsyncs it,
// renames it over certdb.json and fsyncs the folder. A crash at any point leaves
// either the old or the new store, whole. Readers take no lock: rename is atomic.
// A change that fails (bad input, duplicate nickname, key that matches nothing...)
// writes nothing.
//
// Because certdb.json holds private keys, Open refuses it when group or others have
// any permission on it (ErrLooseKeyPermissions, with the chmod command that fixes
// it), even when the caller only wants certificates.
//
// The folder and its files must be out of other users' reach, for reading as
// for writing (a reader acts on the trust it reads): Open, Create and every
// write refuse with ErrUnsafeStore a folder owned by anyone but the caller or
// root, a folder group or others may write in (unless it has the sticky bit;
// group- or world-readable is fine), a certdb.json or certdb.lock owned by
// another user, a symbolic link or FIFO in place of either file, and a hard
// link at certdb.lock (files are opened with O_NOFOLLOW; new ones are created
// with O_EXCL, and certdb.json is replaced by rename, never written through). The
// scrypt parameters are checked before any derivation: at most 256 MiB of
// memory (128*N*r) and 8 times the work of the parameters certdb writes.
package store
