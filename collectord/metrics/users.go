package metrics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"

	"github.com/gopcp/gopcp/protocol"
)

// The "utmp" source: the login records of utmp(5) (/var/run/utmp, Options.UtmpPath):
// kernel.all.nusers, kernel.all.nroots and kernel.all.nsessions, which `pcp uptime`
// and `w`-style tools read.
//
// The counting rules are the linux agent's, measured against the real pmcd with
// hand-made utmp files: a USER_PROCESS record with a user name is a user (and a root
// user when the name is "root"); every record except a USER_PROCESS record without a
// user name is a session. Whether the process of a record is still alive is not
// checked (who(1) checks it; the linux agent does not).
//
// A missing utmp file means no login was recorded (a container, a system without a
// login manager): all three are 0, as the real agent reports them, not an error.
// A file whose size is not a whole number of records is not a utmp file: the source
// fails, rather than count a torn or foreign file.

// Layout of glibc's struct utmp on Linux (the same on every 64-bit and 32-bit
// architecture glibc supports, for compatibility with 32-bit programs): 384 bytes,
// ut_type (int16) at 0, ut_user (char[32]) at 44.
const (
	utmpRecordSize  = 384
	utmpTypeOffset  = 0
	utmpUserOffset  = 44
	utmpUserSize    = 32
	utmpUserProcess = 7
	// maxUtmpSize bounds what is read: a utmp file of a busy login server holds a few
	// thousand records; anything far larger is not one.
	maxUtmpSize = 1 << 24
)

const (
	selNUsers = iota
	selNRoots
	selNSessions
)

var utmpHelp = map[int]helpText{
	selNUsers: {"number of logged-in user sessions, root's included",
		"Count of USER_PROCESS records with a user name in the utmp file (/var/run/utmp).\n" +
			"0 when the system keeps no utmp file."},
	selNRoots: {"number of logged-in sessions of the root user",
		"Count of USER_PROCESS records of the user \"root\" in the utmp file (/var/run/utmp).\n" +
			"0 when the system keeps no utmp file."},
	selNSessions: {"number of login records in utmp",
		"Count of the records of the utmp file (/var/run/utmp): logins, terminals waiting\n" +
			"for a login, boot and run-level records and ended sessions; a user process\n" +
			"record without a user name does not count. 0 when there is no utmp file."},
}

func init() {
	registerSource(&sourceSpec{
		name:   "utmp",
		domain: DomainLinux,
		new:    func(e *env) Source { return &utmpSource{path: e.utmpPath} },
		metrics: []metricDef{
			{"kernel.all.nusers", pmid(60, 25, 0), tU32, null, semI, uNone, selNUsers},
			{"kernel.all.nroots", pmid(60, 25, 1), tU32, null, semI, uNone, selNRoots},
			{"kernel.all.nsessions", pmid(60, 25, 2), tU32, null, semI, uNone, selNSessions},
		},
		help: func(d metricDef) helpText { return utmpHelp[d.sel] },
	})
}

type utmpSource struct {
	path string
	buf  []byte
}

// utmpCounts are the three counts of one utmp file.
type utmpCounts struct{ users, roots, sessions uint32 }

// countUtmp counts the records of a utmp file's contents.
func countUtmp(b []byte) (utmpCounts, error) {
	var c utmpCounts
	if len(b)%utmpRecordSize != 0 {
		return c, fmt.Errorf("%w: %d bytes is not a whole number of %d-byte utmp records", errParse, len(b), utmpRecordSize)
	}
	for ; len(b) > 0; b = b[utmpRecordSize:] {
		typ := int16(binary.NativeEndian.Uint16(b[utmpTypeOffset:]))
		user := b[utmpUserOffset : utmpUserOffset+utmpUserSize]
		if typ == utmpUserProcess {
			if user[0] == 0 {
				continue
			}
			c.users++
			if string(cString(user)) == "root" {
				c.roots++
			}
		}
		c.sessions++
	}
	return c, nil
}

// cString is b up to its first NUL (all of b when it has none, as a 32-byte name may).
func cString(b []byte) []byte {
	for i, ch := range b {
		if ch == 0 {
			return b[:i]
		}
	}
	return b
}

func (s *utmpSource) Fetch(reqs []Request) error {
	b, err := readFile(s.path, s.buf)
	s.buf = b
	var c utmpCounts
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// No utmp: nobody's login was recorded (see above).
	case err != nil:
		return err
	case len(b) > maxUtmpSize:
		return fmt.Errorf("%s: %w: %d bytes is too large for a utmp file", s.path, errParse, len(b))
	default:
		if c, err = countUtmp(b); err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
	}
	for _, rq := range reqs {
		var v uint32
		switch rq.Sel {
		case selNUsers:
			v = c.users
		case selNRoots:
			v = c.roots
		case selNSessions:
			v = c.sessions
		}
		putU(rq.Res, protocol.InNull, uint64(v))
	}
	return nil
}
