// Command ordermesh runs all five services in one process on one port, for
// local development (`make run`). The services still call each other
// through Connect clients over HTTP. `ordermesh token` mints a development
// token.
package main

import (
	"os"

	"github.com/ordermesh/ordermesh/services/mesh"
)

func main() {
	os.Exit(mesh.Main(os.Args[1:], os.Stdout, os.Stderr, mesh.Services...))
}
