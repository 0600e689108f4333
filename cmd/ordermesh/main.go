// Command ordermesh runs all five services in one process on one port, for
// local development (`make run`); the services still call each other
// through Connect clients over HTTP. It is also the operator's command
// line: `ordermesh orders`, `events`, `stock`, `summary` and `version` talk
// to a running mesh (app/cli), and `ordermesh token` mints a
// development token.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/ordermesh/ordermesh/app/cli"
	"github.com/ordermesh/ordermesh/app/components"
)

func main() {
	args := os.Args[1:]
	if cli.IsCommand(args) {
		os.Exit(cli.Run(context.Background(), args, os.Stdout, os.Stderr, os.Getenv))
	}
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(os.Stdout, cli.Usage(), "\n")
	}
	os.Exit(cli.Serve(args, os.Stdout, os.Stderr, components.All...))
}
