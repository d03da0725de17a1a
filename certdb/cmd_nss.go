package main

import (
	"crypto"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gopcp/gopcp/certdb/nssdb"
	"github.com/gopcp/gopcp/certdb/store"
	urfave "github.com/urfave/cli/v2"
)

// nssCommands move an NSS database into a store.
func nssCommands(r *runner, o *opts) []*urfave.Command {
	return []*urfave.Command{
		cmd(&urfave.Command{Name: "import-nss", Category: groupMigrate, Usage: "import an NSS database: certificates, trust and keys (pk12util -o, then certdb import)",
			Flags: []urfave.Flag{
				&urfave.StringFlag{Name: "dir", Aliases: []string{"d"}, Category: categoryStore, Destination: &o.dir, TakesFile: true, Usage: "the certdb store, `DIR`"},
				&urfave.StringFlag{Name: "from", Destination: &o.from, TakesFile: true, Usage: "the NSS database folder, `sql:NSSDIR` (\"sql:\" optional)"},
				fileF(&o.nssPwFile, "`FILE` whose first line is the NSS database password", "nss-password-file", "f"),
				&urfave.StringFlag{Name: "store-password-file", Aliases: []string{"k"}, Category: categoryStore, Destination: &o.pwFileK, TakesFile: true,
					Usage: "`FILE` whose first line is the certdb store's password"},
			}, Action: r.action("import-nss", runImportNSS)}, importNSSHelp),
	}
}

func runImportNSS(c *ctx) int {
	if rc := c.require("d"); rc != exitOK {
		return rc
	}
	if c.o.from == "" {
		return c.usage("--from sql:NSSDIR is required: the NSS database to import")
	}
	if filepath.Clean(strings.TrimPrefix(c.o.from, "sql:")) == filepath.Clean(strings.TrimPrefix(c.o.dir, "sql:")) {
		return c.usage("--from and -d name the same folder; import into another folder")
	}
	// -f is the NSS database's password here (as for certutil); -k the store's.
	storePwFile := c.o.pwFileK
	c.o.pwFile = storePwFile
	db, err := nssdb.Open(c.o.from)
	if err != nil {
		return c.fail(err)
	}
	certs, err := db.Certificates()
	if err != nil {
		return c.fail(err)
	}
	var nssPw []byte
	if c.o.nssPwFile != "" {
		if nssPw, err = c.readPasswordFile(c.o.nssPwFile); err != nil {
			return c.fail(err)
		}
	}
	var keys []nssdb.Key
	if db.HasKeys() {
		if c.o.nssPwFile == "" {
			nssPw = []byte{}
			if db.CheckPassword(nssPw) != nil {
				return c.failf("%s has private keys under a password: give its password file with -f FILE (as for certutil -f)", db.Dir)
			}
		}
		if keys, err = db.Keys(nssPw); err != nil {
			if errors.Is(err, nssdb.ErrBadPassword) {
				what := "the empty password"
				if c.o.nssPwFile != "" {
					what = "the password in " + c.o.nssPwFile
				}
				return c.failf("%v: %s does not open it; give the right file with -f FILE", err, what)
			}
			return c.fail(err)
		}
	}
	if len(certs) == 0 && len(keys) == 0 {
		return c.failf("%s holds no certificate and no key; nothing imported", db.Dir)
	}

	// Each key goes with its certificate: the one with its public key (NSS links
	// them by CKA_ID, which is derived from that public key).
	items := make([]store.Item, 0, len(certs)+len(keys))
	usedKey := make([]bool, len(keys))
	for _, nc := range certs {
		it := store.Item{Nickname: nicknameFor(nc.Nickname, nc.Cert), Cert: nc.Cert, Trust: nc.Trust}
		for i, k := range keys {
			if usedKey[i] {
				continue
			}
			if pub, ok := k.Signer.Public().(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(nc.Cert.PublicKey) {
				it.Key, usedKey[i] = k.Signer, true
				break
			}
		}
		items = append(items, it)
	}
	for i, k := range keys {
		if !usedKey[i] {
			name := k.Nickname
			if store.CheckNickname(name) != nil {
				name = "NSS key " + fmt.Sprintf("%x", k.ID)
			}
			items = append(items, store.Item{Nickname: name, Key: k.Signer})
		}
	}

	// The store: an existing one with its password (-k), or a new one with the
	// NSS database's password (or -k's).
	var s *store.Store
	created := false
	if store.Exists(c.o.dir) {
		var rc int
		if s, rc = c.openStore(len(keys) > 0); rc != exitOK {
			return rc
		}
	} else {
		pw := nssPw
		if pw == nil {
			pw = []byte{}
		}
		if storePwFile != "" {
			if pw, err = c.readPasswordFile(storePwFile); err != nil {
				return c.fail(err)
			}
		}
		if s, err = store.CreateWith(c.o.dir, pw, c.create); err != nil {
			return c.fail(err)
		}
		created = true
	}
	outcomes, warnings, err := s.AddAll(items)
	if err != nil {
		return c.fail(fmt.Errorf("importing %s: %w", db.Dir, err))
	}
	for _, w := range warnings {
		c.warn(w)
	}
	var nCerts, nKeys, nPending, nSame int
	for i, o := range outcomes {
		it := items[i]
		switch {
		case it.Cert == nil && o.Added:
			nPending++
		case o.Existed && !o.KeyAdded:
			nSame++
		default:
			nCerts++
			if it.Key != nil {
				nKeys++
			}
		}
		if o.Renamed {
			c.warn(fmt.Sprintf("nickname %q was taken (NSS allows several certificates under one nickname); stored as %q", it.Nickname, o.Nickname))
		}
	}
	where := s.Dir()
	if created {
		how := "empty password"
		if storePwFile != "" {
			how = "password from " + storePwFile
		} else if len(nssPw) > 0 {
			how = "the NSS database's password"
		}
		where = fmt.Sprintf("new store %s (%s)", s.Dir(), how)
	}
	msg := fmt.Sprintf("imported %d certificate(s) with their trust, %d of them with their private key, from %s into %s", nCerts, nKeys, db.Dir, where)
	if nPending > 0 {
		msg += fmt.Sprintf("; %d key(s) without a certificate wait for one (certdb keys)", nPending)
	}
	if nSame > 0 {
		msg += fmt.Sprintf("; %d were already stored", nSame)
	}
	fmt.Fprintf(c.stdout, "%s; compare: certdb list -d %s and certutil -L -d sql:%s\n", msg, quote(c.o.dir), quote(db.Dir))
	return exitOK
}

const importNSSHelp = `
Usage: certdb import-nss -d DIR --from sql:NSSDIR [-f NSS_PASSWORDFILE]
                         [-k STORE_PASSWORDFILE]

Move an NSS sql database (cert9.db and key4.db, as certutil and pk12util made
them for PCP 5 and earlier) into the certdb store DIR in one step: every
certificate under its nickname with its trust attributes, and every private
key, decrypted with the database's password (-f, the first line of the file,
as for certutil -f; without -f the empty password PCP always used). A key goes
with its certificate (as certutil -K shows it); a key without a certificate (a
certutil -R request) becomes a key waiting for its certificate. Afterwards
'certdb list -d DIR' shows what 'certutil -L -d sql:NSSDIR' shows.

DIR is created if needed, protected by the NSS database's password unless -k
names another; an existing store is opened with -k. Certificates already in it
are left as they are; a nickname NSS used twice gets " #2". The NSS database is
only read, and the store gets everything in one write or nothing. Databases
from before NSS 3.49 (keys under PBE-SHA1-3DES) and the old DBM format
(cert8.db) are refused with what to do instead.

Examples:
  echo > /tmp/empty
  certdb import-nss -d /etc/pcp/tls/collector --from sql:/etc/pcp/nssdb -f /tmp/empty
  certdb import-nss -d $HOME/.pki/gopcp --from sql:$HOME/.pki/nssdb
`
