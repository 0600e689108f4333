package order_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/ordermesh/ordermesh/app/mesh"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
	"github.com/ordermesh/ordermesh/services/order"
	"github.com/ordermesh/ordermesh/services/order/internal/ops"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
	"github.com/ordermesh/ordermesh/services/order/internal/store"
)

// TestBulkCancelSurvivesAFailedBatch runs a bulk cancel of 250 orders, a
// batch of 100 a transaction, while the database refuses one write of
// the second batch: that batch rolls back whole, is tried again after its
// backoff, and every order is cancelled exactly once. An order the
// customer cancelled after the action started is counted as skipped.
func TestBulkCancelSurvivesAFailedBatch(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, mesh.Migrations(order.Component)...)
	st := store.New(d.Pool, events.NewOutbox("order", mesh.Routing))
	svc := service.New(st, nil, nil, nil, service.Config{Deadline: time.Hour, ShipFrom: "DE"})
	srv := ops.New(svc, ops.Deps{Log: slog.New(slog.DiscardHandler)})
	ctx := t.Context()

	var pending []string
	for range 250 {
		pending = append(pending, seedOrder(t, st, "pending", ""))
	}
	shipped := seedOrder(t, st, "shipped", "")
	// The 101st bulk cancellation's history row fails, once: nextval is
	// not rolled back with the transaction that called it.
	if _, err := d.Pool.Exec(ctx, `
		CREATE SEQUENCE bulk_writes;
		CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.detail LIKE '%(bulk action %' AND nextval('bulk_writes') = 101 THEN
				RAISE EXCEPTION 'the disk is full, once';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER fail_once BEFORE INSERT ON order_history FOR EACH ROW EXECUTE FUNCTION fail_once();`); err != nil {
		t.Fatal(err)
	}

	res, err := srv.StartBulkAction(ctx, connect.NewRequest(&opsv1.StartBulkActionRequest{
		Action: &opsv1.StartBulkActionRequest_CancelOrders{CancelOrders: &opsv1.OrderFilter{
			Statuses: []orderv1.OrderStatus{orderv1.OrderStatus_ORDER_STATUS_PENDING, orderv1.OrderStatus_ORDER_STATUS_SHIPPED},
		}},
		Reason: "test the batches",
	}))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Msg.GetAction().GetId()
	if got := res.Msg.GetAction().GetMatched(); got != 250 {
		t.Fatalf("matched %d, want the 250 pending orders (a shipped order cannot be cancelled)", got)
	}
	// The customer cancels one before the runner gets to it.
	if _, err := svc.CancelOrder(ctx, pending[200], func(service.Order) error { return nil }); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.RunBulkActions(runCtx) }()
	var a service.BulkAction
	sawFailure := false
	wait.Until(t, 30*time.Second, 20*time.Millisecond, func() error {
		if a, err = svc.GetBulkAction(ctx, id); err != nil {
			return err
		}
		if a.Error != "" {
			sawFailure = true
			if a.Done != 100 {
				t.Errorf("after the failed batch %d are done, want the first batch's 100 only", a.Done)
			}
		}
		if a.State == service.BulkRunning {
			return errStillRunning
		}
		return nil
	})
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !sawFailure {
		t.Error("the failed batch was never seen on the action")
	}
	if a.State != service.BulkDone || a.Done != 249 || a.Skipped != 1 || a.Error != "" || a.FinishedAt == nil {
		t.Errorf("action %+v, want done: 249 cancelled, 1 skipped, no error left", a)
	}
	for _, id := range pending {
		o, err := st.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		cancellations := 0
		for _, c := range o.History {
			if c.Status == service.StatusCancelled {
				cancellations++
			}
		}
		if o.Status != service.StatusCancelled || cancellations != 1 {
			t.Fatalf("order %s is %s with %d cancellations in its history, want cancelled once", id, o.Status, cancellations)
		}
		if got, want := emitted(t, d.Pool, id), "cancelled(OPERATOR)"; id != pending[200] && got != want {
			t.Fatalf("order %s emitted %s, want %s", id, got, want)
		}
	}
	if o, err := st.Get(ctx, shipped); err != nil || o.Status != service.StatusShipped {
		t.Errorf("the shipped order is %v (%v), want shipped", o.Status, err)
	}
	records, err := svc.OrderBulkActions(ctx, pending[0])
	if err != nil || len(records) != 1 || records[0].Outcome != "cancelled" || records[0].Action.ID != id {
		t.Errorf("the first order's bulk records %+v (%v), want this action's one", records, err)
	}
}

// kindOf is the kind the RPC layer answers err with; 0 for none.
func kindOf(err error) rpcerr.Kind {
	var s *rpcerr.Sentinel
	if errors.As(err, &s) {
		return s.Kind()
	}
	return 0
}

var errStillRunning = errors.New("the bulk action is still running")

// TestStopBulkAction stops a bulk action before its first batch: nothing
// is cancelled, the runner passes it over, and stopping it again, or an
// action that is done, says how it ended.
func TestStopBulkAction(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, mesh.Migrations(order.Component)...)
	st := store.New(d.Pool, events.NewOutbox("order", mesh.Routing))
	svc := service.New(st, nil, nil, nil, service.Config{Deadline: time.Hour, ShipFrom: "DE"})
	srv := ops.New(svc, ops.Deps{Log: slog.New(slog.DiscardHandler)})
	ctx := auth.WithPrincipal(t.Context(), auth.Principal{Subject: "mia", Roles: []auth.Role{auth.RoleMerchant}})
	ids := []string{seedOrder(t, st, "pending", ""), seedOrder(t, st, "pending", "")}
	start := func() string {
		t.Helper()
		res, err := srv.StartBulkAction(ctx, connect.NewRequest(&opsv1.StartBulkActionRequest{
			Action: &opsv1.StartBulkActionRequest_CancelOrders{CancelOrders: &opsv1.OrderFilter{Sku: "BEAN-1"}},
			Reason: "stop me",
		}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.GetAction().GetId()
	}
	id := start()
	stopped, err := srv.StopBulkAction(ctx, connect.NewRequest(&opsv1.StopBulkActionRequest{Id: id}))
	if err != nil {
		t.Fatal(err)
	}
	if a := stopped.Msg.GetAction(); a.GetState() != opsv1.BulkActionState_BULK_ACTION_STATE_STOPPED || a.GetDone() != 0 || a.GetFinishTime() == nil {
		t.Errorf("stopped %v, want STOPPED with nothing done", a)
	}
	// A runner's step finds nothing to run.
	if a, found, err := svc.StepBulkAction(ctx, srv.Step); err != nil || found {
		t.Fatalf("a step after the stop ran %+v (%v), want none", a, err)
	}
	for _, id := range ids {
		if o, err := st.Get(ctx, id); err != nil || o.Status != service.StatusPending {
			t.Errorf("order %s is %v (%v) after the stopped action, want pending", id, o.Status, err)
		}
	}
	_, err = srv.StopBulkAction(ctx, connect.NewRequest(&opsv1.StopBulkActionRequest{Id: id}))
	if kindOf(err) != rpcerr.KindPrecondition || !strings.Contains(err.Error(), "has ended (stopped by mia at ") {
		t.Errorf("stopping it again: %v, want failed_precondition saying it was stopped", err)
	}
	// One that ran to its end, a step at a time as the runner steps it.
	done := start()
	for found := true; found; {
		if _, found, err = svc.StepBulkAction(ctx, srv.Step); err != nil {
			t.Fatal(err)
		}
	}
	_, err = srv.StopBulkAction(ctx, connect.NewRequest(&opsv1.StopBulkActionRequest{Id: done}))
	if kindOf(err) != rpcerr.KindPrecondition || !strings.Contains(err.Error(), "has ended (done at ") || !strings.Contains(err.Error(), "2 of 2 done") {
		t.Errorf("stopping a finished action: %v, want failed_precondition saying it is done", err)
	}
	_, err = srv.StopBulkAction(ctx, connect.NewRequest(&opsv1.StopBulkActionRequest{Id: "01a24d7d-c187-7a23-9257-62347ccf21fa"}))
	if kindOf(err) != rpcerr.KindNotFound {
		t.Errorf("stopping no action: %v, want not_found", err)
	}
}

// BenchmarkBulkCancel cancels 1,000 pending orders with one bulk action,
// a batch of 100 a transaction, and reports the wall time and the
// process's CPU per order cancelled (the database's own CPU is not
// counted).
func BenchmarkBulkCancel(b *testing.B) {
	const orders = 1000
	d := dbtest.New(b, mesh.Migrations(order.Component)...)
	st := store.New(d.Pool, events.NewOutbox("order", mesh.Routing))
	svc := service.New(st, nil, nil, nil, service.Config{Deadline: time.Hour, ShipFrom: "DE"})
	srv := ops.New(svc, ops.Deps{Log: slog.New(slog.DiscardHandler)})
	ctx := b.Context()
	var wall, cpu time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		sku := fmt.Sprintf("BULK-%d", i)
		for range orders {
			seedLines(b, st, sku)
		}
		b.StartTimer()
		began, cpuBefore := time.Now(), processCPU(b)
		res, err := srv.StartBulkAction(ctx, connect.NewRequest(&opsv1.StartBulkActionRequest{
			Action: &opsv1.StartBulkActionRequest_CancelOrders{CancelOrders: &opsv1.OrderFilter{Sku: sku}}, Reason: "benchmark",
		}))
		if err != nil {
			b.Fatal(err)
		}
		for {
			a, _, err := svc.StepBulkAction(ctx, srv.Step)
			if err != nil {
				b.Fatal(err)
			}
			if a.ID == res.Msg.GetAction().GetId() && a.State != service.BulkRunning {
				if a.Done != orders {
					b.Fatalf("%d cancelled, want %d", a.Done, orders)
				}
				break
			}
		}
		wall, cpu = wall+time.Since(began), cpu+processCPU(b)-cpuBefore
	}
	n := float64(b.N * orders)
	b.ReportMetric(float64(wall.Microseconds())/n, "µs/order")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/order")
}

// seedLines places a pending order of one unit of sku.
func seedLines(b *testing.B, st *store.Store, sku string) {
	b.Helper()
	now := time.Now()
	o := service.Order{
		ID: uuid.Must(uuid.NewV7()).String(), UserID: "ada", Status: service.StatusPending, Currency: "EUR",
		Subtotal: 1450, Total: 1450, Address: service.Address{Recipient: "Ada", Line1: "1 Way", City: "X", PostalCode: "1", CountryCode: "DE"},
		PaymentMethodID: uuid.NewString(), Carrier: "ordermesh-post", ServiceLevel: "standard",
		Lines: []service.Line{{SKU: sku, Name: "Bulk", Quantity: 1, UnitPrice: 1450}}, ExpiresAt: now.Add(time.Hour), CreatedAt: now,
	}
	if _, ok, err := st.Place(context.Background(), o, "key-"+o.ID, []byte("hash"), &eventsv1.OrderPlaced{UserId: o.UserID}); err != nil || !ok {
		b.Fatalf("place: %v, %v", err, ok)
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
