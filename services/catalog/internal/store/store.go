// Package store keeps Catalog's products in PostgreSQL through the
// sqlc-generated queries in catalogdb, and turns driver results into the
// service's domain values and sentinels.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermesh/ordermesh/internal/platform/coalesce"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/services/catalog/internal/service"
	"github.com/ordermesh/ordermesh/services/catalog/internal/store/catalogdb"
)

// Store implements service.Storer.
type Store struct {
	pool *pgxpool.Pool
	q    *catalogdb.Queries
	// reads serves concurrent BatchGets with one statement: every
	// checkout prices its lines here.
	reads coalesce.Group[[]string, []service.Product]
}

var _ service.Storer = (*Store)(nil)

// New returns a store on pool.
func New(pool *pgxpool.Pool) *Store {
	s := &Store{pool: pool, q: catalogdb.New(pool)}
	s.reads.Run = s.batchGet
	return s
}

// Create implements service.Storer.
func (s *Store) Create(ctx context.Context, p service.Product) (service.Product, error) {
	attrs, err := json.Marshal(p.Attributes)
	if err != nil {
		return service.Product{}, fmt.Errorf("encode attributes: %w", err)
	}
	row, err := s.q.CreateProduct(ctx, catalogdb.CreateProductParams{
		Sku: p.SKU, Name: p.Name, Description: p.Description,
		PriceMinor: p.Price.AmountMinor, Currency: p.Price.Currency,
		Category: p.Category, ImageUrl: p.ImageURL, Attributes: attrs, WeightGrams: p.WeightGrams,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return service.Product{}, rpcerr.Errorf(service.ErrSKUExists, "a product with SKU %q exists already", p.SKU)
	}
	if err != nil {
		return service.Product{}, fmt.Errorf("create product: %w", err)
	}
	return toProduct(row)
}

// Get implements service.Storer.
func (s *Store) Get(ctx context.Context, sku string) (service.Product, error) {
	row, err := s.q.GetProduct(ctx, sku)
	if err != nil {
		return service.Product{}, notFound(err, sku)
	}
	return toProduct(row)
}

// BatchGet implements service.Storer. Concurrent calls share one
// statement; each is answered from a read that began after it was asked,
// so it sees every change committed before.
func (s *Store) BatchGet(ctx context.Context, skus []string) ([]service.Product, error) {
	return s.reads.Do(ctx, skus)
}

// batchGet reads the products of many BatchGets with one statement and
// answers each with those it asked for.
func (s *Store) batchGet(ctx context.Context, asks [][]string) []coalesce.Result[[]service.Product] {
	out := make([]coalesce.Result[[]service.Product], len(asks))
	var all []string
	for _, skus := range asks {
		all = append(all, skus...)
	}
	slices.Sort(all)
	rows, err := s.q.BatchGetProducts(ctx, slices.Compact(all))
	var products []service.Product
	if err == nil {
		products, err = toProducts(rows)
	}
	if err != nil {
		for i := range out {
			out[i].Err = fmt.Errorf("batch get products: %w", err)
		}
		return out
	}
	bySKU := make(map[string]service.Product, len(products))
	for _, p := range products {
		bySKU[p.SKU] = p
	}
	for i, skus := range asks {
		for _, sku := range skus {
			if p, ok := bySKU[sku]; ok {
				out[i].Value = append(out[i].Value, p)
			}
		}
	}
	return out
}

// Update implements service.Storer.
func (s *Store) Update(ctx context.Context, sku string, change func(*service.Product) error) (service.Product, error) {
	var out service.Product
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		row, err := q.GetProductForUpdate(ctx, sku)
		if err != nil {
			return notFound(err, sku)
		}
		p, err := toProduct(row)
		if err != nil {
			return err
		}
		if err := change(&p); err != nil {
			return err
		}
		attrs, err := json.Marshal(p.Attributes)
		if err != nil {
			return fmt.Errorf("encode attributes: %w", err)
		}
		row, err = q.UpdateProduct(ctx, catalogdb.UpdateProductParams{
			Sku: sku, Name: p.Name, Description: p.Description,
			PriceMinor: p.Price.AmountMinor, Currency: p.Price.Currency,
			Category: p.Category, ImageUrl: p.ImageURL, Attributes: attrs, WeightGrams: p.WeightGrams,
		})
		if err != nil {
			return fmt.Errorf("update product: %w", err)
		}
		out, err = toProduct(row)
		return err
	})
	return out, err
}

// Archive implements service.Storer.
func (s *Store) Archive(ctx context.Context, sku string) (service.Product, error) {
	row, err := s.q.ArchiveProduct(ctx, sku)
	if err != nil {
		return service.Product{}, notFound(err, sku)
	}
	return toProduct(row)
}

// List implements service.Storer.
func (s *Store) List(ctx context.Context, category, afterSKU string, limit int32) ([]service.Product, error) {
	rows, err := s.q.ListProducts(ctx, catalogdb.ListProductsParams{
		Category: optional(category), AfterSku: afterSKU, PageLimit: limit,
	})
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return toProducts(rows)
}

// Search implements service.Storer.
func (s *Store) Search(ctx context.Context, query, category string, after *service.SearchHit, limit int32) ([]service.SearchHit, error) {
	params := catalogdb.SearchProductsParams{Query: query, Category: optional(category), PageLimit: limit}
	if after != nil {
		params.AfterRank, params.AfterSku = &after.Rank, after.Product.SKU
	}
	rows, err := s.q.SearchProducts(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("search products: %w", err)
	}
	hits := make([]service.SearchHit, len(rows))
	for i, r := range rows {
		p, err := toProduct(r.Product)
		if err != nil {
			return nil, err
		}
		hits[i] = service.SearchHit{Product: p, Rank: r.Rank}
	}
	return hits, nil
}

// Categories implements service.Storer.
func (s *Store) Categories(ctx context.Context) ([]service.Category, error) {
	rows, err := s.q.ListCategories(ctx)
	if err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	out := make([]service.Category, len(rows))
	for i, r := range rows {
		out[i] = service.Category{Slug: r.Category, ProductCount: r.ProductCount}
	}
	return out, nil
}

func notFound(err error, sku string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return rpcerr.Errorf(service.ErrNotFound, "product %q does not exist", sku)
	}
	return fmt.Errorf("product %q: %w", sku, err)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toProducts(rows []catalogdb.Product) ([]service.Product, error) {
	out := make([]service.Product, len(rows))
	for i, r := range rows {
		p, err := toProduct(r)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

func toProduct(r catalogdb.Product) (service.Product, error) {
	attrs := map[string]string{}
	if err := json.Unmarshal(r.Attributes, &attrs); err != nil {
		return service.Product{}, fmt.Errorf("decode attributes of %q: %w", r.Sku, err)
	}
	return service.Product{
		SKU: r.Sku, Name: r.Name, Description: r.Description,
		Price:    service.Money{AmountMinor: r.PriceMinor, Currency: r.Currency},
		Category: r.Category, ImageURL: r.ImageUrl, Attributes: attrs, WeightGrams: r.WeightGrams,
		ArchivedAt: r.ArchivedAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}, nil
}
