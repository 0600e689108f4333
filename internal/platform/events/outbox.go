package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/events/eventsdb"
)

// NotifyChannel is the LISTEN/NOTIFY channel that wakes a relay when its
// database's outbox gains rows.
const NotifyChannel = "ordermesh_outbox"

// Outbox writes a producer's events inside the producer's transactions.
type Outbox struct {
	producer string
	routing  Routing
}

// NewOutbox returns the outbox of producer, routing events with routing.
func NewOutbox(producer string, routing Routing) *Outbox {
	return &Outbox{producer: producer, routing: routing}
}

// Routing is the table the outbox routes with.
func (o *Outbox) Routing() Routing { return o.routing }

// ErrUndeclared is an event its producer does not declare it publishes:
// the outbox refuses it, since no subscriber would ever be told and every
// sink would refuse it from this producer.
var ErrUndeclared = errors.New("events: the producer does not declare it publishes this event")

// publishes refuses an event type the routing table does not say this
// producer publishes.
func (o *Outbox) publishes(typ eventsv1.EventType) error {
	if p := o.routing.From(typ); p != o.producer {
		return fmt.Errorf("%w: %s emitted %v (the publisher is %q)", ErrUndeclared, o.producer, typ, p)
	}
	return nil
}

// Pending is an event to add: a payload about an order.
type Pending struct {
	OrderID string
	Payload proto.Message
	// Trace is the span the event continues, when it is not the one of
	// the ctx AddAll is given: a batch that serves many orders emits each
	// order's event in that order's own trace.
	Trace trace.SpanContext
}

// AddAll records many events in tx with one statement, as Add does for one.
func (o *Outbox) AddAll(ctx context.Context, tx pgx.Tx, events []Pending) error {
	if len(events) == 0 {
		return nil
	}
	var p eventsdb.AddEventsParams
	for _, e := range events {
		ectx := ctx
		if e.Trace.IsValid() {
			ectx = trace.ContextWithSpanContext(ctx, e.Trace)
		}
		env, err := NewEnvelope(ectx, o.producer, e.OrderID, e.Payload)
		if err != nil {
			return err
		}
		raw, err := proto.Marshal(env)
		if err != nil {
			return fmt.Errorf("events: marshal %s: %w", env.GetType(), err)
		}
		id := uuid.MustParse(env.GetId())
		p.EventIds, p.Types = append(p.EventIds, id), append(p.Types, int32(env.GetType()))
		p.OrderIds, p.Envelopes = append(p.OrderIds, e.OrderID), append(p.Envelopes, raw)
		if err := o.publishes(env.GetType()); err != nil {
			return err
		}
		for _, sub := range o.routing.To(env.GetType()) {
			p.DeliveryEventIds, p.DeliverySubscribers = append(p.DeliveryEventIds, id), append(p.DeliverySubscribers, sub)
		}
	}
	if p.DeliveryEventIds == nil {
		p.DeliveryEventIds, p.DeliverySubscribers = []uuid.UUID{}, []string{}
	}
	if err := eventsdb.New(tx).AddEvents(ctx, p); err != nil {
		return fmt.Errorf("events: outbox: %w", err)
	}
	if len(p.DeliveryEventIds) == 0 {
		return nil
	}
	return wakeRelays(ctx, tx, p.DeliverySubscribers)
}

// wakeRelays wakes the relays of this database once tx commits: the
// loops of the subscribers named, which the payload lists.
func wakeRelays(ctx context.Context, tx pgx.Tx, subscribers []string) error {
	subs := slices.Sorted(slices.Values(subscribers))
	if err := db.Notify(ctx, tx, NotifyChannel, strings.Join(slices.Compact(subs), ",")); err != nil {
		return fmt.Errorf("events: wake relays: %w", err)
	}
	return nil
}

// Add records an event about orderID in tx, with one delivery per
// subscriber, and wakes the relay when tx commits.
func (o *Outbox) Add(ctx context.Context, tx pgx.Tx, orderID string, payload proto.Message) (*eventsv1.Envelope, error) {
	env, err := NewEnvelope(ctx, o.producer, orderID, payload)
	if err != nil {
		return nil, err
	}
	raw, err := proto.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("events: marshal %s: %w", env.GetType(), err)
	}
	if err := o.publishes(env.GetType()); err != nil {
		return nil, err
	}
	subs := o.routing.To(env.GetType())
	if subs == nil {
		subs = []string{}
	}
	err = eventsdb.New(tx).AddEvent(ctx, eventsdb.AddEventParams{
		EventID: uuid.MustParse(env.GetId()), Type: int32(env.GetType()), OrderID: orderID, Envelope: raw, Subscribers: subs,
	})
	if err != nil {
		return nil, fmt.Errorf("events: outbox: %w", err)
	}
	if len(subs) == 0 {
		return env, nil
	}
	return env, wakeRelays(ctx, tx, subs)
}
