package httpcache_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/internal/platform/httpcache"
)

func TestHandler(t *testing.T) {
	body := "first"
	calls := 0
	h := httpcache.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.URL.Query().Get("fail") != "" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}), 30*time.Second)
	do := func(method, inm, auth, query string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(context.Background(), method, "/x"+query, nil)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	first := do(http.MethodGet, "", "", "")
	etag := first.Header().Get("ETag")
	if first.Code != 200 || first.Body.String() != "first" || etag == "" || first.Header().Get("Cache-Control") != "public, max-age=30" {
		t.Fatalf("first GET = %d %q, ETag %q, Cache-Control %q", first.Code, first.Body, etag, first.Header().Get("Cache-Control"))
	}
	if r := do(http.MethodGet, `"other", W/`+etag, "", ""); r.Code != http.StatusNotModified || r.Body.Len() != 0 || r.Header().Get("ETag") != etag {
		t.Errorf("GET with a matching If-None-Match = %d, body %q, ETag %q; want 304, no body, the same ETag", r.Code, r.Body, r.Header().Get("ETag"))
	}
	if r := do(http.MethodGet, "", "Bearer x", ""); r.Header().Get("Cache-Control") != "private, max-age=30" {
		t.Errorf("signed-in GET Cache-Control = %q, want private", r.Header().Get("Cache-Control"))
	}
	body = "second"
	if r := do(http.MethodGet, etag, "", ""); r.Code != 200 || r.Body.String() != "second" || r.Header().Get("ETag") == etag {
		t.Errorf("GET after a change = %d %q, ETag %q; want 200 with the new answer and a new ETag", r.Code, r.Body, r.Header().Get("ETag"))
	}
	if r := do(http.MethodGet, "", "", "?fail=1"); r.Code != 404 || r.Header().Get("ETag") != "" || r.Header().Get("Cache-Control") != "" {
		t.Errorf("failed GET = %d, ETag %q, Cache-Control %q; want it untouched", r.Code, r.Header().Get("ETag"), r.Header().Get("Cache-Control"))
	}
	if r := do(http.MethodPost, "", "", ""); r.Header().Get("ETag") != "" {
		t.Error("a POST got an ETag")
	}
	if calls != 6 {
		t.Errorf("the wrapped handler ran %d times, want 6: every request is answered afresh", calls)
	}
}
