// Package shopper is the client side that the load and smoke commands
// (bench-saga, flash-sale, smoke) share: Connect clients for the public
// API, bearer tokens, customers with a tokenised card, a checkout placed
// and watched to the end of its saga, and the services' databases for the
// invariant checks that follow.
package shopper

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1/cartv1connect"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1/orderv1connect"
	paymentv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1/paymentv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/rpcclient"
)

// GoodCard is the test card the payment simulator authorises.
const GoodCard = "4242424242424242"

// Clients reach every public service at one base URL.
type Clients struct {
	Catalog  catalogv1connect.CatalogServiceClient
	Carts    cartv1connect.CartServiceClient
	Stock    inventoryv1connect.InventoryServiceClient
	Payments paymentv1connect.PaymentServiceClient
	Orders   orderv1connect.OrderServiceClient
}

// NewClients returns clients for the mesh at base, over one h2c client.
func NewClients(base string, opts ...connect.ClientOption) Clients {
	hc := rpcclient.NewHTTPClient()
	return Clients{
		Catalog:  catalogv1connect.NewCatalogServiceClient(hc, base, opts...),
		Carts:    cartv1connect.NewCartServiceClient(hc, base, opts...),
		Stock:    inventoryv1connect.NewInventoryServiceClient(hc, base, opts...),
		Payments: paymentv1connect.NewPaymentServiceClient(hc, base, opts...),
		Orders:   orderv1connect.NewOrderServiceClient(hc, base, opts...),
	}
}

// With returns a request for msg that carries token.
func With[T any](msg *T, token string) *connect.Request[T] {
	r := connect.NewRequest(msg)
	r.Header().Set("Authorization", "Bearer "+token)
	return r
}

// NewProduct creates p in the catalog and sets its stock to units, with
// a merchant's token.
func (c Clients) NewProduct(ctx context.Context, merchant string, p *catalogv1.CreateProductRequest, units int64) error {
	if _, err := c.Catalog.CreateProduct(ctx, With(p, merchant)); err != nil {
		return fmt.Errorf("create product: %w", err)
	}
	if _, err := c.Stock.SetStock(ctx, With(&inventoryv1.SetStockRequest{Sku: p.GetSku(), Available: units}, merchant)); err != nil {
		return fmt.Errorf("set stock: %w", err)
	}
	return nil
}

// Customer is a user with a token and a tokenised card.
type Customer struct{ ID, Token, Card string }

// NewCustomer mints a customer token for id (signed as the mesh signs
// them) and tokenises card for them.
func (c Clients) NewCustomer(ctx context.Context, cfg auth.Config, id, card string) (Customer, error) {
	tok, err := auth.Mint(cfg, id, []auth.Role{auth.RoleCustomer}, time.Hour)
	if err != nil {
		return Customer{}, err
	}
	pm, err := c.Payments.CreatePaymentMethod(ctx, With(&paymentv1.CreatePaymentMethodRequest{
		UserId: id, CardNumber: card, ExpMonth: 12, ExpYear: int32(time.Now().Year() + 2), Cvc: "123",
	}, tok))
	if err != nil {
		return Customer{}, fmt.Errorf("payment method: %w", err)
	}
	return Customer{ID: id, Token: tok, Card: pm.Msg.GetPaymentMethod().GetId()}, nil
}

// Checkout places req as token's user and watches the order until its
// saga ends or timeout passes. It returns the last state seen (nil if
// none) and the error that ended the watch, if any.
func (c Clients) Checkout(ctx context.Context, token string, req *orderv1.PlaceOrderRequest, timeout time.Duration) (*orderv1.Order, error) {
	placed, err := c.Orders.PlaceOrder(ctx, With(req, token))
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stream, err := c.Orders.WatchOrder(wctx, With(&orderv1.WatchOrderRequest{OrderId: placed.Msg.GetOrder().GetId()}, token))
	if err != nil {
		return nil, err
	}
	var last *orderv1.Order
	for stream.Receive() {
		last = stream.Msg().GetOrder()
	}
	return last, stream.Err()
}

// OpenDatabases opens a small pool on each service's database, as cfg
// names them, for the invariant checks; close releases them all.
func OpenDatabases(ctx context.Context, cfg mesh.Config) (pools map[string]*pgxpool.Pool, closeAll func(), err error) {
	pools = map[string]*pgxpool.Pool{}
	closeAll = func() {
		for _, p := range pools {
			p.Close()
		}
	}
	for _, s := range mesh.Services {
		p, err := db.Open(ctx, cfg.DatabaseURLOf(s), 2, nil)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("%s database: %w", s, err)
		}
		pools[s] = p
	}
	return pools, closeAll, nil
}
