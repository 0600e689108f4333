// Command bench-saga measures checkouts end to end. It starts the whole
// mesh in this process on fresh databases, drives concurrent shoppers
// through PlaceOrder, follows each order with WatchOrder until its saga is
// over, checks the invariants, and prints one line:
//
//	saga orders_per_s=... p50_ms=... p95_ms=... p99_ms=... confirmed=... failed=...
//	     cpu_ms_per_order=... go_cpu_ms_per_order=... commits_per_order=...
//	     round_trips_per_order=...
//	     rpcs_per_order=... invariants=ok
//
// Latency is from the PlaceOrder call to the terminal status.
// cpu_ms_per_order is the machine's busy CPU (/proc/stat) over the run and
// the settle, go_cpu_ms_per_order the part this process used (the five
// services and the shoppers' clients; the rest is PostgreSQL and the
// kernel), commits_per_order the five databases' xact_commit,
// round_trips_per_order the mesh's round trips to them (statements sent
// alone and pipelined batches), and rpcs_per_order the RPCs the mesh
// handled (events included), each divided by the confirmed orders. A
// "saga_service service=... commits_per_order=... round_trips_per_order=..."
// line per service follows: where the counts go.
//
// With -otlp-alternate D (and -otlp implied), tracing is switched on and
// off every D within the one run, ABBA (off, on, on, off, ...), and each
// window is measured after a guard of 2 s, in which the previous window's
// orders finish and its spans leave: on a machine whose speed drifts over
// minutes, adjacent windows of one process compare better than separate
// runs. A line per window and one for the run follow the saga line:
//
//	saga_window n=... tracing=on|off orders=... cpu_ms_per_order=... go_cpu_ms_per_order=...
//	saga_alternate pairs=... cpu_ratio_median=... go_cpu_ratio_median=... cpu_ratios=...,...
//
// With -stall SUB, the services reach each other through a proxy that
// holds SUB's deliveries from a third of the run to its end; it then lets
// go and prints one more line, with the backlog's drain rate, the other
// subscribers' delivery p99 before and during the stall, and the events
// SUB lost (sent but never applied) or had parked:
//
//	stall subscriber=cart stalled_s=... backlog=... drain_s=... drain_events_per_s=...
//	      others_p99_before_ms=... others_p99_during_ms=... lost=0 parked=0
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ordermesh/ordermesh/app/components"
	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/invariants"
	"github.com/ordermesh/ordermesh/app/shopper"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/meshtable"
	"github.com/ordermesh/ordermesh/internal/otlpreceiver"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/config"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/logging"
	"github.com/ordermesh/ordermesh/internal/platform/metrics"
	"github.com/ordermesh/ordermesh/internal/platform/telemetry"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-saga:", err)
		os.Exit(1)
	}
}

type options struct {
	shoppers int
	duration time.Duration
	skus     int
	warmup   time.Duration
}

func run() error {
	var o options
	flag.IntVar(&o.shoppers, "shoppers", 64, "concurrent shoppers")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long new orders are placed")
	flag.IntVar(&o.skus, "skus", 50, "products in the catalog")
	flag.DurationVar(&o.warmup, "warmup", 0, "drive shoppers this long first, settle, then VACUUM ANALYZE the five databases before measuring (as pgbench vacuums before a run): the tables then have rows and statistics, as a running system's do, where a fresh database's plans are made for empty tables")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	stallSub := flag.String("stall", "", "stall this subscriber's deliveries (cart, say) from a third of the run to its end, then let go: prints a \"stall ...\" line with the backlog's drain rate and the other subscribers' delivery p99 before and during the stall")
	otlp := flag.Bool("otlp", false, "trace everything and export over OTLP/HTTP to a local endpoint, which this command runs in a child process (a collector's work is the machine's, not the mesh's go_cpu), to measure telemetry's cost")
	alternate := flag.Duration("otlp-alternate", 0, "switch tracing (-otlp) on and off every this long within the run, and compare adjacent windows (see the package comment); the run should last several of these")
	sink := flag.Bool("otlp-sink", false, "be that endpoint: print its URL, count what arrives until stdin closes, then print the counts (used by -otlp)")
	flag.Parse()
	if *sink {
		return runSink()
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	ctx := context.Background()
	log := logging.New(os.Stderr, "bench-saga", slog.LevelWarn)
	if *alternate > 0 {
		*otlp = true
	}
	if *otlp {
		url, stop, err := startSink(ctx)
		if err != nil {
			return err
		}
		defer stop()
		os.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)             //nolint:errcheck,gosec // read by telemetry.Setup below
		os.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf") //nolint:errcheck,gosec // ditto
		os.Setenv("OTEL_TRACES_EXPORTER", "otlp")                 //nolint:errcheck,gosec // ditto
	}
	// Without -otlp, as in production with no collector: every request
	// gets a trace id for the logs, and nothing is recorded.
	var tcfg telemetry.Config
	if err := config.Load(&tcfg); err != nil {
		return err
	}
	tracing := &switchSampler{}
	tracing.on.Store(true)
	if *alternate > 0 {
		tcfg = tcfg.WithRootSampler(tracing)
	}
	tel, err := telemetry.Setup(ctx, log, tcfg, mesh.Services...)
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(ctx) }()
	cfg := mesh.NewConfig(components.All...)
	if err := config.Load(&cfg); err != nil {
		return err
	}
	if cfg.Auth.SigningKey == "" {
		cfg.Auth.SigningKey = "bench-saga-signing-key-0123456789"
	}
	// Fresh databases for every run, so figures do not depend on history.
	for _, s := range mesh.Services {
		url := strings.ReplaceAll(cfg.DatabaseURL, "{service}", "bench_"+s)
		if err := db.Recreate(ctx, url); err != nil {
			return err
		}
		cfg.SetDatabaseURL(s, url)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	cfg.Server.Addr = ln.Addr().String()
	cfg.Endpoints = allAt(base)
	var st *staller
	if *stallSub != "" {
		// The services reach each other, deliveries included, through
		// the staller; the shoppers call the mesh directly.
		if st, err = startStaller(ctx, base, *stallSub); err != nil {
			return err
		}
		defer st.close()
		cfg.Endpoints = allAt(st.URL)
	}
	cfg.AdminAddr = ""
	m, err := mesh.Build(ctx, log, cfg, components.All, tel)
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- m.Serve(sctx, ln) }()
	shutdown := sync.OnceFunc(func() {
		stop()
		if err := <-served; err != nil {
			fmt.Fprintln(os.Stderr, "bench-saga: server:", err)
		}
		m.Close()
	})
	defer shutdown()

	b, err := setup(ctx, cfg, base, o)
	if err != nil {
		return err
	}
	pools, closePools, err := shopper.OpenDatabases(ctx, cfg)
	if err != nil {
		return err
	}
	defer closePools()
	if o.warmup > 0 {
		if err := b.warm(ctx, log, o, pools); err != nil {
			return err
		}
	}
	commitsBefore, err := commits(ctx, pools)
	if err != nil {
		return err
	}
	rpcsBefore, err := m.Metrics.RPCs()
	if err != nil {
		return err
	}
	tripsBefore, err := m.Metrics.RoundTrips()
	if err != nil {
		return err
	}
	spansBefore, droppedBefore, err := spanCounts(m.Metrics)
	if err != nil {
		return err
	}
	cpuBefore, err := machineBusy()
	if err != nil {
		return err
	}
	ownBefore := processCPU()
	if st != nil {
		time.AfterFunc(o.duration/3, st.stall)
	}
	var windows chan []window
	if *alternate > 0 {
		windows = make(chan []window, 1)
		go func() { windows <- b.alternate(tracing, *alternate, time.Now().Add(o.duration)) }()
	}
	res := b.drive(ctx, log, o)
	if st != nil {
		stalledFor := st.letGo()
		backlog, took, err := drain(ctx, pools, *stallSub, 2*time.Minute)
		if err != nil {
			return err
		}
		lost, parked, err := effects(ctx, pools, *stallSub)
		if err != nil {
			return err
		}
		before, during, nBefore, nDuring := st.p99s()
		fmt.Printf("stall subscriber=%s stalled_s=%.1f backlog=%d drain_s=%.3f drain_events_per_s=%.0f others_p99_before_ms=%.1f others_p99_during_ms=%.1f others_deliveries_before=%d others_deliveries_during=%d lost=%d parked=%d\n",
			*stallSub, stalledFor.Seconds(), backlog, took.Seconds(), float64(backlog)/max(took.Seconds(), 1e-9), before, during, nBefore, nDuring, lost, parked)
	}

	verdict := "ok"
	if err := invariants.Settle(ctx, pools, 2*time.Minute); err != nil {
		verdict = "timeout"
	} else if err := invariants.Check(ctx, pools); err != nil {
		fmt.Fprintln(os.Stderr, err)
		verdict = "broken"
	}
	cpuAfter, err := machineBusy() // the settle included: its work is the orders'
	if err != nil {
		return err
	}
	ownAfter := processCPU()
	rpcsAfter, err := m.Metrics.RPCs()
	if err != nil {
		return err
	}
	tripsAfter, err := m.Metrics.RoundTrips()
	if err != nil {
		return err
	}
	spansAfter, droppedAfter, err := spanCounts(m.Metrics)
	if err != nil {
		return err
	}
	// A backend sends its commit counts to the statistics when it exits
	// (or at most once a second while busy): stop the mesh and close its
	// pools before reading them.
	shutdown()
	commitsAfter, err := commits(ctx, pools)
	if err != nil {
		return err
	}
	orders := float64(max(res.confirmed, 1))
	slices.Sort(res.latencies)
	var commitsTotal int64
	var tripsTotal float64
	for _, s := range mesh.Services {
		commitsTotal += commitsAfter[s] - commitsBefore[s]
		tripsTotal += tripsAfter[s] - tripsBefore[s]
	}
	fmt.Printf("saga orders_per_s=%.1f p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f confirmed=%d failed=%d cpu_ms_per_order=%.2f go_cpu_ms_per_order=%.2f commits_per_order=%.1f round_trips_per_order=%.1f rpcs_per_order=%.1f invariants=%s\n",
		float64(len(res.latencies))/res.elapsed.Seconds(), pct(res.latencies, 50), pct(res.latencies, 95), pct(res.latencies, 99),
		res.confirmed, res.failed, float64((cpuAfter-cpuBefore).Milliseconds())/orders, float64((ownAfter-ownBefore).Milliseconds())/orders,
		float64(commitsTotal)/orders, tripsTotal/orders, (rpcsAfter-rpcsBefore)/orders, verdict)
	// Where they go: the same counts per service, which is what a change
	// to one service's consumer moves.
	for _, s := range mesh.Services {
		fmt.Printf("saga_service service=%s commits_per_order=%.2f round_trips_per_order=%.2f\n",
			s, float64(commitsAfter[s]-commitsBefore[s])/orders, (tripsAfter[s]-tripsBefore[s])/orders)
	}
	if *otlp {
		// What tracing exported, so that its cost can be put per span.
		var spans, dropped float64
		for _, s := range mesh.Services {
			spans += spansAfter[s] - spansBefore[s]
			dropped += droppedAfter[s] - droppedBefore[s]
		}
		fmt.Printf("saga_telemetry spans_per_order=%.1f dropped_per_order=%.2f\n", spans/orders, dropped/orders)
		for _, s := range mesh.Services {
			fmt.Printf("saga_telemetry_service service=%s spans_per_order=%.1f spans_per_s=%.0f\n",
				s, (spansAfter[s]-spansBefore[s])/orders, (spansAfter[s]-spansBefore[s])/res.elapsed.Seconds())
		}
	}
	if windows != nil {
		printWindows(<-windows)
	}
	if verdict != "ok" {
		return fmt.Errorf("invariants %s", verdict)
	}
	return nil
}

// switchSampler records every trace while on, and none while off.
type switchSampler struct{ on atomic.Bool }

func (s *switchSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if s.on.Load() {
		return sdktrace.AlwaysSample().ShouldSample(p)
	}
	return sdktrace.NeverSample().ShouldSample(p)
}

func (s *switchSampler) Description() string { return "bench-saga's on/off switch" }

// window is what one stretch of the run with tracing on or off cost.
type window struct {
	on            bool
	orders        int64
	busy, process time.Duration
}

// alternateGuard is the start of each window that is not measured: the
// orders of the window before finish (p99 is about 0.2 s) and their spans
// are exported (the queue sends at least every second).
const alternateGuard = 2 * time.Second

// alternate switches tracing every `every` until stopAt, in the order off,
// on, on, off, off, on, ... (so that a drift cancels within two pairs),
// and measures each window after its guard.
func (b *bench) alternate(s *switchSampler, every time.Duration, stopAt time.Time) []window {
	var out []window
	for i := 0; time.Until(stopAt) >= every; i++ {
		on := i%4 == 1 || i%4 == 2
		s.on.Store(on)
		time.Sleep(min(alternateGuard, every/2))
		w := window{on: on, orders: -b.done.Load(), busy: -mustBusy(), process: -processCPU()}
		time.Sleep(every - min(alternateGuard, every/2))
		w.orders += b.done.Load()
		w.busy += mustBusy()
		w.process += processCPU()
		out = append(out, w)
	}
	s.on.Store(true)
	return out
}

func mustBusy() time.Duration {
	d, err := machineBusy()
	if err != nil {
		panic(err) // read once already before the run
	}
	return d
}

// printWindows prints a line per window and the median ratios of the
// pairs (on over off, each pair two adjacent windows).
func printWindows(ws []window) {
	perOrder := func(d time.Duration, n int64) float64 { return float64(d.Microseconds()) / 1000 / float64(max(n, 1)) }
	for i, w := range ws {
		fmt.Printf("saga_window n=%d tracing=%s orders=%d cpu_ms_per_order=%.3f go_cpu_ms_per_order=%.3f\n",
			i, map[bool]string{true: "on", false: "off"}[w.on], w.orders, perOrder(w.busy, w.orders), perOrder(w.process, w.orders))
	}
	var cpu, goCPU []float64
	for i := 0; i+1 < len(ws); i += 2 {
		on, off := ws[i], ws[i+1]
		if off.on {
			on, off = off, on
		}
		cpu = append(cpu, perOrder(on.busy, on.orders)/perOrder(off.busy, off.orders))
		goCPU = append(goCPU, perOrder(on.process, on.orders)/perOrder(off.process, off.orders))
	}
	if len(cpu) == 0 {
		fmt.Println("saga_alternate pairs=0: run longer than two windows")
		return
	}
	ratios := make([]string, len(cpu))
	for i, r := range cpu {
		ratios[i] = strconv.FormatFloat(r, 'f', 3, 64)
	}
	fmt.Printf("saga_alternate pairs=%d cpu_ratio_median=%.3f go_cpu_ratio_median=%.3f cpu_ratios=%s\n",
		len(cpu), median(cpu), median(goCPU), strings.Join(ratios, ","))
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spanCounts reads how many spans each service has exported and dropped.
func spanCounts(reg *metrics.Registry) (exported, dropped map[string]float64, err error) {
	if exported, err = reg.ByService("ordermesh_telemetry_spans_exported_total"); err != nil {
		return nil, nil, err
	}
	dropped, err = reg.ByService("ordermesh_telemetry_spans_dropped_total")
	return exported, dropped, err
}

type bench struct {
	clients  shopper.Clients
	shoppers []shopper.Customer
	baskets  []basket
	seq      atomic.Int64 // numbers the idempotency keys, warm-up included
	done     atomic.Int64 // orders confirmed, warm-up included
}

type basket struct {
	lines []*orderv1.LineRequest
	total int64
}

func setup(ctx context.Context, cfg mesh.Config, base string, o options) (*bench, error) {
	merchant, err := auth.Mint(cfg.Auth, "bench-merchant", []auth.Role{auth.RoleMerchant}, time.Hour)
	if err != nil {
		return nil, err
	}
	b := &bench{clients: shopper.NewClients(base)}
	prices := map[string]int64{}
	for i := range o.skus {
		sku := fmt.Sprintf("SKU-%03d", i)
		prices[sku] = int64(500 + 100*i)
		if err := b.clients.NewProduct(ctx, merchant, &catalogv1.CreateProductRequest{
			Sku: sku, Name: "Bench product " + sku, Category: "bench", WeightGrams: 200,
			Price: &commonv1.Money{AmountMinor: prices[sku], Currency: "EUR"},
		}, 1_000_000_000); err != nil {
			return nil, err
		}
	}
	addr := address()
	for range 32 {
		var ls []*orderv1.LineRequest
		seen := map[string]bool{}
		for range 1 + rand.IntN(3) {
			sku := fmt.Sprintf("SKU-%03d", rand.IntN(o.skus))
			if !seen[sku] {
				seen[sku] = true
				ls = append(ls, &orderv1.LineRequest{Sku: sku, Quantity: int32(1 + rand.IntN(2))})
			}
		}
		q, err := b.clients.Orders.QuoteShipping(ctx, connect.NewRequest(&orderv1.QuoteShippingRequest{ShippingAddress: addr, Lines: ls}))
		if err != nil {
			return nil, fmt.Errorf("quote: %w", err)
		}
		total := q.Msg.GetAmount().GetAmountMinor()
		for _, l := range ls {
			total += prices[l.GetSku()] * int64(l.GetQuantity())
		}
		b.baskets = append(b.baskets, basket{lines: ls, total: total})
	}
	for i := range o.shoppers {
		s, err := b.clients.NewCustomer(ctx, cfg.Auth, fmt.Sprintf("shopper-%d", i), shopper.GoodCard)
		if err != nil {
			return nil, err
		}
		b.shoppers = append(b.shoppers, s)
	}
	return b, nil
}

func address() *commonv1.PostalAddress {
	return &commonv1.PostalAddress{Recipient: "Bench Shopper", Line1: "1 Load Street", City: "Berlin", PostalCode: "10115", CountryCode: "DE"}
}

type result struct {
	latencies         []float64 // ms
	elapsed           time.Duration
	confirmed, failed int64
}

// drive runs every shopper until the duration is over, each placing an
// order and waiting for its end before placing the next.
func (b *bench) drive(ctx context.Context, log *slog.Logger, o options) result {
	var (
		mu     sync.Mutex
		res    result
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	before := b.done.Load()
	start := time.Now()
	stopAt := start.Add(o.duration)
	for _, s := range b.shoppers {
		wg.Go(func() {
			for time.Now().Before(stopAt) {
				bk := b.baskets[rand.IntN(len(b.baskets))]
				t0 := time.Now()
				status, err := b.checkout(ctx, s, bk, b.seq.Add(1))
				ms := float64(time.Since(t0).Microseconds()) / 1000
				if err != nil || status != orderv1.OrderStatus_ORDER_STATUS_CONFIRMED {
					failed.Add(1)
					if err != nil {
						log.Warn("checkout failed", slog.Any("error", err))
					}
				} else {
					b.done.Add(1)
				}
				mu.Lock()
				res.latencies = append(res.latencies, ms)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.confirmed, res.failed = b.done.Load()-before, failed.Load()
	return res
}

// warm drives shoppers for o.warmup, waits until every event is applied,
// and vacuums and analyzes every database. Plans a connection prepared
// while its tables were empty (a sequential scan is cheapest then) are
// made again from the new statistics, as autovacuum would have them made
// within a minute of a fresh deployment's first orders.
func (b *bench) warm(ctx context.Context, log *slog.Logger, o options, pools map[string]*pgxpool.Pool) error {
	w := o
	w.duration = o.warmup
	res := b.drive(ctx, log, w)
	if err := invariants.Settle(ctx, pools, 2*time.Minute); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	for name, p := range pools {
		if _, err := p.Exec(ctx, "VACUUM ANALYZE"); err != nil {
			return fmt.Errorf("warm-up: vacuum %s: %w", name, err)
		}
	}
	// An idle backend sends its commit counts to the statistics within
	// PGSTAT_IDLE_INTERVAL (10 s in PostgreSQL 15): wait for them, so that
	// the warm-up's commits are not counted as the run's (after 2 s, 0.3
	// commits per order still were).
	time.Sleep(12 * time.Second)
	fmt.Fprintf(os.Stderr, "bench-saga: warmed up with %d orders\n", res.confirmed)
	return nil
}

func (b *bench) checkout(ctx context.Context, s shopper.Customer, bk basket, n int64) (orderv1.OrderStatus, error) {
	last, err := b.clients.Checkout(ctx, s.Token, &orderv1.PlaceOrderRequest{
		UserId: s.ID, IdempotencyKey: fmt.Sprintf("bench-%d-%s", n, s.ID), Source: &orderv1.PlaceOrderRequest_Lines{Lines: &orderv1.ExplicitLines{Lines: bk.lines}},
		ShippingAddress: address(), Email: s.ID + "@example.com", PaymentMethodId: s.Card,
		ExpectedTotal: &commonv1.Money{AmountMinor: bk.total, Currency: "EUR"},
	}, 60*time.Second)
	return last.GetStatus(), err
}

// commits reads the committed transactions of each of the five
// databases, from pg_stat_database. Every statement sent outside a
// transaction counts as one.
func commits(ctx context.Context, pools map[string]*pgxpool.Pool) (map[string]int64, error) {
	out := map[string]int64{}
	for name, p := range pools {
		var n int64
		if err := p.QueryRow(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").Scan(&n); err != nil {
			return nil, fmt.Errorf("%s commits: %w", name, err)
		}
		out[name] = n
	}
	return out, nil
}

// processCPU is the CPU time this process (the mesh and the shoppers) has
// used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy is the CPU time every core of the machine has spent busy
// since boot, from /proc/stat (user, nice, system, irq, softirq): the
// mesh, PostgreSQL and the shoppers together, which is what an order
// costs.
func machineBusy() (time.Duration, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("cpu_ms_per_order needs /proc/stat: %w", err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat: %q", line)
	}
	var busy int64
	for i, f := range fields[1:9] {
		if i == 3 || i == 4 || i == 7 { // idle, iowait, and steal: time the hypervisor gave to others
			continue
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/stat: %q", line)
		}
		busy += n
	}
	const userHz = 100 // USER_HZ, 100 on every Linux architecture Go runs on
	return time.Duration(busy) * time.Second / userHz, nil
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// allAt points every service's endpoint at url.
func allAt(url string) meshtable.Endpoints {
	var e meshtable.Endpoints
	for _, s := range meshtable.Services {
		*e.Of(s) = url
	}
	return e
}

// startSink runs this command as the OTLP endpoint in a child process and
// returns its URL, and a stop that closes it and copies its counts to
// stderr.
func startSink(ctx context.Context) (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, self, "-otlp-sink") //nolint:gosec // this very binary
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return "", nil, fmt.Errorf("otlp sink: %w", err)
	}
	return strings.TrimSpace(line), func() { _ = in.Close(); _ = cmd.Wait() }, nil
}

// runSink is the endpoint startSink runs: it counts what arrives until its
// stdin closes.
func runSink() error {
	rcv, err := otlpreceiver.Start(context.Background(), false)
	if err != nil {
		return err
	}
	fmt.Println(rcv.URL)
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = rcv.Close()
	requests, _, bytes, failed := rcv.Stats()
	fmt.Fprintf(os.Stderr, "otlp: received %d export requests, %d bytes, %d refused\n", requests, bytes, failed)
	return nil
}
