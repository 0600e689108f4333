package mesh

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/validate"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	"github.com/ordermesh/ordermesh/internal/console"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/buildinfo"
	"github.com/ordermesh/ordermesh/internal/platform/component"
	"github.com/ordermesh/ordermesh/internal/platform/controlchars"
	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/health"
	"github.com/ordermesh/ordermesh/internal/platform/jsoncodec"
	"github.com/ordermesh/ordermesh/internal/platform/metrics"
	"github.com/ordermesh/ordermesh/internal/platform/rpcclient"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/internal/platform/server"
	"github.com/ordermesh/ordermesh/internal/platform/telemetry"
	eventssql "github.com/ordermesh/ordermesh/sqlc/events"
)

// Services lists every service's name, in start order, as the generated
// contracts (contracts_gen.go, from the components) say.
var Services = contracts.Services

// Routing is the saga's routing table, derived from what each service's
// contract says it publishes and consumes.
var Routing = derived.Routing

// Calls is the mesh's call graph: for each service, sorted, the services
// it opens connections to, by RPC (its contract's Calls, mapped to the
// service that serves each) or by delivering its events to their sinks
// (Routing). The Helm chart's NetworkPolicies allow exactly these edges:
// cmd/meshgen writes them into the chart.
var Calls = derived.Calls

// Owners maps each public Connect service to the service that serves it,
// from the contracts' Serves. cmd/meshgen writes it into package
// meshtable for the gateway, whose binary must not link the services.
var Owners = derived.Owners

// errContracts says how the contracts contradict each other, if they do;
// Build then refuses to start.
var derived, errContracts = contracts.Derive()

// checkComponent refuses a component whose contract is not the one the
// generated table holds for it: the table is stale.
func checkComponent(c component.Component) error {
	want, ok := contracts.ByName[c.Name]
	if !ok {
		return fmt.Errorf("unknown service %q (known: %v); if it is new, run make generate", c.Name, Services)
	}
	if !c.Contract.Equal(want) {
		return fmt.Errorf("%s's contract differs from the generated table (app/mesh/contracts_gen.go): run make generate", c.Name)
	}
	return nil
}

// checkContract refuses a service whose built parts differ from its
// contract: a route it does not declare serving, or event handlers other
// than the events it declares consuming.
func checkContract(name string, c component.Contract, parts component.Parts) error {
	for _, r := range parts.Routes {
		if !slices.Contains(c.Serves, r.Service) {
			return fmt.Errorf("%s serves %s, which its Contract does not declare", name, r.Service)
		}
	}
	handled := slices.Collect(maps.Keys(parts.Handlers))
	handled = append(handled, parts.Consumer.Types()...)
	handled = append(handled, slices.Collect(maps.Keys(parts.Direct))...)
	slices.Sort(handled)
	handled = slices.Compact(handled)
	declared := slices.Sorted(slices.Values(c.Consumes))
	if !slices.Equal(handled, declared) {
		return fmt.Errorf("%s handles events %v, but its Contract declares it consumes %v", name, handled, declared)
	}
	return nil
}

// EndpointEnv names the variable that holds a service's base URL.
func EndpointEnv(service string) string { return strings.ToUpper(service) + "_URL" }

// DatabaseEnv names the variable that holds a service's own database URL,
// which overrides the shared DATABASE_URL.
func DatabaseEnv(service string) string { return strings.ToUpper(service) + "_DATABASE_URL" }

// eventPolicies guard the event endpoints every service serves: only other
// services deliver events or manage parked deliveries.
var eventPolicies = auth.Policies{
	eventsv1connect.EventSinkServiceDeliverProcedure:                  auth.Allow(auth.RoleService),
	eventsv1connect.EventAdminServiceListParkedDeliveriesProcedure:    auth.Allow(auth.RoleService),
	eventsv1connect.EventAdminServiceRequeueParkedDeliveriesProcedure: auth.Allow(auth.RoleService),
	eventsv1connect.EventAdminServiceListOrderDeliveriesProcedure:     auth.Allow(auth.RoleService),
	eventsv1connect.EventAdminServiceGetOutboxStatsProcedure:          auth.Allow(auth.RoleService),
}

// Migrations returns every migration of a service's database: its own
// and the event tables.
func Migrations(c component.Component) []fs.FS {
	return []fs.FS{c.Migrations, eventssql.Migrations}
}

// Mesh is a built, not yet serving, set of services.
type Mesh struct {
	Server *server.Server
	// Metrics is the process's Prometheus registry, served on the admin
	// port.
	Metrics *metrics.Registry
	log     *slog.Logger
	pools   []*pgxpool.Pool
	workers []component.Worker
}

// Close releases the database pools.
func (m *Mesh) Close() {
	for _, p := range m.pools {
		p.Close()
	}
}

// Serve runs the background workers (relays, expiry jobs, watchers) and
// serves on ln until ctx is done. Workers stop after the server has
// drained, so in-flight calls can still emit and deliver.
func (m *Mesh) Serve(ctx context.Context, ln net.Listener) error {
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, w := range m.workers {
		wg.Go(func() {
			if err := w(wctx); err != nil {
				m.log.ErrorContext(wctx, "worker stopped", slog.Any("error", err))
			}
		})
	}
	err := m.Server.Serve(ctx, ln)
	stopWorkers()
	wg.Wait()
	return err
}

// Build opens the databases of comps, the services to run here, migrates
// them and builds their handlers, event sinks, relays and jobs on one
// server. Each service traces with its own provider from tel (nil: the
// global one).
func Build(ctx context.Context, log *slog.Logger, cfg Config, comps []component.Component, tel *telemetry.Telemetry) (*Mesh, error) {
	if errContracts != nil {
		return nil, errContracts
	}
	names := make([]string, len(comps))
	byName := make(map[string]component.Component, len(comps))
	for i, c := range comps {
		if err := checkComponent(c); err != nil {
			return nil, err
		}
		names[i], byName[c.Name] = c.Name, c
	}
	warnings, err := cfg.resolveEndpoints(names)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		log.Warn("service URL: " + w)
	}
	verifier, err := auth.NewVerifier(cfg.Auth, Services...)
	if err != nil {
		return nil, err
	}
	if cfg.Auth.Identity.TokenFile != "" && len(names) > 1 {
		return nil, fmt.Errorf("SERVICE_TOKEN_FILE holds one service's identity, but this process runs %v: each would speak as the same service", names)
	}
	clients := rpcclient.NewFactory(cfg.Server.MaxMessageBytes)
	policies := auth.Policies{}
	for _, set := range append([]auth.Policies{eventPolicies}, policiesOf(comps)...) {
		for proc, p := range set {
			policies[proc] = p
		}
	}
	reg := metrics.New(buildinfo.Get().Version, log)
	if err := reg.Register(tel.Collectors()...); err != nil {
		return nil, err
	}
	authInterceptor := auth.NewInterceptor(verifier, policies)
	// A sink checks each event of a delivery itself, refusing only the bad
	// ones: checked whole, one bad event would fail the batch it came in.
	sinkChecksItself := map[string]bool{eventsv1connect.EventSinkServiceDeliverProcedure: true}
	validateInterceptor := except(sinkChecksItself, validate.NewInterceptor())
	freeText := controlchars.FreeText{}
	for _, c := range comps {
		maps.Copy(freeText, c.FreeText)
	}
	controlInterceptor := except(sinkChecksItself, controlchars.NewInterceptor(freeText))
	handlerOpts := func(service string, tp trace.TracerProvider, log *slog.Logger) ([]connect.HandlerOption, error) {
		otelInterceptor, err := telemetry.ServerInterceptor(tp)
		if err != nil {
			return nil, err
		}
		// Outermost first: trace and measure everything, then map and
		// log errors, then check the caller, then the request's shape:
		// no control characters, then its protovalidate rules.
		interceptors := []connect.Interceptor{otelInterceptor, reg.NewInterceptor(service), rpcerr.NewInterceptor(log),
			authInterceptor, controlInterceptor, validateInterceptor}
		if tel.Profiling() {
			profile, _ := telemetry.ProfileLabels(service)
			interceptors = append([]connect.Interceptor{profile}, interceptors...)
		}
		return append([]connect.HandlerOption{
			connect.WithInterceptors(interceptors...),
			connect.WithReadMaxBytes(cfg.Server.MaxMessageBytes),
			connect.WithSendMaxBytes(cfg.Server.MaxMessageBytes),
			connect.WithCompressMinBytes(1024),
		}, jsoncodec.HandlerOptions()...), nil
	}

	m := &Mesh{log: log, Metrics: reg}
	probes := map[string]health.Probe{}
	var routes []server.Route
	for _, n := range names {
		comp := byName[n]
		tp := tel.TracerProvider(n)
		svcLog := log.With("service", telemetry.ServiceName(n))
		opts, err := handlerOpts(n, tp, svcLog)
		if err != nil {
			m.Close()
			return nil, err
		}
		// Each service calls the others as itself.
		svcClients, err := clients.For(auth.Source(cfg.Auth, n), tp)
		if err != nil {
			m.Close()
			return nil, err
		}
		pool, err := openDatabase(ctx, log, cfg, n, tp, comp.Migrations, eventssql.Migrations)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.pools = append(m.pools, pool)
		reg.AddDatabase(n, pool, Routing.Subscribers(n))
		parts, err := comp.Build(component.Deps{
			Saga: cfg.Saga, Config: cfg.serviceConfig(comp), Pool: pool, Outbox: events.NewOutbox(n, Routing), Log: svcLog, Metrics: reg,
			Tracing: tp, Handler: opts, Clients: svcClients, URL: cfg.endpoint,
			Serving: func(api string) string { u, _ := cfg.endpoint(Owners[api]); return u },
		})
		if err == nil {
			err = checkContract(n, comp.Contract, parts)
		}
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		for _, r := range parts.Routes {
			probes[r.Service] = pool.Ping
		}
		routes = append(routes, parts.Routes...)
		refused := func(caller, reason string) { reg.EventsRefused.WithLabelValues(n, caller, reason).Inc() }
		if len(comp.Contract.Consumes) > 0 {
			for _, caller := range append(slices.Clone(Services), "none") {
				for _, reason := range events.RefusalReasons {
					reg.EventsRefused.WithLabelValues(n, caller, reason) // at 0 from the start, so the first refusal is an increase
				}
			}
		}
		routes = append(routes, eventRoutes(n, pool, parts, cfg.SinkPartitions, refused, svcLog, tp, opts)...)
		relay := events.NewRelay(n, pool, sinkClients(cfg, svcClients), cfg.Relay, svcLog, tp)
		relay.Observe = func(sub, result string, k int) { reg.DeliveryAttempts.WithLabelValues(n, sub, result).Add(float64(k)) }
		relay.Subscribers = Routing.Subscribers(n)
		for _, sub := range relay.Subscribers {
			for _, result := range []string{"delivered", "failed", "parked"} {
				reg.DeliveryAttempts.WithLabelValues(n, sub, result) // at 0 from the start
			}
		}
		workers := append([]component.Worker{relay.Run}, parts.Workers...)
		if tel.Profiling() {
			_, label := telemetry.ProfileLabels(n)
			for i, w := range workers {
				workers[i] = label(w)
			}
		}
		m.workers = append(m.workers, workers...)
	}
	if len(names) == len(Services) {
		// The whole mesh in one process (make run) also serves the
		// operator's console: every RPC it calls is on this origin.
		routes = append(routes, console.Routes()...)
	}
	checker := health.NewChecker(probes)
	reg.SetHealth(checker.Serving)
	m.Server = server.New(cfg.Server, log, checker, routes)
	if cfg.AdminAddr != "" {
		m.workers = append(m.workers, func(ctx context.Context) error { return reg.Serve(ctx, cfg.AdminAddr, cfg.AdminPprof, log) })
	}
	return m, nil
}

// except applies an interceptor to every procedure but the skipped ones.
func except(skip map[string]bool, inner connect.Interceptor) connect.Interceptor {
	return exceptInterceptor{skip: skip, inner: inner}
}

type exceptInterceptor struct {
	skip  map[string]bool
	inner connect.Interceptor
}

func (e exceptInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	wrapped := e.inner.WrapUnary(next)
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if e.skip[req.Spec().Procedure] {
			return next(ctx, req)
		}
		return wrapped(ctx, req)
	}
}

func (e exceptInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (e exceptInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	wrapped := e.inner.WrapStreamingHandler(next)
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if e.skip[conn.Spec().Procedure] {
			return next(ctx, conn)
		}
		return wrapped(ctx, conn)
	}
}

func policiesOf(comps []component.Component) []auth.Policies {
	out := make([]auth.Policies, len(comps))
	for i, c := range comps {
		out[i] = c.Policies
	}
	return out
}

// eventRoutes mounts a service's event sink (if it consumes events) and its
// outbox admin under the service's own path prefix.
func eventRoutes(name string, pool *pgxpool.Pool, parts component.Parts, partitions int, refused func(caller, reason string), log *slog.Logger, tp trace.TracerProvider, opts []connect.HandlerOption) []server.Route {
	prefix := events.SinkPath(name)
	var routes []server.Route
	if len(parts.Handlers)+len(parts.Direct)+len(parts.Consumer.Types()) > 0 {
		sink := events.NewSink(name, Routing, pool, parts.Handlers, log, tp).WithDirect(parts.Direct).WithConsumer(parts.Consumer)
		sink.Refused = refused
		if !parts.SharedRows {
			sink.WithPartitions(partitions)
		}
		if parts.Prepare != nil {
			sink.WithPrepare(parts.Prepare)
		}
		path, h := eventsv1connect.NewEventSinkServiceHandler(sink, opts...)
		routes = append(routes, server.Route{Service: eventsv1connect.EventSinkServiceName, Path: prefix + path, Handler: http.StripPrefix(prefix, h), Prefix: prefix})
	}
	path, h := eventsv1connect.NewEventAdminServiceHandler(events.NewAdmin(pool, log), opts...)
	return append(routes, server.Route{Service: eventsv1connect.EventAdminServiceName, Path: prefix + path, Handler: http.StripPrefix(prefix, h), Prefix: prefix})
}

// sinkClients returns the event sink client of each subscriber, at its
// endpoint from the configuration.
func sinkClients(cfg Config, clients *rpcclient.Factory) events.Sinks {
	byName := map[string]eventsv1connect.EventSinkServiceClient{}
	for _, n := range Services {
		if u, ok := cfg.endpoint(n); ok {
			byName[n] = rpcclient.New(clients, eventsv1connect.NewEventSinkServiceClient, u+events.SinkPath(n))
		}
	}
	return func(sub string) (eventsv1connect.EventSinkServiceClient, bool) {
		c, ok := byName[sub]
		return c, ok
	}
}

func openDatabase(ctx context.Context, log *slog.Logger, cfg Config, name string, tp trace.TracerProvider, migrations ...fs.FS) (*pgxpool.Pool, error) {
	pool, err := waitForDatabase(ctx, log, cfg, name, tp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := db.Migrate(ctx, pool, migrations...); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return pool, nil
}

// connectDatabase makes one attempt to reach a service's database.
func connectDatabase(ctx context.Context, cfg Config, url string, tp trace.TracerProvider) (*pgxpool.Pool, error) {
	if cfg.DatabaseCreate {
		if err := db.EnsureDatabase(ctx, url); err != nil {
			return nil, err
		}
	}
	return db.Open(ctx, url, cfg.DatabaseMaxConns, tp)
}

// waitForDatabase connects to a service's database, creating it first if
// so configured. A database that is still starting (a pod scheduled beside
// its PostgreSQL, a failover) is waited for with backoff, up to
// DATABASE_WAIT, rather than failing the process into a restart loop.
func waitForDatabase(ctx context.Context, log *slog.Logger, cfg Config, name string, tp trace.TracerProvider) (*pgxpool.Pool, error) {
	url := cfg.DatabaseURLOf(name)
	deadline := time.Now().Add(cfg.DatabaseWait)
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		pool, err := connectDatabase(ctx, cfg, url, tp)
		if err == nil {
			return pool, nil
		}
		// Wrong credentials do not mend themselves by waiting: say so now.
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "28") {
			return nil, fmt.Errorf("the database refused the credentials (SQLSTATE %s): check the user and password in the database URL or Secret: %w", pgErr.Code, err)
		}
		if ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return nil, err
		}
		log.Warn("database not reachable yet; retrying", slog.String("service", telemetry.ServiceName(name)), slog.Duration("retry_in_seconds", wait), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Run builds comps and serves them until ctx is done.
func Run(ctx context.Context, log *slog.Logger, cfg Config, comps []component.Component) error {
	names := make([]string, len(comps))
	for i, c := range comps {
		names[i] = c.Name
	}
	tel, err := telemetry.Setup(ctx, log, cfg.Telemetry, names...)
	if err != nil {
		return err
	}
	stopTelemetry := func() error { return tel.Shutdown(context.WithoutCancel(ctx)) }
	m, err := Build(ctx, log, cfg, comps, tel)
	if err != nil {
		return errors.Join(err, stopTelemetry())
	}
	defer m.Close()
	log.Info("services built", slog.Any("services", slices.Clone(names)))
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Server.Addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on %s: %w", cfg.Server.Addr, err), stopTelemetry())
	}
	if cfg.DevBanner {
		devBanner(log, cfg, ln.Addr())
	}
	serveErr := m.Serve(ctx, ln)
	return errors.Join(serveErr, stopTelemetry())
}

// devBanner tells the developer under `make run` where the console is and
// how to point the CLI at this mesh, with a merchant token minted for the
// purpose. The token rides in the URL's fragment, which browsers never
// send; the console moves it to session storage and drops it from the URL.
func devBanner(log *slog.Logger, cfg Config, addr net.Addr) {
	base := "http://localhost:" + strconv.Itoa(addr.(*net.TCPAddr).Port)
	tok, err := auth.Mint(cfg.Auth, "dev-operator", []auth.Role{auth.RoleMerchant}, 12*time.Hour)
	if err != nil {
		log.Warn("no console token: set JWT_SIGNING_KEY to mint one", slog.Any("error", err))
		return
	}
	fmt.Fprintf(os.Stderr, "\nordermesh is serving at %s\n\n  Console  %s/console/#token=%s\n\n  CLI      export ORDERMESH_URL=%s ORDERMESH_TOKEN=%s\n           %s summary\n\n(a merchant's token, valid 12 hours)\n\n",
		base, base, tok, base, tok, selfCommand())
}

// selfCommand is how to run this binary again from the working directory:
// its relative path (.build/bin/ordermesh under `make run`), else go run.
func selfCommand() string {
	exe, err := os.Executable()
	wd, werr := os.Getwd()
	if err != nil || werr != nil {
		return "go run ./cmd/ordermesh"
	}
	rel, err := filepath.Rel(wd, exe)
	if err != nil || strings.HasPrefix(rel, "..") || strings.Contains(exe, "go-build") {
		return "go run ./cmd/ordermesh"
	}
	return rel
}
