// Package service holds Cart's business rules: which products may go in a
// cart, line and cart limits, and pricing every line through Catalog. It
// declares the Storer and Catalog it needs.
package service

import (
	"context"
	"time"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// Limits of a cart.
const (
	MaxLineQuantity = 999
	MaxLines        = 100
)

// Line is a product and quantity in a cart.
type Line struct {
	SKU      string
	Quantity int32
	AddedAt  time.Time
}

// Cart is a user's stored cart, not priced.
type Cart struct {
	UserID    string
	Version   int64
	UpdatedAt *time.Time
	Lines     []Line
}

// Money is an amount in minor units of a currency.
type Money struct {
	AmountMinor int64
	Currency    string
}

// Product is what Cart needs to know of a Catalog product.
type Product struct {
	SKU      string
	Name     string
	Price    Money
	Archived bool
}

// PricedLine is a line with its current Catalog price. Unavailable lines
// (archived or vanished products) carry no price.
type PricedLine struct {
	Line
	Name      string
	UnitPrice *Money
	LineTotal *Money
	Available bool
}

// PricedCart is a cart priced at the time of the call.
type PricedCart struct {
	UserID    string
	Version   int64
	UpdatedAt *time.Time
	Lines     []PricedLine
	Total     *Money
	ItemCount int32
}

// Errors the service returns.
var (
	ErrProductNotFound = rpcerr.New(rpcerr.KindNotFound, "product not found")
	ErrLineNotFound    = rpcerr.New(rpcerr.KindNotFound, "the product is not in the cart")
	ErrArchived        = rpcerr.New(rpcerr.KindPrecondition, "the product is no longer sold")
	ErrTooMany         = rpcerr.New(rpcerr.KindPrecondition, "a cart line holds at most 999 units")
	ErrCurrency        = rpcerr.New(rpcerr.KindPrecondition, "a cart holds products of one currency")
	ErrCartFull        = rpcerr.New(rpcerr.KindExhausted, "a cart holds at most 100 lines")
)

// Storer is the persistence Cart needs.
type Storer interface {
	// Get returns the user's cart; a user with none gets an empty cart.
	Get(ctx context.Context, userID string) (Cart, error)
	// Change locks the user's cart (creating it if needed), passes its
	// lines to edit and stores the lines edit returns, bumping the version,
	// all in one transaction. If edit fails nothing is stored.
	Change(ctx context.Context, userID string, edit func(lines []Line) ([]Line, error)) (Cart, error)
}

// Tx is the store inside the transaction of a saga event, which records
// the event in the inbox too.
type Tx interface {
	// Change is Storer.Change in the event's transaction.
	Change(ctx context.Context, userID string, edit func(lines []Line) ([]Line, error)) (Cart, error)
}

// Catalog looks products up in the Catalog service.
type Catalog interface {
	// Products returns the products that exist among skus, by SKU.
	Products(ctx context.Context, skus []string) (map[string]Product, error)
}

// Service implements Cart's use cases.
type Service struct {
	store   Storer
	catalog Catalog
}

// New returns a service.
func New(store Storer, catalog Catalog) *Service {
	return &Service{store: store, catalog: catalog}
}
