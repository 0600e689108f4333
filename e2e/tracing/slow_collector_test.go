package tracing_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	"github.com/ordermesh/ordermesh/app/shopper"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
)

// TestSlowCollectorShedsDetailNotRoots exports to a collector that takes a
// second per request, through queues of 128 spans. The queues overflow;
// what they give up is detail, so orders keep their PlaceOrder root and
// the span that carries their terminal status (a root goes only when no
// detail is left to make room, and is then counted), every span not
// exported is counted in ordermesh_telemetry_spans_dropped_total, and
// what the queues counted as exported is what the collector received.
func TestSlowCollectorShedsDetailNotRoots(t *testing.T) {
	const orders = 24
	ctx := context.Background()
	m, rcv, tel := startExportedQueue(t, 128)
	rcv.SetDelay(time.Second)
	c := shopper.NewClients(m.URL)
	merchant := m.Token(t, "mia", auth.RoleMerchant)
	if err := c.NewProduct(ctx, merchant, &catalogv1.CreateProductRequest{
		Sku: "SLOW-1", Name: "Slow beans", Category: "coffee", WeightGrams: 250, Price: &commonv1.Money{AmountMinor: 500, Currency: "EUR"},
	}, 1000); err != nil {
		t.Fatal(err)
	}
	address := &commonv1.PostalAddress{Recipient: "A", Line1: "B", City: "Berlin", PostalCode: "10115", CountryCode: "DE"}
	var (
		mu  sync.Mutex
		ids []string
		wg  sync.WaitGroup
	)
	for i := range orders {
		wg.Go(func() {
			user := fmt.Sprintf("slow-%d", i)
			cust, err := c.NewCustomer(ctx, m.Config.Auth, user, shopper.GoodCard)
			if err != nil {
				t.Errorf("%s: %v", user, err)
				return
			}
			q, err := c.Orders.QuoteShipping(ctx, shopper.With(&orderv1.QuoteShippingRequest{
				ShippingAddress: address, Lines: []*orderv1.LineRequest{{Sku: "SLOW-1", Quantity: 1}}}, cust.Token))
			if err != nil {
				t.Errorf("%s: quote: %v", user, err)
				return
			}
			last, err := c.Checkout(ctx, cust.Token, &orderv1.PlaceOrderRequest{
				UserId: user, IdempotencyKey: "slow-" + user,
				Source:          &orderv1.PlaceOrderRequest_Lines{Lines: &orderv1.ExplicitLines{Lines: []*orderv1.LineRequest{{Sku: "SLOW-1", Quantity: 1}}}},
				ShippingAddress: address, Email: user + "@example.com", PaymentMethodId: cust.Card,
				ExpectedTotal: &commonv1.Money{AmountMinor: 500 + q.Msg.GetAmount().GetAmountMinor(), Currency: "EUR"},
			}, time.Minute)
			if err != nil {
				t.Errorf("%s: checkout: %v", user, err)
				return
			}
			if last.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_CONFIRMED {
				t.Errorf("%s: order ended %v", user, last.GetStatus())
			}
			mu.Lock()
			ids = append(ids, last.GetId())
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	m.WaitQuiet(t)
	if err := tel.Shutdown(ctx); err != nil { // flushes what the queues kept
		t.Fatalf("telemetry shutdown: %v", err)
	}

	roots, terminal := map[string]bool{}, map[string]bool{}
	spans := rcv.Spans()
	for _, s := range spans {
		id := s.Attributes["ordermesh.order_id"]
		if strings.HasSuffix(s.Name, "OrderService/PlaceOrder") && s.ParentID == "" {
			roots[id] = true
		}
		if s.Attributes["ordermesh.order.status"] == "confirmed" {
			terminal[id] = true
		}
	}
	var missing []string
	for _, id := range ids {
		if !roots[id] || !terminal[id] {
			missing = append(missing, fmt.Sprintf("%s (root %v, terminal %v)", id, roots[id], terminal[id]))
		}
	}

	fams := meshtest.Scrape(t, m.Metrics)
	const droppedName = "ordermesh_telemetry_spans_dropped_total"
	if _, ok := fams[droppedName]; !ok {
		t.Fatalf("no %s in /metrics", droppedName)
	}
	detail := meshtest.Sum(fams, droppedName, map[string]string{"class": "detail"})
	root := meshtest.Sum(fams, droppedName, map[string]string{"class": "root"})
	sent := meshtest.Sum(fams, "ordermesh_telemetry_spans_exported_total", nil)
	// The stall must have made the queues shed, or the test tested
	// nothing; what they shed is detail, and a root is lost only when no
	// detail was left to make room for it, and then it is counted.
	if detail == 0 {
		t.Errorf("dropped %v detail and %v root spans; the stalled collector made no queue shed detail", detail, root)
	}
	if len(missing) > 0 && int(root) < len(missing) {
		t.Errorf("%d orders lack their root or terminal span, but %v root spans were counted as dropped: %v", len(missing), root, missing)
	}
	if len(missing) > 0 {
		t.Logf("%d orders lost a root span, each counted: %v", len(missing), missing)
	}
	if int(sent) != len(spans) {
		t.Errorf("the queues counted %v spans exported; the collector received %d", sent, len(spans))
	}
	t.Logf("%d orders; %d spans exported, %v detail spans dropped", len(ids), len(spans), detail)
}
