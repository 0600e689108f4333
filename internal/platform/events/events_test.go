package events_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/events/eventstest"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
	eventssql "github.com/ordermesh/ordermesh/sqlc/events"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// consumer is a real sink on its own database that counts the effects it
// applies. Its behaviour can be switched: fail every event, or hang until
// released.
type consumer struct {
	db      *dbtest.Database
	client  eventsv1connect.EventSinkServiceClient
	applied atomic.Int64
	failing atomic.Bool
	hang    chan struct{} // closed to release hung deliveries; nil: no hang
	entered chan struct{}
	mu      sync.Mutex
}

func newConsumer(t testing.TB) *consumer {
	t.Helper()
	c := &consumer{db: dbtest.New(t, eventssql.Migrations), entered: make(chan struct{}, 100)}
	sink := events.NewSink("test", testRouting(t), c.db.Pool, map[eventsv1.EventType]events.Handler{
		eventsv1.EventType_EVENT_TYPE_ORDER_PLACED: func(ctx context.Context, _ pgx.Tx, _ *eventsv1.Envelope) error {
			select {
			case c.entered <- struct{}{}:
			default: // nobody is watching (a fuzz run applies thousands)
			}
			c.mu.Lock()
			hang := c.hang
			c.mu.Unlock()
			if hang != nil {
				select {
				case <-hang:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if c.failing.Load() {
				return errors.New("consumer says no")
			}
			c.applied.Add(1)
			return nil
		},
	}, quiet, nil)
	path, h := eventsv1connect.NewEventSinkServiceHandler(sink, connect.WithInterceptors(rpcerr.NewInterceptor(quiet)))
	mux := http.NewServeMux()
	// The relays of these tests deliver as Order, the publisher of
	// OrderPlaced, as the auth interceptor would have verified.
	mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(eventstest.As(r.Context(), "order")))
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c.client = eventsv1connect.NewEventSinkServiceClient(srv.Client(), srv.URL)
	return c
}

// stall makes the consumer's deliveries hang until release.
func (c *consumer) stall() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hang = make(chan struct{})
}

// release lets hung deliveries go on, and later ones through.
func (c *consumer) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.hang)
	c.hang = nil
}

// producer is an outbox on its own database with events routed to "test".
type producer struct {
	db     *dbtest.Database
	outbox *events.Outbox
}

func newProducer(t *testing.T) producer {
	t.Helper()
	return producer{db: dbtest.New(t, eventssql.Migrations), outbox: events.NewOutbox("order", testRouting(t))}
}

// testRouting routes OrderPlaced from "order" to "test".
func testRouting(t testing.TB) events.Routing {
	t.Helper()
	var routing events.Routing
	placed := []eventsv1.EventType{eventsv1.EventType_EVENT_TYPE_ORDER_PLACED}
	if err := errors.Join(routing.Declare("order", placed, nil), routing.Declare("test", nil, placed)); err != nil {
		t.Fatal(err)
	}
	return routing
}

func (p producer) emit(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, p.db.Pool, func(tx pgx.Tx) error {
		for i := range n {
			if _, err := p.outbox.Add(ctx, tx, orderID(i), placed()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("emit: %v", err)
	}
}

// placed is a valid OrderPlaced: sinks refuse malformed events.
func placed() *eventsv1.OrderPlaced {
	return &eventsv1.OrderPlaced{
		UserId: "u", Lines: []*eventsv1.Line{{Sku: "A-1", Quantity: 1}}, Total: &commonv1.Money{AmountMinor: 100, Currency: "EUR"},
		PaymentMethodId: "019a0000-0000-7000-8000-000000000001", ExpireTime: timestamppb.New(time.Now().Add(time.Hour)),
	}
}

// orderID is the i-th order's id.
func orderID(i int) string { return fmt.Sprintf("019a0000-0000-7000-8000-%012d", i) }

func (p producer) count(t *testing.T, state string) int {
	t.Helper()
	var n int
	if err := p.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM outbox_deliveries WHERE state = $1", state).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func relayConfig() events.RelayConfig {
	return events.RelayConfig{Batch: 50, MaxAttempts: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, PollInterval: 50 * time.Millisecond, Timeout: 5 * time.Second}
}

func sinks(c *consumer) events.Sinks {
	return func(sub string) (eventsv1connect.EventSinkServiceClient, bool) { return c.client, sub == "test" }
}

// A relay stopped in the middle of a delivery loses nothing: it gives its
// claim back, the next relay delivers, and the consumer applies each event
// once.
func TestRelayKilledMidDeliveryLosesNothing(t *testing.T) {
	t.Parallel()
	p, c := newProducer(t), newConsumer(t)
	p.emit(t, 5)
	c.stall()

	ctx, kill := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := events.NewRelay("producer", p.db.Pool, sinks(c), relayConfig(), quiet, nil).DeliverOnce(ctx)
		done <- err
	}()
	<-c.entered // the consumer is in the middle of the batch
	kill()
	if err := <-done; err == nil {
		t.Fatal("the killed relay reported success")
	}
	if got := p.count(t, "pending"); got != 5 {
		t.Fatalf("after the kill %d deliveries are pending, want all 5", got)
	}
	c.release()

	// A new relay (another replica, or the restarted process) finishes.
	relay := events.NewRelay("producer", p.db.Pool, sinks(c), relayConfig(), quiet, nil)
	for p.count(t, "pending") > 0 {
		if _, err := relay.DeliverOnce(context.Background()); err != nil {
			t.Fatalf("DeliverOnce: %v", err)
		}
	}
	if got := p.count(t, "delivered"); got != 5 {
		t.Errorf("delivered = %d, want 5", got)
	}
	if got := c.applied.Load(); got != 5 {
		t.Errorf("applied = %d, want each of the 5 events once", got)
	}
}

// After MaxAttempts failures a delivery is parked; the admin lists it and
// requeues it, and then it is delivered.
func TestParkingAndRequeue(t *testing.T) {
	t.Parallel()
	p, c := newProducer(t), newConsumer(t)
	p.emit(t, 2)
	c.failing.Store(true)
	relay := events.NewRelay("producer", p.db.Pool, sinks(c), relayConfig(), quiet, nil)
	for round := 0; p.count(t, "parked") < 2; round++ {
		if round > 50 {
			t.Fatalf("deliveries not parked after %d rounds", round)
		}
		if _, err := relay.DeliverOnce(context.Background()); err != nil {
			t.Fatalf("DeliverOnce: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // let the backoff pass
	}
	admin := events.NewAdmin(p.db.Pool, quiet)
	list, err := admin.ListParkedDeliveries(context.Background(), connect.NewRequest(&eventsv1.ListParkedDeliveriesRequest{PageSize: 1}))
	if err != nil {
		t.Fatalf("ListParkedDeliveries: %v", err)
	}
	d := list.Msg.GetDeliveries()
	if len(d) != 1 || d[0].GetAttempts() != 3 || d[0].GetSubscriber() != "test" || d[0].GetLastError() == "" || list.Msg.GetNextPageToken() == "" {
		t.Fatalf("parked page 1 = %v (next %q), want one delivery after 3 attempts with its error, and a next page", d, list.Msg.GetNextPageToken())
	}
	page2, err := admin.ListParkedDeliveries(context.Background(), connect.NewRequest(&eventsv1.ListParkedDeliveriesRequest{PageSize: 1, PageToken: list.Msg.GetNextPageToken()}))
	if err != nil || len(page2.Msg.GetDeliveries()) != 1 || page2.Msg.GetDeliveries()[0].GetEventId() == d[0].GetEventId() {
		t.Fatalf("parked page 2 = %v, %v; want the other delivery", page2.Msg.GetDeliveries(), err)
	}

	c.failing.Store(false)
	res, err := admin.RequeueParkedDeliveries(context.Background(), connect.NewRequest(&eventsv1.RequeueParkedDeliveriesRequest{Subscriber: "test"}))
	if err != nil || res.Msg.GetRequeued() != 2 {
		t.Fatalf("Requeue = %v, %v; want 2", res.Msg.GetRequeued(), err)
	}
	if _, err := relay.DeliverOnce(context.Background()); err != nil {
		t.Fatalf("DeliverOnce: %v", err)
	}
	if got, applied := p.count(t, "delivered"), c.applied.Load(); got != 2 || applied != 2 {
		t.Errorf("after requeue delivered = %d and applied = %d, want 2 and 2", got, applied)
	}
}

// The relay wakes on NOTIFY: an event committed while it waits is
// delivered long before the poll interval (an hour here). The first event
// may go in the relay's first round; once its delivery is recorded, the
// round after it has found nothing and the relay sleeps, so only a NOTIFY
// can bring it the second.
func TestRelayWakesOnNotify(t *testing.T) {
	t.Parallel()
	p, c := newProducer(t), newConsumer(t)
	cfg := relayConfig()
	cfg.PollInterval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = events.NewRelay("producer", p.db.Pool, sinks(c), cfg, quiet, nil).Run(ctx) }()
	p.emit(t, 1)
	wait.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got := p.count(t, "delivered"); got != 1 {
			return fmt.Errorf("%v, want 1: the first event is recorded as delivered", got)
		}
		return nil
	})
	p.emit(t, 1)
	wait.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got := c.applied.Load(); got != 2 {
			return fmt.Errorf("%v, want 2: the second event, committed while the relay slept, is delivered: it woke on NOTIFY", got)
		}
		return nil
	})
}

// A duplicate delivery is acknowledged without a second effect.
func TestSinkAppliesOnce(t *testing.T) {
	t.Parallel()
	c := newConsumer(t)
	env, err := events.NewEnvelope(context.Background(), "order", orderID(1), placed())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		res, err := c.client.Deliver(context.Background(), connect.NewRequest(&eventsv1.DeliverRequest{Events: []*eventsv1.Envelope{env}}))
		if err != nil || len(res.Msg.GetFailures()) != 0 {
			t.Fatalf("Deliver = %v, %v", res.Msg.GetFailures(), err)
		}
	}
	if got := c.applied.Load(); got != 1 {
		t.Errorf("applied = %d after three deliveries, want 1", got)
	}
}

// An event the consumer can never apply (here: an OrderPlaced without
// lines) is parked at the first refusal, with the reason, while the valid
// events of the same batch are applied.
func TestInvalidEventIsParkedAtOnce(t *testing.T) {
	t.Parallel()
	p, c := newProducer(t), newConsumer(t)
	p.emit(t, 2)
	err := pgx.BeginFunc(context.Background(), p.db.Pool, func(tx pgx.Tx) error {
		_, err := p.outbox.Add(context.Background(), tx, orderID(99), &eventsv1.OrderPlaced{UserId: "u"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.NewRelay("order", p.db.Pool, sinks(c), relayConfig(), quiet, nil).DeliverOnce(context.Background()); err != nil {
		t.Fatalf("DeliverOnce: %v", err)
	}
	if parked, delivered := p.count(t, "parked"), p.count(t, "delivered"); parked != 1 || delivered != 2 {
		t.Fatalf("after one round: %d parked, %d delivered; want the invalid event parked and the 2 others delivered", parked, delivered)
	}
	list, err := events.NewAdmin(p.db.Pool, quiet).ListParkedDeliveries(context.Background(), connect.NewRequest(&eventsv1.ListParkedDeliveriesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if d := list.Msg.GetDeliveries(); len(d) != 1 || d[0].GetOrderId() != orderID(99) || d[0].GetAttempts() != 1 || !strings.Contains(d[0].GetLastError(), "lines") {
		t.Errorf("parked = %v, want the invalid event after 1 attempt, its error naming lines", d)
	}
	if got := c.applied.Load(); got != 2 {
		t.Errorf("applied %d events, want the 2 valid ones", got)
	}
}

// An outbox refuses an event its producer does not declare publishing:
// no subscriber would ever hear of it.
func TestOutboxRefusesUndeclaredEvents(t *testing.T) {
	t.Parallel()
	p := newProducer(t)
	ctx := context.Background()
	reserved := &eventsv1.StockReserved{UserId: "u", Total: &commonv1.Money{AmountMinor: 100, Currency: "EUR"}}
	add := func(tx pgx.Tx) error { _, err := p.outbox.Add(ctx, tx, orderID(1), reserved); return err }
	addAll := func(tx pgx.Tx) error {
		return p.outbox.AddAll(ctx, tx, []events.Pending{{OrderID: orderID(1), Payload: placed()}, {OrderID: orderID(2), Payload: reserved}})
	}
	for name, fn := range map[string]func(pgx.Tx) error{"Add": add, "AddAll": addAll} {
		err := pgx.BeginFunc(ctx, p.db.Pool, fn)
		if !errors.Is(err, events.ErrUndeclared) {
			t.Errorf("%s of StockReserved by order = %v, want a refusal", name, err)
		}
	}
	var n int
	if err := p.db.Pool.QueryRow(ctx, "SELECT count(*) FROM outbox").Scan(&n); err != nil || n != 0 {
		t.Errorf("outbox holds %d events (%v), want none: the refused transactions wrote nothing", n, err)
	}
}

// A stalled subscriber delays only itself: while one hangs in the middle
// of its batch, the relay goes on delivering to the other, and the stalled
// one catches up once it is let go, each event applied once.
func TestStalledSubscriberDelaysOnlyItself(t *testing.T) {
	t.Parallel()
	var routing events.Routing
	placedType := []eventsv1.EventType{eventsv1.EventType_EVENT_TYPE_ORDER_PLACED}
	if err := errors.Join(routing.Declare("order", placedType, nil), routing.Declare("stalled", nil, placedType), routing.Declare("free", nil, placedType)); err != nil {
		t.Fatal(err)
	}
	p := producer{db: dbtest.New(t, eventssql.Migrations), outbox: events.NewOutbox("order", routing)}
	stalled, free := newConsumer(t), newConsumer(t)
	stalled.stall()
	// The stall outlasts the wait for the free subscriber: a relay that
	// waited for the stalled delivery to time out would fail the test.
	stallConfig := relayConfig()
	stallConfig.Timeout = time.Minute
	clients := map[string]*consumer{"stalled": stalled, "free": free}
	relay := events.NewRelay("order", p.db.Pool, func(sub string) (eventsv1connect.EventSinkServiceClient, bool) {
		c, ok := clients[sub]
		if !ok {
			return nil, false
		}
		return c.client, true
	}, stallConfig, quiet, nil)
	relay.Subscribers = routing.Subscribers("order")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = relay.Run(ctx) }()

	p.emit(t, 3)
	<-stalled.entered // the stalled subscriber holds its batch
	// Events written during the stall reach the free subscriber: its
	// rounds do not wait for the stalled one's.
	err := pgx.BeginFunc(context.Background(), p.db.Pool, func(tx pgx.Tx) error {
		for i := 3; i < 6; i++ {
			if _, err := p.outbox.Add(context.Background(), tx, orderID(i), placed()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 15*time.Second, 10*time.Millisecond, func() error {
		if got := free.applied.Load(); got != 6 {
			return fmt.Errorf("%v, want 6: the free subscriber applies all 6 events while the other is stalled", got)
		}
		return nil
	})
	if got := stalled.applied.Load(); got != 0 {
		t.Fatalf("the stalled subscriber applied %d events while stalled", got)
	}
	stalled.release()
	wait.Until(t, 20*time.Second, 10*time.Millisecond, func() error {
		if got := stalled.applied.Load(); got != 6 {
			return fmt.Errorf("%v, want 6: the stalled subscriber catches up once let go", got)
		}
		return nil
	})
	wait.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got := p.count(t, "delivered"); got != 12 {
			return fmt.Errorf("%v, want 12: every delivery is recorded as delivered", got)
		}
		return nil
	})
	if got := free.applied.Load(); got != 6 {
		t.Errorf("the free subscriber applied %d events, want each of the 6 once", got)
	}
}
