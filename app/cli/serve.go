package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/component"
	"github.com/ordermesh/ordermesh/internal/platform/config"
	"github.com/ordermesh/ordermesh/internal/platform/logging"
	"github.com/ordermesh/ordermesh/internal/platform/telemetry"
)

// Serve is the body of every ordermesh binary. With no arguments it serves
// the services it was built for, comps (mesh.Run); `token` mints a
// development token; `reset` drops their databases; `help` lists the
// environment variables. It returns the exit code. A binary links only
// the services it names.
func Serve(args []string, stdout, stderr io.Writer, comps ...component.Component) int {
	services := make([]string, len(comps))
	for i, c := range comps {
		services[i] = c.Name
	}
	cfg := mesh.NewConfig(comps...)
	if err := config.Load(&cfg); err != nil {
		fmt.Fprintf(stderr, "configuration: %v\n", err)
		return 2
	}
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return token(args[1:], cfg.Auth, stdout, stderr)
		case "reset":
			return reset(cfg, services, stdout, stderr)
		case "help", "-h", "--help":
			fmt.Fprintf(stdout, "Serving: %s [token|reset|help]\n\n  (none)  serve %s\n  token   mint a development token (-role, -user, -ttl), or a service's own (-service)\n  reset   drop the services' databases; refused while any is in use\n\nEnvironment of the server:\n%s",
				filepath.Base(os.Args[0]), strings.Join(services, ", "), config.Usage(cfg))
			return 0
		default:
			fmt.Fprintf(stderr, "unknown command %q; try help\n", args[0])
			return 2
		}
	}

	name := "ordermesh"
	if len(services) == 1 {
		name = telemetry.ServiceName(services[0])
	}
	log := logging.New(stderr, name, logging.ParseLevel(cfg.LogLevel))
	log.Info("starting", slog.Any("config", config.LogValue(cfg)))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := mesh.Run(ctx, log, cfg, comps); err != nil {
		log.Error("stopped", slog.Any("error", err))
		return 1
	}
	log.Info("stopped")
	return 0
}

func token(args []string, cfg auth.Config, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "customer", "comma-separated roles: customer, merchant")
	user := fs.String("user", "alice", "subject (user id)")
	service := fs.String("service", "", "mint this service's own identity instead ("+strings.Join(mesh.Services, ", ")+"): what it calls the others with, and the only caller its events are accepted from")
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var roles []auth.Role
	subject := *user
	for r := range strings.SplitSeq(*role, ",") {
		switch r := auth.Role(strings.TrimSpace(r)); r {
		case auth.RoleCustomer, auth.RoleMerchant:
			roles = append(roles, r)
		case auth.RoleService:
			fmt.Fprintf(stderr, "token: a service's token names the service: use -service NAME (one of %s)\n", strings.Join(mesh.Services, ", "))
			return 2
		default:
			fmt.Fprintf(stderr, "token: unknown role %q (roles: customer, merchant)\n", r)
			return 2
		}
	}
	if *service != "" {
		if !slices.Contains(mesh.Services, *service) {
			fmt.Fprintf(stderr, "token: unknown service %q (services: %s)\n", *service, strings.Join(mesh.Services, ", "))
			return 2
		}
		subject, roles = *service, []auth.Role{auth.RoleService}
	}
	tok, err := auth.Mint(cfg, subject, roles, *ttl)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}
