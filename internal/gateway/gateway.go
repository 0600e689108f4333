// Package gateway is the mesh's single entry point on Kubernetes: one host
// that serves the whole public API, as `make run` does, by routing each
// /<package>.<Service>/ path to the service that owns it. It proxies Connect,
// gRPC and gRPC-Web over h2c with headers, trailers and streams intact, and
// answers reflection and health itself, so grpcurl and `buf curl` work
// against it without proto files.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/internal/console"
	"github.com/ordermesh/ordermesh/internal/meshtable"
	"github.com/ordermesh/ordermesh/internal/platform/balance"
	"github.com/ordermesh/ordermesh/internal/platform/buildinfo"
	"github.com/ordermesh/ordermesh/internal/platform/health"
	"github.com/ordermesh/ordermesh/internal/platform/metrics"
	"github.com/ordermesh/ordermesh/internal/platform/server"
)

// Config is the gateway's configuration. The backend variables are the
// same ones the services read for each other's endpoints.
type Config struct {
	Server   server.Config
	LogLevel string `env:"LOG_LEVEL" default:"info" usage:"debug, info, warn or error"`

	AdminAddr  string `env:"ADMIN_ADDR" default:":9090" usage:"admin listen address for Prometheus /metrics, apart from the public port; empty turns it off"`
	AdminPprof bool   `env:"ADMIN_PPROF" default:"false" usage:"serve net/http/pprof at /debug/pprof/ on the admin port"`

	ResolveInterval time.Duration `env:"GATEWAY_RESOLVE_INTERVAL" default:"1s" usage:"how old a backend name's addresses may get before it is resolved again; a name with several addresses (a headless Service) has its requests spread over all of them, and one with none (no ready pod) is answered unavailable at once"`

	Backends meshtable.Backends
}

// PublicServices maps each public RPC service to the ordermesh service that
// serves it: the table cmd/meshgen generates from the services'
// components, so that the gateway's binary does not carry the services.
// Event sinks and outbox admin RPCs are internal and are not routed: they
// are reachable only inside the cluster.
var PublicServices = meshtable.Owners

func (c *Config) backends() map[string]string {
	out := make(map[string]string, len(meshtable.Services))
	for _, s := range meshtable.Services {
		out[s] = *c.Backends.Of(s)
	}
	return out
}

// Gateway is the gateway's server.
type Gateway struct {
	*server.Server
	metrics    *gatewayMetrics
	ready      *backendsReady
	adminAddr  string
	adminPprof bool
	log        *slog.Logger
}

// Serve waits in the background for every backend to answer its health
// check (until then the gateway is not ready), serves /metrics on the
// admin address, and serves on ln until ctx is done.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	ctx2, stop := context.WithCancel(ctx)
	defer stop()
	go g.ready.run(ctx2)
	admin := make(chan error, 1)
	if g.adminAddr != "" {
		go func() { admin <- metrics.Serve(ctx2, g.metrics.reg, g.adminAddr, g.adminPprof, g.log) }()
	} else {
		admin <- nil
	}
	err := g.Server.Serve(ctx, ln)
	stop()
	if aerr := <-admin; err == nil && aerr != nil {
		err = fmt.Errorf("admin server: %w", aerr)
	}
	return err
}

// MetricsHandler serves the gateway's metrics, as its admin port does.
func (g *Gateway) MetricsHandler() http.Handler { return metrics.Handler(g.metrics.reg) }

// New returns the gateway: one route per public RPC service, plus the
// reflection, health and probe endpoints every ordermesh server has.
func New(cfg Config, log *slog.Logger) (*Gateway, error) {
	return newGateway(cfg, log, net.DefaultResolver.LookupHost)
}

func newGateway(cfg Config, log *slog.Logger, lookup func(ctx context.Context, host string) ([]string, error)) (*Gateway, error) {
	backends := cfg.backends()
	g := &Gateway{metrics: newGatewayMetrics(buildinfo.Get().Version), adminAddr: cfg.AdminAddr, adminPprof: cfg.AdminPprof, log: log}
	targets := map[string]*url.URL{}
	byHost := map[string][]string{} // services by host:port
	for _, svc := range PublicServices {
		if targets[svc] != nil {
			continue
		}
		raw := backends[svc]
		if raw == "" {
			return nil, fmt.Errorf("the %s service's URL is not set: set %s", svc, envOf(svc))
		}
		target, err := url.Parse(raw)
		if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
			return nil, fmt.Errorf("%s: %q is not an http:// or https:// URL", envOf(svc), raw)
		}
		targets[svc] = target
		key, balanced := balance.Target(target)
		byHost[key] = append(byHost[key], svc)
		// An address as written (an IP, localhost) is one address; a
		// name has none until it is resolved.
		if balanced {
			g.metrics.addresses.WithLabelValues(svc).Set(0)
		} else {
			g.metrics.addresses.WithLabelValues(svc).Set(1)
		}
	}
	transport := balance.New(balance.Options{
		Interval: cfg.ResolveInterval, Lookup: lookup, Log: log,
		Observe: func(hostport string, n int) {
			for _, svc := range byHost[hostport] {
				g.metrics.addresses.WithLabelValues(svc).Set(float64(n))
			}
		},
	})
	var routes []server.Route
	for name, svc := range PublicServices {
		routes = append(routes, server.Route{
			Service: name,
			Path:    "/" + name + "/",
			Handler: timed(proxy(targets[svc], svc, transport, g.metrics, log)),
		})
	}
	routes = append(routes, console.Routes()...)
	// Ready once every backend has answered its health check: before
	// that, a call would find nothing to route to. After that, readiness
	// is the gateway's own: a backend that rolls out or fails must not
	// take the routes to every other service out of the load balancer
	// with it. A call to a missing backend fails as Unavailable.
	g.ready = newBackendsReady(targets, transport, log)
	g.Server = server.New(cfg.Server, log, health.NewChecker(map[string]health.Probe{"gateway": g.ready.probe}), routes)
	return g, nil
}

// envOf names the variable that holds svc's URL, as the field tags do.
func envOf(svc string) string { return strings.ToUpper(svc) + "_URL" }

// proxy forwards to one backend. It flushes every write at once, so
// server streams (WatchOrder) reach the client as they happen, and it
// answers a backend it cannot reach with Unavailable in the caller's own
// protocol rather than an HTML 502.
func proxy(target *url.URL, svc string, transport http.RoundTripper, m *gatewayMetrics, log *slog.Logger) http.Handler {
	errw := connect.NewErrorWriter()
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target) // the transport picks one pod's address
			r.SetXForwarded()
		},
		Transport:     transport,
		FlushInterval: -1,
		ModifyResponse: func(res *http.Response) error {
			m.answered(svc, res)
			return nil
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return // the caller went away; there is no one to answer
			}
			m.unreachable(svc)
			log.Warn("backend unreachable", slog.String("service", svc), slog.String("procedure", r.URL.Path), slog.Any("error", err))
			_ = errw.Write(w, r, connect.NewError(connect.CodeUnavailable, fmt.Errorf("the %s service is unavailable; try again", svc)))
		},
	}
}
