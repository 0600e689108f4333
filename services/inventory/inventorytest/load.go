// Package inventorytest draws the reservation load Inventory's benchmarks
// use, the same in process (BenchmarkReserve) and over RPC
// (cmd/bench-hotpath), so their figures compare.
package inventorytest

import (
	"fmt"
	"math/rand/v2"
)

// The mixes of orders:
//   - Hot1: every order is one unit of one hot SKU;
//   - Cart: carts of 1 to 4 distinct SKUs over 100, four in five picks
//     among the first 5.
const (
	Hot1 = "hot1"
	Cart = "cart"
)

// Line is one line of an order to reserve.
type Line struct {
	SKU      string
	Quantity int64
}

// SKUs returns the SKUs a mix draws from.
func SKUs(mix string) []string {
	if mix == Hot1 {
		return []string{"HOT-0"}
	}
	skus := make([]string, 100)
	for i := range skus {
		skus[i] = fmt.Sprintf("SKU-%03d", i)
	}
	return skus
}

// Basket draws an order's lines for mix from skus (SKUs(mix)).
func Basket(rng *rand.Rand, mix string, skus []string) []Line {
	if mix == Hot1 {
		return []Line{{SKU: skus[0], Quantity: 1}}
	}
	n := 1 + rng.IntN(4)
	seen := map[string]bool{}
	var lines []Line
	for len(lines) < n {
		sku := skus[5+rng.IntN(len(skus)-5)]
		if rng.IntN(5) < 4 {
			sku = skus[rng.IntN(5)]
		}
		if !seen[sku] {
			seen[sku] = true
			lines = append(lines, Line{SKU: sku, Quantity: int64(1 + rng.IntN(2))})
		}
	}
	return lines
}
