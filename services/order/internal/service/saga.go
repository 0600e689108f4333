package service

import (
	"context"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/money"
)

func (o Order) totalMoney() *commonv1.Money {
	return &commonv1.Money{AmountMinor: o.Total, Currency: o.Currency}
}

// OnStockReserved moves a PENDING order to RESERVED. For an order that
// already failed, it repeats OrderCancelled so that Inventory releases
// what it just reserved.
func (s *Service) OnStockReserved(ctx context.Context, tx Tx, env *eventsv1.Envelope) error {
	o, found, err := tx.Lock(ctx, env.GetOrderId(), true)
	if err != nil {
		return err
	}
	if !found {
		return events.UnknownOrder(env)
	}
	ev := env.GetStockReserved()
	if err := checkCustomer(o, ev.GetUserId()); err != nil {
		return err
	}
	if !sameLines(o.Lines, ev.GetLines()) {
		return events.Invalid("the reservation holds other lines than order %s has", o.ID)
	}
	switch o.Status {
	case StatusPending:
		return tx.Transition(ctx, o.ID, StatusReserved, "", "")
	case StatusCancelled, StatusRejected:
		return s.emitCancelled(ctx, tx, o)
	case StatusReserved, StatusConfirmed, StatusShipped:
		// a duplicate, or late behind the payment: nothing to do
	}
	return nil
}

// OnStockRejected rejects a PENDING order as out of stock, naming the
// short lines.
func (s *Service) OnStockRejected(ctx context.Context, tx Tx, env *eventsv1.Envelope) error {
	o, found, err := tx.Lock(ctx, env.GetOrderId(), true)
	if err != nil {
		return err
	}
	if !found {
		return events.UnknownOrder(env)
	}
	for _, l := range env.GetStockRejected().GetShortLines() {
		if !slices.ContainsFunc(o.Lines, func(ol Line) bool { return ol.SKU == l.GetSku() }) {
			return events.Invalid("the rejection names %s, which order %s does not hold", l.GetSku(), o.ID)
		}
	}
	if o.Status != StatusPending {
		return nil
	}
	var short []ShortLine
	var names []string
	for _, l := range env.GetStockRejected().GetShortLines() {
		short = append(short, ShortLine{SKU: l.GetSku(), Requested: l.GetRequested(), Available: l.GetAvailable()})
		names = append(names, l.GetSku())
	}
	if err := tx.SetShortLines(ctx, o.ID, short); err != nil {
		return err
	}
	if err := tx.Transition(ctx, o.ID, StatusRejected, ReasonOutOfStock, "not enough stock for "+strings.Join(names, ", ")); err != nil {
		return err
	}
	s.finished(ctx, o, StatusRejected, ReasonOutOfStock, "not enough stock for "+strings.Join(names, ", "))
	return nil
}

// OnPaymentAuthorized books the shipment and confirms the order, or
// cancels it when the carrier refuses. An authorisation that arrives for
// an order that already failed or expired is answered with OrderCancelled,
// so that Payment voids it.
func (s *Service) OnPaymentAuthorized(ctx context.Context, tx Tx, env *eventsv1.Envelope) error {
	o, found, err := tx.Lock(ctx, env.GetOrderId(), true)
	if err != nil {
		return err
	}
	if !found {
		return events.UnknownOrder(env)
	}
	// Payment authorises the total Order put in OrderPlaced: any other
	// amount is not this order's authorisation.
	if a := env.GetPaymentAuthorized().GetAmount(); a.GetAmountMinor() != o.Total || a.GetCurrency() != o.Currency {
		return events.Invalid("the authorisation is for %s, but order %s totals %s",
			money.Format(a.GetAmountMinor(), a.GetCurrency()), o.ID, money.Format(o.Total, o.Currency))
	}
	switch o.Status {
	case StatusCancelled, StatusRejected:
		return s.emitCancelled(ctx, tx, o)
	case StatusPending, StatusReserved:
	default:
		return nil // confirmed already: a duplicate
	}
	if o.Status == StatusPending {
		// Payment authorises only after a reservation, so StockReserved is
		// merely late: record the step it would have recorded.
		if err := tx.Transition(ctx, o.ID, StatusReserved, "", "stock reserved (seen through the payment)"); err != nil {
			return err
		}
	}
	booking, err := s.book(ctx, o)
	if err != nil {
		return s.cancel(ctx, tx, o, ReasonShippingFailed, err.Error())
	}
	if err := tx.SetBooking(ctx, o.ID, booking); err != nil {
		return err
	}
	detail := "booked with " + o.Carrier + " as " + booking
	if err := tx.Transition(ctx, o.ID, StatusConfirmed, "", detail); err != nil {
		return err
	}
	s.finished(ctx, o, StatusConfirmed, "", detail)
	confirmed := &eventsv1.OrderConfirmed{UserId: o.UserID, FromCart: o.FromCart}
	for _, l := range o.Lines {
		confirmed.Lines = append(confirmed.Lines, &eventsv1.Line{Sku: l.SKU, Quantity: l.Quantity})
	}
	return tx.Emit(ctx, o.ID, confirmed)
}

// book books the order's shipment with the carrier in a span of its own,
// so that a refusal shows in the order's trace as an error.
func (s *Service) book(ctx context.Context, o Order) (string, error) {
	country := o.Address.CountryCode
	_, span := trace.SpanFromContext(ctx).TracerProvider().Tracer(Instrumentation).Start(ctx, "carrier.book",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("ordermesh.order_id", o.ID), attribute.String("ordermesh.carrier", o.Carrier),
			attribute.String("ordermesh.shipping.country", country)))
	defer span.End()
	booking, err := s.carrier.Book(country)
	if err != nil {
		span.SetStatus(codes.Error, "carrier refused: "+err.Error())
		return "", err
	}
	span.SetAttributes(attribute.String("ordermesh.shipping.booking", booking))
	return booking, nil
}

// Instrumentation names Order's tracer. Spans made in an event's or a
// request's span come from that span's provider, which is Order's own.
const Instrumentation = "github.com/ordermesh/ordermesh/services/order"

// checkCustomer refuses an event about order o that names another
// customer.
func checkCustomer(o Order, userID string) error {
	if userID != o.UserID {
		return events.Invalid("the event names another customer than order %s's", o.ID)
	}
	return nil
}

// sameLines reports whether an event's lines are the order's: the same
// units of the same SKUs.
func sameLines(have []Line, got []*eventsv1.Line) bool {
	units := map[string]int64{}
	for _, l := range have {
		units[l.SKU] += int64(l.Quantity)
	}
	for _, l := range got {
		units[l.GetSku()] -= int64(l.GetQuantity())
	}
	for _, n := range units {
		if n != 0 {
			return false
		}
	}
	return true
}

// OnPaymentDeclined cancels an open order; Inventory then releases its
// stock.
func (s *Service) OnPaymentDeclined(ctx context.Context, tx Tx, env *eventsv1.Envelope) error {
	o, found, err := tx.Lock(ctx, env.GetOrderId(), false)
	if err != nil || (found && SagaDone(o.Status)) {
		return err
	}
	if !found {
		return events.UnknownOrder(env)
	}
	ev := env.GetPaymentDeclined()
	return s.cancel(ctx, tx, o, ReasonPaymentDeclined, ev.GetDeclineCode()+": "+ev.GetMessage())
}

// cancel moves an order to CANCELLED and tells Inventory and Payment to
// undo their side.
func (s *Service) cancel(ctx context.Context, tx Tx, o Order, reason Reason, detail string) error {
	if err := tx.Transition(ctx, o.ID, StatusCancelled, reason, detail); err != nil {
		return err
	}
	s.finished(ctx, o, StatusCancelled, reason, detail)
	o.Reason = reason
	return s.emitCancelled(ctx, tx, o)
}

func (s *Service) emitCancelled(ctx context.Context, tx Tx, o Order) error {
	reason := strings.ToUpper(string(o.Reason))
	if reason == "" {
		reason = strings.ToUpper(string(ReasonOutOfStock))
	}
	return tx.Emit(ctx, o.ID, &eventsv1.OrderCancelled{UserId: o.UserID, Reason: reason})
}

// finished reports a terminal transition: on the span now, so that traces
// can be searched by outcome ({span.ordermesh.order.status="rejected"}),
// and to Finished once the transaction commits, so that a transaction that
// rolls back and runs again reports it once.
func (s *Service) finished(ctx context.Context, o Order, status Status, reason Reason, detail string) {
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("ordermesh.order_id", o.ID),
		attribute.String("ordermesh.order.status", string(status)), attribute.String("ordermesh.order.reason", string(reason)))
	if s.Finished != nil {
		f := Finish{OrderID: o.ID, Status: status, Reason: reason, Detail: detail, Took: s.now().Sub(o.CreatedAt)}
		db.OnCommit(ctx, func() { s.Finished(ctx, f) })
	}
}
