package store

import (
	"context"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermesh/ordermesh/internal/platform/db"
)

// Watchers fans status-change notifications out to WatchOrder streams.
// One LISTEN connection per instance serves every stream, and changes made
// by any instance reach them, because NOTIFY goes through the database.
type Watchers struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// NewWatchers returns a fan-out over pool's notifications.
func NewWatchers(pool *pgxpool.Pool, log *slog.Logger) *Watchers {
	return &Watchers{pool: pool, log: log, subs: map[string]map[chan struct{}]struct{}{}}
}

// Subscribe returns a channel that receives a signal whenever orderID
// changes, and a function that ends the subscription.
func (w *Watchers) Subscribe(orderID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.subs[orderID] == nil {
		w.subs[orderID] = map[chan struct{}]struct{}{}
	}
	w.subs[orderID][ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.subs[orderID], ch)
		if len(w.subs[orderID]) == 0 {
			delete(w.subs, orderID)
		}
		w.mu.Unlock()
	}
}

func (w *Watchers) signal(orderID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs[orderID] {
		select {
		case ch <- struct{}{}:
		default: // a signal is pending already
		}
	}
}

// Run listens until ctx is done. Streams also re-read on a timer, so a
// lost connection delays but never loses a change.
func (w *Watchers) Run(ctx context.Context) error {
	db.Listen(ctx, w.pool, StatusChannel, w.log, w.signal)
	return nil
}
