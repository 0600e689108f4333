package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/internal/platform/health"
	"github.com/ordermesh/ordermesh/internal/platform/server"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

// serve starts a server with one route on a free port; cancel stops it,
// and served gives Serve's result.
func serve(t *testing.T, cfg server.Config, checker *health.Checker, route server.Route) (addr string, cancel func(), served <-chan error) {
	t.Helper()
	srv := server.New(cfg, slog.New(slog.DiscardHandler), checker, []server.Route{route})
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	return ln.Addr().String(), cancel, done
}

// An in-flight call finishes when the server is told to stop, health turns
// NOT_SERVING at once, and Serve returns without error.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	checker := health.NewChecker(map[string]health.Probe{"x.v1.Slow": nil})
	cfg := server.Config{ShutdownTimeout: 10 * time.Second, ReadHeaderTimeout: time.Second, MaxHeaderBytes: 1 << 16, CORSOrigins: []string{"*"}}
	addr, cancel, served := serve(t, cfg, checker, server.Route{Path: "/slow", Handler: slow})

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+"/slow", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer func() { _ = res.Body.Close() }()
		b, err := io.ReadAll(res.Body)
		got <- result{string(b), err}
	}()
	<-started
	cancel()
	wait.Until(t, 5*time.Second, 5*time.Millisecond, func() error {
		if checker.Ready(context.Background()) == nil {
			return errors.New("still ready after shutdown began")
		}
		return nil
	})
	close(release)
	if r := <-got; r.err != nil || r.body != "done" {
		t.Errorf("in-flight call = %q, %v; want it to finish with done", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after a graceful shutdown", err)
	}
}

// A long-lived stream learns that its server is closing once the drain is
// over, and ends by itself: shutdown does not wait out its timeout for it,
// nor cut it.
func TestStreamsLearnTheServerIsStopping(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stopping := server.Stopping(r.Context())
		if stopping == nil {
			http.Error(w, "no stopping channel", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		close(started)
		select {
		case <-stopping:
			_, _ = io.WriteString(w, "stopping")
		case <-r.Context().Done():
		}
	})
	checker := health.NewChecker(nil)
	cfg := server.Config{ShutdownTimeout: time.Minute, DrainDelay: 50 * time.Millisecond, ReadHeaderTimeout: time.Second, MaxHeaderBytes: 1 << 16, CORSOrigins: []string{"*"}}
	addr, cancel, served := serve(t, cfg, checker, server.Route{Path: "/watch", Handler: stream})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+"/watch", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	<-started
	cancel()
	b, err := io.ReadAll(res.Body)
	if err != nil || string(b) != "stopping" {
		t.Errorf("stream ended with %q, %v; want it told the server is stopping", b, err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("shutdown waited for the stream instead of ending it")
	}
}
