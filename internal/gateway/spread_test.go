package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ordermesh/ordermesh/internal/meshtable"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

// A backend name that resolves to two pods has its requests spread over
// both, each over its own connection; when a pod leaves the answer, it
// gets no more calls.
func TestBalancerSpreadsOverResolvedAddresses(t *testing.T) {
	t.Parallel()
	// Two "pods" on one port, at 127.0.0.1 and 127.0.0.2.
	ln2, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address here: %v", err)
	}
	_, port, _ := net.SplitHostPort(ln2.Addr().String())
	ln1, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Skipf("port %s is taken on 127.0.0.1: %v", port, err)
	}
	var hits [2]atomic.Int64
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true) // as the services serve, and the gateway speaks
	for i, ln := range []net.Listener{ln1, ln2} {
		srv := &http.Server{ReadHeaderTimeout: time.Second, Protocols: h2c, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			hits[i].Add(1)
		})}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
	pods := []string{"127.0.0.1", "127.0.0.2"}
	var current atomic.Value
	current.Store(pods)
	lookup := func(context.Context, string) ([]string, error) { return current.Load().([]string), nil }
	cfg := Config{ResolveInterval: 10 * time.Millisecond}
	for _, s := range meshtable.Services {
		*cfg.Backends.Of(s) = "http://catalog-headless.shop.svc:" + port
	}
	g, err := newGateway(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), lookup)
	if err != nil {
		t.Fatal(err)
	}
	m := g.metrics
	size := m.addresses.WithLabelValues("catalog")
	gw := &http.Server{ReadHeaderTimeout: time.Second, Handler: g.Handler()}
	gln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gw.Serve(gln) }()
	t.Cleanup(func() { _ = gw.Close() })

	get := func(n int) {
		for range n {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+gln.Addr().String()+"/ordermesh.catalog.v1.CatalogService/GetProduct", strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET through the balancer = %s", res.Status)
			}
		}
	}
	get(100)
	if got := testutil.ToFloat64(size); got != 2 {
		t.Errorf("ordermesh_gateway_backend_addresses = %v after resolving two pods, want 2", got)
	}
	a, c := hits[0].Load(), hits[1].Load()
	if a < 35 || c < 35 {
		t.Errorf("requests split %d / %d between the two pods, want each 35-65%%", a, c)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("catalog", "proxied")); got != 100 {
		t.Errorf("ordermesh_gateway_requests_total{result=proxied} = %v after 100 requests", got)
	}
	current.Store(pods[:1]) // the second pod goes away
	// A call that finds the addresses old resolves them again.
	wait.Until(t, 5*time.Second, 2*time.Millisecond, func() error {
		if n := testutil.ToFloat64(size); n != 1 {
			get(1)
			return fmt.Errorf("ordermesh_gateway_backend_addresses = %v after a pod went away, want 1", n)
		}
		return nil
	})
	before := hits[1].Load()
	get(20)
	if hits[1].Load() != before {
		t.Errorf("the removed pod still got %d requests", hits[1].Load()-before)
	}
}
