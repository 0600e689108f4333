package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// queueMetrics counts what every service's span queue exports and drops,
// as Prometheus metrics; every series starts at 0 when the service is set
// up, so that the first drop is an increase an alert sees.
type queueMetrics struct {
	exported *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	exports  *prometheus.HistogramVec
	queued   *prometheus.GaugeVec
}

// Export results.
var exportResults = []string{"ok", "slow", "failed"}

func newQueueMetrics() *queueMetrics {
	return &queueMetrics{
		exported: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordermesh_telemetry_spans_exported_total", Help: "Spans the collector accepted, by service.",
		}, []string{"service"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordermesh_telemetry_spans_dropped_total",
			Help: "Spans lost, by service, class (root: a trace's or a service's entry span, an error, an order's status; detail: the rest) and cause (queue_full, export_failed).",
		}, []string{"service", "class", "cause"}),
		exports: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ordermesh_telemetry_export_seconds", Help: "Time an export request took, by service and result: ok, slow (over TELEMETRY_EXPORT_SLOW_AFTER), failed.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"service", "result"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ordermesh_telemetry_queued_spans", Help: "Spans waiting for export, by service, after the last export began.",
		}, []string{"service"}),
	}
}

// start makes service's series exist at 0.
func (m *queueMetrics) start(service string) {
	m.exported.WithLabelValues(service)
	for _, class := range []string{ClassRoot, ClassDetail} {
		for _, cause := range []string{DroppedQueueFull, DroppedExportFailed} {
			m.dropped.WithLabelValues(service, class, cause)
		}
	}
	for _, r := range exportResults {
		m.exports.WithLabelValues(service, r)
	}
	m.queued.WithLabelValues(service)
}

func (m *queueMetrics) Exported(service string, n int) {
	m.exported.WithLabelValues(service).Add(float64(n))
}

func (m *queueMetrics) Dropped(service, class, cause string, n int) {
	if n > 0 {
		m.dropped.WithLabelValues(service, class, cause).Add(float64(n))
	}
}

func (m *queueMetrics) Export(service, result string, took time.Duration) {
	m.exports.WithLabelValues(service, result).Observe(took.Seconds())
}

func (m *queueMetrics) Queued(service string, n int) {
	m.queued.WithLabelValues(service).Set(float64(n))
}

func (m *queueMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.exported, m.dropped, m.exports, m.queued}
}
