// Package tracing_test checks that one checkout is one trace across the
// five services. It lives apart because it installs a global tracer
// provider (an in-memory span recorder) before any mesh is built.
package tracing_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1/orderv1connect"
	paymentv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1/paymentv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
)

var recorder = tracetest.NewSpanRecorder()

func TestMain(m *testing.M) {
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	os.Exit(m.Run())
}

func TestCheckoutIsOneTrace(t *testing.T) {
	m := meshtest.Start(t, nil)
	ctx := context.Background()
	merchant := m.Token(t, "mia", auth.RoleMerchant)
	alice := m.Token(t, "alice", auth.RoleCustomer)
	catalog := catalogv1connect.NewCatalogServiceClient(m.HTTP, m.URL)
	stock := inventoryv1connect.NewInventoryServiceClient(m.HTTP, m.URL)
	payments := paymentv1connect.NewPaymentServiceClient(m.HTTP, m.URL)
	orders := orderv1connect.NewOrderServiceClient(m.HTTP, m.URL)
	if _, err := catalog.CreateProduct(ctx, meshtest.WithToken(&catalogv1.CreateProductRequest{
		Sku: "T-1", Name: "Traced tea", Category: "tea", WeightGrams: 100, Price: &commonv1.Money{AmountMinor: 500, Currency: "EUR"},
	}, merchant)); err != nil {
		t.Fatal(err)
	}
	if _, err := stock.SetStock(ctx, meshtest.WithToken(&inventoryv1.SetStockRequest{Sku: "T-1", Available: 10}, merchant)); err != nil {
		t.Fatal(err)
	}
	pm, err := payments.CreatePaymentMethod(ctx, meshtest.WithToken(&paymentv1.CreatePaymentMethodRequest{
		UserId: "alice", CardNumber: "4242424242424242", ExpMonth: 12, ExpYear: int32(time.Now().Year() + 1), Cvc: "123",
	}, alice))
	if err != nil {
		t.Fatal(err)
	}
	placed, err := orders.PlaceOrder(ctx, meshtest.WithToken(&orderv1.PlaceOrderRequest{
		UserId: "alice", IdempotencyKey: "trace-checkout-1",
		Source:          &orderv1.PlaceOrderRequest_Lines{Lines: &orderv1.ExplicitLines{Lines: []*orderv1.LineRequest{{Sku: "T-1", Quantity: 1}}}},
		ShippingAddress: &commonv1.PostalAddress{Recipient: "A", Line1: "B", City: "C", PostalCode: "10115", CountryCode: "DE"},
		Email:           "alice@example.com", PaymentMethodId: pm.Msg.GetPaymentMethod().GetId(),
		ExpectedTotal: &commonv1.Money{AmountMinor: 500 + 590, Currency: "EUR"},
	}, alice))
	if err != nil {
		t.Fatal(err)
	}
	m.WaitQuiet(t)
	orderID := placed.Msg.GetOrder().GetId()

	// The trace is the one of the PlaceOrder server span.
	var root sdktrace.ReadOnlySpan
	for _, s := range recorder.Ended() {
		if s.SpanKind() == trace.SpanKindServer && strings.HasSuffix(s.Name(), "OrderService/PlaceOrder") {
			root = s
		}
	}
	if root == nil {
		t.Fatal("no PlaceOrder server span was recorded")
	}
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	var inTrace []sdktrace.ReadOnlySpan
	for _, s := range recorder.Ended() {
		if s.SpanContext().TraceID() == root.SpanContext().TraceID() {
			byID[s.SpanContext().SpanID()] = s
			inTrace = append(inTrace, s)
		}
	}
	// find returns the one span in the trace that matches.
	find := func(desc string, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
		t.Helper()
		var found []sdktrace.ReadOnlySpan
		for _, s := range inTrace {
			if match(s) {
				found = append(found, s)
			}
		}
		if len(found) != 1 {
			var names []string
			for _, s := range inTrace {
				names = append(names, s.Name())
			}
			t.Fatalf("%s: %d spans in the checkout trace, want 1; the trace has %v", desc, len(found), names)
		}
		return found[0]
	}
	consume := func(event, consumer string) func(sdktrace.ReadOnlySpan) bool {
		return func(s sdktrace.ReadOnlySpan) bool {
			if s.Name() != "consume EVENT_TYPE_"+event {
				return false
			}
			for _, a := range s.Attributes() {
				if string(a.Key) == "ordermesh.consumer" && a.Value.AsString() == consumer {
					return true
				}
			}
			return false
		}
	}
	// descends reports whether child has ancestor among its parents.
	descends := func(child, ancestor sdktrace.ReadOnlySpan) bool {
		for s := child; s != nil; s = byID[s.Parent().SpanID()] {
			if s.Parent().SpanID() == ancestor.SpanContext().SpanID() {
				return true
			}
		}
		return false
	}
	pricing := find("Catalog pricing", func(s sdktrace.ReadOnlySpan) bool {
		return s.SpanKind() == trace.SpanKindServer && strings.HasSuffix(s.Name(), "CatalogService/BatchGetProducts")
	})
	placedAt := find("OrderPlaced delivery to Inventory", consume("ORDER_PLACED", "inventory"))
	batch := find("Inventory batch", func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "inventory.reserve_batch" })
	reservedPayment := find("StockReserved to Payment", consume("STOCK_RESERVED", "payment"))
	reservedOrder := find("StockReserved to Order", consume("STOCK_RESERVED", "order"))
	authorized := find("the confirm (PaymentAuthorized to Order)", consume("PAYMENT_AUTHORIZED", "order"))
	settle := map[string]sdktrace.ReadOnlySpan{}
	for _, svc := range []string{"inventory", "payment", "cart"} {
		settle[svc] = find("OrderConfirmed to "+svc, consume("ORDER_CONFIRMED", svc))
	}
	for _, e := range []struct {
		name            string
		child, ancestor sdktrace.ReadOnlySpan
	}{
		{"PlaceOrder → Catalog pricing", pricing, root},
		{"PlaceOrder → OrderPlaced consumed by Inventory", placedAt, root},
		{"OrderPlaced → the batch", batch, placedAt},
		{"the batch → StockReserved at Payment", reservedPayment, batch},
		{"the batch → StockReserved at Order", reservedOrder, batch},
		{"the authorisation → the confirm", authorized, reservedPayment},
		{"the confirm → settle at Inventory", settle["inventory"], authorized},
		{"the confirm → settle at Payment", settle["payment"], authorized},
		{"the confirm → settle at Cart", settle["cart"], authorized},
	} {
		if !descends(e.child, e.ancestor) {
			t.Errorf("%s: %q is not under %q", e.name, e.child.Name(), e.ancestor.Name())
		}
	}
	// The batch links to the request it served and records its size.
	linked := false
	for _, l := range batch.Links() {
		linked = linked || l.SpanContext.SpanID() == placedAt.SpanContext().SpanID()
	}
	if !linked {
		t.Error("the batch span does not link to the OrderPlaced span it served")
	}
	var size int64
	for _, a := range batch.Attributes() {
		if a.Key == "ordermesh.batch.size" {
			size = a.Value.AsInt64()
		}
	}
	if size != 1 {
		t.Errorf("batch size attribute = %d, want 1", size)
	}
	for _, s := range []sdktrace.ReadOnlySpan{placedAt, reservedPayment, authorized, settle["cart"]} {
		found := false
		for _, a := range s.Attributes() {
			found = found || (a.Key == "ordermesh.order_id" && a.Value.AsString() == orderID)
		}
		if !found {
			t.Errorf("%q does not carry ordermesh.order_id=%s", s.Name(), orderID)
		}
	}
}
