package service

import "context"

// GetCart returns the user's cart priced through Catalog.
func (s *Service) GetCart(ctx context.Context, userID string) (PricedCart, error) {
	c, err := s.store.Get(ctx, userID)
	if err != nil {
		return PricedCart{}, err
	}
	return s.price(ctx, c)
}

// price looks every line up in Catalog. The total sums the available lines;
// lines whose product is archived or gone stay visible but unpriced.
func (s *Service) price(ctx context.Context, c Cart) (PricedCart, error) {
	out := PricedCart{UserID: c.UserID, Version: c.Version, UpdatedAt: c.UpdatedAt, Lines: make([]PricedLine, 0, len(c.Lines))}
	if len(c.Lines) == 0 {
		return out, nil
	}
	skus := make([]string, len(c.Lines))
	for i, l := range c.Lines {
		skus[i] = l.SKU
	}
	products, err := s.catalog.Products(ctx, skus)
	if err != nil {
		return PricedCart{}, err
	}
	for _, l := range c.Lines {
		pl := PricedLine{Line: l}
		if p, ok := products[l.SKU]; ok {
			pl.Name = p.Name
			if !p.Archived {
				unit := p.Price
				total := Money{AmountMinor: unit.AmountMinor * int64(l.Quantity), Currency: unit.Currency}
				pl.UnitPrice, pl.LineTotal, pl.Available = &unit, &total, true
				if out.Total == nil {
					out.Total = &Money{Currency: unit.Currency}
				}
				out.Total.AmountMinor += total.AmountMinor
				out.ItemCount += l.Quantity
			}
		}
		out.Lines = append(out.Lines, pl)
	}
	return out, nil
}
