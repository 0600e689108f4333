package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// balancer spreads a backend's requests over every address its name
// resolves to. A Kubernetes Service's cluster IP is one address, and HTTP/2
// multiplexes every request on one connection, so one pod would take
// nearly all the traffic; a headless Service's name resolves to every
// ready pod instead, and the balancer sends each request to the next of
// them, each over its own connection. The name is resolved again every
// interval, so pods that come and go are followed.
type balancer struct {
	target   *url.URL // scheme and port; the host is the name to resolve
	lookup   func(ctx context.Context, host string) ([]string, error)
	interval time.Duration
	log      *slog.Logger
	size     prometheus.Gauge // how many addresses it spreads over

	mu    sync.Mutex
	addrs []string // host:port of each resolved address, sorted
	next  atomic.Uint64
}

func newBalancer(target *url.URL, lookup func(ctx context.Context, host string) ([]string, error), interval time.Duration, size prometheus.Gauge, log *slog.Logger) *balancer {
	b := &balancer{target: target, lookup: lookup, interval: interval, size: size, log: log}
	size.Set(1) // the name itself, until it resolves
	b.resolve(context.Background())
	return b
}

// resolve looks the name up once. An IP literal, or a failed lookup, keeps
// what the balancer had: the name itself at first, which the transport
// resolves as usual.
func (b *balancer) resolve(ctx context.Context) {
	host, port := b.target.Hostname(), b.target.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[b.target.Scheme]
	}
	if net.ParseIP(host) != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ips, err := b.lookup(ctx, host)
	if err != nil || len(ips) == 0 {
		if err != nil {
			b.log.WarnContext(ctx, "backend name not resolved; keeping the last addresses", slog.String("host", host), slog.Any("error", err))
		}
		return
	}
	addrs := make([]string, len(ips))
	for i, ip := range ips {
		addrs[i] = net.JoinHostPort(ip, port)
	}
	slices.Sort(addrs)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addrs = addrs
	b.size.Set(float64(len(addrs)))
}

// run re-resolves every interval until ctx is done.
func (b *balancer) run(ctx context.Context) {
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.resolve(ctx)
		}
	}
}

// pick returns the host:port for the next request.
func (b *balancer) pick() string {
	b.mu.Lock()
	addrs := b.addrs
	b.mu.Unlock()
	if len(addrs) == 0 {
		return b.target.Host
	}
	return addrs[b.next.Add(1)%uint64(len(addrs))]
}
