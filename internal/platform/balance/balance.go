// Package balance spreads HTTP/2 calls over every pod behind a name. A
// Kubernetes Service's cluster IP is one address, and HTTP/2 multiplexes
// every call on one connection, so one pod would take them all; a headless
// Service's name resolves to every ready pod instead. Transport resolves
// each name it is asked for, sends each request to the next of its
// addresses (one connection each), and follows the pods as they come and
// go:
//
//   - a name is resolved again once its addresses are older than the
//     interval, so on a busy name an address is stale by at most the
//     interval plus the cluster DNS's TTL (5 s for CoreDNS's kubernetes
//     records); a name unused for a few intervals is resolved before its
//     next call;
//   - a name that resolves to nothing (a headless Service with no ready
//     pod) has no addresses: calls fail at once with ErrNoAddress, never
//     go to the pods it had;
//   - a connection that cannot be made (refused, unreachable, or not made
//     within the dial timeout) is tried on the next address, since the
//     request never left; other calls try that address last for a while;
//   - an HTTP/2 connection that stops answering is pinged and closed, so
//     a call never hangs on a pod that is gone.
//
// IP literals and localhost go to the address as written.
package balance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrNoAddress is the error of a call to a name that resolves to no
// address: no pod is ready behind it.
var ErrNoAddress = errors.New("no ready address")

// Options tunes a Transport. The zero value is usable.
type Options struct {
	// Interval is how old a name's addresses may get before it is
	// resolved again (default 1 s).
	Interval time.Duration
	// DialTimeout bounds making a connection (default 3 s).
	DialTimeout time.Duration
	// Lookup resolves a name (default net.DefaultResolver.LookupHost).
	Lookup func(ctx context.Context, host string) ([]string, error)
	// Observe, when set, is told how many addresses a name has each time
	// that changes.
	Observe func(hostport string, addresses int)
	Log     *slog.Logger
}

// Transport is an http.RoundTripper over one HTTP/2 transport (h2c for
// http://, TLS for https://) that spreads each name's requests over its
// addresses.
type Transport struct {
	base *http.Transport
	opts Options

	mu    sync.Mutex
	names map[string]*name // by host:port
}

// New returns a Transport.
func New(opts Options) *Transport {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 3 * time.Second
	}
	if opts.Lookup == nil {
		opts.Lookup = net.DefaultResolver.LookupHost
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	return &Transport{
		opts:  opts,
		names: map[string]*name{},
		base: &http.Transport{
			Protocols:           protocols,
			DialContext:         (&net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 15 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
			// No ResponseHeaderTimeout: a stream may wait for its first
			// message indefinitely. A peer that stops answering is found
			// by pings instead: after 10 s without a frame, one ping; no
			// answer within 5 s closes the connection and fails its calls.
			HTTP2: &http.HTTP2Config{SendPingTimeout: 10 * time.Second, PingTimeout: 5 * time.Second},
		},
	}
}

// CloseIdleConnections closes every idle connection.
func (t *Transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// RoundTrip sends req to the next address of its host.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	n := t.name(req)
	if n == nil {
		return t.base.RoundTrip(req)
	}
	addrs := n.addresses(req.Context())
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%s: %w", n.host, ErrNoAddress)
	}
	var body *trackedBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &trackedBody{body: req.Body}
	}
	defer body.settle()
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	var err error
	for _, addr := range n.order(addrs) {
		out := req.Clone(req.Context())
		out.URL.Host, out.Host = addr, host
		if body != nil {
			out.Body = body
		}
		var res *http.Response
		res, err = t.base.RoundTrip(out)
		if err == nil {
			return res, nil
		}
		if !notSent(err) || (body != nil && body.read.Load()) || req.Context().Err() != nil {
			return nil, err
		}
		n.putAside(addr)
		t.opts.Log.DebugContext(req.Context(), "address refused a connection; trying the next", slog.String("host", n.host), slog.String("address", addr), slog.Any("error", err))
	}
	return nil, err
}

// notSent reports whether err says the request never reached a server:
// the connection was refused or could not be made.
func notSent(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// trackedBody records whether a request's body was read, so a request
// whose body has gone out is never sent twice. The transport closes a
// request's body when a connection cannot be made; until the request is
// settled (sent, or failed for good) that close is held back, so the next
// address gets the body whole.
type trackedBody struct {
	body io.ReadCloser
	read atomic.Bool

	mu      sync.Mutex
	settled bool
	held    bool // a close was asked for and held back
	closed  bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.body.Read(p)
}

func (b *trackedBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.read.Load() && !b.settled {
		b.held = true
		return nil
	}
	return b.closeLocked()
}

func (b *trackedBody) closeLocked() error {
	if b.closed {
		return nil
	}
	b.closed = true
	return b.body.Close()
}

// settle ends the attempts: a close held back happens now.
func (b *trackedBody) settle() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.settled = true
	if b.held {
		_ = b.closeLocked()
	}
}

// Target is what a Transport makes of u: its host:port (the key Observe
// reports), and whether the host is a name it resolves and balances, not
// an address used as written (an IP literal, localhost).
func Target(u *url.URL) (hostport string, balanced bool) {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(host, port), net.ParseIP(host) == nil && host != "localhost" && host != ""
}

// name returns the state of req's host, or nil for an address to use as
// written.
func (t *Transport) name(req *http.Request) *name {
	key, balanced := Target(req.URL)
	if !balanced {
		return nil
	}
	host, port, _ := net.SplitHostPort(key)
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.names[key]
	if !ok {
		n = &name{t: t, host: host, port: port, key: key, aside: map[string]time.Time{}}
		t.names[key] = n
	}
	return n
}

// name is what the transport knows of one host:port.
type name struct {
	t          *Transport
	host, port string
	key        string
	next       atomic.Uint64

	mu         sync.Mutex
	addrs      []string // host:port of each address, sorted
	resolvedAt time.Time
	resolving  chan struct{} // closed when the lookup in flight ends
	aside      map[string]time.Time
}

// waitAfter is how many intervals old a name's addresses may be and still
// serve a call while they are resolved again; older ones (after a quiet
// spell, or the first time) are resolved before the call.
const waitAfter = 5

// maxStale is how long addresses are kept while lookups fail (the DNS
// server not answering, not a name without addresses).
const maxStale = 30 * time.Second

// addresses returns the name's addresses, resolving it first when they
// are older than the interval. A lookup in flight is shared.
func (n *name) addresses(ctx context.Context) []string {
	n.mu.Lock()
	age := time.Since(n.resolvedAt)
	if age < n.t.opts.Interval {
		addrs := n.addrs
		n.mu.Unlock()
		return addrs
	}
	wait := n.resolving
	if wait == nil {
		wait = make(chan struct{})
		n.resolving = wait
		// Shared by every call that waits: not cancelled with this one.
		go n.resolve(context.WithoutCancel(ctx), wait)
	}
	if age < waitAfter*n.t.opts.Interval && len(n.addrs) > 0 {
		// Recent enough: this call uses them while the lookup runs.
		// (With none, it waits: the pods may be back.)
		addrs := n.addrs
		n.mu.Unlock()
		return addrs
	}
	n.mu.Unlock()
	select {
	case <-wait:
	case <-ctx.Done():
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addrs
}

func (n *name) resolve(ctx context.Context, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ips, err := n.t.opts.Lookup(ctx, n.host)
	var dnsErr *net.DNSError
	notFound := errors.As(err, &dnsErr) && dnsErr.IsNotFound
	n.mu.Lock()
	defer func() {
		n.resolving = nil
		n.mu.Unlock()
		close(done)
	}()
	switch {
	case err != nil && !notFound:
		// The resolver did not answer: keep what there is, for a while.
		n.t.opts.Log.Warn("backend name not resolved; keeping its addresses", slog.String("host", n.host), slog.Any("error", err))
		if time.Since(n.resolvedAt) < maxStale {
			n.resolvedAt = time.Now().Add(-n.t.opts.Interval / 2) // try again soon
			return
		}
		ips = nil
	case notFound:
		ips = nil
	}
	addrs := make([]string, 0, len(ips))
	for _, ip := range ips {
		addrs = append(addrs, net.JoinHostPort(ip, n.port))
	}
	slices.Sort(addrs)
	n.resolvedAt = time.Now()
	if slices.Equal(addrs, n.addrs) {
		return
	}
	gone := slices.ContainsFunc(n.addrs, func(a string) bool { return !slices.Contains(addrs, a) })
	n.addrs = addrs
	if n.t.opts.Observe != nil {
		n.t.opts.Observe(n.key, len(addrs))
	}
	if len(addrs) == 0 {
		n.t.opts.Log.Warn("backend has no ready address", slog.String("host", n.host))
	}
	if gone {
		// Connections to pods that left are not reused; calls in flight
		// on them go on until the pod closes them.
		go n.t.base.CloseIdleConnections()
	}
}

// asideFor is how long an address that refused a connection is tried
// last by other requests.
const asideFor = 5 * time.Second

func (n *name) putAside(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.aside[addr] = time.Now().Add(asideFor)
}

// order is the order in which one request tries addrs: round robin from
// the next address, those set aside last.
func (n *name) order(addrs []string) []string {
	start := n.next.Add(1)
	out := make([]string, 0, len(addrs))
	var last []string
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range len(addrs) {
		a := addrs[(start+uint64(i))%uint64(len(addrs))]
		if until, ok := n.aside[a]; ok {
			if now.Before(until) {
				last = append(last, a)
				continue
			}
			delete(n.aside, a)
		}
		out = append(out, a)
	}
	return append(out, last...)
}
