package tracing_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/shopper"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
)

// An order that expires, which no request does, is cancelled in its own
// trace: the expiry, the terminal status and the compensations it starts
// are seen with the order's placement, and so are the deliveries to
// Inventory that failed while it was down, each an error that names the
// order, linked to the delivery batch it was part of.
func TestExpiredOrderStaysInItsTrace(t *testing.T) {
	ctx := context.Background()
	m, rcv, tel := startExported(t, func(c *mesh.Config) { c.Saga.OrderDeadline = time.Second })
	c := shopper.NewClients(m.URL)
	merchant := m.Token(t, "mia", auth.RoleMerchant)
	if err := c.NewProduct(ctx, merchant, &catalogv1.CreateProductRequest{
		Sku: "EX-1", Name: "Expiring tea", Category: "tea", WeightGrams: 100, Price: &commonv1.Money{AmountMinor: 500, Currency: "EUR"},
	}, 5); err != nil {
		t.Fatal(err)
	}
	cust, err := c.NewCustomer(ctx, m.Config.Auth, "late", shopper.GoodCard)
	if err != nil {
		t.Fatal(err)
	}
	addr := &commonv1.PostalAddress{Recipient: "A", Line1: "B", City: "Berlin", PostalCode: "10115", CountryCode: "DE"}
	q, err := c.Orders.QuoteShipping(ctx, shopper.With(&orderv1.QuoteShippingRequest{ShippingAddress: addr, Lines: []*orderv1.LineRequest{{Sku: "EX-1", Quantity: 1}}}, cust.Token))
	if err != nil {
		t.Fatal(err)
	}
	m.Gates["inventory"].Down() // the order cannot be reserved: it waits, then expires
	last, err := c.Checkout(ctx, cust.Token, &orderv1.PlaceOrderRequest{
		UserId: "late", IdempotencyKey: "checkout-late-1", Source: &orderv1.PlaceOrderRequest_Lines{Lines: &orderv1.ExplicitLines{Lines: []*orderv1.LineRequest{{Sku: "EX-1", Quantity: 1}}}},
		ShippingAddress: addr, Email: "late@example.com", PaymentMethodId: cust.Card,
		ExpectedTotal: &commonv1.Money{AmountMinor: 500 + q.Msg.GetAmount().GetAmountMinor(), Currency: "EUR"},
	}, 30*time.Second)
	if err != nil || last.GetReason() != orderv1.StatusReason_STATUS_REASON_EXPIRED {
		t.Fatalf("checkout = %v %v, %v; want CANCELLED EXPIRED", last.GetStatus(), last.GetReason(), err)
	}
	m.Gates["inventory"].Up()
	m.WaitQuiet(t)
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	var traceID string
	for _, s := range rcv.Spans() {
		if s.Kind == tracev1.Span_SPAN_KIND_SERVER && strings.HasSuffix(s.Name, "OrderService/PlaceOrder") && s.Attributes["ordermesh.order_id"] == last.GetId() {
			traceID = s.TraceID
		}
	}
	if traceID == "" {
		t.Fatal("no PlaceOrder span for the order")
	}
	var names []string
	expired := false
	failedDeliveries := 0
	for _, s := range rcv.Spans() {
		if s.TraceID != traceID {
			continue
		}
		names = append(names, s.Service+" "+s.Name)
		if s.Name == "deliver inventory" {
			// OrderPlaced failed while Inventory was down; so may the
			// OrderCancelled of its expiry, if the relay tried it before
			// Inventory came back.
			event := s.Attributes["ordermesh.event.type"]
			if event == "EVENT_TYPE_ORDER_PLACED" {
				failedDeliveries++
			}
			if !s.Error || s.Attributes["ordermesh.order_id"] != last.GetId() || s.Attributes["ordermesh.delivery.outcome"] != "retry" ||
				(event != "EVENT_TYPE_ORDER_PLACED" && event != "EVENT_TYPE_ORDER_CANCELLED") || len(s.Links) != 1 {
				t.Errorf("failed delivery span: error %v, attributes %v, %d links; want an error naming the order, its OrderPlaced or OrderCancelled, a retry, linked to its batch",
					s.Error, s.Attributes, len(s.Links))
			}
		}
		expired = expired || (s.Attributes["ordermesh.order.status"] == "cancelled" && s.Attributes["ordermesh.order.reason"] == "expired")
	}
	for _, want := range []string{"ordermesh-order order.expire", "ordermesh-inventory consume EVENT_TYPE_ORDER_CANCELLED", "ordermesh-payment consume EVENT_TYPE_ORDER_CANCELLED"} {
		if !slices.Contains(names, want) {
			t.Errorf("the order's trace has no %q; it has %v", want, names)
		}
	}
	if failedDeliveries == 0 {
		t.Errorf("the order's trace has no failed delivery of its OrderPlaced to Inventory: %v", names)
	}
	if !expired {
		t.Errorf("the order's trace does not record its expiry as its terminal status: %v", names)
	}
}
