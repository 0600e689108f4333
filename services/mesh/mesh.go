package mesh

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"

	"connectrpc.com/connect"
	"connectrpc.com/validate"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	"github.com/ordermesh/ordermesh/services/cart"
	"github.com/ordermesh/ordermesh/services/catalog"
	"github.com/ordermesh/ordermesh/services/inventory"
	"github.com/ordermesh/ordermesh/services/order"
	"github.com/ordermesh/ordermesh/services/payment"
	"github.com/ordermesh/ordermesh/services/platform/auth"
	"github.com/ordermesh/ordermesh/services/platform/db"
	"github.com/ordermesh/ordermesh/services/platform/health"
	"github.com/ordermesh/ordermesh/services/platform/rpcclient"
	"github.com/ordermesh/ordermesh/services/platform/rpcerr"
	"github.com/ordermesh/ordermesh/services/platform/server"
	"github.com/ordermesh/ordermesh/services/platform/telemetry"
)

// Services lists every service, in start order.
var Services = []string{catalog.Name, cart.Name, order.Name, inventory.Name, payment.Name}

// deps is what a service is built from.
type deps struct {
	cfg     Config
	pool    *pgxpool.Pool
	clients *rpcclient.Factory
	opts    []connect.HandlerOption
}

// definition describes one service to the composition root.
type definition struct {
	migrations fs.FS // nil while the service has no tables
	policies   auth.Policies
	routes     func(d deps) []server.Route
}

var definitions = map[string]definition{
	catalog.Name: {
		migrations: catalog.Migrations,
		policies:   catalog.Policies,
		routes:     func(d deps) []server.Route { return catalog.Routes(d.pool, d.opts...) },
	},
	cart.Name: {
		migrations: cart.Migrations,
		policies:   cart.Policies,
		routes: func(d deps) []server.Route {
			client := rpcclient.New(d.clients, catalogv1connect.NewCatalogServiceClient, d.cfg.CatalogURL)
			return cart.Routes(d.pool, client, d.opts...)
		},
	},
	order.Name:     {policies: order.Policies, routes: func(d deps) []server.Route { return order.Routes(d.opts...) }},
	inventory.Name: {policies: inventory.Policies, routes: func(d deps) []server.Route { return inventory.Routes(d.opts...) }},
	payment.Name:   {policies: payment.Policies, routes: func(d deps) []server.Route { return payment.Routes(d.opts...) }},
}

// Mesh is a built, not yet serving, set of services.
type Mesh struct {
	Server *server.Server
	pools  []*pgxpool.Pool
}

// Close releases the database pools.
func (m *Mesh) Close() {
	for _, p := range m.pools {
		p.Close()
	}
}

// Build opens the databases of the named services, migrates them and
// builds their handlers on one server.
func Build(ctx context.Context, log *slog.Logger, cfg Config, names []string) (*Mesh, error) {
	for _, n := range names {
		if _, ok := definitions[n]; !ok {
			return nil, fmt.Errorf("unknown service %q (known: %v)", n, Services)
		}
	}
	verifier, err := auth.NewVerifier(cfg.Auth)
	if err != nil {
		return nil, err
	}
	var tokens auth.TokenSource
	if cfg.Auth.SigningKey != "" {
		tokens = auth.NewServiceTokens(cfg.Auth, "ordermesh")
	}
	clients, err := rpcclient.NewFactory(tokens, cfg.Server.MaxMessageBytes)
	if err != nil {
		return nil, err
	}
	policies := auth.Policies{}
	for _, n := range names {
		for proc, p := range definitions[n].policies {
			policies[proc] = p
		}
	}
	otelInterceptor, err := telemetry.ServerInterceptor()
	if err != nil {
		return nil, err
	}
	opts := []connect.HandlerOption{
		// Outermost first: trace everything, then map errors, then check
		// the caller, then the request's shape.
		connect.WithInterceptors(
			otelInterceptor,
			rpcerr.NewInterceptor(log),
			auth.NewInterceptor(verifier, policies),
			validate.NewInterceptor(),
		),
		connect.WithReadMaxBytes(cfg.Server.MaxMessageBytes),
		connect.WithSendMaxBytes(cfg.Server.MaxMessageBytes),
		connect.WithCompressMinBytes(1024),
	}

	m := &Mesh{}
	probes := map[string]health.Probe{}
	var routes []server.Route
	for _, n := range names {
		def := definitions[n]
		pool, err := openDatabase(ctx, cfg, n, def.migrations)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.pools = append(m.pools, pool)
		rs := def.routes(deps{cfg: cfg, pool: pool, clients: clients, opts: opts})
		for _, r := range rs {
			probes[r.Service] = pool.Ping
		}
		routes = append(routes, rs...)
	}
	m.Server = server.New(cfg.Server, log, health.NewChecker(probes), routes)
	return m, nil
}

func openDatabase(ctx context.Context, cfg Config, name string, migrations fs.FS) (*pgxpool.Pool, error) {
	url := cfg.databaseURL(name)
	if cfg.DatabaseCreate {
		if err := db.EnsureDatabase(ctx, url); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	pool, err := db.Open(ctx, url, cfg.DatabaseMaxConns)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if migrations != nil {
		if err := db.Migrate(ctx, pool, migrations); err != nil {
			pool.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return pool, nil
}

// Run builds the named services and serves them until ctx is done.
func Run(ctx context.Context, log *slog.Logger, cfg Config, names []string) error {
	serviceName := "ordermesh"
	if len(names) == 1 {
		serviceName = "ordermesh-" + names[0]
	}
	stopTelemetry, err := telemetry.Setup(ctx, serviceName)
	if err != nil {
		return err
	}
	m, err := Build(ctx, log, cfg, names)
	if err != nil {
		return errors.Join(err, stopTelemetry(context.WithoutCancel(ctx)))
	}
	defer m.Close()
	log.Info("services built", slog.Any("services", slices.Clone(names)))
	serveErr := m.Server.ListenAndServe(ctx)
	return errors.Join(serveErr, stopTelemetry(context.WithoutCancel(ctx)))
}

// Migrations returns the migrations of the named service, nil when it has
// no tables yet.
func Migrations(service string) fs.FS { return definitions[service].migrations }
