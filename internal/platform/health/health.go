// Package health serves the grpc.health.v1 protocol over Connect, gRPC and
// gRPC-Web (connectrpc.com/grpchealth is not available here), plus the
// plain HTTP probes Kubernetes uses: /healthz for liveness and /readyz for
// readiness.
//
// A service is SERVING when its readiness probe (typically a database ping)
// passes and the server is not shutting down. The empty service name stands
// for the whole server: SERVING only when every service is.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	healthv1 "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ordermesh/ordermesh/internal/platform/buildinfo"
)

// Probe reports whether a service can serve; nil means ready.
type Probe func(ctx context.Context) error

// ServiceName is the fully qualified name of the health service.
const ServiceName = "grpc.health.v1.Health"

// Checker answers health questions for a set of services. Each probe's
// result is kept for maxAge and shared by Check, List, Watch, /readyz and
// the metrics, so a flood of health checks (they need no token) costs at
// most one probe per service per second, not a database round trip each.
type Checker struct {
	probes       map[string]*cachedProbe
	probeTimeout time.Duration
	watchEvery   time.Duration
	draining     atomic.Bool
}

// maxAge is how long a probe's result is reused.
const maxAge = time.Second

// cachedProbe runs a probe at most once per maxAge; callers that arrive
// while it runs wait for its result.
type cachedProbe struct {
	probe Probe
	mu    sync.Mutex
	at    time.Time
	err   error
	runs  atomic.Int64
}

func (p *cachedProbe) result(ctx context.Context, timeout time.Duration) error {
	if p.probe == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() && time.Since(p.at) < maxAge {
		return p.err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	p.err = p.probe(ctx)
	p.at = time.Now()
	p.runs.Add(1)
	return p.err
}

// NewChecker returns a checker for the named services and their probes.
func NewChecker(probes map[string]Probe) *Checker {
	c := &Checker{probes: map[string]*cachedProbe{}, probeTimeout: 2 * time.Second, watchEvery: 5 * time.Second}
	for name, p := range probes {
		c.probes[name] = &cachedProbe{probe: p}
	}
	return c
}

// Drain marks every service NOT_SERVING, for graceful shutdown: load
// balancers stop sending new work while in-flight calls finish.
func (c *Checker) Drain() { c.draining.Store(true) }

// Status returns the status of one service, or of the server for "". The
// second result is false for a service the server does not have.
func (c *Checker) Status(ctx context.Context, service string) (healthv1.HealthCheckResponse_ServingStatus, bool) {
	if service == "" {
		for name := range c.probes {
			if st, _ := c.Status(ctx, name); st != healthv1.HealthCheckResponse_SERVING {
				return st, true
			}
		}
		if c.draining.Load() {
			return healthv1.HealthCheckResponse_NOT_SERVING, true
		}
		return healthv1.HealthCheckResponse_SERVING, true
	}
	probe, ok := c.probes[service]
	if !ok {
		return healthv1.HealthCheckResponse_SERVICE_UNKNOWN, false
	}
	if c.draining.Load() {
		return healthv1.HealthCheckResponse_NOT_SERVING, true
	}
	if err := probe.result(ctx, c.probeTimeout); err != nil {
		return healthv1.HealthCheckResponse_NOT_SERVING, true
	}
	return healthv1.HealthCheckResponse_SERVING, true
}

// Ready runs every probe and returns the failures, for /readyz.
func (c *Checker) Ready(ctx context.Context) error {
	if c.draining.Load() {
		return errors.New("shutting down")
	}
	var errs []error
	for _, name := range c.names() {
		if err := c.probes[name].result(ctx, c.probeTimeout); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Serving reports, per service, whether its probe passes, from the shared
// results: for the metrics.
func (c *Checker) Serving(ctx context.Context) map[string]bool {
	out := make(map[string]bool, len(c.probes))
	for _, name := range c.names() {
		st, _ := c.Status(ctx, name)
		out[name] = st == healthv1.HealthCheckResponse_SERVING
	}
	return out
}

// ProbeRuns returns how many times the probes have run, all services
// together: a test's window on the cache.
func (c *Checker) ProbeRuns() int64 {
	var n int64
	for _, p := range c.probes {
		n += p.runs.Load()
	}
	return n
}

func (c *Checker) names() []string {
	names := make([]string, 0, len(c.probes))
	for n := range c.probes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Handler returns the path prefix and handler of grpc.health.v1.Health.
func (c *Checker) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	mux := http.NewServeMux()
	mux.Handle("/"+ServiceName+"/Check", connect.NewUnaryHandler("/"+ServiceName+"/Check", c.check, opts...))
	mux.Handle("/"+ServiceName+"/List", connect.NewUnaryHandler("/"+ServiceName+"/List", c.list, opts...))
	mux.Handle("/"+ServiceName+"/Watch", connect.NewServerStreamHandler("/"+ServiceName+"/Watch", c.watch, opts...))
	return "/" + ServiceName + "/", mux
}

func (c *Checker) check(ctx context.Context, req *connect.Request[healthv1.HealthCheckRequest]) (*connect.Response[healthv1.HealthCheckResponse], error) {
	st, ok := c.Status(ctx, req.Msg.GetService())
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("unknown service %q", req.Msg.GetService()))
	}
	return connect.NewResponse(&healthv1.HealthCheckResponse{Status: st}), nil
}

func (c *Checker) list(ctx context.Context, _ *connect.Request[healthv1.HealthListRequest]) (*connect.Response[healthv1.HealthListResponse], error) {
	out := &healthv1.HealthListResponse{Statuses: map[string]*healthv1.HealthCheckResponse{}}
	for _, name := range append([]string{""}, c.names()...) {
		st, _ := c.Status(ctx, name)
		out.Statuses[name] = &healthv1.HealthCheckResponse{Status: st}
	}
	return connect.NewResponse(out), nil
}

// watch sends the current status, then every change, until the client goes
// away. An unknown service is reported as SERVICE_UNKNOWN, as the protocol
// asks, rather than failing the stream.
func (c *Checker) watch(ctx context.Context, req *connect.Request[healthv1.HealthCheckRequest], stream *connect.ServerStream[healthv1.HealthCheckResponse]) error {
	ticker := time.NewTicker(c.watchEvery)
	defer ticker.Stop()
	last := healthv1.HealthCheckResponse_ServingStatus(-1)
	for {
		st, _ := c.Status(ctx, req.Msg.GetService())
		if st != last {
			if err := stream.Send(&healthv1.HealthCheckResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Liveness answers /healthz: the process is up and serving HTTP. The
// JSON body says which build answers, as `ordermesh version` does.
func Liveness(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(struct {
		Status string `json:"status"`
		buildinfo.Info
	}{"ok", buildinfo.Get()})
}

// Readiness answers /readyz: 200 when every probe passes, else 503 naming
// what failed.
func (c *Checker) Readiness(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := c.Ready(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}
