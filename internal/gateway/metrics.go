package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermesh/ordermesh/internal/platform/metrics"
)

// gatewayMetrics is what the gateway reports on its admin port, beside the
// Go runtime and build info every ordermesh process has. The services
// measure each RPC themselves; the gateway says what only it can see: how
// many requests each backend got through it, how long the backend took to
// answer, which it could not reach, and how many pods it spreads over.
type gatewayMetrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	addresses *prometheus.GaugeVec
}

func newGatewayMetrics(version string) *gatewayMetrics {
	m := &gatewayMetrics{
		reg: metrics.NewProcessRegistry(version),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordermesh_gateway_requests_total",
			Help: "Requests the gateway routed, by backend service and result: proxied (the backend answered, whatever its code) or unavailable (the backend could not be reached).",
		}, []string{"backend", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ordermesh_gateway_backend_response_seconds",
			Help:    "Time from routing a request to the backend's response headers, by backend service (for a stream, the time to open it).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"backend"}),
		addresses: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ordermesh_gateway_backend_addresses",
			Help: "Addresses (pods, behind a headless Service) the gateway spreads a backend's requests over.",
		}, []string{"backend"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.addresses)
	return m
}

type startKey struct{}

// timed marks when the gateway took the request, for the latency the
// proxy's response hook observes.
func timed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), startKey{}, time.Now())))
	})
}

// answered records a response the backend gave.
func (m *gatewayMetrics) answered(svc string, res *http.Response) {
	m.requests.WithLabelValues(svc, "proxied").Inc()
	if start, ok := res.Request.Context().Value(startKey{}).(time.Time); ok {
		metrics.Observe(res.Request.Context(), m.latency.WithLabelValues(svc), time.Since(start).Seconds())
	}
}

// unreachable records a request the backend never answered.
func (m *gatewayMetrics) unreachable(svc string) {
	m.requests.WithLabelValues(svc, "unavailable").Inc()
}
