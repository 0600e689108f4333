package events_test

import (
	"context"
	"errors"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/events"
)

// Any bytes a producer could send as an envelope are decoded, validated
// and applied by a real sink without a panic and without an Internal
// answer: an event the caller may not speak for refuses the delivery, an
// invalid event is refused for good, a valid one is applied once.
func FuzzEnvelope(f *testing.F) {
	valid, err := events.NewEnvelope(context.Background(), "order", orderID(1), placed())
	if err != nil {
		f.Fatal(err)
	}
	for _, env := range []*eventsv1.Envelope{valid, {}, {Id: "x", Type: eventsv1.EventType_EVENT_TYPE_ORDER_PLACED}} {
		raw, err := proto.Marshal(env)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	c := newConsumer(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		env := &eventsv1.Envelope{}
		if err := proto.Unmarshal(raw, env); err != nil {
			return // the relay refuses what does not decode; nothing to apply
		}
		verr := events.Validate(env)
		if verr != nil && !errors.Is(verr, events.ErrInvalid) {
			t.Fatalf("Validate = %v, want nil or ErrInvalid", verr)
		}
		res, err := c.client.Deliver(context.Background(), connect.NewRequest(&eventsv1.DeliverRequest{Events: []*eventsv1.Envelope{env}}))
		ordersOwn := env.GetProducer() == "order" && env.GetType() == eventsv1.EventType_EVENT_TYPE_ORDER_PLACED
		switch {
		case err != nil && connect.CodeOf(err) == connect.CodePermissionDenied && !ordersOwn:
			return // Order (the caller) may not speak for this event
		case err != nil:
			t.Fatalf("Deliver answered %v for %v", err, env)
		case !ordersOwn:
			t.Fatalf("a delivery of %v, which Order does not publish, was accepted from Order", env)
		}
		f := res.Msg.GetFailures()
		switch {
		case verr != nil && (len(f) != 1 || !f[0].GetPermanent()):
			t.Fatalf("an invalid event (%v) got failures %v, want one permanent refusal", verr, f)
		case verr == nil && len(f) != 0 && env.GetType() == eventsv1.EventType_EVENT_TYPE_ORDER_PLACED:
			t.Fatalf("a valid event was refused: %v", f)
		}
	})
}
