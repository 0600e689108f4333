package balance

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

// pods starts an h2c server on each of the given loopback addresses, all
// on one port, as the pods behind a headless Service listen on one port.
// Each echoes the request's body and counts its requests.
func pods(t *testing.T, ips ...string) (port string, hits []*atomic.Int64) {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", ips[0]+":0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	lns := []net.Listener{ln}
	for _, ip := range ips[1:] {
		l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", net.JoinHostPort(ip, port))
		if err != nil {
			t.Skipf("no loopback address %s on port %s here: %v", ip, port, err)
		}
		lns = append(lns, l)
	}
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	for _, l := range lns {
		n := new(atomic.Int64)
		hits = append(hits, n)
		srv := &http.Server{ReadHeaderTimeout: time.Second, Protocols: h2c, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			_, _ = io.Copy(w, r.Body)
		})}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
	return port, hits
}

// dns is a resolver whose answer the test changes.
type dns struct {
	mu      sync.Mutex
	answer  []string
	err     error
	lookups atomic.Int64
}

func (d *dns) set(answer []string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.answer, d.err = answer, err
}

func (d *dns) lookup(_ context.Context, _ string) ([]string, error) {
	d.lookups.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.answer, d.err
}

var notFound = &net.DNSError{Err: "no such host", Name: "catalog-headless", IsNotFound: true}

// until calls step (which makes calls, so that the name is resolved
// again) until done says yes, and fails the test with what after 5 s.
func until(t *testing.T, what string, step func(), done func() bool) {
	t.Helper()
	wait.Until(t, 5*time.Second, 2*time.Millisecond, func() error {
		if done() {
			return nil
		}
		step()
		return errors.New(what)
	})
}

func post(t *testing.T, c *http.Client, url, body string) (string, error) {
	t.Helper()
	res, err := c.Post(url, "application/proto", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

// Requests to a name are spread over every address it resolves to, and
// follow the answer when it changes.
func TestSpreadsOverAddressesAndFollowsThem(t *testing.T) {
	t.Parallel()
	port, hits := pods(t, "127.0.0.1", "127.0.0.2")
	d := &dns{}
	d.set([]string{"127.0.0.1", "127.0.0.2"}, nil)
	var observed atomic.Int64
	tr := New(Options{Interval: 20 * time.Millisecond, Lookup: d.lookup, Observe: func(_ string, n int) { observed.Store(int64(n)) }})
	c := &http.Client{Transport: tr}
	url := "http://catalog-headless.shop.svc:" + port + "/x"
	for i := range 100 {
		if got, err := post(t, c, url, "hello"); err != nil || got != "hello" {
			t.Fatalf("call %d = %q, %v; want the body echoed", i, got, err)
		}
	}
	if a, b := hits[0].Load(), hits[1].Load(); a < 35 || b < 35 {
		t.Errorf("two pods took %d and %d of 100 calls; want each 35 or more", a, b)
	}
	if got := observed.Load(); got != 2 {
		t.Errorf("observed %d addresses, want 2", got)
	}

	// One pod leaves the answer: within a few intervals it gets nothing.
	d.set([]string{"127.0.0.2"}, nil)
	until(t, "the transport never saw one pod leave the answer",
		func() { _, _ = post(t, c, url, "x") }, func() bool { return observed.Load() == 1 })
	before := hits[0].Load()
	for i := range 20 {
		if _, err := post(t, c, url, "x"); err != nil {
			t.Fatalf("call %d after one pod left: %v", i, err)
		}
	}
	if got := hits[0].Load() - before; got != 0 {
		t.Errorf("the pod that left the answer took %d of 20 calls, want 0", got)
	}
}

// An address that refuses connections (a pod that stopped, still in the
// answer) costs no call: each goes to the next address with its body
// whole.
func TestRefusedAddressIsRetriedOnTheNext(t *testing.T) {
	t.Parallel()
	port, hits := pods(t, "127.0.0.2")
	d := &dns{}
	d.set([]string{"127.0.0.3", "127.0.0.2"}, nil) // nothing listens on 127.0.0.3
	c := &http.Client{Transport: New(Options{Interval: time.Hour, Lookup: d.lookup})}
	body := strings.Repeat("order ", 10_000)
	for i := range 20 {
		got, err := post(t, c, "http://order-headless:"+port+"/x", body)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got != body {
			t.Fatalf("call %d: the pod echoed %d bytes, want %d", i, len(got), len(body))
		}
	}
	if got := hits[0].Load(); got != 20 {
		t.Errorf("the live pod took %d calls, want 20", got)
	}
}

// A name that resolves to nothing (no ready pod) fails calls at once with
// ErrNoAddress, and forgets the addresses it had: it never sends to them.
func TestNoReadyPodFailsAtOnce(t *testing.T) {
	t.Parallel()
	port, hits := pods(t, "127.0.0.1")
	d := &dns{}
	d.set([]string{"127.0.0.1"}, nil)
	c := &http.Client{Transport: New(Options{Interval: 10 * time.Millisecond, Lookup: d.lookup})}
	url := "http://payment-headless:" + port + "/x"
	if _, err := post(t, c, url, "a"); err != nil {
		t.Fatal(err)
	}
	d.set(nil, notFound)
	var err error
	until(t, "calls kept succeeding with no ready pod", func() { _, err = post(t, c, url, "a") }, func() bool { return err != nil })
	if !errors.Is(err, ErrNoAddress) {
		t.Fatalf("call with no ready pod: %v, want ErrNoAddress", err)
	}
	n := hits[0].Load()
	for range 5 {
		if _, err := post(t, c, url, "a"); !errors.Is(err, ErrNoAddress) {
			t.Errorf("call with no ready pod: %v, want ErrNoAddress", err)
		}
	}
	if got := hits[0].Load(); got != n {
		t.Errorf("the pod that left got %d more calls, want 0", got-n)
	}
	d.set([]string{"127.0.0.1"}, nil)
	err = nil
	until(t, "no call succeeded once the pod was back", func() { _, err = post(t, c, url, "a") }, func() bool { return err == nil && hits[0].Load() > n })
}

// A resolver that does not answer keeps the addresses there were: the
// DNS server restarting is not every pod leaving.
func TestResolverFailureKeepsAddresses(t *testing.T) {
	t.Parallel()
	port, _ := pods(t, "127.0.0.1")
	d := &dns{}
	d.set([]string{"127.0.0.1"}, nil)
	c := &http.Client{Transport: New(Options{Interval: 5 * time.Millisecond, Lookup: d.lookup})}
	url := "http://cart-headless:" + port + "/x"
	if _, err := post(t, c, url, "a"); err != nil {
		t.Fatal(err)
	}
	d.set(nil, &net.DNSError{Err: "i/o timeout", Name: "cart-headless", IsTimeout: true})
	failing := d.lookups.Load()
	until(t, "the name was not resolved again while the resolver failed", func() {
		if _, err := post(t, c, url, "a"); err != nil {
			t.Fatalf("call while the resolver fails: %v", err)
		}
	}, func() bool { return d.lookups.Load() >= failing+3 })
}

// IP literals and localhost are used as written: nothing is resolved.
func TestLiteralsAreNotResolved(t *testing.T) {
	t.Parallel()
	port, hits := pods(t, "127.0.0.1")
	d := &dns{}
	c := &http.Client{Transport: New(Options{Lookup: d.lookup})}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		res, err := c.Post("http://"+net.JoinHostPort(host, port)+"/x", "text/plain", bytes.NewReader([]byte("a")))
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		_ = res.Body.Close()
	}
	if d.lookups.Load() != 0 || hits[0].Load() != 2 {
		t.Errorf("lookups %d, calls %d; want 0 lookups and 2 calls", d.lookups.Load(), hits[0].Load())
	}
}
