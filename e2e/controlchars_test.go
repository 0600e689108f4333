package e2e_test

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	cartv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
)

// A NUL sent to a public, unauthenticated RPC is refused at validation,
// naming the field, over every protocol; it never reaches PostgreSQL, so
// nothing is logged as an internal error.
func TestControlCharactersAreRefusedAtValidation(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	alice := s.customer(t, "alice", cardOK)
	for _, p := range meshtest.Protocols {
		t.Run(p.Name, func(t *testing.T) {
			catalog := catalogv1connect.NewCatalogServiceClient(s.m.HTTP, s.m.URL, p.Opts...)
			_, err := catalog.SearchProducts(ctx, connect.NewRequest(&catalogv1.SearchProductsRequest{Query: "bean\x00s"}))
			meshtest.WantCode(t, err, connect.CodeInvalidArgument, "query: must not contain control characters")
			_, err = catalog.GetProduct(ctx, connect.NewRequest(&catalogv1.GetProductRequest{Sku: "BEAN-1\x00"}))
			meshtest.WantCode(t, err, connect.CodeInvalidArgument, "sku")
			_, err = catalog.CreateProduct(ctx, meshtest.WithToken(&catalogv1.CreateProductRequest{
				Sku: "NEW-1", Name: "Tea\x1b", Category: "tea", WeightGrams: 1, Price: &commonv1.Money{AmountMinor: 500, Currency: "EUR"},
			}, s.merchant))
			meshtest.WantCode(t, err, connect.CodeInvalidArgument, "name")
		})
	}
	_, err := s.carts.AddItem(ctx, meshtest.WithToken(&cartv1.AddItemRequest{UserId: "alice", Sku: "BEAN\x00", Quantity: 1}, alice.token))
	meshtest.WantCode(t, err, connect.CodeInvalidArgument, "sku")
	req := s.request(t, alice, "DE", lines("BEAN-1", 1))
	req.ShippingAddress.Line1 = "1 Road\x00"
	_, err = s.orders.PlaceOrder(ctx, meshtest.WithToken(req, alice.token))
	meshtest.WantCode(t, err, connect.CodeInvalidArgument, "shipping_address.line1")
	// A description may span lines.
	if _, err := s.catalog.CreateProduct(ctx, meshtest.WithToken(&catalogv1.CreateProductRequest{
		Sku: "NEW-2", Name: "Tea", Description: "Floral.\nBrew at 80 °C.", Category: "tea", WeightGrams: 1, Price: &commonv1.Money{AmountMinor: 500, Currency: "EUR"},
	}, s.merchant)); err != nil {
		t.Errorf("a description over two lines: %v", err)
	}
	for _, l := range s.m.LogLines(t) {
		if msg, _ := l["msg"].(string); strings.Contains(msg, "internal") {
			t.Errorf("logged %v", l)
		}
	}
}
