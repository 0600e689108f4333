// Package httpcache makes side-effect-free RPCs called with HTTP GET (the
// Connect protocol's GET, which reads marked NO_SIDE_EFFECTS allow)
// cacheable the way HTTP caches, browsers and CDNs expect: a Cache-Control
// lifetime, an ETag over the answer, and 304 Not Modified when the
// client's If-None-Match still matches, so a revalidation costs no body.
//
// The answer is still computed for a revalidation: the ETag is a hash of
// it, not a version kept apart, so it can never be stale.
package httpcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Handler wraps next so that its successful GET answers carry Cache-Control
// with maxAge (0: caches must revalidate every time) and an ETag, and a
// GET whose If-None-Match names the current ETag gets 304. Other methods
// and failed answers pass through untouched.
func Handler(next http.Handler, maxAge time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		dst := w.Header()
		for k, v := range rec.header {
			dst[k] = v
		}
		if rec.status != http.StatusOK {
			w.WriteHeader(rec.status)
			_, _ = w.Write(rec.body.Bytes())
			return
		}
		sum := sha256.Sum256(rec.body.Bytes())
		etag := `"` + hex.EncodeToString(sum[:12]) + `"`
		scope := "public"
		if r.Header.Get("Authorization") != "" {
			scope = "private" // what a signed-in caller sees is theirs
		}
		dst.Set("ETag", etag)
		dst.Set("Cache-Control", fmt.Sprintf("%s, max-age=%d", scope, int(maxAge.Seconds())))
		dst.Add("Vary", "Accept-Encoding")
		dst.Add("Vary", "Authorization")
		if matches(r.Header.Get("If-None-Match"), etag) {
			for _, h := range []string{"Content-Type", "Content-Length", "Content-Encoding"} {
				dst.Del(h)
			}
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(rec.body.Bytes())
		}
	})
}

// matches reports whether an If-None-Match header names etag (weakly, as
// RFC 9110 asks for If-None-Match) or is "*".
func matches(header, etag string) bool {
	for c := range strings.SplitSeq(header, ",") {
		c = strings.TrimPrefix(strings.TrimSpace(c), "W/")
		if c == "*" || c == etag {
			return true
		}
	}
	return false
}

// recorder keeps an answer until it is known whether to send it.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
