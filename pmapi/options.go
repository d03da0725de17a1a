package pmapi

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gopcp/gopcp/protocol"
)

// SecureMode says whether a connection asks pmcd for TLS.
type SecureMode int

// Secure modes, as PCP_SECURE_SOCKETS and the pcps:// scheme select them.
const (
	// SecureNone never asks for TLS.
	SecureNone SecureMode = iota
	// SecureRelaxed uses TLS when pmcd offers it and continues in clear otherwise.
	SecureRelaxed
	// SecureEnforce requires TLS; a pmcd without it fails with "Operation not supported".
	SecureEnforce
)

func (m SecureMode) String() string {
	switch m {
	case SecureRelaxed:
		return "relaxed"
	case SecureEnforce:
		return "enforce"
	}
	return "none"
}

// SecureValues lists what PCP_SECURE_SOCKETS and ?secure= accept, for messages.
const SecureValues = `"enforce", "1" or "" (TLS required), "relaxed" (TLS when offered), "none" or "0" (no TLS)`

// ParseSecure maps a PCP_SECURE_SOCKETS (or ?secure=) value: "", "1" and "enforce"
// enforce, "relaxed" relaxes, "none" and "0" turn TLS off. Any other value is an
// error naming the accepted ones: libpcp reads an unknown value as "no TLS",
// which turns a typo ("enforced", "Enforce") into a plaintext connection the
// person believes is secure.
func ParseSecure(v string) (SecureMode, error) {
	switch v {
	case "", "1", "enforce":
		return SecureEnforce, nil
	case "relaxed":
		return SecureRelaxed, nil
	case "none", "0":
		return SecureNone, nil
	}
	return SecureNone, fmt.Errorf("secure sockets setting %q is not one of %s", v, SecureValues)
}

// SecureFromEnv applies the PCP_SECURE_SOCKETS rules: unset means SecureNone,
// otherwise ParseSecure; an unknown value is an error naming the variable. A
// pcps:// host spec overrides the result in Connect.
func SecureFromEnv() (SecureMode, error) {
	v, ok := os.LookupEnv("PCP_SECURE_SOCKETS")
	if !ok {
		return SecureNone, nil
	}
	m, err := ParseSecure(v)
	if err != nil {
		return SecureNone, fmt.Errorf("PCP_SECURE_SOCKETS=%s is not a known setting: use %s, or unset it", strconv.Quote(v), SecureValues)
	}
	return m, nil
}

// Options configure Connect. The zero value behaves like libpcp with no
// PCP_SECURE_SOCKETS set.
type Options struct {
	// Secure selects TLS. Callers that want libpcp's behaviour set it from
	// SecureFromEnv; a pcps:// spec overrides it.
	Secure SecureMode
	// TLSConfig is called when TLS has been negotiated, with the server name libpcp
	// would send as SNI. Nil means tls.Config{InsecureSkipVerify: true, MinVersion:
	// TLS 1.2, ServerName: serverName}, matching the 6.0.3 client's default of not
	// verifying the server.
	TLSConfig func(serverName string) (*tls.Config, error)
	// RequestTimeout bounds the wait for each reply (and the greeting). Zero means
	// $PMCD_REQUEST_TIMEOUT or 10s; negative means no limit.
	RequestTimeout time.Duration
	// ConnectTimeout bounds each TCP connect. Zero means $PMCD_CONNECT_TIMEOUT or
	// 5s; negative means no limit.
	ConnectTimeout time.Duration
	// Ports are tried in order when the spec gives none. Nil means $PMCD_PORT (a
	// comma-separated list) or 44321.
	Ports []int
	// Container names a container for pmcd to report on (as ?container= does).
	// Empty means the spec's attribute, else $PCP_CONTAINER.
	Container string
	// Dial replaces net.Dialer.DialContext (network "tcp" or "unix"), for tests and
	// proxies.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// envSeconds reads a float number of seconds from an environment variable as libpcp
// does: unset, unparsable or negative values give def.
func envSeconds(name string, def time.Duration) time.Duration {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 {
		return def
	}
	if f == 0 {
		return -1 // no limit
	}
	return time.Duration(f * float64(time.Second))
}

// RequestTimeoutFromEnv returns $PMCD_REQUEST_TIMEOUT or the 10 second default
// (negative: no limit).
func RequestTimeoutFromEnv() time.Duration {
	return envSeconds("PMCD_REQUEST_TIMEOUT", protocol.DefaultClientTimeout)
}

// ConnectTimeoutFromEnv returns $PMCD_CONNECT_TIMEOUT or the 5 second default.
func ConnectTimeoutFromEnv() time.Duration {
	return envSeconds("PMCD_CONNECT_TIMEOUT", protocol.DefaultConnectTimeout)
}

// PortsFromEnv returns the ports listed in $PMCD_PORT (comma separated; entries that
// are not port numbers are skipped) or the default 44321.
func PortsFromEnv() []int { return portList(os.Getenv("PMCD_PORT"), protocol.DefaultPort) }

// ProxyFromEnv returns $PMPROXY_HOST and the ports of $PMPROXY_PORT (default 44322).
func ProxyFromEnv() (host string, ports []int) {
	host = os.Getenv("PMPROXY_HOST")
	if host == "" {
		return "", nil
	}
	return host, portList(os.Getenv("PMPROXY_PORT"), 44322)
}

func portList(v string, def int) []int {
	var ports []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err == nil && n >= 0 && n <= 65535 {
			ports = append(ports, n)
		}
	}
	if len(ports) == 0 {
		ports = []int{def}
	}
	return ports
}
