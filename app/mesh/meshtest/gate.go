package meshtest

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ordermesh/ordermesh/internal/platform/rpcclient"
)

// Gate stands between the mesh and one service's endpoint, the way a
// network would. While it is down, events delivered to that service fail
// with 503 as if the service were unreachable; everything else passes.
type Gate struct {
	URL       string
	service   string
	down      atomic.Bool
	cut       atomic.Bool
	held      atomic.Pointer[chan struct{}]
	refusals  atomic.Int64
	forwarded atomic.Int64
}

// Down makes the service's event sink unreachable.
func (g *Gate) Down() { g.down.Store(true) }

// Up makes it reachable again, events and RPCs.
func (g *Gate) Up() { g.down.Store(false); g.cut.Store(false) }

// Hold makes deliveries of events to the service wait, without failing,
// until Release: the saga pauses before the service's step.
func (g *Gate) Hold() {
	c := make(chan struct{})
	g.held.Store(&c)
}

// Release lets held deliveries through.
func (g *Gate) Release() {
	if c := g.held.Swap(nil); c != nil {
		close(*c)
	}
}

// Cut makes the whole service unreachable: its RPCs fail with 503 too.
func (g *Gate) Cut() { g.down.Store(true); g.cut.Store(true) }

// Refused returns how many deliveries the gate turned away.
func (g *Gate) Refused() int64 { return g.refusals.Load() }

func startGate(t testing.TB, service, target string) *Gate {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("meshtest: gate target: %v", err)
	}
	g := &Gate{service: service}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = rpcclient.NewHTTPClient().Transport
	proxy.ErrorLog = log.New(io.Discard, "", 0) // a service stopping at cleanup is no news
	sinkPrefix := "/" + service + "/ordermesh.events.v1.EventSinkService/"
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.cut.Load() || (g.down.Load() && strings.HasPrefix(r.URL.Path, sinkPrefix)) {
			g.refusals.Add(1)
			http.Error(w, service+" is down (meshtest gate)", http.StatusServiceUnavailable)
			return
		}
		if c := g.held.Load(); c != nil && strings.HasPrefix(r.URL.Path, sinkPrefix) {
			select {
			case <-*c:
			case <-r.Context().Done():
				return
			}
		}
		g.forwarded.Add(1)
		proxy.ServeHTTP(w, r)
	})
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("meshtest: gate listen: %v", err)
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: handler, Protocols: protocols, ReadHeaderTimeout: 5 * 1e9}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	g.URL = "http://" + ln.Addr().String()
	return g
}
