package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
)

// bulkEvery is how often a bulk action's progress is read.
const bulkEvery = 500 * time.Millisecond

// bulkFlags are the flags of a command that acts on everything a filter
// selects.
type bulkFlags struct {
	reason          string
	dryRun, yes     bool
	noWait          bool
	sample          int
	verb, one, many string // "cancel", "order", "orders"
}

// counted is n of the flags' things: "1 order", "2 orders".
func (b bulkFlags) counted(n int64) string {
	if n == 1 {
		return "1 " + b.one
	}
	return fmt.Sprintf("%d %s", n, b.many)
}

// these names n of them as a question does: "this order", "these 2 orders".
func (b bulkFlags) these(n int64) string {
	if n == 1 {
		return "this " + b.one
	}
	return fmt.Sprintf("these %d %s", n, b.many)
}

func (b *bulkFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&b.reason, "reason", "", "why (recorded with the action and in each order's timeline, with your name); required unless --dry-run")
	f.BoolVar(&b.dryRun, "dry-run", false, "only print how many the filter selects, and the first of them")
	f.BoolVarP(&b.yes, "yes", "y", false, "do it without asking; without it a terminal is asked, and anything else is refused")
	f.BoolVar(&b.noWait, "no-wait", false, "print the action's id and return while it runs (follow it with: ordermesh bulk show ID --wait)")
	f.IntVar(&b.sample, "sample", 10, "how many of the selected to print first, 0 to 50")
}

// confirmer asks the person at the terminal; nil when stdin is not one.
type confirmer func(question string) (bool, error)

// terminalConfirm asks on w and reads the answer from in, when in is a
// terminal.
func terminalConfirm(in *os.File, w io.Writer) confirmer {
	if !term.IsTerminal(int(in.Fd())) {
		return nil
	}
	return func(question string) (bool, error) {
		fmt.Fprint(w, question)
		answer, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && answer == "" {
			return false, nil // no answer is no
		}
		answer = strings.ToLower(strings.TrimSpace(answer))
		return answer == "y" || answer == "yes", nil
	}
}

// runBulk runs a bulk action the way an operator expects: a dry run
// first, printed; then, confirmed by --yes or at the terminal, the action
// under a request id of its own, followed to its end.
func (a *app) runBulk(cmd *cobra.Command, req *opsv1.StartBulkActionRequest, b bulkFlags) error {
	if !b.dryRun && len(strings.TrimSpace(b.reason)) < 3 {
		return usagef("--reason is required: say why, in a few words, for the record and each order's timeline")
	}
	if b.sample < 0 || b.sample > 50 {
		return usagef("--sample %d: want 0 to 50", b.sample)
	}
	req.Reason, req.DryRun, req.SampleSize = strings.TrimSpace(b.reason), true, int32(b.sample)
	if b.sample == 0 {
		req.SampleSize = 1 // the API's 0 is its default; print none of the one
	}
	var preview *opsv1.StartBulkActionResponse
	err := a.call(cmd, func(ctx context.Context) error {
		res, err := a.ops().StartBulkAction(ctx, connect.NewRequest(req))
		if err == nil {
			preview = res.Msg
		}
		return err
	})
	if err != nil {
		return err
	}
	if b.sample == 0 {
		preview.SampleOrders, preview.SampleDeliveries = nil, nil
	}
	if b.dryRun && a.machine() {
		return a.emit(preview)
	}
	if !a.machine() {
		if err := a.printPreview(preview, b); err != nil {
			return err
		}
	}
	if b.dryRun {
		return nil
	}
	if preview.GetCount() == 0 {
		if a.machine() {
			return a.emit(preview)
		}
		return nil
	}
	if !b.yes {
		if a.confirm == nil {
			return usagef("nothing done: say --yes to %s %s (stdin is not a terminal to ask)", b.verb, b.these(preview.GetCount()))
		}
		ok, err := a.confirm(fmt.Sprintf("%s %s? [y/N] ", capitalize(b.verb), b.these(preview.GetCount())))
		if err != nil {
			return err
		}
		if !ok {
			return usagef("not confirmed: nothing done")
		}
	}
	req.DryRun, req.RequestId = false, uuid.NewString()
	var action *opsv1.BulkAction
	err = a.call(cmd, func(ctx context.Context) error {
		res, err := a.ops().StartBulkAction(ctx, connect.NewRequest(req))
		if err == nil {
			action = res.Msg.GetAction()
		}
		return err
	})
	if err != nil {
		return err
	}
	if b.noWait {
		if a.machine() {
			return a.emit(action)
		}
		_, err := fmt.Fprintf(a.out, "bulk action %s started; follow it with: ordermesh bulk show %s --wait\n", action.GetId(), action.GetId())
		return err
	}
	return a.waitBulk(cmd, action)
}

// printPreview prints a dry run: the count, the filter, and the sample.
func (a *app) printPreview(p *opsv1.StartBulkActionResponse, b bulkFlags) error {
	a.printUnavailable(p.GetUnavailable())
	if p.GetCount() == 0 {
		_, err := fmt.Fprintf(a.out, "no %s to %s: the filter (%s) selects none\n", b.many, b.verb, p.GetFilter())
		return err
	}
	fmt.Fprintf(a.out, "%s to %s (%s)", b.counted(p.GetCount()), b.verb, p.GetFilter())
	shown := len(p.GetSampleOrders()) + len(p.GetSampleDeliveries())
	switch {
	case shown == 0:
		_, err := fmt.Fprintln(a.out)
		return err
	case int64(shown) < p.GetCount():
		fmt.Fprintf(a.out, "; the first %d:\n", shown)
	default:
		fmt.Fprintln(a.out, ":")
	}
	var err error
	if len(p.GetSampleOrders()) > 0 {
		err = a.printOrders(p.GetSampleOrders())
	} else {
		err = a.printParked(p.GetSampleDeliveries())
	}
	if err != nil {
		return err
	}
	if more := p.GetCount() - int64(shown); more > 0 {
		_, err = fmt.Fprintf(a.out, "… and %d more\n", more)
	}
	return err
}

// waitBulk reads a bulk action until it ends, printing its progress when
// it moves. Only --timeout, when given, bounds the wait: the action runs
// on the server either way.
func (a *app) waitBulk(cmd *cobra.Command, action *opsv1.BulkAction) error {
	ctx, cancel := a.watching(cmd)
	defer cancel()
	did := didOf(action.GetKind())
	progress := ""
	for {
		if !a.machine() {
			if p := fmt.Sprintf("%d of %d %s, %d skipped", action.GetDone(), action.GetMatched(), did, action.GetSkipped()); p != progress {
				progress = p
				fmt.Fprintf(a.out, "%s  %s\n", time.Now().UTC().Format(time.TimeOnly), p)
			}
		}
		if action.GetState() != opsv1.BulkActionState_BULK_ACTION_STATE_RUNNING {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting for bulk action %s, which goes on (ordermesh bulk show %s --wait): %w",
				action.GetId(), action.GetId(), context.Cause(ctx))
		case <-time.After(bulkEvery):
		}
		res, err := a.ops().GetBulkAction(ctx, connect.NewRequest(&opsv1.GetBulkActionRequest{Id: action.GetId()}))
		if err != nil {
			return err
		}
		action = res.Msg.GetAction()
	}
	if a.machine() {
		if err := a.emit(action); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.out, "bulk action %s %s\n", action.GetId(), enumLabel(action.GetState().String(), "BULK_ACTION_STATE_"))
	}
	switch action.GetState() {
	case opsv1.BulkActionState_BULK_ACTION_STATE_FAILED:
		return fmt.Errorf("bulk action %s failed after %d %s: %s", action.GetId(), action.GetDone(), did, action.GetError())
	case opsv1.BulkActionState_BULK_ACTION_STATE_STOPPED:
		return fmt.Errorf("bulk action %s was stopped by %s after %d of %d %s", action.GetId(), action.GetStoppedBy(), action.GetDone(), action.GetMatched(), did)
	default:
		return nil
	}
}

func (a *app) ordersBulkCancel() *cobra.Command {
	var of orderFlags
	b := bulkFlags{verb: "cancel", one: "order", many: "orders"}
	cmd := &cobra.Command{
		Use:   "bulk-cancel FILTER… --reason TEXT",
		Short: "Cancel every order a filter selects, on the server, after a dry run and a confirmation",
		Long: `Cancel every order a filter selects that is still open or confirmed,
with the compensations of a single cancel. It prints how many and the
first of them, asks (or takes --yes), then starts the action on the
server and prints its progress until it ends. The action, with your name,
your reason, the filter and the count, appears in each order's timeline.
Orders placed after it starts are left alone; running it twice cancels
nothing twice.`,
		Example: `  ordermesh orders bulk-cancel --sku BEAN-1 --status pending,reserved --dry-run
  ordermesh orders bulk-cancel --sku BEAN-1 --status pending,reserved --reason "supplier recall" --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := of.filter(cmd)
			if err != nil {
				return err
			}
			return a.runBulk(cmd, &opsv1.StartBulkActionRequest{Action: &opsv1.StartBulkActionRequest_CancelOrders{CancelOrders: f}}, b)
		},
	}
	of.register(cmd, false)
	b.register(cmd)
	return cmd
}

func (a *app) bulkCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bulk", Short: "Read the bulk actions: who cancelled or requeued what, why, and how far it got"}
	cmd.AddCommand(a.bulkList(), a.bulkShow(), a.bulkStop())
	return cmd
}

func (a *app) bulkList() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the bulk actions, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 100 {
				return usagef("--limit %d: want 1 to 100", limit)
			}
			var res *opsv1.ListBulkActionsResponse
			err := a.call(cmd, func(ctx context.Context) error {
				r, err := a.ops().ListBulkActions(ctx, connect.NewRequest(&opsv1.ListBulkActionsRequest{PageSize: int32(limit)}))
				if err == nil {
					res = r.Msg
				}
				return err
			})
			if err != nil {
				return err
			}
			if a.machine() {
				return a.emit(res, each(res.GetActions())...)
			}
			w := a.table("ID", "KIND", "STATE", "OPERATOR", "DONE", "SKIPPED", "MATCHED", "STARTED", "FILTER", "REASON")
			for _, b := range res.GetActions() {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", b.GetId(), enumLabel(b.GetKind().String(), "BULK_ACTION_KIND_"),
					enumLabel(b.GetState().String(), "BULK_ACTION_STATE_"), b.GetOperator(), b.GetDone(), b.GetSkipped(), b.GetMatched(),
					b.GetCreateTime().AsTime().UTC().Format(time.DateTime), b.GetFilter(), b.GetReason())
			}
			if err := w.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintln(a.out, bulkFlags{one: "bulk action", many: "bulk actions"}.counted(int64(len(res.GetActions()))))
			return err
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "most actions to print, up to 100")
	return cmd
}

func (a *app) bulkShow() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "show ACTION_ID",
		Short: "Print a bulk action: who, why, the filter, and its progress",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var action *opsv1.BulkAction
			err := a.call(cmd, func(ctx context.Context) error {
				r, err := a.ops().GetBulkAction(ctx, connect.NewRequest(&opsv1.GetBulkActionRequest{Id: args[0]}))
				if err == nil {
					action = r.Msg.GetAction()
				}
				return err
			})
			if err != nil {
				return err
			}
			if !a.machine() {
				finished := "-"
				if t := action.GetFinishTime(); t != nil {
					finished = t.AsTime().UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(a.out, "Action    %s\nKind      %s\nState     %s\nOperator  %s\nReason    %s\nFilter    %s\nStarted   %s\nFinished  %s\n",
					action.GetId(), enumLabel(action.GetKind().String(), "BULK_ACTION_KIND_"), enumLabel(action.GetState().String(), "BULK_ACTION_STATE_"),
					action.GetOperator(), action.GetReason(), action.GetFilter(), action.GetCreateTime().AsTime().UTC().Format(time.RFC3339), finished)
				if action.GetError() != "" {
					fmt.Fprintf(a.out, "Error     %s\n", action.GetError())
				}
				if action.GetStoppedBy() != "" {
					fmt.Fprintf(a.out, "Stopped   by %s\n", action.GetStoppedBy())
				}
			}
			if wait {
				return a.waitBulk(cmd, action)
			}
			if a.machine() {
				return a.emit(action)
			}
			_, err = fmt.Fprintf(a.out, "Progress  %d of %d %s, %d skipped\n", action.GetDone(), action.GetMatched(), didOf(action.GetKind()), action.GetSkipped())
			return err
		},
	}
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "print its progress until it ends")
	return cmd
}

func (a *app) bulkStop() *cobra.Command {
	return &cobra.Command{
		Use:   "stop ACTION_ID",
		Short: "Stop a running bulk action before its next batch; what it did stays done",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var action *opsv1.BulkAction
			err := a.call(cmd, func(ctx context.Context) error {
				r, err := a.ops().StopBulkAction(ctx, connect.NewRequest(&opsv1.StopBulkActionRequest{Id: args[0]}))
				if err == nil {
					action = r.Msg.GetAction()
				}
				return err
			})
			if err != nil {
				return err
			}
			return a.printOr(action, "bulk action %s stopped after %d of %d done, %d skipped\n",
				action.GetId(), action.GetDone(), action.GetMatched(), action.GetSkipped())
		},
	}
}

// didOf words what an action of kind did to each: "cancelled".
func didOf(kind opsv1.BulkActionKind) string {
	switch kind {
	case opsv1.BulkActionKind_BULK_ACTION_KIND_CANCEL_ORDERS:
		return "cancelled"
	case opsv1.BulkActionKind_BULK_ACTION_KIND_REQUEUE_DELIVERIES:
		return "requeued"
	case opsv1.BulkActionKind_BULK_ACTION_KIND_UNSPECIFIED:
	}
	return "done"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
