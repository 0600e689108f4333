package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

// TestInventoryBatchLocksStockInSKUOrder delivers Inventory a batch whose
// events, applied one after another, would lock SKU B before SKU A, while
// another transaction holds A and wants B next: the position two relay
// workers (or two replicas) put concurrent batches in. The batch must take
// its stock rows in SKU order before applying anything, so it waits for A
// holding nothing, and the other transaction gets B: a queue, not a
// deadlock.
func TestInventoryBatchLocksStockInSKUOrder(t *testing.T) {
	t.Parallel()
	m := meshtest.Start(t, []string{"inventory"})
	ctx := context.Background()
	merchant, service := m.Token(t, "mia", auth.RoleMerchant), m.Token(t, "order", auth.RoleService)
	stock := inventoryv1connect.NewInventoryServiceClient(m.HTTP, m.URL)
	for _, sku := range []string{"LOCK-A", "LOCK-B"} {
		if _, err := stock.SetStock(ctx, meshtest.WithToken(&inventoryv1.SetStockRequest{Sku: sku, Available: 10}, merchant)); err != nil {
			t.Fatal(err)
		}
	}
	// Two orders, the first on B, the second on A: the sink applies a
	// batch in order id order.
	first, second := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
	for id, sku := range map[string]string{first: "LOCK-B", second: "LOCK-A"} {
		res, err := stock.Reserve(ctx, meshtest.WithToken(&inventoryv1.ReserveRequest{OrderId: id, Lines: []*inventoryv1.ReserveLine{{Sku: sku, Quantity: 1}}}, service))
		if err != nil || !res.Msg.GetReserved() {
			t.Fatalf("Reserve(%s) = %v, %v", sku, res, err)
		}
	}
	var batch []*eventsv1.Envelope
	for _, id := range []string{first, second} {
		env, err := events.NewEnvelope(ctx, "order", id, &eventsv1.OrderConfirmed{UserId: "u", Lines: []*eventsv1.Line{{Sku: "X", Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, env)
	}

	// The other transaction holds A.
	other, err := m.Databases["inventory"].Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Rollback(ctx) }()
	if _, err := other.Exec(ctx, "SELECT 1 FROM stock WHERE sku = 'LOCK-A' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	delivered := make(chan error, 1)
	go func() {
		sink := eventsv1connect.NewEventSinkServiceClient(m.HTTP, m.URL+events.SinkPath("inventory"))
		res, err := sink.Deliver(ctx, meshtest.WithToken(&eventsv1.DeliverRequest{Events: batch}, service))
		if err == nil && len(res.Msg.GetFailures()) > 0 {
			err = connect.NewError(connect.CodeInternal, nil)
			t.Errorf("delivery failures: %v", res.Msg.GetFailures())
		}
		delivered <- err
	}()
	// Wait until the delivery is blocked on a lock.
	wait.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
		var waiting int
		if err := m.Databases["inventory"].Pool.QueryRow(ctx,
			"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&waiting); err != nil {
			return err
		}
		if waiting == 0 {
			return errors.New("the delivery never waited for the stock row held")
		}
		return nil
	})
	// B must be free: the batch waits for A holding nothing. Were B held,
	// this would wait, and give up before PostgreSQL's deadlock check
	// (deadlock_timeout) could break the cycle by aborting the batch.
	var deadlockTimeout time.Duration
	var raw string
	if err := other.QueryRow(ctx, "SELECT setting FROM pg_settings WHERE name = 'deadlock_timeout'").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if deadlockTimeout, err = time.ParseDuration(raw + "ms"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", (deadlockTimeout/2).Milliseconds())); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, "SELECT 1 FROM stock WHERE sku = 'LOCK-B' FOR UPDATE"); err != nil {
		t.Fatalf("the batch held SKU B while it waited for A (it would deadlock with a concurrent batch): %v", err)
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-delivered:
		if err != nil {
			t.Fatalf("Deliver: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the delivery did not finish once the rows were free")
	}
	for _, sku := range []string{"LOCK-A", "LOCK-B"} {
		res, err := stock.GetStock(ctx, connect.NewRequest(&inventoryv1.GetStockRequest{Sku: sku}))
		if err != nil || res.Msg.GetStock().GetSold() != 1 || res.Msg.GetStock().GetReserved() != 0 {
			t.Errorf("%s after the confirmations: %v, %v; want 1 sold, none reserved", sku, res.Msg.GetStock(), err)
		}
	}
}
