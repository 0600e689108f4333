// Command order runs the Order service alone, as Kubernetes deploys it.
package main

import (
	"os"

	"github.com/ordermesh/ordermesh/internal/mesh"
)

func main() {
	os.Exit(mesh.Main(os.Args[1:], os.Stdout, os.Stderr, "order"))
}
