// Package cli is the operator's command line: the `ordermesh orders`,
// `events`, `stock`, `summary`, `sales` and `version` commands, built on the
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
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1/opsv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/clientenv"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// IsCommand reports whether args (without the program name) are a command
// line of Run's: its first word that is not a global flag or a global
// flag's value names one of its commands, or cobra's completion commands.
// Global flags may come first: `ordermesh --token X orders list`,
// `ordermesh -o json summary`. Anything else is the server binary's.
func IsCommand(args []string) bool {
	root := (&app{}).root()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			// --token X, --token=X, -ojson, or a flag Run will reject.
			if takesValue(root.PersistentFlags(), a) {
				i++
			}
			continue
		}
		switch a {
		case "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
			// Cobra adds these when it runs.
			return true
		}
		cmd, _, err := root.Find([]string{a})
		return err == nil && cmd != root
	}
	return false
}

// DefaultURL is where the mesh listens under `make run`.
const DefaultURL = clientenv.DefaultURL

// Run runs one command line (without the program name) and returns the
// exit code: 0, 1 when the call failed, 2 when the command line is wrong.
// getenv supplies ORDERMESH_URL and ORDERMESH_TOKEN.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{out: stdout, url: clientenv.URL(getenv), envToken: clientenv.Token(getenv), confirm: terminalConfirm(os.Stdin, stderr)}
	root := a.root() //nolint:contextcheck // the commands get ctx from ExecuteContext, through cmd.Context()
	root.SetArgs(negativesAsArguments(root, args))
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

// outputs are -o's formats.
var outputs = []string{"table", "json", "jsonl"}

type app struct {
	out io.Writer
	url string
	// token is --token's, else envToken, ORDERMESH_TOKEN's; the flag's
	// default is empty so that help never prints a token.
	token, envToken string
	output          string
	timeout         time.Duration
	// called is set once a command starts calling the mesh: an error after
	// that is the call's, not the command line's.
	called bool
	// confirm asks before a bulk action without --yes; nil refuses.
	confirm confirmer
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
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.url, "url", a.url, "base URL of the mesh or gateway (env ORDERMESH_URL)")
	pf.StringVar(&a.token, "token", "", "bearer token (default: env ORDERMESH_TOKEN)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table, json (one document) or jsonl (one compact object per line)")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "time allowed for the whole command")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputs, cobra.ShellCompDirectiveNoFileComp))
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if !slices.Contains(outputs, a.output) {
			return usagef("-o %q: want table, json or jsonl", a.output)
		}
		if !cmd.Flags().Changed("token") {
			a.token = a.envToken
		}
		return nil
	}
	root.AddCommand(a.ordersCmd(), a.eventsCmd(), a.bulkCmd(), a.stockCmd(), a.summaryCmd(), a.salesCmd(), a.versionCmd())
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

// watching is the context of a command that follows something until it
// ends (a saga, a bulk action): only --timeout, when given, bounds it.
func (a *app) watching(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	a.called = true
	if cmd.Flags().Changed("timeout") {
		return context.WithTimeout(cmd.Context(), a.timeout)
	}
	return context.WithCancel(cmd.Context())
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

// negativesAsArguments returns args with the negative numbers among the
// command's arguments ("stock set BEAN-1 -5") moved after a "--", where
// they are arguments and not flags, in their place among the arguments.
// Command lines without one are returned as they are.
func negativesAsArguments(root *cobra.Command, args []string) []string {
	if !slices.ContainsFunc(args, isNegativeNumber) {
		return args
	}
	cmd, _, err := root.Find(args)
	if err != nil {
		return args
	}
	flags := cmd.Flags() // its own and the inherited ones
	var path, opts, positional []string
	depth := 0 // the command path's words still to see
	for c := cmd; c != root; c = c.Parent() {
		depth++
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case isNegativeNumber(a):
			positional = append(positional, a)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			opts = append(opts, a)
			if takesValue(flags, a) && i+1 < len(args) {
				i++
				opts = append(opts, args[i])
			}
		case depth > 0:
			path = append(path, a)
			depth--
		default:
			positional = append(positional, a)
		}
	}
	return slices.Concat(path, opts, []string{"--"}, positional)
}

func isNegativeNumber(s string) bool {
	if len(s) < 2 || s[0] != '-' {
		return false
	}
	_, err := strconv.ParseFloat(s[1:], 64)
	return err == nil
}

// takesValue reports whether the flag word a ("--reason", "-o") is
// followed by its value as a separate word.
func takesValue(flags *pflag.FlagSet, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	var f *pflag.Flag
	if name, ok := strings.CutPrefix(a, "--"); ok {
		f = flags.Lookup(name)
	} else if len(a) == 2 {
		f = flags.ShorthandLookup(a[1:])
	}
	return f != nil && f.NoOptDefVal == ""
}

// machine reports whether output is for programs: json or jsonl.
func (a *app) machine() bool { return a.output != "table" }

// emit prints doc as one JSON document (-o json), or items one compact
// JSON object a line (-o jsonl), doc itself when there are none.
func (a *app) emit(doc proto.Message, items ...proto.Message) error {
	if a.output == "json" {
		return a.printJSON(doc)
	}
	if len(items) == 0 {
		items = []proto.Message{doc}
	}
	for _, m := range items {
		b, err := protojson.Marshal(m)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(a.out, string(b)); err != nil {
			return err
		}
	}
	return nil
}

// each returns ms as messages, for emit.
func each[M proto.Message](ms []M) []proto.Message {
	out := make([]proto.Message, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
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

// printPlainJSON writes a Go value as indented JSON, or on one line.
func printPlainJSON(w io.Writer, v any, compact bool) error {
	enc := json.NewEncoder(w)
	if !compact {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}
