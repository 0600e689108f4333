// Package invariants checks, across the services' databases, the promises
// ordermesh makes: no overselling, every order ends with its side effects
// settled, and nothing exists without its order. Tests and benchmarks run
// it after the saga has settled.
package invariants

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pending returns how many event deliveries are still waiting in the
// outboxes of pools (parked ones do not count).
func Pending(ctx context.Context, pools map[string]*pgxpool.Pool) (int, error) {
	total := 0
	for name, p := range pools {
		var n int
		if err := p.QueryRow(ctx, "SELECT count(*) FROM outbox_deliveries WHERE state = 'pending'").Scan(&n); err != nil {
			return 0, fmt.Errorf("pending deliveries of %s: %w", name, err)
		}
		total += n
	}
	return total, nil
}

// Check returns every broken invariant, joined; nil when all hold. pools
// maps service names to their databases; missing services are skipped.
//   - For every SKU, received = available + reserved + sold, nothing is
//     negative, and reserved and sold agree with the reservation ledger.
//   - A CONFIRMED or SHIPPED order is captured; a CANCELLED or REJECTED
//     one is voided, refunded, declined or was never authorised.
//   - No reservation and no payment exists without its order, and no
//     failed order still holds stock.
//   - No payment was authorised, captured, voided or refunded twice.
//   - Every parked delivery says why.
func Check(ctx context.Context, pools map[string]*pgxpool.Pool) error {
	var errs []error
	for name, p := range pools {
		var n int
		if err := p.QueryRow(ctx, "SELECT count(*) FROM outbox_deliveries WHERE state = 'parked' AND last_error = ''").Scan(&n); err != nil {
			return fmt.Errorf("parked deliveries of %s: %w", name, err)
		}
		if n > 0 {
			errs = append(errs, fmt.Errorf("%s parked %d deliveries without a reason", name, n))
		}
	}
	if pay := pools["payment"]; pay != nil {
		var n int
		if err := pay.QueryRow(ctx, `SELECT count(*) FROM (
			SELECT payment_id, kind FROM payment_operations WHERE succeeded GROUP BY payment_id, kind HAVING count(*) > 1) twice`).Scan(&n); err != nil {
			return fmt.Errorf("payment operations: %w", err)
		}
		if n > 0 {
			errs = append(errs, fmt.Errorf("%d payments were authorised, captured, voided or refunded twice", n))
		}
	}
	inv, ord, pay := pools["inventory"], pools["order"], pools["payment"]
	if inv != nil {
		var bad int
		if err := inv.QueryRow(ctx, `
			SELECT count(*) FROM stock s
			LEFT JOIN (
				SELECT l.sku,
				       coalesce(sum(l.quantity) FILTER (WHERE r.status = 'held'), 0) AS held,
				       coalesce(sum(l.quantity) FILTER (WHERE r.status = 'sold'), 0) AS sold
				FROM reservations r, unnest(r.skus, r.quantities) AS l(sku, quantity)
				GROUP BY l.sku) led USING (sku)
			WHERE s.received <> s.available + s.reserved + s.sold
			   OR s.available < 0 OR s.reserved <> coalesce(led.held, 0) OR s.sold <> coalesce(led.sold, 0)`).Scan(&bad); err != nil {
			return fmt.Errorf("stock balance: %w", err)
		}
		if bad > 0 {
			errs = append(errs, fmt.Errorf("%d SKUs break received = available + reserved + sold or disagree with the ledger", bad))
		}
	}
	if ord == nil {
		return errors.Join(errs...)
	}
	orders, err := statuses(ctx, ord, "SELECT id::text, status FROM orders")
	if err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	if pay != nil {
		payments, err := statuses(ctx, pay, "SELECT order_id, status FROM payments")
		if err != nil {
			return fmt.Errorf("payments: %w", err)
		}
		for id := range payments {
			if _, ok := orders[id]; !ok {
				errs = append(errs, fmt.Errorf("payment for order %s, which does not exist", id))
			}
		}
		for id, st := range orders {
			p, has := payments[id]
			switch st {
			case "confirmed", "shipped":
				if p != "captured" {
					errs = append(errs, fmt.Errorf("order %s is %s but its payment is %q, want captured", id, st, p))
				}
			case "cancelled", "rejected":
				if has && p != "voided" && p != "refunded" && p != "declined" {
					errs = append(errs, fmt.Errorf("order %s is %s but its payment is %q", id, st, p))
				}
			}
		}
	}
	if inv != nil {
		reservations, err := statuses(ctx, inv, "SELECT order_id, status FROM reservations WHERE status <> 'cancelled'")
		if err != nil {
			return fmt.Errorf("reservations: %w", err)
		}
		for id, status := range reservations {
			st, ok := orders[id]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("reservation for order %s, which does not exist", id))
			case (st == "cancelled" || st == "rejected") && (status == "held" || status == "sold"):
				errs = append(errs, fmt.Errorf("order %s is %s but its stock is still %s", id, st, status))
			}
		}
	}
	return errors.Join(errs...)
}

// Stuck returns how many orders have not reached a terminal status
// (confirmed, shipped, rejected, cancelled): after Settle, none should.
func Stuck(ctx context.Context, order *pgxpool.Pool) (int, error) {
	var n int
	err := order.QueryRow(ctx, "SELECT count(*) FROM orders WHERE status IN ('pending', 'reserved')").Scan(&n)
	return n, err
}

func statuses(ctx context.Context, pool *pgxpool.Pool, query string) (map[string]string, error) {
	rows, err := pool.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var id, st string
	_, err = pgx.ForEachRow(rows, []any{&id, &st}, func() error {
		out[id] = st
		return nil
	})
	return out, err
}

// Settle waits until pools have no delivery left to make for timeout, and
// for a second look after that: the saga has then done all it will do.
func Settle(ctx context.Context, pools map[string]*pgxpool.Pool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for quiet := 0; quiet < 2; {
		if time.Now().After(deadline) {
			return fmt.Errorf("events still pending after %v", timeout)
		}
		n, err := Pending(ctx, pools)
		if err != nil {
			return err
		}
		if n == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}
