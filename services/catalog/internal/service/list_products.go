package service

import (
	"context"
	"strconv"

	"github.com/ordermesh/ordermesh/internal/platform/pagetoken"
)

// Page sizes of List and Search.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// ListProducts returns a page of active products ordered by SKU and the
// token of the next page, empty on the last.
func (s *Service) ListProducts(ctx context.Context, category string, pageSize int32, token string) ([]Product, string, error) {
	page, err := pagetoken.NewKeyset(token, "list|"+category, pageSize, DefaultPageSize, MaxPageSize)
	if err != nil {
		return nil, "", err
	}
	products, err := s.store.List(ctx, category, page.After, page.Fetch())
	if err != nil {
		return nil, "", err
	}
	products, next := pagetoken.Page(page, products, func(p Product) string { return p.SKU })
	return products, next, nil
}

// SearchProducts returns a page of active products matching query, best
// match first, and the token of the next page.
func (s *Service) SearchProducts(ctx context.Context, query, category string, pageSize int32, token string) ([]Product, string, error) {
	scope := "search|" + category + "|" + query
	cursor, err := pagetoken.Decode(token, scope, 2)
	if err != nil {
		return nil, "", err
	}
	var after *SearchHit
	if cursor != nil {
		rank, err := strconv.ParseFloat(cursor[0], 64)
		if err != nil {
			return nil, "", pagetoken.ErrInvalid
		}
		after = &SearchHit{Rank: rank, Product: Product{SKU: cursor[1]}}
	}
	size := pagetoken.Size(pageSize, DefaultPageSize, MaxPageSize)
	hits, err := s.store.Search(ctx, query, category, after, size+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(hits) > int(size) {
		hits = hits[:size]
		last := hits[size-1]
		next = pagetoken.Encode(scope, strconv.FormatFloat(last.Rank, 'g', -1, 64), last.Product.SKU)
	}
	products := make([]Product, len(hits))
	for i, h := range hits {
		products[i] = h.Product
	}
	return products, next, nil
}

// ListCategories returns the categories in use.
func (s *Service) ListCategories(ctx context.Context) ([]Category, error) {
	return s.store.Categories(ctx)
}
