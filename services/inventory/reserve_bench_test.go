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

	"github.com/ordermesh/ordermesh/internal/mesh"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
	"github.com/ordermesh/ordermesh/services/inventory/internal/service"
)

// BenchmarkReserve reserves stock in process (no server), batched and
// naive, with 64 and 512 concurrent callers on each mix:
//
//   - hot1: every order is one unit of one hot SKU;
//   - cart: carts of 1 to 4 SKUs over 100, four in five picks among 5 hot
//     ones.
//
// Each sub-benchmark runs on a fresh database and reports reserved/s and
// the ledger's check; an oversold unit or a broken ledger fails it. The
// same comparison through the Connect server is `make bench-hotpath`
// (cmd/bench-hotpath), which prints the batch over naive ratios.
//
//	go test -run '^$' -bench BenchmarkReserve -benchtime 3s ./services/inventory/
func BenchmarkReserve(b *testing.B) {
	for _, mix := range []string{"hot1", "cart"} {
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
	pool, err := db.Open(ctx, dbtest.New(b, mesh.Migrations("inventory")...).URL, 32, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	skus := benchSKUs(mix)
	if _, err := pool.Exec(ctx, `INSERT INTO stock (sku, available, received) SELECT unnest($1::text[]), $2, $2`, skus, 100_000_000); err != nil {
		b.Fatal(err)
	}
	svc := inventory(b, pool, mode)
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
			res, err := svc.Reserve(ctx, uuid.NewString(), benchBasket(rng, mix, skus))
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

func benchSKUs(mix string) []string {
	if mix == "hot1" {
		return []string{"HOT-0"}
	}
	skus := make([]string, 100)
	for i := range skus {
		skus[i] = fmt.Sprintf("SKU-%03d", i)
	}
	return skus
}

// benchBasket draws an order's lines for mix.
func benchBasket(rng *rand.Rand, mix string, skus []string) []service.Line {
	if mix == "hot1" {
		return []service.Line{{SKU: skus[0], Quantity: 1}}
	}
	n := 1 + rng.IntN(4)
	seen := map[string]bool{}
	var lines []service.Line
	for len(lines) < n {
		sku := skus[5+rng.IntN(len(skus)-5)]
		if rng.IntN(5) < 4 {
			sku = skus[rng.IntN(5)]
		}
		if !seen[sku] {
			seen[sku] = true
			lines = append(lines, service.Line{SKU: sku, Quantity: int64(1 + rng.IntN(2))})
		}
	}
	return lines
}
