package telemetry

import (
	"context"
	"fmt"
	"runtime/pprof"

	"connectrpc.com/connect"
	"github.com/grafana/pyroscope-go"
)

// profiler is the process's continuous profiler; nil when profiling is off.
type profiler struct {
	p *pyroscope.Profiler
}

// ProfileLabel is the pprof label that names the service whose code a
// sample ran (catalog, order, ...), when several services share a process
// and so one profile. Pyroscope keeps it as a label of its own beside
// service_name, which it takes from the application name; dashboards
// select a service's samples with {ordermesh_service="order"}, in a
// per-service binary as in the all-in-one one.
const ProfileLabel = "ordermesh_service"

// startProfiling starts pyroscope-go when PYROSCOPE_SERVER_ADDRESS is set;
// otherwise it does nothing and costs nothing. A process that runs one
// service reports as that service (ordermesh-order); one that runs several
// reports as "ordermesh", and each service's work carries ProfileLabel (see
// ProfileLabels).
func startProfiling(cfg Config, services []string) (*profiler, error) {
	if cfg.PyroscopeAddress == "" {
		return nil, nil
	}
	name := "ordermesh"
	if len(services) == 1 {
		name = ServiceName(services[0])
	}
	p, err := pyroscope.Start(pyroscope.Config{
		ApplicationName:   name,
		ServerAddress:     cfg.PyroscopeAddress,
		BasicAuthUser:     cfg.PyroscopeUser,
		BasicAuthPassword: cfg.PyroscopePassword,
		TenantID:          cfg.PyroscopeTenant,
		ProfileTypes: []pyroscope.ProfileType{
			pyroscope.ProfileCPU, pyroscope.ProfileAllocSpace, pyroscope.ProfileInuseSpace,
			pyroscope.ProfileGoroutines, pyroscope.ProfileMutexDuration, pyroscope.ProfileBlockDuration,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry: pyroscope: %w", err)
	}
	return &profiler{p: p}, nil
}

func (p *profiler) stop() error {
	if p == nil {
		return nil
	}
	return p.p.Stop()
}

// Profiling reports whether continuous profiling is on.
func (t *Telemetry) Profiling() bool { return t != nil && t.profiler != nil }

// ProfileLabels returns an interceptor that labels the profile samples of
// every RPC a service handles with the service's name, and a wrapper that
// does the same for its background work (relay, batcher, jobs), so that
// one process's profile splits by service. Goroutines a labelled one
// starts inherit its labels.
func ProfileLabels(service string) (connect.Interceptor, func(func(context.Context) error) func(context.Context) error) {
	labels := pprof.Labels(ProfileLabel, service)
	wrap := func(fn func(context.Context) error) func(context.Context) error {
		return func(ctx context.Context) error {
			var err error
			pprof.Do(ctx, labels, func(ctx context.Context) { err = fn(ctx) })
			return err
		}
	}
	return profileInterceptor{labels: labels}, wrap
}

type profileInterceptor struct{ labels pprof.LabelSet }

func (p profileInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (res connect.AnyResponse, err error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		pprof.Do(ctx, p.labels, func(ctx context.Context) { res, err = next(ctx, req) })
		return res, err
	}
}

func (p profileInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (p profileInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) (err error) {
		pprof.Do(ctx, p.labels, func(ctx context.Context) { err = next(ctx, conn) })
		return err
	}
}
