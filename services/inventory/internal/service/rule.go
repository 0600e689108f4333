package service

import (
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// The allocation rule, written once for both modes: the naive mode applies
// it to one order in a transaction of its own (reserve), the batch mode to
// every order of a batch in one transaction (allocate).

// answer is the outcome an order's recorded reservation gives again, so a
// repeated request or a redelivered event never allocates twice.
func answer(status string, expiresAt *time.Time) Result {
	res := Result{
		Reserved:  status == StatusHeld || status == StatusSold,
		Cancelled: status == StatusCancelled || status == StatusReleased,
	}
	if expiresAt != nil {
		res.ExpiresAt = *expiresAt
	}
	return res
}

// allot decides one order, whose lines are merged, against the units still
// available: every line or none, first come first served. With strict an
// unknown SKU is an error; otherwise it is a shortage of zero units. A
// reserved order's units are taken from available, so the next order of a
// batch sees what is left.
func allot(lines []Line, available map[string]int64, strict bool, expiresAt time.Time) (Result, error) {
	var short []ShortLine
	for _, l := range lines {
		avail, known := available[l.SKU]
		if !known && strict {
			return Result{}, rpcerr.Errorf(ErrUnknownSKU, "SKU %q has never been stocked", l.SKU)
		}
		if avail < l.Quantity {
			short = append(short, ShortLine{SKU: l.SKU, Requested: l.Quantity, Available: avail})
		}
	}
	if len(short) > 0 {
		return Result{Short: short}, nil
	}
	for _, l := range lines {
		available[l.SKU] -= l.Quantity
	}
	return Result{Reserved: true, ExpiresAt: expiresAt}, nil
}

// decision is the reservation row that remembers what was decided for an
// order, which the caller then records: held until the result's expiry,
// or rejected.
func decision(orderID string, lines []Line, res Result) Reservation {
	r := Reservation{OrderID: orderID, Status: StatusRejected, Lines: lines}
	if res.Reserved {
		expires := res.ExpiresAt
		r.Status, r.ExpiresAt = StatusHeld, &expires
	}
	return r
}

// outcome is what Inventory says about an OrderPlaced: StockReserved,
// carrying what Payment needs, or StockRejected naming the short lines.
func outcome(placed *eventsv1.OrderPlaced, res Result) proto.Message {
	if res.Reserved {
		return &eventsv1.StockReserved{
			UserId: placed.GetUserId(), Lines: placed.GetLines(), Total: placed.GetTotal(), PaymentMethodId: placed.GetPaymentMethodId(),
		}
	}
	rejected := &eventsv1.StockRejected{}
	for _, sl := range res.Short {
		rejected.ShortLines = append(rejected.ShortLines, &eventsv1.ShortLine{Sku: sl.SKU, Requested: int32(sl.Requested), Available: sl.Available})
	}
	return rejected
}

// linesOf reads an OrderPlaced's lines.
func linesOf(placed *eventsv1.OrderPlaced) []Line {
	lines := make([]Line, len(placed.GetLines()))
	for i, l := range placed.GetLines() {
		lines[i] = Line{SKU: l.GetSku(), Quantity: int64(l.GetQuantity())}
	}
	return lines
}
