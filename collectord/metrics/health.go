package metrics

import (
	"time"

	"github.com/gopcp/gopcp/protocol"
)

// The "health" source: what an operator needs to see that the collector itself is
// well, beyond what the real pmcd reports. Failed reads per metric source (a /proc
// file that vanished or did not parse), and, when the server implements Health,
// configuration reloads and the seconds left on the TLS certificate. Domain 2,
// cluster 40, unused by PCP's pmcd agent.

// Health is optionally implemented by Self: reload counts and certificate expiry.
type Health interface {
	// Reloads returns the successful and the failed configuration reloads.
	Reloads() (ok, failed uint64)
	// CertNotAfter returns the serving certificate's expiry, false without TLS.
	CertNotAfter() (time.Time, bool)
}

const (
	selSourceErrors = iota
	selReloads
	selReloadFailures
	selCertExpiry
)

var indomSources = protocol.NewInDom(DomainPMCD, 40)

func init() {
	health := []struct {
		name    string
		pmid    protocol.PMID
		oneline string
		help    string
	}{
		{"pmcd.gopcp.source.errors", pmid(2, 40, 0), "failed reads of each metric source",
			"Count of fetches in which a metric source could not read or parse its kernel\nfile (for example a /proc file that vanished or held an unexpected line).\nOnly that source's metrics fail; the others keep their values."},
		{"pmcd.gopcp.reload.count", pmid(2, 40, 1), "successful configuration reloads",
			"Count of reloads (SIGHUP or a changed certificate file) that built, validated\nand swapped in a new configuration."},
		{"pmcd.gopcp.reload.failures", pmid(2, 40, 2), "failed configuration reloads",
			"Count of reloads that failed validation; the last good configuration stayed\nin use and the log names the file and the reason."},
		{"pmcd.gopcp.cert.expiry", pmid(2, 40, 3), "seconds until the TLS certificate expires",
			"Seconds until the serving certificate's notAfter time; negative once expired.\nNo value when TLS is not configured."},
	}
	for _, h := range health {
		helpPMID[h.pmid] = helpText{oneline: h.oneline, help: h.help}
	}
	helpInDom[indomSources] = helpText{oneline: "metric sources of the collector",
		help: "One instance per metric source (a group of metrics read from the same\nkernel files), named after the source."}
	registerSource(&sourceSpec{
		name:       "health",
		domain:     DomainPMCD,
		concurrent: true,
		indoms:     []protocol.InDom{indomSources},
		new:        func(e *env) Source { return &healthSource{env: e} },
		metrics: []metricDef{
			{health[0].name, health[0].pmid, tU64, indomSources, semC, uCount, selSourceErrors},
			{health[1].name, health[1].pmid, tU64, null, semC, uCount, selReloads},
			{health[2].name, health[2].pmid, tU64, null, semC, uCount, selReloadFailures},
			{health[3].name, health[3].pmid, tI64, null, semI, uSec, selCertExpiry},
		},
	})
}

type healthSource struct{ env *env }

func (s *healthSource) Instances(protocol.InDom) ([]Instance, error) {
	names := s.env.registry.SourceNames()
	out := make([]Instance, len(names))
	for i, n := range names {
		out[i] = Instance{ID: uint32(i), Name: n}
	}
	return out, nil
}

func (s *healthSource) Fetch(reqs []Request) error {
	h, _ := s.env.self.(Health)
	for _, rq := range reqs {
		switch rq.Sel {
		case selSourceErrors:
			errs := s.env.registry.SourceErrors()
			for i, n := range s.env.registry.SourceNames() {
				putU(rq.Res, uint32(i), errs[n])
			}
		case selReloads, selReloadFailures:
			if h == nil {
				continue
			}
			ok, failed := h.Reloads()
			if rq.Sel == selReloads {
				putU(rq.Res, protocol.InNull, ok)
			} else {
				putU(rq.Res, protocol.InNull, failed)
			}
		case selCertExpiry:
			if h == nil {
				continue
			}
			if t, ok := h.CertNotAfter(); ok {
				putI(rq.Res, protocol.InNull, int64(time.Until(t).Seconds()))
			}
		}
	}
	return nil
}
