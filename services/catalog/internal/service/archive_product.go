package service

import "context"

// ArchiveProduct takes a product off sale. Archiving an archived product
// returns it unchanged.
func (s *Service) ArchiveProduct(ctx context.Context, sku string) (Product, error) {
	return s.store.Archive(ctx, sku)
}
