package handler

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1/opsv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	paymentv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1/paymentv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/money"
	"github.com/ordermesh/ordermesh/internal/platform/pagetoken"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
)

// OpsDeps are what the operator's service reads beyond Order's own data.
type OpsDeps struct {
	Inventory inventoryv1connect.InventoryServiceClient
	Payments  paymentv1connect.PaymentServiceClient
	// Outboxes are the producers' event admins, by producer name: a client
	// for another service's, or the admin of Order's own outbox.
	Outboxes map[string]eventsv1connect.EventAdminServiceClient
	// Routing is the saga's routing table: every route is listed in the
	// summary, an idle one with zeros.
	Routing events.Routing
	// OpenOrders counts the open orders by status.
	OpenOrders func(context.Context) ([]service.OpenOrders, error)
}

// Ops implements opsv1connect.OpsServiceHandler: the operator's view of
// every saga, gathered from the services that own each part.
type Ops struct {
	svc       *service.Service
	deps      OpsDeps
	producers []string
}

var _ opsv1connect.OpsServiceHandler = (*Ops)(nil)

// NewOps returns the operator's service over svc and deps.
func NewOps(svc *service.Service, deps OpsDeps) *Ops {
	producers := make([]string, 0, len(deps.Outboxes))
	for p := range deps.Outboxes {
		producers = append(producers, p)
	}
	slices.Sort(producers)
	return &Ops{svc: svc, deps: deps, producers: producers}
}

var statusNames, reasonNames = invert(statuses), invert(reasons)

func invert[K, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

// ListOrders implements opsv1connect.OpsServiceHandler.
func (o *Ops) ListOrders(ctx context.Context, req *connect.Request[opsv1.ListOrdersRequest]) (*connect.Response[opsv1.ListOrdersResponse], error) {
	m := req.Msg
	f := service.Filter{UserID: m.GetUserId(), OldestFirst: m.GetSort() == opsv1.OrderSort_ORDER_SORT_OLDEST_FIRST}
	for _, s := range m.GetStatuses() {
		f.Statuses = append(f.Statuses, statusNames[s])
	}
	for _, r := range m.GetReasons() {
		f.Reasons = append(f.Reasons, reasonNames[r])
	}
	if t := m.GetPlacedAfter(); t != nil {
		at := t.AsTime()
		f.PlacedAfter = &at
	}
	if t := m.GetPlacedBefore(); t != nil {
		at := t.AsTime()
		f.PlacedBefore = &at
	}
	if d := m.GetOpenLongerThan(); d != nil {
		at := o.svc.Now().Add(-d.AsDuration())
		f.OpenBefore = &at
	}
	// A token is good only for the filter it was made with.
	filter := proto.CloneOf(m)
	filter.PageSize, filter.PageToken = 0, ""
	scope, err := proto.MarshalOptions{Deterministic: true}.Marshal(filter)
	if err != nil {
		return nil, err
	}
	page, err := pagetoken.NewKeyset(m.GetPageToken(), "ops-orders|"+string(scope), m.GetPageSize(), 50, 200)
	if err != nil {
		return nil, err
	}
	orders, err := o.svc.SearchOrders(ctx, f, page.After, page.Fetch())
	if err != nil {
		return nil, err
	}
	res := &opsv1.ListOrdersResponse{}
	if res.TotalCount, err = o.svc.CountOrders(ctx, f); err != nil {
		return nil, err
	}
	orders, res.NextPageToken = pagetoken.Page(page, orders, func(o service.Order) string { return o.ID })
	for _, ord := range orders {
		res.Orders = append(res.Orders, ToProto(ord))
	}
	return connect.NewResponse(res), nil
}

// GetSagaTimeline implements opsv1connect.OpsServiceHandler. The order
// must exist; the other services are asked at the same time, and one that
// cannot answer is named in the response instead of failing it.
func (o *Ops) GetSagaTimeline(ctx context.Context, req *connect.Request[opsv1.GetSagaTimelineRequest]) (*connect.Response[opsv1.GetSagaTimelineResponse], error) {
	id := req.Msg.GetOrderId()
	ord, err := o.svc.GetOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	res := &opsv1.GetSagaTimelineResponse{Order: ToProto(ord)}
	// What each other service knows of the order, asked all at once: its
	// reservation, its payment, and every producer's deliveries of it.
	type source struct {
		service string
		read    func() (proto.Message, error)
	}
	sources := []source{
		{"inventory", func() (proto.Message, error) {
			r, err := o.deps.Inventory.GetReservation(ctx, connect.NewRequest(&inventoryv1.GetReservationRequest{OrderId: id}))
			if err != nil {
				return nil, err
			}
			return r.Msg.GetReservation(), nil
		}},
		{"payment", func() (proto.Message, error) {
			r, err := o.deps.Payments.GetPayment(ctx, connect.NewRequest(&paymentv1.GetPaymentRequest{OrderId: id}))
			if err != nil {
				return nil, err
			}
			return r.Msg.GetPayment(), nil
		}},
	}
	for _, p := range o.producers {
		sources = append(sources, source{p, func() (proto.Message, error) {
			r, err := o.deps.Outboxes[p].ListOrderDeliveries(ctx, connect.NewRequest(&eventsv1.ListOrderDeliveriesRequest{OrderId: id}))
			if err != nil {
				return nil, err
			}
			return r.Msg, nil
		}})
	}
	answers, errs := gather(sources, func(s source) (proto.Message, error) { return s.read() })
	for k, s := range sources {
		switch err := errs[k]; {
		case connect.CodeOf(err) == connect.CodeNotFound: // nothing reserved or paid (yet)
		case err != nil:
			if !slices.ContainsFunc(res.Unavailable, func(u *opsv1.Unavailable) bool { return u.GetService() == s.service }) {
				res.Unavailable = append(res.Unavailable, unavailableOf(s.service, err))
			}
		default:
			switch m := answers[k].(type) {
			case *inventoryv1.Reservation:
				res.Reservation = m
			case *paymentv1.Payment:
				res.Payment = m
			case *eventsv1.ListOrderDeliveriesResponse:
				for _, d := range m.GetDeliveries() {
					res.Deliveries = append(res.Deliveries, &opsv1.ProducedDelivery{Producer: s.service, Delivery: d})
				}
			}
		}
	}
	slices.SortFunc(res.Unavailable, func(a, b *opsv1.Unavailable) int { return strings.Compare(a.GetService(), b.GetService()) })
	res.Entries = timeline(res)
	return connect.NewResponse(res), nil
}

// unavailableOf describes a service that did not answer.
func unavailableOf(svc string, err error) *opsv1.Unavailable {
	return &opsv1.Unavailable{Service: svc, Error: rpcerr.Text(err)}
}

// timeline merges the parts of a saga into one list, oldest first.
func timeline(res *opsv1.GetSagaTimelineResponse) []*opsv1.TimelineEntry {
	var out []*opsv1.TimelineEntry
	add := func(at *timestamppb.Timestamp, svc, kind, summary, detail string, problem bool) {
		if at != nil {
			out = append(out, &opsv1.TimelineEntry{Time: at, Service: svc, Kind: kind, Summary: summary, Detail: detail, Problem: problem})
		}
	}
	for _, c := range res.GetOrder().GetHistory() {
		summary := enumName(c.GetStatus().String(), "ORDER_STATUS_")
		if c.GetReason() != orderv1.StatusReason_STATUS_REASON_UNSPECIFIED {
			summary += " (" + strings.ToLower(enumName(c.GetReason().String(), "STATUS_REASON_")) + ")"
		}
		add(c.GetTime(), "order", "status", summary, c.GetDetail(), false)
	}
	if r := res.GetReservation(); r != nil {
		lines := make([]string, 0, len(r.GetLines()))
		for _, l := range r.GetLines() {
			lines = append(lines, fmt.Sprintf("%d × %s", l.GetQuantity(), l.GetSku()))
		}
		status := enumName(r.GetStatus().String(), "RESERVATION_STATUS_")
		first := "reservation " + strings.Join(lines, ", ")
		if r.GetStatus() == inventoryv1.ReservationStatus_RESERVATION_STATUS_REJECTED {
			first = "reservation REJECTED: " + strings.Join(lines, ", ")
		}
		detail := ""
		if e := r.GetExpireTime(); e != nil {
			detail = "held until " + e.AsTime().UTC().Format(time.RFC3339)
		}
		add(r.GetCreateTime(), "inventory", "reservation", first, detail, false)
		if r.GetStatus() != inventoryv1.ReservationStatus_RESERVATION_STATUS_HELD &&
			r.GetStatus() != inventoryv1.ReservationStatus_RESERVATION_STATUS_REJECTED {
			add(r.GetUpdateTime(), "inventory", "reservation", "reservation "+status, "", false)
		}
	}
	if p := res.GetPayment(); p != nil {
		for _, op := range p.GetOperations() {
			outcome := "succeeded"
			if !op.GetSucceeded() {
				outcome = "failed"
			}
			amount := money.Format(p.GetAmount().GetAmountMinor(), p.GetAmount().GetCurrency())
			add(op.GetTime(), "payment", "payment", op.GetKind()+" "+amount+" "+outcome, op.GetMessage(), !op.GetSucceeded())
		}
	}
	for _, pd := range res.GetDeliveries() {
		d := pd.GetDelivery()
		route := enumName(d.GetType().String(), "EVENT_TYPE_") + " " + pd.GetProducer() + " → " + d.GetSubscriber()
		switch d.GetState() {
		case eventsv1.DeliveryState_DELIVERY_STATE_DELIVERED:
			add(d.GetDeliverTime(), pd.GetProducer(), "delivery", route+": delivered after "+attempts(d.GetAttempts()), d.GetLastError(), false)
		case eventsv1.DeliveryState_DELIVERY_STATE_PARKED:
			add(d.GetParkTime(), pd.GetProducer(), "delivery", route+": PARKED after "+attempts(d.GetAttempts())+"; requeue it once the cause is fixed", d.GetLastError(), true)
		default:
			summary := route + ": pending"
			if d.GetAttempts() > 0 {
				summary += ", " + attempts(d.GetAttempts()) + " failed"
			}
			if n := d.GetNextAttemptTime(); n != nil {
				summary += ", next at " + n.AsTime().UTC().Format(time.RFC3339)
			}
			add(d.GetCreateTime(), pd.GetProducer(), "delivery", summary, d.GetLastError(), d.GetAttempts() > 0)
		}
	}
	slices.SortStableFunc(out, func(a, b *opsv1.TimelineEntry) int { return a.GetTime().AsTime().Compare(b.GetTime().AsTime()) })
	return out
}

func enumName(full, prefix string) string { return strings.TrimPrefix(full, prefix) }

func attempts(n int32) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// CancelOrder implements opsv1connect.OpsServiceHandler.
func (o *Ops) CancelOrder(ctx context.Context, req *connect.Request[opsv1.CancelOrderRequest]) (*connect.Response[opsv1.CancelOrderResponse], error) {
	p, _ := auth.FromContext(ctx)
	ord, err := o.svc.OperatorCancel(ctx, req.Msg.GetOrderId(), p.Subject, req.Msg.GetReason())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&opsv1.CancelOrderResponse{Order: ToProto(ord)}), nil
}

// ExpireNow implements opsv1connect.OpsServiceHandler.
func (o *Ops) ExpireNow(ctx context.Context, _ *connect.Request[opsv1.ExpireNowRequest]) (*connect.Response[opsv1.ExpireNowResponse], error) {
	n, err := o.svc.ExpireAll(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&opsv1.ExpireNowResponse{Expired: int32(min(n, 1<<30))}), nil
}

// selected returns the producers a filter names: one, or all.
func (o *Ops) selected(f *opsv1.DeliveryFilter) []string {
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
func (o *Ops) ListParkedDeliveries(ctx context.Context, req *connect.Request[opsv1.ListParkedDeliveriesRequest]) (*connect.Response[opsv1.ListParkedDeliveriesResponse], error) {
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
	slices.SortFunc(all, func(a, b *opsv1.ParkedDelivery) int {
		if c := a.GetDelivery().GetParkTime().AsTime().Compare(b.GetDelivery().GetParkTime().AsTime()); c != 0 {
			return c
		}
		return strings.Compare(a.GetDelivery().GetEventId(), b.GetDelivery().GetEventId())
	})
	if len(all) > int(size) {
		all = all[:size]
		last := all[size-1].GetDelivery()
		res.NextPageToken = pagetoken.Encode(scope, last.GetParkTime().AsTime().Format(time.RFC3339Nano), last.GetEventId())
	}
	res.Deliveries = all
	return connect.NewResponse(res), nil
}

// gather is the operator API's one fan-out: it calls call for each of in
// at once and returns the answers and errors in in's order.
func gather[I, T any](in []I, call func(I) (T, error)) ([]T, []error) {
	out := make([]T, len(in))
	errs := make([]error, len(in))
	var wg sync.WaitGroup
	for i, x := range in {
		wg.Go(func() { out[i], errs[i] = call(x) })
	}
	wg.Wait()
	return out, errs
}

// allFailed returns an error when every producer asked failed: there is
// no partial answer to give.
func allFailed(producers []string, errs []error) error {
	for _, err := range errs {
		if err == nil {
			return nil
		}
	}
	if len(producers) == 0 {
		return nil
	}
	return rpcerr.Dependency("the "+producers[0]+" service", errs[0])
}

// RequeueParkedDeliveries implements opsv1connect.OpsServiceHandler.
func (o *Ops) RequeueParkedDeliveries(ctx context.Context, req *connect.Request[opsv1.RequeueParkedDeliveriesRequest]) (*connect.Response[opsv1.RequeueParkedDeliveriesResponse], error) {
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

// GetSummary implements opsv1connect.OpsServiceHandler.
func (o *Ops) GetSummary(ctx context.Context, _ *connect.Request[opsv1.GetSummaryRequest]) (*connect.Response[opsv1.GetSummaryResponse], error) {
	now := o.svc.Now()
	res := &opsv1.GetSummaryResponse{Time: timestamppb.New(now)}
	open, err := o.deps.OpenOrders(ctx)
	if err != nil {
		return nil, err
	}
	counts := map[service.Status]int64{}
	for _, c := range open {
		counts[c.Status] = c.Count
	}
	for _, s := range []service.Status{service.StatusPending, service.StatusReserved} {
		res.OpenOrders = append(res.OpenOrders, &opsv1.StatusCount{Status: statuses[s], Count: counts[s]})
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
	return connect.NewResponse(res), nil
}
