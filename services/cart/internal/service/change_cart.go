package service

import (
	"context"
	"slices"
	"time"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// AddItem adds quantity units of sku, refusing products that do not exist,
// are archived, or are priced in another currency than the cart.
func (s *Service) AddItem(ctx context.Context, userID, sku string, quantity int32) (PricedCart, error) {
	current, err := s.store.Get(ctx, userID)
	if err != nil {
		return PricedCart{}, err
	}
	skus := []string{sku}
	for _, l := range current.Lines {
		if l.SKU != sku {
			skus = append(skus, l.SKU)
		}
	}
	products, err := s.catalog.Products(ctx, skus)
	if err != nil {
		return PricedCart{}, err
	}
	p, err := sellable(products, sku)
	if err != nil {
		return PricedCart{}, err
	}
	for _, other := range products {
		if other.SKU != sku && !other.Archived && other.Price.Currency != p.Price.Currency {
			return PricedCart{}, rpcerr.Errorf(ErrCurrency, "the cart is priced in %s but %q is priced in %s", other.Price.Currency, sku, p.Price.Currency)
		}
	}
	return s.change(ctx, userID, func(lines []Line) ([]Line, error) {
		i := slices.IndexFunc(lines, func(l Line) bool { return l.SKU == sku })
		if i < 0 {
			if len(lines) >= MaxLines {
				return nil, rpcerr.Errorf(ErrCartFull, "the cart already holds %d lines, the most it can", MaxLines)
			}
			return append(lines, Line{SKU: sku, Quantity: quantity, AddedAt: time.Now()}), nil
		}
		if total := lines[i].Quantity + quantity; total > MaxLineQuantity {
			return nil, rpcerr.Errorf(ErrTooMany, "the cart holds %d of %q; adding %d would exceed %d", lines[i].Quantity, sku, quantity, MaxLineQuantity)
		}
		lines[i].Quantity += quantity
		return lines, nil
	})
}

// UpdateItem sets the quantity of a line in the cart. The product must
// still be on sale.
func (s *Service) UpdateItem(ctx context.Context, userID, sku string, quantity int32) (PricedCart, error) {
	products, err := s.catalog.Products(ctx, []string{sku})
	if err != nil {
		return PricedCart{}, err
	}
	if _, err := sellable(products, sku); err != nil {
		return PricedCart{}, err
	}
	return s.change(ctx, userID, func(lines []Line) ([]Line, error) {
		i := slices.IndexFunc(lines, func(l Line) bool { return l.SKU == sku })
		if i < 0 {
			return nil, rpcerr.Errorf(ErrLineNotFound, "%q is not in the cart", sku)
		}
		lines[i].Quantity = quantity
		return lines, nil
	})
}

// RemoveItem drops a line from the cart.
func (s *Service) RemoveItem(ctx context.Context, userID, sku string) (PricedCart, error) {
	return s.change(ctx, userID, func(lines []Line) ([]Line, error) {
		i := slices.IndexFunc(lines, func(l Line) bool { return l.SKU == sku })
		if i < 0 {
			return nil, rpcerr.Errorf(ErrLineNotFound, "%q is not in the cart", sku)
		}
		return slices.Delete(lines, i, i+1), nil
	})
}

// ClearCart removes every line.
func (s *Service) ClearCart(ctx context.Context, userID string) (PricedCart, error) {
	return s.change(ctx, userID, func([]Line) ([]Line, error) { return nil, nil })
}

func (s *Service) change(ctx context.Context, userID string, edit func([]Line) ([]Line, error)) (PricedCart, error) {
	c, err := s.store.Change(ctx, userID, edit)
	if err != nil {
		return PricedCart{}, err
	}
	return s.price(ctx, c)
}

func sellable(products map[string]Product, sku string) (Product, error) {
	p, ok := products[sku]
	if !ok {
		return Product{}, rpcerr.Errorf(ErrProductNotFound, "product %q does not exist", sku)
	}
	if p.Archived {
		return Product{}, rpcerr.Errorf(ErrArchived, "product %q is archived and can no longer be bought", sku)
	}
	return p, nil
}
