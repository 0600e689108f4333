package order

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermesh/ordermesh/internal/platform/metrics"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
)

// orderMetrics are Order's own instruments: the saga's outcomes, how long
// orders take to reach them, and, read at scrape time from Order's
// database, the orders still open.
type orderMetrics struct {
	terminal   *prometheus.CounterVec
	completion *prometheus.HistogramVec
	deadline   prometheus.Gauge
	open       *openOrders
}

func newOrderMetrics(reg *metrics.Registry, deadline time.Duration, read func(context.Context) ([]service.OpenOrders, error)) (*orderMetrics, error) {
	m := &orderMetrics{
		terminal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordermesh_orders_terminal_total", Help: "Orders that reached a terminal status, by status and reason.",
		}, []string{"status", "reason"}),
		completion: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ordermesh_order_completion_seconds", Help: "Time from placement to a terminal status, by status.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900},
		}, []string{"status"}),
		deadline: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ordermesh_order_deadline_seconds", Help: "ORDER_DEADLINE: how long an order may stay open before it expires.",
		}),
		open: &openOrders{read: read, failed: func(err error) { reg.ReadFailed(Name, "orders", err) }},
	}
	m.deadline.Set(deadline.Seconds())
	// Every way a saga ends has its series at 0 from the start, so that a
	// dashboard's rate of it reads 0 rather than nothing.
	m.terminal.WithLabelValues(string(service.StatusConfirmed), "")
	m.terminal.WithLabelValues(string(service.StatusRejected), string(service.ReasonOutOfStock))
	for _, r := range []service.Reason{service.ReasonPaymentDeclined, service.ReasonShippingFailed, service.ReasonCustomer, service.ReasonExpired, service.ReasonOperator} {
		m.terminal.WithLabelValues(string(service.StatusCancelled), string(r))
	}
	reg.ReadsFrom(Name, "orders")
	return m, reg.Register(m.terminal, m.completion, m.deadline, m.open)
}

// finished records an order's arrival at a terminal status.
func (m *orderMetrics) finished(ctx context.Context, f service.Finish) {
	m.terminal.WithLabelValues(string(f.Status), string(f.Reason)).Inc()
	metrics.Observe(ctx, m.completion.WithLabelValues(string(f.Status)), f.Took.Seconds())
}

var (
	ordersOpen = prometheus.NewDesc("ordermesh_orders_open", "Orders whose saga has not ended (pending or reserved), by status.", []string{"status"}, nil)
	oldestOpen = prometheus.NewDesc("ordermesh_orders_oldest_open_seconds", "Age of the oldest order whose saga has not ended; 0 when none is open.", nil, nil)
)

// openOrders reads the open orders at scrape time. When they cannot be
// read it reports no sample, never a misleading 0, and counts the failed
// read instead.
type openOrders struct {
	read   func(context.Context) ([]service.OpenOrders, error)
	failed func(error)
}

// Describe implements prometheus.Collector.
func (o *openOrders) Describe(ch chan<- *prometheus.Desc) {
	ch <- ordersOpen
	ch <- oldestOpen
}

// Collect implements prometheus.Collector.
func (o *openOrders) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), metrics.ReadTimeout)
	defer cancel()
	open, err := o.read(ctx)
	if err != nil {
		o.failed(err)
		return
	}
	counts := map[service.Status]int64{service.StatusPending: 0, service.StatusReserved: 0}
	var oldest float64
	for _, s := range open {
		counts[s.Status] = s.Count
		oldest = max(oldest, s.OldestSeconds)
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(ordersOpen, prometheus.GaugeValue, float64(n), string(status))
	}
	ch <- prometheus.MustNewConstMetric(oldestOpen, prometheus.GaugeValue, oldest)
}
