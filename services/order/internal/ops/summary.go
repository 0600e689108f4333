package ops

import (
	"context"
	"maps"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	"github.com/ordermesh/ordermesh/services/order/internal/handler"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
)

// GetSummary implements opsv1connect.OpsServiceHandler.
func (o *Server) GetSummary(ctx context.Context, req *connect.Request[opsv1.GetSummaryRequest]) (*connect.Response[opsv1.GetSummaryResponse], error) {
	now := o.svc.Now()
	res := &opsv1.GetSummaryResponse{Time: timestamppb.New(now)}
	open, err := o.deps.OpenOrders(ctx)
	if err != nil {
		return nil, err
	}
	counts := map[service.Status]int64{}
	var openNow int64
	for _, c := range open {
		counts[c.Status] = c.Count
		openNow += c.Count
	}
	for _, s := range []service.Status{service.StatusPending, service.StatusReserved} {
		res.OpenOrders = append(res.OpenOrders, &opsv1.StatusCount{Status: handler.StatusProto(s), Count: counts[s]})
	}
	id, age, found, err := o.svc.OldestOpenOrder(ctx)
	if err != nil {
		return nil, err
	}
	if found {
		res.OldestOpenOrderId, res.OldestOpenAge = id, durationpb.New(age)
	}
	stats, errs := gather(o.producers, func(p string) ([]*eventsv1.SubscriberStats, error) {
		r, err := o.deps.Outboxes[p].GetOutboxStats(ctx, connect.NewRequest(&eventsv1.GetOutboxStatsRequest{}))
		if err != nil {
			return nil, err
		}
		return r.Msg.GetSubscribers(), nil
	})
	for i, p := range o.producers {
		if errs[i] != nil {
			res.Unavailable = append(res.Unavailable, unavailableOf(p, errs[i]))
		}
		// Every route is listed, an idle one with zeros.
		queues := map[string]*opsv1.QueueStats{}
		for _, sub := range o.deps.Routing.Subscribers(p) {
			queues[sub] = &opsv1.QueueStats{Producer: p, Subscriber: sub, Lag: durationpb.New(0)}
		}
		for _, s := range stats[i] {
			q := &opsv1.QueueStats{Producer: p, Subscriber: s.GetSubscriber(), Pending: s.GetPending(), Parked: s.GetParked(), Lag: durationpb.New(0)}
			if t := s.GetOldestPendingCreateTime(); t != nil {
				q.Lag = durationpb.New(max(now.Sub(t.AsTime()), 0))
			}
			queues[s.GetSubscriber()] = q
		}
		for _, sub := range slices.Sorted(maps.Keys(queues)) {
			res.Queues = append(res.Queues, queues[sub])
		}
	}
	if err := o.activity(ctx, req.Msg, openNow, res); err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

// activity fills in the summary's minutes and busiest SKUs, with the
// SKUs' stock from Inventory, or Inventory named unavailable.
func (o *Server) activity(ctx context.Context, m *opsv1.GetSummaryRequest, openNow int64, res *opsv1.GetSummaryResponse) error {
	n := int(m.GetMinutes())
	if n == 0 {
		n = 60
	}
	top := m.GetTopSkus()
	if top == 0 {
		top = 5
	}
	minutes, open, err := o.svc.Activity(ctx, n, openNow)
	if err != nil {
		return err
	}
	for i, m := range minutes {
		res.Minutes = append(res.Minutes, &opsv1.SummaryMinute{
			Minute: timestamppb.New(m.Start), Placed: m.Placed, Confirmed: m.Confirmed, Rejected: m.Rejected, Cancelled: m.Cancelled, Open: open[i],
		})
	}
	skus, err := o.svc.BusiestSKUs(ctx, minutes[0].Start, top)
	if err != nil || len(skus) == 0 {
		return err
	}
	ask := &inventoryv1.BatchGetStockRequest{}
	for _, s := range skus {
		ask.Skus = append(ask.Skus, s.SKU)
		res.BusiestSkus = append(res.BusiestSkus, &opsv1.SkuActivity{Sku: s.SKU, Units: s.Units})
	}
	stock, err := o.deps.Inventory.BatchGetStock(ctx, connect.NewRequest(ask))
	if err != nil {
		if !slices.ContainsFunc(res.Unavailable, func(u *opsv1.Unavailable) bool { return u.GetService() == "inventory" }) {
			res.Unavailable = append(res.Unavailable, unavailableOf("inventory", err))
		}
		return nil
	}
	bySKU := map[string]*inventoryv1.Stock{}
	for _, s := range stock.Msg.GetStocks() {
		bySKU[s.GetSku()] = s
	}
	for _, a := range res.BusiestSkus {
		a.Stock = bySKU[a.GetSku()]
	}
	return nil
}
