package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// backendsReady holds the gateway's readiness back until every backend
// has answered its readiness probe (/readyz) once, through the same
// transport calls take. Once they all have, it stays ready: a backend
// that rolls out later is answered unavailable, and the other routes stay
// in the load balancer.
type backendsReady struct {
	targets map[string]*url.URL // by service
	client  *http.Client
	log     *slog.Logger

	mu      sync.Mutex
	waiting []string // services not reached yet, sorted
}

func newBackendsReady(targets map[string]*url.URL, transport http.RoundTripper, log *slog.Logger) *backendsReady {
	r := &backendsReady{targets: targets, client: &http.Client{Transport: transport, Timeout: 2 * time.Second}, log: log}
	for svc := range targets {
		r.waiting = append(r.waiting, svc)
	}
	slices.Sort(r.waiting)
	return r
}

// probe is the gateway's health probe: nil once every backend answered.
func (r *backendsReady) probe(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.waiting) == 0 {
		return nil
	}
	return fmt.Errorf("waiting for %v to answer", r.waiting)
}

// run asks each backend not yet reached, every half second, until all
// have answered or ctx is done.
func (r *backendsReady) run(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		r.mu.Lock()
		waiting := slices.Clone(r.waiting)
		r.mu.Unlock()
		if len(waiting) == 0 {
			r.log.InfoContext(ctx, "every backend answered; ready")
			return
		}
		for _, svc := range waiting {
			if err := r.ask(ctx, svc); err != nil {
				r.log.DebugContext(ctx, "backend not ready yet", slog.String("service", svc), slog.Any("error", err))
				continue
			}
			r.mu.Lock()
			r.waiting = slices.DeleteFunc(r.waiting, func(s string) bool { return s == svc })
			r.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *backendsReady) ask(ctx context.Context, svc string) error {
	u := r.targets[svc].JoinPath("readyz")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	res, err := r.client.Do(req)
	if err != nil {
		return err
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return errors.New(res.Status)
	}
	return nil
}
