package main

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gopcp/gopcp/proxyd/httpapi"
	"github.com/gopcp/gopcp/proxyd/relay"
	"github.com/gopcp/gopcp/proxyd/server"
)

// SelfMetricsPath serves proxyd's own metrics in the Prometheus format. /metrics
// is the collectors' metrics (as pmproxy serves it), so proxyd's own health has
// a path of its own.
const SelfMetricsPath = "/proxyd/metrics"

// selfMetrics is the handler of SelfMetricsPath: reloads, the certificate's
// remaining lifetime, connections and sessions, plus the Go and process
// collectors, from a registry of its own (no global state).
func selfMetrics(rl *Reloader, srv *server.Server, relay *relay.Relay, api *httpapi.API) http.Handler {
	reg := prometheus.NewRegistry()
	ns := "gopcp_proxyd_"
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: ns + "build_info", Help: "proxyd's version, as a label; always 1.",
			ConstLabels: prometheus.Labels{"version": Version}}, func() float64 { return 1 }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: ns + "reloads_total",
			Help: "Configuration reloads applied (SIGHUP and certificate-file changes)."},
			func() float64 { return float64(rl.Stats().Count()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: ns + "reload_failures_total",
			Help: "Reloads refused because a file did not load; the last good configuration stayed."},
			func() float64 { return float64(rl.Stats().Failures()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: ns + "last_reload_success_timestamp_seconds",
			Help: "When the last reload was applied (0: none since start)."},
			func() float64 {
				if t := rl.Stats().LastReload(); !t.IsZero() {
					return float64(t.UnixNano()) / 1e9
				}
				return 0
			}),
		certExpiry{rl: rl, desc: prometheus.NewDesc(ns+"certificate_expiry_seconds",
			"Seconds until proxyd's TLS certificate expires (negative: expired); absent without TLS.", nil, nil)},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: ns + "connections",
			Help: "Client connections open now, all protocols."}, func() float64 { return float64(srv.Connections()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: ns + "connections_refused_total",
			Help: "Connections turned away at the connection limit."}, func() float64 { return float64(srv.Refused()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: ns + "relay_sessions",
			Help: "PCP relay sessions open now."}, func() float64 { return float64(relay.Sessions()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: ns + "http_contexts",
			Help: "Web API contexts alive now."}, func() float64 { return float64(api.Contexts()) }),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// certExpiry reports the certificate of the generation in service: absent, not
// zero, when TLS is off.
type certExpiry struct {
	rl   *Reloader
	desc *prometheus.Desc
}

func (c certExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c certExpiry) Collect(ch chan<- prometheus.Metric) {
	if leaf := c.rl.Current().leaf(); leaf != nil {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, time.Until(leaf.NotAfter).Seconds())
	}
}
