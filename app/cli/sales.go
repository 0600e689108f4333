package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
)

func (a *app) salesCmd() *cobra.Command {
	var days, top int
	var from, to string
	cmd := &cobra.Command{
		Use:   "sales",
		Short: "What the shop sold: revenue, orders and units by day, and the top sellers",
		Example: `  ordermesh sales                  # the last 7 days
  ordermesh sales --days 30 --top 5
  ordermesh sales --from 2026-12-01T00:00:00Z --to 2026-12-08T00:00:00Z -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 1 || days > 366 {
				return usagef("--days %d: want 1 to 366", days)
			}
			if top < 1 || top > 100 {
				return usagef("--top %d: want 1 to 100", top)
			}
			req := &opsv1.GetSalesFiguresRequest{Top: int32(top)}
			var err error
			if req.From, err = timeFlag("--from", from); err != nil {
				return err
			}
			if req.To, err = timeFlag("--to", to); err != nil {
				return err
			}
			if req.From == nil {
				end := time.Now()
				if req.To != nil {
					end = req.To.AsTime()
				}
				req.From = timestamppb.New(end.Add(-time.Duration(days) * 24 * time.Hour))
			} else if cmd.Flags().Changed("days") {
				return usagef("--days counts back from --to (or now): leave it out with --from")
			}
			var res *opsv1.GetSalesFiguresResponse
			err = a.call(cmd, func(ctx context.Context) error {
				r, err := a.ops().GetSalesFigures(ctx, connect.NewRequest(req))
				if err == nil {
					res = r.Msg
				}
				return err
			})
			if err != nil {
				return err
			}
			if a.machine() {
				return a.emit(res, each(res.GetDays())...)
			}
			return a.printSales(res)
		},
	}
	f := cmd.Flags()
	f.IntVar(&days, "days", 7, "the window: this many days back from --to (or now)")
	f.StringVar(&from, "from", "", "the window's start, an RFC 3339 time (instead of --days)")
	f.StringVar(&to, "to", "", "the window's end, an RFC 3339 time (default now)")
	f.IntVar(&top, "top", 10, "how many top sellers")
	return cmd
}

// barWidth is the longest bar of the daily revenue chart, in characters.
const barWidth = 30

func (a *app) printSales(res *opsv1.GetSalesFiguresResponse) error {
	revenue := make([]string, 0, len(res.GetRevenue()))
	for _, m := range res.GetRevenue() {
		revenue = append(revenue, amount(m))
	}
	if len(revenue) == 0 {
		revenue = []string{"no revenue"}
	}
	fmt.Fprintf(a.out, "Sales %s – %s (UTC): %s, %s, %s\n\n",
		res.GetFrom().AsTime().UTC().Format(time.DateTime), res.GetTo().AsTime().UTC().Format(time.DateTime),
		counted(res.GetOrders(), "order"), counted(res.GetUnits(), "unit"), strings.Join(revenue, ", "))
	// Bars are scaled per currency: amounts in two currencies do not
	// compare.
	most := map[string]int64{}
	for _, d := range res.GetDays() {
		c := d.GetRevenue().GetCurrency()
		most[c] = max(most[c], d.GetRevenue().GetAmountMinor())
	}
	w := a.table("DAY", "ORDERS", "UNITS", "REVENUE", "")
	for _, d := range res.GetDays() {
		r := d.GetRevenue()
		bar := ""
		if m := most[r.GetCurrency()]; m > 0 {
			bar = strings.Repeat("█", int((r.GetAmountMinor()*barWidth+m-1)/m))
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\n", d.GetDay().AsTime().UTC().Format(time.DateOnly), d.GetOrders(), d.GetUnits(), amount(r), bar)
	}
	if len(res.GetDays()) == 0 {
		fmt.Fprintln(w, "(nothing sold)")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.out, "\nTop sellers")
	w = a.table("SKU", "NAME", "UNITS", "ORDERS", "REVENUE")
	for _, p := range res.GetTopSellers() {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\n", p.GetSku(), p.GetName(), p.GetUnits(), p.GetOrders(), amount(p.GetRevenue()))
	}
	return w.Flush()
}

// counted is "1 order", "2 orders".
func counted(n int64, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %ss", n, one)
}
