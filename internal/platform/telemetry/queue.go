package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ordermesh/ordermesh/internal/platform/logging"
)

// QueueConfig sizes each service's span queue. The defaults hold the
// mesh's own peak (see docs/operations.md, "Telemetry"): the SDK's 2,048
// spans overflowed within a second when the collector slowed down.
type QueueConfig struct {
	MaxQueue  int           `env:"OTEL_BSP_MAX_QUEUE_SIZE" default:"16384" usage:"spans each service holds for export; past it, detail spans are dropped first (counted in ordermesh_telemetry_spans_dropped_total)"`
	MaxBatch  int           `env:"OTEL_BSP_MAX_EXPORT_BATCH_SIZE" default:"2048" usage:"spans sent in one export request"`
	Delay     time.Duration `env:"OTEL_BSP_SCHEDULE_DELAY" default:"1s" usage:"longest a span waits before its export starts, when fewer than a batch are queued"`
	Timeout   time.Duration `env:"OTEL_BSP_EXPORT_TIMEOUT" default:"10s" usage:"how long one export request may take before it is abandoned and its spans counted as failed"`
	SlowAfter time.Duration `env:"TELEMETRY_EXPORT_SLOW_AFTER" default:"1s" usage:"an export request taking longer counts as slow (ordermesh_telemetry_exports_total{result=\"slow\"})"`
}

// Dropped says why spans were lost.
const (
	// DroppedQueueFull: the queue was full of spans no less essential.
	DroppedQueueFull = "queue_full"
	// DroppedExportFailed: the collector refused the export or did not
	// answer in time.
	DroppedExportFailed = "export_failed"
)

// Span classes, most essential first: a full queue gives up detail to
// make room for a root.
const (
	// ClassRoot: a trace's root, an error, or a span that carries an
	// order's status: what the runbook's searches find an order by.
	ClassRoot = "root"
	// ClassDetail: everything else (SQL, inner RPCs, consumers).
	ClassDetail = "detail"
)

// QueueStats counts what a queue did; each method is called with the
// service and, where it applies, the class.
type QueueStats interface {
	Exported(service string, n int)
	Dropped(service, class, cause string, n int)
	Export(service, result string, took time.Duration)
	Queued(service string, n int)
}

// queue is a span processor like the SDK's batch processor, with two
// differences: when the queue is full a root-class span displaces a
// detail one (the SDK drops whatever arrives), and every span it does not
// export, every failed and slow export is counted (the SDK counts in
// silence, behind an experimental switch).
type queue struct {
	service  string
	exporter sdktrace.SpanExporter
	cfg      QueueConfig
	stats    QueueStats
	log      *slog.Logger

	mu     sync.Mutex
	roots  []sdktrace.ReadOnlySpan
	detail []sdktrace.ReadOnlySpan
	closed bool

	wake  chan struct{}
	flush chan chan struct{}
	stop  chan struct{}
	done  chan struct{}

	// Failed exports are logged once a minute, with the spans lost
	// meanwhile; only run's goroutine touches these.
	failures     logging.Throttle
	unloggedLost int
}

var _ sdktrace.SpanProcessor = (*queue)(nil)

func newQueue(service string, exporter sdktrace.SpanExporter, cfg QueueConfig, stats QueueStats, log *slog.Logger) *queue {
	cfg.MaxQueue = max(cfg.MaxQueue, 1)
	cfg.MaxBatch = min(max(cfg.MaxBatch, 1), cfg.MaxQueue)
	q := &queue{
		service: service, exporter: exporter, cfg: cfg, stats: stats, log: log, failures: logging.Throttle{Every: time.Minute},
		wake: make(chan struct{}, 1), flush: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go q.run()
	return q
}

// OnStart implements sdktrace.SpanProcessor.
func (q *queue) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd implements sdktrace.SpanProcessor: it queues s, or drops the
// least essential span when the queue is full.
func (q *queue) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	root := isRoot(s)
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	n := len(q.roots) + len(q.detail)
	switch {
	case n < q.cfg.MaxQueue && root:
		q.roots = append(q.roots, s)
	case n < q.cfg.MaxQueue:
		q.detail = append(q.detail, s)
	case root && len(q.detail) > 0:
		// The oldest detail span makes room; its trace loses a leaf
		// or an inner span, not its root.
		q.detail[0] = nil
		q.detail = q.detail[1:]
		q.roots = append(q.roots, s)
		q.mu.Unlock()
		q.stats.Dropped(q.service, ClassDetail, DroppedQueueFull, 1)
		return
	default:
		q.mu.Unlock()
		class := ClassDetail
		if root {
			class = ClassRoot
		}
		q.stats.Dropped(q.service, class, DroppedQueueFull, 1)
		return
	}
	full := n+1 >= q.cfg.MaxBatch
	q.mu.Unlock()
	if full {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// isRoot reports whether s is root class: a trace's root (no parent, or a
// parent in another process, which is where this service's part of a
// trace starts), a failed span, or a span that carries an order's status.
func isRoot(s sdktrace.ReadOnlySpan) bool {
	if p := s.Parent(); !p.IsValid() || p.IsRemote() {
		return true
	}
	if s.Status().Code == codes.Error {
		return true
	}
	for _, a := range s.Attributes() {
		if a.Key == "ordermesh.order.status" {
			return true
		}
	}
	return false
}

// run exports a batch when one is full or the delay has passed, and
// everything left when the queue stops.
func (q *queue) run() {
	defer close(q.done)
	t := time.NewTimer(q.cfg.Delay)
	defer t.Stop()
	for {
		select {
		case <-q.wake:
		case <-t.C:
		case ack := <-q.flush:
			for q.exportBatch() {
			}
			close(ack)
			continue
		case <-q.stop:
			for q.exportBatch() {
			}
			return
		}
		for q.exportBatch() {
			// A full batch went; another may be waiting.
		}
		t.Reset(q.cfg.Delay)
	}
}

// exportBatch exports up to a batch, roots first, and reports whether a
// full batch went (so another may be waiting).
func (q *queue) exportBatch() bool {
	q.mu.Lock()
	n := min(len(q.roots)+len(q.detail), q.cfg.MaxBatch)
	if n == 0 {
		q.mu.Unlock()
		q.stats.Queued(q.service, 0)
		return false
	}
	batch := make([]sdktrace.ReadOnlySpan, 0, n)
	take := min(len(q.roots), n)
	batch = append(batch, q.roots[:take]...)
	q.roots = shift(q.roots, take)
	rest := n - take
	batch = append(batch, q.detail[:rest]...)
	q.detail = shift(q.detail, rest)
	left := len(q.roots) + len(q.detail)
	q.mu.Unlock()
	q.stats.Queued(q.service, left)

	ctx, cancel := context.WithTimeout(context.Background(), q.cfg.Timeout)
	began := time.Now()
	err := q.exporter.ExportSpans(ctx, batch)
	cancel()
	took := time.Since(began)
	switch {
	case err != nil:
		q.stats.Export(q.service, "failed", took)
		// The batch is its roots first, then its detail.
		q.stats.Dropped(q.service, ClassRoot, DroppedExportFailed, take)
		q.stats.Dropped(q.service, ClassDetail, DroppedExportFailed, rest)
		q.logFailure(len(batch), err)
	case took > q.cfg.SlowAfter:
		q.stats.Export(q.service, "slow", took)
		q.stats.Exported(q.service, len(batch))
	default:
		q.stats.Export(q.service, "ok", took)
		q.stats.Exported(q.service, len(batch))
	}
	return n == q.cfg.MaxBatch
}

// shift drops the first n of s, letting the dropped spans be collected.
func shift(s []sdktrace.ReadOnlySpan, n int) []sdktrace.ReadOnlySpan {
	clear(s[:n])
	if n == len(s) {
		return s[:0]
	}
	return s[n:]
}

// ForceFlush implements sdktrace.SpanProcessor: it exports everything
// queued before it returns.
func (q *queue) ForceFlush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case q.flush <- ack:
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown implements sdktrace.SpanProcessor: it exports what is queued
// and shuts the exporter down.
func (q *queue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	already := q.closed
	q.closed = true
	q.mu.Unlock()
	if already {
		return nil
	}
	close(q.stop)
	select {
	case <-q.done:
	case <-ctx.Done():
		return errors.Join(ctx.Err(), q.exporter.Shutdown(ctx))
	}
	return q.exporter.Shutdown(ctx)
}

// logFailure logs a failed export of n spans, at most once a minute, with
// the failures and spans held back since the last line.
func (q *queue) logFailure(n int, err error) {
	skipped, ok := q.failures.Allow(time.Now())
	if !ok {
		q.unloggedLost += n
		return
	}
	q.log.Warn("telemetry export failed; its spans are lost", slog.String("service", q.service), slog.Int("spans", n),
		slog.Any("error", err), slog.Int("failed_unlogged", skipped), slog.Int("spans_unlogged", q.unloggedLost))
	q.unloggedLost = 0
}
