// Package events carries the saga's events from producers to consumers:
// an outbox written in the producer's own transaction, a relay that
// delivers it over Connect to every subscriber with retries and parking,
// and a sink that applies each event exactly once through an inbox.
package events

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
)

// NewEnvelope wraps payload, one of the eventsv1 event messages, in an
// envelope with a fresh UUIDv7 id and the trace context of ctx.
func NewEnvelope(ctx context.Context, producer, orderID string, payload proto.Message) (*eventsv1.Envelope, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	env := &eventsv1.Envelope{
		Id:         id.String(),
		OrderId:    orderID,
		OccurredAt: timestamppb.New(time.Now()),
		Producer:   producer,
	}
	switch p := payload.(type) {
	case *eventsv1.OrderPlaced:
		env.Type, env.Payload = eventsv1.EventType_EVENT_TYPE_ORDER_PLACED, &eventsv1.Envelope_OrderPlaced{OrderPlaced: p}
	case *eventsv1.OrderConfirmed:
		env.Type, env.Payload = eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED, &eventsv1.Envelope_OrderConfirmed{OrderConfirmed: p}
	case *eventsv1.OrderCancelled:
		env.Type, env.Payload = eventsv1.EventType_EVENT_TYPE_ORDER_CANCELLED, &eventsv1.Envelope_OrderCancelled{OrderCancelled: p}
	case *eventsv1.StockReserved:
		env.Type, env.Payload = eventsv1.EventType_EVENT_TYPE_STOCK_RESERVED, &eventsv1.Envelope_StockReserved{StockReserved: p}
	case *eventsv1.StockRejected:
		env.Type, env.Payload = eventsv1.EventType_EVENT_TYPE_STOCK_REJECTED, &eventsv1.Envelope_StockRejected{StockRejected: p}
	case *eventsv1.StockReleased:
		env.Type, env.Payload = eventsv1.EventType_EVENT_TYPE_STOCK_RELEASED, &eventsv1.Envelope_StockReleased{StockReleased: p}
	case *eventsv1.PaymentAuthorized:
		env.Type, env.Payload = eventsv1.EventType_EVENT_TYPE_PAYMENT_AUTHORIZED, &eventsv1.Envelope_PaymentAuthorized{PaymentAuthorized: p}
	case *eventsv1.PaymentDeclined:
		env.Type, env.Payload = eventsv1.EventType_EVENT_TYPE_PAYMENT_DECLINED, &eventsv1.Envelope_PaymentDeclined{PaymentDeclined: p}
	case *eventsv1.PaymentRefunded:
		env.Type, env.Payload = eventsv1.EventType_EVENT_TYPE_PAYMENT_REFUNDED, &eventsv1.Envelope_PaymentRefunded{PaymentRefunded: p}
	default:
		return nil, fmt.Errorf("events: %T is not an event payload", payload)
	}
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	env.Traceparent, env.Tracestate = carrier["traceparent"], carrier["tracestate"]
	return env, nil
}

// ContextFrom returns ctx carrying the trace context of env, so that the
// consumer's span continues the producer's trace.
func ContextFrom(ctx context.Context, env *eventsv1.Envelope) context.Context {
	if env.GetTraceparent() == "" {
		return ctx
	}
	carrier := propagation.MapCarrier{"traceparent": env.GetTraceparent()}
	if env.GetTracestate() != "" {
		carrier["tracestate"] = env.GetTracestate()
	}
	return otel.GetTextMapPropagator().Extract(ctx, carrier)
}
