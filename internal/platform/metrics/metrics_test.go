package metrics_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
	"github.com/ordermesh/ordermesh/internal/platform/metrics"
	eventssql "github.com/ordermesh/ordermesh/sqlc/events"
)

func get(t *testing.T, h http.Handler, accept string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Body.String()
}

// A latency observed in a sampled trace carries the trace id as exemplar
// in the OpenMetrics exposition, so a dashboard links a spike to a trace.
func TestHistogramsCarryTraceExemplars(t *testing.T) {
	t.Parallel()
	reg := metrics.New("test", slog.New(slog.DiscardHandler))
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "test_latency_seconds", Help: "A latency.", Buckets: []float64{.001, .005, .01}})
	if err := reg.Register(latency); err != nil {
		t.Fatal(err)
	}
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sampled := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	metrics.Observe(sampled, latency, 0.003)
	metrics.Observe(context.Background(), latency, 0.004) // no trace: no exemplar

	out := get(t, reg.Handler(), "application/openmetrics-text; version=1.0.0")
	if n := strings.Count(out, `# {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.003`); n != 1 {
		t.Errorf("%d exemplars with the trace id, want 1 on the 0.005 bucket:\n%s", n, grep(out, "test_latency_seconds"))
	}
	if strings.Count(out, "# {trace_id=") != 1 {
		t.Errorf("an observation without a sampled trace got an exemplar:\n%s", grep(out, "trace_id"))
	}
}

// A database that cannot be read reports no outbox samples, never a
// misleading 0, counts the failed read, and logs which read failed and
// why, once for two scrapes in a row.
func TestUnreadableOutboxReportsNoSample(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, eventssql.Migrations)
	var logs bytes.Buffer
	reg := metrics.New("test", slog.New(slog.NewJSONHandler(&logs, nil)))
	reg.AddDatabase("order", d.Pool, []string{"inventory"})
	d.Pool.Close()
	get(t, reg.Handler(), "")
	out := get(t, reg.Handler(), "")
	for _, name := range []string{"ordermesh_outbox_pending{", "ordermesh_outbox_oldest_pending_seconds{", "ordermesh_outbox_parked{"} {
		if strings.Contains(out, name) {
			t.Errorf("%s has samples for an unreadable database:\n%s", name, grep(out, name))
		}
	}
	if want := `ordermesh_metrics_collection_errors_total{service="order",source="outbox"} 2`; !strings.Contains(out, want) {
		t.Errorf("no %s in:\n%s", want, grep(out, "collection_errors"))
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"msg":"metrics read failed`) || !strings.Contains(lines[0], `"service":"order","source":"outbox"`) ||
		!strings.Contains(lines[0], "closed pool") {
		t.Errorf("log after two failed scrapes, want one line naming the read and its cause:\n%s", logs.String())
	}
}

func grep(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
