package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	cartv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/events/eventstest"
)

// Every event type the saga produces, delivered a second time to every
// subscriber, has no second effect anywhere.
func TestEveryEventDeliveredTwiceHasOneEffect(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	ok, declined := s.customer(t, "ok", cardOK), s.customer(t, "no", cardDeclined)
	if _, err := s.carts.AddItem(ctx, meshtest.WithToken(&cartv1.AddItemRequest{UserId: "ok", Sku: "BEAN-1", Quantity: 3}, ok.token)); err != nil {
		t.Fatal(err)
	}
	// Confirmed from the cart, then cancelled: OrderPlaced, StockReserved,
	// PaymentAuthorized, OrderConfirmed, OrderCancelled, StockReleased,
	// PaymentRefunded.
	o := s.settle(t, ok, s.place(t, ok, s.request(t, ok, "DE", &orderv1.PlaceOrderRequest_FromCart{FromCart: &orderv1.FromCart{}})).GetId())
	s.m.WaitQuiet(t)
	if _, err := s.orders.CancelOrder(ctx, meshtest.WithToken(&orderv1.CancelOrderRequest{OrderId: o.GetId()}, ok.token)); err != nil {
		t.Fatal(err)
	}
	s.settle(t, declined, s.place(t, declined, s.request(t, declined, "DE", lines("MUG-1", 1))).GetId()) // PaymentDeclined
	s.settle(t, ok, s.place(t, ok, s.request(t, ok, "DE", lines("MUG-1", 50))).GetId())                  // StockRejected
	s.settle(t, ok, s.place(t, ok, s.request(t, ok, "DE", lines("BEAN-1", 1))).GetId())                  // stays confirmed
	s.m.WaitQuiet(t)

	before := snapshot(t, s.m)
	envs := outboxEvents(t, s.m)
	types := map[eventsv1.EventType]bool{}
	for _, e := range envs {
		types[e.GetType()] = true
	}
	for _, want := range []eventsv1.EventType{
		eventsv1.EventType_EVENT_TYPE_ORDER_PLACED, eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED, eventsv1.EventType_EVENT_TYPE_ORDER_CANCELLED,
		eventsv1.EventType_EVENT_TYPE_STOCK_RESERVED, eventsv1.EventType_EVENT_TYPE_STOCK_REJECTED, eventsv1.EventType_EVENT_TYPE_STOCK_RELEASED,
		eventsv1.EventType_EVENT_TYPE_PAYMENT_AUTHORIZED, eventsv1.EventType_EVENT_TYPE_PAYMENT_DECLINED, eventsv1.EventType_EVENT_TYPE_PAYMENT_REFUNDED,
	} {
		if !types[want] {
			t.Errorf("the scenario produced no %v; the test would not cover it", want)
		}
	}
	redelivered := 0
	for _, e := range envs {
		for _, sub := range mesh.Routing.To(e.GetType()) {
			client := eventsv1connect.NewEventSinkServiceClient(s.m.HTTP, s.m.URL+events.SinkPath(sub))
			res, err := client.Deliver(ctx, meshtest.WithToken(&eventsv1.DeliverRequest{Events: []*eventsv1.Envelope{e}}, s.m.ServiceToken(t, e.GetProducer())))
			if err != nil || len(res.Msg.GetFailures()) > 0 {
				t.Fatalf("redeliver %v to %s: %v %v", e.GetType(), sub, res.Msg.GetFailures(), err)
			}
			redelivered++
		}
	}
	if redelivered < 10 {
		t.Fatalf("redelivered only %d events", redelivered)
	}
	s.m.WaitQuiet(t)
	if diff := cmp.Diff(before, snapshot(t, s.m)); diff != "" {
		t.Errorf("redelivering %d events changed state (-before +after):\n%s", redelivered, diff)
	}
	s.m.CheckInvariants(t)

	// Event endpoints are for services only.
	client := eventsv1connect.NewEventSinkServiceClient(s.m.HTTP, s.m.URL+events.SinkPath("payment"))
	_, err := client.Deliver(ctx, meshtest.WithToken(&eventsv1.DeliverRequest{Events: envs[:1]}, ok.token))
	meshtest.WantCode(t, err, connect.CodePermissionDenied, "service")
}

// snapshot renders every service's state that an event could change.
func snapshot(t *testing.T, m *meshtest.Mesh) map[string]string {
	t.Helper()
	queries := map[string]string{
		"order":     "SELECT string_agg(id::text || ' ' || status || ' ' || reason || ' ' || booking_id, ',' ORDER BY id) || ' history=' || (SELECT count(*) FROM order_history) FROM orders",
		"inventory": "SELECT string_agg(sku || ' ' || available || '/' || reserved || '/' || sold || '/' || received, ',' ORDER BY sku) || ' reservations=' || (SELECT string_agg(order_id || status, ',' ORDER BY order_id) FROM reservations) FROM stock",
		"payment":   "SELECT string_agg(order_id || ' ' || status, ',' ORDER BY order_id) || ' operations=' || (SELECT count(*) FROM payment_operations) FROM payments",
		"cart":      "SELECT string_agg(user_id || ' v' || version, ',' ORDER BY user_id) || ' lines=' || (SELECT coalesce(string_agg(sku || quantity, ','), '') FROM cart_lines) FROM carts",
	}
	out := map[string]string{}
	for name, d := range m.Databases {
		var outbox int
		if err := d.Pool.QueryRow(context.Background(), "SELECT count(*) FROM outbox").Scan(&outbox); err != nil {
			t.Fatal(err)
		}
		out[name+" outbox"] = fmt.Sprint(outbox)
		if q, ok := queries[name]; ok {
			var v *string
			if err := d.Pool.QueryRow(context.Background(), q).Scan(&v); err != nil {
				t.Fatalf("snapshot %s: %v", name, err)
			}
			if v != nil {
				out[name] = strings.TrimSpace(*v)
			}
		}
	}
	return out
}

// outboxEvents returns every event every service has produced.
func outboxEvents(t *testing.T, m *meshtest.Mesh) []*eventsv1.Envelope {
	t.Helper()
	var out []*eventsv1.Envelope
	for _, d := range m.Databases {
		out = append(out, eventstest.Outbox(context.Background(), t, d.Pool, "")...)
	}
	return out
}
