package events

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
)

// Staging is a consumer's store over one delivered batch, set-based as the
// hot path is: it reads and locks, in key order, every row the batch's
// events will change with one statement per table (Load); each event's
// handler then decides in Go against what was read and stages its writes;
// and what was staged is written with one statement per table (Write). So
// a batch costs a fixed number of round trips, whatever its size.
//
// A handler that fails must leave no trace: Mark begins an event, and
// Undo drops what it staged since, its reads' changes included.
type Staging interface {
	Load(ctx context.Context, envs []*eventsv1.Envelope) error
	Mark()
	Undo()
	Write(ctx context.Context) error
}

// Consumer is a service's set-based event handlers: per event type, the
// method that decides one event against the batch's Staging.
type Consumer struct {
	begin func(tx pgx.Tx) Staging
	apply map[eventsv1.EventType]func(context.Context, Staging, *eventsv1.Envelope) error
}

// Batched returns the consumer whose handlers work on bind's Staging, the
// store of one batch in the sink's transaction, which is also the T (the
// service's own transaction type) the handlers take:
//
//	events.Batched(st.Stage, map[eventsv1.EventType]func(context.Context, service.Tx, *eventsv1.Envelope) error{...})
func Batched[T any](bind func(pgx.Tx) Staging, handlers map[eventsv1.EventType]func(context.Context, T, *eventsv1.Envelope) error) *Consumer {
	c := &Consumer{begin: bind, apply: map[eventsv1.EventType]func(context.Context, Staging, *eventsv1.Envelope) error{}}
	for typ, fn := range handlers {
		c.apply[typ] = func(ctx context.Context, s Staging, env *eventsv1.Envelope) error {
			tx, ok := s.(T)
			if !ok {
				return fmt.Errorf("events: the staging of %v events is a %T, which its handler does not take", typ, s)
			}
			return fn(ctx, tx, env)
		}
	}
	return c
}

// Types are the event types the consumer handles, in order.
func (c *Consumer) Types() []eventsv1.EventType {
	if c == nil {
		return nil
	}
	types := make([]eventsv1.EventType, 0, len(c.apply))
	for typ := range c.apply {
		types = append(types, typ)
	}
	slices.Sort(types)
	return types
}

func (c *Consumer) handles(typ eventsv1.EventType) bool {
	if c == nil {
		return false
	}
	_, ok := c.apply[typ]
	return ok
}

// Emitted holds the events a batch's handlers emit, for one AddAll when
// the batch is written: each continues the trace of the handler that
// emitted it. Mark and Undo drop what a failed event emitted, as a
// Staging's do.
type Emitted struct {
	pending []Pending
	mark    int
}

// Add holds an event about orderID, in the trace of ctx.
func (e *Emitted) Add(ctx context.Context, orderID string, payload proto.Message) {
	e.pending = append(e.pending, Pending{OrderID: orderID, Payload: payload, Trace: trace.SpanContextFromContext(ctx)})
}

// Mark begins an event.
func (e *Emitted) Mark() { e.mark = len(e.pending) }

// Undo drops what was added since Mark.
func (e *Emitted) Undo() { e.pending = e.pending[:e.mark] }

// Write adds every held event to outbox in tx, with one statement.
func (e *Emitted) Write(ctx context.Context, tx pgx.Tx, outbox *Outbox) error {
	return outbox.AddAll(ctx, tx, e.pending)
}
