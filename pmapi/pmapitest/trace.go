// Package pmapitest provides PCP servers for tests: a replay server that answers
// with the exact PDUs of a wire trace recorded from the real pmcd (the traces under
// testdata/traces of the protocol package), and a scripted server for hand-written conversations.
package pmapitest

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Record is one entry of a trace: a PDU (or a TLS record, which has no Bytes).
type Record struct {
	Conn     int    // index of the TCP connection within the trace
	ToServer bool   // C->S
	Bytes    []byte // the exact PDU; nil for records that are not PDUs (TLS)
	Label    string // the record's header line, for messages
}

// Trace is a parsed wire trace.
type Trace struct {
	Name    string
	Command string   // the "# Command :" line
	Records []Record // in wire order
	// Output is the command's recorded stdout+stderr (without the exit status
	// line); Exit its exit status. HasOutput is false when the trace has none.
	Output    string
	Exit      int
	HasOutput bool
}

var (
	recordRE = regexp.MustCompile(`^\[(\d+)\] (S->C|C->S)\s+(.*)$`)
	hexRE    = regexp.MustCompile(`^\s+hex: ([0-9a-f]+)$`)
	exitRE   = regexp.MustCompile(`^\[exit status: (\d+)\]$`)
)

// LoadTrace reads a trace file (NAME.txt); when NAME.cmdout exists beside it, its
// output replaces the one embedded in the trace.
func LoadTrace(path string) (*Trace, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.Base(path), ".txt")
	tr, err := ParseTrace(name, data)
	if err != nil {
		return nil, err
	}
	if out, err := os.ReadFile(strings.TrimSuffix(path, ".txt") + ".cmdout"); err == nil {
		tr.Output, tr.Exit, tr.HasOutput = ParseCmdout(string(out))
	}
	return tr, nil
}

// ParseCmdout splits a recorded command output ending in "[exit status: N]".
func ParseCmdout(s string) (output string, exit int, ok bool) {
	lines := strings.SplitAfter(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if m := exitRE.FindStringSubmatch(strings.TrimRight(lines[i], "\n")); m != nil {
			exit, _ = strconv.Atoi(m[1])
			return strings.Join(lines[:i], ""), exit, true
		}
	}
	return s, 0, false
}

// ParseTrace parses the text form of a trace.
func ParseTrace(name string, data []byte) (*Trace, error) {
	tr := &Trace{Name: name}
	conn := -1
	var out []string
	inOutput := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# Command :"):
			tr.Command = strings.TrimSpace(strings.TrimPrefix(line, "# Command :"))
		case strings.HasPrefix(line, "## TCP connection"):
			conn++
		case strings.HasPrefix(line, "# ---- exact output"):
			inOutput = true
		case inOutput && strings.HasPrefix(line, "# |"):
			out = append(out, strings.TrimPrefix(strings.TrimPrefix(line, "# |"), " "))
		default:
			if m := recordRE.FindStringSubmatch(line); m != nil {
				if conn < 0 {
					conn = 0
				}
				tr.Records = append(tr.Records, Record{Conn: conn, ToServer: m[2] == "C->S", Label: line})
			} else if m := hexRE.FindStringSubmatch(line); m != nil && len(tr.Records) > 0 {
				b, err := hex.DecodeString(m[1])
				if err != nil {
					return nil, fmt.Errorf("%s: %v", name, err)
				}
				tr.Records[len(tr.Records)-1].Bytes = b
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) > 0 {
		tr.Output, tr.Exit, tr.HasOutput = ParseCmdout(strings.Join(out, "\n") + "\n")
	}
	return tr, nil
}

// Conns returns the number of TCP connections in the trace.
func (t *Trace) Conns() int {
	n := 0
	for _, r := range t.Records {
		if r.Conn+1 > n {
			n = r.Conn + 1
		}
	}
	return n
}
