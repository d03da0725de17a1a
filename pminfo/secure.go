package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/gopcp/gopcp/internal/safetext"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/tlsconfig"
)

// settingError is an environment setting pminfo refuses before connecting
// (an unknown PCP_SECURE_SOCKETS value): reported on its own line, not as a
// connection failure.
type settingError struct{ err error }

func (e *settingError) Error() string { return e.err.Error() }
func (e *settingError) Unwrap() error { return e.err }

// reportSetting prints a settingError and reports whether err was one.
func reportSetting(err error, stderr io.Writer) bool {
	var se *settingError
	if !errors.As(err, &se) {
		return false
	}
	fmt.Fprintf(stderr, "pminfo: %s\n", safetext.Escape(se.Error()))
	return true
}

// connect opens the context with the secure-connection policy of tlsconfig: the
// server's certificate must chain to a CA trusted in the user's store and name the
// host, unless PCP_ALLOW_SERVER_SELF_CERT / PCP_ALLOW_BAD_CERT_DOMAIN say otherwise.
// On a terminal, a certificate that fails is shown and the person is asked whether
// to accept it; an accepted one is saved with peer trust and the connection retried.
// Without a terminal it fails at once: nothing ever waits for input that cannot come.
// A certificate distrusted in the store, a CA certificate or an expired pin is
// never offered at the prompt.
func connect(source, container string, stderr io.Writer) (*pmapi.Context, error) {
	secure, err := pmapi.SecureFromEnv()
	if err != nil {
		// An unknown value must not quietly mean "no TLS".
		return nil, &settingError{err}
	}
	opts := tlsconfig.ClientOptionsFromEnv(stderr)
	for attempt := 0; ; attempt++ {
		ctx, err := pmapi.Connect(context.Background(), source, pmapi.Options{
			Secure:    secure,
			Container: container,
			TLSConfig: tlsconfig.Client(opts),
		})
		if err == nil || attempt > 0 || !isVerifyError(err) || !term.IsTerminal(int(os.Stdin.Fd())) {
			return ctx, err
		}
		ok, cert := tlsconfig.Prompt(err, os.Stdin, stderr)
		if !ok {
			return nil, err
		}
		// Into the user's certdb store, never into an NSS database (only read);
		// opts reads that store too, so the retry sees the pin.
		pinDir := opts.PinStoreDir()
		nick, serr := tlsconfig.SavePeer(pinDir, opts.PasswordFile, verifyHost(err), cert)
		if serr != nil {
			fmt.Fprintf(stderr, "pminfo: %s\n", safetext.Escape(serr.Error()))
			return nil, err
		}
		fmt.Fprintf(stderr, "pminfo: saved the certificate as %q in %s\n", nick, safetext.Escape(pinDir))
	}
}

// verifyHost is the host name a verification error is about.
func verifyHost(err error) string {
	var ue *tlsconfig.UntrustedError
	var be *tlsconfig.BadDomainError
	switch {
	case errors.As(err, &ue):
		return ue.Host
	case errors.As(err, &be):
		return be.Host
	}
	return ""
}

func isVerifyError(err error) bool {
	var ue *tlsconfig.UntrustedError
	var be *tlsconfig.BadDomainError
	return errors.As(err, &ue) || errors.As(err, &be)
}

// explainTLS adds, after pminfo's usual line, what to do about a certificate that
// failed verification (the real pminfo never verifies, so it has no such line).
// The certificate's text in it is escaped by the error types themselves; the
// line is escaped once more as a whole because it is written to a terminal.
// When the connection was to be secure and what was printed names no store
// ("PMCD requires a client certificate", a name mismatch), one more line says
// which stores pminfo read, or where it looked when there was none.
func explainTLS(err error, stderr io.Writer) {
	said := explainVerify(err, stderr)
	// Without TLS asked for, "PMCD requires a client certificate" stays the
	// walkthrough's one line: the stores play no part yet.
	if secure, serr := pmapi.SecureFromEnv(); serr != nil || secure == pmapi.SecureNone && said == "" {
		return
	}
	opts := tlsconfig.ClientOptionsFromEnv(nil)
	if stores := opts.Stores(); !strings.Contains(said, stores) {
		fmt.Fprintf(stderr, "pminfo: %s\n", safetext.Escape(stores))
	}
}

// explainVerify prints the verification error's own line and returns it.
func explainVerify(err error, stderr io.Writer) string {
	var (
		ue *tlsconfig.UntrustedError
		be *tlsconfig.BadDomainError
		de *tlsconfig.DistrustedError
		ce *tlsconfig.CAAsLeafError
		pe *tlsconfig.PinExpiredError
		re *tlsconfig.RevokedError
		// A keystore of PCP_TLSCONF_PATH's file that cannot be used: said as it is.
		cfe *tlsconfig.ConfigError
	)
	var why error
	switch {
	case errors.As(err, &cfe):
		why = cfe
	case errors.As(err, &re):
		why = re
	case errors.As(err, &de):
		why = de
	case errors.As(err, &ce):
		why = ce
	case errors.As(err, &pe):
		why = pe
	case errors.As(err, &ue):
		why = ue
	case errors.As(err, &be):
		why = be
	default:
		return ""
	}
	line := safetext.Escape(why.Error())
	fmt.Fprintf(stderr, "pminfo: %s\n", line)
	return line
}
