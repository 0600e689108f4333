package health_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	healthv1 "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ordermesh/ordermesh/internal/platform/health"
)

// A flood of health checks, from every entry point at once, costs at most
// one probe per service per second; the shared result still follows the
// database within a second.
func TestProbesAreCachedForASecond(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	down := false
	probe := func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return errors.New("database down")
		}
		return nil
	}
	c := health.NewChecker(map[string]health.Probe{"a.v1.A": probe, "b.v1.B": probe})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			c.Status(ctx, "")
			c.Status(ctx, "a.v1.A")
			_ = c.Ready(ctx)
			c.Serving(ctx)
			c.Readiness(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/readyz", nil))
		})
	}
	wg.Wait()
	if n := c.ProbeRuns(); n != 2 {
		t.Errorf("250 health questions ran the probes %d times, want 2 (one per service)", n)
	}
	mu.Lock()
	down = true
	mu.Unlock()
	if st, _ := c.Status(ctx, "a.v1.A"); st != healthv1.HealthCheckResponse_SERVING {
		t.Errorf("within the second the cached SERVING stands, got %v", st)
	}
	time.Sleep(1100 * time.Millisecond)
	if st, _ := c.Status(ctx, "a.v1.A"); st != healthv1.HealthCheckResponse_NOT_SERVING {
		t.Errorf("a second later the probe runs again and fails; got %v", st)
	}
	if n := c.ProbeRuns(); n != 3 {
		t.Errorf("probes ran %d times, want 3", n)
	}
}
