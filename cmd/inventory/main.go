// Command inventory runs the Inventory service alone, as Kubernetes deploys it.
package main

import (
	"os"

	"github.com/ordermesh/ordermesh/app/cli"
	"github.com/ordermesh/ordermesh/services/inventory"
)

func main() {
	os.Exit(cli.Serve(os.Args[1:], os.Stdout, os.Stderr, inventory.Component))
}
