// Package service holds Payment's rules: cards are tokenised and never
// stored, the amount always comes from the order, an authorisation is
// captured on confirmation, voided before capture and refunded after.
package service

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// Payment statuses; see the payments table.
const (
	StatusAuthorized = "authorized"
	StatusDeclined   = "declined"
	StatusCaptured   = "captured"
	StatusVoided     = "voided"
	StatusRefunded   = "refunded"
)

// Method is a tokenised card.
type Method struct {
	ID        string
	UserID    string
	Brand     string
	Last4     string
	ExpMonth  int32
	ExpYear   int32
	Behaviour Behaviour
	CreatedAt time.Time
}

// Money is an amount in minor units of a currency.
type Money struct {
	AmountMinor int64
	Currency    string
}

// Operation is one call to the gateway.
type Operation struct {
	Kind      string
	Succeeded bool
	Reference string
	Message   string
	At        time.Time
}

// Payment is the payment of one order.
type Payment struct {
	ID          string
	OrderID     string
	UserID      string
	MethodID    string
	Amount      Money
	Status      string
	DeclineCode string
	Operations  []Operation
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Errors the service returns.
var (
	ErrNotFound = rpcerr.New(rpcerr.KindNotFound, "no payment for this order")
	// ErrMethodNotFound: no such payment method (or, to a customer,
	// another customer's).
	ErrMethodNotFound = rpcerr.New(rpcerr.KindNotFound, "payment method not found")
	ErrInvalidCard    = rpcerr.New(rpcerr.KindInvalid, "the card is not valid")
)

// Tx is the store inside one transaction.
type Tx interface {
	// Payment returns the order's payment, locked, if there is one.
	Payment(ctx context.Context, orderID string) (Payment, bool, error)
	// Method returns a payment method, if it exists.
	Method(ctx context.Context, id string) (Method, bool, error)
	// CreatePayment records a new payment; its times are the
	// transaction's.
	CreatePayment(ctx context.Context, p Payment) error
	SetStatus(ctx context.Context, paymentID, status string) error
	AddOperation(ctx context.Context, paymentID string, op Operation) error
	// Cancelled reports whether the order was cancelled before Payment
	// saw it; MarkCancelled records that.
	Cancelled(ctx context.Context, orderID string) (bool, error)
	MarkCancelled(ctx context.Context, orderID string) error
	Emit(ctx context.Context, orderID string, payload proto.Message) error
}

// Storer is the persistence Payment needs.
type Storer interface {
	CreateMethod(ctx context.Context, m Method) (Method, error)
	// GetMethod returns a payment method, ErrMethodNotFound when there is
	// none.
	GetMethod(ctx context.Context, id string) (Method, error)
	// Get returns the order's payment with its operations.
	Get(ctx context.Context, orderID string) (Payment, error)
	// List returns up to limit of a user's payments older than beforeID
	// (empty for the newest), newest first.
	List(ctx context.Context, userID, beforeID string, limit int32) ([]Payment, error)
}

// Service implements Payment's use cases.
type Service struct {
	store   Storer
	gateway *Gateway
	log     *slog.Logger

	// Compensated, if set, is told of every void and refund, once the
	// transaction that recorded it has committed.
	Compensated func(ctx context.Context, p Payment, kind string)
}

// New returns a service.
func New(store Storer, gateway *Gateway, log *slog.Logger) *Service {
	return &Service{store: store, gateway: gateway, log: log}
}
