package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	"github.com/ordermesh/ordermesh/services/platform/events/eventsdb"
)

// Handler applies one event inside tx, the transaction that also records
// it in the inbox. Returning an error rolls both back, and the producer's
// relay retries later.
type Handler func(ctx context.Context, tx pgx.Tx, env *eventsv1.Envelope) error

// Sink is a consumer's EventSinkService: it applies each delivered event
// once, in its own transaction with its inbox row.
type Sink struct {
	consumer string
	pool     *pgxpool.Pool
	handlers map[eventsv1.EventType]Handler
	log      *slog.Logger
}

var _ eventsv1connect.EventSinkServiceHandler = (*Sink)(nil)

// NewSink returns the sink of consumer with a handler per event type it
// consumes. Events of other types are acknowledged and ignored.
func NewSink(consumer string, pool *pgxpool.Pool, handlers map[eventsv1.EventType]Handler, log *slog.Logger) *Sink {
	return &Sink{consumer: consumer, pool: pool, handlers: handlers, log: log}
}

// Deliver implements eventsv1connect.EventSinkServiceHandler. The batch is
// first applied in one transaction, so it costs one commit; if any event
// fails, that is rolled back and the batch is applied again with each event
// under its own savepoint, so the failing ones are reported and the others
// still commit.
func (s *Sink) Deliver(ctx context.Context, req *connect.Request[eventsv1.DeliverRequest]) (*connect.Response[eventsv1.DeliverResponse], error) {
	// Applying in order id order makes concurrent batches (from several
	// producers or relay replicas) take row locks in the same order.
	envs := slices.Clone(req.Msg.GetEvents())
	slices.SortStableFunc(envs, func(a, b *eventsv1.Envelope) int { return strings.Compare(a.GetOrderId(), b.GetOrderId()) })
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.applyAll(ctx, tx, envs) })
		if !retryable(err) {
			break
		}
	}
	if err == nil {
		return connect.NewResponse(&eventsv1.DeliverResponse{}), nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res := &eventsv1.DeliverResponse{}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		res.Failures = nil
		for _, env := range envs {
			err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error { return s.apply(ctx, sp, env) })
			if err == nil {
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.WarnContext(ctx, "event not applied", slog.String("event_id", env.GetId()),
				slog.String("type", env.GetType().String()), slog.String("order_id", env.GetOrderId()), slog.Any("error", err))
			res.Failures = append(res.Failures, &eventsv1.DeliveryFailure{EventId: env.GetId(), Message: err.Error()})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

// retryable reports a transaction that lost a deadlock or serialization
// race and will likely succeed if simply run again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

var tracer = otel.Tracer("github.com/ordermesh/ordermesh/services/platform/events")

// applyAll records a batch in the inbox with one statement and applies
// the events that were new.
func (s *Sink) applyAll(ctx context.Context, tx pgx.Tx, envs []*eventsv1.Envelope) error {
	var ids []uuid.UUID
	var types []int32
	for _, env := range envs {
		if _, ok := s.handlers[env.GetType()]; !ok {
			continue
		}
		id, err := uuid.Parse(env.GetId())
		if err != nil {
			return fmt.Errorf("event id %q is not a UUID", env.GetId())
		}
		ids, types = append(ids, id), append(types, int32(env.GetType()))
	}
	if len(ids) == 0 {
		return nil
	}
	fresh, err := eventsdb.New(tx).InsertInboxBatch(ctx, eventsdb.InsertInboxBatchParams{EventIds: ids, Types: types})
	if err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	isNew := make(map[uuid.UUID]bool, len(fresh))
	for _, id := range fresh {
		isNew[id] = true
	}
	for _, env := range envs {
		if id, err := uuid.Parse(env.GetId()); err == nil && isNew[id] {
			if err := s.handle(ctx, tx, env); err != nil {
				return err
			}
		}
	}
	return nil
}

// apply applies one event in tx unless the inbox has it already.
func (s *Sink) apply(ctx context.Context, tx pgx.Tx, env *eventsv1.Envelope) error {
	if _, ok := s.handlers[env.GetType()]; !ok {
		return nil
	}
	id, err := uuid.Parse(env.GetId())
	if err != nil {
		return fmt.Errorf("event id %q is not a UUID", env.GetId())
	}
	n, err := eventsdb.New(tx).InsertInbox(ctx, eventsdb.InsertInboxParams{EventID: id, Type: int32(env.GetType())})
	if err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	if n == 0 {
		return nil // applied before: at-least-once delivery, exactly-once effect
	}
	return s.handle(ctx, tx, env)
}

// handle runs an event's handler in a consumer span that continues the
// producer's trace.
func (s *Sink) handle(ctx context.Context, tx pgx.Tx, env *eventsv1.Envelope) error {
	ctx, span := tracer.Start(ContextFrom(ctx, env), "consume "+env.GetType().String(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(trace.LinkFromContext(ctx)),
		trace.WithAttributes(
			attribute.String("messaging.message.id", env.GetId()),
			attribute.String("ordermesh.order_id", env.GetOrderId()),
			attribute.String("ordermesh.consumer", s.consumer),
		))
	defer span.End()
	if err := s.handlers[env.GetType()](ctx, tx, env); err != nil {
		span.RecordError(err)
		return err
	}
	return nil
}
