// Command order runs the Order service alone, as Kubernetes deploys it.
package main

import (
	"os"

	"github.com/ordermesh/ordermesh/app/cli"
	"github.com/ordermesh/ordermesh/services/order"
)

func main() {
	os.Exit(cli.Serve(os.Args[1:], os.Stdout, os.Stderr, order.Component))
}
