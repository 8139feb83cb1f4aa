// Package metrics defines orybot's Prometheus metrics and serves them. It
// owns the registry: the bot, the Ory client and the store report to it
// through small interfaces of their own, and nothing else imports
// client_golang. Labels never carry ids, emails or reasons: only verbs,
// outcomes, operation names, HTTP statuses and Slack error names.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Backlog is what the store says about the work waiting in it, read at
// each scrape.
type Backlog struct {
	Pending           int       // requests waiting for approvers
	Undelivered       int       // audit records not yet in the audit channel
	OldestUndelivered time.Time // zero when none are waiting
}

// Metrics holds orybot's metrics. Create it with New; its methods are safe
// for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	commands       *prometheus.CounterVec
	requests       *prometheus.CounterVec
	oryRequests    *prometheus.CounterVec
	oryDuration    *prometheus.HistogramVec
	oryRetries     *prometheus.CounterVec
	deliveryErrors *prometheus.CounterVec
	connected      prometheus.Gauge
	reconnects     prometheus.Counter
	ack            prometheus.Histogram
}

// New registers orybot's metrics, the Go and process collectors, and the
// build info of version. backlog is read at every scrape, with a short
// deadline; a read that fails leaves the backlog gauges out of that scrape.
func New(version string, backlog func(context.Context) (Backlog, error), log *slog.Logger) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orybot_commands_total", Help: "Slash commands received, by verb.",
		}, []string{"verb"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orybot_requests_total", Help: "Approval requests ended, by verb and outcome (done, failed, denied, expired, stale, cancelled).",
		}, []string{"verb", "outcome"}),
		oryRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orybot_ory_requests_total", Help: "Calls to the Ory admin API, by operation and HTTP status (0: no answer).",
		}, []string{"op", "code"}),
		oryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orybot_ory_request_duration_seconds", Help: "Duration of each attempt of a call to the Ory admin API.",
			Buckets: prometheus.DefBuckets,
		}, []string{"op"}),
		oryRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orybot_ory_retries_total", Help: "Retries of calls to the Ory admin API, by operation.",
		}, []string{"op"}),
		deliveryErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orybot_audit_delivery_errors_total", Help: "Failed posts of audit records to the audit channel, by Slack error.",
		}, []string{"error"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "orybot_slack_connected", Help: "1 while the socket-mode connection to Slack is up, else 0.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orybot_slack_reconnects_total", Help: "Socket-mode connections made after the first.",
		}),
		ack: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "orybot_ack_duration_seconds", Help: "Time from receiving a Slack envelope to acknowledging it.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "orybot_build_info", Help: "Always 1; the version label says which build runs.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	m.reg.MustRegister(m.commands, m.requests, m.oryRequests, m.oryDuration, m.oryRetries,
		m.deliveryErrors, m.connected, m.reconnects, m.ack, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newBacklogCollector(backlog, log))
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Acked counts an acknowledged envelope: a slash command with its verb
// ("" for other envelopes, which are only timed).
func (m *Metrics) Acked(verb string, took time.Duration) {
	if verb != "" {
		m.commands.WithLabelValues(verb).Inc()
	}
	m.ack.Observe(took.Seconds())
}

// Ended counts a request that reached a final status.
func (m *Metrics) Ended(verb, outcome string) {
	m.requests.WithLabelValues(verb, outcome).Inc()
}

// Connected records the socket-mode connection going up or down; every
// connection after the first counts as a reconnect.
func (m *Metrics) Connected(up bool, reconnect bool) {
	if up {
		m.connected.Set(1)
		if reconnect {
			m.reconnects.Inc()
		}
		return
	}
	m.connected.Set(0)
}

// DeliveryFailed counts a failed post to the audit channel.
func (m *Metrics) DeliveryFailed(reason string) {
	m.deliveryErrors.WithLabelValues(reason).Inc()
}

// OryRequest records one attempt of an Ory call; it implements
// ory.Metrics.
func (m *Metrics) OryRequest(op string, status int, took time.Duration) {
	m.oryRequests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	m.oryDuration.WithLabelValues(op).Observe(took.Seconds())
}

// OryRetry records a retry of an Ory call; it implements ory.Metrics.
func (m *Metrics) OryRetry(op string) {
	m.oryRetries.WithLabelValues(op).Inc()
}

// backlogCollector reads the store's backlog at scrape time, so that every
// replica reports the same numbers and none has to keep them in step.
type backlogCollector struct {
	read                            func(context.Context) (Backlog, error)
	log                             *slog.Logger
	pending, undelivered, oldestAge *prometheus.Desc
}

func newBacklogCollector(read func(context.Context) (Backlog, error), log *slog.Logger) *backlogCollector {
	return &backlogCollector{
		read:        read,
		log:         log,
		pending:     prometheus.NewDesc("orybot_pending_requests", "Requests waiting for approvers.", nil, nil),
		undelivered: prometheus.NewDesc("orybot_audit_undelivered_records", "Audit records not yet posted to the audit channel.", nil, nil),
		oldestAge:   prometheus.NewDesc("orybot_audit_oldest_undelivered_seconds", "Age of the oldest audit record not yet posted (0 when none).", nil, nil),
	}
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.undelivered
	ch <- c.oldestAge
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := c.read(ctx)
	if err != nil {
		c.log.Warn("read backlog for metrics", "err", err)
		return
	}
	age := 0.0
	if !b.OldestUndelivered.IsZero() {
		age = max(time.Since(b.OldestUndelivered).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(b.Pending))
	ch <- prometheus.MustNewConstMetric(c.undelivered, prometheus.GaugeValue, float64(b.Undelivered))
	ch <- prometheus.MustNewConstMetric(c.oldestAge, prometheus.GaugeValue, age)
}
