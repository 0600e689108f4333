// Command payment runs the Payment service alone, as Kubernetes deploys it.
package main

import (
	"os"

	"github.com/ordermesh/ordermesh/app/cli"
	"github.com/ordermesh/ordermesh/services/payment"
)

func main() {
	os.Exit(cli.Serve(os.Args[1:], os.Stdout, os.Stderr, payment.Component))
}
