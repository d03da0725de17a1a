package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"

	"github.com/gopcp/gopcp/protocol"
)

// The "scsi" source: hinv.map.scsi, the block device of each SCSI device listed in
// /proc/scsi/scsi. Each device there is a "Host: scsiH Channel: CC Id: II Lun: LL"
// line followed by lines including "Type:   Direct-Access ..."; the instance is
// named "scsiH:C:I:L_Type" as the linux agent names it, and its value is the
// block device under /sys/class/scsi_device/H:C:I:L/device/block. A device with
// no block device (a tape, an enclosure) is not an instance, as with the agent. A
// system without SCSI has no /proc/scsi/scsi: no instances, no error. A Host line
// that is not four numbers fails the source. procfs does not parse this file.

var indomSCSI = protocol.NewInDom(DomainLinux, 11)

func init() {
	setOwnInDomHelp(indomSCSI, "SCSI devices with a block device",
		"Each device of /proc/scsi/scsi that has a block device, named scsiH:C:I:L_Type.")
	registerSource(&sourceSpec{
		name:   "scsi",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomSCSI},
		new: func(e *env) Source {
			return &scsiSource{file: newKfile(filepath.Join(e.procRoot, "scsi/scsi")), class: filepath.Join(e.sysRoot, "class/scsi_device")}
		},
		metrics: []metricDef{{"hinv.map.scsi", pmid(60, 15, 0), tSTR, indomSCSI, semD, uNone, 0}},
		help: func(metricDef) helpText {
			return helpText{"block device of each SCSI device",
				"The entry of /sys/class/scsi_device/H:C:I:L/device/block for each device of\n/proc/scsi/scsi."}
		},
	})
}

type scsiDevice struct {
	id    uint32
	block string
}

type scsiSource struct {
	file    *kfile
	class   string
	buf     []byte
	dirBuf  []byte
	ids     idCache
	devices []scsiDevice
}

func (s *scsiSource) read() error {
	b, err := s.file.read(s.buf)
	s.buf = b
	s.devices = s.devices[:0]
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no SCSI
	}
	if err != nil {
		return err
	}
	var hctl []byte
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		t := trimSpace(line)
		switch {
		case bytes.HasPrefix(t, []byte("Host:")):
			var ok bool
			if hctl, ok = parseSCSIHost(t); !ok {
				return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
			}
		case hctl != nil && bytes.Contains(t, []byte("Type:")):
			_, after, _ := bytes.Cut(t, []byte("Type:"))
			typ, _ := nextField(after)
			if len(typ) == 0 || len(typ) > 64 || hasControl(string(typ)) {
				return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
			}
			if len(s.devices) >= 1<<14 {
				return fmt.Errorf("%s: %w: too many devices", s.file.path, errParse)
			}
			if block := s.blockDevice(string(hctl)); block != "" {
				name := "scsi" + string(hctl) + "_" + string(typ)
				s.devices = append(s.devices, scsiDevice{s.ids.idString(name), block})
			}
			hctl = nil
		}
	}
	return nil
}

// parseSCSIHost turns "Host: scsi0 Channel: 00 Id: 01 Lun: 00" into "0:0:1:0".
func parseSCSIHost(line []byte) ([]byte, bool) {
	var out []byte
	r := line
	for i, want := range []string{"Host:", "Channel:", "Id:", "Lun:"} {
		var k, v []byte
		k, r = nextField(r)
		v, r = nextField(r)
		if string(k) != want {
			return nil, false
		}
		if i == 0 {
			if !bytes.HasPrefix(v, []byte("scsi")) {
				return nil, false
			}
			v = v[4:]
		}
		n, ok := parseUint(v)
		if !ok || n > 1<<32-1 {
			return nil, false
		}
		if i > 0 {
			out = append(out, ':')
		}
		out = strconv.AppendUint(out, n, 10)
	}
	return out, true
}

// blockDevice is the first entry of the device's block directory, "" when none.
func (s *scsiSource) blockDevice(hctl string) string {
	name := ""
	s.dirBuf, _ = listDir(filepath.Join(s.class, hctl, "device", "block"), s.dirBuf, func(_ int, n []byte) {
		if name == "" && len(n) > 0 && n[0] != '.' && !hasControl(string(n)) {
			name = string(n)
		}
	})
	return name
}

func (s *scsiSource) Fetch(reqs []Request) error {
	if err := s.read(); err != nil {
		return err
	}
	for _, rq := range reqs {
		if rq.Sel == 0 {
			for _, d := range s.devices {
				putS(rq.Res, d.id, d.block)
			}
		}
	}
	return nil
}

func (s *scsiSource) Instances(protocol.InDom) ([]Instance, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	out := make([]Instance, len(s.devices))
	for i, d := range s.devices {
		out[i] = Instance{ID: d.id, Name: s.ids.name(d.id)}
	}
	return out, nil
}
