package e2e_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/events"
)

// Every sink validates what it is handed. A malformed event, or one whose
// type does not match its payload, is refused for good (the producer parks
// it); an event about an order the consumer does not know is refused for
// now (retried, then parked). None is acknowledged, none changes anything,
// and no answer carries SQL or a driver's text.
func TestSinksRefuseForgedEvents(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	placed := func(mut func(*eventsv1.OrderPlaced)) *eventsv1.Envelope {
		p := &eventsv1.OrderPlaced{UserId: "mallory", Lines: []*eventsv1.Line{{Sku: "BEAN-1", Quantity: 2}},
			Total: &commonv1.Money{AmountMinor: 100, Currency: "EUR"}, PaymentMethodId: "019a0000-0000-7000-8000-000000000001",
			ExpireTime: timestamppb.Now()}
		if mut != nil {
			mut(p)
		}
		env, err := events.NewEnvelope(ctx, "order", "019a0000-0000-7000-8000-0000000000f1", p)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	mismatched := placed(nil)
	mismatched.Type = eventsv1.EventType_EVENT_TYPE_ORDER_CANCELLED
	badID := placed(nil)
	badID.OrderId = "not-a-uuid"
	confirmed, err := events.NewEnvelope(ctx, "order", "019a0000-0000-7000-8000-0000000000f2",
		&eventsv1.OrderConfirmed{UserId: "mallory", Lines: []*eventsv1.Line{{Sku: "BEAN-1", Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s.m)
	for _, tc := range []struct {
		name      string
		to        string
		env       *eventsv1.Envelope
		permanent bool
		says      string
	}{
		{"negative quantity", "inventory", placed(func(p *eventsv1.OrderPlaced) { p.Lines[0].Quantity = -5 }), true, "quantity"},
		{"no lines", "inventory", placed(func(p *eventsv1.OrderPlaced) { p.Lines = nil }), true, "lines"},
		{"NUL in a SKU", "inventory", placed(func(p *eventsv1.OrderPlaced) { p.Lines[0].Sku = "BEAN\x00" }), true, "control characters"},
		{"type and payload differ", "inventory", mismatched, true, "does not match"},
		{"order id not a UUID", "inventory", badID, true, "order_id"},
		{"confirmation of an unknown order, to Inventory", "inventory", confirmed, false, "not known here"},
		{"confirmation of an unknown order, to Payment", "payment", confirmed, false, "not known here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := eventsv1connect.NewEventSinkServiceClient(s.m.HTTP, s.m.URL+events.SinkPath(tc.to))
			res, err := client.Deliver(ctx, meshtest.WithToken(&eventsv1.DeliverRequest{Events: []*eventsv1.Envelope{proto.Clone(tc.env).(*eventsv1.Envelope)}}, s.service))
			if err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			f := res.Msg.GetFailures()
			if len(f) != 1 || f[0].GetEventId() != tc.env.GetId() || f[0].GetPermanent() != tc.permanent || !strings.Contains(f[0].GetMessage(), tc.says) {
				t.Fatalf("failures = %v, want the event refused (permanent=%v) saying %q", f, tc.permanent, tc.says)
			}
			if strings.Contains(f[0].GetMessage(), "SQLSTATE") || strings.Contains(f[0].GetMessage(), "ERROR:") {
				t.Errorf("the refusal carries driver text: %q", f[0].GetMessage())
			}
		})
	}
	s.m.WaitQuiet(t)
	if diff := cmp.Diff(before, snapshot(t, s.m)); diff != "" {
		t.Errorf("refused events changed state (-before +after):\n%s", diff)
	}
}
