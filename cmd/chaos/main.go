// Command chaos is the two halves of `make chaos` (scripts/chaos.sh),
// which kills the mesh and restarts PostgreSQL while orders flow:
//
//	chaos load -addr URL -duration D   places orders steadily (approvals,
//	                                   declined cards, carrier refusals),
//	                                   retrying each with its idempotency
//	                                   key until the mesh takes it
//	chaos check -kills K -pg-restarts R waits for the saga to settle and
//	                                   checks every invariant, then prints
//	chaos kills=K pg_restarts=R orders=N stuck=0 invariants=ok
//
// Both read the mesh's configuration from the environment, as the
// binaries do: the signing key for tokens, the database URLs for the check.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/app/components"
	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/invariants"
	"github.com/ordermesh/ordermesh/app/shopper"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/config"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: chaos load|check [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "load":
		err = load(os.Args[2:])
	case "check":
		err = check(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

// retry calls fn until it succeeds, the error is not one a client should
// retry (the mesh down, restarting, or its database away), or ctx ends. A
// connection the killed mesh reset reaches a Go client as Canceled, while
// our own context is fine, or as an answer cut off mid-body (Internal,
// "incomplete envelope", which the mesh never sent): those are retried
// too (every call here is idempotent).
func retry(ctx context.Context, fn func() error) error {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := fn()
		if err == nil {
			return nil
		}
		switch code := connect.CodeOf(err); {
		case rpcerr.Interrupted(err):
		case code == connect.CodeCanceled:
			if ctx.Err() != nil {
				return err
			}
		case code == connect.CodeUnavailable, code == connect.CodeUnknown, code == connect.CodeDeadlineExceeded, code == connect.CodeAborted:
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	addr := fs.String("addr", "http://127.0.0.1:18080", "base URL of the mesh")
	duration := fs.Duration("duration", 40*time.Second, "how long orders are placed")
	shoppers := fs.Int("shoppers", 8, "concurrent shoppers")
	_ = fs.Parse(args)
	cfg := mesh.NewConfig(components.All...)
	if err := config.Load(&cfg); err != nil {
		return err
	}
	ctx := context.Background()
	c := shopper.NewClients(*addr, connect.WithGRPC())
	merchant, err := auth.Mint(cfg.Auth, "chaos-merchant", []auth.Role{auth.RoleMerchant}, time.Hour)
	if err != nil {
		return err
	}
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	sku := "CHAOS-" + run
	if err := retry(ctx, func() error {
		_, err := c.Catalog.CreateProduct(ctx, shopper.With(&catalogv1.CreateProductRequest{
			Sku: sku, Name: "Chaos tea", Category: "chaos", WeightGrams: 100, Price: &commonv1.Money{AmountMinor: 500, Currency: "EUR"},
		}, merchant))
		if connect.CodeOf(err) == connect.CodeAlreadyExists {
			return nil // an earlier try went through
		}
		return err
	}); err != nil {
		return fmt.Errorf("create product: %w", err)
	}
	if err := retry(ctx, func() error {
		_, err := c.Stock.SetStock(ctx, shopper.With(&inventoryv1.SetStockRequest{Sku: sku, Available: 1_000_000}, merchant))
		return err
	}); err != nil {
		return fmt.Errorf("set stock: %w", err)
	}
	addresses := map[string]*commonv1.PostalAddress{
		"DE": {Recipient: "Chaos", Line1: "1 Kill Street", City: "Berlin", PostalCode: "10115", CountryCode: "DE"},
		"AQ": {Recipient: "Chaos", Line1: "1 Ice Shelf", City: "McMurdo", PostalCode: "00000", CountryCode: "AQ"},
	}
	totals := map[string]int64{}
	for cc, a := range addresses {
		if err := retry(ctx, func() error {
			q, err := c.Orders.QuoteShipping(ctx, connect.NewRequest(&orderv1.QuoteShippingRequest{ShippingAddress: a, Lines: []*orderv1.LineRequest{{Sku: sku, Quantity: 1}}}))
			if err == nil {
				totals[cc] = 500 + q.Msg.GetAmount().GetAmountMinor()
			}
			return err
		}); err != nil {
			return fmt.Errorf("quote: %w", err)
		}
	}

	var placed, failed, retried atomic.Int64
	stop := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for i := range *shoppers {
		wg.Go(func() {
			card := shopper.GoodCard
			if i%4 == 1 {
				card = "4000000000000002" // declined
			}
			var cust shopper.Customer
			id := fmt.Sprintf("chaos-%s-%d", run, i)
			if err := retry(ctx, func() error {
				var err error
				cust, err = c.NewCustomer(ctx, cfg.Auth, id, card)
				return err
			}); err != nil {
				failed.Add(1)
				return
			}
			for n := 0; time.Now().Before(stop); n++ {
				cc := "DE"
				if n%5 == 3 {
					cc = "AQ" // the carrier refuses
				}
				req := &orderv1.PlaceOrderRequest{
					UserId: id, IdempotencyKey: fmt.Sprintf("chaos-%d-%d", i, n),
					Source:          &orderv1.PlaceOrderRequest_Lines{Lines: &orderv1.ExplicitLines{Lines: []*orderv1.LineRequest{{Sku: sku, Quantity: 1}}}},
					ShippingAddress: addresses[cc], Email: id + "@example.com", PaymentMethodId: cust.Card,
					ExpectedTotal: &commonv1.Money{AmountMinor: totals[cc], Currency: "EUR"},
				}
				tries := 0
				err := retry(ctx, func() error {
					tries++
					_, err := c.Orders.PlaceOrder(ctx, shopper.With(req, cust.Token))
					return err
				})
				retried.Add(int64(tries - 1))
				if err != nil {
					failed.Add(1)
					fmt.Fprintln(os.Stderr, "chaos: place order:", err)
					continue
				}
				placed.Add(1)
				time.Sleep(time.Duration(rand.N(20)) * time.Millisecond) //nolint:gosec // pacing, not security
			}
		})
	}
	wg.Wait()
	fmt.Printf("chaos-load placed=%d retried=%d failed=%d\n", placed.Load(), retried.Load(), failed.Load())
	if failed.Load() > 0 {
		return fmt.Errorf("%d orders could not be placed", failed.Load())
	}
	return nil
}

func check(args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	kills := fs.Int("kills", 0, "how often the mesh was killed")
	restarts := fs.Int("pg-restarts", 0, "how often PostgreSQL was restarted")
	settle := fs.Duration("settle", 90*time.Second, "how long the saga may take to settle")
	_ = fs.Parse(args)
	cfg := mesh.NewConfig(components.All...)
	if err := config.Load(&cfg); err != nil {
		return err
	}
	ctx := context.Background()
	pools, closePools, err := shopper.OpenDatabases(ctx, cfg)
	if err != nil {
		return err
	}
	defer closePools()
	verdict := "ok"
	if err := invariants.Settle(ctx, pools, *settle); err != nil {
		verdict = "unsettled"
		fmt.Fprintln(os.Stderr, "chaos:", err)
	}
	// Orders the saga had not finished when the mesh died finish by
	// expiry at the latest (ORDER_DEADLINE): wait for them too.
	var stuck int
	for deadline := time.Now().Add(*settle); ; time.Sleep(time.Second) {
		if stuck, err = invariants.Stuck(ctx, pools["order"]); err != nil {
			return err
		}
		if stuck == 0 || time.Now().After(deadline) {
			break
		}
	}
	if err := invariants.Settle(ctx, pools, *settle); err != nil && verdict == "ok" {
		verdict = "unsettled"
	}
	if err := invariants.Check(ctx, pools); err != nil {
		fmt.Fprintln(os.Stderr, err)
		verdict = "broken"
	}
	var orders int
	if err := pools["order"].QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&orders); err != nil {
		return err
	}
	if stuck > 0 && verdict == "ok" {
		verdict = "stuck"
	}
	fmt.Printf("chaos kills=%d pg_restarts=%d orders=%d stuck=%d invariants=%s\n", *kills, *restarts, orders, stuck, verdict)
	if verdict != "ok" || orders == 0 {
		return fmt.Errorf("invariants %s", verdict)
	}
	return nil
}
