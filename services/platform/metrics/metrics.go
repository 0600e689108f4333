// Package metrics defines every Prometheus metric ordermesh exports and
// serves them on the admin port. One Registry serves one process, whatever
// services it runs; per-service metrics carry a service label.
//
// Metric names are part of the dashboards' contract: the dashboard test
// fails when a dashboard queries a name that is not exported here.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds a process's metrics.
type Registry struct {
	reg *prometheus.Registry

	RPCRequests *prometheus.CounterVec
	RPCDuration *prometheus.HistogramVec

	OrdersTerminal  *prometheus.CounterVec
	OrderCompletion *prometheus.HistogramVec
	Compensations   *prometheus.CounterVec

	BatchSize    prometheus.Histogram
	BatchSeconds prometheus.Histogram
	QueueDepth   prometheus.GaugeFunc
	queueDepth   atomic.Pointer[func() float64]
	Reservations *prometheus.CounterVec

	DeliveryAttempts *prometheus.CounterVec

	dbs *databases
}

// New returns a registry with the Go runtime and process collectors and
// every ordermesh metric.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry(), dbs: &databases{pools: map[string]*pgxpool.Pool{}}}
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { r.reg.MustRegister(c) }
	r.RPCRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordermesh_rpc_requests_total", Help: "RPCs handled, by service, procedure and Connect code.",
	}, []string{"service", "procedure", "code"})
	r.RPCDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ordermesh_rpc_duration_seconds", Help: "Time to handle an RPC, by service and procedure.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"service", "procedure"})
	r.OrdersTerminal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordermesh_orders_terminal_total", Help: "Orders that reached a terminal status, by status and reason.",
	}, []string{"status", "reason"})
	r.OrderCompletion = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ordermesh_order_completion_seconds", Help: "Time from placement to a terminal status, by status.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900},
	}, []string{"status"})
	r.Compensations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordermesh_compensations_total", Help: "Compensating actions, by kind: stock_released, payment_voided, payment_refunded.",
	}, []string{"kind"})
	r.BatchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "ordermesh_inventory_batch_size", Help: "Reservations per hot-path batch.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
	})
	r.BatchSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "ordermesh_inventory_batch_seconds", Help: "Time one hot-path batch takes, transaction included.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	r.QueueDepth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ordermesh_inventory_queue_depth", Help: "Reservations waiting for a hot-path batch.",
	}, func() float64 {
		if f := r.queueDepth.Load(); f != nil {
			return (*f)()
		}
		return 0
	})
	r.Reservations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordermesh_inventory_reservations_total", Help: "Reservation requests answered, by outcome: reserved, rejected, error.",
	}, []string{"outcome"})
	r.DeliveryAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordermesh_outbox_delivery_attempts_total", Help: "Event delivery attempts, by producer, subscriber and result: delivered, failed, parked.",
	}, []string{"service", "subscriber", "result"})
	for _, c := range []prometheus.Collector{r.RPCRequests, r.RPCDuration, r.OrdersTerminal, r.OrderCompletion, r.Compensations,
		r.BatchSize, r.BatchSeconds, r.QueueDepth, r.Reservations, r.DeliveryAttempts, r.dbs} {
		f(c)
	}
	return r
}

// SetQueueDepth sets where the queue depth gauge reads from: the hot
// path's batcher, when Inventory runs in this process.
func (r *Registry) SetQueueDepth(f func() float64) { r.queueDepth.Store(&f) }

// Handler serves /metrics.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// Serve serves /metrics on addr until ctx is done.
func (r *Registry) Serve(ctx context.Context, addr string, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", r.Handler())
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// NewInterceptor records RED metrics for every handled RPC.
func (r *Registry) NewInterceptor(serviceOf func(procedure string) string) connect.Interceptor {
	return &interceptor{r: r, serviceOf: serviceOf}
}

type interceptor struct {
	r         *Registry
	serviceOf func(string) string
}

func (i *interceptor) observe(procedure string, start time.Time, err error) {
	svc := i.serviceOf(procedure)
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
	}
	i.r.RPCRequests.WithLabelValues(svc, procedure, code).Inc()
	i.r.RPCDuration.WithLabelValues(svc, procedure).Observe(time.Since(start).Seconds())
}

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		start := time.Now()
		res, err := next(ctx, req)
		i.observe(req.Spec().Procedure, start, err)
		return res, err
	}
}

func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		err := next(ctx, conn)
		i.observe(conn.Spec().Procedure, start, err)
		return err
	}
}
