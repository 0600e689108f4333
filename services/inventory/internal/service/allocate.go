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
	// Recorded returns the reservations recorded for those orders that
	// have one (status and expiry; no lines).
	Recorded(ctx context.Context, orderIDs []string) (map[string]Reservation, error)
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

// allocate serves one batch in tx, applying the allocation rule to its
// orders in arrival order. It returns one outcome per request, in order.
//
// Orders are nearly always new, so the first attempt does not look for
// known ones: Commit notices a known order (its reservation row exists)
// and fails with ErrBatchConflict, and the batch runs again with
// lookKnown, which answers known orders with their first outcome.
func allocate(ctx context.Context, tx BatchTx, reqs []Request, lookKnown bool) ([]Outcome, error) {
	b, err := admit(ctx, tx, reqs)
	if err != nil {
		return nil, err
	}
	known, available, err := b.lock(ctx, tx, lookKnown)
	if err != nil {
		return nil, err
	}
	alloc, emit := b.decide(known, available)
	if len(alloc.Reservations) > 0 {
		if err := tx.Commit(ctx, alloc); err != nil {
			return nil, err
		}
	}
	if err := tx.EmitAll(ctx, emit); err != nil {
		return nil, err
	}
	b.shareRepeats()
	return b.out, nil
}

// batch is one batch's requests on their way through allocate's phases.
type batch struct {
	reqs []Request
	out  []Outcome
	// first maps an order to the request that serves it; live lists those
	// requests, in arrival order.
	first map[string]int
	live  []int
}

// admit is the first phase: it records the batch's events in the inbox,
// answers those applied before as duplicates, merges each request's lines,
// and picks the first request of each order to serve it. A repeat within
// the batch shares that request's outcome, or is refused when its lines
// differ.
func admit(ctx context.Context, tx BatchTx, reqs []Request) (*batch, error) {
	b := &batch{reqs: reqs, out: make([]Outcome, len(reqs)), first: map[string]int{}, live: make([]int, 0, len(reqs))}
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
	for i := range reqs {
		r := &reqs[i]
		r.Lines = merge(r.Lines)
		if r.Event != nil && !fresh[r.Event.GetId()] {
			b.out[i].Duplicate = true
			continue
		}
		if j, seen := b.first[r.OrderID]; seen {
			if !slices.Equal(reqs[j].Lines, r.Lines) {
				b.out[i].Err = rpcerr.Errorf(ErrOrderReused, "order %s was reserved with other lines", r.OrderID)
			}
			continue
		}
		b.first[r.OrderID] = i
		b.live = append(b.live, i)
	}
	return b, nil
}

// lock is the second phase: with lookKnown it reads the recorded status of
// orders seen before, and it locks the SKUs the other orders want, in SKU
// order, returning their available units.
func (b *batch) lock(ctx context.Context, tx BatchTx, lookKnown bool) (known map[string]Reservation, available map[string]int64, err error) {
	known = map[string]Reservation{}
	if lookKnown {
		ids := make([]string, len(b.live))
		for k, i := range b.live {
			ids[k] = b.reqs[i].OrderID
		}
		if known, err = tx.Recorded(ctx, ids); err != nil {
			return nil, nil, err
		}
	}
	var skus []string
	for _, i := range b.live {
		if _, seen := known[b.reqs[i].OrderID]; !seen {
			for _, l := range b.reqs[i].Lines {
				skus = append(skus, l.SKU)
			}
		}
	}
	slices.Sort(skus)
	available, err = tx.LockAvailable(ctx, slices.Compact(skus))
	return known, available, err
}

// decide is the third phase: each served order, in arrival order, gets its
// first outcome again if known, or the allocation rule's decision. It
// returns what to write and the events to emit.
func (b *batch) decide(known map[string]Reservation, available map[string]int64) (Allocation, []Emission) {
	alloc := Allocation{Totals: map[string]int64{}}
	var emit []Emission
	for _, i := range b.live {
		r := b.reqs[i]
		if rec, seen := known[r.OrderID]; seen {
			b.out[i].Result = answer(rec.Status, rec.ExpiresAt)
		} else {
			res, err := allot(r.Lines, available, r.Event == nil, r.ExpiresAt)
			if err != nil {
				b.out[i].Err = err
				continue
			}
			b.out[i].Result = res
			alloc.Reservations = append(alloc.Reservations, decision(r.OrderID, r.Lines, res))
			if res.Reserved {
				for _, l := range r.Lines {
					alloc.Totals[l.SKU] += l.Quantity
				}
			}
		}
		if r.Event != nil && !b.out[i].Cancelled {
			emit = append(emit, Emission{OrderID: r.OrderID, Trace: r.Trace, Payload: outcome(r.Event.GetOrderPlaced(), b.out[i].Result)})
		}
	}
	return alloc, emit
}

// shareRepeats is the last phase: repeats within the batch get the
// outcome of the request that served their order.
func (b *batch) shareRepeats() {
	for i, r := range b.reqs {
		if j, ok := b.first[r.OrderID]; ok && j != i && !b.out[i].Duplicate && b.out[i].Err == nil {
			b.out[i] = b.out[j]
		}
	}
}
