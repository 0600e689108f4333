// Package service holds Catalog's business rules: what a valid product is,
// who may change it, and how listing and search page through it. It
// declares the Storer it needs; the store package implements it.
package service

import (
	"context"
	"time"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// Money is an amount in minor units of an ISO 4217 currency.
type Money struct {
	AmountMinor int64
	Currency    string
}

// Product is a sellable item.
type Product struct {
	SKU         string
	Name        string
	Description string
	Price       Money
	Category    string
	ImageURL    string
	Attributes  map[string]string
	WeightGrams int32
	ArchivedAt  *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Archived reports whether the product is off sale.
func (p Product) Archived() bool { return p.ArchivedAt != nil }

// Category is a category slug and how many active products it has.
type Category struct {
	Slug         string
	ProductCount int64
}

// SearchHit is a product with its search rank.
type SearchHit struct {
	Product Product
	Rank    float64
}

// Errors the service returns; the handler layer maps their kinds.
var (
	ErrNotFound        = rpcerr.New(rpcerr.KindNotFound, "product not found")
	ErrSKUExists       = rpcerr.New(rpcerr.KindExists, "a product with this SKU exists")
	ErrUnknownCurrency = rpcerr.New(rpcerr.KindInvalid, "unknown currency")
	ErrArchived        = rpcerr.New(rpcerr.KindPrecondition, "product is archived")
)

// Storer is the persistence Catalog needs.
type Storer interface {
	// Create stores a new product; ErrSKUExists if the SKU is taken.
	Create(ctx context.Context, p Product) (Product, error)
	// Get returns a product; ErrNotFound if there is none.
	Get(ctx context.Context, sku string) (Product, error)
	// BatchGet returns the products that exist among skus, in any order.
	BatchGet(ctx context.Context, skus []string) ([]Product, error)
	// Update locks a product, lets change edit it and stores the result,
	// all in one transaction. ErrNotFound if there is none.
	Update(ctx context.Context, sku string, change func(*Product) error) (Product, error)
	// Archive takes a product off sale, keeping the first archive time.
	Archive(ctx context.Context, sku string) (Product, error)
	// List returns up to limit active products with SKU after afterSKU,
	// ordered by SKU, in category when it is not empty.
	List(ctx context.Context, category, afterSKU string, limit int32) ([]Product, error)
	// Search returns up to limit active products matching query, best
	// first, after the (rank, sku) cursor when it is set.
	Search(ctx context.Context, query, category string, after *SearchHit, limit int32) ([]SearchHit, error)
	// Categories returns every category with active products.
	Categories(ctx context.Context) ([]Category, error)
}

// Service implements Catalog's use cases.
type Service struct {
	store Storer
}

// New returns a service over store.
func New(store Storer) *Service { return &Service{store: store} }
