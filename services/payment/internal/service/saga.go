package service

import (
	"context"
	"log/slog"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/money"
)

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
	if !money.IsCurrency(amount.Currency) {
		return events.Invalid("%q is not an ISO 4217 currency", amount.Currency)
	}
	if amount.AmountMinor <= 0 {
		return events.Invalid("the amount to authorise must be positive, not %s", money.Format(amount.AmountMinor, amount.Currency))
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	p := Payment{ID: id.String(), OrderID: orderID, UserID: ev.GetUserId(), MethodID: ev.GetPaymentMethodId(), Amount: amount}
	m, found, err := tx.Method(ctx, ev.GetPaymentMethodId())
	if err != nil {
		return err
	}
	d, err := s.authorize(ctx, orderID, m, found && m.UserID == ev.GetUserId(), amount)
	if err != nil {
		return err
	}
	p.Status, p.DeclineCode = StatusAuthorized, d.Code
	if !d.Approved {
		p.Status = StatusDeclined
	}
	if err := tx.CreatePayment(ctx, p); err != nil {
		return err
	}
	if err := tx.AddOperation(ctx, p.ID, Operation{Kind: "authorize", Succeeded: d.Approved, Reference: d.Reference, Message: d.Message}); err != nil {
		return err
	}
	if !d.Approved {
		return tx.Emit(ctx, orderID, &eventsv1.PaymentDeclined{PaymentId: p.ID, DeclineCode: d.Code, Message: d.Message})
	}
	return tx.Emit(ctx, orderID, &eventsv1.PaymentAuthorized{PaymentId: p.ID, Amount: amount.proto()})
}

// authorize asks the gateway to authorise amount on m, in a span of its
// own, so that a decline shows in the order's trace as an error. A method
// that is not the customer's is declined without asking.
func (s *Service) authorize(ctx context.Context, orderID string, m Method, usable bool, amount Money) (Decision, error) {
	_, span := trace.SpanFromContext(ctx).TracerProvider().Tracer(instrumentation).Start(ctx, "payment.authorize",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("ordermesh.order_id", orderID), attribute.Int64("ordermesh.amount_minor", amount.AmountMinor),
			attribute.String("ordermesh.currency", amount.Currency)))
	defer span.End()
	d := Decision{Code: "payment_method_not_found", Message: "The payment method does not exist or belongs to someone else."}
	if usable {
		var err error
		if d, err = s.gateway.Authorize(ctx, orderID, m.Behaviour, amount); err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "gateway unavailable")
			return Decision{}, err
		}
	}
	span.SetAttributes(attribute.Bool("ordermesh.payment.approved", d.Approved))
	if !d.Approved {
		span.SetAttributes(attribute.String("ordermesh.payment.decline_code", d.Code))
		span.SetStatus(codes.Error, "declined: "+d.Code)
	}
	return d, nil
}

// instrumentation names Payment's tracer. Payment's spans come from the
// provider of the span they continue, which is Payment's own.
const instrumentation = "github.com/ordermesh/ordermesh/services/payment"

// OnOrderConfirmed captures the authorisation.
func (s *Service) OnOrderConfirmed(ctx context.Context, tx Tx, env *eventsv1.Envelope) error {
	p, found, err := tx.Payment(ctx, env.GetOrderId())
	if err != nil {
		return err
	}
	if !found {
		return events.UnknownOrder(env) // its StockReserved is late: retried
	}
	if err := checkCustomer(p, env.GetOrderConfirmed().GetUserId()); err != nil {
		return err
	}
	if p.Status != StatusAuthorized {
		if p.Status != StatusCaptured {
			s.log.WarnContext(ctx, "confirmed order has no authorised payment", slog.String("order_id", env.GetOrderId()), slog.String("status", p.Status))
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
	if err := checkCustomer(p, env.GetOrderCancelled().GetUserId()); err != nil {
		return err
	}
	switch p.Status {
	case StatusAuthorized:
		return s.settle(ctx, tx, p, "void", StatusVoided)
	case StatusCaptured:
		if err := s.settle(ctx, tx, p, "refund", StatusRefunded); err != nil {
			return err
		}
		return tx.Emit(ctx, p.OrderID, &eventsv1.PaymentRefunded{PaymentId: p.ID, Amount: p.Amount.proto()})
	}
	return nil
}

// checkCustomer refuses a settlement of p for another customer: Payment
// captures, voids and refunds only its own authorisations, of the
// customer it authorised for.
func checkCustomer(p Payment, userID string) error {
	if userID != p.UserID {
		return events.Invalid("the event names another customer than the one payment %s was authorised for", p.ID)
	}
	return nil
}

func (s *Service) settle(ctx context.Context, tx Tx, p Payment, kind, status string) error {
	if err := tx.AddOperation(ctx, p.ID, s.gateway.Settle(kind)); err != nil {
		return err
	}
	if s.Compensated != nil && kind != "capture" {
		db.OnCommit(ctx, func() { s.Compensated(ctx, p, kind) })
	}
	return tx.SetStatus(ctx, p.ID, status)
}

func (m Money) proto() *commonv1.Money {
	return &commonv1.Money{AmountMinor: m.AmountMinor, Currency: m.Currency}
}
