// Package store keeps carts in PostgreSQL through the sqlc-generated
// queries in cartdb.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermesh/ordermesh/services/cart/internal/service"
	"github.com/ordermesh/ordermesh/services/cart/internal/store/cartdb"
)

// Store implements service.Storer.
type Store struct {
	pool *pgxpool.Pool
	q    *cartdb.Queries
}

var _ service.Storer = (*Store)(nil)

// New returns a store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool, q: cartdb.New(pool)} }

// Get implements service.Storer.
func (s *Store) Get(ctx context.Context, userID string) (service.Cart, error) {
	var out service.Cart
	// One snapshot, so the version and the lines agree.
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		out = service.Cart{UserID: userID}
		c, err := q.GetCart(ctx, userID)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("get cart: %w", err)
		}
		out.Version, out.UpdatedAt = c.Version, &c.UpdatedAt
		out.Lines, err = lines(ctx, q, userID)
		return err
	})
	return out, err
}

// Change implements service.Storer.
func (s *Store) Change(ctx context.Context, userID string, edit func([]service.Line) ([]service.Line, error)) (service.Cart, error) {
	var out service.Cart
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.change(ctx, tx, userID, edit)
		return err
	})
	return out, err
}

// Bind wraps the saga consumer's transaction, which applies an event
// together with its inbox row, in the service's Tx.
func (s *Store) Bind(tx pgx.Tx) service.Tx { return txStore{s: s, tx: tx} }

type txStore struct {
	s  *Store
	tx pgx.Tx
}

// Change implements service.Tx.
func (t txStore) Change(ctx context.Context, userID string, edit func([]service.Line) ([]service.Line, error)) (service.Cart, error) {
	return t.s.change(ctx, t.tx, userID, edit)
}

// change is Change inside an open transaction.
func (s *Store) change(ctx context.Context, tx pgx.Tx, userID string, edit func([]service.Line) ([]service.Line, error)) (service.Cart, error) {
	q := s.q.WithTx(tx)
	c, err := q.TouchCart(ctx, userID) // locks the cart row until commit
	if err != nil {
		return service.Cart{}, fmt.Errorf("lock cart: %w", err)
	}
	before, err := lines(ctx, q, userID)
	if err != nil {
		return service.Cart{}, err
	}
	after, err := edit(clone(before))
	if err != nil {
		return service.Cart{}, err
	}
	if err := apply(ctx, q, userID, before, after); err != nil {
		return service.Cart{}, err
	}
	out := service.Cart{UserID: userID, Version: c.Version, UpdatedAt: &c.UpdatedAt}
	out.Lines, err = lines(ctx, q, userID)
	return out, err
}

// apply writes the difference between two line lists.
func apply(ctx context.Context, q *cartdb.Queries, userID string, before, after []service.Line) error {
	kept := make(map[string]int32, len(after))
	for _, l := range after {
		kept[l.SKU] = l.Quantity
	}
	for _, l := range before {
		if _, ok := kept[l.SKU]; !ok {
			if _, err := q.DeleteLine(ctx, cartdb.DeleteLineParams{UserID: userID, Sku: l.SKU}); err != nil {
				return fmt.Errorf("delete line: %w", err)
			}
		}
	}
	had := make(map[string]int32, len(before))
	for _, l := range before {
		had[l.SKU] = l.Quantity
	}
	for _, l := range after {
		if q0, ok := had[l.SKU]; ok && q0 == l.Quantity {
			continue
		}
		if err := q.UpsertLine(ctx, cartdb.UpsertLineParams{UserID: userID, Sku: l.SKU, Quantity: l.Quantity}); err != nil {
			return fmt.Errorf("write line: %w", err)
		}
	}
	return nil
}

func lines(ctx context.Context, q *cartdb.Queries, userID string) ([]service.Line, error) {
	rows, err := q.ListLines(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list lines: %w", err)
	}
	out := make([]service.Line, len(rows))
	for i, r := range rows {
		out[i] = service.Line{SKU: r.Sku, Quantity: r.Quantity, AddedAt: r.AddedAt}
	}
	return out, nil
}

func clone(ls []service.Line) []service.Line {
	return append([]service.Line(nil), ls...)
}
