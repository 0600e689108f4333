// Command inventory runs the Inventory service alone, as Kubernetes deploys it.
package main

import (
	"os"

	"github.com/ordermesh/ordermesh/internal/mesh"
)

func main() {
	os.Exit(mesh.Main(os.Args[1:], os.Stdout, os.Stderr, "inventory"))
}
