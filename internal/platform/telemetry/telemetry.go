// Package telemetry configures OpenTelemetry from the standard OTEL_*
// environment variables and builds the otelconnect interceptors. Every
// service gets a tracer provider of its own, with service.name
// ordermesh-<service>, also when several services share one process, so a
// trace shows which service did what. With no exporter configured it
// installs nothing, so tracing costs nothing, but W3C trace context still
// propagates through the mesh.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	otelpyroscope "github.com/grafana/otel-profiling-go"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermesh/ordermesh/internal/platform/buildinfo"
)

// ServiceName is the service.name a service reports under:
// "order" reports as "ordermesh-order".
func ServiceName(service string) string { return "ordermesh-" + service }

// Telemetry is the tracing and profiling of one process.
type Telemetry struct {
	providers map[string]*sdktrace.TracerProvider
	wrapped   map[string]trace.TracerProvider
	profiler  *profiler
	metrics   *queueMetrics
}

// Setup installs the global propagator and, when cfg is Enabled, a tracer
// provider per service exporting as the OTEL_* variables say; with
// PYROSCOPE_SERVER_ADDRESS set it also starts continuous profiling, with
// each service's samples labelled with its name and span profiles linked
// to traces. services are short names ("order"); Shutdown flushes and
// stops everything.
func Setup(ctx context.Context, log *slog.Logger, cfg Config, services ...string) (*Telemetry, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	// The SDK's own errors go to our log, not through the standard
	// library's default logger. Failed exports are the span queues' to
	// count and log (queue.go).
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("telemetry error", slog.Any("error", err))
	}))
	t := &Telemetry{providers: map[string]*sdktrace.TracerProvider{}, wrapped: map[string]trace.TracerProvider{}, metrics: newQueueMetrics()}
	p, err := startProfiling(cfg, services)
	if err != nil {
		return nil, err
	}
	t.profiler = p
	for _, svc := range services {
		// The queue's series exist from the start, at 0 with tracing
		// off too: nothing is dropped then, and the alert on drops has
		// a series to read.
		t.metrics.start(svc)
		if !cfg.Enabled() {
			// Nothing is exported, but every request still gets a trace
			// id, so that log lines of one checkout can be joined across
			// the services. Spans are not recorded and cost next to
			// nothing.
			t.wrapped[svc] = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
			continue
		}
		tp, err := newProvider(ctx, svc, cfg, t.metrics, log)
		if err != nil {
			return nil, errors.Join(err, t.Shutdown(ctx))
		}
		t.providers[svc] = tp
		t.wrapped[svc] = tp
		if p != nil {
			// Tags each span's CPU samples with its span id, so Grafana
			// links a trace to its profile.
			t.wrapped[svc] = otelpyroscope.NewTracerProvider(tp)
		}
	}
	return t, nil
}

// newProvider returns a tracer provider with its own exporter behind its
// own queue, reporting as ordermesh-<service> unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES say otherwise (the variables win, as the
// specification says).
func newProvider(ctx context.Context, service string, cfg Config, stats QueueStats, log *slog.Logger) (*sdktrace.TracerProvider, error) {
	name := ServiceName(service)
	exporter, err := newExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("telemetry: span exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(name), semconv.ServiceNamespace("ordermesh"), semconv.ServiceVersion(buildinfo.Get().Version)))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	if envRes, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, envRes); err == nil {
			res = merged
		}
	}
	// The queue exports for the provider's whole life, past ctx, which only
	// sets it up.
	q := newQueue(service, exporter, cfg.Queue, stats, log) //nolint:contextcheck // see above
	opts := []sdktrace.TracerProviderOption{sdktrace.WithSpanProcessor(q), sdktrace.WithResource(res)}
	if cfg.rootSampler != nil {
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(cfg.rootSampler)))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// newExporter returns the mesh's own OTLP/HTTP exporter for what the
// OTEL_* variables ask of it (OTLP over HTTP with protobuf, the SDK's
// default), and the SDK's exporter for anything else.
func newExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	x, err := newOTLPHTTP(os.Getenv)
	switch {
	case err != nil:
		return nil, err
	case x != nil:
		return x, nil
	default:
		return autoexport.NewSpanExporter(ctx)
	}
}

// TracerProvider returns the tracer provider of service; for a nil
// Telemetry or a service it was not set up for, the global one (a no-op
// unless a test installed one).
func (t *Telemetry) TracerProvider(service string) trace.TracerProvider {
	if t != nil {
		if tp, ok := t.wrapped[service]; ok {
			return tp
		}
	}
	return otel.GetTracerProvider()
}

// Collectors are the metrics of the span queues, for the process's
// registry; none for a nil Telemetry.
func (t *Telemetry) Collectors() []prometheus.Collector {
	if t == nil {
		return nil
	}
	return t.metrics.collectors()
}

// Shutdown flushes every provider's spans and stops profiling.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	var errs []error
	for _, tp := range t.providers {
		errs = append(errs, tp.Shutdown(ctx))
	}
	errs = append(errs, t.profiler.stop())
	return errors.Join(errs...)
}

// ServerInterceptor traces every RPC a service handles with tp. Inside the
// mesh remote spans are trusted, so a checkout stays one trace. A server
// error (Internal, Unavailable, DeadlineExceeded, ...) sets the span's
// status to Error; a client's mistake does not.
func ServerInterceptor(tp trace.TracerProvider) (connect.Interceptor, error) {
	return otelconnect.NewInterceptor(otelconnect.WithTrustRemote(), otelconnect.WithTracerProvider(tp), otelconnect.WithoutMetrics())
}

// ClientInterceptor traces every RPC a service makes with tp and injects
// trace context.
func ClientInterceptor(tp trace.TracerProvider) (connect.Interceptor, error) {
	return otelconnect.NewInterceptor(otelconnect.WithTracerProvider(tp), otelconnect.WithoutMetrics())
}

// TraceParent returns the W3C traceparent of the span in ctx, "" when
// there is none, to store with what outlives the request.
func TraceParent(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier["traceparent"]
}

// ContextWithTraceParent returns ctx carrying traceparent as its remote
// parent span, so that a span started from it continues that trace.
func ContextWithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// TraceIDOf returns the trace id of a W3C traceparent
// ("00-<trace id>-<span id>-<flags>") as 32 hex digits, "" when
// traceparent holds none.
func TraceIDOf(traceparent string) string {
	fields := strings.Split(traceparent, "-")
	if len(fields) != 4 {
		return ""
	}
	id, err := trace.TraceIDFromHex(fields[1]) // refuses a wrong length, non-hex and all zeros
	if err != nil {
		return ""
	}
	return id.String()
}
