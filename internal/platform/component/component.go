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

// Contract is what a service declares of its place in the mesh: the
// Connect services it serves and calls, and the saga events it publishes
// and consumes. The composition root derives the saga's routing table and
// the mesh's call graph (which the chart's NetworkPolicies follow) from
// the five contracts, and refuses to start a service whose parts differ
// from its contract.
type Contract struct {
	Serves    []string // Connect service names, such as cartv1connect.CartServiceName
	Calls     []string // Connect service names of other services it calls
	Publishes []eventsv1.EventType
	Consumes  []eventsv1.EventType
}

// Worker runs until ctx is done.
type Worker func(ctx context.Context) error

// Parts is one service's contribution.
type Parts struct {
	Routes []server.Route
	// Consumer applies events a batch at a time, set-based (see
	// events.Staging); Handlers apply the rest one by one.
	Consumer *events.Consumer
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
