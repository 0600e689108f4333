package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/services/inventory/internal/service"
	"github.com/ordermesh/ordermesh/services/inventory/internal/store/inventorydb"
)

// Stage returns the store of one delivered batch of settling events
// (OrderConfirmed, OrderCancelled) in tx; see events.Staging. Load locks
// the stock rows of the batch's reservations in SKU order and then the
// reservations, one statement each; the handlers decide in Go; Write
// moves every SKU's units with one statement, and the reservations and
// outbox with one each. It is a service.Tx, so the handlers are the ones
// a single event would run.
func (s *Store) Stage(tx pgx.Tx) events.Staging {
	return &Settlement{tx: tx, q: s.q.WithTx(tx), outbox: s.outbox}
}

// Settlement is the store of one delivered batch; see Stage.
type Settlement struct {
	tx     pgx.Tx
	q      *inventorydb.Queries
	outbox *events.Outbox

	reservations map[string]*stagedReservation // by order id
	moves        []move
	emitted      events.Emitted

	marks struct{ moves int }
	saved map[string]*stagedReservation // nil: the order had none
}

type stagedReservation struct {
	r                service.Reservation
	created, changed bool
}

// move is one SKU's change; a batch adds them up per SKU.
type move struct {
	sku                       string
	available, reserved, sold int64
}

var (
	_ service.Tx     = (*Settlement)(nil)
	_ events.Staging = (*Settlement)(nil)
)

var errNotInBatch = errors.New("store: not available to a batch of settling events")

// Load implements events.Staging.
func (b *Settlement) Load(ctx context.Context, envs []*eventsv1.Envelope) error {
	orders := make([]string, 0, len(envs))
	for _, env := range envs {
		orders = append(orders, env.GetOrderId())
	}
	slices.Sort(orders)
	orders = slices.Compact(orders)
	if err := b.q.LockStockOfBatch(ctx, inventorydb.LockStockOfBatchParams{Skus: []string{}, OrderIds: orders}); err != nil {
		return fmt.Errorf("lock stock: %w", err)
	}
	rows, err := b.q.LockReservations(ctx, orders)
	if err != nil {
		return fmt.Errorf("lock reservations: %w", err)
	}
	b.reservations = make(map[string]*stagedReservation, len(rows))
	for _, row := range rows {
		r, _, err := reservation(row, nil)
		if err != nil {
			return err
		}
		b.reservations[r.OrderID] = &stagedReservation{r: r}
	}
	return nil
}

// Mark implements events.Staging.
func (b *Settlement) Mark() {
	b.marks.moves = len(b.moves)
	b.emitted.Mark()
	clear(b.saved)
}

// Undo implements events.Staging.
func (b *Settlement) Undo() {
	b.moves = b.moves[:b.marks.moves]
	b.emitted.Undo()
	for id, was := range b.saved {
		if was == nil {
			delete(b.reservations, id)
		} else {
			b.reservations[id] = was
		}
	}
	clear(b.saved)
}

func (b *Settlement) save(orderID string) {
	if b.saved == nil {
		b.saved = map[string]*stagedReservation{}
	}
	if _, ok := b.saved[orderID]; ok {
		return
	}
	var was *stagedReservation
	if r, ok := b.reservations[orderID]; ok {
		cp := *r
		was = &cp
	}
	b.saved[orderID] = was
}

// Write implements events.Staging.
func (b *Settlement) Write(ctx context.Context) error {
	var created inventorydb.InsertReservationsParams
	var changed inventorydb.SetReservationStatusesParams
	for _, id := range slices.Sorted(maps.Keys(b.reservations)) {
		sr := b.reservations[id]
		switch {
		case sr.created:
			created.OrderIds, created.Statuses = append(created.OrderIds, id), append(created.Statuses, sr.r.Status)
		case sr.changed:
			changed.OrderIds, changed.Statuses = append(changed.OrderIds, id), append(changed.Statuses, sr.r.Status)
		}
	}
	if len(created.OrderIds) > 0 {
		if err := b.q.InsertReservations(ctx, created); err != nil {
			return fmt.Errorf("insert reservations: %w", err)
		}
	}
	if len(changed.OrderIds) > 0 {
		if err := b.q.SetReservationStatuses(ctx, changed); err != nil {
			return fmt.Errorf("set reservation statuses: %w", err)
		}
	}
	if err := b.writeMoves(ctx); err != nil {
		return err
	}
	return b.emitted.Write(ctx, b.tx, b.outbox)
}

// writeMoves moves every SKU's units by the sum of the batch's moves.
func (b *Settlement) writeMoves(ctx context.Context) error {
	if len(b.moves) == 0 {
		return nil
	}
	sum := map[string]*move{}
	for _, m := range b.moves {
		s, ok := sum[m.sku]
		if !ok {
			s = &move{sku: m.sku}
			sum[m.sku] = s
		}
		s.available, s.reserved, s.sold = s.available+m.available, s.reserved+m.reserved, s.sold+m.sold
	}
	var p inventorydb.MoveStockByParams
	for _, sku := range slices.Sorted(maps.Keys(sum)) {
		m := sum[sku]
		p.Skus, p.DAvailable = append(p.Skus, sku), append(p.DAvailable, m.available)
		p.DReserved, p.DSold = append(p.DReserved, m.reserved), append(p.DSold, m.sold)
	}
	n, err := b.q.MoveStockBy(ctx, p)
	if err != nil {
		return fmt.Errorf("move stock: %w", err)
	}
	if int(n) != len(p.Skus) {
		return fmt.Errorf("move stock: %d of %d SKUs exist", n, len(p.Skus))
	}
	return nil
}

// Move implements service.Tx.
func (b *Settlement) Move(_ context.Context, lines []service.Line, m service.Move) error {
	for _, l := range lines {
		b.moves = append(b.moves, move{sku: l.SKU, available: m.Available * l.Quantity, reserved: m.Reserved * l.Quantity, sold: m.Sold * l.Quantity})
	}
	return nil
}

// Reservation implements service.Tx: the batch's reservations are locked
// already.
func (b *Settlement) Reservation(_ context.Context, orderID string) (service.Reservation, bool, error) {
	r, ok := b.reservations[orderID]
	if !ok {
		return service.Reservation{}, false, nil
	}
	return r.r, true, nil
}

// CreateReservation implements service.Tx, for the tombstone of an order
// cancelled before it was placed; a settling event reserves nothing.
func (b *Settlement) CreateReservation(_ context.Context, r service.Reservation) error {
	if len(r.Lines) > 0 {
		return errNotInBatch
	}
	if _, ok := b.reservations[r.OrderID]; ok {
		return fmt.Errorf("store: order %s has a reservation already", r.OrderID)
	}
	b.save(r.OrderID)
	b.reservations[r.OrderID] = &stagedReservation{r: r, created: true}
	return nil
}

// SetStatus implements service.Tx.
func (b *Settlement) SetStatus(_ context.Context, orderID, status string) error {
	r, ok := b.reservations[orderID]
	if !ok {
		return fmt.Errorf("store: reservation of %s was not loaded with its batch", orderID)
	}
	b.save(orderID)
	cp := *r
	cp.r.Status, cp.changed = status, true
	b.reservations[orderID] = &cp
	return nil
}

// Emit implements service.Tx: the event continues the trace of ctx, the
// span of the event that caused it.
func (b *Settlement) Emit(ctx context.Context, orderID string, payload proto.Message) error {
	b.emitted.Add(ctx, orderID, payload)
	return nil
}

// LockStock implements service.Tx; settling reserves nothing.
func (b *Settlement) LockStock(context.Context, []string) (map[string]service.Stock, error) {
	return nil, errNotInBatch
}

// LockStockOfBatch implements service.Tx; Load has locked them.
func (b *Settlement) LockStockOfBatch(context.Context, []string, []string) error { return nil }

// Expired implements service.Tx; events expire nothing.
func (b *Settlement) Expired(context.Context, int) ([]string, error) { return nil, errNotInBatch }
