package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/invariants"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
	"github.com/ordermesh/ordermesh/services/inventory"
	"github.com/ordermesh/ordermesh/services/inventory/internal/service"
	"github.com/ordermesh/ordermesh/services/inventory/internal/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// inventory is one Inventory instance's service on a database.
func newInventory(t testing.TB, pool *pgxpool.Pool, mode string) *service.Service {
	t.Helper()
	cfg := service.Config{Mode: mode, BatchMax: 512, QueueMax: 100000, ReservationTTL: time.Hour}
	return service.New(store.New(pool, events.NewOutbox("inventory", mesh.Routing)), cfg, quiet)
}

// run serves the batcher until the test ends.
func run(t testing.TB, svc *service.Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = svc.Batcher().Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func stock(t *testing.T, svc *service.Service, levels map[string]int64) {
	t.Helper()
	for sku, n := range levels {
		if _, err := svc.SetStock(context.Background(), sku, n, "test"); err != nil {
			t.Fatalf("SetStock: %v", err)
		}
	}
}

func ledgerOK(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	if err := invariants.Check(context.Background(), map[string]*pgxpool.Pool{"inventory": pool}); err != nil {
		t.Errorf("ledger: %v", err)
	}
}

// submitQueued queues requests in order before the batcher runs, so they
// form one batch in exactly this order, then runs it.
func submitQueued(t *testing.T, svc *service.Service, reqs []service.Request) []service.Outcome {
	t.Helper()
	out := make([]service.Outcome, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() { out[i] = svc.Batcher().Submit(context.Background(), r) })
		waitQueued(t, svc, i+1)
	}
	run(t, svc)
	wg.Wait()
	return out
}

func waitQueued(t *testing.T, svc *service.Service, n int) {
	t.Helper()
	wait.Until(t, 5*time.Second, time.Millisecond, func() error {
		if q := svc.Batcher().Queued(); q < n {
			return fmt.Errorf("%d queued, want %d", q, n)
		}
		return nil
	})
}

func req(order string, lines ...any) service.Request {
	r := service.Request{OrderID: order, ExpiresAt: time.Now().Add(time.Hour)}
	for i := 0; i < len(lines); i += 2 {
		r.Lines = append(r.Lines, service.Line{SKU: lines[i].(string), Quantity: int64(lines[i+1].(int))})
	}
	return r
}

func summary(outs []service.Outcome) []string {
	var s []string
	for _, o := range outs {
		switch {
		case o.Err != nil:
			s = append(s, "error: "+o.Err.Error())
		case o.Reserved:
			s = append(s, "reserved")
		default:
			s = append(s, fmt.Sprintf("rejected %v", o.Short))
		}
	}
	return s
}

func TestBatchAllocatesFirstComeFirstServed(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, mesh.Migrations(inventory.Component)...)
	svc := newInventory(t, d.Pool, service.ModeBatch)
	stock(t, svc, map[string]int64{"A": 5})
	got := summary(submitQueued(t, svc, []service.Request{req("o1", "A", 3), req("o2", "A", 3), req("o3", "A", 2), req("o4", "A", 1)}))
	want := []string{"reserved", "rejected [{A 3 2}]", "reserved", "rejected [{A 1 0}]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes in queue order (-want +got):\n%s", diff)
	}
	st, _ := svc.GetStock(context.Background(), "A")
	if st.Available != 0 || st.Reserved != 5 {
		t.Errorf("A = %+v, want 0 available and 5 reserved", st)
	}
	ledgerOK(t, d.Pool)
}

func TestBatchIsAllOrNothingPerOrder(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, mesh.Migrations(inventory.Component)...)
	svc := newInventory(t, d.Pool, service.ModeBatch)
	stock(t, svc, map[string]int64{"A": 10, "B": 5})
	got := summary(submitQueued(t, svc, []service.Request{req("o1", "A", 1, "B", 6), req("o2", "A", 2, "B", 5)}))
	want := []string{"rejected [{B 6 5}]", "reserved"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	a, _ := svc.GetStock(context.Background(), "A")
	if a.Available != 8 {
		t.Errorf("A available = %d, want 8: the rejected order took none of its A", a.Available)
	}
	ledgerOK(t, d.Pool)
}

func TestBatchIsolatesBadRequests(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, mesh.Migrations(inventory.Component)...)
	svc := newInventory(t, d.Pool, service.ModeBatch)
	stock(t, svc, map[string]int64{"A": 10})
	outs := submitQueued(t, svc, []service.Request{
		req("o1", "A", 1),
		req("o2", "NOPE", 1),         // unknown SKU
		req("o3", "A", 1),            //
		req("o1", "A", 5),            // the same order with other lines
		req("o1", "A", 1),            // the same order again: the same outcome
		req("o4", "A", 1, "NOPE", 1), // unknown SKU among known ones
	})
	got := summary(outs)
	want := []string{
		"reserved", `error: SKU "NOPE" has never been stocked`, "reserved",
		"error: order o1 was reserved with other lines", "reserved", `error: SKU "NOPE" has never been stocked`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if !errors.Is(outs[1].Err, service.ErrUnknownSKU) || !errors.Is(outs[3].Err, service.ErrOrderReused) {
		t.Errorf("errors are not the sentinels: %v, %v", outs[1].Err, outs[3].Err)
	}
	a, _ := svc.GetStock(context.Background(), "A")
	if a.Reserved != 2 {
		t.Errorf("A reserved = %d, want 2 (o1 once, o3)", a.Reserved)
	}
	// Asking again for o1 later returns the first result.
	again, err := svc.Reserve(context.Background(), "o1", []service.Line{{SKU: "A", Quantity: 1}})
	if err != nil || !again.Reserved {
		t.Errorf("repeat Reserve(o1) = %+v, %v; want the first result", again, err)
	}
	ledgerOK(t, d.Pool)
}

// A repeated Reserve answers what the first one did, its expiry included,
// in both modes: the same rule (answer) gives it.
func TestRepeatedReserveAnswersTheFirstOutcome(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{service.ModeBatch, service.ModeNaive} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			d := dbtest.New(t, mesh.Migrations(inventory.Component)...)
			svc := newInventory(t, d.Pool, mode)
			if mode == service.ModeBatch {
				run(t, svc)
			}
			stock(t, svc, map[string]int64{"A": 10})
			lines := []service.Line{{SKU: "A", Quantity: 2}}
			first, err := svc.Reserve(context.Background(), "o1", lines)
			if err != nil || !first.Reserved || first.ExpiresAt.IsZero() {
				t.Fatalf("Reserve(o1) = %+v, %v; want it reserved until a time", first, err)
			}
			again, err := svc.Reserve(context.Background(), "o1", lines)
			if err != nil || !again.Reserved || !again.ExpiresAt.Equal(first.ExpiresAt) {
				t.Fatalf("repeat Reserve(o1) = %+v, %v; want reserved until %v, as the first", again, err, first.ExpiresAt)
			}
			if a, _ := svc.GetStock(context.Background(), "A"); a.Reserved != 2 {
				t.Errorf("A reserved = %d, want 2: the repeat held nothing more", a.Reserved)
			}
		})
	}
}

// Callers that give up leave nothing half-done: what committed stands, and
// asking again returns it.
func TestBatchCancellation(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, mesh.Migrations(inventory.Component)...)
	svc := newInventory(t, d.Pool, service.ModeBatch)
	stock(t, svc, map[string]int64{"A": 10})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan service.Outcome)
	go func() { done <- svc.Batcher().Submit(ctx, req("gone", "A", 4)) }()
	waitQueued(t, svc, 1)
	cancel()
	if o := <-done; !errors.Is(o.Err, context.Canceled) {
		t.Fatalf("cancelled Submit = %+v, want context.Canceled", o)
	}
	run(t, svc) // the queued request is still served
	res, err := svc.Reserve(context.Background(), "gone", []service.Line{{SKU: "A", Quantity: 4}})
	if err != nil || !res.Reserved {
		t.Fatalf("Reserve after the cancelled call = %+v, %v; want the reservation that committed", res, err)
	}
	a, _ := svc.GetStock(context.Background(), "A")
	if a.Reserved != 4 {
		t.Errorf("A reserved = %d, want 4: reserved once", a.Reserved)
	}
	ledgerOK(t, d.Pool)
}

func TestBatcherDrainsOnShutdown(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t, mesh.Migrations(inventory.Component)...)
	svc := newInventory(t, d.Pool, service.ModeBatch)
	stock(t, svc, map[string]int64{"A": 100})
	outs := make(chan service.Outcome, 20)
	for i := range 20 {
		go func() { outs <- svc.Batcher().Submit(context.Background(), req(fmt.Sprintf("o%d", i), "A", 1)) }()
	}
	waitQueued(t, svc, 20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // already stopping when it starts: it must still drain
	if err := svc.Batcher().Run(ctx); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if o := <-outs; o.Err != nil || !o.Reserved {
			t.Errorf("queued request answered %+v, want reserved", o)
		}
	}
	if o := svc.Batcher().Submit(context.Background(), req("late", "A", 1)); !errors.Is(o.Err, service.ErrStopped) {
		t.Errorf("Submit after shutdown = %+v, want ErrStopped", o)
	}
	ledgerOK(t, d.Pool)
}

// A flash sale on one hot SKU with more demand than stock: every unit is
// sold once, no caller sees an error (the CHECK never fires), in both
// modes and with two replicas on one database.
func TestFlashSaleNeverOversells(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		mode     string
		replicas int
	}{{"batch", service.ModeBatch, 1}, {"naive", service.ModeNaive, 1}, {"batch two replicas", service.ModeBatch, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := dbtest.New(t, mesh.Migrations(inventory.Component)...)
			var svcs []*service.Service
			for range tc.replicas {
				// Each replica has its own pool, as separate processes would.
				pool, err := db.Open(context.Background(), d.URL, 8, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(pool.Close)
				svc := newInventory(t, pool, tc.mode)
				if svc.Batcher() != nil {
					run(t, svc)
				}
				svcs = append(svcs, svc)
			}
			const units, callers, each = 300, 64, 8
			stock(t, svcs[0], map[string]int64{"HOT": units, "B": 1000, "C": 1000})
			var reserved, rejected atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, callers*each)
			for c := range callers {
				wg.Go(func() {
					svc := svcs[c%len(svcs)]
					for i := range each {
						lines := []service.Line{{SKU: "HOT", Quantity: 1}}
						if i%2 == 1 { // carts over several SKUs, in both orders
							lines = append(lines, service.Line{SKU: []string{"C", "B"}[c%2], Quantity: 1})
						}
						res, err := svc.Reserve(context.Background(), fmt.Sprintf("c%d-%d", c, i), lines)
						switch {
						case err != nil:
							errs <- err
						case res.Reserved:
							reserved.Add(1)
						default:
							rejected.Add(1)
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("Reserve: %v", err)
			}
			hot, _ := svcs[0].GetStock(context.Background(), "HOT")
			if reserved.Load() != units || hot.Reserved != units || hot.Available != 0 {
				t.Errorf("reserved %d orders, HOT = %+v; want exactly %d, none oversold", reserved.Load(), hot, units)
			}
			if reserved.Load()+rejected.Load() != callers*each {
				t.Errorf("%d answers, want %d", reserved.Load()+rejected.Load(), callers*each)
			}
			ledgerOK(t, d.Pool)
		})
	}
}
