package service

import (
	"context"
	"log/slog"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/events"
)

// LockBatch locks every stock row a delivered batch will change, in SKU
// order, before any of its events is applied: each event locks its own
// SKUs in order, but one after another they do not, and two batches
// delivered at once (relay workers, replicas) would deadlock.
func (s *Service) LockBatch(ctx context.Context, tx Tx, envs []*eventsv1.Envelope) error {
	skus, orders := []string{}, []string{}
	for _, env := range envs {
		switch env.GetType() {
		case eventsv1.EventType_EVENT_TYPE_ORDER_PLACED:
			for _, l := range env.GetOrderPlaced().GetLines() {
				skus = append(skus, l.GetSku())
			}
		case eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED, eventsv1.EventType_EVENT_TYPE_ORDER_CANCELLED:
			orders = append(orders, env.GetOrderId())
		default: // Inventory consumes nothing else; no stock row to lock
		}
	}
	if len(skus)+len(orders) == 0 {
		return nil
	}
	return tx.LockStockOfBatch(ctx, skus, orders)
}

// OnOrderPlaced is the naive mode's handler: it reserves the order's
// lines and says how it went. An order cancelled before it arrived is left
// alone.
func (s *Service) OnOrderPlaced(ctx context.Context, tx Tx, env *eventsv1.Envelope) error {
	p := env.GetOrderPlaced()
	expires, err := s.heldUntil(env)
	if err != nil {
		return err
	}
	res, err := reserve(ctx, tx, env.GetOrderId(), linesOf(p), expires, false)
	if err != nil || res.Cancelled {
		return err
	}
	return tx.Emit(ctx, env.GetOrderId(), outcome(p, res))
}

// OnOrderConfirmed turns the order's reservation into a sale.
func (s *Service) OnOrderConfirmed(ctx context.Context, tx Tx, env *eventsv1.Envelope) error {
	r, found, err := tx.Reservation(ctx, env.GetOrderId())
	if err == nil && !found {
		return events.UnknownOrder(env) // its OrderPlaced is late: retried
	}
	if err != nil || r.Status != StatusHeld {
		if err == nil && r.Status != StatusSold {
			// A confirmed order whose stock is not held: only possible if
			// the confirmation arrived after Inventory's own expiry. Never
			// oversell: log it for an operator instead.
			s.log.WarnContext(ctx, "confirmed order has no held stock", slog.String("order_id", env.GetOrderId()), slog.String("status", r.Status))
		}
		return err
	}
	if err := tx.Move(ctx, r.Lines, Sell); err != nil {
		return err
	}
	return tx.SetStatus(ctx, env.GetOrderId(), StatusSold)
}

// OnOrderCancelled releases the order's stock, held or sold.
func (s *Service) OnOrderCancelled(ctx context.Context, tx Tx, env *eventsv1.Envelope) error {
	_, err := s.release(ctx, tx, env.GetOrderId(), true)
	return err
}

// ExpireReservations releases up to n held reservations past their
// deadline, a second guard behind Order's own expiry. It returns how many
// it released.
func (s *Service) ExpireReservations(ctx context.Context, n int) (int, error) {
	count := 0
	err := s.store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		ids, err := tx.Expired(ctx, n)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := s.release(ctx, tx, id, false); err != nil {
				return err
			}
		}
		count = len(ids)
		return nil
	})
	return count, err
}
