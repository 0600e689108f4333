// Package console serves the operator's web console at /console/: static
// assets built from web/ (TypeScript, bundled by esbuild with `make
// console`) and embedded in the binary, so the console needs nothing at
// run time beyond the mesh or gateway that serves it.
package console

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/ordermesh/ordermesh/internal/platform/server"
)

// Path is where the console is served.
const Path = "/console/"

//go:embed dist
var dist embed.FS

// Handler serves the console under Path. The page calls only the origin
// that serves it, and holds a bearer token, so its policy allows nothing
// else: no other origin's scripts, styles, frames or connections.
func Handler() http.Handler {
	assets, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) //nolint:forbidigo // dist is embedded at build time
	}
	files := http.StripPrefix(Path, http.FileServerFS(assets))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// Embedded files have no modification time: revalidate each load,
		// so a new binary's console is picked up at once.
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// Routes mounts the console, and sends /console to /console/.
func Routes() []server.Route {
	return []server.Route{
		{Path: Path, Handler: Handler()},
		{Path: "GET /console", Handler: http.RedirectHandler(Path, http.StatusMovedPermanently)},
	}
}
