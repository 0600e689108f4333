package e2e_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
)

// A shipping quote follows the rules placement prices by: what cannot be
// ordered (an archived product, a mix of currencies) cannot be quoted
// either, and a quote's currency is the products' one.
func TestQuoteFollowsThePlacementRules(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	for _, p := range []struct{ sku, currency string }{{"OLD-1", "EUR"}, {"USD-1", "USD"}} {
		if _, err := s.catalog.CreateProduct(ctx, meshtest.WithToken(&catalogv1.CreateProductRequest{
			Sku: p.sku, Name: p.sku, Category: "shop", WeightGrams: 100, Price: &commonv1.Money{AmountMinor: 500, Currency: p.currency},
		}, s.merchant)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.catalog.ArchiveProduct(ctx, meshtest.WithToken(&catalogv1.ArchiveProductRequest{Sku: "OLD-1"}, s.merchant)); err != nil {
		t.Fatal(err)
	}
	quote := func(lines ...*orderv1.LineRequest) (*orderv1.QuoteShippingResponse, error) {
		res, err := s.orders.QuoteShipping(ctx, connect.NewRequest(&orderv1.QuoteShippingRequest{ShippingAddress: address("DE"), Lines: lines}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	line := func(sku string, n int32) *orderv1.LineRequest { return &orderv1.LineRequest{Sku: sku, Quantity: n} }

	q, err := quote(line("BEAN-1", 2), line("MUG-1", 1), line("BEAN-1", 1))
	if err != nil || q.GetAmount().GetCurrency() != "EUR" || q.GetWeightGrams() != 3*250+180 {
		t.Fatalf("quote = %v, %v; want EUR for 930 g", q, err)
	}
	_, err = quote(line("OLD-1", 1))
	meshtest.WantCode(t, err, connect.CodeFailedPrecondition, "archived")
	_, err = quote(line("BEAN-1", 1), line("USD-1", 1))
	meshtest.WantCode(t, err, connect.CodeFailedPrecondition, "mixes currencies")
	_, err = quote(line("NOPE-1", 1))
	meshtest.WantCode(t, err, connect.CodeNotFound, "NOPE-1")
}
