package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
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
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
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
	// Subscribers, if set, are the subscribers Run serves, each with
	// loops of its own; otherwise its loops serve every subscriber.
	Subscribers []string
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

// Run delivers until ctx is done. Each subscriber has its own Workers
// loops, which claim only its deliveries, so a stalled or failing
// subscriber delays only itself; without Subscribers, Workers loops serve
// them all. Each loop wakes on NOTIFY, on the next retry falling due, and
// every PollInterval as a fallback.
func (r *Relay) Run(ctx context.Context) error {
	subs := []*string{nil}
	if len(r.Subscribers) > 0 {
		subs = subs[:0]
		for _, s := range r.Subscribers {
			subs = append(subs, &s)
		}
	}
	type loop struct {
		sub  *string
		wake chan struct{}
	}
	var loops []loop
	for _, sub := range subs {
		for range max(r.cfg.Workers, 1) {
			loops = append(loops, loop{sub, make(chan struct{}, 1)})
		}
	}
	// A NOTIFY names the subscribers its events are for: only their loops
	// wake. One that names none (an operator's requeue) wakes them all.
	go db.Listen(ctx, r.pool, NotifyChannel, r.log, func(payload string) {
		named := strings.Split(payload, ",")
		for _, l := range loops {
			if payload != "" && l.sub != nil && !slices.Contains(named, *l.sub) {
				continue
			}
			select {
			case l.wake <- struct{}{}:
			default: // a wake-up is pending already
			}
		}
	})
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Go(func() { r.work(ctx, l.sub, l.wake) })
	}
	wg.Wait()
	return nil
}

// recordDelay bounds how long a round's outcomes wait for the next claim
// to carry them.
const recordDelay = 50 * time.Millisecond

// work runs rounds for sub until ctx is done. Between rounds it sleeps
// until a NOTIFY, the earliest retry it scheduled itself, or the poll
// interval, which also finds the retries of other relays (replicas). A
// round's outcomes are recorded by the next round's claim (within
// recordDelay), so a busy loop costs one statement a round.
func (r *Relay) work(ctx context.Context, sub *string, wake chan struct{}) {
	var retry time.Time // the earliest retry this loop has scheduled
	if due, err := eventsdb.New(r.pool).NextAttempt(ctx, sub); err == nil {
		retry = due
	}
	var owed []outcome // the last round's, for the next claim to record
	defer func() {
		if len(owed) > 0 {
			if err := r.recordAlone(context.WithoutCancel(ctx), owed); err != nil {
				r.log.WarnContext(ctx, "relay outcomes not recorded; their leases will end and they go again", slog.Any("error", err))
			}
		}
	}()
	for {
		began := time.Now()
		n, outs, next, err := r.deliverRound(ctx, sub, owed)
		if err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "relay round failed", slog.Any("error", err))
		}
		owed = outs
		if ctx.Err() != nil {
			return
		}
		if !retry.After(began) {
			retry = time.Time{} // fallen due: this round took it, or failed
		}
		if !next.IsZero() && (retry.IsZero() || next.Before(retry)) {
			retry = next
		}
		if err == nil && n >= r.cfg.Batch {
			continue // more is waiting: its claim records this round
		}
		wait := r.cfg.PollInterval
		switch {
		case err != nil:
			// The database is failing: try again after a pause, what is
			// owed with it.
			wait = min(wait, max(r.cfg.BackoffBase, 100*time.Millisecond))
		case slices.ContainsFunc(owed, func(o outcome) bool { return o.state != "delivered" }):
			// A failure is recorded at once: its retry time and its
			// parking are what an operator acts on.
			continue
		case len(owed) > 0:
			// Deliveries ride on the next claim, which the next NOTIFY
			// brings at once under load; when none comes they go after
			// recordDelay. Nothing waits for them but the bookkeeping: the
			// subscriber has applied the events.
			wait = min(wait, recordDelay)
		case !retry.IsZero():
			wait = min(wait, max(time.Until(retry), time.Millisecond))
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

// DeliverOnce runs one round for every subscriber: it claims a batch of
// due deliveries, hands each subscriber its share at once, and records
// the outcomes. It returns how many deliveries it claimed.
func (r *Relay) DeliverOnce(ctx context.Context) (int, error) {
	n, outs, _, err := r.deliverRound(ctx, nil, nil)
	if len(outs) > 0 {
		err = errors.Join(err, r.recordAlone(ctx, outs))
	}
	return n, err
}

// outcome is what a subscriber made of one claimed delivery, to record.
type outcome struct {
	eventID         uuid.UUID
	subscriber      string
	state, lastErr  string
	nextAttemptTime time.Time
	answered        time.Time          // when the subscriber's answer came
	env             *eventsv1.Envelope // for the log line of a parked one
}

// deliverRound is one round for sub, or for every subscriber when sub is
// nil: one statement records owed (the previous round's outcomes) and
// claims, in its own transaction and with a lease; the subscribers are
// called with no transaction open. It returns how many deliveries it
// claimed, their outcomes (to record), and the earliest retry among them
// (zero when none). When the claim fails, owed comes back unrecorded. A
// relay that dies midway leaves its claims to be taken again when their
// lease ends; one that stops gives them back.
func (r *Relay) deliverRound(ctx context.Context, sub *string, owed []outcome) (int, []outcome, time.Time, error) {
	q := eventsdb.New(r.pool)
	p := eventsdb.ClaimDeliveriesParams{Subscriber: sub, Batch: int32(r.cfg.Batch), LeaseSeconds: r.lease().Seconds()}
	p.RecordEventIds, p.RecordSubscribers, p.RecordStates, p.RecordNextAttempts, p.RecordErrors, p.RecordAnsweredAt = columns(owed)
	rows, err := q.ClaimDeliveries(ctx, p)
	if err != nil {
		return 0, owed, time.Time{}, fmt.Errorf("claim: %w", err)
	}
	r.recorded(ctx, owed)
	// Subscribers get an order's events in the order they were written.
	slices.SortFunc(rows, func(a, b eventsdb.ClaimDeliveriesRow) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return slices.Compare(a.EventID[:], b.EventID[:])
	})
	bySub := map[string][]claimed{}
	var errs []error
	for _, row := range rows {
		env := &eventsv1.Envelope{}
		if err := proto.Unmarshal(row.Envelope, env); err != nil {
			// Left claimed: it falls due again when the lease ends, and
			// the log says why it never goes.
			errs = append(errs, fmt.Errorf("decode event %s: %w", row.EventID, err))
			continue
		}
		bySub[row.Subscriber] = append(bySub[row.Subscriber], claimed{row.EventID, row.Attempts, env})
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var outs []outcome
	var next time.Time
	for s, batch := range bySub {
		wg.Go(func() {
			span := r.startDelivery(ctx, s, batch)
			sctx := trace.ContextWithSpan(ctx, span)
			failed := r.deliver(sctx, s, batch)
			var err error
			var got []outcome
			var retry time.Time
			if ctx.Err() != nil {
				// Stopping: what this subscriber may not have taken goes
				// back to the queue for the next relay, uncounted.
				err = errors.Join(ctx.Err(), r.release(sctx, q, s, batch))
			} else {
				got, retry = r.judge(sctx, s, batch, failed)
			}
			endDelivery(span, len(batch), failed, err)
			mu.Lock()
			defer mu.Unlock()
			errs, outs = append(errs, err), append(outs, got...)
			if !retry.IsZero() && (next.IsZero() || retry.Before(next)) {
				next = retry
			}
		})
	}
	wg.Wait()
	return len(rows), outs, next, errors.Join(errs...)
}

// columns turns outcomes into the arrays the statements take.
func columns(outs []outcome) (ids []uuid.UUID, subs, states []string, next []time.Time, errs []string, answered []time.Time) {
	for _, o := range outs {
		ids, subs, states = append(ids, o.eventID), append(subs, o.subscriber), append(states, o.state)
		next, errs, answered = append(next, o.nextAttemptTime), append(errs, o.lastErr), append(answered, o.answered)
	}
	return ids, subs, states, next, errs, answered
}

// recordAlone records outcomes with a statement of their own: what a
// stopping loop owes, and DeliverOnce's.
func (r *Relay) recordAlone(ctx context.Context, outs []outcome) error {
	var p eventsdb.RecordDeliveriesParams
	p.EventIds, p.Subscribers, p.States, p.NextAttempts, p.LastErrors, p.AnsweredAt = columns(outs)
	if err := eventsdb.New(r.pool).RecordDeliveries(ctx, p); err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	r.recorded(ctx, outs)
	return nil
}

// recorded logs each delivery outs parked, once the database says so: an
// operator who reads the line finds it parked, and can requeue it.
func (r *Relay) recorded(ctx context.Context, outs []outcome) {
	for _, o := range outs {
		if o.state == "parked" {
			r.log.WarnContext(ContextFrom(ctx, o.env), "delivery parked", slog.String("event_id", o.env.GetId()), slog.String("subscriber", o.subscriber),
				slog.String("type", o.env.GetType().String()), slog.String("order_id", o.env.GetOrderId()), slog.String("error", o.lastErr))
		}
	}
}

// lease is how long a claim keeps other relays off its deliveries: longer
// than a subscriber may take to answer.
func (r *Relay) lease() time.Duration { return 2*r.cfg.Timeout + time.Second }

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

// traceFailure records a failed delivery of c in its order's own trace: a
// span there, an error, linked to the delivery's batch span, so that the
// order's trace shows the attempt and a search by order id finds it
// (the batch span is a root of its own, which only links to orders).
func (r *Relay) traceFailure(ctx context.Context, sub string, c claimed, attempt int, msg string, parked bool) {
	outcome := "retry"
	if parked {
		outcome = "parked"
	}
	_, span := r.tracer.Start(ContextFrom(ctx, c.env), "deliver "+sub, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithLinks(trace.LinkFromContext(ctx)), trace.WithAttributes(
			attribute.String("messaging.system", "ordermesh"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", sub),
			attribute.String("messaging.message.id", c.env.GetId()),
			attribute.String("ordermesh.order_id", c.env.GetOrderId()),
			attribute.String("ordermesh.event.type", c.env.GetType().String()),
			attribute.String("ordermesh.producer", r.producer),
			attribute.String("ordermesh.subscriber", sub),
			attribute.Int("ordermesh.delivery.attempt", attempt),
			attribute.String("ordermesh.delivery.outcome", outcome),
		))
	span.SetStatus(codes.Error, msg)
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
		msg := rpcerr.Text(err)
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

// release gives sub's claimed batch back to the queue.
func (r *Relay) release(ctx context.Context, q *eventsdb.Queries, sub string, batch []claimed) error {
	ids := make([]uuid.UUID, len(batch))
	for i, c := range batch {
		ids[i] = c.eventID
	}
	if err := q.ReleaseClaims(context.WithoutCancel(ctx), eventsdb.ReleaseClaimsParams{EventIds: ids, Subscriber: sub}); err != nil {
		return fmt.Errorf("release claims of %s: %w", sub, err)
	}
	return nil
}

// judge says what sub made of its batch, as outcomes to record, with the
// earliest retry among them (zero when none); it counts each outcome.
func (r *Relay) judge(ctx context.Context, sub string, batch []claimed, failed map[string]failure) ([]outcome, time.Time) {
	var next time.Time
	now := time.Now()
	outs := make([]outcome, 0, len(batch))
	delivered := 0
	for _, c := range batch {
		f, bad := failed[c.env.GetId()]
		if !bad {
			delivered++
			outs = append(outs, outcome{eventID: c.eventID, subscriber: sub, state: "delivered", nextAttemptTime: now, answered: now})
			continue
		}
		msg := f.message
		attempt := int(c.attempts) + 1
		parked := f.permanent || attempt >= r.cfg.MaxAttempts
		r.traceFailure(ctx, sub, c, attempt, msg, parked)
		if parked {
			r.observe(sub, "parked", 1)
			trace.SpanFromContext(ctx).AddEvent("delivery parked", trace.WithAttributes(
				attribute.String("messaging.message.id", c.env.GetId()), attribute.String("error", msg)))
			outs = append(outs, outcome{eventID: c.eventID, subscriber: sub, state: "parked", lastErr: msg, nextAttemptTime: now, answered: now, env: c.env})
			continue
		}
		r.observe(sub, "failed", 1)
		at := now.Add(r.backoff(attempt))
		if next.IsZero() || at.Before(next) {
			next = at
		}
		outs = append(outs, outcome{eventID: c.eventID, subscriber: sub, state: "pending", lastErr: msg, nextAttemptTime: at, answered: now})
	}
	if delivered > 0 {
		r.observe(sub, "delivered", delivered)
	}
	return outs, next
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
