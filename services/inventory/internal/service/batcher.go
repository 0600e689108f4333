package service

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// Batcher is Inventory's hot path. Requests queue while one batch's
// transaction is in flight; when it commits, the next batch takes
// everything queued, up to MaxBatch. There is no waiting window: a lone
// request is served at once, and under load batches grow by themselves.
//
// Submit never waits for the database, only for its own answer. A caller
// that gives up (context cancelled or timed out) gets its context's error
// at once, but its request stays queued: if its batch commits, the
// reservation stands, and the saga (or the Reserve caller's retry, which
// returns the first result) or Inventory's expiry takes care of it. Nothing
// is ever half-written: a batch commits whole or not at all.
type Batcher struct {
	store    Storer
	maxBatch int
	maxQueue int
	log      *slog.Logger

	mu      sync.Mutex
	queue   []*pending
	wake    chan struct{}
	closed  bool
	drained chan struct{}

	// Observer, if set, sees each batch's size and duration; ctx carries
	// the batch's span.
	Observer func(ctx context.Context, size int, took time.Duration)
	// Answered, if set, sees each request's outcome: reserved, rejected or
	// error.
	Answered func(outcome string)
	// Tracer makes the batches' spans; the global provider's by default.
	Tracer trace.Tracer
}

type pending struct {
	req  Request
	span trace.Span // the caller's span: the batch links to it, and it to the batch
	done chan Outcome
}

// Instrumentation names Inventory's tracer.
const Instrumentation = "github.com/ordermesh/ordermesh/services/inventory"

// ErrOverloaded and ErrStopped refuse requests the batcher cannot queue.
var (
	ErrOverloaded = rpcerr.New(rpcerr.KindExhausted, "inventory is overloaded; retry shortly")
	ErrStopped    = rpcerr.New(rpcerr.KindUnavailable, "inventory is shutting down; retry on another instance")
)

// NewBatcher returns a batcher over store. Run must be running for it to
// serve.
func NewBatcher(store Storer, maxBatch, maxQueue int, log *slog.Logger) *Batcher {
	return &Batcher{store: store, maxBatch: max(maxBatch, 1), maxQueue: max(maxQueue, 1), log: log,
		wake: make(chan struct{}, 1), drained: make(chan struct{}), Tracer: otel.Tracer(Instrumentation)}
}

// Queued returns how many requests wait for a batch.
func (b *Batcher) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// Submit queues r and waits for its outcome or for ctx. The request's
// outcome event, if any, continues the trace of ctx.
func (b *Batcher) Submit(ctx context.Context, r Request) Outcome {
	span := trace.SpanFromContext(ctx)
	r.Trace = span.SpanContext()
	p := &pending{req: r, span: span, done: make(chan Outcome, 1)}
	b.mu.Lock()
	switch {
	case b.closed:
		b.mu.Unlock()
		return Outcome{Err: ErrStopped}
	case len(b.queue) >= b.maxQueue:
		b.mu.Unlock()
		return Outcome{Err: ErrOverloaded}
	}
	b.queue = append(b.queue, p)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	select {
	case o := <-p.done:
		return o
	case <-ctx.Done():
		return Outcome{Err: ctx.Err()}
	}
}

// Run serves batches until ctx is done, then refuses new requests, drains
// what is queued, and returns.
func (b *Batcher) Run(ctx context.Context) error {
	defer close(b.drained)
	for {
		batch := b.take()
		if len(batch) > 0 {
			b.serve(context.WithoutCancel(ctx), batch)
			continue
		}
		select {
		case <-ctx.Done():
			b.mu.Lock()
			b.closed = true
			b.mu.Unlock()
			for batch := b.take(); len(batch) > 0; batch = b.take() {
				b.serve(context.WithoutCancel(ctx), batch)
			}
			return nil
		case <-b.wake:
		}
	}
}

func (b *Batcher) take() []*pending {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.queue), b.maxBatch)
	batch := b.queue[:n:n]
	b.queue = b.queue[n:]
	return batch
}

// serve runs one batch in one transaction and answers every waiter. A
// failed transaction is answered per waiter; the batcher goes on.
func (b *Batcher) serve(ctx context.Context, batch []*pending) {
	start := time.Now()
	reqs := make([]Request, len(batch))
	links := make([]trace.Link, 0, len(batch))
	for i, p := range batch {
		reqs[i] = p.req
		if p.req.Trace.IsValid() {
			links = append(links, trace.Link{SpanContext: p.req.Trace, Attributes: []attribute.KeyValue{
				attribute.String("ordermesh.order_id", p.req.OrderID)}})
		}
	}
	// One span per batch, linked to the span of every request it serves.
	// A batch that serves one request sits in that request's trace; a
	// larger one is a trace of its own, so that no order's trace holds
	// another order's work. Each request's span links back to its batch.
	opts := []trace.SpanStartOption{trace.WithLinks(links...), trace.WithAttributes(attribute.Int("ordermesh.batch.size", len(batch)))}
	if len(batch) == 1 && batch[0].req.Trace.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, batch[0].req.Trace)
	} else {
		opts = append(opts, trace.WithNewRoot())
	}
	ctx, span := b.Tracer.Start(ctx, "inventory.reserve_batch", opts...)
	defer span.End()
	if len(batch) == 1 && batch[0].req.Trace.IsValid() {
		reqs[0].Trace = span.SpanContext() // its outcome follows from the batch
	} else {
		for _, p := range batch {
			p.span.AddLink(trace.Link{SpanContext: span.SpanContext()})
			p.span.AddEvent("served by a reservation batch", trace.WithAttributes(attribute.Int("ordermesh.batch.size", len(batch))))
		}
	}
	var outcomes []Outcome
	attempt := 0
	err := b.store.InBatch(ctx, func(tx BatchTx) error {
		attempt++
		var err error
		outcomes, err = allocate(ctx, tx, slices.Clone(reqs), attempt > 1)
		return err
	})
	if b.Observer != nil {
		b.Observer(ctx, len(batch), time.Since(start))
	}
	for i, p := range batch {
		o := Outcome{Err: errors.Join(errBatchFailed, err)}
		if err == nil {
			o = outcomes[i]
		}
		if b.Answered != nil {
			switch {
			case o.Err != nil:
				b.Answered("error")
			case o.Reserved:
				b.Answered("reserved")
			case !o.Duplicate:
				b.Answered("rejected")
			}
		}
		p.done <- o
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "reservation batch failed")
		b.log.WarnContext(ctx, "reservation batch failed", slog.Int("size", len(batch)), slog.Any("error", err))
	}
}

var errBatchFailed = errors.New("reservation batch failed")
