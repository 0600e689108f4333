// Command bench-hotpath compares Inventory's batched reservations with the
// naive one-transaction-per-order baseline. Every run starts on a fresh
// database, drives concurrent callers through Reserve for a fixed time,
// checks the ledger, and prints one line:
//
//	hotpath mode=<naive|batch> path=<inprocess|rpc> callers=<N> mix=<hot1|cart> reserved_per_s=<x> p50_ms=<x> p99_ms=<x> oversold=0 errors=0
//
// and finally, for each path, caller count and mix:
//
//	ratio path=<p> callers=<N> mix=<m> batch_over_naive=<x>
//
// Every call goes through the real Connect server (authentication,
// validation, error mapping) over h2c: path=rpc. The same comparison in
// process, without the server, is BenchmarkReserve in services/inventory
// (`make bench-hotpath` runs both). The hot1 mix is one hot SKU; the cart
// mix is carts of 1 to 4 SKUs over 100 SKUs, four in five picks going to 5
// hot ones.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/invariants"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/component"
	"github.com/ordermesh/ordermesh/internal/platform/config"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/rpcclient"
	"github.com/ordermesh/ordermesh/services/inventory"
	"github.com/ordermesh/ordermesh/services/inventory/inventorytest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-hotpath:", err)
		os.Exit(1)
	}
}

type runSpec struct {
	mode, path, mix string
	callers         int
}

func run() error {
	duration := flag.Duration("duration", 3*time.Second, "length of each run")
	callersFlag := flag.String("callers", "64,512", "comma-separated caller counts")
	modes := flag.String("modes", "naive,batch", "comma-separated modes")
	mixes := flag.String("mixes", "hot1,cart", "comma-separated mixes")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of all runs to this file")
	flag.Parse()
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

	var specs []runSpec
	for _, mix := range strings.Split(*mixes, ",") {
		for _, c := range strings.Split(*callersFlag, ",") {
			var n int
			if _, err := fmt.Sscan(c, &n); err != nil {
				return fmt.Errorf("callers %q: %w", c, err)
			}
			for _, mode := range strings.Split(*modes, ",") {
				specs = append(specs, runSpec{mode: mode, path: "rpc", mix: mix, callers: n})
			}
		}
	}
	cfg := mesh.NewConfig(inventory.Component)
	if err := config.Load(&cfg); err != nil {
		return err
	}
	if cfg.Auth.SigningKey == "" {
		cfg.Auth.SigningKey = "bench-hotpath-signing-key-0123456789"
	}
	url := strings.ReplaceAll(cfg.DatabaseURL, "{service}", "bench_hotpath")
	rates := map[runSpec]float64{}
	failed := false
	for _, spec := range specs {
		r, err := runOne(context.Background(), cfg, url, spec, *duration)
		if err != nil {
			return fmt.Errorf("%+v: %w", spec, err)
		}
		fmt.Printf("hotpath mode=%s path=%s callers=%d mix=%s reserved_per_s=%.0f p50_ms=%.2f p99_ms=%.2f oversold=%d errors=%d\n",
			spec.mode, spec.path, spec.callers, spec.mix, r.perSecond, r.p50, r.p99, r.oversold, r.errors)
		rates[spec] = r.perSecond
		failed = failed || r.oversold > 0 || r.errors > 0 || r.ledgerErr != nil
		if r.ledgerErr != nil {
			fmt.Fprintln(os.Stderr, "ledger:", r.ledgerErr)
		}
	}
	for _, spec := range specs {
		if spec.mode != inventory.ModeBatch {
			continue
		}
		naive := spec
		naive.mode = inventory.ModeNaive
		if base, ok := rates[naive]; ok && base > 0 {
			fmt.Printf("ratio path=%s callers=%d mix=%s batch_over_naive=%.1f\n", spec.path, spec.callers, spec.mix, rates[spec]/base)
		}
	}
	if failed {
		return fmt.Errorf("a run oversold, failed calls or broke the ledger")
	}
	return nil
}

type result struct {
	perSecond, p50, p99 float64
	oversold, errors    int64
	ledgerErr           error
}

// reserver is one way of calling Reserve.
type reserver func(ctx context.Context, orderID string, lines []inventorytest.Line) (bool, error)

func runOne(ctx context.Context, cfg mesh.Config, url string, spec runSpec, d time.Duration) (result, error) {
	if err := db.Recreate(ctx, url); err != nil {
		return result{}, err
	}
	pool, err := db.Open(ctx, url, 32, nil)
	if err != nil {
		return result{}, err
	}
	defer pool.Close()
	if err := db.Migrate(ctx, pool, mesh.Migrations(inventory.Component)...); err != nil {
		return result{}, err
	}
	skus := inventorytest.SKUs(spec.mix)
	const initial = 100_000_000
	if _, err := pool.Exec(ctx, `INSERT INTO stock (sku, available, received) SELECT unnest($1::text[]), $2, $2`, skus, initial); err != nil {
		return result{}, err
	}
	inv := mesh.ServiceConfig[inventory.Config](&cfg)
	inv.Mode, inv.ReservationTTL = spec.mode, time.Hour
	reserve, stop, err := overRPC(ctx, cfg, url)
	if err != nil {
		return result{}, err
	}
	defer stop()

	var (
		mu        sync.Mutex
		latencies []float64
		reserved  atomic.Int64
		errs      atomic.Int64
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for c := range spec.callers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			var mine []float64
			for time.Now().Before(deadline) {
				lines := inventorytest.Basket(rng, spec.mix, skus)
				t0 := time.Now()
				ok, err := reserve(ctx, uuid.NewString(), lines)
				mine = append(mine, float64(time.Since(t0).Microseconds())/1000)
				switch {
				case err != nil:
					errs.Add(1)
				case ok:
					reserved.Add(1)
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	var oversold int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(sum(greatest(reserved + sold - received, 0) + greatest(-available, 0)), 0) FROM stock`).Scan(&oversold); err != nil {
		return result{}, err
	}
	return result{
		perSecond: float64(reserved.Load()) / elapsed.Seconds(),
		p50:       pct(latencies, 50), p99: pct(latencies, 99),
		oversold: oversold, errors: errs.Load(),
		ledgerErr: invariants.Check(ctx, map[string]*pgxpool.Pool{"inventory": pool}),
	}, nil
}

func overRPC(ctx context.Context, cfg mesh.Config, url string) (reserver, func(), error) {
	cfg.SetDatabaseURL("inventory", url)
	cfg.DatabaseCreate, cfg.AdminAddr = false, ""
	cfg.DatabaseMaxConns = 32
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	cfg.Server.Addr = ln.Addr().String()
	// Inventory alone: the events it writes are for Order and Payment,
	// which are not here; their deliveries go to a port nothing listens
	// on and wait in the outbox, never to a mesh that runs on this machine.
	nowhere, err := closedPort(ctx)
	if err != nil {
		return nil, nil, err
	}
	cfg.Endpoints.Order, cfg.Endpoints.Payment = nowhere, nowhere
	m, err := mesh.Build(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, []component.Component{inventory.Component}, nil)
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = m.Serve(sctx, ln); close(done) }()
	token, err := auth.Mint(cfg.Auth, "order", []auth.Role{auth.RoleService}, time.Hour) // Order is who reserves
	if err != nil {
		cancel()
		return nil, nil, err
	}
	client := inventoryv1connect.NewInventoryServiceClient(rpcclient.NewHTTPClient(), "http://"+ln.Addr().String())
	reserve := func(ctx context.Context, id string, lines []inventorytest.Line) (bool, error) {
		msg := &inventoryv1.ReserveRequest{OrderId: id}
		for _, l := range lines {
			msg.Lines = append(msg.Lines, &inventoryv1.ReserveLine{Sku: l.SKU, Quantity: int32(l.Quantity)})
		}
		req := connect.NewRequest(msg)
		req.Header().Set("Authorization", "Bearer "+token)
		res, err := client.Reserve(ctx, req)
		if err != nil {
			return false, err
		}
		return res.Msg.GetReserved(), nil
	}
	return reserve, func() { cancel(); <-done; m.Close() }, nil
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p/100)]
}

// closedPort is the URL of a loopback port that was free a moment ago.
func closedPort(ctx context.Context) (string, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return "http://" + ln.Addr().String(), nil
}
