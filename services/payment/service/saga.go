package service

import (
	"context"
	"log/slog"

	"github.com/google/uuid"

	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/services/platform/rpcerr"
)

var errorf = rpcerr.Errorf

// OnStockReserved authorises the order total, which comes from the order
// through the event, never from a client. It emits PaymentAuthorized or
// PaymentDeclined. A transient gateway failure returns an error, so the
// relay delivers the event again later.
func (s *Service) OnStockReserved(ctx context.Context, tx Tx, env *eventsv1.Envelope) error {
	orderID, ev := env.GetOrderId(), env.GetStockReserved()
	if _, found, err := tx.Payment(ctx, orderID); err != nil || found {
		return err
	}
	if cancelled, err := tx.Cancelled(ctx, orderID); err != nil || cancelled {
		return err
	}
	amount := Money{AmountMinor: ev.GetTotal().GetAmountMinor(), Currency: ev.GetTotal().GetCurrency()}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	p := Payment{ID: id.String(), OrderID: orderID, UserID: ev.GetUserId(), MethodID: ev.GetPaymentMethodId(), Amount: amount}
	m, found, err := tx.Method(ctx, ev.GetPaymentMethodId())
	if err != nil {
		return err
	}
	var d Decision
	if !found || m.UserID != ev.GetUserId() {
		d = Decision{Code: "payment_method_not_found", Message: "The payment method does not exist or belongs to someone else."}
	} else if d, err = s.gateway.Authorize(ctx, orderID, m.Behaviour, amount); err != nil {
		return err
	}
	p.Status, p.DeclineCode = StatusAuthorized, d.Code
	if !d.Approved {
		p.Status = StatusDeclined
	}
	if p, err = tx.CreatePayment(ctx, p); err != nil {
		return err
	}
	if err := tx.AddOperation(ctx, p.ID, Operation{Kind: "authorize", Succeeded: d.Approved, Reference: d.Reference, Message: d.Message}); err != nil {
		return err
	}
	if !d.Approved {
		return tx.Emit(ctx, orderID, &eventsv1.PaymentDeclined{PaymentId: p.ID, DeclineCode: d.Code, Message: d.Message})
	}
	return tx.Emit(ctx, orderID, &eventsv1.PaymentAuthorized{PaymentId: p.ID, Amount: money(amount)})
}

// OnOrderConfirmed captures the authorisation.
func (s *Service) OnOrderConfirmed(ctx context.Context, tx Tx, env *eventsv1.Envelope) error {
	p, found, err := tx.Payment(ctx, env.GetOrderId())
	if err != nil {
		return err
	}
	if !found || p.Status != StatusAuthorized {
		if !found || p.Status != StatusCaptured {
			slog.WarnContext(ctx, "confirmed order has no authorised payment", slog.String("order_id", env.GetOrderId()), slog.String("status", p.Status))
		}
		return nil
	}
	return s.settle(ctx, tx, p, "capture", StatusCaptured)
}

// OnOrderCancelled voids an authorisation, refunds a capture, and
// remembers an order it has not seen so that a late StockReserved does not
// charge it.
func (s *Service) OnOrderCancelled(ctx context.Context, tx Tx, env *eventsv1.Envelope) error {
	p, found, err := tx.Payment(ctx, env.GetOrderId())
	if err != nil {
		return err
	}
	if !found {
		return tx.MarkCancelled(ctx, env.GetOrderId())
	}
	switch p.Status {
	case StatusAuthorized:
		return s.settle(ctx, tx, p, "void", StatusVoided)
	case StatusCaptured:
		if err := s.settle(ctx, tx, p, "refund", StatusRefunded); err != nil {
			return err
		}
		return tx.Emit(ctx, p.OrderID, &eventsv1.PaymentRefunded{PaymentId: p.ID, Amount: money(p.Amount)})
	}
	return nil
}

func (s *Service) settle(ctx context.Context, tx Tx, p Payment, kind, status string) error {
	if err := tx.AddOperation(ctx, p.ID, s.gateway.Settle(kind)); err != nil {
		return err
	}
	if s.Compensated != nil && kind != "capture" {
		s.Compensated(kind)
	}
	return tx.SetStatus(ctx, p.ID, status)
}

func money(m Money) *commonv1.Money {
	return &commonv1.Money{AmountMinor: m.AmountMinor, Currency: m.Currency}
}
