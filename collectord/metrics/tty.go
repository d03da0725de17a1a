package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/gopcp/gopcp/protocol"
)

// The "tty" source: the serial ports of /proc/tty/driver/serial (tty.serial.*),
// one line per port after a "serinfo:" header:
// "0: uart:16550A port:000003F8 irq:4 tx:17 rx:0 fe:2 RTS|DTR". Ports whose uart
// is "unknown" (no hardware behind the line) are not instances, as with the linux
// agent; the instances are the port numbers. The kernel prints tx, rx and irq
// always and the error counts (fe, pe, brk, oe) only when they are not zero, so a
// missing error count is 0. The file is readable by root only: another user gets
// a counted permission error. A system without the serial driver has no file and
// no instances, which is not an error. procfs does not parse this file.

var indomTTY = protocol.NewInDom(DomainLinux, 35)

type ttyField struct {
	name  string
	item  uint32
	key   string
	sem   int32
	what  string
	extra string
}

var ttyFields = []ttyField{
	{"tty.serial.tx", 0, "tx", semC, "characters each serial port sent", ""},
	{"tty.serial.rx", 1, "rx", semC, "characters each serial port received", ""},
	{"tty.serial.frame", 2, "fe", semC, "framing errors of each serial port", " (0 when the kernel leaves it out)"},
	{"tty.serial.parity", 3, "pe", semC, "parity errors of each serial port", " (0 when the kernel leaves it out)"},
	{"tty.serial.brk", 4, "brk", semC, "breaks each serial port received", " (0 when the kernel leaves it out)"},
	{"tty.serial.overrun", 5, "oe", semC, "overruns of each serial port", " (0 when the kernel leaves it out)"},
	{"tty.serial.irq", 6, "irq", semD, "interrupt line of each serial port", ""},
}

func init() {
	setOwnInDomHelp(indomTTY, "serial ports",
		"Each port of /proc/tty/driver/serial with a known uart, named by its number.")
	defs := make([]metricDef, len(ttyFields))
	for i, f := range ttyFields {
		defs[i] = metricDef{f.name, pmid(60, 74, f.item), tU32, indomTTY, f.sem, uNone, i}
	}
	registerSource(&sourceSpec{
		name:    "tty",
		domain:  DomainLinux,
		indoms:  []protocol.InDom{indomTTY},
		new:     func(e *env) Source { return &ttySource{file: newKfile(filepath.Join(e.procRoot, "tty/driver/serial"))} },
		metrics: defs,
		help: func(d metricDef) helpText {
			if d.sel < 0 || d.sel >= len(ttyFields) {
				return helpText{}
			}
			f := ttyFields[d.sel]
			return helpText{f.what, "The " + f.key + ": count of the port's line of /proc/tty/driver/serial" + f.extra + ".\nThe file is readable by root only."}
		},
	})
}

type ttyPort struct {
	id   uint32
	vals [7]uint64
}

type ttySource struct {
	file  *kfile
	buf   []byte
	ids   idCache
	ports []ttyPort
}

func (s *ttySource) read() error {
	b, err := s.file.read(s.buf)
	s.buf = b
	s.ports = s.ports[:0]
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no serial driver
	}
	if err != nil {
		return err
	}
	hdr, rest := nextLine(b)
	if !bytes.HasPrefix(hdr, []byte("serinfo:")) {
		return fmt.Errorf("%s: %w: no serinfo header", s.file.path, errParse)
	}
	for len(rest) > 0 {
		var line []byte
		line, rest = nextLine(rest)
		port, r := nextField(line)
		if len(port) == 0 {
			continue
		}
		if len(port) < 2 || port[len(port)-1] != ':' {
			return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
		}
		if n, ok := parseUint(port[:len(port)-1]); !ok || n > 1<<20 {
			return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
		}
		var p ttyPort
		known := false
		for {
			var f []byte
			f, r = nextField(r)
			if len(f) == 0 {
				break
			}
			k, v, ok := bytes.Cut(f, []byte(":"))
			if !ok {
				continue // the modem line flags, "RTS|DTR"
			}
			if string(k) == "uart" {
				known = string(v) != "unknown"
				continue
			}
			for i, tf := range ttyFields {
				if string(k) == tf.key {
					u, ok := parseUint(v)
					if !ok || u > 1<<32-1 {
						return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
					}
					p.vals[i] = u
				}
			}
		}
		if !known {
			continue
		}
		if len(s.ports) >= 4096 {
			return fmt.Errorf("%s: %w: too many ports", s.file.path, errParse)
		}
		p.id = s.ids.id(port[:len(port)-1])
		s.ports = append(s.ports, p)
	}
	return nil
}

func (s *ttySource) Fetch(reqs []Request) error {
	if err := s.read(); err != nil {
		return err
	}
	for _, rq := range reqs {
		if rq.Sel < 0 || rq.Sel >= len(ttyFields) {
			continue
		}
		for _, p := range s.ports {
			putU(rq.Res, p.id, p.vals[rq.Sel])
		}
	}
	return nil
}

func (s *ttySource) Instances(protocol.InDom) ([]Instance, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	out := make([]Instance, len(s.ports))
	for i, p := range s.ports {
		out[i] = Instance{ID: p.id, Name: s.ids.name(p.id)}
	}
	return out, nil
}
