package ops

import (
	"context"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/money"
	"github.com/ordermesh/ordermesh/internal/platform/pagetoken"
	"github.com/ordermesh/ordermesh/services/order/internal/handler"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
)

// ListOrders implements opsv1connect.OpsServiceHandler.
func (o *Server) ListOrders(ctx context.Context, req *connect.Request[opsv1.ListOrdersRequest]) (*connect.Response[opsv1.ListOrdersResponse], error) {
	m := req.Msg
	f := filterOf(m, o.svc.Now())
	f.OldestFirst = m.GetSort() == opsv1.OrderSort_ORDER_SORT_OLDEST_FIRST
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
		res.Orders = append(res.Orders, handler.ToProto(ord))
	}
	return connect.NewResponse(res), nil
}

// orderFilter is the filter of ListOrdersRequest and of OrderFilter.
type orderFilter interface {
	GetStatuses() []orderv1.OrderStatus
	GetReasons() []orderv1.StatusReason
	GetPlacedAfter() *timestamppb.Timestamp
	GetPlacedBefore() *timestamppb.Timestamp
	GetOpenLongerThan() *durationpb.Duration
	GetUserId() string
	GetOrderIdPrefix() string
	GetSku() string
	GetMinTotal() *commonv1.Money
	GetMaxTotal() *commonv1.Money
}

var (
	_ orderFilter = (*opsv1.ListOrdersRequest)(nil)
	_ orderFilter = (*opsv1.OrderFilter)(nil)
)

// filterOf is the service's filter for m, with open_longer_than counted
// back from now.
func filterOf(m orderFilter, now time.Time) service.Filter {
	f := service.Filter{UserID: m.GetUserId(), IDPrefix: m.GetOrderIdPrefix(), SKU: m.GetSku()}
	for _, bound := range []struct {
		money *commonv1.Money
		into  **int64
	}{{m.GetMinTotal(), &f.MinTotal}, {m.GetMaxTotal(), &f.MaxTotal}} {
		if bound.money != nil {
			amount := bound.money.GetAmountMinor()
			*bound.into, f.Currency = &amount, bound.money.GetCurrency()
		}
	}
	for _, s := range m.GetStatuses() {
		f.Statuses = append(f.Statuses, handler.StatusOf(s))
	}
	for _, r := range m.GetReasons() {
		f.Reasons = append(f.Reasons, handler.ReasonOf(r))
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
		at := now.Add(-d.AsDuration())
		f.OpenBefore = &at
	}
	return f
}

// describeFilter writes m as an operator would: "status=pending,reserved
// sku=BEAN-1". It is empty when m selects everything.
func describeFilter(m orderFilter) string {
	var parts []string
	add := func(key, value string) {
		if strings.ContainsAny(value, " \"") {
			value = strconv.Quote(value)
		}
		if value != "" {
			parts = append(parts, key+"="+value)
		}
	}
	var statuses, reasons []string
	for _, s := range m.GetStatuses() {
		statuses = append(statuses, string(handler.StatusOf(s)))
	}
	for _, r := range m.GetReasons() {
		reasons = append(reasons, string(handler.ReasonOf(r)))
	}
	add("status", strings.Join(statuses, ","))
	add("reason", strings.Join(reasons, ","))
	if t := m.GetPlacedAfter(); t != nil {
		add("placed_after", t.AsTime().UTC().Format(time.RFC3339))
	}
	if t := m.GetPlacedBefore(); t != nil {
		add("placed_before", t.AsTime().UTC().Format(time.RFC3339))
	}
	if d := m.GetOpenLongerThan(); d != nil {
		add("open_longer_than", d.AsDuration().String())
	}
	add("customer", m.GetUserId())
	add("id", m.GetOrderIdPrefix())
	add("sku", m.GetSku())
	if t := m.GetMinTotal(); t != nil {
		add("min_total", money.Format(t.GetAmountMinor(), t.GetCurrency()))
	}
	if t := m.GetMaxTotal(); t != nil {
		add("max_total", money.Format(t.GetAmountMinor(), t.GetCurrency()))
	}
	return strings.Join(parts, " ")
}

// CancelOrder implements opsv1connect.OpsServiceHandler.
func (o *Server) CancelOrder(ctx context.Context, req *connect.Request[opsv1.CancelOrderRequest]) (*connect.Response[opsv1.CancelOrderResponse], error) {
	p, _ := auth.FromContext(ctx)
	ord, err := o.svc.OperatorCancel(ctx, req.Msg.GetOrderId(), p.Subject, req.Msg.GetReason())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&opsv1.CancelOrderResponse{Order: handler.ToProto(ord)}), nil
}

// ExpireNow implements opsv1connect.OpsServiceHandler.
func (o *Server) ExpireNow(ctx context.Context, _ *connect.Request[opsv1.ExpireNowRequest]) (*connect.Response[opsv1.ExpireNowResponse], error) {
	n, err := o.svc.ExpireAll(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&opsv1.ExpireNowResponse{Expired: int32(min(n, 1<<30))}), nil
}
