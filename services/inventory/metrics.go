package inventory

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermesh/ordermesh/internal/platform/metrics"
	"github.com/ordermesh/ordermesh/services/inventory/internal/service"
)

// observeHotPath gives the hot path's batcher Inventory's own
// instruments: batch sizes and latency, the queue's depth and bound, and
// the reservations answered by outcome.
func observeHotPath(reg *metrics.Registry, b *service.Batcher, queueMax int) error {
	size := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "ordermesh_inventory_batch_size", Help: "Reservations per hot-path batch.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
	})
	seconds := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "ordermesh_inventory_batch_seconds", Help: "Time one hot-path batch takes, transaction included.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ordermesh_inventory_queue_depth", Help: "Reservations waiting for a hot-path batch.",
	}, func() float64 { return float64(b.Queued()) })
	bound := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ordermesh_inventory_queue_max", Help: "INVENTORY_QUEUE_MAX: reservations the hot path queues before it refuses more.",
	})
	answered := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordermesh_inventory_reservations_total", Help: "Reservation requests answered, by outcome: reserved, rejected, error.",
	}, []string{"outcome"})
	bound.Set(float64(queueMax))
	for _, outcome := range []string{"reserved", "rejected", "error"} {
		answered.WithLabelValues(outcome) // at 0 from the start, so a dashboard's rate reads 0
	}
	b.Observer = func(ctx context.Context, n int, took time.Duration) {
		size.Observe(float64(n))
		metrics.Observe(ctx, seconds, took.Seconds())
	}
	b.Answered = func(outcome string) { answered.WithLabelValues(outcome).Inc() }
	return reg.Register(size, seconds, depth, bound, answered)
}
