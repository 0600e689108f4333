package events

import (
	"context"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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

// Deliver implements eventsv1connect.EventSinkServiceHandler.
func (s *Sink) Deliver(ctx context.Context, req *connect.Request[eventsv1.DeliverRequest]) (*connect.Response[eventsv1.DeliverResponse], error) {
	res := &eventsv1.DeliverResponse{}
	for _, env := range req.Msg.GetEvents() {
		if err := s.Apply(ctx, env); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			s.log.WarnContext(ctx, "event not applied", slog.String("event_id", env.GetId()),
				slog.String("type", env.GetType().String()), slog.String("order_id", env.GetOrderId()), slog.Any("error", err))
			res.Failures = append(res.Failures, &eventsv1.DeliveryFailure{EventId: env.GetId(), Message: err.Error()})
		}
	}
	return connect.NewResponse(res), nil
}

var tracer = otel.Tracer("github.com/ordermesh/ordermesh/services/platform/events")

// Apply applies one event unless the inbox has it already.
func (s *Sink) Apply(ctx context.Context, env *eventsv1.Envelope) error {
	handler, ok := s.handlers[env.GetType()]
	if !ok {
		return nil
	}
	id, err := uuid.Parse(env.GetId())
	if err != nil {
		return fmt.Errorf("event id %q is not a UUID", env.GetId())
	}
	ctx, span := tracer.Start(ContextFrom(ctx, env), "consume "+env.GetType().String(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(trace.LinkFromContext(ctx)),
		trace.WithAttributes(
			attribute.String("messaging.message.id", env.GetId()),
			attribute.String("ordermesh.order_id", env.GetOrderId()),
			attribute.String("ordermesh.consumer", s.consumer),
		))
	defer span.End()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		n, err := eventsdb.New(tx).InsertInbox(ctx, eventsdb.InsertInboxParams{EventID: id, Type: int32(env.GetType())})
		if err != nil {
			return fmt.Errorf("inbox: %w", err)
		}
		if n == 0 {
			span.SetAttributes(attribute.Bool("ordermesh.duplicate", true))
			return nil // applied before: at-least-once delivery, exactly-once effect
		}
		return handler(ctx, tx, env)
	})
	if err != nil {
		span.RecordError(err)
	}
	return err
}
