// Package handler is Cart's transport layer: it checks that the caller may
// act on the named cart and converts between Protobuf and domain values.
package handler

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	cartv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1/cartv1connect"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/services/cart/internal/service"
)

// Handler implements cartv1connect.CartServiceHandler.
type Handler struct {
	svc *service.Service
}

var _ cartv1connect.CartServiceHandler = (*Handler)(nil)

// New returns a handler over svc.
func New(svc *service.Service) *Handler { return &Handler{svc: svc} }

// GetCart implements cartv1connect.CartServiceHandler.
func (h *Handler) GetCart(ctx context.Context, req *connect.Request[cartv1.GetCartRequest]) (*connect.Response[cartv1.GetCartResponse], error) {
	c, err := h.owned(ctx, req.Msg.GetUserId(), func() (service.PricedCart, error) {
		return h.svc.GetCart(ctx, req.Msg.GetUserId())
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&cartv1.GetCartResponse{Cart: c}), nil
}

// AddItem implements cartv1connect.CartServiceHandler.
func (h *Handler) AddItem(ctx context.Context, req *connect.Request[cartv1.AddItemRequest]) (*connect.Response[cartv1.AddItemResponse], error) {
	m := req.Msg
	c, err := h.owned(ctx, m.GetUserId(), func() (service.PricedCart, error) {
		return h.svc.AddItem(ctx, m.GetUserId(), m.GetSku(), m.GetQuantity())
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&cartv1.AddItemResponse{Cart: c}), nil
}

// UpdateItem implements cartv1connect.CartServiceHandler.
func (h *Handler) UpdateItem(ctx context.Context, req *connect.Request[cartv1.UpdateItemRequest]) (*connect.Response[cartv1.UpdateItemResponse], error) {
	m := req.Msg
	c, err := h.owned(ctx, m.GetUserId(), func() (service.PricedCart, error) {
		return h.svc.UpdateItem(ctx, m.GetUserId(), m.GetSku(), m.GetQuantity())
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&cartv1.UpdateItemResponse{Cart: c}), nil
}

// RemoveItem implements cartv1connect.CartServiceHandler.
func (h *Handler) RemoveItem(ctx context.Context, req *connect.Request[cartv1.RemoveItemRequest]) (*connect.Response[cartv1.RemoveItemResponse], error) {
	m := req.Msg
	c, err := h.owned(ctx, m.GetUserId(), func() (service.PricedCart, error) {
		return h.svc.RemoveItem(ctx, m.GetUserId(), m.GetSku())
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&cartv1.RemoveItemResponse{Cart: c}), nil
}

// ClearCart implements cartv1connect.CartServiceHandler.
func (h *Handler) ClearCart(ctx context.Context, req *connect.Request[cartv1.ClearCartRequest]) (*connect.Response[cartv1.ClearCartResponse], error) {
	c, err := h.owned(ctx, req.Msg.GetUserId(), func() (service.PricedCart, error) {
		return h.svc.ClearCart(ctx, req.Msg.GetUserId())
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&cartv1.ClearCartResponse{Cart: c}), nil
}

// owned runs fn when the caller may act on userID's cart.
func (h *Handler) owned(ctx context.Context, userID string, fn func() (service.PricedCart, error)) (*cartv1.Cart, error) {
	if err := auth.CheckOwner(ctx, userID); err != nil {
		return nil, err
	}
	c, err := fn()
	if err != nil {
		return nil, err
	}
	return toProto(c), nil
}

func toProto(c service.PricedCart) *cartv1.Cart {
	out := &cartv1.Cart{UserId: c.UserID, Version: c.Version, ItemCount: c.ItemCount, Total: money(c.Total)}
	if c.UpdatedAt != nil {
		out.UpdateTime = timestamppb.New(*c.UpdatedAt)
	}
	for _, l := range c.Lines {
		out.Lines = append(out.Lines, &cartv1.CartLine{
			Sku: l.SKU, Name: l.Name, Quantity: l.Quantity,
			UnitPrice: money(l.UnitPrice), LineTotal: money(l.LineTotal),
			AddTime: timestamppb.New(l.AddedAt), Available: l.Available,
		})
	}
	return out
}

func money(m *service.Money) *commonv1.Money {
	if m == nil {
		return nil
	}
	return &commonv1.Money{AmountMinor: m.AmountMinor, Currency: m.Currency}
}
