package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

// gatedExporter holds every export until it is opened, like a collector
// that stalls, and keeps what it received.
type gatedExporter struct {
	mu       sync.Mutex
	names    []string
	inExport int
	open     chan struct{}
	err      error
}

func (g *gatedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	g.mu.Lock()
	g.inExport++
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return g.err
	}
	for _, s := range spans {
		g.names = append(g.names, s.Name())
	}
	return nil
}

func (g *gatedExporter) Shutdown(context.Context) error { return nil }

func (g *gatedExporter) received() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.names...)
}

func (g *gatedExporter) exporting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inExport
}

// counts is a QueueStats that remembers the counts.
type counts struct {
	mu       sync.Mutex
	exported int
	dropped  map[string]int // class/cause
	exports  map[string]int // result
}

func newCounts() *counts { return &counts{dropped: map[string]int{}, exports: map[string]int{}} }

func (c *counts) Exported(_ string, n int) { c.mu.Lock(); c.exported += n; c.mu.Unlock() }
func (c *counts) Dropped(_, class, cause string, n int) {
	c.mu.Lock()
	c.dropped[class+"/"+cause] += n
	c.mu.Unlock()
}
func (c *counts) Export(_, result string, _ time.Duration) {
	c.mu.Lock()
	c.exports[result]++
	c.mu.Unlock()
}
func (c *counts) Queued(string, int) {}

func (c *counts) get() (int, map[string]int, map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, e := map[string]int{}, map[string]int{}
	for k, v := range c.dropped {
		if v > 0 {
			d[k] = v
		}
	}
	for k, v := range c.exports {
		e[k] = v
	}
	return c.exported, d, e
}

// With the collector stalled and the queue full, a root displaces a detail
// span, a detail span is dropped, and every loss is counted; once the
// collector answers, everything kept is exported.
func TestFullQueueShedsDetailBeforeRoots(t *testing.T) {
	t.Parallel()
	exp := &gatedExporter{open: make(chan struct{})}
	stats := newCounts()
	q := newQueue("order", exp, QueueConfig{MaxQueue: 4, MaxBatch: 2, Delay: time.Hour, Timeout: time.Minute, SlowAfter: time.Hour}, stats, slog.New(slog.DiscardHandler))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(q))
	tr := tp.Tracer("t")

	ctx, root := tr.Start(context.Background(), "PlaceOrder")
	child := func(name string) {
		_, s := tr.Start(ctx, name)
		s.End()
	}
	// A full batch starts an export, which the collector holds.
	child("sql 1")
	child("sql 2")
	wait.Until(t, 5*time.Second, time.Millisecond, func() error {
		if exp.exporting() == 0 {
			return errors.New("no export began after a full batch")
		}
		return nil
	})
	// The queue fills with detail; the root displaces the oldest; one
	// more detail span has no room.
	for _, n := range []string{"sql 3", "sql 4", "sql 5", "sql 6"} {
		child(n)
	}
	root.End()
	child("sql 7")
	_, dropped, _ := stats.get()
	if want := map[string]int{"detail/queue_full": 2}; !equal(dropped, want) {
		t.Errorf("dropped %v, want %v", dropped, want)
	}

	close(exp.open)
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(exp.received(), ",")
	if got != "sql 1,sql 2,PlaceOrder,sql 4,sql 5,sql 6" {
		t.Errorf("exported %s; want the first batch, then the root and the detail spans kept", got)
	}
	if exported, _, exports := stats.get(); exported != 6 || exports["ok"] != 3 {
		t.Errorf("counted %d spans exported in %v; want 6 in 3 ok exports", exported, exports)
	}
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A collector that refuses an export loses its spans: they are counted by
// class, and the failure is logged once a minute, not once an export.
func TestFailedExportsAreCountedAndLoggedOnce(t *testing.T) {
	t.Parallel()
	exp := &gatedExporter{open: make(chan struct{}), err: errors.New("connection refused")}
	close(exp.open)
	stats := newCounts()
	var logs bytes.Buffer
	q := newQueue("payment", exp, QueueConfig{MaxQueue: 100, MaxBatch: 10, Delay: time.Hour, Timeout: time.Minute, SlowAfter: time.Hour}, stats, slog.New(slog.NewJSONHandler(&logs, nil)))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(q))
	tr := tp.Tracer("t")
	for range 2 {
		ctx, root := tr.Start(context.Background(), "Deliver", trace.WithSpanKind(trace.SpanKindServer))
		_, s := tr.Start(ctx, "sql")
		s.End()
		root.End()
		if err := tp.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	exported, dropped, exports := stats.get()
	if want := map[string]int{"root/export_failed": 2, "detail/export_failed": 2}; exported != 0 || !equal(dropped, want) || exports["failed"] != 2 {
		t.Errorf("exported %d, dropped %v, exports %v; want 0, %v, 2 failed", exported, dropped, exports, want)
	}
	if lines := strings.Count(logs.String(), "telemetry export failed"); lines != 1 || !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("log, want one line with the cause:\n%s", logs.String())
	}
	_ = tp.Shutdown(context.Background())
}

func equal(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
