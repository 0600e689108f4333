// Package service holds Order's rules: how an order is priced and placed,
// its state machine, and how it reacts to the saga's events. It declares
// the store, Catalog, Cart and carrier it needs.
package service

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// Status is a state of the order's state machine, as the orders table
// stores it. Switches over it name every status (exhaustive).
type Status string

// The statuses.
const (
	StatusPending   Status = "pending"
	StatusReserved  Status = "reserved"
	StatusConfirmed Status = "confirmed"
	StatusShipped   Status = "shipped"
	StatusRejected  Status = "rejected"
	StatusCancelled Status = "cancelled"
)

// Reason says why an order failed, as the orders table stores it ("" for
// none).
type Reason string

// The reasons of the failure statuses.
const (
	ReasonOutOfStock      Reason = "out_of_stock"
	ReasonPaymentDeclined Reason = "payment_declined"
	ReasonShippingFailed  Reason = "shipping_failed"
	ReasonCustomer        Reason = "customer"
	ReasonExpired         Reason = "expired"
	ReasonOperator        Reason = "operator"
)

// SagaDone reports whether the checkout saga is over for status: the order
// will not move again on its own.
func SagaDone(status Status) bool {
	return status != StatusPending && status != StatusReserved
}

// Money is an amount in minor units of a currency.
type Money struct {
	AmountMinor int64
	Currency    string
}

// Address is where an order ships.
type Address struct {
	Recipient   string
	Line1       string
	Line2       string
	City        string
	Region      string
	PostalCode  string
	CountryCode string // ISO 3166-1 alpha-2
	Phone       string
}

// Line is one product in an order, priced at placement.
type Line struct {
	SKU       string
	Name      string
	Quantity  int32
	UnitPrice int64
}

// ShortLine is a line Inventory could not reserve.
type ShortLine struct {
	SKU       string `json:"sku"`
	Requested int32  `json:"requested"`
	Available int64  `json:"available"`
}

// Change is one transition in an order's history.
type Change struct {
	Status Status
	Reason Reason
	Detail string
	At     time.Time
}

// Order is an order with everything that happened to it.
type Order struct {
	ID              string
	UserID          string
	Status          Status
	Reason          Reason
	Currency        string
	Subtotal        int64
	Shipping        int64
	Total           int64
	Address         Address
	Email           string
	PaymentMethodID string
	FromCart        bool
	Carrier         string
	ServiceLevel    string
	BookingID       string
	TrackingNumber  string
	ShippedAt       *time.Time
	ShortLines      []ShortLine
	Lines           []Line
	History         []Change
	ExpiresAt       time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
	// TraceParent is the W3C trace context of the placement: work that no
	// request starts, such as expiry, continues the order's trace.
	TraceParent string
}

// Errors the service returns.
var (
	ErrNotFound       = rpcerr.New(rpcerr.KindNotFound, "order not found")
	ErrNoSuchMethod   = rpcerr.New(rpcerr.KindNotFound, "payment method not found")
	ErrProductMissing = rpcerr.New(rpcerr.KindNotFound, "product not found")
	ErrNotSellable    = rpcerr.New(rpcerr.KindPrecondition, "a product cannot be ordered")
	ErrEmptyCart      = rpcerr.New(rpcerr.KindPrecondition, "the cart is empty")
	ErrTotalChanged   = rpcerr.New(rpcerr.KindPrecondition, "the order total changed")
	ErrKeyReused      = rpcerr.New(rpcerr.KindExists, "the idempotency key was used for another request")
	ErrBadLines       = rpcerr.New(rpcerr.KindInvalid, "the lines are not valid")
	ErrState          = rpcerr.New(rpcerr.KindPrecondition, "the order is not in a state that allows this")
	ErrBadWindow      = rpcerr.New(rpcerr.KindInvalid, "the time window is not valid")
)

// Tx is the store inside one transaction.
type Tx interface {
	// Lock returns the order, locked, if it exists; with its lines when
	// withLines.
	Lock(ctx context.Context, id string, withLines bool) (Order, bool, error)
	// Transition moves the order to status, records it in the history and
	// wakes its watchers.
	Transition(ctx context.Context, id string, status Status, reason Reason, detail string) error
	SetShortLines(ctx context.Context, id string, short []ShortLine) error
	SetBooking(ctx context.Context, id, bookingID string) error
	SetShipped(ctx context.Context, id, tracking string) error
	// Expired claims up to n open orders past their deadline.
	Expired(ctx context.Context, n int) ([]string, error)
	Emit(ctx context.Context, orderID string, payload proto.Message) error
}

// OrderRead is what a watcher of an order is told: the order as stored,
// false when there is no such order, or why it could not be read.
type OrderRead struct {
	Order Order
	Found bool
	Err   error
}

// Storer is the persistence Order needs.
type Storer interface {
	BulkStore
	InTx(ctx context.Context, fn func(context.Context, Tx) error) error
	// Place stores a new PENDING order under the idempotency key, with its
	// OrderPlaced event, and returns it as stored; concurrent placements
	// may share a transaction. It returns false, storing nothing, when the
	// key is taken.
	Place(ctx context.Context, o Order, key string, requestHash []byte, placed proto.Message) (Order, bool, error)
	// Get returns an order with its lines and history.
	Get(ctx context.Context, id string) (Order, error)
	// List returns up to limit of a user's orders older than beforeID
	// (empty for the newest), newest first, with lines and history.
	List(ctx context.Context, userID, beforeID string, limit int32) ([]Order, error)
	// Search returns up to limit orders that match f, after the order
	// afterID (empty for the first page) in f's direction, with lines and
	// history.
	Search(ctx context.Context, f Filter, afterID string, limit int32) ([]Order, error)
	// Count returns how many orders match f.
	Count(ctx context.Context, f Filter) (int64, error)
	// SalesByDay returns the days of [from, to) with sales, by currency.
	SalesByDay(ctx context.Context, from, to time.Time) ([]SalesDay, error)
	// TopSellers returns the top products of [from, to) by units.
	TopSellers(ctx context.Context, from, to time.Time, top int32) ([]ProductSales, error)
	// MinutesSince returns the minutes since a time that had activity.
	MinutesSince(ctx context.Context, since time.Time) ([]Minute, error)
	// BusiestSKUs returns the top SKUs by units on the orders placed since
	// a time.
	BusiestSKUs(ctx context.Context, since time.Time, top int32) ([]SKUUnits, error)
	// OldestOpen returns the open order placed longest ago, and false when
	// none is open.
	OldestOpen(ctx context.Context) (id string, placed time.Time, found bool, err error)
	// KeyOwner returns the order placed under an idempotency key and the
	// hash of the request that placed it.
	KeyOwner(ctx context.Context, userID, key string) (orderID string, hash []byte, found bool, err error)
}

// Product is what Order needs to know of a Catalog product.
type Product struct {
	SKU         string
	Name        string
	Price       Money
	WeightGrams int32
	Archived    bool
}

// Catalog looks products up.
type Catalog interface {
	Products(ctx context.Context, skus []string) (map[string]Product, error)
}

// CartLine is a line of the user's cart.
type CartLine struct {
	SKU       string
	Quantity  int32
	Available bool
}

// Cart reads a user's cart.
type Cart interface {
	Lines(ctx context.Context, userID string) ([]CartLine, error)
}

// PaymentMethods says whose a payment method is.
type PaymentMethods interface {
	// Owner returns the user a payment method belongs to, and false when
	// it does not exist.
	Owner(ctx context.Context, id string) (string, bool, error)
}

// OpenOrders is how many orders of a status are open (not terminal) and
// how old the oldest of them is.
type OpenOrders struct {
	Status        Status
	Count         int64
	OldestSeconds float64
}

// Config tunes Order.
type Config struct {
	// Deadline is the saga's ORDER_DEADLINE (component.Saga), which the
	// composition root gives every service.
	Deadline       time.Duration
	MethodCache    int           `env:"ORDER_PAYMENT_METHOD_CACHE" default:"100000" usage:"payment methods whose owner Order remembers, so a returning customer's checkout asks Payment nothing"`
	ExpiryInterval time.Duration `env:"ORDER_EXPIRY_INTERVAL" default:"5s" usage:"how often expired orders are looked for"`
	ShipFrom       string        `env:"ORDER_SHIP_FROM" default:"DE" usage:"ISO country the shop ships from; shipping is cheapest there"`
	TraceURL       string        `env:"OPS_TRACE_URL" usage:"link from an order's saga to its trace: a URL with {trace_id} in it, such as Jaeger's http://localhost:16686/trace/{trace_id} or a Grafana Explore URL on Tempo; the console and ordermesh orders show print it"`
}

// Service implements Order's use cases.
type Service struct {
	store   Storer
	catalog Catalog
	cart    Cart
	methods PaymentMethods
	carrier *Carrier
	cfg     Config
	now     func() time.Time

	// Finished, if set, is told of every order that reaches a terminal
	// status, once the transaction that moved it there has committed.
	Finished func(ctx context.Context, f Finish)
	// Tracer makes the spans of work no request starts (expiry); the
	// global provider's by default.
	Tracer trace.Tracer
}

// Finish is an order's arrival at a terminal status.
type Finish struct {
	OrderID string
	Status  Status
	Reason  Reason
	Detail  string        // what happened, for people
	Took    time.Duration // since placement
}

// New returns a service.
func New(store Storer, catalog Catalog, cart Cart, methods PaymentMethods, cfg Config) *Service {
	return &Service{store: store, catalog: catalog, cart: cart, methods: methods, carrier: NewCarrier(cfg.ShipFrom), cfg: cfg, now: time.Now,
		Tracer: otel.Tracer(Instrumentation)}
}
