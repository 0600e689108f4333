package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/services/inventory/service"
	"github.com/ordermesh/ordermesh/services/inventory/store/inventorydb"
	"github.com/ordermesh/ordermesh/services/platform/events"
)

// InBatch implements service.Storer.
func (s *Store) InBatch(ctx context.Context, fn func(service.BatchTx) error) error {
	var err error
	for range 3 {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			return fn(&batchTx{tx: tx, q: s.q.WithTx(tx), outbox: s.outbox})
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "40P01" && pgErr.Code != "40001") {
			return err
		}
	}
	return err
}

type batchTx struct {
	tx     pgx.Tx
	q      *inventorydb.Queries
	outbox *events.Outbox
}

func (b *batchTx) RecordInbox(ctx context.Context, evs []*eventsv1.Envelope) (map[string]bool, error) {
	return events.RecordInbox(ctx, b.tx, evs)
}

func (b *batchTx) Claim(ctx context.Context, orderIDs []string, expires []time.Time) (map[string]bool, error) {
	ids, err := b.q.ClaimReservations(ctx, inventorydb.ClaimReservationsParams{OrderIds: orderIDs, ExpiresAt: expires})
	if err != nil {
		return nil, fmt.Errorf("claim reservations: %w", err)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

func (b *batchTx) Statuses(ctx context.Context, orderIDs []string) (map[string]string, error) {
	rows, err := b.q.ReservationStatuses(ctx, orderIDs)
	if err != nil {
		return nil, fmt.Errorf("reservation statuses: %w", err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.OrderID] = r.Status
	}
	return out, nil
}

func (b *batchTx) LockAvailable(ctx context.Context, skus []string) (map[string]int64, error) {
	rows, err := b.q.LockAvailable(ctx, skus)
	if err != nil {
		return nil, fmt.Errorf("lock stock: %w", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Sku] = r.Available
	}
	return out, nil
}

func (b *batchTx) Reserve(ctx context.Context, totals map[string]int64) error {
	skus := make([]string, 0, len(totals))
	for sku := range totals {
		skus = append(skus, sku)
	}
	slices.Sort(skus)
	qtys := make([]int64, len(skus))
	for i, sku := range skus {
		qtys[i] = totals[sku]
	}
	if err := b.q.ReserveStock(ctx, inventorydb.ReserveStockParams{Skus: skus, Quantities: qtys}); err != nil {
		return fmt.Errorf("reserve stock: %w", err)
	}
	return nil
}

func (b *batchTx) Resolve(ctx context.Context, statuses map[string]string, lines map[string][]service.Line) error {
	var p inventorydb.ResolveReservationsParams
	var l inventorydb.InsertBatchLinesParams
	for id, st := range statuses {
		p.OrderIds, p.Statuses = append(p.OrderIds, id), append(p.Statuses, st)
		for _, line := range lines[id] {
			l.OrderIds, l.Skus, l.Quantities = append(l.OrderIds, id), append(l.Skus, line.SKU), append(l.Quantities, line.Quantity)
		}
	}
	if err := b.q.ResolveReservations(ctx, p); err != nil {
		return fmt.Errorf("resolve reservations: %w", err)
	}
	if len(l.OrderIds) == 0 {
		return nil
	}
	if err := b.q.InsertBatchLines(ctx, l); err != nil {
		return fmt.Errorf("reservation lines: %w", err)
	}
	return nil
}

func (b *batchTx) EmitAll(ctx context.Context, ems []service.Emission) error {
	pending := make([]events.Pending, len(ems))
	for i, e := range ems {
		pending[i] = events.Pending{OrderID: e.OrderID, Payload: e.Payload}
	}
	return b.outbox.AddAll(ctx, b.tx, pending)
}
