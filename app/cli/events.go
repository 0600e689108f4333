package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
)

func (a *app) eventsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "List and requeue the event deliveries the relays parked"}
	cmd.AddCommand(a.eventsParked(), a.eventsRequeue())
	return cmd
}

// deliveryFilter is the --producer, --subscriber and --type flags.
type deliveryFilter struct{ producer, subscriber, typ string }

func (f *deliveryFilter) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.producer, "producer", "", "only events this service produced: order, inventory or payment")
	cmd.Flags().StringVar(&f.subscriber, "subscriber", "", "only deliveries to this service")
	cmd.Flags().StringVar(&f.typ, "type", "", "only events of this type, e.g. order_placed")
}

func (f *deliveryFilter) proto() (*opsv1.DeliveryFilter, error) {
	out := &opsv1.DeliveryFilter{Producer: f.producer, Subscriber: f.subscriber}
	if f.typ != "" {
		t, err := enumValue[eventsv1.EventType]("event type", "EVENT_TYPE_", f.typ, eventsv1.EventType_value)
		if err != nil {
			return nil, err
		}
		out.Type = t
	}
	return out, nil
}

func (a *app) eventsParked() *cobra.Command {
	var f deliveryFilter
	var limit int
	cmd := &cobra.Command{
		Use:   "parked",
		Short: "List parked deliveries across every producer, oldest parked first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := f.proto()
			if err != nil {
				return err
			}
			if limit < 1 {
				return usagef("--limit %d: want at least 1", limit)
			}
			res := &opsv1.ListParkedDeliveriesResponse{}
			err = a.call(cmd, func(ctx context.Context) error {
				req := &opsv1.ListParkedDeliveriesRequest{Filter: filter}
				for {
					req.PageSize = int32(min(limit-len(res.Deliveries), 500))
					page, err := a.ops().ListParkedDeliveries(ctx, connect.NewRequest(req))
					if err != nil {
						return err
					}
					res.Deliveries = append(res.Deliveries, page.Msg.GetDeliveries()...)
					res.Unavailable = page.Msg.GetUnavailable()
					if req.PageToken = page.Msg.GetNextPageToken(); req.PageToken == "" || len(res.Deliveries) >= limit {
						res.NextPageToken = req.PageToken
						return nil
					}
				}
			})
			if err != nil {
				return err
			}
			if a.machine() {
				return a.emit(res, each(res.GetDeliveries())...)
			}
			if err := a.printParked(res.GetDeliveries()); err != nil {
				return err
			}
			a.printUnavailable(res.GetUnavailable())
			more := ""
			if res.GetNextPageToken() != "" {
				more = " (more: raise --limit)"
			}
			_, err = fmt.Fprintf(a.out, "%d parked%s\n", len(res.GetDeliveries()), more)
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&limit, "limit", 100, "most deliveries to print")
	return cmd
}

func (a *app) eventsRequeue() *cobra.Command {
	var f deliveryFilter
	var ids []string
	b := bulkFlags{verb: "requeue", one: "parked delivery", many: "parked deliveries"}
	cmd := &cobra.Command{
		Use:   "requeue [--event ID…]",
		Short: "Put parked deliveries back in their queues, with their attempts reset",
		Long: `Put parked deliveries back in their queues, with their attempts reset.
Fix the cause first.

With --event, those events' parked deliveries are requeued at once.
Without it, every parked delivery the filter selects is (every one of
every producer with no filter), as a bulk action on the server: it prints
how many and the first of them, asks (or takes --yes), then runs and
prints its progress; each order's timeline records it with --reason.`,
		Example: `  ordermesh events requeue --subscriber inventory --dry-run
  ordermesh events requeue --subscriber inventory --reason "inventory is back" --yes
  ordermesh events requeue --event 01a2…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := f.proto()
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				return a.runBulk(cmd, &opsv1.StartBulkActionRequest{Action: &opsv1.StartBulkActionRequest_RequeueDeliveries{RequeueDeliveries: filter}}, b)
			}
			var res *opsv1.RequeueParkedDeliveriesResponse
			err = a.call(cmd, func(ctx context.Context) error {
				r, err := a.ops().RequeueParkedDeliveries(ctx, connect.NewRequest(&opsv1.RequeueParkedDeliveriesRequest{Filter: filter, EventIds: ids}))
				if err == nil {
					res = r.Msg
				}
				return err
			})
			if err != nil {
				return err
			}
			if a.machine() {
				return a.emit(res)
			}
			a.printUnavailable(res.GetUnavailable())
			_, err = fmt.Fprintf(a.out, "requeued %s\n", strconv.FormatInt(res.GetRequeued(), 10))
			return err
		},
	}
	f.register(cmd)
	b.register(cmd)
	cmd.Flags().StringSliceVar(&ids, "event", nil, "only these event ids, requeued at once; repeat or separate with commas")
	return cmd
}

// printParked prints parked deliveries as a table.
func (a *app) printParked(ds []*opsv1.ParkedDelivery) error {
	w := a.table("PRODUCER", "SUBSCRIBER", "TYPE", "EVENT", "ORDER", "ATTEMPTS", "PARKED", "LAST ERROR")
	for _, p := range ds {
		d := p.GetDelivery()
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", p.GetProducer(), d.GetSubscriber(), enumLabel(d.GetType().String(), "EVENT_TYPE_"),
			d.GetEventId(), d.GetOrderId(), d.GetAttempts(), d.GetParkTime().AsTime().UTC().Format(time.DateTime), d.GetLastError())
	}
	return w.Flush()
}

// printUnavailable warns of the services a gathering call could not ask.
func (a *app) printUnavailable(us []*opsv1.Unavailable) {
	for _, u := range us {
		fmt.Fprintf(a.out, "warning: %s could not be asked, its part is missing: %s\n", u.GetService(), u.GetError())
	}
}
