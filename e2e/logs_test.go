package e2e_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/logging"
	"github.com/ordermesh/ordermesh/internal/platform/telemetry"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

// TestSagaLogsWhatItDid checks the info lines an operator reads: one per
// terminal order with its status, reason, age and trace, one per
// compensation step, and one per parked and per requeued delivery, in the
// trace of the event concerned.
func TestSagaLogsWhatItDid(t *testing.T) {
	t.Parallel()
	// No exporter: trace ids still join the lines of one checkout.
	tel, err := telemetry.Setup(context.Background(), logging.New(io.Discard, "t", slog.LevelError), telemetry.Config{}, mesh.Services...)
	if err != nil {
		t.Fatal(err)
	}
	s := newShopTraced(t, tel, func(c *mesh.Config) { c.Relay.MaxAttempts = 2 })
	ok, declined := s.customer(t, "log-ok", cardOK), s.customer(t, "log-no", cardDeclined)
	refused, short := s.customer(t, "log-aq", cardOK), s.customer(t, "log-short", cardOK)

	// Cart is down while the good order confirms: its OrderConfirmed to
	// Cart is parked after two attempts.
	s.m.Gates["cart"].Down()
	want := map[string]struct{ status, reason string }{}
	for _, tc := range []struct {
		c       customer
		country string
		source  *orderv1.PlaceOrderRequest_Lines
		status  orderv1.OrderStatus
		reason  string
	}{
		{ok, "DE", lines("BEAN-1", 1), confirmed, ""},
		{declined, "DE", lines("BEAN-1", 1), cancelled, "payment_declined"},
		{refused, "AQ", lines("BEAN-1", 1), cancelled, "shipping_failed"},
		{short, "DE", lines("MUG-1", 9), rejected, "out_of_stock"},
	} {
		o := s.settle(t, tc.c, s.place(t, tc.c, s.request(t, tc.c, tc.country, tc.source)).GetId())
		if o.GetStatus() != tc.status {
			t.Fatalf("%s: order %v, want %v", tc.c.id, o.GetStatus(), tc.status)
		}
		want[o.GetId()] = struct{ status, reason string }{map[orderv1.OrderStatus]string{confirmed: "confirmed", cancelled: "cancelled", rejected: "rejected"}[tc.status], tc.reason}
	}
	okOrder := ""
	for id, w := range want {
		if w.status == "confirmed" {
			okOrder = id
		}
	}
	waitForLine(t, s.m, func(l map[string]any) bool { return l["msg"] == "delivery parked" && l["order_id"] == okOrder })
	admin := eventsv1connect.NewEventAdminServiceClient(s.m.HTTP, s.m.URL+events.SinkPath("order"))
	res, err := admin.RequeueParkedDeliveries(context.Background(), meshtest.WithToken(&eventsv1.RequeueParkedDeliveriesRequest{Subscriber: "cart"}, s.service))
	if err != nil || res.Msg.GetRequeued() != 1 {
		t.Fatalf("requeue = %v, %v; want 1 requeued", res, err)
	}
	s.m.Gates["cart"].Up()
	s.m.WaitQuiet(t)

	lines := s.m.LogLines(t)
	trace := map[string]string{} // order id → the trace of its terminal line
	for id, w := range want {
		var found []map[string]any
		for _, l := range lines {
			if l["order_id"] == id && l["msg"] == "order "+w.status {
				found = append(found, l)
			}
		}
		if len(found) != 1 {
			t.Errorf("order %s: %d lines saying it ended %s, want 1", id, len(found), w.status)
			continue
		}
		l := found[0]
		age, isNumber := l["age_seconds"].(float64)
		if l["status"] != w.status || l["reason"] != w.reason || !isNumber || age <= 0 || age > 30 || l["trace_id"] == nil || l["level"] != "INFO" {
			t.Errorf("order %s: line %v, want INFO status=%s reason=%q, age_seconds in (0, 30] and a trace_id", id, l, w.status, w.reason)
		}
		trace[id], _ = l["trace_id"].(string)
	}
	// Compensations, in each order's trace.
	for id, w := range want {
		steps := map[string]bool{}
		for _, l := range lines {
			if l["order_id"] == id && (l["msg"] == "stock released" || l["msg"] == "payment voided") {
				steps[l["msg"].(string)] = true
				if l["trace_id"] != trace[id] {
					t.Errorf("order %s: %q is in trace %v, want the order's %s", id, l["msg"], l["trace_id"], trace[id])
				}
			}
		}
		wantSteps := map[string]map[string]bool{
			"payment_declined": {"stock released": true},
			"shipping_failed":  {"stock released": true, "payment voided": true},
		}[w.reason]
		if len(steps) != len(wantSteps) {
			t.Errorf("order %s (%s): compensation lines %v, want %v", id, w.reason, steps, wantSteps)
		}
	}
	for _, msg := range []string{"delivery parked", "delivery requeued"} {
		n := 0
		for _, l := range lines {
			if l["msg"] == msg && l["order_id"] == okOrder {
				n++
				if l["subscriber"] != "cart" || l["trace_id"] != trace[okOrder] || l["event_id"] == nil {
					t.Errorf("%s: %v, want subscriber cart, the event id and the order's trace %s", msg, l, trace[okOrder])
				}
			}
		}
		if n != 1 {
			t.Errorf("%d %q lines for order %s, want 1", n, msg, okOrder)
		}
	}
}

// waitForLine waits up to 20 s for a log line that matches.
func waitForLine(t *testing.T, m *meshtest.Mesh, match func(map[string]any) bool) {
	t.Helper()
	wait.Until(t, 20*time.Second, 20*time.Millisecond, func() error {
		if slices.ContainsFunc(m.LogLines(t), match) {
			return nil
		}
		return errors.New("the awaited log line never came")
	})
}
