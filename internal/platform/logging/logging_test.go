package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermesh/ordermesh/internal/platform/logging"
)

func TestLinesHaveOneValuePerKey(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, "ordermesh", slog.LevelInfo).With("service", "ordermesh-inventory", "service", "ordermesh-order")
	tid, _ := trace.TraceIDFromHex("0123456789abcdef0123456789abcdef")
	sid, _ := trace.SpanIDFromHex("0123456789abcdef")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	log.InfoContext(ctx, "order confirmed", "order_id", "o-1", "order_id", "o-2", "age", 1500*time.Millisecond, "trace_id", "forged")
	log.DebugContext(ctx, "not at info")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines written, want 1 (debug is off): %q", len(lines), buf.String())
	}
	// A decoder keeps the last of repeated keys, so count them in the text.
	for _, key := range []string{`"service":`, `"order_id":`, `"trace_id":`} {
		if n := strings.Count(lines[0], key); n != 1 {
			t.Errorf("%s appears %d times in %s", key, n, lines[0])
		}
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	delete(got, "time")
	want := map[string]any{
		"level": "INFO", "msg": "order confirmed", "service": "ordermesh-order", "order_id": "o-2", "age": 1.5,
		"trace_id": "0123456789abcdef0123456789abcdef", "span_id": "0123456789abcdef",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("line (-want +got):\n%s", diff)
	}
}
