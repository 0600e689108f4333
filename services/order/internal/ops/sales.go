package ops

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
)

// The window GetSalesFigures reads when none is given, and the longest
// it reads.
const (
	salesWindow    = 7 * 24 * time.Hour
	salesWindowMax = 366 * 24 * time.Hour
)

// GetSalesFigures implements opsv1connect.OpsServiceHandler.
func (o *Server) GetSalesFigures(ctx context.Context, req *connect.Request[opsv1.GetSalesFiguresRequest]) (*connect.Response[opsv1.GetSalesFiguresResponse], error) {
	m := req.Msg
	to := o.svc.Now()
	if m.GetTo() != nil {
		to = m.GetTo().AsTime()
	}
	from := to.Add(-salesWindow)
	if m.GetFrom() != nil {
		from = m.GetFrom().AsTime()
	}
	if !from.Before(to) {
		return nil, rpcerr.Errorf(service.ErrBadWindow, "the window starts %s, not before its end %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if to.Sub(from) > salesWindowMax {
		return nil, rpcerr.Errorf(service.ErrBadWindow, "the window is %s long; at most 366 days are read at once", to.Sub(from).Round(time.Hour))
	}
	top := m.GetTop()
	if top == 0 {
		top = 10
	}
	days, products, err := o.svc.Sales(ctx, from, to, top)
	if err != nil {
		return nil, err
	}
	res := &opsv1.GetSalesFiguresResponse{From: timestamppb.New(from), To: timestamppb.New(to)}
	revenue := map[string]int64{}
	var currencies []string
	for _, d := range days {
		res.Days = append(res.Days, &opsv1.SalesDay{
			Day: timestamppb.New(d.Day), Revenue: &commonv1.Money{AmountMinor: d.Revenue, Currency: d.Currency}, Orders: d.Orders, Units: d.Units,
		})
		if _, seen := revenue[d.Currency]; !seen {
			currencies = append(currencies, d.Currency)
		}
		revenue[d.Currency] += d.Revenue
		res.Orders += d.Orders
		res.Units += d.Units
	}
	for _, c := range currencies {
		res.Revenue = append(res.Revenue, &commonv1.Money{AmountMinor: revenue[c], Currency: c})
	}
	for _, p := range products {
		res.TopSellers = append(res.TopSellers, &opsv1.ProductSales{
			Sku: p.SKU, Name: p.Name, Units: p.Units, Orders: p.Orders, Revenue: &commonv1.Money{AmountMinor: p.Revenue, Currency: p.Currency},
		})
	}
	return connect.NewResponse(res), nil
}
