package payment_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/app/mesh"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/events/eventstest"
	"github.com/ordermesh/ordermesh/services/payment"
	"github.com/ordermesh/ordermesh/services/payment/internal/service"
	"github.com/ordermesh/ordermesh/services/payment/internal/store"
)

type handler = func(context.Context, service.Tx, *eventsv1.Envelope) error

// The events Payment consumes, each applied as the sink applies it:
// through the service's handler in a transaction of the real store.
var paymentEvents = map[string]func(*service.Service) handler{
	"StockReserved":  func(s *service.Service) handler { return s.OnStockReserved },
	"OrderConfirmed": func(s *service.Service) handler { return s.OnOrderConfirmed },
	"OrderCancelled": func(s *service.Service) handler { return s.OnOrderCancelled },
}

// TestPaymentStateMachine applies every event Payment consumes to an
// order's payment in every status, on the real store, and checks the
// status it ends in, the gateway operations recorded and the events
// emitted.
func TestPaymentStateMachine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t, mesh.Migrations(payment.Component)...)
	st := store.New(d.Pool, events.NewOutbox("payment", mesh.Routing))
	svc := service.New(st, service.NewGateway(st.CountAttempt), slog.New(slog.NewTextHandler(io.Discard, nil)))
	cards := map[string]service.Method{}
	for name, number := range map[string]string{"approve": "4242424242424242", "decline": "4000000000000002", "insufficient": "4000000000009995"} {
		m, err := svc.CreatePaymentMethod(ctx, "ada", number, 12, int32(time.Now().Year()+2), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cards[name] = m
	}
	other, err := svc.CreatePaymentMethod(ctx, "bob", "4242424242424242", 12, int32(time.Now().Year()+2), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cards["bob's"] = other
	// Events go through the sink, set-based, as the mesh applies them.
	sink := events.NewSink("payment", mesh.Routing, d.Pool, nil, slog.New(slog.DiscardHandler), nil).WithConsumer(payment.Consumer(st, svc))

	type want struct {
		status     string // payment status afterwards; "none" when there is no payment
		cancelled  bool   // the order is remembered as cancelled
		operations string // gateway operations recorded by the event
		emitted    string // events emitted
	}
	// from is the payment's status before, "none" for no payment, or
	// "cancelled" for an order remembered as cancelled.
	cases := []struct {
		from, event, card string
		want              want
	}{
		// StockReserved authorises the total once, on the customer's card.
		{from: "none", event: "StockReserved", card: "approve", want: want{status: "authorized", operations: "authorize:ok", emitted: "PAYMENT_AUTHORIZED"}},
		{from: "none", event: "StockReserved", card: "decline", want: want{status: "declined", operations: "authorize:failed", emitted: "PAYMENT_DECLINED(card_declined)"}},
		{from: "none", event: "StockReserved", card: "insufficient", want: want{status: "declined", operations: "authorize:failed", emitted: "PAYMENT_DECLINED(insufficient_funds)"}},
		{from: "none", event: "StockReserved", card: "bob's", want: want{status: "declined", operations: "authorize:failed", emitted: "PAYMENT_DECLINED(payment_method_not_found)"}},
		{from: "cancelled", event: "StockReserved", card: "approve", want: want{status: "none", cancelled: true}},
		{from: "authorized", event: "StockReserved", card: "approve", want: want{status: "authorized"}},
		{from: "declined", event: "StockReserved", card: "approve", want: want{status: "declined"}},
		{from: "captured", event: "StockReserved", card: "approve", want: want{status: "captured"}},
		{from: "voided", event: "StockReserved", card: "approve", want: want{status: "voided"}},
		{from: "refunded", event: "StockReserved", card: "approve", want: want{status: "refunded"}},

		// OrderConfirmed captures an authorisation, once.
		{from: "authorized", event: "OrderConfirmed", want: want{status: "captured", operations: "capture:ok"}},
		{from: "captured", event: "OrderConfirmed", want: want{status: "captured"}},
		{from: "declined", event: "OrderConfirmed", want: want{status: "declined"}},
		{from: "voided", event: "OrderConfirmed", want: want{status: "voided"}},
		{from: "refunded", event: "OrderConfirmed", want: want{status: "refunded"}},

		// OrderCancelled voids an authorisation, refunds a capture, and
		// remembers an order not seen yet.
		{from: "none", event: "OrderCancelled", want: want{status: "none", cancelled: true}},
		{from: "cancelled", event: "OrderCancelled", want: want{status: "none", cancelled: true}},
		{from: "authorized", event: "OrderCancelled", want: want{status: "voided", operations: "void:ok"}},
		{from: "captured", event: "OrderCancelled", want: want{status: "refunded", operations: "refund:ok", emitted: "PAYMENT_REFUNDED"}},
		{from: "declined", event: "OrderCancelled", want: want{status: "declined"}},
		{from: "voided", event: "OrderCancelled", want: want{status: "voided"}},
		{from: "refunded", event: "OrderCancelled", want: want{status: "refunded"}},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.event] = true
		name := c.event + "_on_" + c.from
		if c.card != "" {
			name += "_with_" + c.card
		}
		t.Run(name, func(t *testing.T) {
			method := cards[c.card]
			if c.card == "" {
				method = cards["approve"]
			}
			orderID := uuid.NewString()
			seedPayment(ctx, t, d.Pool, st, orderID, method, c.from)
			ops := operations(ctx, t, st, orderID)
			env, err := events.NewEnvelope(ctx, producerOf(c.event), orderID, payloadOf(c.event, method))
			if err != nil {
				t.Fatal(err)
			}
			if failed := eventstest.Deliver(ctx, t, sink, env); len(failed) > 0 {
				t.Fatalf("%s: %v", c.event, failed)
			}
			got := want{status: "none", emitted: emitted(ctx, t, d.Pool, orderID)}
			if p, err := st.Get(ctx, orderID); err == nil {
				got.status = p.Status
				for _, op := range p.Operations[len(ops):] {
					got.operations = strings.TrimPrefix(got.operations+","+op.Kind+map[bool]string{true: ":ok", false: ":failed"}[op.Succeeded], ",")
				}
			} else if !errors.Is(err, service.ErrNotFound) {
				t.Fatal(err)
			}
			got.cancelled = cancelledMark(ctx, t, d.Pool, st, orderID)
			if diff := cmp.Diff(c.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("%s on a %s payment (-want +got):\n%s", c.event, c.from, diff)
			}
		})
	}
	for event := range paymentEvents {
		if !covered[event] {
			t.Errorf("no case applies %s", event)
		}
	}

	// An OrderConfirmed before the payment exists is retried: its
	// StockReserved is late.
	env, err := events.NewEnvelope(ctx, "order", uuid.NewString(), payloadOf("OrderConfirmed", cards["approve"]))
	if err != nil {
		t.Fatal(err)
	}
	if err := apply(ctx, d.Pool, st, svc.OnOrderConfirmed, env); !errors.Is(err, events.ErrUnknownOrder) {
		t.Errorf("OrderConfirmed without a payment = %v, want ErrUnknownOrder", err)
	}
	if failed := eventstest.Deliver(ctx, t, sink, env); len(failed) != 1 || failed[0].GetPermanent() || !strings.Contains(failed[0].GetMessage(), "is not known here") {
		t.Errorf("OrderConfirmed without a payment: delivery failures %v, want one to retry saying the order is not known", failed)
	}
}

// producerOf is the service that publishes event.
func producerOf(event string) string {
	if event == "StockReserved" {
		return "inventory"
	}
	return "order"
}

func payloadOf(event string, m service.Method) proto.Message {
	switch event {
	case "StockReserved":
		return &eventsv1.StockReserved{
			UserId: "ada", Total: &commonv1.Money{AmountMinor: 2900, Currency: "EUR"}, PaymentMethodId: m.ID,
			Lines: []*eventsv1.Line{{Sku: "BEAN-1", Quantity: 2}},
		}
	case "OrderConfirmed":
		return &eventsv1.OrderConfirmed{UserId: "ada", Lines: []*eventsv1.Line{{Sku: "BEAN-1", Quantity: 2}}}
	case "OrderCancelled":
		return &eventsv1.OrderCancelled{UserId: "ada", Reason: "CUSTOMER"}
	}
	panic("no payload for " + event)
}

func apply(ctx context.Context, pool *pgxpool.Pool, st *store.Store, h handler, env *eventsv1.Envelope) error {
	return db.InTx(ctx, pool, func(ctx context.Context, tx pgx.Tx) error { return h(ctx, st.Bind(tx), env) })
}

// seedPayment gives the order a payment in status from, as the saga would
// have left it, or remembers the order as cancelled.
func seedPayment(ctx context.Context, t *testing.T, pool *pgxpool.Pool, st *store.Store, orderID string, m service.Method, from string) {
	t.Helper()
	if from == "none" {
		return
	}
	err := db.InTx(ctx, pool, func(ctx context.Context, pgtx pgx.Tx) error {
		tx := st.Bind(pgtx)
		if from == "cancelled" {
			return tx.MarkCancelled(ctx, orderID)
		}
		p := service.Payment{
			ID: uuid.Must(uuid.NewV7()).String(), OrderID: orderID, UserID: "ada", MethodID: m.ID,
			Amount: service.Money{AmountMinor: 2900, Currency: "EUR"}, Status: from,
		}
		if err := tx.CreatePayment(ctx, p); err != nil {
			return err
		}
		return tx.AddOperation(ctx, p.ID, service.Operation{Kind: "authorize", Succeeded: from != service.StatusDeclined, Reference: "seeded"})
	})
	if err != nil {
		t.Fatalf("seed a %s payment: %v", from, err)
	}
}

func operations(ctx context.Context, t *testing.T, st *store.Store, orderID string) []service.Operation {
	t.Helper()
	p, err := st.Get(ctx, orderID)
	if errors.Is(err, service.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return p.Operations
}

func cancelledMark(ctx context.Context, t *testing.T, pool *pgxpool.Pool, st *store.Store, orderID string) bool {
	t.Helper()
	var cancelled bool
	err := db.InTx(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		cancelled, err = st.Bind(tx).Cancelled(ctx, orderID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return cancelled
}

// emitted names the events in the order's outbox, as TYPE, with the
// decline code of a PaymentDeclined, joined by commas.
func emitted(ctx context.Context, t *testing.T, pool *pgxpool.Pool, orderID string) string {
	t.Helper()
	var out []string
	for _, env := range eventstest.Outbox(ctx, t, pool, orderID) {
		name := strings.TrimPrefix(env.GetType().String(), "EVENT_TYPE_")
		if d := env.GetPaymentDeclined(); d != nil {
			name = fmt.Sprintf("%s(%s)", name, d.GetDeclineCode())
		}
		out = append(out, name)
	}
	return strings.Join(out, ",")
}
