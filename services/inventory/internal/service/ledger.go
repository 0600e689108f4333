// Package service holds Inventory's rules: reservations are all or
// nothing per order, stock never goes below zero, and every unit is
// available, reserved or sold. It reacts to the saga's order events and
// declares the store it needs.
package service

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// Stock is one SKU's ledger.
type Stock struct {
	SKU       string
	Available int64
	Reserved  int64
	Sold      int64
	Received  int64
	UpdatedAt time.Time
}

// Line is a SKU and a quantity.
type Line struct {
	SKU      string
	Quantity int64
}

// ShortLine is a line that could not be reserved.
type ShortLine struct {
	SKU       string
	Requested int64
	Available int64
}

// Reservation states; see the reservations table.
const (
	StatusHeld      = "held"
	StatusSold      = "sold"
	StatusReleased  = "released"
	StatusRejected  = "rejected"
	StatusCancelled = "cancelled"
)

// Reservation is what Inventory knows of an order.
type Reservation struct {
	OrderID   string
	Status    string
	ExpiresAt *time.Time
	Lines     []Line
	// CreatedAt and UpdatedAt are set on reads.
	CreatedAt, UpdatedAt time.Time
}

// Errors the service returns.
var (
	ErrNotFound     = rpcerr.New(rpcerr.KindNotFound, "no stock for this SKU")
	ErrInsufficient = rpcerr.New(rpcerr.KindPrecondition, "not enough stock")
	// ErrNoReservation is an order Inventory holds nothing for.
	ErrNoReservation = rpcerr.New(rpcerr.KindNotFound, "no reservation for this order")
)

// Tx is the store inside one transaction.
type Tx interface {
	// LockStock locks the SKUs' rows in SKU order and returns those that
	// exist.
	LockStock(ctx context.Context, skus []string) (map[string]Stock, error)
	// LockStockOfBatch locks, in SKU order, the rows of skus and of every
	// SKU reserved for orderIDs.
	LockStockOfBatch(ctx context.Context, skus, orderIDs []string) error
	// Move moves each line's quantity of its SKU between the buckets, as
	// m says.
	Move(ctx context.Context, lines []Line, m Move) error
	// Reservation returns the order's reservation, locked, if there is one.
	Reservation(ctx context.Context, orderID string) (Reservation, bool, error)
	// CreateReservation records a reservation and its lines.
	CreateReservation(ctx context.Context, r Reservation) error
	// SetStatus changes a reservation's status.
	SetStatus(ctx context.Context, orderID, status string) error
	// Expired claims up to n held reservations past their deadline.
	Expired(ctx context.Context, n int) ([]string, error)
	// Emit adds an event about orderID to the outbox.
	Emit(ctx context.Context, orderID string, payload proto.Message) error
}

// Storer is the persistence Inventory needs.
type Storer interface {
	// InTx runs fn in one transaction.
	InTx(ctx context.Context, fn func(context.Context, Tx) error) error
	// InBatch runs fn in one transaction for a reservation batch, running
	// it again if the transaction loses a deadlock or serialization race.
	InBatch(ctx context.Context, fn func(BatchTx) error) error
	Get(ctx context.Context, sku string) (Stock, error)
	BatchGet(ctx context.Context, skus []string) ([]Stock, error)
	// Reservation reads an order's reservation, if there is one.
	Reservation(ctx context.Context, orderID string) (Reservation, bool, error)
	// Set sets a SKU's available units, recording who did it.
	Set(ctx context.Context, sku string, available int64, actor string) (Stock, error)
	// Adjust moves available by delta; ErrInsufficient if that goes below
	// zero, ErrNotFound for a negative delta on an unknown SKU.
	Adjust(ctx context.Context, sku string, delta int64, reason, actor string) (Stock, error)
}

// Reservation modes.
const (
	ModeBatch = "batch" // the batcher: many orders per transaction
	ModeNaive = "naive" // one transaction per order, the benchmark baseline
)

// Config tunes reservations.
type Config struct {
	Mode     string `env:"INVENTORY_RESERVE_MODE" default:"batch" usage:"batch (the hot path) or naive (one transaction per order, the benchmark baseline)"`
	BatchMax int    `env:"INVENTORY_BATCH_MAX" default:"512" usage:"most reservations one batch transaction serves"`
	QueueMax int    `env:"INVENTORY_QUEUE_MAX" default:"100000" usage:"most reservations waiting; beyond it Reserve answers ResourceExhausted"`

	ReservationTTL   time.Duration `env:"INVENTORY_RESERVATION_TTL" default:"15m" usage:"lifetime of a reservation made through the Reserve RPC"`
	ReservationGrace time.Duration `env:"INVENTORY_RESERVATION_GRACE" default:"2m" usage:"time after an order's deadline before Inventory expires its reservation on its own"`
	ExpiryInterval   time.Duration `env:"INVENTORY_EXPIRY_INTERVAL" default:"5s" usage:"how often stale reservations are looked for"`

	// OrderDeadline is the saga's ORDER_DEADLINE (component.Saga): an
	// OrderPlaced that expires later than it (and ReservationGrace) from
	// now is not one Order sent.
	OrderDeadline time.Duration
}

// Move is a change of a SKU's units between its buckets, per unit of a
// line: available, reserved (held for an order) and sold. Every move
// keeps their sum, so initial = available + reserved + sold holds.
type Move struct{ Available, Reserved, Sold int64 }

// The ledger's moves.
var (
	Hold    = Move{Available: -1, Reserved: 1} // an order's stock is held for it
	Unhold  = Move{Available: 1, Reserved: -1} // a hold is released
	Sell    = Move{Reserved: -1, Sold: 1}      // a held order is confirmed
	Restock = Move{Available: 1, Sold: -1}     // a sold order is cancelled: its units come back
)

// Service implements Inventory's use cases.
type Service struct {
	store   Storer
	cfg     Config
	log     *slog.Logger
	batcher *Batcher // nil in naive mode

	// Released, if set, is told of every release of stock (a
	// compensation), with the order and the units released, once the
	// transaction that released them has committed.
	Released func(ctx context.Context, orderID string, units int64)
}

// New returns a service. In batch mode its batcher must be run (Batcher).
func New(store Storer, cfg Config, log *slog.Logger) *Service {
	s := &Service{store: store, cfg: cfg, log: log}
	if cfg.Mode != ModeNaive {
		s.batcher = NewBatcher(store, cfg.BatchMax, cfg.QueueMax, log)
	}
	return s
}

// Batcher returns the hot path's batcher, nil in naive mode.
func (s *Service) Batcher() *Batcher { return s.batcher }
