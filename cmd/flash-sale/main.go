// Command flash-sale races buyers for the units of one product through the
// full checkout saga of a running mesh (`make run`, or any address), with
// real tokens, and prints:
//
//	flashsale buyers=... units=... sold=... rejected=... errors=... sellout_s=... p99_ms=... oversold=0
//
// then checks Inventory's ledger with SQL. Each buyer places one order of
// 1 to 10 units, so demand exceeds supply: buyers who lose the race get
// their order REJECTED as OUT_OF_STOCK. Anything else counts as an error.
// sellout_s runs from the first PlaceOrder to the last CONFIRMED.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/invariants"
	"github.com/ordermesh/ordermesh/app/shopper"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/clientenv"
	"github.com/ordermesh/ordermesh/internal/platform/config"
	"github.com/ordermesh/ordermesh/internal/platform/db"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "flash-sale:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", clientenv.URL(nil), "base URL of the mesh; ORDERMESH_URL sets the default")
	buyers := flag.Int("buyers", 2000, "concurrent buyers")
	units := flag.Int64("units", 10000, "units on sale")
	maxQty := flag.Int("max-quantity", 10, "each buyer wants 1 to this many units")
	flag.Parse()

	cfg := mesh.NewConfig()
	if err := config.Load(&cfg); err != nil {
		return err
	}
	ctx := context.Background()
	c := shopper.NewClients(*addr)
	merchant, err := auth.Mint(cfg.Auth, "flash-merchant", []auth.Role{auth.RoleMerchant}, time.Hour)
	if err != nil {
		return fmt.Errorf("mint token (set JWT_SIGNING_KEY to the mesh's key): %w", err)
	}

	sku := fmt.Sprintf("FLASH-%d", time.Now().Unix())
	const price = 1999
	if err := c.NewProduct(ctx, merchant, &catalogv1.CreateProductRequest{
		Sku: sku, Name: "Flash sale " + sku, Category: "flash-sale", WeightGrams: 100,
		Price: &commonv1.Money{AmountMinor: price, Currency: "EUR"},
	}, *units); err != nil {
		return err
	}
	address := &commonv1.PostalAddress{Recipient: "Flash Buyer", Line1: "1 Rush Lane", City: "Berlin", PostalCode: "10115", CountryCode: "DE"}
	totals := map[int]int64{}
	for q := 1; q <= *maxQty; q++ {
		res, err := c.Orders.QuoteShipping(ctx, connect.NewRequest(&orderv1.QuoteShippingRequest{
			ShippingAddress: address, Lines: []*orderv1.LineRequest{{Sku: sku, Quantity: int32(q)}},
		}))
		if err != nil {
			return fmt.Errorf("quote: %w", err)
		}
		totals[q] = int64(q)*price + res.Msg.GetAmount().GetAmountMinor()
	}

	all := make([]shopper.Customer, *buyers)
	fmt.Fprintf(os.Stderr, "preparing %d buyers...\n", *buyers)
	var wg sync.WaitGroup
	var prepErr atomic.Value
	sem := make(chan struct{}, 64)
	for i := range all {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			b, err := c.NewCustomer(ctx, cfg.Auth, fmt.Sprintf("flash-%s-%d", sku, i), shopper.GoodCard)
			if err != nil {
				prepErr.Store(err)
				return
			}
			all[i] = b
		})
	}
	wg.Wait()
	if err, _ := prepErr.Load().(error); err != nil {
		return fmt.Errorf("prepare buyers: %w", err)
	}

	var (
		sold, rejected, errs, done atomic.Int64
		mu                         sync.Mutex
		latencies                  []float64
		lastConfirmed              time.Time
		errSample                  atomic.Value
	)
	start := make(chan struct{})
	var begin time.Time
	for i, b := range all {
		wg.Go(func() {
			qty := 1 + rand.IntN(*maxQty) //nolint:gosec // load shape
			<-start
			t0 := time.Now()
			status, err := checkout(ctx, c, b, sku, qty, totals[qty], address, i)
			lat := float64(time.Since(t0).Microseconds()) / 1000
			mu.Lock()
			latencies = append(latencies, lat)
			if status == orderv1.OrderStatus_ORDER_STATUS_CONFIRMED {
				lastConfirmed = time.Now()
			}
			mu.Unlock()
			switch {
			case err != nil:
				errs.Add(1)
				errSample.Store(err.Error())
			case status == orderv1.OrderStatus_ORDER_STATUS_CONFIRMED:
				sold.Add(int64(qty))
			case status == orderv1.OrderStatus_ORDER_STATUS_REJECTED:
				rejected.Add(1)
			default:
				errs.Add(1)
				errSample.Store("ended " + status.String())
			}
			done.Add(1)
		})
	}
	stopBar := progress(&sold, &done, *units, int64(*buyers))
	begin = time.Now()
	close(start)
	wg.Wait()
	stopBar()
	if s, ok := errSample.Load().(string); ok {
		fmt.Fprintln(os.Stderr, "an error:", s)
	}
	slices.Sort(latencies)
	sellout := 0.0
	if !lastConfirmed.IsZero() {
		sellout = lastConfirmed.Sub(begin).Seconds()
	}

	oversold, committed, err := balance(ctx, cfg, sku)
	if err != nil {
		return err
	}
	if committed != sold.Load() {
		return fmt.Errorf("inventory counts %d units sold, but the confirmed orders hold %d", committed, sold.Load())
	}
	fmt.Printf("flashsale buyers=%d units=%d sold=%d rejected=%d errors=%d sellout_s=%.2f p99_ms=%.0f oversold=%d\n",
		*buyers, *units, sold.Load(), rejected.Load(), errs.Load(), sellout, latencies[int(float64(len(latencies)-1)*0.99)], oversold)
	if oversold != 0 || errs.Load() != 0 {
		return fmt.Errorf("oversold %d, errors %d", oversold, errs.Load())
	}
	return nil
}

func checkout(ctx context.Context, c shopper.Clients, b shopper.Customer, sku string, qty int, total int64, address *commonv1.PostalAddress, n int) (orderv1.OrderStatus, error) {
	last, err := c.Checkout(ctx, b.Token, &orderv1.PlaceOrderRequest{
		UserId: b.ID, IdempotencyKey: fmt.Sprintf("flash-%s-%d", sku, n),
		Source:          &orderv1.PlaceOrderRequest_Lines{Lines: &orderv1.ExplicitLines{Lines: []*orderv1.LineRequest{{Sku: sku, Quantity: int32(qty)}}}},
		ShippingAddress: address, Email: b.ID + "@example.com", PaymentMethodId: b.Card,
		ExpectedTotal: &commonv1.Money{AmountMinor: total, Currency: "EUR"},
	}, 2*time.Minute)
	return last.GetStatus(), err
}

// progress draws a bar of units sold on stderr until stopped.
func progress(sold, done *atomic.Int64, units, buyers int64) func() {
	stop := make(chan struct{})
	finished := make(chan struct{})
	draw := func() {
		const width = 40
		filled := int(min(sold.Load()*width/max(units, 1), width))
		fmt.Fprintf(os.Stderr, "\r[%s%s] %6d/%d units sold, %5d/%d buyers done",
			strings.Repeat("#", filled), strings.Repeat(" ", width-filled), sold.Load(), units, done.Load(), buyers)
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				draw()
				fmt.Fprintln(os.Stderr)
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return func() { close(stop); <-finished }
}

// balance waits for the saga to settle in every service's database (the
// last OrderConfirmed events are still in Order's outbox when the last
// buyer sees CONFIRMED), runs the ledger checks and returns how many
// units of sku were oversold and how many Inventory counts as sold.
func balance(ctx context.Context, cfg mesh.Config, sku string) (oversold, sold int64, err error) {
	pools := map[string]*pgxpool.Pool{}
	defer func() {
		for _, p := range pools {
			p.Close()
		}
	}()
	for _, s := range mesh.Services {
		pool, err := db.Open(ctx, cfg.DatabaseURLOf(s), 2, nil)
		if err != nil {
			return 0, 0, fmt.Errorf("balance check: %w", err)
		}
		pools[s] = pool
	}
	if err := invariants.Settle(ctx, pools, time.Minute); err != nil {
		return 0, 0, fmt.Errorf("balance check: %w", err)
	}
	if err := invariants.Check(ctx, pools); err != nil {
		return 0, 0, fmt.Errorf("balance check: %w", err)
	}
	var received, available, reserved int64
	if err := pools["inventory"].QueryRow(ctx, "SELECT received, available, reserved, sold FROM stock WHERE sku = $1", sku).Scan(&received, &available, &reserved, &sold); err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(os.Stderr, "balance %s: received=%d = available=%d + reserved=%d + sold=%d: ok\n", sku, received, available, reserved, sold)
	return max(reserved+sold-received, 0) + max(-available, 0), sold, nil
}
