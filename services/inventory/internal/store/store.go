// Package store keeps Inventory's stock and reservation ledger in
// PostgreSQL through the sqlc-generated queries in inventorydb.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/services/inventory/internal/service"
	"github.com/ordermesh/ordermesh/services/inventory/internal/store/inventorydb"
)

// Store implements service.Storer.
type Store struct {
	pool   *pgxpool.Pool
	q      *inventorydb.Queries
	outbox *events.Outbox
}

var _ service.Storer = (*Store)(nil)

// New returns a store on pool that emits events through outbox.
func New(pool *pgxpool.Pool, outbox *events.Outbox) *Store {
	return &Store{pool: pool, q: inventorydb.New(pool), outbox: outbox}
}

// InTx implements service.Storer.
func (s *Store) InTx(ctx context.Context, fn func(context.Context, service.Tx) error) error {
	return db.InTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error { return fn(ctx, s.Bind(tx)) })
}

// Bind returns the store inside an open transaction, for event handlers
// that run in the sink's transaction.
func (s *Store) Bind(tx pgx.Tx) service.Tx {
	return &txStore{tx: tx, q: s.q.WithTx(tx), outbox: s.outbox}
}

// Get implements service.Storer.
func (s *Store) Get(ctx context.Context, sku string) (service.Stock, error) {
	st, err := s.q.GetStock(ctx, sku)
	if errors.Is(err, pgx.ErrNoRows) {
		return service.Stock{}, rpcerr.Errorf(service.ErrNotFound, "SKU %q has never been stocked", sku)
	}
	if err != nil {
		return service.Stock{}, fmt.Errorf("get stock: %w", err)
	}
	return toStock(st), nil
}

// BatchGet implements service.Storer.
func (s *Store) BatchGet(ctx context.Context, skus []string) ([]service.Stock, error) {
	rows, err := s.q.BatchGetStock(ctx, skus)
	if err != nil {
		return nil, fmt.Errorf("batch get stock: %w", err)
	}
	out := make([]service.Stock, len(rows))
	for i, r := range rows {
		out[i] = toStock(r)
	}
	return out, nil
}

// Set implements service.Storer.
func (s *Store) Set(ctx context.Context, sku string, available int64, actor string) (service.Stock, error) {
	var out service.Stock
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		before, err := q.GetStock(ctx, sku)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		st, err := q.SetStock(ctx, inventorydb.SetStockParams{Sku: sku, Available: available})
		if err != nil {
			return fmt.Errorf("set stock: %w", err)
		}
		out = toStock(st)
		return q.InsertAdjustment(ctx, inventorydb.InsertAdjustmentParams{Sku: sku, Delta: available - before.Available, Reason: "set", Actor: actor})
	})
	return out, err
}

// Adjust implements service.Storer.
func (s *Store) Adjust(ctx context.Context, sku string, delta int64, reason, actor string) (service.Stock, error) {
	var out service.Stock
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		st, err := q.AdjustStock(ctx, inventorydb.AdjustStockParams{Sku: sku, Delta: delta})
		if errors.Is(err, pgx.ErrNoRows) {
			cur, gerr := q.GetStock(ctx, sku)
			if errors.Is(gerr, pgx.ErrNoRows) {
				return rpcerr.Errorf(service.ErrNotFound, "SKU %q has never been stocked, so %d units cannot be removed", sku, -delta)
			}
			return rpcerr.Errorf(service.ErrInsufficient, "SKU %q has %d units available; removing %d would go below zero", sku, cur.Available, -delta)
		}
		if err != nil {
			return fmt.Errorf("adjust stock: %w", err)
		}
		out = toStock(st)
		return q.InsertAdjustment(ctx, inventorydb.InsertAdjustmentParams{Sku: sku, Delta: delta, Reason: reason, Actor: actor})
	})
	return out, err
}

type txStore struct {
	tx     pgx.Tx
	q      *inventorydb.Queries
	outbox *events.Outbox
}

func (t *txStore) LockStock(ctx context.Context, skus []string) (map[string]service.Stock, error) {
	rows, err := t.q.LockStock(ctx, skus)
	if err != nil {
		return nil, fmt.Errorf("lock stock: %w", err)
	}
	out := make(map[string]service.Stock, len(rows))
	for _, r := range rows {
		out[r.Sku] = toStock(r)
	}
	return out, nil
}

func (t *txStore) Move(ctx context.Context, lines []service.Line, m service.Move) error {
	skus, qtys := split(lines)
	n, err := t.q.MoveStock(ctx, inventorydb.MoveStockParams{DAvailable: m.Available, DReserved: m.Reserved, DSold: m.Sold, Skus: skus, Quantities: qtys})
	if err != nil {
		return fmt.Errorf("move stock: %w", err)
	}
	if int(n) != len(lines) {
		return fmt.Errorf("move stock: %d of %d SKUs exist", n, len(lines))
	}
	return nil
}

func (t *txStore) LockStockOfBatch(ctx context.Context, skus, orderIDs []string) error {
	if err := t.q.LockStockOfBatch(ctx, inventorydb.LockStockOfBatchParams{Skus: skus, OrderIds: orderIDs}); err != nil {
		return fmt.Errorf("lock stock: %w", err)
	}
	return nil
}

func (t *txStore) Reservation(ctx context.Context, orderID string) (service.Reservation, bool, error) {
	return reservation(t.q.GetReservation(ctx, orderID))
}

// Reservation reads an order's reservation without locking it.
func (s *Store) Reservation(ctx context.Context, orderID string) (service.Reservation, bool, error) {
	return reservation(s.q.ReadReservation(ctx, orderID))
}

func reservation(r inventorydb.Reservation, err error) (service.Reservation, bool, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return service.Reservation{}, false, nil
	}
	if err != nil {
		return service.Reservation{}, false, fmt.Errorf("get reservation: %w", err)
	}
	out := service.Reservation{OrderID: r.OrderID, Status: r.Status, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	for i, sku := range r.Skus {
		out.Lines = append(out.Lines, service.Line{SKU: sku, Quantity: r.Quantities[i]})
	}
	return out, true, nil
}

func (t *txStore) CreateReservation(ctx context.Context, r service.Reservation) error {
	skus, qtys := split(r.Lines)
	if err := t.q.InsertReservation(ctx, inventorydb.InsertReservationParams{OrderID: r.OrderID, Status: r.Status, ExpiresAt: r.ExpiresAt, Skus: skus, Quantities: qtys}); err != nil {
		return fmt.Errorf("insert reservation: %w", err)
	}
	return nil
}

func (t *txStore) SetStatus(ctx context.Context, orderID, status string) error {
	return t.q.SetReservationStatus(ctx, inventorydb.SetReservationStatusParams{OrderID: orderID, Status: status})
}

func (t *txStore) Expired(ctx context.Context, n int) ([]string, error) {
	return t.q.ExpiredReservations(ctx, int32(n))
}

func (t *txStore) Emit(ctx context.Context, orderID string, payload proto.Message) error {
	_, err := t.outbox.Add(ctx, t.tx, orderID, payload)
	return err
}

func split(lines []service.Line) ([]string, []int64) {
	skus, qtys := make([]string, len(lines)), make([]int64, len(lines))
	for i, l := range lines {
		skus[i], qtys[i] = l.SKU, l.Quantity
	}
	return skus, qtys
}

func toStock(s inventorydb.Stock) service.Stock {
	return service.Stock{SKU: s.Sku, Available: s.Available, Reserved: s.Reserved, Sold: s.Sold, Received: s.Received, UpdatedAt: s.UpdatedAt}
}
