package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/events/eventsdb"
)

// RelayConfig tunes delivery.
type RelayConfig struct {
	Batch        int           `env:"RELAY_BATCH" default:"200" usage:"deliveries claimed per round"`
	Workers      int           `env:"RELAY_WORKERS" default:"1" usage:"rounds in flight at once per instance; more than 1 lets batches to one consumer overlap (see docs/decisions.md)"`
	MaxAttempts  int           `env:"RELAY_MAX_ATTEMPTS" default:"10" usage:"attempts before a delivery is parked"`
	BackoffBase  time.Duration `env:"RELAY_BACKOFF_BASE" default:"200ms" usage:"first retry delay; doubles per attempt, with jitter"`
	BackoffMax   time.Duration `env:"RELAY_BACKOFF_MAX" default:"1m" usage:"longest retry delay"`
	PollInterval time.Duration `env:"RELAY_POLL_INTERVAL" default:"2s" usage:"how often to look for work when no NOTIFY arrives"`
	Timeout      time.Duration `env:"RELAY_DELIVERY_TIMEOUT" default:"10s" usage:"time a subscriber gets to take a batch"`
}

// Sinks returns the event sink client of a subscriber, or false when the
// subscriber has no endpoint.
type Sinks func(subscriber string) (eventsv1connect.EventSinkServiceClient, bool)

// Relay delivers a producer's outbox to its subscribers.
type Relay struct {
	producer string
	pool     *pgxpool.Pool
	sinks    Sinks
	cfg      RelayConfig
	log      *slog.Logger
	tracer   trace.Tracer

	// Observe, if set, counts delivery attempts per subscriber and result:
	// delivered, failed or parked.
	Observe func(subscriber, result string, n int)
}

// NewRelay returns the relay of producer's outbox in pool. Each delivery
// to a subscriber is a span of tp (the global provider when nil), linked to
// the trace of every event it carries.
func NewRelay(producer string, pool *pgxpool.Pool, sinks Sinks, cfg RelayConfig, log *slog.Logger, tp trace.TracerProvider) *Relay {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return &Relay{producer: producer, pool: pool, sinks: sinks, cfg: cfg, log: log, tracer: tp.Tracer(instrumentation)}
}

// Run delivers until ctx is done with Workers rounds in flight at once, so
// that one slow subscriber or a long batch does not hold up what was
// committed after it. Each worker wakes on NOTIFY, on the next retry
// falling due, and every PollInterval as a fallback.
func (r *Relay) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	go db.Listen(ctx, r.pool, NotifyChannel, r.log, func(string) {
		select {
		case wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	})
	var wg sync.WaitGroup
	for range max(r.cfg.Workers, 1) {
		wg.Go(func() { r.work(ctx, wake) })
	}
	wg.Wait()
	return nil
}

func (r *Relay) work(ctx context.Context, wake chan struct{}) {
	for {
		n, err := r.DeliverOnce(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "relay round failed", slog.Any("error", err))
		}
		if n >= r.cfg.Batch {
			continue // more work is waiting
		}
		// Retries fall due without a NOTIFY: look when the next one is,
		// but only after a quiet round, to keep busy rounds cheap.
		wait := r.cfg.PollInterval
		if n == 0 {
			if due, err := eventsdb.New(r.pool).NextAttempt(ctx); err == nil {
				wait = min(wait, max(time.Until(due), time.Millisecond))
			}
		} else {
			wait = min(wait, r.cfg.BackoffBase)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

type claimed struct {
	eventID  uuid.UUID
	attempts int32
	env      *eventsv1.Envelope
}

// DeliverOnce claims one batch of due deliveries, hands them to their
// subscribers and records the outcome, all in one transaction: a relay
// that dies midway leaves its rows pending for the next one. It returns
// how many deliveries it claimed.
func (r *Relay) DeliverOnce(ctx context.Context) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		q := eventsdb.New(tx)
		rows, err := q.ClaimDeliveries(ctx, int32(r.cfg.Batch))
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		n = len(rows)
		bySub := map[string][]claimed{}
		for _, row := range rows {
			env := &eventsv1.Envelope{}
			if err := proto.Unmarshal(row.Envelope, env); err != nil {
				return fmt.Errorf("decode event %s: %w", row.EventID, err)
			}
			bySub[row.Subscriber] = append(bySub[row.Subscriber], claimed{row.EventID, row.Attempts, env})
		}
		type outcome struct {
			sub    string
			span   trace.Span
			failed map[string]failure // event id → why
		}
		outcomes := make(chan outcome, len(bySub))
		var wg sync.WaitGroup
		for sub, batch := range bySub {
			wg.Go(func() {
				span := r.startDelivery(ctx, sub, batch)
				outcomes <- outcome{sub, span, r.deliver(trace.ContextWithSpan(ctx, span), sub, batch)}
			})
		}
		wg.Wait()
		close(outcomes)
		var errs []error
		for o := range outcomes {
			err := r.record(trace.ContextWithSpan(ctx, o.span), q, o.sub, bySub[o.sub], o.failed)
			endDelivery(o.span, len(bySub[o.sub]), o.failed, err)
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	return n, err
}

// startDelivery starts the span of one delivery: a root of its own, since
// a batch serves many orders, linked to the trace of every event in it.
func (r *Relay) startDelivery(ctx context.Context, sub string, batch []claimed) trace.Span {
	links := make([]trace.Link, 0, len(batch))
	attempt := 0
	for _, c := range batch {
		attempt = max(attempt, int(c.attempts)+1)
		if sc := trace.SpanContextFromContext(ContextFrom(ctx, c.env)); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{
				attribute.String("messaging.message.id", c.env.GetId()),
				attribute.String("ordermesh.order_id", c.env.GetOrderId()),
				attribute.Int("ordermesh.delivery.attempt", int(c.attempts)+1),
			}})
		}
	}
	_, span := r.tracer.Start(ctx, "deliver "+sub, trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithLinks(links...), trace.WithAttributes(
			attribute.String("messaging.system", "ordermesh"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", sub),
			attribute.Int("messaging.batch.message_count", len(batch)),
			attribute.String("ordermesh.producer", r.producer),
			attribute.String("ordermesh.subscriber", sub),
			attribute.Int("ordermesh.delivery.attempt", attempt),
		))
	return span
}

// endDelivery ends a delivery's span: an error when the subscriber failed
// any event or the outcome could not be recorded.
func endDelivery(span trace.Span, size int, failed map[string]failure, err error) {
	span.SetAttributes(attribute.Int("ordermesh.delivery.failed", len(failed)))
	switch {
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, "recording the delivery failed")
	case len(failed) > 0:
		span.SetStatus(codes.Error, fmt.Sprintf("%d of %d events not applied", len(failed), size))
	}
	span.End()
}

// failure is why a subscriber did not apply an event; a permanent one is
// parked at once, since retrying cannot help.
type failure struct {
	message   string
	permanent bool
}

// deliver sends one subscriber its batch and returns the events that were
// not applied, with why.
func (r *Relay) deliver(ctx context.Context, sub string, batch []claimed) map[string]failure {
	failed := map[string]failure{}
	client, ok := r.sinks(sub)
	if !ok {
		for _, c := range batch {
			failed[c.env.GetId()] = failure{message: fmt.Sprintf("no endpoint for subscriber %q", sub)}
		}
		return failed
	}
	envs := make([]*eventsv1.Envelope, len(batch))
	for i, c := range batch {
		envs[i] = c.env
	}
	dctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	res, err := client.Deliver(dctx, connect.NewRequest(&eventsv1.DeliverRequest{Events: envs}))
	if err != nil {
		msg := err.Error()
		var ce *connect.Error
		if errors.As(err, &ce) {
			msg = ce.Code().String() + ": " + ce.Message()
		}
		for _, c := range batch {
			failed[c.env.GetId()] = failure{message: msg}
		}
		return failed
	}
	for _, f := range res.Msg.GetFailures() {
		failed[f.GetEventId()] = failure{message: f.GetMessage(), permanent: f.GetPermanent()}
	}
	return failed
}

func (r *Relay) record(ctx context.Context, q *eventsdb.Queries, sub string, batch []claimed, failed map[string]failure) error {
	var delivered []uuid.UUID
	for _, c := range batch {
		f, bad := failed[c.env.GetId()]
		if !bad {
			delivered = append(delivered, c.eventID)
			continue
		}
		msg := f.message
		attempt := int(c.attempts) + 1
		if f.permanent || attempt >= r.cfg.MaxAttempts {
			r.observe(sub, "parked", 1)
			trace.SpanFromContext(ctx).AddEvent("delivery parked", trace.WithAttributes(
				attribute.String("messaging.message.id", c.env.GetId()), attribute.String("error", msg)))
			r.log.WarnContext(ContextFrom(ctx, c.env), "delivery parked", slog.String("event_id", c.env.GetId()), slog.String("subscriber", sub),
				slog.String("type", c.env.GetType().String()), slog.String("order_id", c.env.GetOrderId()), slog.String("error", msg))
			if err := q.MarkParked(ctx, eventsdb.MarkParkedParams{EventID: c.eventID, Subscriber: sub, LastError: msg}); err != nil {
				return fmt.Errorf("park: %w", err)
			}
			continue
		}
		r.observe(sub, "failed", 1)
		next := time.Now().Add(r.backoff(attempt))
		if err := q.MarkRetry(ctx, eventsdb.MarkRetryParams{EventID: c.eventID, Subscriber: sub, NextAttemptAt: next, LastError: msg}); err != nil {
			return fmt.Errorf("retry: %w", err)
		}
	}
	if len(delivered) > 0 {
		r.observe(sub, "delivered", len(delivered))
		if err := q.MarkDelivered(ctx, eventsdb.MarkDeliveredParams{EventIds: delivered, Subscriber: sub}); err != nil {
			return fmt.Errorf("mark delivered: %w", err)
		}
	}
	return nil
}

// backoff is exponential with equal jitter: between half and all of
// base·2^(attempt-1), capped at BackoffMax, so retries of many failed
// deliveries spread out instead of arriving together.
func (r *Relay) backoff(attempt int) time.Duration {
	ceiling := r.cfg.BackoffBase << min(attempt-1, 30)
	if ceiling <= 0 || ceiling > r.cfg.BackoffMax {
		ceiling = r.cfg.BackoffMax
	}
	return ceiling/2 + rand.N(ceiling/2+1) //nolint:gosec // jitter needs no cryptographic randomness
}

func (r *Relay) observe(sub, result string, n int) {
	if r.Observe != nil {
		r.Observe(sub, result, n)
	}
}
