package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/money"
)

func (a *app) ordersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "orders", Short: "Find, read and cancel orders across customers"}
	cmd.AddCommand(a.ordersList(), a.ordersShow(), a.ordersCancel(), a.ordersBulkCancel(), a.ordersExpire())
	return cmd
}

// orderFlags are the filter flags of `orders list` and `orders
// bulk-cancel`.
type orderFlags struct {
	statuses, reasons                                      []string
	olderThan                                              time.Duration
	user, after, before, idPrefix, sku, minTotal, maxTotal string
}

// register adds the flags to cmd; --reason only with reasons (the orders
// a bulk cancel can cancel have none, and its --reason is why).
func (o *orderFlags) register(cmd *cobra.Command, reasons bool) {
	f := cmd.Flags()
	f.StringSliceVar(&o.statuses, "status", nil, "only these statuses (pending, reserved, confirmed, shipped, rejected, cancelled); repeat or separate with commas")
	if reasons {
		f.StringSliceVar(&o.reasons, "reason", nil, "only these reasons (out_of_stock, payment_declined, shipping_failed, customer, expired, operator)")
		_ = cmd.RegisterFlagCompletionFunc("reason", enumCompletion(orderv1.StatusReason_value, "STATUS_REASON_"))
	}
	f.DurationVar(&o.olderThan, "older-than", 0, "only open orders (pending, reserved) placed longer ago than this, e.g. 10m: the stuck ones")
	f.StringVar(&o.user, "user", "", "only this customer's orders")
	f.StringVar(&o.after, "placed-after", "", "only orders placed at or after this RFC 3339 time")
	f.StringVar(&o.before, "placed-before", "", "only orders placed before this RFC 3339 time")
	f.StringVar(&o.idPrefix, "id", "", "only orders whose id starts with this (hexadecimal digits, dashes optional), e.g. 01a23c3c")
	f.StringVar(&o.sku, "sku", "", "only orders with a line of this SKU")
	f.StringVar(&o.minTotal, "min-total", "", `only orders totalling at least this, with its currency, e.g. "50 EUR"`)
	f.StringVar(&o.maxTotal, "max-total", "", `only orders totalling at most this, with its currency, e.g. "99.90 EUR"`)
	_ = cmd.RegisterFlagCompletionFunc("status", enumCompletion(orderv1.OrderStatus_value, "ORDER_STATUS_"))
}

// filter is the flags as OpsService's filter.
func (o *orderFlags) filter(cmd *cobra.Command) (*opsv1.OrderFilter, error) {
	out := &opsv1.OrderFilter{UserId: o.user, OrderIdPrefix: o.idPrefix, Sku: o.sku}
	for _, bound := range []struct {
		flag, raw string
		into      **commonv1.Money
	}{{"--min-total", o.minTotal, &out.MinTotal}, {"--max-total", o.maxTotal, &out.MaxTotal}} {
		if bound.raw == "" {
			continue
		}
		amount, code, err := money.Parse(bound.raw)
		if err != nil {
			return nil, usagef("%s %v", bound.flag, err)
		}
		*bound.into = &commonv1.Money{AmountMinor: amount, Currency: code}
	}
	for _, s := range o.statuses {
		v, err := enumValue[orderv1.OrderStatus]("status", "ORDER_STATUS_", s, orderv1.OrderStatus_value)
		if err != nil {
			return nil, err
		}
		out.Statuses = append(out.Statuses, v)
	}
	for _, r := range o.reasons {
		v, err := enumValue[orderv1.StatusReason]("reason", "STATUS_REASON_", r, orderv1.StatusReason_value)
		if err != nil {
			return nil, err
		}
		out.Reasons = append(out.Reasons, v)
	}
	if cmd.Flags().Changed("older-than") {
		if o.olderThan < 0 {
			return nil, usagef("--older-than %v: want a positive duration such as 10m", o.olderThan)
		}
		out.OpenLongerThan = durationpb.New(o.olderThan)
	}
	var err error
	if out.PlacedAfter, err = timeFlag("--placed-after", o.after); err != nil {
		return nil, err
	}
	if out.PlacedBefore, err = timeFlag("--placed-before", o.before); err != nil {
		return nil, err
	}
	return out, nil
}

func (a *app) ordersList() *cobra.Command {
	var of orderFlags
	var pageToken string
	var oldest, all bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List and search orders by status, reason, id, customer, SKU, total, placement time and age",
		Example: `  ordermesh orders list --status pending,reserved --older-than 10m --oldest-first
  ordermesh orders list --status cancelled --reason payment_declined -o json
  ordermesh orders list --id 01a23c3c
  ordermesh orders list --sku BEAN-1 --min-total "50 EUR" --all -o jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := of.filter(cmd)
			if err != nil {
				return err
			}
			req := &opsv1.ListOrdersRequest{
				Statuses: f.Statuses, Reasons: f.Reasons, PlacedAfter: f.PlacedAfter, PlacedBefore: f.PlacedBefore,
				OpenLongerThan: f.OpenLongerThan, UserId: f.UserId, OrderIdPrefix: f.OrderIdPrefix, Sku: f.Sku,
				MinTotal: f.MinTotal, MaxTotal: f.MaxTotal, PageToken: pageToken,
			}
			if oldest {
				req.Sort = opsv1.OrderSort_ORDER_SORT_OLDEST_FIRST
			}
			if limit < 1 {
				return usagef("--limit %d: want at least 1", limit)
			}
			if all && (cmd.Flags().Changed("limit") || pageToken != "") {
				return usagef("--all lists every order the filter matches: leave out --limit and --page-token")
			}
			var orders []*orderv1.Order
			var total int64
			err = a.call(cmd, func(ctx context.Context) error {
				for {
					req.PageSize = 200
					if !all {
						req.PageSize = int32(min(limit-len(orders), 200))
					}
					res, err := a.ops().ListOrders(ctx, connect.NewRequest(req))
					if err != nil {
						return err
					}
					orders, total = append(orders, res.Msg.GetOrders()...), res.Msg.GetTotalCount()
					if req.PageToken = res.Msg.GetNextPageToken(); req.PageToken == "" || !all && len(orders) >= limit {
						return nil
					}
				}
			})
			if err != nil {
				return err
			}
			if a.machine() {
				return a.emit(&opsv1.ListOrdersResponse{Orders: orders, TotalCount: total, NextPageToken: req.GetPageToken()}, each(orders)...)
			}
			if err := a.printOrders(orders); err != nil {
				return err
			}
			more := ""
			if req.GetPageToken() != "" {
				more = "; the next: --page-token " + req.GetPageToken() + " (or --all)"
			}
			_, err = fmt.Fprintf(a.out, "%d of %d orders%s\n", len(orders), total, more)
			return err
		},
	}
	of.register(cmd, true)
	f := cmd.Flags()
	f.BoolVar(&oldest, "oldest-first", false, "oldest first (default newest first)")
	f.IntVar(&limit, "limit", 50, "most orders to print")
	f.BoolVar(&all, "all", false, "every order the filter matches, page after page")
	f.StringVar(&pageToken, "page-token", "", "start at this page: the token the last page printed (same filter)")
	return cmd
}

// printOrders prints orders as a table.
func (a *app) printOrders(orders []*orderv1.Order) error {
	w := a.table("ID", "STATUS", "REASON", "CUSTOMER", "TOTAL", "PLACED", "AGE")
	now := time.Now()
	for _, o := range orders {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.GetId(), enumLabel(o.GetStatus().String(), "ORDER_STATUS_"),
			enumLabel(o.GetReason().String(), "STATUS_REASON_"), o.GetUserId(), amount(o.GetTotal()),
			o.GetCreateTime().AsTime().UTC().Format(time.DateTime), age(now.Sub(o.GetCreateTime().AsTime())))
	}
	return w.Flush()
}

// enumCompletion completes a flag with an enum's names as the flags take
// them ("pending"), the unspecified value left out.
func enumCompletion(values map[string]int32, prefix string) cobra.CompletionFunc {
	var names []string
	for name, v := range values {
		if v != 0 {
			names = append(names, enumLabel(name, prefix))
		}
	}
	slices.Sort(names)
	return cobra.FixedCompletions(names, cobra.ShellCompDirectiveNoFileComp)
}

func timeFlag(name, raw string) (*timestamppb.Timestamp, error) {
	if raw == "" {
		return nil, nil //nolint:nilnil // no flag, no filter
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return nil, usagef("%s %q: want an RFC 3339 time such as 2026-12-01T09:00:00Z", name, raw)
	}
	return timestamppb.New(t), nil
}

func (a *app) ordersShow() *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "show ORDER_ID",
		Short: "Show one order's saga across the services: status history, reservation, payment and event deliveries",
		Example: `  ordermesh orders show 0193a0c4-7f1e-7b7e-9a43-2f9d1c6b5e01
  ordermesh orders show --follow 0193a0c4-7f1e-7b7e-9a43-2f9d1c6b5e01`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if follow {
				return a.follow(cmd, args[0])
			}
			var tl *opsv1.GetSagaTimelineResponse
			err := a.call(cmd, func(ctx context.Context) error {
				res, err := a.ops().GetSagaTimeline(ctx, connect.NewRequest(&opsv1.GetSagaTimelineRequest{OrderId: args[0]}))
				if err == nil {
					tl = res.Msg
				}
				return err
			})
			if err != nil {
				return err
			}
			if a.machine() {
				return a.emit(tl)
			}
			return a.printTimeline(tl)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "print the saga's steps as they happen, until the order's saga is over (a final status, and no delivery about it pending); --timeout, if given, still applies; -o jsonl prints each step as it comes")
	return cmd
}

// followEvery is how often --follow reads the saga.
const followEvery = 500 * time.Millisecond

// follow prints an order's saga step by step until it is over: the order
// has a final status for the checkout (confirmed, rejected, cancelled,
// shipped) and no delivery about it is pending. A delivery is printed
// again when its state changes.
func (a *app) follow(cmd *cobra.Command, id string) error {
	ctx, cancel := a.watching(cmd)
	defer cancel()
	seen := map[string]bool{}
	var placed time.Time
	for first := true; ; first = false {
		res, err := a.ops().GetSagaTimeline(ctx, connect.NewRequest(&opsv1.GetSagaTimelineRequest{OrderId: id}))
		if err != nil {
			return err
		}
		tl := res.Msg
		if first && !a.machine() {
			placed = tl.GetOrder().GetCreateTime().AsTime()
			fmt.Fprintf(a.out, "Order     %s\nCustomer  %s\nTotal     %s\nPlaced    %s\n\n%-12s  %-9s  %-9s  %s\n",
				tl.GetOrder().GetId(), tl.GetOrder().GetUserId(), amount(tl.GetOrder().GetTotal()), placed.UTC().Format(time.RFC3339Nano),
				"TIME", "AFTER", "SERVICE", "WHAT")
		}
		over := sagaOver(tl.GetOrder().GetStatus())
		for _, e := range tl.GetEntries() {
			if d := e.GetDelivery().GetDelivery(); d != nil && d.GetState() == eventsv1.DeliveryState_DELIVERY_STATE_PENDING {
				over = false
			}
			key, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
			if err != nil {
				return err
			}
			if seen[string(key)] {
				continue
			}
			seen[string(key)] = true
			if err := a.printStep(e, placed); err != nil {
				return err
			}
		}
		if over {
			if a.output == "json" {
				return a.emit(tl)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped following order %s: %w", id, context.Cause(ctx))
		case <-time.After(followEvery):
		}
	}
}

// printStep prints one step of a followed saga: a line, or a JSON object
// with -o jsonl (nothing with -o json, which prints the saga at its end).
func (a *app) printStep(e *opsv1.TimelineEntry, placed time.Time) error {
	switch a.output {
	case "json":
		return nil
	case "jsonl":
		return a.emit(e)
	}
	what, detail := describe(e)
	if detail != "" {
		what += ": " + detail
	}
	t := e.GetTime().AsTime()
	_, err := fmt.Fprintf(a.out, "%-12s  %-9s  %-9s  %s\n", t.UTC().Format("15:04:05.000"), "+"+t.Sub(placed).Round(time.Millisecond).String(), e.GetService(), what)
	return err
}

// sagaOver reports whether an order's checkout saga has ended.
func sagaOver(s orderv1.OrderStatus) bool {
	switch s {
	case orderv1.OrderStatus_ORDER_STATUS_CONFIRMED, orderv1.OrderStatus_ORDER_STATUS_REJECTED,
		orderv1.OrderStatus_ORDER_STATUS_CANCELLED, orderv1.OrderStatus_ORDER_STATUS_SHIPPED:
		return true
	default:
		return false
	}
}

func (a *app) printTimeline(tl *opsv1.GetSagaTimelineResponse) error {
	o := tl.GetOrder()
	status := enumLabel(o.GetStatus().String(), "ORDER_STATUS_")
	if r := enumLabel(o.GetReason().String(), "STATUS_REASON_"); r != "" {
		status += " (" + r + ")"
	}
	placed := o.GetCreateTime().AsTime()
	var lines []string
	for _, l := range o.GetLines() {
		lines = append(lines, fmt.Sprintf("%d × %s", l.GetQuantity(), l.GetSku()))
	}
	fmt.Fprintf(a.out, "Order     %s\nStatus    %s\nCustomer  %s\nTotal     %s (%s)\nPlaced    %s\n",
		o.GetId(), status, o.GetUserId(), amount(o.GetTotal()), strings.Join(lines, ", "), placed.UTC().Format(time.RFC3339Nano))
	if id := tl.GetTraceId(); id != "" {
		fmt.Fprintf(a.out, "Trace     %s\n", strings.TrimSpace(id+" "+tl.GetTraceUrl()))
	}
	if p := tl.GetPayment(); p != nil {
		fmt.Fprintf(a.out, "Payment   %s\n", strings.TrimSpace(enumLabel(p.GetStatus().String(), "PAYMENT_STATUS_")+" "+p.GetDeclineCode()))
	}
	if r := tl.GetReservation(); r != nil {
		fmt.Fprintf(a.out, "Stock     %s\n", enumLabel(r.GetStatus().String(), "RESERVATION_STATUS_"))
	}
	for _, u := range tl.GetUnavailable() {
		fmt.Fprintf(a.out, "Missing   %s could not be asked: %s\n", u.GetService(), u.GetError())
	}
	fmt.Fprintln(a.out)
	w := a.table("TIME", "AFTER", "SERVICE", "WHAT", "DETAIL")
	for _, e := range tl.GetEntries() {
		what, detail := describe(e)
		fmt.Fprintf(w, "%s\t+%s\t%s\t%s\t%s\n", e.GetTime().AsTime().UTC().Format("15:04:05.000"),
			e.GetTime().AsTime().Sub(placed).Round(time.Millisecond), e.GetService(), what, detail)
	}
	return w.Flush()
}

func (a *app) ordersCancel() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "cancel ORDER_ID --reason TEXT",
		Short: "Cancel an order that has not shipped, releasing its stock and voiding or refunding its payment",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return usagef("--reason is required: say why, for the order's history")
			}
			var o *orderv1.Order
			err := a.call(cmd, func(ctx context.Context) error {
				res, err := a.ops().CancelOrder(ctx, connect.NewRequest(&opsv1.CancelOrderRequest{OrderId: args[0], Reason: reason}))
				if err == nil {
					o = res.Msg.GetOrder()
				}
				return err
			})
			if err != nil {
				return err
			}
			if a.machine() {
				return a.emit(o)
			}
			last := o.GetHistory()[len(o.GetHistory())-1]
			_, err = fmt.Fprintf(a.out, "order %s %s: %s\n", o.GetId(), enumLabel(o.GetStatus().String(), "ORDER_STATUS_"), last.GetDetail())
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the order's history with your name); required")
	return cmd
}

func (a *app) ordersExpire() *cobra.Command {
	return &cobra.Command{
		Use:   "expire",
		Short: "Run the expiry sweep now: cancel every open order past its deadline",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res *opsv1.ExpireNowResponse
			err := a.call(cmd, func(ctx context.Context) error {
				r, err := a.ops().ExpireNow(ctx, connect.NewRequest(&opsv1.ExpireNowRequest{}))
				if err == nil {
					res = r.Msg
				}
				return err
			})
			if err != nil {
				return err
			}
			return a.printOr(res, "%d orders expired\n", res.GetExpired())
		},
	}
}

// printOr prints msg as JSON, or the formatted line as a table would.
func (a *app) printOr(msg proto.Message, format string, args ...any) error {
	if a.machine() {
		return a.emit(msg)
	}
	_, err := fmt.Fprintf(a.out, format, args...)
	return err
}

// amount formats an amount: "93.90 EUR".
func amount(m *commonv1.Money) string {
	if m == nil {
		return "-"
	}
	return money.Format(m.GetAmountMinor(), m.GetCurrency())
}

// age formats a duration for people: 45s, 12m, 3h20m, 2d4h.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
