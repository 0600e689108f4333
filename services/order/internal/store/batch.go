package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
	"github.com/ordermesh/ordermesh/services/order/internal/store/orderdb"
)

// Stage returns the store of one delivered batch of events in tx (see
// events.Staging): Load locks the batch's orders with one statement, the
// saga's handlers decide against them in Go, and Write stores what they
// decided with one statement for orders and history and one for the
// outbox. It is a service.Tx, so the handlers are the ones a single
// event would run.
func (s *Store) Stage(tx pgx.Tx) events.Staging {
	return &Batch{tx: tx, q: s.q.WithTx(tx), outbox: s.outbox}
}

// Batch is the store of one delivered batch; see Stage.
type Batch struct {
	tx     pgx.Tx
	q      *orderdb.Queries
	outbox *events.Outbox

	orders  map[string]*staged // what Load read, as the batch has changed it
	history []change
	now     time.Time // the transaction's, which its history entries carry
	emitted events.Emitted

	// What Undo restores: the lengths at Mark, and each order as it was
	// before the event changed it.
	marks struct{ history int }
	saved map[string]staged
}

// staged is an order as a batch has changed it.
type staged struct {
	order      service.Order
	changed    bool
	shortLines string // JSON, when set
	history    int    // entries in its history, those staged included
}

type change struct {
	orderID string
	status  service.Status
	reason  service.Reason
	detail  string
}

var (
	_ service.Tx     = (*Batch)(nil)
	_ events.Staging = (*Batch)(nil)
)

// errNotInBatch refuses what no event handler does.
var errNotInBatch = errors.New("store: not available to an event batch")

// Load implements events.Staging.
func (b *Batch) Load(ctx context.Context, envs []*eventsv1.Envelope) error {
	ids := make([]uuid.UUID, 0, len(envs))
	for _, env := range envs {
		if id, err := uuid.Parse(env.GetOrderId()); err == nil {
			ids = append(ids, id)
		}
	}
	return b.lock(ctx, ids)
}

// lock locks the orders of ids (in id order, with one statement) for the
// batch.
func (b *Batch) lock(ctx context.Context, ids []uuid.UUID) error {
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	rows, err := b.q.LockOrdersWithLines(ctx, slices.Compact(ids))
	if err != nil {
		return fmt.Errorf("lock orders: %w", err)
	}
	b.orders = make(map[string]*staged, len(rows))
	for _, row := range rows {
		b.now = row.TxNow
		o, err := toOrder(row.Order)
		if err != nil {
			return err
		}
		if o.Lines, err = decodeLines(o.ID, row.Lines); err != nil {
			return err
		}
		b.orders[o.ID] = &staged{order: o, history: int(row.HistoryLen)}
	}
	return nil
}

// Mark implements events.Staging.
func (b *Batch) Mark() {
	b.marks.history = len(b.history)
	b.emitted.Mark()
	clear(b.saved)
}

// Undo implements events.Staging.
func (b *Batch) Undo() {
	b.history = b.history[:b.marks.history]
	b.emitted.Undo()
	for id, was := range b.saved {
		*b.orders[id] = was
	}
	clear(b.saved)
}

// save remembers an order as it was before the current event changes it.
func (b *Batch) save(id string) (*staged, error) {
	o, ok := b.orders[id]
	if !ok {
		return nil, fmt.Errorf("store: order %s was not loaded with its batch", id)
	}
	if b.saved == nil {
		b.saved = map[string]staged{}
	}
	if _, ok := b.saved[id]; !ok {
		b.saved[id] = *o
	}
	return o, nil
}

// Write implements events.Staging.
func (b *Batch) Write(ctx context.Context) error {
	var p orderdb.ApplyChangesParams
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id, o := range b.orders {
			if o.changed && !yield(id) {
				return
			}
		}
	}) {
		o := b.orders[id]
		p.Ids, p.Statuses, p.Reasons = append(p.Ids, uuid.MustParse(id)), append(p.Statuses, string(o.order.Status)), append(p.Reasons, string(o.order.Reason))
		p.ShortLines, p.BookingIds = append(p.ShortLines, o.shortLines), append(p.BookingIds, o.order.BookingID)
	}
	for _, h := range b.history {
		p.HistoryOrderIds, p.HistoryStatuses = append(p.HistoryOrderIds, uuid.MustParse(h.orderID)), append(p.HistoryStatuses, string(h.status))
		p.HistoryReasons, p.HistoryDetails = append(p.HistoryReasons, string(h.reason)), append(p.HistoryDetails, h.detail)
	}
	if len(p.Ids) > 0 {
		if err := b.q.ApplyChanges(ctx, p); err != nil {
			return fmt.Errorf("apply changes: %w", err)
		}
	}
	return b.emitted.Write(ctx, b.tx, b.outbox)
}

// Lock implements service.Tx: the batch's orders are locked already.
func (b *Batch) Lock(_ context.Context, id string, _ bool) (service.Order, bool, error) {
	o, ok := b.orders[id]
	if !ok {
		return service.Order{}, false, nil
	}
	return o.order, true, nil
}

// Transition implements service.Tx.
func (b *Batch) Transition(ctx context.Context, id string, status service.Status, reason service.Reason, detail string) error {
	o, err := b.save(id)
	if err != nil {
		return err
	}
	o.order.Status, o.order.Reason, o.changed = status, reason, true
	o.history++
	b.history = append(b.history, change{orderID: id, status: status, reason: reason, detail: detail})
	// Watchers learn the change from the notification itself.
	c := statusChange{OrderID: id, Seq: o.history, Status: status, Reason: reason, Detail: detail, At: b.now,
		BookingID: o.order.BookingID, ShortLines: o.order.ShortLines}
	if err := db.Notify(ctx, b.tx, StatusChannel, c.payload()); err != nil {
		return fmt.Errorf("wake watchers: %w", err)
	}
	return nil
}

// SetShortLines implements service.Tx.
func (b *Batch) SetShortLines(_ context.Context, id string, short []service.ShortLine) error {
	o, err := b.save(id)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(short)
	if err != nil {
		return err
	}
	o.order.ShortLines, o.shortLines, o.changed = short, string(raw), true
	return nil
}

// SetBooking implements service.Tx.
func (b *Batch) SetBooking(_ context.Context, id, booking string) error {
	o, err := b.save(id)
	if err != nil {
		return err
	}
	o.order.BookingID, o.changed = booking, true
	return nil
}

// Emit implements service.Tx: the event continues the trace of ctx, the
// span of the event that caused it.
func (b *Batch) Emit(ctx context.Context, orderID string, payload proto.Message) error {
	b.emitted.Add(ctx, orderID, payload)
	return nil
}

// SetShipped implements service.Tx; events ship nothing.
func (b *Batch) SetShipped(context.Context, string, string) error { return errNotInBatch }

// Expired implements service.Tx; events expire nothing.
func (b *Batch) Expired(context.Context, int) ([]string, error) { return nil, errNotInBatch }
