package events

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
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

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/events/eventsdb"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// Handler applies one event inside tx, the transaction that also records
// it in the inbox. Returning an error rolls both back, and the producer's
// relay retries later.
type Handler func(ctx context.Context, tx pgx.Tx, env *eventsv1.Envelope) error

// Prepare runs first in the transaction a delivered batch is applied in,
// with the batch's events: a consumer whose handlers change rows that
// several orders share locks them here, all in one order.
type Prepare func(ctx context.Context, tx pgx.Tx, envs []*eventsv1.Envelope) error

// DirectHandler applies one event outside the sink's transaction. It owns
// exactly-once itself, recording the event with RecordInbox in the
// transaction of its effect. The inventory hot path uses it to put
// OrderPlaced events into its reservation batches.
type DirectHandler func(ctx context.Context, env *eventsv1.Envelope) error

// PrepareInTx adapts a service's batch method that works on its own
// transaction type to a Prepare, as InTx does for a Handler.
func PrepareInTx[T any](bind func(pgx.Tx) T, fn func(context.Context, T, []*eventsv1.Envelope) error) Prepare {
	return func(ctx context.Context, tx pgx.Tx, envs []*eventsv1.Envelope) error { return fn(ctx, bind(tx), envs) }
}

// InTx adapts a service's event method that works on its own transaction
// type to a Handler: bind wraps the sink's transaction in it.
//
//	events.InTx(store.Bind, svc.OnOrderPlaced)
func InTx[T any](bind func(pgx.Tx) T, fn func(context.Context, T, *eventsv1.Envelope) error) Handler {
	return func(ctx context.Context, tx pgx.Tx, env *eventsv1.Envelope) error { return fn(ctx, bind(tx), env) }
}

// Sink is a consumer's EventSinkService: it applies each delivered event
// once, in its own transaction with its inbox row.
type Sink struct {
	tracer   trace.Tracer
	consumer string
	// routing says which service publishes each type: the only one a
	// delivery of that type is accepted from.
	routing  Routing
	pool     *pgxpool.Pool
	handlers map[eventsv1.EventType]Handler
	direct   map[eventsv1.EventType]DirectHandler
	log      *slog.Logger
	// partitions is how many transactions a delivery is applied in, side
	// by side; see WithPartitions.
	partitions int
	prepare    Prepare
	// set applies its events a batch at a time; see Staging.
	set *Consumer
	// Refused, if set, is told of each delivery refused for who sent it,
	// with the caller and why (one of RefusalReasons).
	Refused func(caller, reason string)
}

// WithConsumer applies the events of c's types set-based, a batch at a
// time (see Staging), in the sink's transaction.
func (s *Sink) WithConsumer(c *Consumer) *Sink {
	s.set = c
	return s
}

// WithPrepare runs prepare at the start of each batch's transaction.
func (s *Sink) WithPrepare(prepare Prepare) *Sink {
	s.prepare = prepare
	return s
}

// WithPartitions applies each delivery in up to n transactions at once,
// the events split by order id, so one order's events stay in one
// transaction and in their order. A delivery's statements then wait for n
// round trips to the database at a time instead of one. Only a consumer
// whose handlers lock nothing shared between orders may use it: two
// partitions that lock the same rows in opposite orders deadlock.
func (s *Sink) WithPartitions(n int) *Sink {
	s.partitions = max(n, 1)
	return s
}

// WithDirect adds direct handlers, which take precedence over handlers.
func (s *Sink) WithDirect(direct map[eventsv1.EventType]DirectHandler) *Sink {
	s.direct = direct
	return s
}

// RecordInbox records events in the inbox of tx and returns the ids of
// those that were new: the others were applied before.
func RecordInbox(ctx context.Context, tx pgx.Tx, envs []*eventsv1.Envelope) (map[string]bool, error) {
	ids := make([]uuid.UUID, 0, len(envs))
	types := make([]int32, 0, len(envs))
	for _, env := range envs {
		id, err := uuid.Parse(env.GetId())
		if err != nil {
			return nil, fmt.Errorf("event id %q is not a UUID", env.GetId())
		}
		ids, types = append(ids, id), append(types, int32(env.GetType()))
	}
	fresh, err := eventsdb.New(tx).InsertInboxBatch(ctx, eventsdb.InsertInboxBatchParams{EventIds: ids, Types: types})
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	out := make(map[string]bool, len(fresh))
	for _, id := range fresh {
		out[id.String()] = true
	}
	return out, nil
}

var _ eventsv1connect.EventSinkServiceHandler = (*Sink)(nil)

// NewSink returns the sink of consumer with a handler per event type it
// consumes. Events of other types are acknowledged and ignored. It accepts
// a delivery only from a service that publishes every event in it, as
// routing declares. Each event is applied in a span of tp (the global
// provider when nil), in the event's own trace.
func NewSink(consumer string, routing Routing, pool *pgxpool.Pool, handlers map[eventsv1.EventType]Handler, log *slog.Logger, tp trace.TracerProvider) *Sink {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return &Sink{consumer: consumer, routing: routing, pool: pool, handlers: handlers, log: log, tracer: tp.Tracer(instrumentation)}
}

// Why a sink refused a delivery for its caller: the caller does not
// publish an event's type, an envelope names another producer than the
// caller, or the caller is no service of the mesh.
const (
	RefusedNotPublisher     = "not_publisher"
	RefusedProducerMismatch = "producer_mismatch"
	RefusedNotAService      = "not_a_service"
)

// RefusalReasons are every reason a sink refuses a delivery for.
var RefusalReasons = []string{RefusedNotPublisher, RefusedProducerMismatch, RefusedNotAService}

// MaxDelivery is the most events one delivery carries: the rule on
// DeliverRequest.events, which the sink checks itself (see Deliver).
const MaxDelivery = 500

var (
	// ErrBadDelivery is a delivery that breaks the protocol: the wrong
	// number of events, or one event twice. The relay never sends one.
	ErrBadDelivery = rpcerr.New(rpcerr.KindInvalid, "the delivery is malformed")
	// ErrNotPublisher is a delivery from a caller that may not speak for
	// its events: each type is accepted only from the service that
	// publishes it, in envelopes that name that service as the producer.
	ErrNotPublisher = rpcerr.New(rpcerr.KindPermission, "the caller may not deliver these events")
)

// admit checks a delivery as a whole, before anything is applied: its
// size, its ids unique, and a caller that publishes every event in it.
// One event the caller may not speak for refuses all of them: the caller
// is not who the mesh's contracts say sends them.
func (s *Sink) admit(ctx context.Context, envs []*eventsv1.Envelope) error {
	if n := len(envs); n == 0 || n > MaxDelivery {
		return rpcerr.Errorf(ErrBadDelivery, "a delivery carries 1 to %d events, not %d", MaxDelivery, n)
	}
	caller, _ := auth.FromContext(ctx)
	seen := make(map[string]bool, len(envs))
	for _, env := range envs {
		typ := env.GetType()
		publisher := s.routing.From(typ)
		var reason, msg string
		switch {
		case caller.Service == "":
			reason, msg = RefusedNotAService, fmt.Sprintf("only the mesh's services deliver events; %q is none", caller.Subject)
		case publisher != caller.Service:
			reason, msg = RefusedNotPublisher, fmt.Sprintf("%s may not deliver %v events: only %s publishes them", caller.Service, typ, or(publisher, "no service"))
		case env.GetProducer() != caller.Service:
			reason, msg = RefusedProducerMismatch, fmt.Sprintf("event %s names %q as its producer, but %s delivered it", env.GetId(), env.GetProducer(), caller.Service)
		}
		if reason != "" {
			s.log.WarnContext(ContextFrom(ctx, env), "delivery refused: the caller may not speak for its events",
				slog.String("caller", or(caller.Service, caller.Subject)), slog.String("reason", reason), slog.String("event_id", env.GetId()),
				slog.String("type", typ.String()), slog.String("producer", env.GetProducer()), slog.String("order_id", env.GetOrderId()),
				slog.Int("events", len(envs)))
			if s.Refused != nil {
				s.Refused(or(caller.Service, "none"), reason)
			}
			return rpcerr.Errorf(ErrNotPublisher, "%s; the whole delivery of %d events is refused", msg, len(envs))
		}
		if seen[env.GetId()] {
			return rpcerr.Errorf(ErrBadDelivery, "event %s appears twice in one delivery", env.GetId())
		}
		seen[env.GetId()] = true
	}
	return nil
}

func or(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// Deliver implements eventsv1connect.EventSinkServiceHandler. The batch is
// applied in one transaction, so it costs one commit and, for a set-based
// consumer, a fixed number of statements; an event whose handler fails is
// undone alone and reported. If the batch fails as a whole (a write, or a
// handler that is not set-based), it is applied again with each event
// under its own savepoint, so the failing ones are reported and the others
// still commit.
func (s *Sink) Deliver(ctx context.Context, req *connect.Request[eventsv1.DeliverRequest]) (*connect.Response[eventsv1.DeliverResponse], error) {
	if err := s.admit(ctx, req.Msg.GetEvents()); err != nil {
		return nil, err
	}
	// An invalid event is refused for good, before anything is recorded:
	// the producer parks it with the reason. Direct events go to their
	// handlers concurrently (the hot path batches them); the rest are
	// applied here.
	var envs, direct []*eventsv1.Envelope
	var invalid []*eventsv1.DeliveryFailure
	for _, env := range req.Msg.GetEvents() {
		if err := Validate(env); err != nil {
			s.log.WarnContext(ContextFrom(ctx, env), "event refused", slog.String("event_id", env.GetId()),
				slog.String("type", env.GetType().String()), slog.String("order_id", env.GetOrderId()), slog.Any("error", err))
			invalid = append(invalid, &eventsv1.DeliveryFailure{EventId: env.GetId(), Message: err.Error(), Permanent: true})
			continue
		}
		if _, ok := s.direct[env.GetType()]; ok {
			direct = append(direct, env)
		} else {
			envs = append(envs, env)
		}
	}
	directFailures := s.applyDirect(ctx, direct)
	res, err := s.applyPartitioned(ctx, envs)
	if err != nil {
		return nil, err
	}
	res.Failures = append(append(res.Failures, directFailures...), invalid...)
	return connect.NewResponse(res), nil
}

// applyPartitioned splits events by order id into up to s.partitions
// batches and applies them at once, each in its own transaction.
func (s *Sink) applyPartitioned(ctx context.Context, events []*eventsv1.Envelope) (*eventsv1.DeliverResponse, error) {
	n := min(max(s.partitions, 1), len(events))
	if n <= 1 {
		return s.applyBatch(ctx, events)
	}
	parts := make([][]*eventsv1.Envelope, n)
	for _, env := range events {
		h := fnv.New32a()
		_, _ = h.Write([]byte(env.GetOrderId()))
		i := int(h.Sum32() % uint32(n))
		parts[i] = append(parts[i], env)
	}
	results := make([]*eventsv1.DeliverResponse, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, part := range parts {
		wg.Go(func() { results[i], errs[i] = s.applyBatch(ctx, part) })
	}
	wg.Wait()
	res := &eventsv1.DeliverResponse{}
	for i, r := range results {
		if errs[i] != nil {
			// What the other partitions committed stays: the relay
			// delivers the whole batch again, and the inbox skips them.
			return nil, errs[i]
		}
		res.Failures = append(res.Failures, r.GetFailures()...)
	}
	return res, nil
}

func (s *Sink) applyDirect(ctx context.Context, envs []*eventsv1.Envelope) []*eventsv1.DeliveryFailure {
	failures := make([]*eventsv1.DeliveryFailure, len(envs))
	var wg sync.WaitGroup
	for i, env := range envs {
		wg.Go(func() {
			ctx, span := s.startConsume(ctx, env)
			defer span.End()
			if err := s.direct[env.GetType()](ctx, env); err != nil {
				failSpan(span, err)
				failures[i] = s.refused(ctx, env, err)
			}
		})
	}
	wg.Wait()
	return slices.DeleteFunc(failures, func(f *eventsv1.DeliveryFailure) bool { return f == nil })
}

// applyBatch applies events in one transaction; see Deliver.
func (s *Sink) applyBatch(ctx context.Context, events []*eventsv1.Envelope) (*eventsv1.DeliverResponse, error) {
	if len(events) == 0 {
		return &eventsv1.DeliverResponse{}, nil
	}
	// Applying in order id order makes concurrent batches (from several
	// producers or relay replicas) take row locks in the same order.
	envs := slices.Clone(events)
	slices.SortStableFunc(envs, func(a, b *eventsv1.Envelope) int { return strings.Compare(a.GetOrderId(), b.GetOrderId()) })
	var failures []*eventsv1.DeliveryFailure
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		began := time.Now()
		err = db.InTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			failures, err = s.applyAll(ctx, tx, envs)
			return err
		})
		if !db.IsConflict(err) {
			break
		}
		// A deadlock costs deadlock_timeout (1 s by default) before
		// PostgreSQL breaks it: say so, or a stalled saga has no cause
		// anyone can see.
		s.log.WarnContext(ctx, "event batch lost a lock conflict; applying it again", slog.Int("events", len(envs)),
			slog.Int("attempt", attempt), slog.Duration("lost_seconds", time.Since(began)), slog.Any("error", err))
	}
	if err == nil {
		return &eventsv1.DeliverResponse{Failures: failures}, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// Something failed the whole batch (a write, or a handler of a
	// consumer that is not set-based): apply each event alone under its
	// own savepoint, so that only the failing ones are refused.
	res := &eventsv1.DeliverResponse{}
	err = db.InTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		res.Failures = nil
		for _, env := range envs {
			var failed []*eventsv1.DeliveryFailure
			err := db.InTx(ctx, tx, func(ctx context.Context, sp pgx.Tx) error {
				var err error
				failed, err = s.applyAll(ctx, sp, []*eventsv1.Envelope{env})
				return err
			})
			if err == nil {
				res.Failures = append(res.Failures, failed...)
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res.Failures = append(res.Failures, s.refused(ctx, env, err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// refused logs why env was not applied and says so to the producer. An
// event the consumer found invalid (ErrInvalid: it contradicts the
// consumer's own records, say) is refused for good, and the producer
// parks it with the reason at once.
func (s *Sink) refused(ctx context.Context, env *eventsv1.Envelope, err error) *eventsv1.DeliveryFailure {
	ectx := ContextFrom(ctx, env)
	s.log.WarnContext(ectx, "event not applied", slog.String("event_id", env.GetId()),
		slog.String("type", env.GetType().String()), slog.String("order_id", env.GetOrderId()), slog.Any("error", err))
	if errors.Is(err, ErrInvalid) {
		return &eventsv1.DeliveryFailure{EventId: env.GetId(), Message: err.Error(), Permanent: true}
	}
	return &eventsv1.DeliveryFailure{EventId: env.GetId(), Message: failureMessage(ectx, err)}
}

// failureMessage says why an event was not applied, for the producer's
// outbox and its operator: a sentinel's or a classified error's own words,
// never SQL or a driver's text, which only the consumer's log has.
func failureMessage(ctx context.Context, err error) string {
	ce := rpcerr.ToConnect(ctx, nopLog, "", err)
	if connect.CodeOf(ce) == connect.CodeInternal {
		msg := "the consumer could not apply it; its log has the cause"
		if tid := trace.SpanContextFromContext(ctx).TraceID(); tid.IsValid() {
			msg += " (trace " + tid.String() + ")"
		}
		return msg
	}
	return rpcerr.Text(ce)
}

// nopLog discards: the sink logs failures itself, with the event's ids.
var nopLog = slog.New(slog.DiscardHandler)

// instrumentation names the tracer of the relay and the sink.
const instrumentation = "github.com/ordermesh/ordermesh/internal/platform/events"

// failSpan marks span as failed with err.
func failSpan(span trace.Span, err error) {
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

// handles reports whether the sink applies events of typ in its
// transaction, set-based or one by one.
func (s *Sink) handles(typ eventsv1.EventType) bool {
	_, ok := s.handlers[typ]
	return ok || s.set.handles(typ)
}

// applyAll records a batch in the inbox with one statement and applies
// the events that were new: those of the set-based consumer against one
// Staging, loaded and written with a fixed number of statements; any
// others one by one. A set-based event whose handler fails is undone
// alone and returned as a failure, its inbox row forgotten; any other
// error fails the whole batch.
func (s *Sink) applyAll(ctx context.Context, tx pgx.Tx, envs []*eventsv1.Envelope) ([]*eventsv1.DeliveryFailure, error) {
	handled := slices.DeleteFunc(slices.Clone(envs), func(env *eventsv1.Envelope) bool { return !s.handles(env.GetType()) })
	if len(handled) == 0 {
		return nil, nil
	}
	if s.prepare != nil {
		if err := s.prepare(ctx, tx, handled); err != nil {
			return nil, err
		}
	}
	fresh, err := RecordInbox(ctx, tx, handled)
	if err != nil {
		return nil, err
	}
	var staged []*eventsv1.Envelope
	for _, env := range handled {
		if fresh[env.GetId()] && s.set.handles(env.GetType()) {
			staged = append(staged, env)
		}
	}
	var set Staging
	if len(staged) > 0 {
		set = s.set.begin(tx)
		if err := set.Load(ctx, staged); err != nil {
			return nil, err
		}
	}
	var failures []*eventsv1.DeliveryFailure
	var undone []uuid.UUID
	for _, env := range handled {
		switch {
		case !fresh[env.GetId()]:
			// applied before: at-least-once delivery, exactly-once effect
		case s.set.handles(env.GetType()):
			if err := s.stage(ctx, set, env); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				failures = append(failures, s.refused(ctx, env, err))
				undone = append(undone, uuid.MustParse(env.GetId())) // RecordInbox parsed it
			}
		default:
			if err := s.handle(ctx, tx, env); err != nil {
				return nil, err
			}
		}
	}
	if len(undone) > 0 {
		if err := eventsdb.New(tx).DeleteInbox(ctx, undone); err != nil {
			return nil, fmt.Errorf("inbox: %w", err)
		}
	}
	if set != nil {
		if err := set.Write(ctx); err != nil {
			return nil, err
		}
	}
	return failures, nil
}

// stage decides one event of a set-based consumer in its consumer span;
// a failure leaves nothing staged, and nothing to report on commit.
func (s *Sink) stage(ctx context.Context, set Staging, env *eventsv1.Envelope) error {
	ctx, span := s.startConsume(ctx, env)
	defer span.End()
	hctx, keep := db.Hold(ctx)
	set.Mark()
	if err := s.set.apply[env.GetType()](hctx, set, env); err != nil {
		set.Undo()
		keep(false)
		failSpan(span, err)
		return err
	}
	keep(true)
	return nil
}

// startConsume starts the consumer span of an event: a child of the span
// that produced it (its traceparent), so a checkout is one trace, linked to
// the delivery that carried it.
func (s *Sink) startConsume(ctx context.Context, env *eventsv1.Envelope) (context.Context, trace.Span) {
	return s.tracer.Start(ContextFrom(ctx, env), "consume "+env.GetType().String(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(trace.LinkFromContext(ctx)),
		trace.WithAttributes(
			attribute.String("messaging.message.id", env.GetId()),
			attribute.String("ordermesh.order_id", env.GetOrderId()),
			attribute.String("ordermesh.consumer", s.consumer),
		))
}

// handle runs an event's handler in its consumer span.
func (s *Sink) handle(ctx context.Context, tx pgx.Tx, env *eventsv1.Envelope) error {
	ctx, span := s.startConsume(ctx, env)
	defer span.End()
	err := s.handlers[env.GetType()](ctx, tx, env)
	if err == nil {
		// What the handler's transaction deferred goes now, in this
		// event's span: its statements belong to this order's trace.
		err = db.Flush(ctx, tx)
	}
	if err != nil {
		failSpan(span, err)
		return err
	}
	return nil
}
