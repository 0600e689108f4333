// Package telemetry configures OpenTelemetry from the standard OTEL_*
// environment variables and builds the otelconnect interceptors. With no
// exporter configured it installs nothing, so tracing costs nothing, but
// W3C trace context still propagates through the mesh.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	otelpyroscope "github.com/grafana/otel-profiling-go"
	"github.com/grafana/pyroscope-go"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// Version is the build's version, stamped by `make images` with -ldflags
// -X; it becomes the service.version resource attribute.
var Version = "dev"

// Enabled reports whether the environment asks for trace export.
func Enabled() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		if v := os.Getenv(k); v != "" && v != "none" {
			return true
		}
	}
	return false
}

// Setup installs the global propagator and, when Enabled, a tracer provider
// exporting as the OTEL_* variables say; with PYROSCOPE_SERVER_ADDRESS set it
// also starts continuous profiling, with span profiles linked to traces.
// The returned function flushes and stops both.
func Setup(ctx context.Context, serviceName string) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	stopProfiling, err := startProfiling(serviceName)
	if err != nil {
		return nil, err
	}
	if !Enabled() {
		return stopProfiling, nil
	}
	exporter, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("telemetry: span exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(serviceName), semconv.ServiceVersion(Version)))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	// Variables win over the default name, as the specification says.
	if envRes, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, envRes); err == nil {
			res = merged
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	if os.Getenv("PYROSCOPE_SERVER_ADDRESS") != "" {
		// Tags each span's CPU samples with its span id, so Grafana links
		// a trace to its profile.
		otel.SetTracerProvider(otelpyroscope.NewTracerProvider(tp))
	} else {
		otel.SetTracerProvider(tp)
	}
	return func(ctx context.Context) error {
		return errors.Join(tp.Shutdown(ctx), stopProfiling(ctx))
	}, nil
}

// startProfiling starts pyroscope-go when PYROSCOPE_SERVER_ADDRESS is set;
// otherwise it does nothing and costs nothing.
func startProfiling(serviceName string) (func(context.Context) error, error) {
	addr := os.Getenv("PYROSCOPE_SERVER_ADDRESS")
	if addr == "" {
		return func(context.Context) error { return nil }, nil
	}
	p, err := pyroscope.Start(pyroscope.Config{
		ApplicationName:   serviceName,
		ServerAddress:     addr,
		BasicAuthUser:     os.Getenv("PYROSCOPE_BASIC_AUTH_USER"),
		BasicAuthPassword: os.Getenv("PYROSCOPE_BASIC_AUTH_PASSWORD"),
		Tags:              map[string]string{"service_name": serviceName},
		ProfileTypes: []pyroscope.ProfileType{
			pyroscope.ProfileCPU, pyroscope.ProfileAllocSpace, pyroscope.ProfileInuseSpace,
			pyroscope.ProfileGoroutines, pyroscope.ProfileMutexDuration, pyroscope.ProfileBlockDuration,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry: pyroscope: %w", err)
	}
	return func(context.Context) error { return p.Stop() }, nil
}

// ServerInterceptor traces and measures every handled RPC. Inside the mesh
// remote spans are trusted, so a checkout stays one trace.
func ServerInterceptor() (connect.Interceptor, error) {
	return otelconnect.NewInterceptor(otelconnect.WithTrustRemote())
}

// ClientInterceptor traces every outgoing RPC and injects trace context.
func ClientInterceptor() (connect.Interceptor, error) {
	return otelconnect.NewInterceptor()
}
