// Package pmapi is a PCP client library: the parts of libpcp's PMAPI that talk to a
// pmcd, with libpcp 6.0.3's behaviour on the wire and in its error codes.
//
// Connect parses a host specification (ParseHostSpec), opens the socket (TCP, a
// unix socket for local:/unix:, or through pmproxy for host@proxy and
// $PMPROXY_HOST), and runs the handshake: greeting, CREDS flags from the advertised
// features, the same-socket TLS upgrade when negotiated (TLS policy comes from
// Options), and the container attribute. A Context then offers one call per PDU
// exchange: Traverse, Children, LookupNames, NameAll, Desc/Descs, InDom,
// InstanceName/InstanceID, Text (with the HELP to ONELINE fallback), Labels and its
// helpers, Fetch (sending the instance profile first), Store.
//
// Failures are *protocol.Error values carrying the code libpcp would return;
// ErrStr and Message give pmErrStr's text. FormatValue, UnitsString, TypeString,
// SemString, InDomString and MergeLabelSets render values and metadata exactly as
// pmPrintValue, pmUnitsStr, pmTypeStr, pmSemStr, pminfo and pmMergeLabelSets do;
// the golden files in testdata were produced by libpcp itself.
//
// Environment, as libpcp reads it: PMCD_PORT, PMCD_REQUEST_TIMEOUT,
// PMCD_CONNECT_TIMEOUT, PMCD_SOCKET, PCP_RUN_DIR, PMPROXY_HOST, PMPROXY_PORT and
// PCP_CONTAINER are read by Connect when Options leave them unset;
// PCP_SECURE_SOCKETS only through SecureFromEnv, which callers apply.
package pmapi
