// Package events carries the saga's events from producers to consumers:
// an outbox written in the producer's own transaction, a relay that
// delivers it over Connect to every subscriber with retries and parking,
// and a sink that applies each event exactly once through an inbox.
package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/controlchars"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
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
	fd, ok := payloadFields[payload.ProtoReflect().Descriptor().FullName()]
	if !ok {
		return nil, fmt.Errorf("events: %T is not an event payload", payload)
	}
	env.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(payload.ProtoReflect()))
	env.Type = typeOfField[fd.Name()]
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	env.Traceparent, env.Tracestate = carrier["traceparent"], carrier["tracestate"]
	return env, nil
}

// The envelope's payload oneof is the one list of event types: the field
// order_placed carries EVENT_TYPE_ORDER_PLACED, and so on.
var (
	payloadOneof  = (&eventsv1.Envelope{}).ProtoReflect().Descriptor().Oneofs().ByName("payload")
	payloadFields = map[protoreflect.FullName]protoreflect.FieldDescriptor{} // payload message → its field
	typeOfField   = map[protoreflect.Name]eventsv1.EventType{}               // field → the type it carries
)

func init() {
	types := eventsv1.EventType(0).Descriptor().Values()
	fields := payloadOneof.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		v := types.ByName(protoreflect.Name("EVENT_TYPE_" + strings.ToUpper(string(fd.Name()))))
		if v == nil {
			panic(fmt.Sprintf("events: payload %s has no event type", fd.Name())) //nolint:forbidigo // the schema itself is broken
		}
		payloadFields[fd.Message().FullName()] = fd
		typeOfField[fd.Name()] = eventsv1.EventType(v.Number())
	}
}

// ErrInvalid is an event that can never be applied: malformed, or its
// type does not match its payload. A sink refuses it for good, and the
// producer parks it with the reason.
var ErrInvalid = errors.New("invalid event")

// Invalid returns an ErrInvalid that says why: what a consumer returns
// for an event that contradicts its own records, such as an authorisation
// for another amount than the order's total. The event is parked with the
// reason and never applied.
func Invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// ErrUnknownOrder is an event about an order the consumer has never seen:
// a lost or reordered event, or a forged one. It is not applied or
// acknowledged; the producer retries it, and parks it when retries do not
// help.
var ErrUnknownOrder = rpcerr.New(rpcerr.KindPrecondition, "the event is about an order this service does not know")

// UnknownOrder returns ErrUnknownOrder for env.
func UnknownOrder(env *eventsv1.Envelope) error {
	return rpcerr.Errorf(ErrUnknownOrder, "order %s is not known here; the delivery will be retried", env.GetOrderId())
}

// Validate checks an envelope a consumer received: its protovalidate
// rules and its payload's, no control characters in its strings, and a
// type that matches its payload.
func Validate(env *eventsv1.Envelope) error {
	if err := protovalidate.Validate(env); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err) //nolint:errorlint // the reason, not the validator's error, is what matters
	}
	if err := controlchars.Check(env, nil); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(err.Error(), connect.CodeInvalidArgument.String()+": "))
	}
	fd := env.ProtoReflect().WhichOneof(payloadOneof)
	if want := typeOfField[fd.Name()]; env.GetType() != want {
		return fmt.Errorf("%w: type %v does not match its %s payload", ErrInvalid, env.GetType(), fd.Name())
	}
	return nil
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
