package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"runtime/pprof"
	"testing"

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
