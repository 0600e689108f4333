package service

import (
	"cmp"
	"context"
	"slices"
	"time"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/events"
)

// Result is the outcome of a reservation.
type Result struct {
	Reserved  bool
	Short     []ShortLine
	ExpiresAt time.Time
	// Cancelled means the order was cancelled before it was reserved:
	// nothing is held and nothing should be.
	Cancelled bool
}

// reserve is the naive mode: one order in the caller's transaction. It
// holds every line of the order or none, and records the decision; an
// order seen before gets its first outcome again. With strict, an unknown
// SKU is an error rather than a shortage.
func reserve(ctx context.Context, tx Tx, orderID string, lines []Line, expiresAt time.Time, strict bool) (Result, error) {
	if r, found, err := tx.Reservation(ctx, orderID); err != nil || found {
		return answer(r.Status, r.ExpiresAt), err
	}
	lines = merge(lines)
	skus := make([]string, len(lines))
	for i, l := range lines {
		skus[i] = l.SKU
	}
	stock, err := tx.LockStock(ctx, skus)
	if err != nil {
		return Result{}, err
	}
	available := make(map[string]int64, len(stock))
	for sku, st := range stock {
		available[sku] = st.Available
	}
	res, err := allot(lines, available, strict, expiresAt)
	if err != nil {
		return Result{}, err
	}
	if res.Reserved {
		if err := tx.Move(ctx, lines, Hold); err != nil {
			return Result{}, err
		}
	}
	return res, tx.CreateReservation(ctx, decision(orderID, lines, res))
}

// merge adds up lines of the same SKU and orders them by SKU.
func merge(lines []Line) []Line {
	bySKU := map[string]int64{}
	for _, l := range lines {
		bySKU[l.SKU] += l.Quantity
	}
	out := make([]Line, 0, len(bySKU))
	for sku, q := range bySKU {
		out = append(out, Line{SKU: sku, Quantity: q})
	}
	slices.SortFunc(out, func(a, b Line) int { return cmp.Compare(a.SKU, b.SKU) })
	return out
}

// Reserve is the internal RPC: it holds an order's stock for
// ReservationTTL, through the batcher or, in naive mode, in a transaction
// of its own. It emits no saga events; the saga reserves through
// OrderPlaced. An unknown SKU is an error (NotFound), not a shortage.
func (s *Service) Reserve(ctx context.Context, orderID string, lines []Line) (Result, error) {
	expires := storable(time.Now().Add(s.cfg.ReservationTTL))
	if s.batcher != nil {
		o := s.batcher.Submit(ctx, Request{OrderID: orderID, Lines: lines, ExpiresAt: expires})
		return o.Result, o.Err
	}
	var res Result
	err := s.store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		res, err = reserve(ctx, tx, orderID, lines, expires, true)
		return err
	})
	return res, err
}

// ReserveFromEvent is the batch mode's OrderPlaced handler: the event joins
// a batch, whose transaction records it in the inbox and emits its
// outcome.
func (s *Service) ReserveFromEvent(ctx context.Context, env *eventsv1.Envelope) error {
	expires, err := s.heldUntil(env)
	if err != nil {
		return err
	}
	o := s.batcher.Submit(ctx, Request{OrderID: env.GetOrderId(), Lines: linesOf(env.GetOrderPlaced()), Event: env, ExpiresAt: expires})
	return o.Err
}

// heldUntil is when Inventory releases the stock of an OrderPlaced on its
// own: the order's deadline and a grace. An order expires ORDER_DEADLINE
// after it is placed, so a deadline further out than that from now (and
// the grace, for clocks that differ) is not one Order set: such a hold is
// refused, never made.
func (s *Service) heldUntil(env *eventsv1.Envelope) (time.Time, error) {
	deadline := env.GetOrderPlaced().GetExpireTime().AsTime()
	if s.cfg.OrderDeadline > 0 {
		if limit := time.Now().Add(s.cfg.OrderDeadline + s.cfg.ReservationGrace); deadline.After(limit) {
			return time.Time{}, events.Invalid("the order expires at %s, later than the order deadline (%s) and its grace (%s) allow",
				deadline.UTC().Format(time.RFC3339), s.cfg.OrderDeadline, s.cfg.ReservationGrace)
		}
	}
	return storable(deadline.Add(s.cfg.ReservationGrace)), nil
}

// storable is t as the reservation records it: PostgreSQL keeps
// microseconds, so an answer given again from the record is the first.
func storable(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// Release returns an order's held stock to available. It returns the
// units released: 0 when nothing was held.
func (s *Service) Release(ctx context.Context, orderID string) (int64, error) {
	var n int64
	err := s.store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		n, err = s.release(ctx, tx, orderID, false)
		return err
	})
	return n, err
}

// release undoes an order: held units go back to available, and so do
// sold ones (a refund after confirmation restocks). With tombstone, an
// order Inventory never saw is remembered as cancelled so that a late
// OrderPlaced reserves nothing.
func (s *Service) release(ctx context.Context, tx Tx, orderID string, tombstone bool) (int64, error) {
	r, found, err := tx.Reservation(ctx, orderID)
	if err != nil {
		return 0, err
	}
	if !found {
		if tombstone {
			return 0, tx.CreateReservation(ctx, Reservation{OrderID: orderID, Status: StatusCancelled})
		}
		return 0, nil
	}
	switch r.Status {
	case StatusHeld:
		err = tx.Move(ctx, r.Lines, Unhold)
	case StatusSold:
		err = tx.Move(ctx, r.Lines, Restock)
	default:
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if err := tx.SetStatus(ctx, orderID, StatusReleased); err != nil {
		return 0, err
	}
	var units int64
	for _, l := range r.Lines {
		units += l.Quantity
	}
	if s.Released != nil {
		db.OnCommit(ctx, func() { s.Released(ctx, orderID, units) })
	}
	return units, tx.Emit(ctx, orderID, &eventsv1.StockReleased{ReleasedUnits: units})
}
