// Package component describes one service to the composition root, in
// one value per service (Component): its name, contract, migrations,
// access policies, configuration and how to build it. Built, a service
// contributes its Parts: RPC routes to mount, saga event handlers for its
// sink, and background workers (relays, expiry jobs) to run until
// shutdown. The root assembles any set of services the same way, a loop
// over their components.
package component

import (
	"context"
	"io/fs"
	"log/slog"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/controlchars"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/metrics"
	"github.com/ordermesh/ordermesh/internal/platform/rpcclient"
	"github.com/ordermesh/ordermesh/internal/platform/server"
)

// Component is everything the composition root knows of one service. It
// is the one place a service describes itself: adding a service is
// writing its Component and naming it in the root's list.
type Component struct {
	// Name is the service's short name: its database, its logs, its
	// identity and the path prefix of its event endpoints.
	Name     string
	Contract Contract
	// Migrations are the service's own schema migrations.
	Migrations fs.FS
	// Policies say who may call each RPC the service serves.
	Policies auth.Policies
	// FreeText lists the request fields that may hold text over several
	// lines; every other string refuses control characters.
	FreeText controlchars.FreeText
	// Config, if set, points at a zero value of the service's own
	// configuration: a struct whose fields carry env tags. The root loads
	// a copy from the environment for each process and hands it to Build
	// as Deps.Config.
	Config any
	// Build makes the service from what the root gives it.
	Build func(Deps) (Parts, error)
}

// Saga holds the settings every service of the saga shares: one value
// each, whichever service acts on it.
type Saga struct {
	OrderDeadline time.Duration `env:"ORDER_DEADLINE" default:"15m" usage:"time an order may stay unconfirmed before it expires (Order expires it; Inventory refuses a hold for longer)"`
}

// Deps is what the composition root gives a service to build it with.
type Deps struct {
	// Saga is the settings the services share.
	Saga Saga
	// Config is the service's own configuration, loaded: a pointer of the
	// type of Component.Config.
	Config  any
	Pool    *pgxpool.Pool
	Outbox  *events.Outbox
	Log     *slog.Logger
	Metrics *metrics.Registry
	Tracing trace.TracerProvider
	// Handler are the options of every handler the service serves:
	// interceptors, limits, codecs.
	Handler []connect.HandlerOption
	// Clients make the service's clients of other services, with its own
	// identity and its own tracing.
	Clients *rpcclient.Factory
	// URL returns the base URL of a service, by name, and whether one is
	// configured.
	URL func(service string) (string, bool)
	// Serving returns the base URL of the service that serves a Connect
	// API (a name such as catalogv1connect.CatalogServiceName), which the
	// contract must declare in Calls.
	Serving func(api string) string
}

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
