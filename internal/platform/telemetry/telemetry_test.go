package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermesh/ordermesh/internal/platform/telemetry"
)

// Without an exporter nothing is recorded, but every request still gets a
// trace id for the logs.
func TestWithoutExportSpansHaveIDsButAreNotRecorded(t *testing.T) {
	tel, err := telemetry.Setup(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), telemetry.Config{}, "order")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tel.Shutdown(context.Background()) }()
	_, span := tel.TracerProvider("order").Tracer("t").Start(context.Background(), "PlaceOrder")
	defer span.End()
	if sc := span.SpanContext(); !sc.TraceID().IsValid() || sc.IsSampled() || span.IsRecording() {
		t.Errorf("span: trace id valid=%v, sampled=%v, recording=%v; want a valid id, neither sampled nor recorded",
			sc.TraceID().IsValid(), sc.IsSampled(), span.IsRecording())
	}
	if tel.Profiling() {
		t.Error("profiling is on without PYROSCOPE_SERVER_ADDRESS")
	}
}

// Work wrapped for a service carries its name as a profile label.
func TestProfileLabelsNameTheService(t *testing.T) {
	_, wrap := telemetry.ProfileLabels("inventory")
	var got string
	err := wrap(func(ctx context.Context) error {
		got, _ = pprof.Label(ctx, telemetry.ProfileLabel)
		return nil
	})(context.Background())
	if err != nil || got != "inventory" {
		t.Errorf("label %s = %q (%v), want inventory", telemetry.ProfileLabel, got, err)
	}
}

// A root sampler decides for the roots of traces; a span whose parent was
// sampled elsewhere is recorded whatever it says, so a trace is never
// recorded in part.
func TestRootSamplerDecidesRootsAndChildrenFollow(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	ctx := context.Background()
	cfg := telemetry.Config{Endpoint: srv.URL}.WithRootSampler(sdktrace.NeverSample())
	tel, err := telemetry.Setup(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, "order")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tel.Shutdown(ctx) }()
	tracer := tel.TracerProvider("order").Tracer("t")
	_, root := tracer.Start(ctx, "PlaceOrder")
	root.End()
	if root.IsRecording() || root.SpanContext().IsSampled() {
		t.Error("a root was recorded although the root sampler never samples")
	}
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true})
	_, child := tracer.Start(trace.ContextWithRemoteSpanContext(ctx, parent), "consume")
	defer child.End()
	if !child.IsRecording() {
		t.Error("a span whose remote parent was sampled was not recorded")
	}
}

// A stored traceparent gives its trace id; anything else gives none.
func TestTraceIDOf(t *testing.T) {
	for in, want := range map[string]string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": "4bf92f3577b34da6a3ce929d0e0e4736",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00": "4bf92f3577b34da6a3ce929d0e0e4736",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01": "",
		"not a traceparent": "",
		"":                  "",
	} {
		if got := telemetry.TraceIDOf(in); got != want {
			t.Errorf("TraceIDOf(%q) = %q, want %q", in, got, want)
		}
	}
}
