package e2e_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

// scrape reads h's /metrics and returns the families by name.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("/metrics is not the text exposition format: %v", err)
	}
	return fams
}

// sample returns the value of the first series of name whose labels
// include want.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, m := range fams[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

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
		fams = scrape(t, s.m.Metrics)
		if v, found := sample(fams, "ordermesh_orders_oldest_open_seconds", nil); !found || v <= 0 {
			return fmt.Errorf("the open order is %vs old (found %v), want older than 0", v, found)
		}
		// The confirmed order's last events reach their consumers.
		for _, svc := range []string{"inventory", "payment", "order", "cart"} {
			if v, found := sample(fams, "ordermesh_rpc_requests_total", map[string]string{"service": svc, "procedure": deliver, "code": "ok"}); !found || v < 1 {
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
	if _, found := sample(fams, "ordermesh_rpc_duration_seconds", map[string]string{"procedure": watch}); found {
		t.Error("WatchOrder streams are in the unary latency histogram")
	}
	if v, found := sample(fams, "ordermesh_rpc_streams_total", map[string]string{"service": "order", "procedure": watch, "code": "ok"}); !found || v != 1 {
		t.Errorf("WatchOrder streams ended = %v (found %v), want 1", v, found)
	}
	if v, found := sample(fams, "ordermesh_rpc_stream_duration_seconds", map[string]string{"procedure": watch}); !found || v != 1 {
		t.Errorf("WatchOrder stream durations = %v (found %v), want 1", v, found)
	}
	if v, found := sample(fams, "ordermesh_orders_open", map[string]string{"status": "pending"}); !found || v != 1 {
		t.Errorf("open pending orders = %v (found %v), want 1", v, found)
	}
	if v, found := sample(fams, "ordermesh_orders_oldest_open_seconds", nil); !found || v <= 0 || v > 60 {
		t.Errorf("oldest open order = %vs (found %v), want under a minute", v, found)
	}
	if v, found := sample(fams, "ordermesh_order_deadline_seconds", nil); !found || v != 3600 {
		t.Errorf("order deadline = %v (found %v), want 3600", v, found)
	}
	if v, found := sample(fams, "ordermesh_build_info", map[string]string{"version": "dev"}); !found || v != 1 {
		t.Errorf("build info = %v (found %v), want 1 with version dev", v, found)
	}
}
