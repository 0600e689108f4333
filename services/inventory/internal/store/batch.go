package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/services/inventory/internal/service"
	"github.com/ordermesh/ordermesh/services/inventory/internal/store/inventorydb"
)

// InBatch implements service.Storer.
func (s *Store) InBatch(ctx context.Context, fn func(service.BatchTx) error) error {
	var err error
	for range 3 {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			return fn(&batchTx{tx: tx, q: s.q.WithTx(tx), outbox: s.outbox})
		})
		// A lost deadlock or serialization race, or an order reserved by
		// another instance meanwhile: run the batch again.
		conflict := errors.Is(err, service.ErrBatchConflict) || db.IsConflict(err)
		if !conflict {
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

func (b *batchTx) Recorded(ctx context.Context, orderIDs []string) (map[string]service.Reservation, error) {
	rows, err := b.q.RecordedReservations(ctx, orderIDs)
	if err != nil {
		return nil, fmt.Errorf("recorded reservations: %w", err)
	}
	out := make(map[string]service.Reservation, len(rows))
	for _, r := range rows {
		out[r.OrderID] = service.Reservation{OrderID: r.OrderID, Status: r.Status, ExpiresAt: r.ExpiresAt}
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

func (b *batchTx) Commit(ctx context.Context, a service.Allocation) error {
	p := inventorydb.CommitBatchParams{LineSkus: []string{}, LineQuantities: []int64{}}
	for _, r := range a.Reservations {
		exp := time.Time{}
		if r.ExpiresAt != nil {
			exp = *r.ExpiresAt
		}
		p.OrderIds, p.Statuses, p.ExpiresAt = append(p.OrderIds, r.OrderID), append(p.Statuses, r.Status), append(p.ExpiresAt, exp)
		// Reservation i's lines are line_skus[first:last], 1-based and
		// inclusive; the service keeps each order's lines sorted by SKU.
		p.LineFirst = append(p.LineFirst, int32(len(p.LineSkus)+1))
		p.LineLast = append(p.LineLast, int32(len(p.LineSkus)+len(r.Lines)))
		for _, l := range r.Lines {
			p.LineSkus, p.LineQuantities = append(p.LineSkus, l.SKU), append(p.LineQuantities, l.Quantity)
		}
	}
	p.Skus = make([]string, 0, len(a.Totals))
	for sku := range a.Totals {
		p.Skus = append(p.Skus, sku)
	}
	slices.Sort(p.Skus)
	p.Quantities = make([]int64, len(p.Skus))
	for i, sku := range p.Skus {
		p.Quantities[i] = a.Totals[sku]
	}
	moved, err := b.q.CommitBatch(ctx, p)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation {
		return service.ErrBatchConflict // an order of the batch has a reservation already
	}
	if err != nil {
		return fmt.Errorf("commit batch: %w", err)
	}
	if int(moved) != len(p.Skus) {
		return fmt.Errorf("commit batch: moved %d of %d SKUs", moved, len(p.Skus))
	}
	return nil
}

func (b *batchTx) EmitAll(ctx context.Context, ems []service.Emission) error {
	pending := make([]events.Pending, len(ems))
	for i, e := range ems {
		pending[i] = events.Pending{OrderID: e.OrderID, Payload: e.Payload, Trace: e.Trace}
	}
	return b.outbox.AddAll(ctx, b.tx, pending)
}
