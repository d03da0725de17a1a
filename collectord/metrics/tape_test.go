package metrics

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTTYFixture: ports with a known uart are instances, by number; error
// counts the kernel leaves out are 0.
func TestTTYFixture(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	checkInstValues(t, r, map[string]map[string]string{
		"tty.serial.tx":      {"0": "17", "2": "0"},
		"tty.serial.rx":      {"0": "230", "2": "0"},
		"tty.serial.frame":   {"0": "2", "2": "0"},
		"tty.serial.parity":  {"0": "1", "2": "0"},
		"tty.serial.brk":     {"0": "3", "2": "0"},
		"tty.serial.overrun": {"0": "4", "2": "0"},
		"tty.serial.irq":     {"0": "4", "2": "4"},
	})
}

// TestTTYHostile: garbage and an unreadable file fail closed, counted; no file
// (no serial driver) is no instances and no error.
func TestTTYHostile(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"no header", "0: uart:16550A tx:1 rx:2 irq:4\n"},
		{"bad count", "serinfo:1.0 driver revision:\n0: uart:16550A tx:x rx:2 irq:4\n"},
		{"too big", "serinfo:1.0 driver revision:\n0: uart:16550A tx:99999999999 rx:2 irq:4\n"},
		{"bad port", "serinfo:1.0 driver revision:\nzero: uart:16550A tx:1 rx:2 irq:4\n"},
		{"unreadable", "serinfo:1.0 driver revision:\n"},
	} {
		dir := copyTree(t, fixtureDir)
		p := filepath.Join(dir, "proc/tty/driver/serial")
		writeFile(t, p, tc.content)
		if tc.name == "unreadable" {
			if os.Geteuid() == 0 {
				os.Remove(p)
				os.Mkdir(p, 0o755) // a directory: read fails even for root
			} else {
				os.Chmod(p, 0)
			}
		}
		r := newFixtureRegistry(t, dir)
		res := fetchByName(t, r, "tty.serial.tx")["tty.serial.tx"]
		if res.Err == 0 || len(res.Values) != 0 || r.SourceErrors()["tty"] == 0 {
			t.Errorf("%s: %+v, %d errors", tc.name, res, r.SourceErrors()["tty"])
		}
	}
	dir := copyTree(t, fixtureDir)
	os.RemoveAll(filepath.Join(dir, "proc/tty"))
	r := newFixtureRegistry(t, dir)
	res := fetchByName(t, r, "tty.serial.tx")["tty.serial.tx"]
	insts, err := r.Instances(indomTTY)
	if res.Err != 0 || len(res.Values) != 0 || err != nil || len(insts) != 0 || r.SourceErrors()["tty"] != 0 {
		t.Errorf("no driver: %+v %v %v", res, insts, err)
	}
}

// TestTapeFCHostFixture: st<N> drives with stats only (nst0, st0a and a drive
// without stats are not instances); fc_host words become bytes, hexadecimal
// counts are read, an all-ones count has no value.
func TestTapeFCHostFixture(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	checkInstValues(t, r, map[string]map[string]string{
		"tape.dev.in_flight":      {"st0": "1"},
		"tape.dev.io_ns":          {"st0": "5000000"},
		"tape.dev.read_byte_cnt":  {"st0": "65536"},
		"tape.dev.write_cnt":      {"st0": "32"},
		"tape.dev.resid_cnt":      {"st0": "0"},
		"fchost.in.frames":        {"host3": "16"},
		"fchost.out.frames":       {"host3": "32"},
		"fchost.in.bytes":         {"host3": "1024"},
		"fchost.out.bytes":        {"host3": "2048"},
		"fchost.lip_count":        {"host3": "1"},
		"fchost.nos_count":        {"host3": "0"},
		"fchost.error_frames":     {"host3": "2"},
		"fchost.dumped_frames":    {},
		"tape.dev.write_byte_cnt": {"st0": "131072"},
	})
	res := fetchByName(t, r, "hinv.ntape", "hinv.nfchost")
	if v, ok := singleValue(t, res["hinv.ntape"]); !ok || v != 1 {
		t.Errorf("hinv.ntape %+v", res["hinv.ntape"])
	}
	if v, ok := singleValue(t, res["hinv.nfchost"]); !ok || v != 1 {
		t.Errorf("hinv.nfchost %+v", res["hinv.nfchost"])
	}
}

// TestTapeFCHostHostile: a garbage count fails its metric, counted; no class
// directory is no devices, count 0, no error.
func TestTapeFCHostHostile(t *testing.T) {
	for _, tc := range []struct{ file, content, metric, source string }{
		{"sys/class/scsi_tape/st0/stats/read_cnt", "garbage\n", "tape.dev.read_cnt", "tape"},
		{"sys/class/scsi_tape/st0/stats/read_cnt", "-1\n", "tape.dev.read_cnt", "tape"},
		{"sys/class/scsi_tape/st0/stats/read_cnt", "99999999999999999999999\n", "tape.dev.read_cnt", "tape"},
		{"sys/class/fc_host/host3/statistics/rx_frames", "0xZZ\n", "fchost.in.frames", "fchost"},
		{"sys/class/fc_host/host3/statistics/rx_frames", "0x1234567890abcdef01\n", "fchost.in.frames", "fchost"},
	} {
		dir := copyTree(t, fixtureDir)
		writeFile(t, filepath.Join(dir, tc.file), tc.content)
		r := newFixtureRegistry(t, dir)
		count := map[string]string{"tape": "hinv.ntape", "fchost": "hinv.nfchost"}[tc.source]
		both := fetchByName(t, r, tc.metric, count)
		res := both[tc.metric]
		if res.Err == 0 || len(res.Values) != 0 || r.SourceErrors()[tc.source] == 0 {
			t.Errorf("%s %q: %+v", tc.file, tc.content, res)
		}
		// The broken file fails its metric only: the device count stands.
		if v, ok := singleValue(t, both[count]); !ok || v != 1 {
			t.Errorf("%s %q: %s = %+v", tc.file, tc.content, count, both[count])
		}
	}
	dir := copyTree(t, fixtureDir)
	os.RemoveAll(filepath.Join(dir, "sys/class/scsi_tape"))
	r := newFixtureRegistry(t, dir)
	res := fetchByName(t, r, "hinv.ntape", "tape.dev.read_cnt")
	if v, ok := singleValue(t, res["hinv.ntape"]); !ok || v != 0 || len(res["tape.dev.read_cnt"].Values) != 0 || r.SourceErrors()["tape"] != 0 {
		t.Errorf("no tapes: %+v", res)
	}
}
