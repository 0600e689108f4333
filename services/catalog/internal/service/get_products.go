package service

import "context"

// GetProduct returns one product, archived or not.
func (s *Service) GetProduct(ctx context.Context, sku string) (Product, error) {
	return s.store.Get(ctx, sku)
}

// BatchGetProducts returns the products found, in the order asked, and the
// SKUs that do not exist.
func (s *Service) BatchGetProducts(ctx context.Context, skus []string) (found []Product, missing []string, err error) {
	products, err := s.store.BatchGet(ctx, skus)
	if err != nil {
		return nil, nil, err
	}
	bySKU := make(map[string]Product, len(products))
	for _, p := range products {
		bySKU[p.SKU] = p
	}
	found = make([]Product, 0, len(products))
	for _, sku := range skus {
		if p, ok := bySKU[sku]; ok {
			found = append(found, p)
		} else {
			missing = append(missing, sku)
		}
	}
	return found, missing, nil
}
