package cart

import (
	"context"

	"connectrpc.com/connect"

	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/services/cart/internal/service"
)

// catalogClient adapts the generated Catalog client to service.Catalog.
type catalogClient struct {
	client catalogv1connect.CatalogServiceClient
}

// Products implements service.Catalog with one BatchGetProducts call.
func (c catalogClient) Products(ctx context.Context, skus []string) (map[string]service.Product, error) {
	res, err := c.client.BatchGetProducts(ctx, connect.NewRequest(&catalogv1.BatchGetProductsRequest{Skus: skus}))
	if err != nil {
		return nil, rpcerr.Dependency("the catalog", err)
	}
	out := make(map[string]service.Product, len(res.Msg.GetProducts()))
	for _, p := range res.Msg.GetProducts() {
		out[p.GetSku()] = service.Product{
			SKU:      p.GetSku(),
			Name:     p.GetName(),
			Price:    service.Money{AmountMinor: p.GetPrice().GetAmountMinor(), Currency: p.GetPrice().GetCurrency()},
			Archived: p.GetState() == catalogv1.ProductState_PRODUCT_STATE_ARCHIVED,
		}
	}
	return out, nil
}
