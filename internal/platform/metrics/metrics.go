// Package metrics defines every Prometheus metric ordermesh exports and
// serves them on the admin port. One Registry serves one process, whatever
// services it runs; per-service metrics carry a service label.
//
// Metric names are part of the dashboards' and alerts' contract: the
// dashboard test fails when a dashboard queries a name that is not
// exported here, and the rule check runs every alert against a real
// Prometheus scraping a real mesh.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	httppprof "net/http/pprof"
	"runtime"
	"slices"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermesh/ordermesh/internal/platform/buildinfo"
)

// Registry holds a process's metrics.
type Registry struct {
	reg *prometheus.Registry

	RPCRequests    *prometheus.CounterVec
	RPCDuration    *prometheus.HistogramVec
	StreamRequests *prometheus.CounterVec
	StreamDuration *prometheus.HistogramVec
	StreamsActive  *prometheus.GaugeVec

	// Compensations counts the saga's compensating actions, which more
	// than one service takes: by kind (stock_released, payment_voided,
	// payment_refunded).
	Compensations *prometheus.CounterVec

	DeliveryAttempts *prometheus.CounterVec
	EventsRefused    *prometheus.CounterVec

	dbs *databases
}

// New returns a registry with the Go runtime and process collectors and
// every ordermesh metric; version is the build's. A scrape-time read that
// fails is logged to log (at most once a minute per source).
func New(version string, log *slog.Logger) *Registry {
	r := &Registry{reg: NewProcessRegistry(version), dbs: newDatabases(log)}
	r.RPCRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordermesh_rpc_requests_total", Help: "Unary RPCs handled, by service, procedure and Connect code.",
	}, []string{"service", "procedure", "code"})
	r.RPCDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ordermesh_rpc_duration_seconds", Help: "Time to handle a unary RPC, by service and procedure.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"service", "procedure"})
	r.StreamRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordermesh_rpc_streams_total", Help: "Streaming RPCs ended, by service, procedure and Connect code.",
	}, []string{"service", "procedure", "code"})
	r.StreamDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ordermesh_rpc_stream_duration_seconds", Help: "How long a streaming RPC stayed open, by service and procedure.",
		Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 3600},
	}, []string{"service", "procedure"})
	r.StreamsActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ordermesh_rpc_streams_active", Help: "Streaming RPCs open now, by service and procedure.",
	}, []string{"service", "procedure"})
	r.Compensations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordermesh_compensations_total", Help: "Compensating actions, by kind: stock_released, payment_voided, payment_refunded.",
	}, []string{"kind"})
	r.DeliveryAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordermesh_outbox_delivery_attempts_total", Help: "Event delivery attempts, by producer (service), subscriber and result: delivered, failed, parked.",
	}, []string{"service", "subscriber", "result"})
	r.EventsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordermesh_event_deliveries_refused_total",
		Help: "Event deliveries a sink refused whole because the caller may not speak for their events, by consuming service, caller and reason: not_publisher, producer_mismatch, not_a_service.",
	}, []string{"service", "caller", "reason"})
	for _, kind := range []string{"stock_released", "payment_voided", "payment_refunded"} {
		r.Compensations.WithLabelValues(kind) // at 0 from the start, so a dashboard's rate reads 0
	}
	r.reg.MustRegister(r.RPCRequests, r.RPCDuration, r.StreamRequests, r.StreamDuration, r.StreamsActive,
		r.Compensations, r.DeliveryAttempts, r.EventsRefused, r.dbs)
	return r
}

// NewProcessRegistry returns a registry with what every ordermesh process
// reports, whatever it serves: the Go runtime, the process and
// ordermesh_build_info. The gateway adds its own metrics to it.
func NewProcessRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newBuildInfo(version))
	return reg
}

func newBuildInfo(version string) prometheus.Collector {
	bi := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ordermesh_build_info", Help: "Always 1; the labels say which build runs.",
	}, []string{"version", "revision", "goversion"})
	bi.WithLabelValues(version, buildinfo.Get().Revision, runtime.Version()).Set(1)
	return bi
}

// Register adds a service's own metrics: the domain's instruments live
// with the service that knows what they mean.
func (r *Registry) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := r.reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// ReadFailed counts a scrape-time read of a service's source that failed,
// so its samples are missing (ordermesh_metrics_collection_errors_total),
// and logs which read failed and why, at most once a minute per source.
func (r *Registry) ReadFailed(service, source string, err error) { r.dbs.failed(service, source, err) }

// ReadsFrom starts the failed-read count of a service's scrape-time
// source at 0, so that its first failure is an increase.
func (r *Registry) ReadsFrom(service, source string) { r.dbs.countFailures(service, source) }

// Observe records v in h with the trace of ctx as exemplar when the trace
// is sampled, so that a latency spike on a dashboard links to a trace.
func Observe(ctx context.Context, h prometheus.Observer, v float64) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		if eo, ok := h.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": sc.TraceID().String()})
			return
		}
	}
	h.Observe(v)
}

// Handler serves /metrics, in the OpenMetrics format (which carries
// exemplars) to scrapers that ask for it.
func (r *Registry) Handler() http.Handler { return Handler(r.reg) }

// RPCs is how many RPCs the process has handled so far, unary and
// streaming, every service and code: what bench-saga divides by orders.
func (r *Registry) RPCs() (float64, error) {
	return r.sum("ordermesh_rpc_requests_total", "ordermesh_rpc_streams_total")
}

// RoundTrips is how many round trips each of the process's services has
// made to its database so far, by service.
func (r *Registry) RoundTrips() (map[string]float64, error) {
	return r.ByService("ordermesh_db_round_trips_total")
}

// ByService adds up the counter name's series by their service label.
func (r *Registry) ByService(name string) (map[string]float64, error) {
	families, err := r.reg.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "service" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out, nil
}

// sum adds up every series of the named counters.
func (r *Registry) sum(names ...string) (float64, error) {
	families, err := r.reg.Gather()
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, f := range families {
		if !slices.Contains(names, f.GetName()) {
			continue
		}
		for _, m := range f.GetMetric() {
			total += m.GetCounter().GetValue()
		}
	}
	return total, nil
}

// Serve serves /metrics on addr until ctx is done.
func (r *Registry) Serve(ctx context.Context, addr string, pprof bool, log *slog.Logger) error {
	return Serve(ctx, r.reg, addr, pprof, log)
}

// Handler serves reg's metrics, in the OpenMetrics format (which carries
// exemplars) to scrapers that ask for it.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, EnableOpenMetrics: true})
}

// Serve serves reg's metrics at /metrics on addr until ctx is done; with
// pprof, the runtime profiles too, at /debug/pprof/. The admin port is not
// the public one, so profiles (which can be heavy to take) are never
// reachable through the gateway.
func Serve(ctx context.Context, reg *prometheus.Registry, addr string, pprof bool, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Handler(reg))
	if pprof {
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", httppprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
		log.Info("pprof served on the admin port", slog.String("addr", addr), slog.String("path", "/debug/pprof/"))
	}
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

// NewInterceptor records RED metrics for every RPC service handles: unary
// calls in the request counter and latency histogram, streams apart, since
// a stream's lifetime is not a latency.
func (r *Registry) NewInterceptor(service string) connect.Interceptor {
	return &interceptor{r: r, service: service}
}

type interceptor struct {
	r       *Registry
	service string
}

func code(err error) string {
	if err == nil {
		return "ok"
	}
	return connect.CodeOf(err).String()
}

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		start := time.Now()
		res, err := next(ctx, req)
		proc := req.Spec().Procedure
		i.r.RPCRequests.WithLabelValues(i.service, proc, code(err)).Inc()
		Observe(ctx, i.r.RPCDuration.WithLabelValues(i.service, proc), time.Since(start).Seconds())
		return res, err
	}
}

func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		proc := conn.Spec().Procedure
		active := i.r.StreamsActive.WithLabelValues(i.service, proc)
		active.Inc()
		defer active.Dec()
		start := time.Now()
		err := next(ctx, conn)
		i.r.StreamRequests.WithLabelValues(i.service, proc, code(err)).Inc()
		i.r.StreamDuration.WithLabelValues(i.service, proc).Observe(time.Since(start).Seconds())
		return err
	}
}

// AddDatabase adds a service's database to what /metrics reports: its
// pool and its outbox, with a series for each of its subscribers.
func (r *Registry) AddDatabase(service string, pool *pgxpool.Pool, subscribers []string) {
	r.dbs.add(service, pool, subscribers)
}

// SetHealth sets where the serving gauge reads from: the health checker's
// cached probe results.
func (r *Registry) SetHealth(f func(ctx context.Context) map[string]bool) { r.dbs.serving.Store(&f) }
