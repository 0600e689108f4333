package ops

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	"github.com/ordermesh/ordermesh/internal/platform/pagetoken"
)

// selected returns the producers a filter names: one, or all.
func (o *Server) selected(f *opsv1.DeliveryFilter) []string {
	if p := f.GetProducer(); p != "" {
		if _, ok := o.deps.Outboxes[p]; ok {
			return []string{p}
		}
		return nil
	}
	return o.producers
}

// ListParkedDeliveries implements opsv1connect.OpsServiceHandler. Each
// producer lists its own after the page's cursor (park time, event id);
// the lists are merged and cut to the page.
func (o *Server) ListParkedDeliveries(ctx context.Context, req *connect.Request[opsv1.ListParkedDeliveriesRequest]) (*connect.Response[opsv1.ListParkedDeliveriesResponse], error) {
	f := req.Msg.GetFilter()
	scope := fmt.Sprintf("ops-parked|%s|%s|%d", f.GetProducer(), f.GetSubscriber(), f.GetType())
	cursor, err := pagetoken.Decode(req.Msg.GetPageToken(), scope, 2)
	if err != nil {
		return nil, err
	}
	size := pagetoken.Size(req.Msg.GetPageSize(), 100, 500)
	ask := &eventsv1.ListParkedDeliveriesRequest{Subscriber: f.GetSubscriber(), Type: f.GetType(), PageSize: size + 1}
	if cursor != nil {
		at, err := time.Parse(time.RFC3339Nano, cursor[0])
		if err != nil {
			return nil, pagetoken.ErrInvalid
		}
		ask.AfterParkTime, ask.AfterEventId = timestamppb.New(at), cursor[1]
	}
	res := &opsv1.ListParkedDeliveriesResponse{}
	producers := o.selected(f)
	lists, errs := gather(producers, func(p string) ([]*eventsv1.ParkedDelivery, error) {
		r, err := o.deps.Outboxes[p].ListParkedDeliveries(ctx, connect.NewRequest(ask))
		if err != nil {
			return nil, err
		}
		return r.Msg.GetDeliveries(), nil
	})
	if err := allFailed(producers, errs); err != nil {
		return nil, err
	}
	var all []*opsv1.ParkedDelivery
	for i, p := range producers {
		if errs[i] != nil {
			res.Unavailable = append(res.Unavailable, unavailableOf(p, errs[i]))
		}
		for _, d := range lists[i] {
			all = append(all, &opsv1.ParkedDelivery{Producer: p, Delivery: d})
		}
	}
	sortParked(all)
	if len(all) > int(size) {
		all = all[:size]
		last := all[size-1].GetDelivery()
		res.NextPageToken = pagetoken.Encode(scope, last.GetParkTime().AsTime().Format(time.RFC3339Nano), last.GetEventId())
	}
	res.Deliveries = all
	return connect.NewResponse(res), nil
}

// sortParked orders the producers' parked deliveries as each producer
// lists its own: by park time, then event id.
func sortParked(ds []*opsv1.ParkedDelivery) {
	slices.SortFunc(ds, func(a, b *opsv1.ParkedDelivery) int {
		if c := compareTime(a.GetDelivery().GetParkTime(), b.GetDelivery().GetParkTime()); c != 0 {
			return c
		}
		return strings.Compare(a.GetDelivery().GetEventId(), b.GetDelivery().GetEventId())
	})
}

// RequeueParkedDeliveries implements opsv1connect.OpsServiceHandler.
func (o *Server) RequeueParkedDeliveries(ctx context.Context, req *connect.Request[opsv1.RequeueParkedDeliveriesRequest]) (*connect.Response[opsv1.RequeueParkedDeliveriesResponse], error) {
	f := req.Msg.GetFilter()
	ask := &eventsv1.RequeueParkedDeliveriesRequest{EventIds: req.Msg.GetEventIds(), Subscriber: f.GetSubscriber(), Type: f.GetType()}
	producers := o.selected(f)
	counts, errs := gather(producers, func(p string) (int64, error) {
		r, err := o.deps.Outboxes[p].RequeueParkedDeliveries(ctx, connect.NewRequest(ask))
		if err != nil {
			return 0, err
		}
		return r.Msg.GetRequeued(), nil
	})
	if err := allFailed(producers, errs); err != nil {
		return nil, err
	}
	res := &opsv1.RequeueParkedDeliveriesResponse{}
	for i, p := range producers {
		res.Requeued += counts[i]
		if errs[i] != nil {
			res.Unavailable = append(res.Unavailable, unavailableOf(p, errs[i]))
		}
	}
	return connect.NewResponse(res), nil
}
