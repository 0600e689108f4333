// Package component describes what one service contributes to a running
// binary, so the composition root can assemble any set of services the
// same way: RPC routes to mount, saga event handlers for its sink, and
// background workers (relays, expiry jobs) to run until shutdown.
package component

import (
	"context"
	"log/slog"
	"time"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/server"
)

// Worker runs until ctx is done.
type Worker func(ctx context.Context) error

// Parts is one service's contribution.
type Parts struct {
	Routes   []server.Route
	Handlers map[eventsv1.EventType]events.Handler
	// Direct handlers take events outside the sink's transaction; see
	// events.DirectHandler.
	Direct  map[eventsv1.EventType]events.DirectHandler
	Workers []Worker
	// SharedRows says the event handlers lock rows that several orders
	// share (Inventory's stock): the sink then applies a delivery in one
	// transaction, never in partitions side by side, which could lock
	// those rows in opposite orders and deadlock.
	SharedRows bool
	// Prepare, if set, runs first in each delivered batch's transaction;
	// see events.Prepare.
	Prepare events.Prepare
}

// Every returns a worker that calls fn every interval until ctx is done,
// logging its failures. It is how periodic jobs such as expiry run.
func Every(log *slog.Logger, name string, interval time.Duration, fn func(ctx context.Context) (int, error)) Worker {
	return func(ctx context.Context) error {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			n, err := fn(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				log.WarnContext(ctx, name+" failed", slog.Any("error", err))
			case n > 0:
				log.InfoContext(ctx, name, slog.Int("count", n))
				continue // there may be more
			}
			select {
			case <-ctx.Done():
				return nil
			case <-ticker.C:
			}
		}
	}
}
