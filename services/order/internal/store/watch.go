package store

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
	"github.com/ordermesh/ordermesh/services/order/internal/store/orderdb"
)

// Watchers fans status changes out to WatchOrder streams. One LISTEN
// connection per instance hears every change, made by any instance (NOTIFY
// goes through the database), and one reader reads the changed orders
// that have watchers, all in one statement, and hands each watcher its
// order: a change costs one read however many streams watch it, and
// changes that arrive while a read is in flight share the next one, as
// the hot path's batches do, with no waiting window.
type Watchers struct {
	q    *orderdb.Queries
	pool *pgxpool.Pool
	log  *slog.Logger

	mu      sync.Mutex
	subs    map[string]map[chan service.OrderRead]struct{}
	due     map[string]struct{} // watched orders to read next
	reading bool
	// known is each watched order as last sent, to which a notified
	// change applies without a read.
	known map[string]service.Order
}

// NewWatchers returns a fan-out over pool's notifications.
func NewWatchers(pool *pgxpool.Pool, log *slog.Logger) *Watchers {
	return &Watchers{q: orderdb.New(pool), pool: pool, log: log, subs: map[string]map[chan service.OrderRead]struct{}{}, due: map[string]struct{}{}, known: map[string]service.Order{}}
}

// Watch returns a channel that receives the order, as stored, after each
// change and each Refresh, and a function that ends the watch. When
// changes come faster than the watcher takes them, it gets the latest.
func (w *Watchers) Watch(orderID string) (<-chan service.OrderRead, func()) {
	ch := make(chan service.OrderRead, 1)
	w.mu.Lock()
	if w.subs[orderID] == nil {
		w.subs[orderID] = map[chan service.OrderRead]struct{}{}
	}
	w.subs[orderID][ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.subs[orderID], ch)
		if len(w.subs[orderID]) == 0 {
			delete(w.subs, orderID)
			delete(w.known, orderID)
		}
		w.mu.Unlock()
	}
}

// Refresh has the order read for its watchers even without a change: a
// new watcher's first read, and the guard against a notification lost
// with the LISTEN connection.
func (w *Watchers) Refresh(orderID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.markDue(orderID)
}

// signal takes a notification: a change that follows what the watchers
// were last sent goes to them as it is; any other makes the order due
// for a read.
func (w *Watchers) signal(payload string) {
	c, whole := parseChange(payload)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, watched := w.subs[c.OrderID]; !watched {
		return
	}
	if o, ok := w.known[c.OrderID]; ok && whole {
		if next, ok := c.apply(o); ok {
			w.sendLocked(c.OrderID, service.OrderRead{Order: next, Found: true})
			return
		}
	}
	w.markDue(c.OrderID)
}

// markDue makes a watched order due for a read and starts the reader if
// none runs. w.mu is held.
func (w *Watchers) markDue(orderID string) {
	if _, watched := w.subs[orderID]; !watched {
		return
	}
	w.due[orderID] = struct{}{}
	if !w.reading {
		w.reading = true
		go w.read()
	}
}

// read reads what is due, in one statement per round, until nothing is.
func (w *Watchers) read() {
	ctx := context.Background()
	for {
		w.mu.Lock()
		due := slices.Collect(maps.Keys(w.due))
		clear(w.due)
		if len(due) == 0 {
			w.reading = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		ids := make([]uuid.UUID, 0, len(due))
		for _, id := range due {
			if u, err := uuid.Parse(id); err == nil {
				ids = append(ids, u)
			} else {
				w.send(id, service.OrderRead{}) // not an order id: no such order
			}
		}
		rows, err := w.q.GetOrdersFull(ctx, ids)
		if err != nil {
			w.log.WarnContext(ctx, "watched orders not read", slog.Int("orders", len(ids)), slog.Any("error", err))
			for _, id := range ids {
				w.send(id.String(), service.OrderRead{Err: err})
			}
			continue
		}
		found := map[uuid.UUID]bool{}
		for _, row := range rows {
			found[row.Order.ID] = true
			o, err := fullOrder(row.Order, row.Lines, row.History)
			w.send(o.ID, service.OrderRead{Order: o, Found: err == nil, Err: err})
		}
		for _, id := range ids {
			if !found[id] {
				w.send(id.String(), service.OrderRead{})
			}
		}
	}
}

// send hands what was read of an order to each of its watchers,
// replacing what a slow one has not taken yet.
func (w *Watchers) send(id string, o service.OrderRead) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sendLocked(id, o)
}

// sendLocked is send with w.mu held. A read that is older than what the
// watchers have (a change applied while it was in flight) is dropped.
func (w *Watchers) sendLocked(id string, o service.OrderRead) {
	if _, watched := w.subs[id]; !watched {
		return
	}
	if o.Found {
		if k, ok := w.known[id]; ok && len(k.History) > len(o.Order.History) {
			return
		}
		w.known[id] = o.Order
	}
	for ch := range w.subs[id] {
		select {
		case <-ch:
		default:
		}
		ch <- o // the buffer is free: only send fills it, under mu
	}
}

// Run listens until ctx is done. Streams also refresh on a timer, so a
// lost connection delays but never loses a change.
func (w *Watchers) Run(ctx context.Context) error {
	db.Listen(ctx, w.pool, StatusChannel, w.log, w.signal)
	return nil
}
