// Command gateway is the mesh's single entry point on Kubernetes: it routes
// each /<package>.<Service>/ path to the service that owns it.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/ordermesh/ordermesh/internal/gateway"
	"github.com/ordermesh/ordermesh/internal/platform/config"
	"github.com/ordermesh/ordermesh/internal/platform/logging"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	var cfg gateway.Config
	if err := config.Load(&cfg); err != nil {
		fmt.Fprintf(os.Stderr, "configuration: %v\n", err)
		return 2
	}
	if len(args) > 0 {
		if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			fmt.Printf("Usage: %s\n\nEnvironment:\n%s", os.Args[0], config.Usage(cfg))
			return 0
		}
		fmt.Fprintf(os.Stderr, "unknown command %q; try help\n", args[0])
		return 2
	}
	log := logging.New(os.Stderr, "gateway", logging.ParseLevel(cfg.LogLevel))
	log.Info("starting", slog.Any("config", config.LogValue(cfg)))
	srv, err := gateway.New(cfg, log)
	if err != nil {
		log.Error("configuration", slog.Any("error", err))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Server.Addr)
	if err != nil {
		log.Error("listen", slog.Any("error", err))
		return 1
	}
	if err := srv.Serve(ctx, ln); err != nil {
		log.Error("stopped", slog.Any("error", err))
		return 1
	}
	log.Info("stopped")
	return 0
}
