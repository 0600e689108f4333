// Package store keeps Payment's methods and payments in PostgreSQL
// through the sqlc-generated queries in paymentdb.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/internal/platform/coalesce"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/services/payment/internal/service"
	"github.com/ordermesh/ordermesh/services/payment/internal/store/paymentdb"
)

// Store implements service.Storer.
type Store struct {
	pool   *pgxpool.Pool
	q      *paymentdb.Queries
	outbox *events.Outbox
	// methods serves concurrent GetMethods with one statement: every new
	// customer's first checkout asks for its card.
	methods coalesce.Group[string, service.Method]
}

var _ service.Storer = (*Store)(nil)

// New returns a store on pool that emits events through outbox.
func New(pool *pgxpool.Pool, outbox *events.Outbox) *Store {
	s := &Store{pool: pool, q: paymentdb.New(pool), outbox: outbox}
	s.methods.Run = s.getMethods
	return s
}

// Bind returns the store inside an open transaction.
func (s *Store) Bind(tx pgx.Tx) service.Tx {
	return &txStore{tx: tx, q: s.q.WithTx(tx), outbox: s.outbox}
}

// CountAttempt records one gateway authorisation attempt for an order in
// its own transaction and returns how many there have been.
func (s *Store) CountAttempt(ctx context.Context, orderID string) (int, error) {
	n, err := s.q.CountGatewayAttempt(ctx, orderID)
	return int(n), err
}

// CreateMethod implements service.Storer.
func (s *Store) CreateMethod(ctx context.Context, m service.Method) (service.Method, error) {
	row, err := s.q.InsertPaymentMethod(ctx, paymentdb.InsertPaymentMethodParams{
		ID: uuid.MustParse(m.ID), UserID: m.UserID, Brand: m.Brand, Last4: m.Last4,
		ExpMonth: m.ExpMonth, ExpYear: m.ExpYear, Behaviour: string(m.Behaviour),
	})
	if err != nil {
		return service.Method{}, fmt.Errorf("insert payment method: %w", err)
	}
	return toMethod(row), nil
}

// Get implements service.Storer.
func (s *Store) Get(ctx context.Context, orderID string) (service.Payment, error) {
	row, err := s.q.GetPaymentByOrder(ctx, orderID)
	if errors.Is(err, pgx.ErrNoRows) {
		return service.Payment{}, rpcerr.Errorf(service.ErrNotFound, "order %s has no payment", orderID)
	}
	if err != nil {
		return service.Payment{}, fmt.Errorf("get payment: %w", err)
	}
	ps, err := s.withOperations(ctx, []paymentdb.Payment{row})
	if err != nil {
		return service.Payment{}, err
	}
	return ps[0], nil
}

// List implements service.Storer.
func (s *Store) List(ctx context.Context, userID, beforeID string, limit int32) ([]service.Payment, error) {
	before := uuid.Max
	if beforeID != "" {
		var err error
		if before, err = uuid.Parse(beforeID); err != nil {
			return nil, err
		}
	}
	rows, err := s.q.ListPayments(ctx, paymentdb.ListPaymentsParams{UserID: userID, BeforeID: before, PageLimit: limit})
	if err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	return s.withOperations(ctx, rows)
}

func (s *Store) withOperations(ctx context.Context, rows []paymentdb.Payment) ([]service.Payment, error) {
	ids := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	ops, err := s.q.ListOperations(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	byPayment := map[uuid.UUID][]service.Operation{}
	for _, o := range ops {
		byPayment[o.PaymentID] = append(byPayment[o.PaymentID], service.Operation{
			Kind: o.Kind, Succeeded: o.Succeeded, Reference: o.GatewayReference, Message: o.Message, At: o.CreatedAt,
		})
	}
	out := make([]service.Payment, len(rows))
	for i, r := range rows {
		out[i] = toPayment(r)
		out[i].Operations = byPayment[r.ID]
	}
	return out, nil
}

type txStore struct {
	tx     pgx.Tx
	q      *paymentdb.Queries
	outbox *events.Outbox
}

func (t *txStore) Payment(ctx context.Context, orderID string) (service.Payment, bool, error) {
	row, err := t.q.LockPaymentByOrder(ctx, orderID)
	if errors.Is(err, pgx.ErrNoRows) {
		return service.Payment{}, false, nil
	}
	if err != nil {
		return service.Payment{}, false, fmt.Errorf("lock payment: %w", err)
	}
	return toPayment(row), true, nil
}

func (t *txStore) Method(ctx context.Context, id string) (service.Method, bool, error) {
	return method(ctx, t.q, id)
}

// GetMethod implements service.Storer. Concurrent calls share one
// statement, read after each was asked.
func (s *Store) GetMethod(ctx context.Context, id string) (service.Method, error) {
	if _, err := uuid.Parse(id); err != nil {
		return service.Method{}, rpcerr.Errorf(service.ErrMethodNotFound, "payment method %s does not exist", id)
	}
	return s.methods.Do(ctx, id)
}

// getMethods reads the payment methods of many GetMethods with one
// statement.
func (s *Store) getMethods(ctx context.Context, ids []string) []coalesce.Result[service.Method] {
	out := make([]coalesce.Result[service.Method], len(ids))
	uids := make([]uuid.UUID, len(ids))
	for i, id := range ids {
		uids[i] = uuid.MustParse(id) // GetMethod parsed it
	}
	rows, err := s.q.GetPaymentMethods(ctx, uids)
	if err != nil {
		for i := range out {
			out[i].Err = fmt.Errorf("get payment methods: %w", err)
		}
		return out
	}
	byID := make(map[uuid.UUID]service.Method, len(rows))
	for _, r := range rows {
		byID[r.ID] = toMethod(r)
	}
	for i, id := range uids {
		if m, ok := byID[id]; ok {
			out[i].Value = m
		} else {
			out[i].Err = rpcerr.Errorf(service.ErrMethodNotFound, "payment method %s does not exist", ids[i])
		}
	}
	return out
}

func method(ctx context.Context, q *paymentdb.Queries, id string) (service.Method, bool, error) {
	mid, perr := uuid.Parse(id)
	if perr != nil {
		return service.Method{}, false, nil //nolint:nilerr // not a method id: no such method
	}
	row, err := q.GetPaymentMethod(ctx, mid)
	if errors.Is(err, pgx.ErrNoRows) {
		return service.Method{}, false, nil
	}
	if err != nil {
		return service.Method{}, false, fmt.Errorf("get payment method: %w", err)
	}
	return toMethod(row), true, nil
}

func (t *txStore) CreatePayment(ctx context.Context, p service.Payment) error {
	mid, _ := uuid.Parse(p.MethodID)
	err := t.q.InsertPayment(ctx, paymentdb.InsertPaymentParams{
		ID: uuid.MustParse(p.ID), OrderID: p.OrderID, UserID: p.UserID, PaymentMethodID: mid,
		AmountMinor: p.Amount.AmountMinor, Currency: p.Amount.Currency, Status: p.Status, DeclineCode: p.DeclineCode,
	})
	if err != nil {
		return fmt.Errorf("insert payment: %w", err)
	}
	return nil
}

func (t *txStore) SetStatus(ctx context.Context, paymentID, status string) error {
	return t.q.SetPaymentStatus(ctx, paymentdb.SetPaymentStatusParams{ID: uuid.MustParse(paymentID), Status: status})
}

func (t *txStore) AddOperation(ctx context.Context, paymentID string, op service.Operation) error {
	return t.q.InsertOperation(ctx, paymentdb.InsertOperationParams{
		PaymentID: uuid.MustParse(paymentID), Kind: op.Kind, Succeeded: op.Succeeded, GatewayReference: op.Reference, Message: op.Message,
	})
}

func (t *txStore) Cancelled(ctx context.Context, orderID string) (bool, error) {
	return t.q.IsCancelled(ctx, orderID)
}

func (t *txStore) MarkCancelled(ctx context.Context, orderID string) error {
	return t.q.InsertCancelled(ctx, orderID)
}

func (t *txStore) Emit(ctx context.Context, orderID string, payload proto.Message) error {
	_, err := t.outbox.Add(ctx, t.tx, orderID, payload)
	return err
}

func toMethod(r paymentdb.PaymentMethod) service.Method {
	return service.Method{
		ID: r.ID.String(), UserID: r.UserID, Brand: r.Brand, Last4: r.Last4,
		ExpMonth: r.ExpMonth, ExpYear: r.ExpYear, Behaviour: service.Behaviour(r.Behaviour), CreatedAt: r.CreatedAt,
	}
}

func toPayment(r paymentdb.Payment) service.Payment {
	return service.Payment{
		ID: r.ID.String(), OrderID: r.OrderID, UserID: r.UserID, MethodID: r.PaymentMethodID.String(),
		Amount: service.Money{AmountMinor: r.AmountMinor, Currency: r.Currency},
		Status: r.Status, DeclineCode: r.DeclineCode, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}
