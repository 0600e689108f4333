package telemetry

import (
	"context"
	"fmt"
	"runtime/pprof"

	"github.com/grafana/pyroscope-go"
)

// profiler is the process's continuous profiler; nil when profiling is off.
type profiler struct {
	p *pyroscope.Profiler
}

// ProfileLabel is the pprof label that names the service whose code a
// sample ran, when several services share a process and so one profile.
const ProfileLabel = "ordermesh_service"

// startProfiling starts pyroscope-go when PYROSCOPE_SERVER_ADDRESS is set;
// otherwise it does nothing and costs nothing. A process that runs one
// service reports as that service (ordermesh-order); one that runs several
// reports as "ordermesh", and each service's work carries ProfileLabel (see
// WithServiceLabel).
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

// WithServiceLabel runs fn with its goroutine's profile samples labelled
// with the service, so one process's profile splits by service.
func WithServiceLabel(ctx context.Context, service string, fn func(context.Context)) {
	pprof.Do(ctx, pprof.Labels(ProfileLabel, ServiceName(service)), fn)
}
