package order

import (
	"context"

	"connectrpc.com/connect"
	lru "github.com/hashicorp/golang-lru/v2"

	cartv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1/cartv1connect"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	paymentv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1/paymentv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
)

type catalogClient struct {
	client catalogv1connect.CatalogServiceClient
}

// Products implements service.Catalog.
func (c catalogClient) Products(ctx context.Context, skus []string) (map[string]service.Product, error) {
	res, err := c.client.BatchGetProducts(ctx, connect.NewRequest(&catalogv1.BatchGetProductsRequest{Skus: skus}))
	if err != nil {
		return nil, rpcerr.Dependency("the catalog", err)
	}
	out := make(map[string]service.Product, len(res.Msg.GetProducts()))
	for _, p := range res.Msg.GetProducts() {
		out[p.GetSku()] = service.Product{
			SKU: p.GetSku(), Name: p.GetName(), WeightGrams: p.GetWeightGrams(),
			Price:    service.Money{AmountMinor: p.GetPrice().GetAmountMinor(), Currency: p.GetPrice().GetCurrency()},
			Archived: p.GetState() == catalogv1.ProductState_PRODUCT_STATE_ARCHIVED,
		}
	}
	return out, nil
}

type cartClient struct {
	client cartv1connect.CartServiceClient
}

// Lines implements service.Cart. It calls with the service role, which
// may read any user's cart.
func (c cartClient) Lines(ctx context.Context, userID string) ([]service.CartLine, error) {
	res, err := c.client.GetCart(ctx, connect.NewRequest(&cartv1.GetCartRequest{UserId: userID}))
	if err != nil {
		return nil, rpcerr.Dependency("the cart service", err)
	}
	var out []service.CartLine
	for _, l := range res.Msg.GetCart().GetLines() {
		out = append(out, service.CartLine{SKU: l.GetSku(), Quantity: l.GetQuantity(), Available: l.GetAvailable()})
	}
	return out, nil
}

// paymentMethods asks Payment whose a payment method is. A method never
// changes hands and is never deleted, so an answer is kept: a customer's
// next checkout with the same card costs no call. A method that does not
// exist is not remembered, since it may be created the next moment.
type paymentMethods struct {
	client paymentv1connect.PaymentServiceClient
	owners *lru.Cache[string, string]
}

func newPaymentMethods(client paymentv1connect.PaymentServiceClient, size int) paymentMethods {
	owners, err := lru.New[string, string](max(size, 1))
	if err != nil {
		panic(err) //nolint:forbidigo // only for a size below 1, which max rules out
	}
	return paymentMethods{client: client, owners: owners}
}

// Owner implements service.PaymentMethods.
func (p paymentMethods) Owner(ctx context.Context, id string) (string, bool, error) {
	if owner, ok := p.owners.Get(id); ok {
		return owner, true, nil
	}
	res, err := p.client.GetPaymentMethod(ctx, connect.NewRequest(&paymentv1.GetPaymentMethodRequest{Id: id}))
	if connect.CodeOf(err) == connect.CodeNotFound {
		return "", false, nil
	}
	if err != nil {
		return "", false, rpcerr.Dependency("the payment service", err)
	}
	owner := res.Msg.GetPaymentMethod().GetUserId()
	p.owners.Add(id, owner)
	return owner, true, nil
}
