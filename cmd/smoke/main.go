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

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/invariants"
	"github.com/ordermesh/ordermesh/app/shopper"
	cartv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/clientenv"
	"github.com/ordermesh/ordermesh/internal/platform/config"
)

const (
	cardDeclined = "4000000000000002"
	price        = 1250
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", clientenv.URL(nil), "base URL of the mesh's entry point; ORDERMESH_URL sets the default")
	protocol := flag.String("protocol", "grpc", "connect, grpc or grpcweb")
	timeout := flag.Duration("timeout", 2*time.Minute, "time each order gets to settle")
	flag.Parse()

	cfg := mesh.NewConfig() // JWT_SIGNING_KEY and the DATABASE_URL variables, as the services read them
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
	c := shopper.NewClients(*addr, opts...)
	ctx := context.Background()
	run := fmt.Sprintf("%s-%d", *protocol, time.Now().UnixNano())
	merchant, err := auth.Mint(cfg.Auth, "smoke-merchant-"+run, []auth.Role{auth.RoleMerchant}, time.Hour)
	if err != nil {
		return fmt.Errorf("mint a token (set JWT_SIGNING_KEY to the mesh's key): %w", err)
	}
	sku := "SMOKE-" + strings.ToUpper(run)
	if err := c.NewProduct(ctx, merchant, &catalogv1.CreateProductRequest{
		Sku: sku, Name: "Smoke test " + sku, Category: "smoke", WeightGrams: 250,
		Price: &commonv1.Money{AmountMinor: price, Currency: "EUR"},
	}, 10); err != nil {
		return err
	}

	// 1. A checkout from a cart: reserve, authorise, book shipping, confirm.
	buyer, err := c.NewCustomer(ctx, cfg.Auth, "smoke-buyer-"+run, shopper.GoodCard)
	if err != nil {
		return err
	}
	if _, err := c.Carts.AddItem(ctx, shopper.With(&cartv1.AddItemRequest{UserId: buyer.ID, Sku: sku, Quantity: 2}, buyer.Token)); err != nil {
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
	declined, err := c.NewCustomer(ctx, cfg.Auth, "smoke-declined-"+run, cardDeclined)
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
		res, err := c.Stock.GetStock(ctx, shopper.With(&inventoryv1.GetStockRequest{Sku: sku}, merchant))
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
	pools, closePools, err := shopper.OpenDatabases(ctx, cfg)
	if err != nil {
		return err
	}
	defer closePools()
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

// checkout places an order with the total the shop would show and watches
// it until the saga ends.
func checkout(ctx context.Context, c shopper.Clients, who shopper.Customer, sku string, qty int32, source any, timeout time.Duration) (*orderv1.Order, error) {
	address := &commonv1.PostalAddress{Recipient: "Smoke Tester", Line1: "1 Probe Street", City: "Berlin", PostalCode: "10115", CountryCode: "DE"}
	quote, err := c.Orders.QuoteShipping(ctx, connect.NewRequest(&orderv1.QuoteShippingRequest{
		ShippingAddress: address, Lines: []*orderv1.LineRequest{{Sku: sku, Quantity: qty}},
	}))
	if err != nil {
		return nil, fmt.Errorf("quote shipping: %w", err)
	}
	req := &orderv1.PlaceOrderRequest{
		UserId: who.ID, IdempotencyKey: who.ID + "-" + sku, ShippingAddress: address,
		Email: who.ID + "@example.com", PaymentMethodId: who.Card,
		ExpectedTotal: &commonv1.Money{AmountMinor: int64(qty)*price + quote.Msg.GetAmount().GetAmountMinor(), Currency: "EUR"},
	}
	switch s := source.(type) {
	case *orderv1.PlaceOrderRequest_FromCart:
		req.Source = s
	case *orderv1.PlaceOrderRequest_Lines:
		req.Source = s
	}
	last, err := c.Checkout(ctx, who.Token, req, timeout)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return last, fmt.Errorf("place and watch the order: %w", err)
	}
	if last == nil {
		return nil, errors.New("watch order: no update")
	}
	if strings.HasSuffix(last.GetStatus().String(), "PENDING") {
		return last, fmt.Errorf("order %s still %s after %v", last.GetId(), last.GetStatus(), timeout)
	}
	return last, nil
}
