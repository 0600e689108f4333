// Package handler is Payment's transport layer: Protobuf ↔ domain, and
// who may see which payment.
package handler

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	paymentv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1/paymentv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/pagetoken"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/services/payment/internal/service"
)

// Handler implements paymentv1connect.PaymentServiceHandler.
type Handler struct {
	svc *service.Service
}

var _ paymentv1connect.PaymentServiceHandler = (*Handler)(nil)

// New returns a handler over svc.
func New(svc *service.Service) *Handler { return &Handler{svc: svc} }

// CreatePaymentMethod implements paymentv1connect.PaymentServiceHandler.
func (h *Handler) CreatePaymentMethod(ctx context.Context, req *connect.Request[paymentv1.CreatePaymentMethodRequest]) (*connect.Response[paymentv1.CreatePaymentMethodResponse], error) {
	m := req.Msg
	if err := auth.CheckOwner(ctx, m.GetUserId()); err != nil {
		return nil, err
	}
	pm, err := h.svc.CreatePaymentMethod(ctx, m.GetUserId(), m.GetCardNumber(), m.GetExpMonth(), m.GetExpYear(), time.Now())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&paymentv1.CreatePaymentMethodResponse{PaymentMethod: methodProto(pm)}), nil
}

func methodProto(pm service.Method) *paymentv1.PaymentMethod {
	return &paymentv1.PaymentMethod{
		Id: pm.ID, UserId: pm.UserID, Brand: pm.Brand, Last4: pm.Last4, ExpMonth: pm.ExpMonth, ExpYear: pm.ExpYear,
		CreateTime: timestamppb.New(pm.CreatedAt),
	}
}

// GetPaymentMethod implements paymentv1connect.PaymentServiceHandler.
func (h *Handler) GetPaymentMethod(ctx context.Context, req *connect.Request[paymentv1.GetPaymentMethodRequest]) (*connect.Response[paymentv1.GetPaymentMethodResponse], error) {
	id := req.Msg.GetId()
	pm, err := h.svc.GetPaymentMethod(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckResource(ctx, pm.UserID, rpcerr.Errorf(service.ErrMethodNotFound, "payment method %s does not exist", id)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&paymentv1.GetPaymentMethodResponse{PaymentMethod: methodProto(pm)}), nil
}

// GetPayment implements paymentv1connect.PaymentServiceHandler.
func (h *Handler) GetPayment(ctx context.Context, req *connect.Request[paymentv1.GetPaymentRequest]) (*connect.Response[paymentv1.GetPaymentResponse], error) {
	p, err := h.svc.GetPayment(ctx, req.Msg.GetOrderId())
	if err != nil {
		return nil, err
	}
	// Another customer's payment does not exist, as far as the caller can
	// tell.
	if err := auth.CheckResource(ctx, p.UserID, rpcerr.Errorf(service.ErrNotFound, "order %s has no payment", req.Msg.GetOrderId())); err != nil {
		return nil, err
	}
	return connect.NewResponse(&paymentv1.GetPaymentResponse{Payment: toProto(p)}), nil
}

// ListPayments implements paymentv1connect.PaymentServiceHandler.
func (h *Handler) ListPayments(ctx context.Context, req *connect.Request[paymentv1.ListPaymentsRequest]) (*connect.Response[paymentv1.ListPaymentsResponse], error) {
	m := req.Msg
	if err := auth.CheckReader(ctx, m.GetUserId()); err != nil {
		return nil, err
	}
	page, err := pagetoken.NewKeyset(m.GetPageToken(), "payments|"+m.GetUserId(), m.GetPageSize(), 20, 100)
	if err != nil {
		return nil, err
	}
	ps, err := h.svc.ListPayments(ctx, m.GetUserId(), page.After, page.Fetch())
	if err != nil {
		return nil, err
	}
	res := &paymentv1.ListPaymentsResponse{}
	ps, res.NextPageToken = pagetoken.Page(page, ps, func(p service.Payment) string { return p.ID })
	for _, p := range ps {
		res.Payments = append(res.Payments, toProto(p))
	}
	return connect.NewResponse(res), nil
}

var statuses = map[string]paymentv1.PaymentStatus{
	service.StatusAuthorized: paymentv1.PaymentStatus_PAYMENT_STATUS_AUTHORIZED,
	service.StatusDeclined:   paymentv1.PaymentStatus_PAYMENT_STATUS_DECLINED,
	service.StatusCaptured:   paymentv1.PaymentStatus_PAYMENT_STATUS_CAPTURED,
	service.StatusVoided:     paymentv1.PaymentStatus_PAYMENT_STATUS_VOIDED,
	service.StatusRefunded:   paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED,
}

func toProto(p service.Payment) *paymentv1.Payment {
	out := &paymentv1.Payment{
		Id: p.ID, OrderId: p.OrderID, UserId: p.UserID, PaymentMethodId: p.MethodID,
		Amount: &commonv1.Money{AmountMinor: p.Amount.AmountMinor, Currency: p.Amount.Currency},
		Status: statuses[p.Status], DeclineCode: p.DeclineCode,
		CreateTime: timestamppb.New(p.CreatedAt), UpdateTime: timestamppb.New(p.UpdatedAt),
	}
	for _, o := range p.Operations {
		out.Operations = append(out.Operations, &paymentv1.PaymentOperation{
			Kind: o.Kind, Succeeded: o.Succeeded, GatewayReference: o.Reference, Message: o.Message, Time: timestamppb.New(o.At),
		})
	}
	return out
}
