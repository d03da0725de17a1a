// Package tomlconfig decodes the daemons' TOML configuration strictly: an unknown key
// is an error naming its line and, where one is close, the key that was meant. It
// also holds the small value types the configurations share.
package tomlconfig

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Duration is a time.Duration written as "5s" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string; negative durations are refused.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("bad duration %q: %w", b, err)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as Go prints it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// ListFlag is a repeatable flag whose values may also be comma separated.
type ListFlag []string

func (l *ListFlag) String() string { return strings.Join(*l, ",") }

// Set adds the comma-separated values of one occurrence.
func (l *ListFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// Read decodes the file at path into v (a pointer to a struct). A missing file is
// no error, and leaves v as it was, unless required.
func Read(path string, required bool, v any) (toml.MetaData, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !required {
			return toml.MetaData{}, nil
		}
		return toml.MetaData{}, fmt.Errorf("config: %w", err)
	}
	return Decode(path, data, v)
}

// Decode decodes data into v, refusing keys v's type does not have.
func Decode(path string, data []byte, v any) (toml.MetaData, error) {
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(v)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return md, fmt.Errorf("config %s: line %d: %s", path, pe.Position.Line, pe.Message)
		}
		return md, fmt.Errorf("config %s: %w", path, err)
	}
	und := md.Undecoded()
	if len(und) == 0 {
		return md, nil
	}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// Report each unknown key once: not the keys inside an unknown table.
	unknown := map[string]bool{}
	for _, k := range und {
		unknown[k.String()] = true
	}
	var msgs []string
	for _, k := range und {
		if len(k) > 1 && unknown[k[:len(k)-1].String()] {
			continue
		}
		msg := fmt.Sprintf("unknown key %q", k.String())
		if line := keyLine(data, k); line > 0 {
			msg = fmt.Sprintf("line %d: %s", line, msg)
		}
		if s := suggest(t, k); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		msgs = append(msgs, msg)
	}
	return md, fmt.Errorf("config %s: %s", path, strings.Join(msgs, "; "))
}

// keyLine finds the line that defines key by scanning the file: table headers set
// the prefix, `a.b = v` lines add their dotted key. It returns 0 when not found
// (a key inside an inline table, say).
func keyLine(data []byte, key toml.Key) int {
	want := key.String()
	var table []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			h := strings.Trim(line, "[] \t")
			if i := strings.Index(h, "]"); i >= 0 {
				h = h[:i]
			}
			table = splitKey(h)
			if strings.Join(table, ".") == want {
				return n
			}
			continue
		}
		eq := keyEnd(line)
		if eq < 0 {
			continue
		}
		full := append(append([]string{}, table...), splitKey(line[:eq])...)
		for i := len(full); i > len(table); i-- {
			if strings.Join(full[:i], ".") == want {
				return n
			}
		}
	}
	return 0
}

// keyEnd is the index of the '=' ending a key, skipping quoted parts.
func keyEnd(line string) int {
	var quote byte
	for i := 0; i < len(line); i++ {
		switch ch := line[i]; {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'':
			quote = ch
		case ch == '=':
			return i
		}
	}
	return -1
}

func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
		case ch == '"' || ch == '\'':
			quote = ch
		case ch == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		case ch == ' ' || ch == '\t':
		default:
			cur.WriteByte(ch)
		}
	}
	return append(parts, strings.TrimSpace(cur.String()))
}

// knownKeys lists every key of t (a struct), dotted, from its toml tags.
func knownKeys(t reflect.Type) []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("toml")
			if tag == "" || !f.IsExported() {
				continue
			}
			name := prefix + tag
			out = append(out, name)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration{}) {
				walk(f.Type, name+".")
			}
		}
	}
	walk(t, "")
	return out
}

// suggest names the known key closest to an unknown one, if any is close.
func suggest(t reflect.Type, k toml.Key) string {
	want := k.String()
	keys := knownKeys(t)
	best, bestD := "", 3
	for _, known := range keys {
		if d := editDistance(want, known); d < bestD {
			best, bestD = known, d
		}
	}
	if best == "" && len(k) > 1 {
		// A shortened key: tls.nick for tls.nickname.
		parent := k[:len(k)-1].String() + "."
		for _, known := range keys {
			if last, ok := strings.CutPrefix(known, parent); ok && !strings.Contains(last, ".") &&
				len(k[len(k)-1]) >= 3 && strings.HasPrefix(last, k[len(k)-1]) {
				return known
			}
		}
	}
	if best == "" && len(k) == 1 {
		// A key at the top level that belongs in a table: port = 1 for server.port.
		for _, known := range keys {
			if strings.HasSuffix(known, "."+want) {
				return known
			}
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// KnownKeys lists every dotted key that a configuration struct v accepts.
func KnownKeys(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return knownKeys(t)
}
