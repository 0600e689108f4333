package order_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/app/mesh"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/events/eventstest"
	"github.com/ordermesh/ordermesh/services/order"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
	"github.com/ordermesh/ordermesh/services/order/internal/store"
)

type handler = func(context.Context, service.Tx, *eventsv1.Envelope) error

// The events Order consumes, each applied as the sink applies it: through
// the service's handler in a transaction of the real store.
var orderEvents = map[string]func(*service.Service) handler{
	"StockReserved":     func(s *service.Service) handler { return s.OnStockReserved },
	"StockRejected":     func(s *service.Service) handler { return s.OnStockRejected },
	"PaymentAuthorized": func(s *service.Service) handler { return s.OnPaymentAuthorized },
	"PaymentDeclined":   func(s *service.Service) handler { return s.OnPaymentDeclined },
}

func payloadOf(event string) proto.Message {
	switch event {
	case "StockReserved":
		return &eventsv1.StockReserved{UserId: "ada", Total: &commonv1.Money{AmountMinor: 2900, Currency: "EUR"}, PaymentMethodId: uuid.NewString(),
			Lines: []*eventsv1.Line{{Sku: "BEAN-1", Quantity: 2}}}
	case "StockRejected":
		return &eventsv1.StockRejected{ShortLines: []*eventsv1.ShortLine{{Sku: "BEAN-1", Requested: 2, Available: 1}}}
	case "PaymentAuthorized":
		return &eventsv1.PaymentAuthorized{PaymentId: uuid.NewString(), Amount: &commonv1.Money{AmountMinor: 2900, Currency: "EUR"}}
	case "PaymentDeclined":
		return &eventsv1.PaymentDeclined{PaymentId: uuid.NewString(), DeclineCode: "card_declined", Message: "The card was declined."}
	}
	panic("no payload for " + event)
}

// producerOf is the service that publishes event.
func producerOf(event string) string {
	if strings.HasPrefix(event, "Stock") {
		return "inventory"
	}
	return "payment"
}

// TestOrderStateMachine applies every event Order consumes to an order in
// every status, on the real store, and checks the status it ends in, the
// history's new entries and the events it emits.
func TestOrderStateMachine(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, mesh.Migrations(order.Component)...)
	st := store.New(d.Pool, events.NewOutbox("order", mesh.Routing))
	svc := service.New(st, nil, nil, nil, service.Config{Deadline: time.Hour, ShipFrom: "DE"})
	// Events go through the sink, set-based, as the mesh applies them.
	sink := events.NewSink("order", mesh.Routing, d.Pool, nil, slog.New(slog.DiscardHandler), nil).WithConsumer(order.Consumer(st, svc))

	const (
		confirmed   = "ORDER_CONFIRMED"
		outOfStock  = "cancelled(OUT_OF_STOCK)"
		declined    = "cancelled(PAYMENT_DECLINED)"
		shipFailed  = "cancelled(SHIPPING_FAILED)"
		expiredOnce = "cancelled(EXPIRED)"
	)
	type want struct {
		status  string   // status afterwards, with its reason
		history []string // history entries added
		emitted string   // event emitted: type(reason) for OrderCancelled
	}
	same := func(status string) want { return want{status: status} }
	cases := []struct {
		from    string // status before, with its reason
		country string // destination; AQ is one the carrier refuses
		event   string
		want    want
	}{
		// StockReserved: a pending order is reserved; a failed one asks
		// Inventory again to release what it just reserved.
		{from: "pending", event: "StockReserved", want: want{status: "reserved", history: []string{"reserved"}}},
		{from: "reserved", event: "StockReserved", want: same("reserved")},
		{from: "confirmed", event: "StockReserved", want: same("confirmed")},
		{from: "shipped", event: "StockReserved", want: same("shipped")},
		{from: "rejected/out_of_stock", event: "StockReserved", want: want{status: "rejected/out_of_stock", emitted: outOfStock}},
		{from: "cancelled/payment_declined", event: "StockReserved", want: want{status: "cancelled/payment_declined", emitted: declined}},
		{from: "cancelled/expired", event: "StockReserved", want: want{status: "cancelled/expired", emitted: expiredOnce}},

		// StockRejected: only a pending order is rejected; Inventory holds
		// nothing, so nothing is emitted.
		{from: "pending", event: "StockRejected", want: want{status: "rejected/out_of_stock", history: []string{"rejected/out_of_stock"}}},
		{from: "reserved", event: "StockRejected", want: same("reserved")},
		{from: "confirmed", event: "StockRejected", want: same("confirmed")},
		{from: "shipped", event: "StockRejected", want: same("shipped")},
		{from: "rejected/out_of_stock", event: "StockRejected", want: same("rejected/out_of_stock")},
		{from: "cancelled/customer", event: "StockRejected", want: same("cancelled/customer")},

		// PaymentAuthorized books and confirms; a late StockReserved is
		// recorded on the way; a refusing carrier cancels; a failed
		// order has the authorisation voided.
		{from: "pending", event: "PaymentAuthorized", want: want{status: "confirmed", history: []string{"reserved", "confirmed"}, emitted: confirmed}},
		{from: "reserved", event: "PaymentAuthorized", want: want{status: "confirmed", history: []string{"confirmed"}, emitted: confirmed}},
		{from: "reserved", country: "AQ", event: "PaymentAuthorized", want: want{status: "cancelled/shipping_failed", history: []string{"cancelled/shipping_failed"}, emitted: shipFailed}},
		{from: "confirmed", event: "PaymentAuthorized", want: same("confirmed")},
		{from: "shipped", event: "PaymentAuthorized", want: same("shipped")},
		{from: "rejected/out_of_stock", event: "PaymentAuthorized", want: want{status: "rejected/out_of_stock", emitted: outOfStock}},
		{from: "cancelled/expired", event: "PaymentAuthorized", want: want{status: "cancelled/expired", emitted: expiredOnce}},

		// PaymentDeclined cancels an open order and has its stock
		// released; it changes nothing once the saga is over.
		{from: "pending", event: "PaymentDeclined", want: want{status: "cancelled/payment_declined", history: []string{"cancelled/payment_declined"}, emitted: declined}},
		{from: "reserved", event: "PaymentDeclined", want: want{status: "cancelled/payment_declined", history: []string{"cancelled/payment_declined"}, emitted: declined}},
		{from: "confirmed", event: "PaymentDeclined", want: same("confirmed")},
		{from: "shipped", event: "PaymentDeclined", want: same("shipped")},
		{from: "rejected/out_of_stock", event: "PaymentDeclined", want: same("rejected/out_of_stock")},
		{from: "cancelled/customer", event: "PaymentDeclined", want: same("cancelled/customer")},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.event] = true
		name := fmt.Sprintf("%s_on_%s", c.event, strings.ReplaceAll(c.from, "/", ":"))
		if c.country != "" {
			name += "/to_" + c.country
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			id := seedOrder(t, st, c.from, c.country)
			before := historyLen(t, st, id)
			env, err := events.NewEnvelope(ctx, producerOf(c.event), id, payloadOf(c.event))
			if err != nil {
				t.Fatal(err)
			}
			if failed := eventstest.Deliver(ctx, t, sink, env); len(failed) > 0 {
				t.Fatalf("%s: %v", c.event, failed)
			}
			o, err := st.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			got := want{status: statusOf(o.Status, o.Reason), emitted: emitted(t, d.Pool, id)}
			for _, h := range o.History[before:] {
				got.history = append(got.history, statusOf(h.Status, h.Reason))
			}
			if diff := cmp.Diff(c.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("%s on a %s order (-want +got):\n%s", c.event, c.from, diff)
			}
		})
	}
	for event := range orderEvents {
		if !covered[event] {
			t.Errorf("no case applies %s", event)
		}
	}

	// An event about an order Order has not stored is retried, not
	// dropped: its OrderPlaced transaction may not be visible yet. The
	// direct call says why; the sink refuses it, not for good.
	ctx := context.Background()
	for event, handler := range orderEvents {
		env, err := events.NewEnvelope(ctx, producerOf(event), uuid.NewString(), payloadOf(event))
		if err != nil {
			t.Fatal(err)
		}
		err = st.InTx(ctx, func(ctx context.Context, tx service.Tx) error { return handler(svc)(ctx, tx, env) })
		if !errors.Is(err, events.ErrUnknownOrder) {
			t.Errorf("%s for an unknown order = %v, want ErrUnknownOrder", event, err)
		}
		failed := eventstest.Deliver(ctx, t, sink, env)
		if len(failed) != 1 || failed[0].GetPermanent() || !strings.Contains(failed[0].GetMessage(), "is not known here") {
			t.Errorf("%s for an unknown order: delivery failures %v, want one to retry saying the order is not known", event, failed)
		}
	}
}

func statusOf(status service.Status, reason service.Reason) string {
	if reason == "" {
		return string(status)
	}
	return string(status) + "/" + string(reason)
}

// seedOrder stores an order of 2 × BEAN-1 and moves it to from
// ("status" or "status/reason") as the saga would have.
func seedOrder(t *testing.T, st *store.Store, from, country string) string {
	t.Helper()
	if country == "" {
		country = "DE"
	}
	status, reason, _ := strings.Cut(from, "/")
	now := time.Now()
	o := service.Order{
		ID: uuid.Must(uuid.NewV7()).String(), UserID: "ada", Status: service.StatusPending, Currency: "EUR",
		Subtotal: 2900, Total: 2900, Address: service.Address{Recipient: "Ada", Line1: "1 Way", City: "X", PostalCode: "1", CountryCode: country},
		PaymentMethodID: uuid.NewString(), Carrier: "ordermesh-post", ServiceLevel: "standard",
		Lines: []service.Line{{SKU: "BEAN-1", Name: "Beans", Quantity: 2, UnitPrice: 1450}}, ExpiresAt: now.Add(time.Hour), CreatedAt: now,
	}
	path := map[service.Status][]service.Status{
		service.StatusPending:   nil,
		service.StatusReserved:  {service.StatusReserved},
		service.StatusConfirmed: {service.StatusReserved, service.StatusConfirmed},
		service.StatusShipped:   {service.StatusReserved, service.StatusConfirmed, service.StatusShipped},
		service.StatusRejected:  {service.StatusRejected},
		service.StatusCancelled: {service.StatusCancelled},
	}[service.Status(status)]
	ctx := context.Background()
	if _, ok, err := st.Place(ctx, o, "key-"+o.ID, []byte("hash"), &eventsv1.OrderPlaced{UserId: o.UserID}); err != nil || !ok {
		t.Fatalf("place a %s order: %v, placed %v", from, err, ok)
	}
	err := st.InTx(ctx, func(ctx context.Context, tx service.Tx) error {
		for _, s := range path {
			var r service.Reason
			if s == service.Status(status) {
				r = service.Reason(reason)
			}
			if err := tx.Transition(ctx, o.ID, s, r, "seeded"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed a %s order: %v", from, err)
	}
	return o.ID
}

func historyLen(t *testing.T, st *store.Store, id string) int {
	t.Helper()
	o, err := st.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return len(o.History)
}

// emitted names the events in the order's outbox, as TYPE, or
// "cancelled(REASON)" for OrderCancelled, joined by commas.
func emitted(t *testing.T, pool *pgxpool.Pool, orderID string) string {
	t.Helper()
	var out []string
	for _, env := range eventstest.Outbox(context.Background(), t, pool, orderID) {
		if env.GetType() == eventsv1.EventType_EVENT_TYPE_ORDER_PLACED {
			continue // the seed's placement, not what the event did
		}
		name := strings.TrimPrefix(env.GetType().String(), "EVENT_TYPE_")
		if c := env.GetOrderCancelled(); c != nil {
			name = "cancelled(" + c.GetReason() + ")"
		}
		out = append(out, name)
	}
	return strings.Join(out, ",")
}

// TestBatchFailsOnlyItsFailingEvents delivers one batch that confirms two
// orders, rejects a third and names an order Order does not know: the
// three apply, each once, with one statement per table between them, and
// the unknown one alone is refused, to be retried. Its inbox row goes with
// it, so once the order exists the same event applies.
func TestBatchFailsOnlyItsFailingEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t, mesh.Migrations(order.Component)...)
	st := store.New(d.Pool, events.NewOutbox("order", mesh.Routing))
	svc := service.New(st, nil, nil, nil, service.Config{Deadline: time.Hour, ShipFrom: "DE"})
	sink := events.NewSink("order", mesh.Routing, d.Pool, nil, slog.New(slog.DiscardHandler), nil).WithConsumer(order.Consumer(st, svc))

	first, second, third := seedOrder(t, st, "reserved", ""), seedOrder(t, st, "reserved", ""), seedOrder(t, st, "pending", "")
	late := uuid.Must(uuid.NewV7()).String()
	envs := []*eventsv1.Envelope{}
	for _, e := range []struct{ id, event string }{{first, "PaymentAuthorized"}, {late, "PaymentAuthorized"}, {second, "PaymentAuthorized"}, {third, "StockRejected"}} {
		env, err := events.NewEnvelope(ctx, producerOf(e.event), e.id, payloadOf(e.event))
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
	}
	failed := eventstest.Deliver(ctx, t, sink, envs...)
	if len(failed) != 1 || failed[0].GetEventId() != envs[1].GetId() || failed[0].GetPermanent() {
		t.Fatalf("failures %v, want only the unknown order's event, to retry", failed)
	}
	for id, want := range map[string]string{first: "confirmed", second: "confirmed", third: "rejected/out_of_stock"} {
		o, err := st.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := statusOf(o.Status, o.Reason); got != want {
			t.Errorf("order %s is %s, want %s", id, got, want)
		}
	}
	// The whole batch again: the applied ones are not applied twice.
	if failed := eventstest.Deliver(ctx, t, sink, envs...); len(failed) != 1 {
		t.Fatalf("redelivery failures %v, want the unknown order's again", failed)
	}
	for _, id := range []string{first, second} {
		if got := emitted(t, d.Pool, id); got != "ORDER_CONFIRMED" {
			t.Errorf("order %s emitted %q after a redelivery, want one ORDER_CONFIRMED", id, got)
		}
	}
	// The late order arrives; its event, refused before, now applies.
	o := service.Order{
		ID: late, UserID: "ada", Status: service.StatusPending, Currency: "EUR", Subtotal: 2900, Total: 2900,
		Address:         service.Address{Recipient: "Ada", Line1: "1 Way", City: "X", PostalCode: "1", CountryCode: "DE"},
		PaymentMethodID: uuid.NewString(), Carrier: "ordermesh-post", ServiceLevel: "standard",
		Lines: []service.Line{{SKU: "BEAN-1", Name: "Beans", Quantity: 2, UnitPrice: 1450}}, ExpiresAt: time.Now().Add(time.Hour),
	}
	if _, ok, err := st.Place(ctx, o, "key-"+late, []byte("hash"), &eventsv1.OrderPlaced{UserId: "ada"}); err != nil || !ok {
		t.Fatalf("place the late order: %v, %v", ok, err)
	}
	if failed := eventstest.Deliver(ctx, t, sink, envs[1]); len(failed) != 0 {
		t.Fatalf("the late order's event: %v, want it applied", failed)
	}
	if got, err := st.Get(ctx, late); err != nil || got.Status != service.StatusConfirmed {
		t.Errorf("the late order is %v (%v), want confirmed", got.Status, err)
	}
}
