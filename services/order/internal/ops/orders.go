package ops

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/pagetoken"
	"github.com/ordermesh/ordermesh/services/order/internal/handler"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
)

// ListOrders implements opsv1connect.OpsServiceHandler.
func (o *Server) ListOrders(ctx context.Context, req *connect.Request[opsv1.ListOrdersRequest]) (*connect.Response[opsv1.ListOrdersResponse], error) {
	m := req.Msg
	f := service.Filter{
		UserID: m.GetUserId(), IDPrefix: m.GetOrderIdPrefix(), SKU: m.GetSku(),
		OldestFirst: m.GetSort() == opsv1.OrderSort_ORDER_SORT_OLDEST_FIRST,
	}
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
		res.Orders = append(res.Orders, handler.ToProto(ord))
	}
	return connect.NewResponse(res), nil
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
