package service

import (
	"context"

	"github.com/ordermesh/ordermesh/internal/platform/money"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// CreateProduct adds a product. The request's shape was validated at the
// edge; here the rules that need knowledge: the currency must exist and the
// SKU must be new.
func (s *Service) CreateProduct(ctx context.Context, p Product) (Product, error) {
	if err := checkCurrency(p.Price.Currency); err != nil {
		return Product{}, err
	}
	if p.Attributes == nil {
		p.Attributes = map[string]string{}
	}
	return s.store.Create(ctx, p)
}

func checkCurrency(code string) error {
	if !money.IsCurrency(code) {
		return rpcerr.Errorf(ErrUnknownCurrency, "price.currency: %q is not an ISO 4217 currency code", code)
	}
	return nil
}
