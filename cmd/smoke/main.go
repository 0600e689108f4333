// Command smoke runs one checkout and one compensated failure through a
// running mesh's public entry point, then checks the invariants in its
// databases. `make k8s-e2e` runs it against a cluster through
// port-forwards; it works against `make run` too.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

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
	"github.com/ordermesh/ordermesh/services/mesh"
	"github.com/ordermesh/ordermesh/services/mesh/invariants"
	"github.com/ordermesh/ordermesh/services/platform/auth"
	"github.com/ordermesh/ordermesh/services/platform/config"
	"github.com/ordermesh/ordermesh/services/platform/rpcclient"
)

const (
	cardGood     = "4242424242424242"
	cardDeclined = "4000000000000002"
	price        = 1250
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		os.Exit(1)
	}
}

type clients struct {
	catalog  catalogv1connect.CatalogServiceClient
	carts    cartv1connect.CartServiceClient
	stock    inventoryv1connect.InventoryServiceClient
	payments paymentv1connect.PaymentServiceClient
	orders   orderv1connect.OrderServiceClient
}

func run() error {
	addr := flag.String("addr", "http://localhost:8080", "base URL of the mesh's entry point")
	protocol := flag.String("protocol", "grpc", "connect, grpc or grpcweb")
	timeout := flag.Duration("timeout", 2*time.Minute, "time each order gets to settle")
	flag.Parse()

	var cfg mesh.Config // JWT_SIGNING_KEY and the DATABASE_URL variables, as the services read them
	if err := config.Load(&cfg); err != nil {
		return err
	}
	var opts []connect.ClientOption
	switch *protocol {
	case "connect":
	case "grpc":
		opts = append(opts, connect.WithGRPC())
	case "grpcweb":
		opts = append(opts, connect.WithGRPCWeb())
	default:
		return fmt.Errorf("unknown -protocol %q", *protocol)
	}
	hc := rpcclient.NewHTTPClient()
	c := clients{
		catalog:  catalogv1connect.NewCatalogServiceClient(hc, *addr, opts...),
		carts:    cartv1connect.NewCartServiceClient(hc, *addr, opts...),
		stock:    inventoryv1connect.NewInventoryServiceClient(hc, *addr, opts...),
		payments: paymentv1connect.NewPaymentServiceClient(hc, *addr, opts...),
		orders:   orderv1connect.NewOrderServiceClient(hc, *addr, opts...),
	}
	ctx := context.Background()
	run := fmt.Sprintf("%s-%d", *protocol, time.Now().UnixNano())
	merchant, err := auth.Mint(cfg.Auth, "smoke-merchant-"+run, []auth.Role{auth.RoleMerchant}, time.Hour)
	if err != nil {
		return fmt.Errorf("mint a token (set JWT_SIGNING_KEY to the mesh's key): %w", err)
	}
	sku := "SMOKE-" + strings.ToUpper(run)
	if _, err := c.catalog.CreateProduct(ctx, with(&catalogv1.CreateProductRequest{
		Sku: sku, Name: "Smoke test " + sku, Category: "smoke", WeightGrams: 250,
		Price: &commonv1.Money{AmountMinor: price, Currency: "EUR"},
	}, merchant)); err != nil {
		return fmt.Errorf("create product: %w", err)
	}
	if _, err := c.stock.SetStock(ctx, with(&inventoryv1.SetStockRequest{Sku: sku, Available: 10}, merchant)); err != nil {
		return fmt.Errorf("set stock: %w", err)
	}

	// 1. A checkout from a cart: reserve, authorise, book shipping, confirm.
	buyer, err := newCustomer(ctx, c, cfg, "smoke-buyer-"+run, cardGood)
	if err != nil {
		return err
	}
	if _, err := c.carts.AddItem(ctx, with(&cartv1.AddItemRequest{UserId: buyer.id, Sku: sku, Quantity: 2}, buyer.token)); err != nil {
		return fmt.Errorf("add to cart: %w", err)
	}
	confirmed, err := checkout(ctx, c, buyer, sku, 2, &orderv1.PlaceOrderRequest_FromCart{FromCart: &orderv1.FromCart{}}, *timeout)
	if err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	fmt.Printf("smoke protocol=%s checkout order=%s status=%s\n", *protocol, confirmed.GetId(), confirmed.GetStatus())
	if confirmed.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		return fmt.Errorf("checkout ended %s (%s), want CONFIRMED", confirmed.GetStatus(), confirmed.GetReason())
	}

	// 2. A declined card: the saga compensates by releasing the stock.
	declined, err := newCustomer(ctx, c, cfg, "smoke-declined-"+run, cardDeclined)
	if err != nil {
		return err
	}
	cancelled, err := checkout(ctx, c, declined, sku, 3, &orderv1.PlaceOrderRequest_Lines{Lines: &orderv1.ExplicitLines{Lines: []*orderv1.LineRequest{{Sku: sku, Quantity: 3}}}}, *timeout)
	if err != nil {
		return fmt.Errorf("declined checkout: %w", err)
	}
	fmt.Printf("smoke compensation order=%s status=%s reason=%s\n", cancelled.GetId(), cancelled.GetStatus(), cancelled.GetReason())
	if cancelled.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_CANCELLED || cancelled.GetReason() != orderv1.StatusReason_STATUS_REASON_PAYMENT_DECLINED {
		return fmt.Errorf("declined checkout ended %s (%s), want CANCELLED PAYMENT_DECLINED", cancelled.GetStatus(), cancelled.GetReason())
	}
	// The release is an event away from the cancellation: wait for it.
	var st *inventoryv1.Stock
	for deadline := time.Now().Add(*timeout); ; time.Sleep(200 * time.Millisecond) {
		res, err := c.stock.GetStock(ctx, with(&inventoryv1.GetStockRequest{Sku: sku}, merchant))
		if err != nil {
			return fmt.Errorf("get stock: %w", err)
		}
		st = res.Msg.GetStock()
		if st.GetAvailable() == 8 || time.Now().After(deadline) {
			break
		}
	}
	fmt.Printf("smoke stock sku=%s available=%d reserved=%d\n", sku, st.GetAvailable(), st.GetReserved())
	if st.GetAvailable() != 8 {
		return fmt.Errorf("stock of %s: available %d, want 8 (10 less the 2 sold; the declined order's 3 released)", sku, st.GetAvailable())
	}

	// 3. The invariants, in the services' own databases.
	pools := map[string]*pgxpool.Pool{}
	defer func() {
		for _, p := range pools {
			p.Close()
		}
	}()
	for _, svc := range mesh.Services {
		url := cfg.DatabaseURLOf(svc)
		p, err := pgxpool.New(ctx, url)
		if err != nil {
			return fmt.Errorf("%s database: %w", svc, err)
		}
		pools[svc] = p
	}
	if err := invariants.Settle(ctx, pools, *timeout); err != nil {
		return err
	}
	if err := invariants.Check(ctx, pools); err != nil {
		fmt.Println("smoke invariants=broken")
		return err
	}
	fmt.Println("smoke invariants=ok")
	return nil
}

type customer struct{ id, token, card string }

func newCustomer(ctx context.Context, c clients, cfg mesh.Config, id, card string) (customer, error) {
	tok, err := auth.Mint(cfg.Auth, id, []auth.Role{auth.RoleCustomer}, time.Hour)
	if err != nil {
		return customer{}, err
	}
	pm, err := c.payments.CreatePaymentMethod(ctx, with(&paymentv1.CreatePaymentMethodRequest{
		UserId: id, CardNumber: card, ExpMonth: 12, ExpYear: int32(time.Now().Year() + 2), Cvc: "123", //nolint:gosec // a year
	}, tok))
	if err != nil {
		return customer{}, fmt.Errorf("payment method: %w", err)
	}
	return customer{id: id, token: tok, card: pm.Msg.GetPaymentMethod().GetId()}, nil
}

// checkout places an order with the total the shop would show and watches
// it until the saga ends.
func checkout(ctx context.Context, c clients, who customer, sku string, qty int32, source any, timeout time.Duration) (*orderv1.Order, error) {
	address := &commonv1.PostalAddress{Recipient: "Smoke Tester", Line1: "1 Probe Street", City: "Berlin", PostalCode: "10115", CountryCode: "DE"}
	quote, err := c.orders.QuoteShipping(ctx, connect.NewRequest(&orderv1.QuoteShippingRequest{
		ShippingAddress: address, Lines: []*orderv1.LineRequest{{Sku: sku, Quantity: qty}},
	}))
	if err != nil {
		return nil, fmt.Errorf("quote shipping: %w", err)
	}
	req := &orderv1.PlaceOrderRequest{
		UserId: who.id, IdempotencyKey: who.id + "-" + sku, ShippingAddress: address,
		Email: who.id + "@example.com", PaymentMethodId: who.card,
		ExpectedTotal: &commonv1.Money{AmountMinor: int64(qty)*price + quote.Msg.GetAmount().GetAmountMinor(), Currency: "EUR"},
	}
	switch s := source.(type) {
	case *orderv1.PlaceOrderRequest_FromCart:
		req.Source = s
	case *orderv1.PlaceOrderRequest_Lines:
		req.Source = s
	}
	placed, err := c.orders.PlaceOrder(ctx, with(req, who.token))
	if err != nil {
		return nil, fmt.Errorf("place order: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stream, err := c.orders.WatchOrder(wctx, with(&orderv1.WatchOrderRequest{OrderId: placed.Msg.GetOrder().GetId()}, who.token))
	if err != nil {
		return nil, fmt.Errorf("watch order: %w", err)
	}
	var last *orderv1.Order
	for stream.Receive() {
		last = stream.Msg().GetOrder()
	}
	if err := stream.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return last, fmt.Errorf("watch order: %w", err)
	}
	if last == nil {
		return nil, errors.New("watch order: no update")
	}
	if strings.HasSuffix(last.GetStatus().String(), "PENDING") {
		return last, fmt.Errorf("order %s still %s after %v", last.GetId(), last.GetStatus(), timeout)
	}
	return last, nil
}

func with[T any](msg *T, token string) *connect.Request[T] {
	r := connect.NewRequest(msg)
	r.Header().Set("Authorization", "Bearer "+token)
	return r
}
