package meshtest

import (
	"context"
	"testing"
	"time"
)

// WaitQuiet waits until no service has an event left to deliver (parked
// deliveries do not count), so that the saga has done all it will do.
func (m *Mesh) WaitQuiet(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	quietRounds := 0
	for quietRounds < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("meshtest: events still pending after 30s")
		}
		pending := 0
		for name, d := range m.Databases {
			var n int
			if err := d.Pool.QueryRow(ctx, "SELECT count(*) FROM outbox_deliveries WHERE state = 'pending'").Scan(&n); err != nil {
				t.Fatalf("meshtest: pending deliveries of %s: %v", name, err)
			}
			pending += n
		}
		if pending == 0 {
			quietRounds++
		} else {
			quietRounds = 0
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CheckInvariants waits for the saga to settle and checks what must hold
// across the services' databases:
//   - for every SKU, received = available + reserved + sold, none negative,
//     and reserved and sold match the reservation ledger;
//   - a CONFIRMED or SHIPPED order is captured; a CANCELLED or REJECTED
//     one is voided, refunded, declined or was never authorised;
//   - no reservation and no payment exists without its order.
func (m *Mesh) CheckInvariants(t testing.TB) {
	t.Helper()
	m.WaitQuiet(t)
	ctx := context.Background()
	inv, ord, pay := m.Databases["inventory"], m.Databases["order"], m.Databases["payment"]
	if inv != nil {
		var bad int
		if err := inv.Pool.QueryRow(ctx, `
			SELECT count(*) FROM stock s
			LEFT JOIN (
				SELECT l.sku,
				       coalesce(sum(l.quantity) FILTER (WHERE r.status = 'held'), 0) AS held,
				       coalesce(sum(l.quantity) FILTER (WHERE r.status = 'sold'), 0) AS sold
				FROM reservation_lines l JOIN reservations r USING (order_id)
				GROUP BY l.sku) led USING (sku)
			WHERE s.received <> s.available + s.reserved + s.sold
			   OR s.available < 0 OR s.reserved <> coalesce(led.held, 0) OR s.sold <> coalesce(led.sold, 0)`).Scan(&bad); err != nil {
			t.Fatalf("invariants: stock balance: %v", err)
		}
		if bad > 0 {
			t.Errorf("invariants: %d SKUs break received = available + reserved + sold or disagree with the ledger", bad)
		}
	}
	if ord == nil {
		return
	}
	rows, err := ord.Pool.Query(ctx, "SELECT id::text, status FROM orders")
	if err != nil {
		t.Fatalf("invariants: orders: %v", err)
	}
	orders := map[string]string{}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatalf("invariants: %v", err)
		}
		orders[id] = status
	}
	rows.Close()
	if pay != nil {
		payments := map[string]string{}
		rows, err := pay.Pool.Query(ctx, "SELECT order_id, status FROM payments")
		if err != nil {
			t.Fatalf("invariants: payments: %v", err)
		}
		for rows.Next() {
			var id, status string
			if err := rows.Scan(&id, &status); err != nil {
				t.Fatalf("invariants: %v", err)
			}
			payments[id] = status
		}
		rows.Close()
		for id, st := range payments {
			if _, ok := orders[id]; !ok {
				t.Errorf("invariants: payment for order %s, which does not exist", id)
			}
			_ = st
		}
		for id, st := range orders {
			p, has := payments[id]
			switch st {
			case "confirmed", "shipped":
				if p != "captured" {
					t.Errorf("invariants: order %s is %s but its payment is %q, want captured", id, st, p)
				}
			case "cancelled", "rejected":
				if has && p != "voided" && p != "refunded" && p != "declined" {
					t.Errorf("invariants: order %s is %s but its payment is %q, want voided, refunded, declined or none", id, st, p)
				}
			}
		}
	}
	if inv != nil {
		rows, err := inv.Pool.Query(ctx, "SELECT order_id, status FROM reservations WHERE status <> 'cancelled'")
		if err != nil {
			t.Fatalf("invariants: reservations: %v", err)
		}
		for rows.Next() {
			var id, status string
			if err := rows.Scan(&id, &status); err != nil {
				t.Fatalf("invariants: %v", err)
			}
			st, ok := orders[id]
			if !ok {
				t.Errorf("invariants: reservation for order %s, which does not exist", id)
				continue
			}
			if (st == "cancelled" || st == "rejected") && (status == "held" || status == "sold") {
				t.Errorf("invariants: order %s is %s but its stock is still %s", id, st, status)
			}
		}
		rows.Close()
	}
}
