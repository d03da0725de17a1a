package pmapi

import (
	"errors"
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// TestParseHostSpecGolden compares ParseHostSpec with libpcp's
// __pmParseHostAttrsSpec (testdata/hostspec.golden): the hosts and ports, or the
// error text libpcp prints.
func TestParseHostSpecGolden(t *testing.T) {
	t.Setenv("PMCD_SOCKET", "")
	t.Setenv("PCP_RUN_DIR", "")
	for _, l := range goldenLines(t, "hostspec.golden") {
		spec := strings.TrimPrefix(l[0], "H ")
		h, err := ParseHostSpec(spec)
		if strings.HasPrefix(l[1], "ERR ") {
			var he *HostSpecError
			if !errors.As(err, &he) {
				t.Errorf("%q: want error, got %v", spec, err)
				continue
			}
			want := strings.ReplaceAll(strings.TrimPrefix(l[1], "ERR "), `\n`, "\n")
			if he.Detail() != want {
				t.Errorf("%q: detail %q, want %q", spec, he.Detail(), want)
			}
			if protocol.CodeOf(err) != protocol.ErrGeneric {
				t.Errorf("%q: code %d", spec, protocol.CodeOf(err))
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", spec, err)
			continue
		}
		var b strings.Builder
		for i, host := range h.Hosts {
			if i > 0 {
				b.WriteByte('@')
			}
			b.WriteString("[" + host.Name)
			for j, p := range host.Ports {
				b.WriteString(map[bool]string{true: ":", false: ","}[j == 0] + strconv.Itoa(p))
			}
			b.WriteString("]")
		}
		want, _, _ := strings.Cut(l[1], " ")
		if b.String() != want {
			t.Errorf("%q: hosts %s, want %s", spec, b.String(), want)
		}
	}
}

func TestParseHostSpecAttrs(t *testing.T) {
	for spec, want := range map[string]map[string]string{
		"localhost:45871?container=foo&user=bob&pass=x": {"container": "foo", "username": "bob", "password": "x"},
		"pcps://host:1?secure=relaxed":                  {"protocol": "pcps", "secure": "relaxed"},
		"host?foo=bar&secure":                           {"secure": ""},
		"h?a=b=c&container=x=y":                         {},
		"127.0.0.1:45871?compress":                      {"compress": ""},
		"local:":                                        {"local": ""},
		"unix:/x":                                       {"unixsock": ""},
		"pcp:h":                                         {"protocol": "pcp"},
	} {
		h, err := ParseHostSpec(spec)
		if err != nil {
			t.Errorf("%q: %v", spec, err)
			continue
		}
		if !maps.Equal(h.Attrs, want) {
			t.Errorf("%q: attrs %v, want %v", spec, h.Attrs, want)
		}
	}
	h, _ := ParseHostSpec("pcps://h")
	if h.Scheme != "pcps" || h.Local() {
		t.Errorf("pcps://h: scheme %q local %v", h.Scheme, h.Local())
	}
}

func TestEnvParsing(t *testing.T) {
	t.Setenv("PMCD_PORT", "45871, x,1")
	if got := PortsFromEnv(); len(got) != 2 || got[0] != 45871 || got[1] != 1 {
		t.Errorf("PortsFromEnv = %v", got)
	}
	t.Setenv("PMCD_PORT", "junk")
	if got := PortsFromEnv(); len(got) != 1 || got[0] != 44321 {
		t.Errorf("PortsFromEnv(junk) = %v", got)
	}
	t.Setenv("PMCD_REQUEST_TIMEOUT", "0.5")
	if got := RequestTimeoutFromEnv(); got.Milliseconds() != 500 {
		t.Errorf("RequestTimeoutFromEnv = %v", got)
	}
	t.Setenv("PMCD_REQUEST_TIMEOUT", "-3")
	if got := RequestTimeoutFromEnv(); got != protocol.DefaultClientTimeout {
		t.Errorf("RequestTimeoutFromEnv(-3) = %v", got)
	}
	t.Setenv("PMCD_CONNECT_TIMEOUT", "2")
	if got := ConnectTimeoutFromEnv(); got.Seconds() != 2 {
		t.Errorf("ConnectTimeoutFromEnv = %v", got)
	}
}
