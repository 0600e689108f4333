package e2e_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	cartv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1/cartv1connect"
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
	"github.com/ordermesh/ordermesh/internal/platform/telemetry"
)

// The test cards of the payment simulator.
const (
	cardOK           = "4242424242424242"
	cardDeclined     = "4000000000000002"
	cardInsufficient = "4000000000009995"
	cardTransient    = "4000000000000119"
)

// shop is the whole mesh with a stocked catalog: BEAN-1 (14.50 EUR, 250 g,
// 100 in stock) and MUG-1 (9.00 EUR, 180 g, 5 in stock).
type shop struct {
	m        *meshtest.Mesh
	merchant string
	service  string
	catalog  catalogv1connect.CatalogServiceClient
	carts    cartv1connect.CartServiceClient
	orders   orderv1connect.OrderServiceClient
	stock    inventoryv1connect.InventoryServiceClient
	payments paymentv1connect.PaymentServiceClient
}

func newShop(t testing.TB, opts ...meshtest.Option) *shop {
	t.Helper()
	return newShopTraced(t, nil, opts...)
}

// newShopUntraced is newShop with telemetry set up as a process without a
// collector has it: nothing is exported, and the span queues' metrics are
// there, at 0, for the dashboards and alerts that read them.
func newShopUntraced(t testing.TB, opts ...meshtest.Option) *shop {
	t.Helper()
	tel, err := telemetry.Setup(context.Background(), slog.New(slog.DiscardHandler), telemetry.Config{}, mesh.Services...)
	if err != nil {
		t.Fatal(err)
	}
	return newShopTraced(t, tel, opts...)
}

// newShopTraced is newShop with the services tracing through tel.
func newShopTraced(t testing.TB, tel *telemetry.Telemetry, opts ...meshtest.Option) *shop {
	t.Helper()
	m := meshtest.StartTraced(t, nil, tel, opts...)
	s := &shop{
		m: m, merchant: m.Token(t, "mia", auth.RoleMerchant), service: m.ServiceToken(t, "order"),
		catalog:  catalogv1connect.NewCatalogServiceClient(m.HTTP, m.URL),
		carts:    cartv1connect.NewCartServiceClient(m.HTTP, m.URL),
		orders:   orderv1connect.NewOrderServiceClient(m.HTTP, m.URL),
		stock:    inventoryv1connect.NewInventoryServiceClient(m.HTTP, m.URL),
		payments: paymentv1connect.NewPaymentServiceClient(m.HTTP, m.URL),
	}
	ctx := context.Background()
	for _, p := range []struct {
		sku    string
		price  int64
		weight int32
		stock  int64
	}{{"BEAN-1", 1450, 250, 100}, {"MUG-1", 900, 180, 5}} {
		_, err := s.catalog.CreateProduct(ctx, meshtest.WithToken(&catalogv1.CreateProductRequest{
			Sku: p.sku, Name: "Product " + p.sku, Category: "shop", WeightGrams: p.weight,
			Price: &commonv1.Money{AmountMinor: p.price, Currency: "EUR"},
		}, s.merchant))
		if err != nil {
			t.Fatalf("CreateProduct(%s): %v", p.sku, err)
		}
		if _, err := s.stock.SetStock(ctx, meshtest.WithToken(&inventoryv1.SetStockRequest{Sku: p.sku, Available: p.stock}, s.merchant)); err != nil {
			t.Fatalf("SetStock(%s): %v", p.sku, err)
		}
	}
	return s
}

// customer is a shopper with a token and a tokenised card.
type customer struct {
	id, token, card string
}

func (s *shop) customer(t testing.TB, id, number string) customer {
	t.Helper()
	tok := s.m.Token(t, id, auth.RoleCustomer)
	res, err := s.payments.CreatePaymentMethod(context.Background(), meshtest.WithToken(&paymentv1.CreatePaymentMethodRequest{
		UserId: id, CardNumber: number, ExpMonth: 12, ExpYear: int32(time.Now().Year() + 2), Cvc: "123",
	}, tok))
	if err != nil {
		t.Fatalf("CreatePaymentMethod: %v", err)
	}
	return customer{id: id, token: tok, card: res.Msg.GetPaymentMethod().GetId()}
}

func address(country string) *commonv1.PostalAddress {
	return &commonv1.PostalAddress{Recipient: "Ada Lovelace", Line1: "1 Analytical Way", City: "Berlin", PostalCode: "10115", CountryCode: country}
}

func lines(pairs ...any) *orderv1.PlaceOrderRequest_Lines {
	out := &orderv1.ExplicitLines{}
	for i := 0; i < len(pairs); i += 2 {
		out.Lines = append(out.Lines, &orderv1.LineRequest{Sku: pairs[i].(string), Quantity: int32(pairs[i+1].(int))})
	}
	return &orderv1.PlaceOrderRequest_Lines{Lines: out}
}

// request builds a PlaceOrder request with the total the shop would show:
// the catalog prices plus the shipping quote.
func (s *shop) request(t *testing.T, c customer, country string, source any) *orderv1.PlaceOrderRequest {
	t.Helper()
	req := &orderv1.PlaceOrderRequest{
		UserId: c.id, IdempotencyKey: fmt.Sprintf("key-%d", time.Now().UnixNano()), ShippingAddress: address(country),
		Email: c.id + "@example.com", PaymentMethodId: c.card,
	}
	var ls []*orderv1.LineRequest
	switch src := source.(type) {
	case *orderv1.PlaceOrderRequest_Lines:
		req.Source, ls = src, src.Lines.GetLines()
	case *orderv1.PlaceOrderRequest_FromCart:
		req.Source = src
		cart, err := s.carts.GetCart(context.Background(), meshtest.WithToken(&cartv1.GetCartRequest{UserId: c.id}, c.token))
		if err != nil {
			t.Fatalf("GetCart: %v", err)
		}
		for _, l := range cart.Msg.GetCart().GetLines() {
			ls = append(ls, &orderv1.LineRequest{Sku: l.GetSku(), Quantity: l.GetQuantity()})
		}
	}
	req.ExpectedTotal = s.total(t, country, ls)
	return req
}

func (s *shop) total(t *testing.T, country string, ls []*orderv1.LineRequest) *commonv1.Money {
	t.Helper()
	ctx := context.Background()
	q, err := s.orders.QuoteShipping(ctx, connect.NewRequest(&orderv1.QuoteShippingRequest{ShippingAddress: address(country), Lines: ls}))
	if err != nil {
		t.Fatalf("QuoteShipping: %v", err)
	}
	total := q.Msg.GetAmount().GetAmountMinor()
	for _, l := range ls {
		p, err := s.catalog.GetProduct(ctx, connect.NewRequest(&catalogv1.GetProductRequest{Sku: l.GetSku()}))
		if err != nil {
			t.Fatalf("GetProduct: %v", err)
		}
		total += p.Msg.GetProduct().GetPrice().GetAmountMinor() * int64(l.GetQuantity())
	}
	return &commonv1.Money{AmountMinor: total, Currency: "EUR"}
}

func (s *shop) place(t *testing.T, c customer, req *orderv1.PlaceOrderRequest) *orderv1.Order {
	t.Helper()
	res, err := s.orders.PlaceOrder(context.Background(), meshtest.WithToken(req, c.token))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	if res.Msg.GetOrder().GetStatus() != orderv1.OrderStatus_ORDER_STATUS_PENDING {
		t.Fatalf("PlaceOrder answered %v, want PENDING", res.Msg.GetOrder().GetStatus())
	}
	return res.Msg.GetOrder()
}

// settle follows the order with WatchOrder until the saga is over.
func (s *shop) settle(t *testing.T, c customer, id string) *orderv1.Order {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := s.orders.WatchOrder(ctx, meshtest.WithToken(&orderv1.WatchOrderRequest{OrderId: id}, c.token))
	if err != nil {
		t.Fatalf("WatchOrder: %v", err)
	}
	var last *orderv1.Order
	for stream.Receive() {
		last = stream.Msg().GetOrder()
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("WatchOrder: %v", err)
	}
	if last == nil {
		t.Fatal("WatchOrder sent nothing")
	}
	return last
}

func (s *shop) available(t *testing.T, sku string) *inventoryv1.Stock {
	t.Helper()
	res, err := s.stock.GetStock(context.Background(), connect.NewRequest(&inventoryv1.GetStockRequest{Sku: sku}))
	if err != nil {
		t.Fatalf("GetStock: %v", err)
	}
	return res.Msg.GetStock()
}

func (s *shop) payment(t *testing.T, c customer, orderID string) *paymentv1.Payment {
	t.Helper()
	res, err := s.payments.GetPayment(context.Background(), meshtest.WithToken(&paymentv1.GetPaymentRequest{OrderId: orderID}, c.token))
	if err != nil {
		t.Fatalf("GetPayment(%s): %v", orderID, err)
	}
	return res.Msg.GetPayment()
}

func statuses(o *orderv1.Order) []string {
	var out []string
	for _, h := range o.GetHistory() {
		out = append(out, h.GetStatus().String())
	}
	return out
}

func orderv1connectClient(s *shop, opts ...connect.ClientOption) orderv1connect.OrderServiceClient {
	return orderv1connect.NewOrderServiceClient(s.m.HTTP, s.m.URL, opts...)
}

func cmpProto() cmp.Option { return cmp.Comparer(proto.Equal) }

// order reads one of c's orders as it is now.
func (s *shop) order(t *testing.T, c customer, id string) *orderv1.Order {
	t.Helper()
	res, err := s.orders.GetOrder(context.Background(), meshtest.WithToken(&orderv1.GetOrderRequest{OrderId: id}, c.token))
	if err != nil {
		t.Fatalf("GetOrder %s: %v", id, err)
	}
	return res.Msg.GetOrder()
}
