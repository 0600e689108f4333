package service

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/internal/platform/telemetry"
)

// CancelOrder cancels an order that has not shipped. Cancelling a
// cancelled order returns it unchanged. check runs on the locked order
// before anything changes, so the caller's right to it is decided on
// what is stored.
func (s *Service) CancelOrder(ctx context.Context, id string, check func(Order) error) (Order, error) {
	return s.cancelOrder(ctx, id, check, ReasonCustomer, func(o Order) string { return "cancelled by " + o.UserID })
}

// OperatorCancel cancels an order on an operator's word, like
// CancelOrder, and records who and why in its history. Unlike a
// customer's, an operator's cancellation of a cancelled order is an
// error: the reason given would otherwise be dropped in silence.
func (s *Service) OperatorCancel(ctx context.Context, id, operator, why string) (Order, error) {
	notYet := func(o Order) error {
		if o.Status == StatusCancelled {
			return rpcerr.Errorf(ErrState, "order %s was already cancelled (%s) at %s; nothing changed and your reason was not recorded",
				id, o.Reason, o.UpdatedAt.UTC().Format(time.RFC3339))
		}
		return nil
	}
	return s.cancelOrder(ctx, id, notYet, ReasonOperator,
		func(Order) string { return "cancelled by operator " + operator + ": " + why })
}

func (s *Service) cancelOrder(ctx context.Context, id string, check func(Order) error, reason Reason, detail func(Order) string) (Order, error) {
	err := s.store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		o, found, err := tx.Lock(ctx, id, false)
		if err != nil {
			return err
		}
		if !found {
			return rpcerr.Errorf(ErrNotFound, "order %s does not exist", id)
		}
		if err := check(o); err != nil {
			return err
		}
		switch o.Status {
		case StatusCancelled:
			return nil
		case StatusShipped:
			return rpcerr.Errorf(ErrState, "order %s has shipped and can no longer be cancelled; ask for a return instead", id)
		case StatusRejected:
			return rpcerr.Errorf(ErrState, "order %s was rejected; there is nothing to cancel", id)
		case StatusPending, StatusReserved, StatusConfirmed:
			// Cancellable: a confirmed order is refunded and restocked.
		}
		return s.cancel(ctx, tx, o, reason, detail(o))
	})
	if err != nil {
		return Order{}, err
	}
	return s.store.Get(ctx, id)
}

// ShipOrder hands a CONFIRMED order to the carrier with its tracking
// number. Shipping a shipped order with the same number is not an error.
func (s *Service) ShipOrder(ctx context.Context, id, tracking string) (Order, error) {
	err := s.store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		o, found, err := tx.Lock(ctx, id, false)
		switch {
		case err != nil:
			return err
		case !found:
			return rpcerr.Errorf(ErrNotFound, "order %s does not exist", id)
		case o.Status == StatusShipped && o.TrackingNumber == tracking:
			return nil
		case o.Status != StatusConfirmed:
			return rpcerr.Errorf(ErrState, "order %s is %s; only a confirmed order can ship", id, o.Status)
		}
		if err := tx.SetShipped(ctx, id, tracking); err != nil {
			return err
		}
		return tx.Transition(ctx, id, StatusShipped, "", "tracking number "+tracking)
	})
	if err != nil {
		return Order{}, err
	}
	return s.store.Get(ctx, id)
}

// ExpireOrders cancels up to n open orders past their deadline and
// returns how many.
func (s *Service) ExpireOrders(ctx context.Context, n int) (int, error) {
	count := 0
	err := s.store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		ids, err := tx.Expired(ctx, n)
		if err != nil {
			return err
		}
		for _, id := range ids {
			o, found, err := tx.Lock(ctx, id, false)
			if err != nil {
				return err
			}
			if found && !SagaDone(o.Status) {
				if err := s.expire(ctx, tx, o); err != nil {
					return err
				}
				count++
			}
		}
		return nil
	})
	return count, err
}

// ExpireAll runs the expiry sweep until no open order is past its
// deadline, and returns how many it cancelled.
func (s *Service) ExpireAll(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.ExpireOrders(ctx, 100)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// expire cancels o as expired in a span of the order's own trace.
func (s *Service) expire(ctx context.Context, tx Tx, o Order) error {
	return s.cancelTraced(ctx, tx, o, "order.expire", ReasonExpired, "not confirmed before "+o.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"))
}

// cancelTraced cancels o in a span of the order's own trace, linked to
// the work that decided it, so that the cancellation and the
// compensations it starts are seen with the order.
func (s *Service) cancelTraced(ctx context.Context, tx Tx, o Order, spanName string, reason Reason, detail string) error {
	ctx, span := s.Tracer.Start(telemetry.ContextWithTraceParent(ctx, o.TraceParent), spanName,
		trace.WithLinks(trace.LinkFromContext(ctx)), trace.WithAttributes(attribute.String("ordermesh.order_id", o.ID)))
	defer span.End()
	err := s.cancel(ctx, tx, o, reason, detail)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, spanName+" failed")
	}
	return err
}

// GetOrder returns one order.
func (s *Service) GetOrder(ctx context.Context, id string) (Order, error) {
	return s.store.Get(ctx, id)
}

// ListOrders returns a page of a user's orders, newest first.
func (s *Service) ListOrders(ctx context.Context, userID, beforeID string, limit int32) ([]Order, error) {
	return s.store.List(ctx, userID, beforeID, limit)
}
