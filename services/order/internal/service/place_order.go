package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/money"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/internal/platform/telemetry"
)

// Placement is a customer's request to place an order.
type Placement struct {
	UserID         string
	IdempotencyKey string
	// FromCart takes the lines from the user's cart; otherwise Lines.
	FromCart        bool
	Lines           []Want
	Address         Address
	Email           string
	PaymentMethodID string
	// ExpectedTotal is the total the customer agreed to.
	ExpectedTotal Money
	// Fingerprint identifies the request apart from its idempotency key:
	// the key with another fingerprint is refused with ErrKeyReused.
	Fingerprint []byte
}

// Want is a SKU and the quantity ordered of it.
type Want struct {
	SKU      string
	Quantity int32
}

// TotalChanged is the error of a placement whose expected total is not
// what the order comes to now; it wraps ErrTotalChanged.
type TotalChanged struct {
	Expected, Current Money
	err               error
}

func (e *TotalChanged) Error() string { return e.err.Error() }
func (e *TotalChanged) Unwrap() error { return e.err }

// PlaceOrder prices the request's lines through Catalog, quotes shipping,
// checks the total the customer agreed to, and stores the order as PENDING
// with its OrderPlaced event. The same idempotency key with the same
// request returns the first order; with another request, ErrKeyReused.
//
// A new key is the common case, so the key is not looked up first: the
// insert claims it, and only when placing fails (the key is taken, or
// pricing refuses a retry whose prices have changed since) is the first
// order looked for.
func (s *Service) PlaceOrder(ctx context.Context, p Placement) (Order, error) {
	o, err := s.placeNew(ctx, p)
	if err == nil {
		return o, nil
	}
	if ctx.Err() != nil {
		return Order{}, err
	}
	first, done, rerr := s.replay(ctx, p)
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
		return Order{}, fmt.Errorf("idempotency key %q is taken by an order that cannot be read", p.IdempotencyKey)
	default:
		return Order{}, err
	}
}

// errKeyTaken says the idempotency key belongs to an earlier order.
var errKeyTaken = errors.New("idempotency key taken")

// placeNew places the order under a key not used before.
func (s *Service) placeNew(ctx context.Context, p Placement) (Order, error) {
	// Nothing is priced or reserved for a payment method that is not the
	// customer's: a script cannot hold stock without a card.
	if owner, found, err := s.methods.Owner(ctx, p.PaymentMethodID); err != nil {
		return Order{}, err
	} else if !found || owner != p.UserID {
		return Order{}, rpcerr.Errorf(ErrNoSuchMethod, "payment_method_id: payment method %s does not exist; add a card first", p.PaymentMethodID)
	}
	o, err := s.price(ctx, p)
	if err != nil {
		return Order{}, err
	}
	if want := p.ExpectedTotal; want.AmountMinor != o.Total || want.Currency != o.Currency {
		return Order{}, &TotalChanged{
			Expected: want, Current: Money{AmountMinor: o.Total, Currency: o.Currency},
			err: rpcerr.Errorf(ErrTotalChanged, "expected_total: the order comes to %s, not %s; show the customer the new total and place the order again",
				money.Format(o.Total, o.Currency), money.Format(want.AmountMinor, want.Currency)),
		}
	}
	placed := &eventsv1.OrderPlaced{
		UserId: o.UserID, Total: o.totalMoney(), PaymentMethodId: o.PaymentMethodID, ExpireTime: timestamppb.New(o.ExpiresAt),
	}
	for _, l := range o.Lines {
		placed.Lines = append(placed.Lines, &eventsv1.Line{Sku: l.SKU, Quantity: l.Quantity})
	}
	o, inserted, err := s.store.Place(ctx, o, p.IdempotencyKey, p.Fingerprint, placed)
	if err != nil {
		return Order{}, err
	}
	if !inserted { // an earlier or concurrent call with the same key
		return Order{}, errKeyTaken
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("ordermesh.order_id", o.ID), attribute.String("ordermesh.order.status", string(o.Status)))
	return o, nil
}

// replay returns the order an earlier call with the same key placed.
func (s *Service) replay(ctx context.Context, p Placement) (Order, bool, error) {
	id, prev, found, err := s.store.KeyOwner(ctx, p.UserID, p.IdempotencyKey)
	if err != nil || !found {
		return Order{}, false, err
	}
	if !bytes.Equal(prev, p.Fingerprint) {
		return Order{}, true, rpcerr.Errorf(ErrKeyReused, "idempotency_key %q was used for a different order (%s); use a new key for a new order", p.IdempotencyKey, id)
	}
	o, err := s.store.Get(ctx, id)
	return o, true, err
}

// price builds the order in four phases: what is ordered (from the cart or
// the placement), the order's header, its lines named and priced by
// Catalog, and shipping from the carrier's rate table.
func (s *Service) price(ctx context.Context, p Placement) (Order, error) {
	wants, err := s.wanted(ctx, p)
	if err != nil {
		return Order{}, err
	}
	o, err := s.newOrder(ctx, p)
	if err != nil {
		return Order{}, err
	}
	weight, err := s.priceLines(ctx, &o, wants)
	if err != nil {
		return Order{}, err
	}
	q := s.carrier.Quote(o.Address.CountryCode, weight)
	o.Shipping, o.Carrier, o.ServiceLevel = q.Amount, q.Carrier, q.ServiceLevel
	o.Total = o.Subtotal + o.Shipping
	return o, nil
}

// wanted is what the customer orders: the cart's lines, every one still
// sold, or the placement's, each SKU once.
func (s *Service) wanted(ctx context.Context, p Placement) ([]Want, error) {
	if !p.FromCart {
		seen := map[string]bool{}
		for i, w := range p.Lines {
			if seen[w.SKU] {
				return nil, rpcerr.Errorf(ErrBadLines, "lines.lines[%d].sku: %q appears twice; give each SKU once with the total quantity", i, w.SKU)
			}
			seen[w.SKU] = true
		}
		return p.Lines, nil
	}
	lines, err := s.cart.Lines(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	wants := make([]Want, 0, len(lines))
	for _, l := range lines {
		if !l.Available {
			return nil, rpcerr.Errorf(ErrNotSellable, "the cart holds %q, which is no longer sold; remove it and try again", l.SKU)
		}
		wants = append(wants, Want{SKU: l.SKU, Quantity: l.Quantity})
	}
	if len(wants) == 0 {
		return nil, rpcerr.Errorf(ErrEmptyCart, "the cart of %q is empty; add items or order explicit lines", p.UserID)
	}
	return wants, nil
}

// newOrder is a PENDING order for the placement, without lines yet.
func (s *Service) newOrder(ctx context.Context, p Placement) (Order, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Order{}, err
	}
	now := s.now()
	return Order{
		ID: id.String(), UserID: p.UserID, Status: StatusPending, Address: p.Address,
		Email: p.Email, PaymentMethodID: p.PaymentMethodID, FromCart: p.FromCart,
		ExpiresAt: now.Add(s.cfg.Deadline), CreatedAt: now, TraceParent: telemetry.TraceParent(ctx),
	}, nil
}

// priceLines names and prices each wanted line from Catalog and adds it to
// the order. Every product must exist, be on sale and share one currency.
// It returns the parcel's weight.
func (s *Service) priceLines(ctx context.Context, o *Order, wants []Want) (weight int64, err error) {
	skus := make([]string, len(wants))
	for i, w := range wants {
		skus[i] = w.SKU
	}
	products, err := s.catalog.Products(ctx, skus)
	if err != nil {
		return 0, err
	}
	for _, w := range wants {
		p, ok := products[w.SKU]
		switch {
		case !ok:
			return 0, rpcerr.Errorf(ErrProductMissing, "product %q does not exist", w.SKU)
		case p.Archived:
			return 0, rpcerr.Errorf(ErrNotSellable, "product %q is archived and can no longer be bought", w.SKU)
		case o.Currency != "" && p.Price.Currency != o.Currency:
			return 0, rpcerr.Errorf(ErrNotSellable, "the order mixes currencies (%s and %s); order them separately", o.Currency, p.Price.Currency)
		}
		o.Currency = p.Price.Currency
		o.Lines = append(o.Lines, Line{SKU: w.SKU, Name: p.Name, Quantity: w.Quantity, UnitPrice: p.Price.AmountMinor})
		o.Subtotal += p.Price.AmountMinor * int64(w.Quantity)
		weight += int64(p.WeightGrams) * int64(w.Quantity)
	}
	return weight, nil
}

// QuoteShipping prices shipping for lines to an address, in the
// products' currency, by the rules placement prices an order with
// (priceLines): what it quotes is what PlaceOrder will charge.
func (s *Service) QuoteShipping(ctx context.Context, country string, wants []Want) (Quote, string, error) {
	var o Order
	weight, err := s.priceLines(ctx, &o, wants)
	if err != nil {
		return Quote{}, "", err
	}
	return s.carrier.Quote(country, weight), o.Currency, nil
}
