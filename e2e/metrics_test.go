package e2e_test

import (
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

// TestMetricsSayWhatHappened checks the metrics an operator's dashboards
// and alerts read: deliveries under the consuming service, streams apart
// from unary latency, open orders and their age, and build info.
func TestMetricsSayWhatHappened(t *testing.T) {
	t.Parallel()
	s := newShop(t, func(c *mesh.Config) { c.Saga.OrderDeadline = time.Hour })
	ok := s.customer(t, "metrics-ok", cardOK)
	if o := s.settle(t, ok, s.place(t, ok, s.request(t, ok, "DE", lines("BEAN-1", 1))).GetId()); o.GetStatus() != confirmed {
		t.Fatalf("order %v, want CONFIRMED", o.GetStatus())
	}
	// An order left open: Inventory is cut off, so it stays PENDING.
	s.m.Gates["inventory"].Down()
	defer s.m.Gates["inventory"].Up()
	s.place(t, ok, s.request(t, ok, "DE", lines("BEAN-1", 2)))
	deliver := "/ordermesh.events.v1.EventSinkService/Deliver"
	var fams map[string]*dto.MetricFamily
	wait.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
		fams = meshtest.Scrape(t, s.m.Metrics)
		if v, found := meshtest.Sample(fams, "ordermesh_orders_oldest_open_seconds", nil); !found || v <= 0 {
			return fmt.Errorf("the open order is %vs old (found %v), want older than 0", v, found)
		}
		// The confirmed order's last events reach their consumers.
		for _, svc := range []string{"inventory", "payment", "order", "cart"} {
			if v, found := meshtest.Sample(fams, "ordermesh_rpc_requests_total", map[string]string{"service": svc, "procedure": deliver, "code": "ok"}); !found || v < 1 {
				return fmt.Errorf("deliveries to %s counted %v (found %v), want them under the consuming service", svc, v, found)
			}
		}
		return nil
	})
	for _, m := range fams["ordermesh_rpc_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "service" && (l.GetValue() == "events" || l.GetValue() == "other") {
				t.Errorf("an RPC is labelled service=%q: %v", l.GetValue(), m.GetLabel())
			}
		}
	}
	watch := "/ordermesh.order.v1.OrderService/WatchOrder"
	if _, found := meshtest.Sample(fams, "ordermesh_rpc_duration_seconds", map[string]string{"procedure": watch}); found {
		t.Error("WatchOrder streams are in the unary latency histogram")
	}
	if v, found := meshtest.Sample(fams, "ordermesh_rpc_streams_total", map[string]string{"service": "order", "procedure": watch, "code": "ok"}); !found || v != 1 {
		t.Errorf("WatchOrder streams ended = %v (found %v), want 1", v, found)
	}
	if v, found := meshtest.Sample(fams, "ordermesh_rpc_stream_duration_seconds", map[string]string{"procedure": watch}); !found || v != 1 {
		t.Errorf("WatchOrder stream durations = %v (found %v), want 1", v, found)
	}
	if v, found := meshtest.Sample(fams, "ordermesh_orders_open", map[string]string{"status": "pending"}); !found || v != 1 {
		t.Errorf("open pending orders = %v (found %v), want 1", v, found)
	}
	if v, found := meshtest.Sample(fams, "ordermesh_orders_oldest_open_seconds", nil); !found || v <= 0 || v > 60 {
		t.Errorf("oldest open order = %vs (found %v), want under a minute", v, found)
	}
	if v, found := meshtest.Sample(fams, "ordermesh_order_deadline_seconds", nil); !found || v != 3600 {
		t.Errorf("order deadline = %v (found %v), want 3600", v, found)
	}
	if v, found := meshtest.Sample(fams, "ordermesh_build_info", map[string]string{"version": "dev"}); !found || v != 1 {
		t.Errorf("build info = %v (found %v), want 1 with version dev", v, found)
	}
}
