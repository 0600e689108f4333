package service

import (
	"context"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// ProductUpdate lists the fields to change; nil means leave as is.
type ProductUpdate struct {
	Name        *string
	Description *string
	Price       *Money
	Category    *string
	ImageURL    *string
	Attributes  map[string]string // replaces all when SetAttributes
	SetAttrs    bool
	WeightGrams *int32
}

// UpdateProduct applies the set fields to an active product. Archived
// products are frozen: they can be read but not changed.
func (s *Service) UpdateProduct(ctx context.Context, sku string, u ProductUpdate) (Product, error) {
	if u.Price != nil {
		if err := checkCurrency(u.Price.Currency); err != nil {
			return Product{}, err
		}
	}
	return s.store.Update(ctx, sku, func(p *Product) error {
		if p.Archived() {
			return rpcerr.Errorf(ErrArchived, "product %q is archived and can no longer be changed", sku)
		}
		set(&p.Name, u.Name)
		set(&p.Description, u.Description)
		set(&p.Price, u.Price)
		set(&p.Category, u.Category)
		set(&p.ImageURL, u.ImageURL)
		set(&p.WeightGrams, u.WeightGrams)
		if u.SetAttrs {
			p.Attributes = u.Attributes
			if p.Attributes == nil {
				p.Attributes = map[string]string{}
			}
		}
		return nil
	})
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
