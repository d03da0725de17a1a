package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/crypto/scrypt"
	"golang.org/x/sys/unix"

	"github.com/gopcp/gopcp/internal/shellquote"
)

// Names inside a store directory.
const (
	// FileName is the store itself: certificates, trust and encrypted keys.
	FileName = "certdb.json"
	// LockName is the file every writer holds an exclusive flock on.
	LockName = "certdb.lock"
	// tempPrefix starts the names of files being written; one left by a crash is
	// removed by the next writer.
	tempPrefix = ".certdb.json.tmp-"
)

// Limits.
const (
	// MaxStoreSize bounds the store file read into memory.
	MaxStoreSize = 64 << 20
	// MaxInputSize bounds a certificate, key or PKCS#12 file read by the CLI.
	MaxInputSize = 16 << 20
	// maxChain bounds the issuer chain walked from a leaf.
	maxChain = 16
)

// Key derivation parameters for new stores (scrypt, as recommended in its paper for
// interactive use: about 32 MiB and well under a second).
const (
	formatName  = "gopcp-certdb"
	formatV1    = 1
	formatV2    = 2 // version 1 plus "pending": keys waiting for their certificate
	kdfScrypt   = "scrypt"
	scryptN     = 1 << 15
	scryptR     = 8
	scryptP     = 1
	keyLen      = 32
	saltLen     = 16
	checkPlain  = "gopcp certdb password check"
	checkAAD    = "gopcp-certdb/v1 check"
	keyAADLabel = "gopcp-certdb/v1 key\x00"
)

// Bounds on the scrypt parameters read from a store file. scrypt's memory is
// 128*N*r bytes and its time grows with N*r*p; a file is chosen by whoever could
// write it, so without a bound one edit makes every Open allocate gigabytes or
// spin for hours. The bounds are 8 times what newState writes (32 MiB, N*r*p =
// 2^18): room for a stronger store written by a later certdb, and still at most
// 256 MiB and about two seconds on one slow core (measured: 2.0 s for 2^21).
const (
	maxScryptMemory = 256 << 20 // bytes, 128*N*r
	maxScryptWork   = 1 << 21   // N*r*p
	maxSaltLen      = 1024
)

// fileStore is the JSON document kept in FileName (see doc.go).
type fileStore struct {
	Format  string      `json:"format"`
	Version int         `json:"version"`
	KDF     kdfParams   `json:"kdf"`
	Check   []byte      `json:"check"`
	Entries []fileEntry `json:"entries"`
	// Pending (version 2 only) holds keys made by certdb request.
	Pending []filePending `json:"pending,omitempty"`
}

type filePending struct {
	Nickname string `json:"nickname"`
	Public   []byte `json:"public"`        // SubjectPublicKeyInfo DER
	Key      []byte `json:"key"`           // sealed PKCS#8, see pendingAAD
	CSR      []byte `json:"csr,omitempty"` // the PKCS#10 request made with it
}

type kdfParams struct {
	Name string `json:"name"`
	Salt []byte `json:"salt"`
	N    int    `json:"n"`
	R    int    `json:"r"`
	P    int    `json:"p"`
}

type fileEntry struct {
	Nickname string `json:"nickname"`
	Trust    string `json:"trust"`
	Cert     []byte `json:"cert"`
	Key      []byte `json:"key,omitempty"`
}

// entry is one certificate in memory.
type entry struct {
	nickname string
	cert     *x509.Certificate
	trust    Trust  // normalised, without u
	sealed   []byte // nonce || AES-GCM(PKCS#8 DER); nil when no key
}

// state is a whole store in memory.
type state struct {
	kdf     kdfParams
	check   []byte
	entries []*entry
	pending []*pending
}

func (st *state) find(nickname string) *entry {
	for _, e := range st.entries {
		if e.nickname == nickname {
			return e
		}
	}
	return nil
}

func (st *state) findCert(raw []byte) *entry {
	for _, e := range st.entries {
		if bytes.Equal(e.cert.Raw, raw) {
			return e
		}
	}
	return nil
}

func (st *state) remove(nickname string) {
	out := st.entries[:0]
	for _, e := range st.entries {
		if e.nickname != nickname {
			out = append(out, e)
		}
	}
	st.entries = out
}

// cleanDir strips the NSS "sql:" method prefix.
func cleanDir(dir string) string {
	dir = strings.TrimPrefix(dir, "sql:")
	if dir == "" {
		return "."
	}
	return filepath.Clean(dir)
}

// checkPerms refuses key material that others can read or write, or that
// belongs to another user (who could replace its contents at any time).
func checkPerms(path string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%s); a store file must be a plain file: %w", path, fi.Mode().Type(), ErrUnsafeStore)
	}
	if err := checkOwner(path, fi, "store file"); err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s holds private keys but has mode %04o (group or others may read or write it); fix it with: chmod 600 %s: %w",
			path, perm, shellquote.Quote(path), ErrLooseKeyPermissions)
	}
	return nil
}

// checkOwner refuses a file or folder owned by anyone but us or root: its owner
// can change it whatever its mode says, so trusting it would hand them our trust
// decisions (and, for a store, our private keys).
func checkOwner(path string, fi os.FileInfo, what string) error {
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: cannot tell who owns it: %w", path, ErrUnsafeStore)
	}
	me := os.Geteuid()
	if int(sys.Uid) == me || sys.Uid == 0 {
		return nil
	}
	return fmt.Errorf("%s %s is owned by uid %d, not by you (uid %d) or root, and its owner could replace what it holds; "+
		"fix it with: chown %d %s (or use the store as uid %d): %w",
		what, path, sys.Uid, me, me, shellquote.Quote(path), sys.Uid, ErrUnsafeStore)
}

// checkDir refuses a store folder that another user could change: one owned by
// someone other than us or root, or writable by group or others without the
// sticky bit (anyone who may create and rename files there could swap
// certdb.json for their own, or plant the lock or a link). Readable by group or
// others is fine: the keys inside are protected by certdb.json's own mode. A
// symbolic link to the folder is followed (an administrator's choice, like
// /etc/pcp/tls -> /srv/certs) and the folder it leads to is checked. Reading and
// writing are held to the same rule: a reader trusts what it reads.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder: %w", dir, ErrNoStore)
	}
	if err := checkOwner(dir, fi, "store folder"); err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("store folder %s has mode %04o: group or others may write in it and so replace the store; "+
			"fix it with: chmod go-w %s: %w", dir, perm, shellquote.Quote(dir), ErrUnsafeStore)
	}
	return nil
}

// openNoFollow opens path without following a symbolic link in its last
// component and without blocking on a FIFO planted there; the caller checks
// with checkPerms or fstat what it got.
func openNoFollow(path string, flag int, perm uint32, what string) (*os.File, error) {
	fd, err := unix.Open(path, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, perm)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			target, _ := os.Readlink(path)
			return nil, fmt.Errorf("%s %s is a symbolic link (to %q), which certdb never follows; remove it if you did not make it (rm %s): %w",
				what, path, target, shellquote.Quote(path), ErrUnsafeStore) // %q escapes control characters
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	// Reads and flock on a regular file ignore O_NONBLOCK; it is only there so
	// that opening a FIFO does not wait for a writer that never comes.
	return os.NewFile(uintptr(fd), path), nil
}

// readState reads and validates the store file in dir.
func readState(dir string) (*state, error) {
	path := filepath.Join(dir, FileName)
	if err := checkDir(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	f, err := openNoFollow(path, unix.O_RDONLY, 0, "store file")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			for _, nss := range []string{"cert9.db", "cert8.db"} {
				if _, e := os.Stat(filepath.Join(dir, nss)); e == nil {
					return nil, fmt.Errorf("no certificate store in %s, but an NSS database (%s): move it into a store with: certdb import-nss -d NEWDIR --from sql:%s -f NSS_PASSWORDFILE: %w", dir, nss, shellquote.Quote(dir), ErrNoStore)
				}
			}
			return nil, fmt.Errorf("no certificate store in %s (%s is missing): %w", dir, FileName, ErrNoStore)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkPerms(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxStoreSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > MaxStoreSize {
		return nil, fmt.Errorf("%s is larger than %d bytes: %w", path, MaxStoreSize, ErrCorrupt)
	}
	st, err := decodeState(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

func decodeState(data []byte) (*state, error) {
	var fs fileStore
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fs); err != nil {
		return nil, fmt.Errorf("not a readable certdb store (%v): %w", err, ErrCorrupt)
	}
	if fs.Format != formatName {
		return nil, fmt.Errorf("not a certdb store (format %q, want %q): %w", fs.Format, formatName, ErrCorrupt)
	}
	if fs.Version != formatV1 && fs.Version != formatV2 {
		return nil, fmt.Errorf("store format version %d is not supported (this certdb reads versions %d and %d): %w", fs.Version, formatV1, formatV2, ErrCorrupt)
	}
	if fs.Version == formatV1 && len(fs.Pending) > 0 {
		return nil, fmt.Errorf("pending keys in a version %d store: %w", formatV1, ErrCorrupt)
	}
	if err := fs.KDF.validate(); err != nil {
		return nil, err
	}
	st := &state{kdf: fs.KDF, check: fs.Check}
	seen := make(map[string]bool)
	for i, fe := range fs.Entries {
		if fe.Nickname == "" || seen[fe.Nickname] {
			return nil, fmt.Errorf("entry %d: empty or repeated nickname %q: %w", i, fe.Nickname, ErrCorrupt)
		}
		seen[fe.Nickname] = true
		cert, err := x509.ParseCertificate(fe.Cert)
		if err != nil {
			return nil, fmt.Errorf("entry %q: certificate: %v: %w", fe.Nickname, err, ErrCorrupt)
		}
		t, err := ParseTrust(fe.Trust)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %v: %w", fe.Nickname, err, ErrCorrupt)
		}
		if t, err = t.normalize(); err != nil {
			return nil, fmt.Errorf("entry %q: %v: %w", fe.Nickname, err, ErrCorrupt)
		}
		st.entries = append(st.entries, &entry{nickname: fe.Nickname, cert: cert, trust: t, sealed: fe.Key})
	}
	for i, fp := range fs.Pending {
		if fp.Nickname == "" || seen[fp.Nickname] {
			return nil, fmt.Errorf("pending key %d: empty or repeated nickname %q: %w", i, fp.Nickname, ErrCorrupt)
		}
		seen[fp.Nickname] = true
		pub, err := x509.ParsePKIXPublicKey(fp.Public)
		if err != nil || len(fp.Key) == 0 {
			return nil, fmt.Errorf("pending key %q: public key: %v: %w", fp.Nickname, err, ErrCorrupt)
		}
		p := &pending{nickname: fp.Nickname, public: fp.Public, pub: pub, sealed: fp.Key}
		if len(fp.CSR) > 0 {
			if p.csr, err = x509.ParseCertificateRequest(fp.CSR); err != nil {
				return nil, fmt.Errorf("pending key %q: request: %v: %w", fp.Nickname, err, ErrCorrupt)
			}
		}
		st.pending = append(st.pending, p)
	}
	return st, nil
}

func (st *state) encode() ([]byte, error) {
	fs := fileStore{Format: formatName, Version: formatV1, KDF: st.kdf, Check: st.check, Entries: []fileEntry{}}
	for _, e := range st.entries {
		fs.Entries = append(fs.Entries, fileEntry{Nickname: e.nickname, Trust: e.trust.String(), Cert: e.cert.Raw, Key: e.sealed})
	}
	// Version 1 readers know nothing of pending keys: a store without any stays
	// version 1, byte for byte what they write.
	for _, p := range st.pending {
		fp := filePending{Nickname: p.nickname, Public: p.public, Key: p.sealed}
		if p.csr != nil {
			fp.CSR = p.csr.Raw
		}
		fs.Pending = append(fs.Pending, fp)
		fs.Version = formatV2
	}
	data, err := json.MarshalIndent(&fs, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// validate checks the key derivation parameters before anything is derived
// with them (see maxScryptMemory). Sizes are computed in float64 so that no
// value in the file can overflow them.
func (k kdfParams) validate() error {
	const fix = "the file is damaged or was made to exhaust this host; restore the store from a backup"
	if k.Name != kdfScrypt {
		return fmt.Errorf("key derivation %q is not supported (certdb uses scrypt): %w", k.Name, ErrCorrupt) // %q escapes control characters
	}
	if len(k.Salt) < 8 || len(k.Salt) > maxSaltLen {
		return fmt.Errorf("scrypt salt of %d bytes (want 8 to %d); %s: %w", len(k.Salt), maxSaltLen, fix, ErrCorrupt)
	}
	if k.N < 2 || k.N&(k.N-1) != 0 || k.R < 1 || k.P < 1 {
		return fmt.Errorf("scrypt parameters N=%d r=%d p=%d are out of range (N a power of two from 2, r and p from 1); %s: %w",
			k.N, k.R, k.P, fix, ErrCorrupt)
	}
	if mem := 128 * float64(k.N) * float64(k.R); mem > maxScryptMemory {
		return fmt.Errorf("scrypt parameters (N=%d r=%d p=%d) ask for %.0f MiB of memory; at most %d MiB (certdb writes %d MiB); %s: %w",
			k.N, k.R, k.P, mem/(1<<20), maxScryptMemory>>20, 128*scryptN*scryptR>>20, fix, ErrCorrupt)
	}
	if work := float64(k.N) * float64(k.R) * float64(k.P); work > maxScryptWork {
		return fmt.Errorf("scrypt parameters (N=%d r=%d p=%d) ask for %.0f times the work of what certdb writes; at most %d times (a few seconds); %s: %w",
			k.N, k.R, k.P, work/(scryptN*scryptR*scryptP), maxScryptWork/(scryptN*scryptR*scryptP), fix, ErrCorrupt)
	}
	return nil
}

// deriveAEAD turns a password into the store's AES-256-GCM key.
func deriveAEAD(k kdfParams, password []byte) (cipher.AEAD, error) {
	key, err := scrypt.Key(password, k.Salt, k.N, k.R, k.P, keyLen)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func seal(aead cipher.AEAD, plain, aad []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, aad), nil
}

func open(aead cipher.AEAD, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("sealed data too short")
	}
	n := aead.NonceSize()
	return aead.Open(nil, sealed[:n], sealed[n:], aad)
}

// verifyPassword reports whether aead opens the store's check value.
func verifyPassword(aead cipher.AEAD, check []byte) bool {
	plain, err := open(aead, check, []byte(checkAAD))
	return err == nil && string(plain) == checkPlain
}

// keyAAD binds a sealed key to its certificate, so that a key cannot be moved to
// another entry by editing the file.
func keyAAD(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.Raw)
	return append([]byte(keyAADLabel), sum[:]...)
}

// Key derivation parameters of a store made with CreateOptions.TestOnlyFastKDF:
// 128*N*r = 64 KiB and 1/512 of the work of scryptN, for tests only.
const (
	testScryptN = 1 << 6
	testScryptR = 8
	testScryptP = 1
)

// newState makes an empty store protected by password, its key derived with
// certdb's scrypt cost unless fast (CreateOptions.TestOnlyFastKDF) is set.
func newState(password []byte, fast bool) (*state, cipher.AEAD, error) {
	k := kdfParams{Name: kdfScrypt, Salt: make([]byte, saltLen), N: scryptN, R: scryptR, P: scryptP}
	if fast {
		k.N, k.R, k.P = testScryptN, testScryptR, testScryptP
	}
	if _, err := rand.Read(k.Salt); err != nil {
		return nil, nil, err
	}
	aead, err := deriveAEAD(k, password)
	if err != nil {
		return nil, nil, err
	}
	check, err := seal(aead, []byte(checkPlain), []byte(checkAAD))
	if err != nil {
		return nil, nil, err
	}
	return &state{kdf: k, check: check}, aead, nil
}

// lockDir takes the exclusive writer lock of dir; the returned func releases it.
// The folder is checked first (checkDir), and the lock file is opened without
// following a link and must be a plain file of ours with one name: otherwise a
// link planted at certdb.lock would make us create or lock a file elsewhere.
func lockDir(dir string) (func(), error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockName)
	f, err := openNoFollow(path, unix.O_RDWR|unix.O_CREAT, 0o600, "lock file")
	if err != nil {
		if errors.Is(err, ErrUnsafeStore) {
			return nil, err
		}
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := checkLockFile(path, f); err != nil {
		f.Close()
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// Files left by a writer that crashed: only a lock holder writes them.
	if stale, _ := filepath.Glob(filepath.Join(dir, tempPrefix+"*")); len(stale) > 0 {
		for _, s := range stale {
			os.Remove(s)
		}
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// checkLockFile checks what openNoFollow opened at the lock path.
func checkLockFile(path string, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("lock file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("lock file %s is not a regular file (%s); remove it if you did not make it (rm %s): %w",
			path, fi.Mode().Type(), shellquote.Quote(path), ErrUnsafeStore)
	}
	if err := checkOwner(path, fi, "lock file"); err != nil {
		return err
	}
	// A hard link planted at the lock path would be another file's name.
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok && sys.Nlink != 1 {
		return fmt.Errorf("lock file %s has %d names (a hard link to another file?); remove it (rm %s): %w",
			path, sys.Nlink, shellquote.Quote(path), ErrUnsafeStore)
	}
	return nil
}

// writeState replaces the store file atomically: temporary file in the same folder,
// fsync, rename, fsync of the folder. The caller holds the lock.
func writeState(dir string, st *state) error {
	data, err := st.encode()
	if err != nil {
		return err
	}
	return writeAtomic(dir, FileName, data)
}

func writeAtomic(dir, name string, data []byte) error {
	return replaceFile(dir, name, tempPrefix, 0o600, "store", data)
}

// replaceFile writes data to dir/name through a temporary file (prefix+random)
// in the same folder with the given mode, fsync, rename and fsync of the
// folder, so a reader sees the old or the new file, whole. what names the file
// in errors ("store", "CRL").
func replaceFile(dir, name, prefix string, mode os.FileMode, what string, data []byte) (err error) {
	// CreateTemp opens with O_CREATE|O_EXCL and mode 0600: a name that exists,
	// a symbolic link included, is never opened, and rename(2) replaces a link at
	// name rather than writing through it.
	tmp, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", what, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// Chmod on the open file, not umask-dependent creation: the mode is exact.
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("replacing %s: %w", what, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
