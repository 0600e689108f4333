// Package clientenv is how every ordermesh tool finds the mesh: the
// command line, flash-sale, smoke, steady and the examples read
// ORDERMESH_URL (default DefaultURL, where `make run` listens) and
// ORDERMESH_TOKEN, the bearer token to call with; a flag, where a tool has
// one, overrides them.
package clientenv

import "os"

// The variables, and where the mesh is when ORDERMESH_URL is not set.
const (
	URLVar     = "ORDERMESH_URL"
	TokenVar   = "ORDERMESH_TOKEN"
	DefaultURL = "http://localhost:8080"
)

// URL is the mesh's base URL from getenv (os.Getenv when nil).
func URL(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	if u := getenv(URLVar); u != "" {
		return u
	}
	return DefaultURL
}

// Token is the bearer token from getenv (os.Getenv when nil); "" when none.
func Token(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	return getenv(TokenVar)
}
