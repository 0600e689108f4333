// Command cart runs the Cart service alone, as Kubernetes deploys it.
package main

import (
	"os"

	"github.com/ordermesh/ordermesh/app/cli"
	"github.com/ordermesh/ordermesh/services/cart"
)

func main() {
	os.Exit(cli.Serve(os.Args[1:], os.Stdout, os.Stderr, cart.Component))
}
