package service

import (
	"context"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/services/platform/rpcerr"
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
}

// Outcome answers one request.
type Outcome struct {
	Result
	// Err is the request's own error; it never fails the others.
	Err error
	// Duplicate means the request's event was applied before.
	Duplicate bool
}

var errorf = rpcerr.Errorf

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
	// Claim creates claimed reservation rows for the orders that have none
	// and returns those orders.
	Claim(ctx context.Context, orderIDs []string, expires []time.Time) (map[string]bool, error)
	// Statuses returns the recorded status of orders.
	Statuses(ctx context.Context, orderIDs []string) (map[string]string, error)
	// LockAvailable locks the SKUs in SKU order and returns their available
	// units; unknown SKUs are absent.
	LockAvailable(ctx context.Context, skus []string) (map[string]int64, error)
	// Reserve moves each SKU's total from available to reserved with one
	// UPDATE ... CASE statement.
	Reserve(ctx context.Context, totals map[string]int64) error
	// Resolve sets the claimed orders' statuses and records their lines.
	Resolve(ctx context.Context, statuses map[string]string, lines map[string][]Line) error
	// EmitAll adds StockReserved/StockRejected events to the outbox.
	EmitAll(ctx context.Context, events []Emission) error
}

// Emission is an event to emit about an order.
type Emission struct {
	OrderID string
	Payload proto.Message // *eventsv1.StockReserved or *eventsv1.StockRejected
}

// allocate serves one batch in tx: first come, first served, all or
// nothing per order. It returns one outcome per request, in order.
func allocate(ctx context.Context, tx BatchTx, reqs []Request) ([]Outcome, error) {
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
				out[i].Err = errorf(ErrOrderReused, "order %s was reserved with other lines", r.OrderID)
			}
			continue
		}
		first[r.OrderID] = i
		live = append(live, i)
	}

	ids := make([]string, len(live))
	expires := make([]time.Time, len(live))
	for k, i := range live {
		ids[k], expires[k] = reqs[i].OrderID, reqs[i].ExpiresAt
	}
	claimed, err := tx.Claim(ctx, ids, expires)
	if err != nil {
		return nil, err
	}
	// Orders seen before get their first outcome again.
	var known []string
	for _, id := range ids {
		if !claimed[id] {
			known = append(known, id)
		}
	}
	statuses := map[string]string{}
	if len(known) > 0 {
		if statuses, err = tx.Statuses(ctx, known); err != nil {
			return nil, err
		}
	}
	var skus []string
	for _, i := range live {
		if claimed[reqs[i].OrderID] {
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

	totals := map[string]int64{}
	resolved := map[string]string{}
	lines := map[string][]Line{}
	var emit []Emission
	for _, i := range live {
		r := reqs[i]
		if !claimed[r.OrderID] {
			st := statuses[r.OrderID]
			out[i].Result = Result{Reserved: st == StatusHeld || st == StatusSold, Cancelled: st == StatusCancelled || st == StatusReleased}
			if r.Event != nil && !out[i].Cancelled {
				emit = append(emit, outcomeEvent(r, out[i].Result))
			}
			continue
		}
		lines[r.OrderID] = r.Lines
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
		if unknown != "" && r.Event == nil {
			out[i].Err = errorf(ErrUnknownSKU, "SKU %q has never been stocked", unknown)
			resolved[r.OrderID] = StatusRejected
			continue
		}
		if len(short) > 0 {
			out[i].Result = Result{Short: short}
			resolved[r.OrderID] = StatusRejected
		} else {
			for _, l := range r.Lines {
				available[l.SKU] -= l.Quantity
				totals[l.SKU] += l.Quantity
			}
			out[i].Result = Result{Reserved: true, ExpiresAt: r.ExpiresAt}
			resolved[r.OrderID] = StatusHeld
		}
		if r.Event != nil {
			emit = append(emit, outcomeEvent(r, out[i].Result))
		}
	}
	if len(totals) > 0 {
		if err := tx.Reserve(ctx, totals); err != nil {
			return nil, err
		}
	}
	if len(resolved) > 0 {
		if err := tx.Resolve(ctx, resolved, lines); err != nil {
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
		return Emission{OrderID: r.OrderID, Payload: &eventsv1.StockReserved{
			UserId: p.GetUserId(), Lines: p.GetLines(), Total: p.GetTotal(), PaymentMethodId: p.GetPaymentMethodId(),
		}}
	}
	rejected := &eventsv1.StockRejected{}
	for _, sl := range res.Short {
		rejected.ShortLines = append(rejected.ShortLines, &eventsv1.ShortLine{Sku: sl.SKU, Requested: int32(sl.Requested), Available: sl.Available}) //nolint:gosec // at most 999 per line
	}
	return Emission{OrderID: r.OrderID, Payload: rejected}
}
