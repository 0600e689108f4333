package service

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// Request is one order's reservation, from the Reserve RPC or from an
// OrderPlaced event.
type Request struct {
	OrderID   string
	Lines     []Line
	ExpiresAt time.Time
	// Event is the OrderPlaced event the request comes from, nil for the
	// RPC. Its id goes into the inbox in the batch's transaction and its
	// outcome is emitted as StockReserved or StockRejected.
	Event *eventsv1.Envelope
	// Trace is the span of the request, which its outcome event continues.
	Trace trace.SpanContext
}

// Outcome answers one request.
type Outcome struct {
	Result
	// Err is the request's own error; it never fails the others.
	Err error
	// Duplicate means the request's event was applied before.
	Duplicate bool
}

// ErrUnknownSKU and ErrOrderReused are per-request errors of the RPC path.
var (
	ErrUnknownSKU  = rpcerr.New(rpcerr.KindNotFound, "unknown SKU")
	ErrOrderReused = rpcerr.New(rpcerr.KindExists, "the order was reserved with other lines")
)

// BatchTx is the store inside one batch's transaction. Every method takes
// the whole batch, so a batch costs a handful of statements whatever its
// size.
type BatchTx interface {
	// RecordInbox records events and returns the ids that were new.
	RecordInbox(ctx context.Context, events []*eventsv1.Envelope) (map[string]bool, error)
	// Statuses returns the recorded status of those orders that have one.
	Statuses(ctx context.Context, orderIDs []string) (map[string]string, error)
	// LockAvailable locks the SKUs in SKU order and returns their available
	// units; unknown SKUs are absent.
	LockAvailable(ctx context.Context, skus []string) (map[string]int64, error)
	// Commit writes the allocation with one statement: the new
	// reservations and their lines, and each SKU's total moved from
	// available to reserved by one UPDATE ... CASE. If another instance
	// reserved one of the orders meanwhile it returns ErrBatchConflict and
	// the caller runs the batch again.
	Commit(ctx context.Context, a Allocation) error
	// EmitAll adds StockReserved/StockRejected events to the outbox.
	EmitAll(ctx context.Context, events []Emission) error
}

// Allocation is what one batch decided.
type Allocation struct {
	Reservations []Reservation    // new reservations, held or rejected, with lines
	Totals       map[string]int64 // units per SKU moving to reserved
}

// ErrBatchConflict means another instance reserved one of the batch's
// orders between the batch's read and its write.
var ErrBatchConflict = errors.New("an order of the batch was reserved concurrently")

// Emission is an event to emit about an order.
type Emission struct {
	OrderID string
	Payload proto.Message // *eventsv1.StockReserved or *eventsv1.StockRejected
	Trace   trace.SpanContext
}

// allocate serves one batch in tx: first come, first served, all or
// nothing per order. It returns one outcome per request, in order.
//
// Orders are nearly always new, so the first attempt does not look for
// known ones: Commit notices a known order (its reservation row exists)
// and fails with ErrBatchConflict, and the batch runs again with
// lookKnown, which answers known orders with their first outcome.
func allocate(ctx context.Context, tx BatchTx, reqs []Request, lookKnown bool) ([]Outcome, error) {
	out := make([]Outcome, len(reqs))
	live := make([]int, 0, len(reqs)) // requests still to serve

	// Events applied before are acknowledged and dropped.
	var evs []*eventsv1.Envelope
	for _, r := range reqs {
		if r.Event != nil {
			evs = append(evs, r.Event)
		}
	}
	fresh := map[string]bool{}
	if len(evs) > 0 {
		var err error
		if fresh, err = tx.RecordInbox(ctx, evs); err != nil {
			return nil, err
		}
	}
	// The first request for an order serves it; a repeat within the batch
	// shares its outcome, or is refused when its lines differ.
	first := map[string]int{}
	for i, r := range reqs {
		r.Lines = merge(r.Lines)
		reqs[i] = r
		if r.Event != nil && !fresh[r.Event.GetId()] {
			out[i].Duplicate = true
			continue
		}
		if j, seen := first[r.OrderID]; seen {
			if !slices.Equal(reqs[j].Lines, r.Lines) {
				out[i].Err = rpcerr.Errorf(ErrOrderReused, "order %s was reserved with other lines", r.OrderID)
			}
			continue
		}
		first[r.OrderID] = i
		live = append(live, i)
	}

	ids := make([]string, len(live))
	for k, i := range live {
		ids[k] = reqs[i].OrderID
	}
	// Orders seen before get their first outcome again.
	statuses := map[string]string{}
	if lookKnown {
		var err error
		if statuses, err = tx.Statuses(ctx, ids); err != nil {
			return nil, err
		}
	}
	var skus []string
	for _, i := range live {
		if _, known := statuses[reqs[i].OrderID]; !known {
			for _, l := range reqs[i].Lines {
				skus = append(skus, l.SKU)
			}
		}
	}
	slices.Sort(skus)
	skus = slices.Compact(skus)
	available, err := tx.LockAvailable(ctx, skus)
	if err != nil {
		return nil, err
	}

	alloc := Allocation{Totals: map[string]int64{}}
	var emit []Emission
	for _, i := range live {
		r := reqs[i]
		if st, known := statuses[r.OrderID]; known {
			out[i].Result = Result{Reserved: st == StatusHeld || st == StatusSold, Cancelled: st == StatusCancelled || st == StatusReleased}
			if r.Event != nil && !out[i].Cancelled {
				emit = append(emit, outcomeEvent(r, out[i].Result))
			}
			continue
		}
		var short []ShortLine
		unknown := ""
		for _, l := range r.Lines {
			avail, ok := available[l.SKU]
			if !ok && unknown == "" {
				unknown = l.SKU
			}
			if avail < l.Quantity {
				short = append(short, ShortLine{SKU: l.SKU, Requested: l.Quantity, Available: avail})
			}
		}
		res := Reservation{OrderID: r.OrderID, Status: StatusRejected, Lines: r.Lines}
		switch {
		case unknown != "" && r.Event == nil:
			out[i].Err = rpcerr.Errorf(ErrUnknownSKU, "SKU %q has never been stocked", unknown)
		case len(short) > 0:
			out[i].Result = Result{Short: short}
		default:
			for _, l := range r.Lines {
				available[l.SKU] -= l.Quantity
				alloc.Totals[l.SKU] += l.Quantity
			}
			expires := r.ExpiresAt
			res.Status, res.ExpiresAt = StatusHeld, &expires
			out[i].Result = Result{Reserved: true, ExpiresAt: r.ExpiresAt}
		}
		alloc.Reservations = append(alloc.Reservations, res)
		if out[i].Err != nil {
			continue
		}
		if r.Event != nil {
			emit = append(emit, outcomeEvent(r, out[i].Result))
		}
	}
	if len(alloc.Reservations) > 0 {
		if err := tx.Commit(ctx, alloc); err != nil {
			return nil, err
		}
	}
	if err := tx.EmitAll(ctx, emit); err != nil {
		return nil, err
	}
	// Repeats within the batch share the first request's outcome.
	for i, r := range reqs {
		if j, ok := first[r.OrderID]; ok && j != i && !out[i].Duplicate && out[i].Err == nil {
			out[i] = out[j]
		}
	}
	return out, nil
}

// outcomeEvent is what Inventory says about a request from OrderPlaced.
func outcomeEvent(r Request, res Result) Emission {
	p := r.Event.GetOrderPlaced()
	if res.Reserved {
		return Emission{OrderID: r.OrderID, Trace: r.Trace, Payload: &eventsv1.StockReserved{
			UserId: p.GetUserId(), Lines: p.GetLines(), Total: p.GetTotal(), PaymentMethodId: p.GetPaymentMethodId(),
		}}
	}
	rejected := &eventsv1.StockRejected{}
	for _, sl := range res.Short {
		rejected.ShortLines = append(rejected.ShortLines, &eventsv1.ShortLine{Sku: sl.SKU, Requested: int32(sl.Requested), Available: sl.Available})
	}
	return Emission{OrderID: r.OrderID, Trace: r.Trace, Payload: rejected}
}
