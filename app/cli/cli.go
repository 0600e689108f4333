// Package cli is the operator's command line: the `ordermesh orders`,
// `events`, `stock`, `summary` and `version` commands, built on the
// generated Go clients and OpsService. They talk to a running mesh or
// gateway at ORDERMESH_URL with the bearer token in ORDERMESH_TOKEN.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1/opsv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/clientenv"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// Commands are the names Run answers to; anything else is the server's.
var Commands = []string{"orders", "events", "stock", "summary", "version"}

// DefaultURL is where the mesh listens under `make run`.
const DefaultURL = clientenv.DefaultURL

// Run runs one command line (without the program name) and returns the
// exit code: 0, 1 when the call failed, 2 when the command line is wrong.
// getenv supplies ORDERMESH_URL and ORDERMESH_TOKEN.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{out: stdout, url: clientenv.URL(getenv), token: clientenv.Token(getenv)}
	root := a.root() //nolint:contextcheck // the commands get ctx from ExecuteContext, through cmd.Context()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var usage usageError
	if errors.As(err, &usage) || !errors.As(err, new(*connect.Error)) && !a.called {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "error: %s\n", a.describe(err))
	return 1
}

// Usage is the commands' help, for the server binary's own.
func Usage() string {
	var b strings.Builder
	root := (&app{}).root()
	root.SetOut(&b)
	_ = root.Usage()
	return b.String()
}

type app struct {
	out     io.Writer
	url     string
	token   string
	output  string
	timeout time.Duration
	// called is set once a command starts calling the mesh: an error after
	// that is the call's, not the command line's.
	called bool
}

// usageError is a mistake on the command line.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "ordermesh",
		Short: "Operate a running ordermesh: find and fix stuck orders, parked events and stock",
		Long: `Operate a running ordermesh through its public API (OpsService and the
services' own RPCs), at $ORDERMESH_URL (default ` + DefaultURL + `) with the
bearer token in $ORDERMESH_TOKEN: a merchant's token for everything here.
` + "`make run`" + ` prints both. Errors print their Connect code and exit 1.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		CompletionOptions: cobra.CompletionOptions{
			DisableDefaultCmd: true,
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.url, "url", a.url, "base URL of the mesh or gateway (env ORDERMESH_URL)")
	pf.StringVar(&a.token, "token", a.token, "bearer token (env ORDERMESH_TOKEN)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "time allowed for the whole command")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if a.output != "table" && a.output != "json" {
			return usagef("-o %q: want table or json", a.output)
		}
		return nil
	}
	root.AddCommand(a.ordersCmd(), a.eventsCmd(), a.stockCmd(), a.summaryCmd(), a.versionCmd())
	return root
}

// call runs fn with the command's deadline, marking that the mesh is being
// called.
func (a *app) call(cmd *cobra.Command, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
	defer cancel()
	a.called = true
	return fn(ctx)
}

func (a *app) options() []connect.ClientOption {
	return []connect.ClientOption{connect.WithInterceptors(bearer(a.token))}
}

func (a *app) ops() opsv1connect.OpsServiceClient {
	return opsv1connect.NewOpsServiceClient(http.DefaultClient, a.url, a.options()...)
}

func (a *app) inventory() inventoryv1connect.InventoryServiceClient {
	return inventoryv1connect.NewInventoryServiceClient(http.DefaultClient, a.url, a.options()...)
}

func (a *app) catalog() catalogv1connect.CatalogServiceClient {
	return catalogv1connect.NewCatalogServiceClient(http.DefaultClient, a.url, a.options()...)
}

// bearer sends the token with every call.
func bearer(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if token != "" {
				req.Header().Set("Authorization", "Bearer "+token)
			}
			return next(ctx, req)
		}
	}
}

// describe turns a failed call into one line: the Connect code and the
// server's message, with a hint where the fix is on this side.
func (a *app) describe(err error) string {
	ce := new(connect.Error)
	if !errors.As(err, &ce) {
		return err.Error()
	}
	msg := rpcerr.Text(err)
	switch ce.Code() {
	case connect.CodeUnauthenticated:
		if a.token == "" {
			msg += " (no token: set ORDERMESH_TOKEN or --token; `make run` prints a merchant's)"
		}
	case connect.CodePermissionDenied:
		msg += " (the token's role may not do this; operators need a merchant token)"
	case connect.CodeUnavailable:
		if strings.Contains(ce.Message(), "connect:") || strings.Contains(ce.Message(), "dial") {
			msg = fmt.Sprintf("unavailable: cannot reach %s: %s (is the mesh running? set ORDERMESH_URL or --url)", a.url, ce.Message())
		}
	}
	return msg
}

// printJSON writes messages as JSON, one document: a single message, or
// an array of them.
func (a *app) printJSON(msgs ...proto.Message) error {
	opts := protojson.MarshalOptions{Multiline: true, Indent: "  "}
	if len(msgs) == 1 {
		b, err := opts.Marshal(msgs[0])
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(a.out, string(b))
		return err
	}
	parts := make([]string, len(msgs))
	for i, m := range msgs {
		b, err := opts.Marshal(m)
		if err != nil {
			return err
		}
		parts[i] = "  " + strings.ReplaceAll(string(b), "\n", "\n  ")
	}
	if len(parts) == 0 {
		_, err := fmt.Fprintln(a.out, "[]")
		return err
	}
	_, err := fmt.Fprintf(a.out, "[\n%s\n]\n", strings.Join(parts, ",\n"))
	return err
}

// enumValue parses a command-line enum value: "confirmed", "CONFIRMED"
// and "ORDER_STATUS_CONFIRMED" are the same.
func enumValue[E ~int32](what, prefix, raw string, values map[string]int32) (E, error) {
	name := strings.ToUpper(strings.TrimSpace(raw))
	name = strings.ReplaceAll(name, "-", "_")
	if v, ok := values[prefix+strings.TrimPrefix(name, prefix)]; ok && v != 0 {
		return E(v), nil
	}
	var known []string
	for k, v := range values {
		if v != 0 {
			known = append(known, strings.ToLower(strings.TrimPrefix(k, prefix)))
		}
	}
	slices.Sort(known)
	return 0, usagef("unknown %s %q: one of %s", what, raw, strings.Join(known, ", "))
}

// enumLabel is an enum value as the commands print it: "confirmed".
func enumLabel(full, prefix string) string {
	if strings.HasSuffix(full, "_UNSPECIFIED") {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(full, prefix))
}

// table starts a table on the command's output with a header row; write
// tab-separated rows to it and Flush.
func (a *app) table(headers ...string) *tabwriter.Writer {
	w := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(headers, "\t"))
	return w
}

// printPlainJSON writes a Go value as indented JSON.
func printPlainJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
