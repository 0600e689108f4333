package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/money"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/internal/platform/telemetry"
)

// PlaceOrder prices the request's lines through Catalog, quotes shipping,
// checks the total the customer agreed to, and stores the order as PENDING
// with its OrderPlaced event. The same idempotency key with the same
// request returns the first order; with another request, ErrKeyReused.
//
// A new key is the common case, so the key is not looked up first: the
// insert claims it, and only when placing fails (the key is taken, or
// pricing refuses a retry whose prices have changed since) is the first
// order looked for.
func (s *Service) PlaceOrder(ctx context.Context, req *orderv1.PlaceOrderRequest) (Order, error) {
	hash := requestHash(req)
	o, err := s.placeNew(ctx, req, hash)
	if err == nil {
		return o, nil
	}
	if ctx.Err() != nil {
		return Order{}, err
	}
	first, done, rerr := s.replay(ctx, req, hash)
	switch {
	case done:
		return first, rerr
	case rerr != nil:
		// Whether an earlier order holds the key cannot be told now (the
		// database is failing over, say): say that, so the caller retries.
		return Order{}, rerr
	case errors.Is(err, errKeyTaken):
		// The key's order went away between the insert and the lookup,
		// which never happens: orders are not deleted.
		return Order{}, fmt.Errorf("idempotency key %q is taken by an order that cannot be read", req.GetIdempotencyKey())
	default:
		return Order{}, err
	}
}

// errKeyTaken says the idempotency key belongs to an earlier order.
var errKeyTaken = errors.New("idempotency key taken")

// placeNew places the order under a key not used before.
func (s *Service) placeNew(ctx context.Context, req *orderv1.PlaceOrderRequest, hash []byte) (Order, error) {
	// Nothing is priced or reserved for a payment method that is not the
	// customer's: a script cannot hold stock without a card.
	if owner, found, err := s.methods.Owner(ctx, req.GetPaymentMethodId()); err != nil {
		return Order{}, err
	} else if !found || owner != req.GetUserId() {
		return Order{}, rpcerr.Errorf(ErrNoSuchMethod, "payment_method_id: payment method %s does not exist; add a card first", req.GetPaymentMethodId())
	}
	o, err := s.price(ctx, req)
	if err != nil {
		return Order{}, err
	}
	if want := req.GetExpectedTotal(); want.GetAmountMinor() != o.Total || want.GetCurrency() != o.Currency {
		return Order{}, rpcerr.WithDetails(
			rpcerr.Errorf(ErrTotalChanged, "expected_total: the order comes to %s, not %s; show the customer the new total and place the order again",
				money.Format(o.Total, o.Currency), money.Format(want.GetAmountMinor(), want.GetCurrency())),
			&orderv1.TotalChanged{ExpectedTotal: want, CurrentTotal: o.totalMoney()})
	}
	inserted := false
	err = s.store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		if o, inserted, err = tx.Insert(ctx, o, req.GetIdempotencyKey(), hash); err != nil || !inserted {
			return err
		}
		placed := &eventsv1.OrderPlaced{
			UserId: o.UserID, Total: o.totalMoney(), PaymentMethodId: o.PaymentMethodID, ExpireTime: timestamppb.New(o.ExpiresAt),
		}
		for _, l := range o.Lines {
			placed.Lines = append(placed.Lines, &eventsv1.Line{Sku: l.SKU, Quantity: l.Quantity})
		}
		return tx.Emit(ctx, o.ID, placed)
	})
	if err != nil {
		return Order{}, err
	}
	if !inserted { // an earlier or concurrent call with the same key
		return Order{}, errKeyTaken
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("ordermesh.order_id", o.ID), attribute.String("ordermesh.order.status", o.Status))
	return o, nil
}

// replay returns the order an earlier call with the same key placed.
func (s *Service) replay(ctx context.Context, req *orderv1.PlaceOrderRequest, hash []byte) (Order, bool, error) {
	id, prev, found, err := s.store.KeyOwner(ctx, req.GetUserId(), req.GetIdempotencyKey())
	if err != nil || !found {
		return Order{}, false, err
	}
	if !bytes.Equal(prev, hash) {
		return Order{}, true, rpcerr.Errorf(ErrKeyReused, "idempotency_key %q was used for a different order (%s); use a new key for a new order", req.GetIdempotencyKey(), id)
	}
	o, err := s.store.Get(ctx, id)
	return o, true, err
}

// requestHash fingerprints everything in the request but the key itself.
func requestHash(req *orderv1.PlaceOrderRequest) []byte {
	c := proto.Clone(req).(*orderv1.PlaceOrderRequest) //nolint:forcetypeassert // Clone keeps the type
	c.IdempotencyKey = ""
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	sum := sha256.Sum256(b)
	return sum[:]
}

// price builds the order: lines from the cart or the request, names and
// prices from Catalog, shipping from the carrier's rate table.
func (s *Service) price(ctx context.Context, req *orderv1.PlaceOrderRequest) (Order, error) {
	type want struct {
		sku string
		qty int32
	}
	var wants []want
	fromCart := req.GetFromCart() != nil
	if fromCart {
		lines, err := s.cart.Lines(ctx, req.GetUserId())
		if err != nil {
			return Order{}, err
		}
		for _, l := range lines {
			if !l.Available {
				return Order{}, rpcerr.Errorf(ErrNotSellable, "the cart holds %q, which is no longer sold; remove it and try again", l.SKU)
			}
			wants = append(wants, want{l.SKU, l.Quantity})
		}
		if len(wants) == 0 {
			return Order{}, rpcerr.Errorf(ErrEmptyCart, "the cart of %q is empty; add items or order explicit lines", req.GetUserId())
		}
	} else {
		seen := map[string]bool{}
		for i, l := range req.GetLines().GetLines() {
			if seen[l.GetSku()] {
				return Order{}, rpcerr.Errorf(ErrBadLines, "lines.lines[%d].sku: %q appears twice; give each SKU once with the total quantity", i, l.GetSku())
			}
			seen[l.GetSku()] = true
			wants = append(wants, want{l.GetSku(), l.GetQuantity()})
		}
	}
	skus := make([]string, len(wants))
	for i, w := range wants {
		skus[i] = w.sku
	}
	products, err := s.catalog.Products(ctx, skus)
	if err != nil {
		return Order{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Order{}, err
	}
	now := s.now()
	o := Order{
		ID: id.String(), UserID: req.GetUserId(), Status: StatusPending, Address: req.GetShippingAddress(),
		Email: req.GetEmail(), PaymentMethodID: req.GetPaymentMethodId(), FromCart: fromCart,
		ExpiresAt: now.Add(s.cfg.Deadline), CreatedAt: now, TraceParent: telemetry.TraceParent(ctx),
	}
	var weight int64
	for _, w := range wants {
		p, ok := products[w.sku]
		switch {
		case !ok:
			return Order{}, rpcerr.Errorf(ErrProductMissing, "product %q does not exist", w.sku)
		case p.Archived:
			return Order{}, rpcerr.Errorf(ErrNotSellable, "product %q is archived and can no longer be bought", w.sku)
		case o.Currency != "" && p.Price.Currency != o.Currency:
			return Order{}, rpcerr.Errorf(ErrNotSellable, "the order mixes currencies (%s and %s); order them separately", o.Currency, p.Price.Currency)
		}
		o.Currency = p.Price.Currency
		o.Lines = append(o.Lines, Line{SKU: w.sku, Name: p.Name, Quantity: w.qty, UnitPrice: p.Price.AmountMinor})
		o.Subtotal += p.Price.AmountMinor * int64(w.qty)
		weight += int64(p.WeightGrams) * int64(w.qty)
	}
	q := s.carrier.Quote(o.Address.GetCountryCode(), weight)
	o.Shipping, o.Carrier, o.ServiceLevel = q.Amount, q.Carrier, q.ServiceLevel
	o.Total = o.Subtotal + o.Shipping
	return o, nil
}

// QuoteShipping prices shipping for lines to an address, in the
// products' currency.
func (s *Service) QuoteShipping(ctx context.Context, country string, lines map[string]int32) (Quote, string, error) {
	skus := make([]string, 0, len(lines))
	for sku := range lines {
		skus = append(skus, sku)
	}
	products, err := s.catalog.Products(ctx, skus)
	if err != nil {
		return Quote{}, "", err
	}
	var weight int64
	currency := ""
	for sku, qty := range lines {
		p, ok := products[sku]
		if !ok {
			return Quote{}, "", rpcerr.Errorf(ErrProductMissing, "product %q does not exist", sku)
		}
		weight += int64(p.WeightGrams) * int64(qty)
		currency = p.Price.Currency
	}
	return s.carrier.Quote(country, weight), currency, nil
}
