// Command steady keeps checkouts flowing through a mesh's entry point
// while something happens to it (a rollout, a restart, a scale to zero),
// and says what the callers saw. Each worker places an order
// (PlaceOrder), watches it to its end (WatchOrder), and reads a product
// (GetProduct), over and over, until steady gets SIGINT or SIGTERM; it
// then lets the orders in flight end and prints one line:
//
//		steady scenario=upgrade calls=... failed=... retried=... streams=... resumed=... orders=... codes=...
//
//	  - calls: the unary calls made (PlaceOrder and GetProduct);
//	  - failed: calls and streams that ended with an error a client must
//	    not retry, or hung past their deadline, and orders that did not end
//	    CONFIRMED;
//	  - retried: unary calls that answered unavailable and were retried
//	    (with the same idempotency key), allowed only with -allow-unavailable
//	    (a service scaled to zero); otherwise they count as failed;
//	  - streams, resumed: WatchOrder streams opened, and those that ended
//	    with unavailable (their server shutting down) and were opened again,
//	    as a client does;
//	  - codes: each error code seen, with its count.
//
// It exits 1 when anything failed. `make k8s-e2e` runs it as a pod in the
// cluster, a client of the gateway's Service, around each rollout
// scenario.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/shopper"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/clientenv"
	"github.com/ordermesh/ordermesh/internal/platform/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "steady:", err)
		os.Exit(1)
	}
}

type options struct {
	scenario         string
	workers          int
	deadline         time.Duration
	allowUnavailable bool
	ready            string
}

func run() error {
	addr := flag.String("addr", clientenv.URL(nil), "base URL of the mesh's entry point; ORDERMESH_URL sets the default")
	var o options
	flag.StringVar(&o.scenario, "scenario", "steady", "name printed on the line")
	flag.IntVar(&o.workers, "workers", 8, "concurrent shoppers")
	flag.DurationVar(&o.deadline, "deadline", 30*time.Second, "deadline of each call, and of each order's watch")
	flag.BoolVar(&o.allowUnavailable, "allow-unavailable", false, "retry calls that answer unavailable instead of counting them as failed (a service scaled to zero)")
	flag.StringVar(&o.ready, "ready-file", "", `create this file once the first orders have confirmed, so a script knows the load runs ("-": print "steady running" instead)`)
	flag.Parse()

	cfg := mesh.NewConfig() // JWT_SIGNING_KEY, as the services read it
	if err := config.Load(&cfg); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c := shopper.NewClients(*addr, connect.WithGRPC())
	run := fmt.Sprintf("%s-%d", o.scenario, time.Now().UnixNano())
	merchant, err := auth.Mint(cfg.Auth, "steady-merchant-"+run, []auth.Role{auth.RoleMerchant}, time.Hour)
	if err != nil {
		return fmt.Errorf("mint a token (set JWT_SIGNING_KEY to the mesh's key): %w", err)
	}
	setup, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sku := "STEADY-" + strings.ToUpper(run)
	if err := c.NewProduct(setup, merchant, &catalogv1.CreateProductRequest{
		Sku: sku, Name: "Steady " + sku, Category: "steady", WeightGrams: 100,
		Price: &commonv1.Money{AmountMinor: 500, Currency: "EUR"},
	}, 1_000_000); err != nil {
		return err
	}
	quote, err := c.Orders.QuoteShipping(setup, connect.NewRequest(&orderv1.QuoteShippingRequest{ShippingAddress: address(), Lines: []*orderv1.LineRequest{{Sku: sku, Quantity: 1}}}))
	if err != nil {
		return fmt.Errorf("quote shipping: %w", err)
	}
	total := 500 + quote.Msg.GetAmount().GetAmountMinor()
	l := &load{o: o, c: c, sku: sku, total: total, codes: map[string]int64{}}
	var wg sync.WaitGroup
	for i := range o.workers {
		who, err := c.NewCustomer(setup, cfg.Auth, fmt.Sprintf("steady-%s-%d", run, i), shopper.GoodCard)
		if err != nil {
			return err
		}
		wg.Go(func() { l.shop(ctx, who) })
	}
	if o.ready != "" {
		go func() {
			for l.orders.Load() == 0 && ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
			}
			if ctx.Err() != nil {
				return
			}
			if o.ready == "-" {
				fmt.Println("steady running")
				return
			}
			_ = os.WriteFile(o.ready, []byte("running\n"), 0o600)
		}()
	}
	wg.Wait()
	fmt.Println(l.line())
	if l.failed.Load() > 0 {
		return fmt.Errorf("%d calls failed during %s", l.failed.Load(), o.scenario)
	}
	return nil
}

func address() *commonv1.PostalAddress {
	return &commonv1.PostalAddress{Recipient: "Steady Shopper", Line1: "1 Rollout Road", City: "Berlin", PostalCode: "10115", CountryCode: "DE"}
}

type load struct {
	o     options
	c     shopper.Clients
	sku   string
	total int64

	calls, failed, retried, streams, resumed, orders atomic.Int64

	mu    sync.Mutex
	codes map[string]int64
}

func (l *load) line() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var codes []string
	for code, n := range l.codes {
		codes = append(codes, fmt.Sprintf("%s:%d", code, n))
	}
	slices.Sort(codes)
	list := strings.Join(codes, ",")
	if list == "" {
		list = "none"
	}
	return fmt.Sprintf("steady scenario=%s calls=%d failed=%d retried=%d streams=%d resumed=%d orders=%d codes=%s",
		l.o.scenario, l.calls.Load(), l.failed.Load(), l.retried.Load(), l.streams.Load(), l.resumed.Load(), l.orders.Load(), list)
}

func (l *load) saw(err error) {
	code := "unknown"
	if errors.Is(err, context.DeadlineExceeded) {
		code = connect.CodeDeadlineExceeded.String()
	} else if ce := new(connect.Error); errors.As(err, &ce) {
		code = ce.Code().String()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.codes[code]++
}

// shop checks out until stop is done; the order in flight is finished.
func (l *load) shop(stop context.Context, who shopper.Customer) {
	// A call or order in flight when stop comes is finished, not cut.
	calls := context.WithoutCancel(stop)
	for n := 0; stop.Err() == nil; n++ {
		l.product(calls)
		id, ok := l.place(stop, calls, who, fmt.Sprintf("%s-%d", who.ID, n))
		if !ok {
			continue
		}
		l.watch(calls, who, id)
	}
}

// unary makes one call with its deadline; an unavailable answer is
// retried while -allow-unavailable and the deadline allow.
func (l *load) unary(parent context.Context, call func(ctx context.Context) error) bool {
	ctx, cancel := context.WithTimeout(parent, l.o.deadline)
	defer cancel()
	for {
		l.calls.Add(1)
		err := call(ctx)
		if err == nil {
			return true
		}
		l.saw(err)
		if l.o.allowUnavailable && connect.CodeOf(err) == connect.CodeUnavailable && ctx.Err() == nil {
			l.retried.Add(1)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		l.failed.Add(1)
		time.Sleep(100 * time.Millisecond) // an entry point that refuses at once is not hammered
		return false
	}
}

func (l *load) product(parent context.Context) {
	l.unary(parent, func(ctx context.Context) error {
		_, err := l.c.Catalog.GetProduct(ctx, connect.NewRequest(&catalogv1.GetProductRequest{Sku: l.sku}))
		return err
	})
}

func (l *load) place(stop, parent context.Context, who shopper.Customer, key string) (string, bool) {
	if stop.Err() != nil {
		return "", false
	}
	var id string
	ok := l.unary(parent, func(ctx context.Context) error {
		res, err := l.c.Orders.PlaceOrder(ctx, shopper.With(&orderv1.PlaceOrderRequest{
			UserId: who.ID, IdempotencyKey: key, ShippingAddress: address(), Email: who.ID + "@example.com",
			PaymentMethodId: who.Card, Source: &orderv1.PlaceOrderRequest_Lines{Lines: &orderv1.ExplicitLines{Lines: []*orderv1.LineRequest{{Sku: l.sku, Quantity: 1}}}},
			ExpectedTotal: &commonv1.Money{AmountMinor: l.total, Currency: "EUR"},
		}, who.Token))
		if err != nil {
			return err
		}
		id = res.Msg.GetOrder().GetId()
		return nil
	})
	return id, ok
}

// watch follows the order to its end within the deadline, opening the
// stream again when it ends with unavailable.
func (l *load) watch(parent context.Context, who shopper.Customer, id string) {
	ctx, cancel := context.WithTimeout(parent, l.o.deadline)
	defer cancel()
	for {
		l.streams.Add(1)
		stream, err := l.c.Orders.WatchOrder(ctx, shopper.With(&orderv1.WatchOrderRequest{OrderId: id}, who.Token))
		var last *orderv1.Order
		if err == nil {
			for stream.Receive() {
				last = stream.Msg().GetOrder()
			}
			err = stream.Err()
			_ = stream.Close()
		}
		switch {
		case err == nil && last.GetStatus() == orderv1.OrderStatus_ORDER_STATUS_CONFIRMED:
			l.orders.Add(1)
			return
		case err == nil:
			l.failed.Add(1)
			l.saw(connect.NewError(connect.CodeAborted, fmt.Errorf("order %s ended %s", id, last.GetStatus())))
			return
		}
		l.saw(err)
		if connect.CodeOf(err) == connect.CodeUnavailable && ctx.Err() == nil {
			l.resumed.Add(1)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		l.failed.Add(1)
		return
	}
}
