package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// staller stands between the relays and the mesh's sinks: it forwards
// every call, times each subscriber's deliveries, and while stalled holds
// one subscriber's deliveries as a locked table would, until they are let
// go or their caller gives up.
type staller struct {
	sub   string // the subscriber it stalls
	proxy *httputil.ReverseProxy
	srv   *http.Server
	URL   string

	mu       sync.Mutex
	release  chan struct{} // closed to let go; nil when not stalled
	stalling bool
	since    time.Time
	// deliveries' latencies (ms) to the other subscribers, before and
	// during the stall
	before, during []float64
}

func startStaller(ctx context.Context, base, sub string) (*staller, error) {
	target, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	s := &staller{sub: sub, proxy: httputil.NewSingleHostReverseProxy(target)}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // the mesh's clients speak h2c
	s.srv = &http.Server{Handler: s, Protocols: protocols, ReadHeaderTimeout: 5 * time.Second}
	s.URL = "http://" + ln.Addr().String()
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *staller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sub, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	isDelivery := strings.HasSuffix(r.URL.Path, ".EventSinkService/Deliver")
	if isDelivery && sub == s.sub {
		s.mu.Lock()
		release := s.release
		s.mu.Unlock()
		if release != nil {
			select {
			case <-release:
			case <-r.Context().Done():
				return // the relay gave up: its delivery timed out
			}
		}
	}
	began := time.Now()
	s.proxy.ServeHTTP(w, r)
	if isDelivery && sub != s.sub {
		ms := float64(time.Since(began).Microseconds()) / 1000
		s.mu.Lock()
		if s.stalling {
			s.during = append(s.during, ms)
		} else if s.release == nil {
			s.before = append(s.before, ms)
		}
		s.mu.Unlock()
	}
}

// stall starts holding the subscriber's deliveries.
func (s *staller) stall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release, s.stalling, s.since = make(chan struct{}), true, time.Now()
}

// letGo releases what is held, stops stalling, and says for how long it
// stalled.
func (s *staller) letGo() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.release == nil {
		return 0 // the run ended before the stall began
	}
	close(s.release)
	s.stalling = false
	return time.Since(s.since)
}

func (s *staller) close() { _ = s.srv.Close() }

// p99s returns the other subscribers' delivery p99 before and during the
// stall, in ms, and how many deliveries each is over.
func (s *staller) p99s() (before, during float64, nBefore, nDuring int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.Sort(s.before)
	slices.Sort(s.during)
	return pct(s.before, 99), pct(s.during, 99), len(s.before), len(s.during)
}

// pending counts the producers' deliveries to sub that are not delivered
// yet.
func pending(ctx context.Context, pools map[string]*pgxpool.Pool, sub string) (int64, error) {
	var total int64
	for name, p := range pools {
		var n int64
		if err := p.QueryRow(ctx, "SELECT count(*) FROM outbox_deliveries WHERE subscriber = $1 AND state <> 'delivered'", sub).Scan(&n); err != nil {
			return 0, fmt.Errorf("%s outbox: %w", name, err)
		}
		total += n
	}
	return total, nil
}

// drain waits until sub has nothing pending and returns how many
// deliveries were pending at the start and how long they took.
func drain(ctx context.Context, pools map[string]*pgxpool.Pool, sub string, timeout time.Duration) (int64, time.Duration, error) {
	began := time.Now()
	backlog, err := pending(ctx, pools, sub)
	if err != nil {
		return 0, 0, err
	}
	for {
		n, err := pending(ctx, pools, sub)
		if err != nil {
			return 0, 0, err
		}
		if n == 0 {
			return backlog, time.Since(began), nil
		}
		if time.Since(began) > timeout {
			return backlog, 0, fmt.Errorf("%d deliveries to %s still pending after %v", n, sub, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// effects checks that sub applied every event it was sent exactly once:
// the events about the producers' outboxes routed to it against its inbox.
func effects(ctx context.Context, pools map[string]*pgxpool.Pool, sub string) (lost, parked int64, err error) {
	var sent int64
	for name, p := range pools {
		var n, k int64
		if err := p.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE state = 'parked') FROM outbox_deliveries WHERE subscriber = $1", sub).Scan(&n, &k); err != nil {
			return 0, 0, fmt.Errorf("%s outbox: %w", name, err)
		}
		sent, parked = sent+n, parked+k
	}
	var applied int64
	if err := pools[sub].QueryRow(ctx, "SELECT count(*) FROM inbox").Scan(&applied); err != nil {
		return 0, 0, fmt.Errorf("%s inbox: %w", sub, err)
	}
	return sent - applied, parked, nil
}
