package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	"github.com/ordermesh/ordermesh/internal/platform/buildinfo"
)

func (a *app) stockCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "stock", Short: "Read and set stock levels"}
	cmd.AddCommand(&cobra.Command{
		Use:   "get [SKU...]",
		Short: "Show the stock of the SKUs, or of every product in the catalog",
		RunE: func(cmd *cobra.Command, skus []string) error {
			var res *inventoryv1.BatchGetStockResponse
			err := a.call(cmd, func(ctx context.Context) error {
				if len(skus) == 0 {
					var err error
					if skus, err = a.allSKUs(ctx); err != nil {
						return err
					}
				}
				res = &inventoryv1.BatchGetStockResponse{}
				for start := 0; start < len(skus); start += 100 {
					r, err := a.inventory().BatchGetStock(ctx, connect.NewRequest(&inventoryv1.BatchGetStockRequest{Skus: skus[start:min(start+100, len(skus))]}))
					if err != nil {
						return err
					}
					res.Stocks = append(res.Stocks, r.Msg.GetStocks()...)
					res.MissingSkus = append(res.MissingSkus, r.Msg.GetMissingSkus()...)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if a.machine() {
				return a.emit(res, each(res.GetStocks())...)
			}
			w := a.table("SKU", "AVAILABLE", "RESERVED", "SOLD", "UPDATED")
			for _, s := range res.GetStocks() {
				updated := "-"
				if s.GetUpdateTime() != nil {
					updated = s.GetUpdateTime().AsTime().UTC().Format(time.DateTime)
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\n", s.GetSku(), s.GetAvailable(), s.GetReserved(), s.GetSold(), updated)
			}
			for _, sku := range res.GetMissingSkus() {
				fmt.Fprintf(w, "%s\tno stock record\t\t\t\n", sku)
			}
			return w.Flush()
		},
	}, &cobra.Command{
		Use:   "set SKU AVAILABLE",
		Short: "Set the units available to sell of a SKU",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil {
				return usagef("AVAILABLE %q: want a whole number of units", args[1])
			}
			var s *inventoryv1.Stock
			err = a.call(cmd, func(ctx context.Context) error {
				res, err := a.inventory().SetStock(ctx, connect.NewRequest(&inventoryv1.SetStockRequest{Sku: args[0], Available: n}))
				if err == nil {
					s = res.Msg.GetStock()
				}
				return err
			})
			if err != nil {
				return err
			}
			return a.printOr(s, "%s: %d available, %d reserved, %d sold\n", s.GetSku(), s.GetAvailable(), s.GetReserved(), s.GetSold())
		},
	})
	return cmd
}

// allSKUs pages through the catalog.
func (a *app) allSKUs(ctx context.Context) ([]string, error) {
	var skus []string
	req := &catalogv1.ListProductsRequest{PageSize: 100}
	for {
		res, err := a.catalog().ListProducts(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		for _, p := range res.Msg.GetProducts() {
			skus = append(skus, p.GetSku())
		}
		if req.PageToken = res.Msg.GetNextPageToken(); req.PageToken == "" {
			return skus, nil
		}
	}
}

func (a *app) summaryCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "summary",
		Short: "Open orders, the oldest open order, and every event queue",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var sum *opsv1.GetSummaryResponse
			err := a.call(cmd, func(ctx context.Context) error {
				res, err := a.ops().GetSummary(ctx, connect.NewRequest(&opsv1.GetSummaryRequest{}))
				if err == nil {
					sum = res.Msg
				}
				return err
			})
			if err != nil {
				return err
			}
			if a.machine() {
				return a.emit(sum)
			}
			fmt.Fprint(a.out, "Open orders")
			for _, c := range sum.GetOpenOrders() {
				fmt.Fprintf(a.out, "  %s %d", enumLabel(c.GetStatus().String(), "ORDER_STATUS_"), c.GetCount())
			}
			fmt.Fprintln(a.out)
			if id := sum.GetOldestOpenOrderId(); id != "" {
				fmt.Fprintf(a.out, "Oldest open  %s, open for %s\n", id, age(sum.GetOldestOpenAge().AsDuration()))
			} else {
				fmt.Fprintln(a.out, "Oldest open  none")
			}
			fmt.Fprintln(a.out)
			w := a.table("PRODUCER", "SUBSCRIBER", "PENDING", "LAG", "PARKED")
			for _, q := range sum.GetQueues() {
				parked := strconv.FormatInt(q.GetParked(), 10)
				if q.GetParked() > 0 {
					parked += " !"
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", q.GetProducer(), q.GetSubscriber(), q.GetPending(), lag(q.GetLag()), parked)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			a.printUnavailable(sum.GetUnavailable())
			return nil
		},
	}
}

func lag(d *durationpb.Duration) string {
	if d.AsDuration() == 0 {
		return "-"
	}
	return d.AsDuration().Round(time.Millisecond).String()
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print this binary's version, revision and build time",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			info := buildinfo.Get()
			if a.machine() {
				return printPlainJSON(a.out, info, a.output == "jsonl")
			}
			modified := ""
			if info.Modified {
				modified = " (with uncommitted changes)"
			}
			_, err := fmt.Fprintf(a.out, "ordermesh %s\nrevision   %s%s\ncommitted  %s\nbuilt      %s\ngo         %s\n",
				info.Version, info.Revision, modified, dash(info.CommitTime), dash(info.BuildTime), info.GoVersion)
			return err
		},
	}
}
