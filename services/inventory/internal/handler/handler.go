// Package handler is Inventory's transport layer: Protobuf ↔ domain.
package handler

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/services/inventory/internal/service"
)

// Handler implements inventoryv1connect.InventoryServiceHandler.
type Handler struct {
	svc *service.Service
}

var _ inventoryv1connect.InventoryServiceHandler = (*Handler)(nil)

// New returns a handler over svc.
func New(svc *service.Service) *Handler { return &Handler{svc: svc} }

// GetStock implements inventoryv1connect.InventoryServiceHandler.
func (h *Handler) GetStock(ctx context.Context, req *connect.Request[inventoryv1.GetStockRequest]) (*connect.Response[inventoryv1.GetStockResponse], error) {
	st, err := h.svc.GetStock(ctx, req.Msg.GetSku())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&inventoryv1.GetStockResponse{Stock: toProto(st)}), nil
}

// BatchGetStock implements inventoryv1connect.InventoryServiceHandler.
func (h *Handler) BatchGetStock(ctx context.Context, req *connect.Request[inventoryv1.BatchGetStockRequest]) (*connect.Response[inventoryv1.BatchGetStockResponse], error) {
	found, missing, err := h.svc.BatchGetStock(ctx, req.Msg.GetSkus())
	if err != nil {
		return nil, err
	}
	res := &inventoryv1.BatchGetStockResponse{MissingSkus: missing}
	for _, st := range found {
		res.Stocks = append(res.Stocks, toProto(st))
	}
	return connect.NewResponse(res), nil
}

// SetStock implements inventoryv1connect.InventoryServiceHandler.
func (h *Handler) SetStock(ctx context.Context, req *connect.Request[inventoryv1.SetStockRequest]) (*connect.Response[inventoryv1.SetStockResponse], error) {
	st, err := h.svc.SetStock(ctx, req.Msg.GetSku(), req.Msg.GetAvailable(), actor(ctx))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&inventoryv1.SetStockResponse{Stock: toProto(st)}), nil
}

// AdjustStock implements inventoryv1connect.InventoryServiceHandler.
func (h *Handler) AdjustStock(ctx context.Context, req *connect.Request[inventoryv1.AdjustStockRequest]) (*connect.Response[inventoryv1.AdjustStockResponse], error) {
	m := req.Msg
	st, err := h.svc.AdjustStock(ctx, m.GetSku(), m.GetDelta(), m.GetReason(), actor(ctx))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&inventoryv1.AdjustStockResponse{Stock: toProto(st)}), nil
}

// Reserve implements inventoryv1connect.InventoryServiceHandler.
func (h *Handler) Reserve(ctx context.Context, req *connect.Request[inventoryv1.ReserveRequest]) (*connect.Response[inventoryv1.ReserveResponse], error) {
	lines := make([]service.Line, len(req.Msg.GetLines()))
	for i, l := range req.Msg.GetLines() {
		lines[i] = service.Line{SKU: l.GetSku(), Quantity: int64(l.GetQuantity())}
	}
	r, err := h.svc.Reserve(ctx, req.Msg.GetOrderId(), lines)
	if err != nil {
		return nil, err
	}
	res := &inventoryv1.ReserveResponse{Reserved: r.Reserved}
	if !r.ExpiresAt.IsZero() {
		res.ExpireTime = timestamppb.New(r.ExpiresAt)
	}
	for _, s := range r.Short {
		res.ShortLines = append(res.ShortLines, &inventoryv1.ShortLine{Sku: s.SKU, Requested: int32(s.Requested), Available: s.Available})
	}
	return connect.NewResponse(res), nil
}

// Release implements inventoryv1connect.InventoryServiceHandler.
func (h *Handler) Release(ctx context.Context, req *connect.Request[inventoryv1.ReleaseRequest]) (*connect.Response[inventoryv1.ReleaseResponse], error) {
	n, err := h.svc.Release(ctx, req.Msg.GetOrderId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&inventoryv1.ReleaseResponse{ReleasedUnits: n}), nil
}

func actor(ctx context.Context) string {
	if p, ok := auth.FromContext(ctx); ok {
		return p.Subject
	}
	return ""
}

func toProto(s service.Stock) *inventoryv1.Stock {
	return &inventoryv1.Stock{
		Sku: s.SKU, Available: s.Available, Reserved: s.Reserved, Sold: s.Sold, Received: s.Received,
		UpdateTime: timestamppb.New(s.UpdatedAt),
	}
}

// GetReservation implements inventoryv1connect.InventoryServiceHandler.
func (h *Handler) GetReservation(ctx context.Context, req *connect.Request[inventoryv1.GetReservationRequest]) (*connect.Response[inventoryv1.GetReservationResponse], error) {
	r, err := h.svc.GetReservation(ctx, req.Msg.GetOrderId())
	if err != nil {
		return nil, err
	}
	out := &inventoryv1.Reservation{
		OrderId: r.OrderID, Status: reservationStatuses[r.Status],
		CreateTime: timestamppb.New(r.CreatedAt), UpdateTime: timestamppb.New(r.UpdatedAt),
	}
	if r.ExpiresAt != nil {
		out.ExpireTime = timestamppb.New(*r.ExpiresAt)
	}
	for _, l := range r.Lines {
		out.Lines = append(out.Lines, &inventoryv1.ReservationLine{Sku: l.SKU, Quantity: l.Quantity})
	}
	return connect.NewResponse(&inventoryv1.GetReservationResponse{Reservation: out}), nil
}

// reservationStatuses maps the reservations.status column to the API.
var reservationStatuses = map[string]inventoryv1.ReservationStatus{
	service.StatusHeld:      inventoryv1.ReservationStatus_RESERVATION_STATUS_HELD,
	service.StatusSold:      inventoryv1.ReservationStatus_RESERVATION_STATUS_SOLD,
	service.StatusReleased:  inventoryv1.ReservationStatus_RESERVATION_STATUS_RELEASED,
	service.StatusRejected:  inventoryv1.ReservationStatus_RESERVATION_STATUS_REJECTED,
	service.StatusCancelled: inventoryv1.ReservationStatus_RESERVATION_STATUS_CANCELLED,
}
