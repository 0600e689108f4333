package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/internal/platform/metrics"
)

// TestAdminPprof serves the admin port with and without ADMIN_PPROF:
// the profiles are there only when asked for, /metrics always.
func TestAdminPprof(t *testing.T) {
	t.Parallel()
	for _, pprof := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- metrics.New("test", slog.New(slog.DiscardHandler)).Serve(ctx, addr, pprof, slog.New(slog.DiscardHandler))
		}()
		get := func(path string) (int, string) {
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+path, nil)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					if time.Now().After(deadline) {
						t.Fatalf("GET %s: %v", path, err)
					}
					continue
				}
				body, _ := io.ReadAll(res.Body)
				_ = res.Body.Close()
				return res.StatusCode, string(body)
			}
		}
		if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "ordermesh_build_info") {
			t.Errorf("pprof=%v: GET /metrics = %d, want 200 with ordermesh_build_info", pprof, code)
		}
		code, body := get("/debug/pprof/goroutine?debug=1")
		if pprof && (code != http.StatusOK || !strings.Contains(body, "goroutine profile:")) {
			t.Errorf("ADMIN_PPROF on: GET /debug/pprof/goroutine = %d %.80q, want the goroutine profile", code, body)
		}
		if !pprof && code != http.StatusNotFound {
			t.Errorf("ADMIN_PPROF off: GET /debug/pprof/goroutine = %d, want 404", code)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
}
