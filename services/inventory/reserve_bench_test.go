package inventory_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
	"github.com/ordermesh/ordermesh/services/inventory"
	"github.com/ordermesh/ordermesh/services/inventory/internal/service"
	"github.com/ordermesh/ordermesh/services/inventory/inventorytest"
)

// BenchmarkReserve reserves stock in process (no server), batched and
// naive, with 64 and 512 concurrent callers on each of inventorytest's
// mixes (one hot SKU; carts over 100 SKUs, most picks among 5).
//
// Each sub-benchmark runs on a fresh database and reports reserved/s and
// the ledger's check; an oversold unit or a broken ledger fails it. The
// same comparison through the Connect server is `make bench-hotpath`
// (cmd/bench-hotpath), which prints the batch over naive ratios.
//
//	go test -run '^$' -bench BenchmarkReserve -benchtime 3s ./services/inventory/
func BenchmarkReserve(b *testing.B) {
	for _, mix := range []string{inventorytest.Hot1, inventorytest.Cart} {
		for _, callers := range []int{64, 512} {
			for _, mode := range []string{service.ModeNaive, service.ModeBatch} {
				b.Run(fmt.Sprintf("mix=%s/callers=%d/mode=%s", mix, callers, mode), func(b *testing.B) {
					benchmarkReserve(b, mode, mix, callers)
				})
			}
		}
	}
}

func benchmarkReserve(b *testing.B, mode, mix string, callers int) {
	ctx := context.Background()
	pool, err := db.Open(ctx, dbtest.New(b, mesh.Migrations(inventory.Component)...).URL, 32, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	skus := inventorytest.SKUs(mix)
	if _, err := pool.Exec(ctx, `INSERT INTO stock (sku, available, received) SELECT unnest($1::text[]), $2, $2`, skus, 100_000_000); err != nil {
		b.Fatal(err)
	}
	svc := newInventory(b, pool, mode)
	if mode == service.ModeBatch {
		run(b, svc)
	}
	var reserved, failed atomic.Int64
	var seed atomic.Uint64
	b.SetParallelism(max(callers/runtime.GOMAXPROCS(0), 1))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(seed.Add(1), 42))
		for pb.Next() {
			var lines []service.Line
			for _, l := range inventorytest.Basket(rng, mix, skus) {
				lines = append(lines, service.Line{SKU: l.SKU, Quantity: l.Quantity})
			}
			res, err := svc.Reserve(ctx, uuid.NewString(), lines)
			switch {
			case err != nil:
				failed.Add(1)
			case res.Reserved:
				reserved.Add(1)
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(reserved.Load())/elapsed.Seconds(), "reserved/s")
	if n := failed.Load(); n > 0 {
		b.Errorf("%d reservations failed", n)
	}
	ledgerOK(b, pool)
}
