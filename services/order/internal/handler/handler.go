// Package handler is Order's transport layer: Protobuf ↔ domain, and who
// may see or change which order.
package handler

import (
	"context"
	"crypto/sha256"
	"errors"
	"maps"
	"slices"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1/orderv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/pagetoken"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/internal/platform/server"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
)

// Subscriber hands a watcher each new state of one order.
type Subscriber interface {
	Watch(orderID string) (<-chan service.OrderRead, func())
	// Refresh has the order sent to its watchers even if nothing changed.
	Refresh(orderID string)
}

// Handler implements orderv1connect.OrderServiceHandler.
type Handler struct {
	svc      *service.Service
	watchers Subscriber
	// recheck is how often a watch re-reads the order even without a
	// notification, as a guard against a lost LISTEN connection.
	recheck time.Duration
}

var _ orderv1connect.OrderServiceHandler = (*Handler)(nil)

// New returns a handler over svc.
func New(svc *service.Service, watchers Subscriber) *Handler {
	return &Handler{svc: svc, watchers: watchers, recheck: 5 * time.Second}
}

// PlaceOrder implements orderv1connect.OrderServiceHandler.
func (h *Handler) PlaceOrder(ctx context.Context, req *connect.Request[orderv1.PlaceOrderRequest]) (*connect.Response[orderv1.PlaceOrderResponse], error) {
	if err := auth.CheckOwner(ctx, req.Msg.GetUserId()); err != nil {
		return nil, err
	}
	o, err := h.svc.PlaceOrder(ctx, placement(req.Msg))
	var changed *service.TotalChanged
	if errors.As(err, &changed) {
		return nil, rpcerr.WithDetails(err, &orderv1.TotalChanged{ExpectedTotal: moneyProto(changed.Expected), CurrentTotal: moneyProto(changed.Current)})
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orderv1.PlaceOrderResponse{Order: ToProto(o)}), nil
}

// placement reads a PlaceOrder request.
func placement(req *orderv1.PlaceOrderRequest) service.Placement {
	p := service.Placement{
		UserID: req.GetUserId(), IdempotencyKey: req.GetIdempotencyKey(), FromCart: req.GetFromCart() != nil,
		Address: address(req.GetShippingAddress()), Email: req.GetEmail(), PaymentMethodID: req.GetPaymentMethodId(),
		ExpectedTotal: service.Money{AmountMinor: req.GetExpectedTotal().GetAmountMinor(), Currency: req.GetExpectedTotal().GetCurrency()},
		Fingerprint:   fingerprint(req),
	}
	for _, l := range req.GetLines().GetLines() {
		p.Lines = append(p.Lines, service.Want{SKU: l.GetSku(), Quantity: l.GetQuantity()})
	}
	return p
}

// fingerprint hashes everything in the request but its idempotency key.
func fingerprint(req *orderv1.PlaceOrderRequest) []byte {
	c := proto.Clone(req).(*orderv1.PlaceOrderRequest) //nolint:forcetypeassert // Clone keeps the type
	c.IdempotencyKey = ""
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	sum := sha256.Sum256(b)
	return sum[:]
}

func address(a *commonv1.PostalAddress) service.Address {
	return service.Address{
		Recipient: a.GetRecipient(), Line1: a.GetLine1(), Line2: a.GetLine2(), City: a.GetCity(),
		Region: a.GetRegion(), PostalCode: a.GetPostalCode(), CountryCode: a.GetCountryCode(), Phone: a.GetPhone(),
	}
}

func addressProto(a service.Address) *commonv1.PostalAddress {
	return &commonv1.PostalAddress{
		Recipient: a.Recipient, Line1: a.Line1, Line2: a.Line2, City: a.City,
		Region: a.Region, PostalCode: a.PostalCode, CountryCode: a.CountryCode, Phone: a.Phone,
	}
}

func moneyProto(m service.Money) *commonv1.Money {
	return &commonv1.Money{AmountMinor: m.AmountMinor, Currency: m.Currency}
}

// GetOrder implements orderv1connect.OrderServiceHandler.
func (h *Handler) GetOrder(ctx context.Context, req *connect.Request[orderv1.GetOrderRequest]) (*connect.Response[orderv1.GetOrderResponse], error) {
	o, err := h.readable(ctx, req.Msg.GetOrderId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orderv1.GetOrderResponse{Order: ToProto(o)}), nil
}

func (h *Handler) readable(ctx context.Context, id string) (service.Order, error) {
	o, err := h.svc.GetOrder(ctx, id)
	if err != nil {
		return service.Order{}, err
	}
	return o, auth.CheckResource(ctx, o.UserID, notFound(id))
}

// notFound is the answer for an order that does not exist, or is
// another customer's.
func notFound(id string) error {
	return rpcerr.Errorf(service.ErrNotFound, "order %s does not exist", id)
}

// ListOrders implements orderv1connect.OrderServiceHandler.
func (h *Handler) ListOrders(ctx context.Context, req *connect.Request[orderv1.ListOrdersRequest]) (*connect.Response[orderv1.ListOrdersResponse], error) {
	m := req.Msg
	if err := auth.CheckReader(ctx, m.GetUserId()); err != nil {
		return nil, err
	}
	page, err := pagetoken.NewKeyset(m.GetPageToken(), "orders|"+m.GetUserId(), m.GetPageSize(), 20, 100)
	if err != nil {
		return nil, err
	}
	orders, err := h.svc.ListOrders(ctx, m.GetUserId(), page.After, page.Fetch())
	if err != nil {
		return nil, err
	}
	res := &orderv1.ListOrdersResponse{}
	orders, res.NextPageToken = pagetoken.Page(page, orders, func(o service.Order) string { return o.ID })
	for _, o := range orders {
		res.Orders = append(res.Orders, ToProto(o))
	}
	return connect.NewResponse(res), nil
}

// CancelOrder implements orderv1connect.OrderServiceHandler.
func (h *Handler) CancelOrder(ctx context.Context, req *connect.Request[orderv1.CancelOrderRequest]) (*connect.Response[orderv1.CancelOrderResponse], error) {
	o, err := h.svc.CancelOrder(ctx, req.Msg.GetOrderId(), func(o service.Order) error {
		return auth.CheckResource(ctx, o.UserID, notFound(o.ID))
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orderv1.CancelOrderResponse{Order: ToProto(o)}), nil
}

// ShipOrder implements orderv1connect.OrderServiceHandler.
func (h *Handler) ShipOrder(ctx context.Context, req *connect.Request[orderv1.ShipOrderRequest]) (*connect.Response[orderv1.ShipOrderResponse], error) {
	o, err := h.svc.ShipOrder(ctx, req.Msg.GetOrderId(), req.Msg.GetTrackingNumber())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orderv1.ShipOrderResponse{Order: ToProto(o)}), nil
}

// QuoteShipping implements orderv1connect.OrderServiceHandler.
func (h *Handler) QuoteShipping(ctx context.Context, req *connect.Request[orderv1.QuoteShippingRequest]) (*connect.Response[orderv1.QuoteShippingResponse], error) {
	units := map[string]int32{}
	for _, l := range req.Msg.GetLines() {
		units[l.GetSku()] += l.GetQuantity()
	}
	wants := make([]service.Want, 0, len(units))
	for _, sku := range slices.Sorted(maps.Keys(units)) {
		wants = append(wants, service.Want{SKU: sku, Quantity: units[sku]})
	}
	q, currency, err := h.svc.QuoteShipping(ctx, req.Msg.GetShippingAddress().GetCountryCode(), wants)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orderv1.QuoteShippingResponse{
		Amount:  &commonv1.Money{AmountMinor: q.Amount, Currency: currency},
		Carrier: q.Carrier, ServiceLevel: q.ServiceLevel, WeightGrams: q.WeightGrams, TransitDays: q.TransitDays,
	}), nil
}

// WatchOrder implements orderv1connect.OrderServiceHandler. It sends the
// order as it is, then again after every transition, and ends once the
// checkout saga is over (confirmed, shipped, rejected or cancelled).
func (h *Handler) WatchOrder(ctx context.Context, req *connect.Request[orderv1.WatchOrderRequest], stream *connect.ServerStream[orderv1.WatchOrderResponse]) error {
	id := req.Msg.GetOrderId()
	if _, err := uuid.Parse(id); err != nil {
		return notFound(id)
	}
	updates, stop := h.watchers.Watch(id)
	defer stop()
	// Every read, the first included, is the watchers' shared one: the
	// first says whether the caller may see the order.
	h.watchers.Refresh(id)
	ticker := time.NewTicker(h.recheck)
	defer ticker.Stop()
	var o service.Order
	sent := 0 // history entries the client has seen
	stopping := server.Stopping(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-stopping:
			return server.ErrStopping
		case <-ticker.C:
			h.watchers.Refresh(id)
			continue
		case r := <-updates:
			switch {
			case sent == 0 && r.Err != nil:
				return r.Err
			case sent == 0 && !r.Found:
				return notFound(id)
			case sent == 0:
				if err := auth.CheckResource(ctx, r.Order.UserID, notFound(id)); err != nil {
					return err
				}
			case r.Err != nil || !r.Found:
				continue // a later read failed: the timer asks again
			}
			o = r.Order
		}
		// Each message carries the whole history, so a client sees every
		// transition even when two happen between messages.
		if sent == 0 || len(o.History) > sent {
			if err := stream.Send(&orderv1.WatchOrderResponse{Order: ToProto(o)}); err != nil {
				return err
			}
			sent = max(len(o.History), 1)
		}
		if service.SagaDone(o.Status) {
			return nil
		}
	}
}

var (
	statuses = map[service.Status]orderv1.OrderStatus{
		service.StatusPending:   orderv1.OrderStatus_ORDER_STATUS_PENDING,
		service.StatusReserved:  orderv1.OrderStatus_ORDER_STATUS_RESERVED,
		service.StatusConfirmed: orderv1.OrderStatus_ORDER_STATUS_CONFIRMED,
		service.StatusShipped:   orderv1.OrderStatus_ORDER_STATUS_SHIPPED,
		service.StatusRejected:  orderv1.OrderStatus_ORDER_STATUS_REJECTED,
		service.StatusCancelled: orderv1.OrderStatus_ORDER_STATUS_CANCELLED,
	}
	reasons = map[service.Reason]orderv1.StatusReason{
		service.ReasonOutOfStock:      orderv1.StatusReason_STATUS_REASON_OUT_OF_STOCK,
		service.ReasonPaymentDeclined: orderv1.StatusReason_STATUS_REASON_PAYMENT_DECLINED,
		service.ReasonShippingFailed:  orderv1.StatusReason_STATUS_REASON_SHIPPING_FAILED,
		service.ReasonCustomer:        orderv1.StatusReason_STATUS_REASON_CUSTOMER,
		service.ReasonExpired:         orderv1.StatusReason_STATUS_REASON_EXPIRED,
		service.ReasonOperator:        orderv1.StatusReason_STATUS_REASON_OPERATOR,
	}
)

// StatusProto is a status as its message enum.
func StatusProto(s service.Status) orderv1.OrderStatus { return statuses[s] }

// StatusOf is the status a message enum names; "" for UNSPECIFIED.
func StatusOf(s orderv1.OrderStatus) service.Status { return statusOf[s] }

// ReasonOf is the reason a message enum names; "" for UNSPECIFIED.
func ReasonOf(r orderv1.StatusReason) service.Reason { return reasonOf[r] }

var statusOf, reasonOf = invert(statuses), invert(reasons)

func invert[K, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

// ToProto converts an order to its message.
func ToProto(o service.Order) *orderv1.Order {
	money := func(v int64) *commonv1.Money { return &commonv1.Money{AmountMinor: v, Currency: o.Currency} }
	out := &orderv1.Order{
		Id: o.ID, UserId: o.UserID, Status: statuses[o.Status], Reason: reasons[o.Reason],
		Subtotal: money(o.Subtotal), Shipping: money(o.Shipping), Total: money(o.Total),
		ShippingAddress: addressProto(o.Address), Email: o.Email, PaymentMethodId: o.PaymentMethodID,
		CreateTime: timestamppb.New(o.CreatedAt), UpdateTime: timestamppb.New(o.UpdatedAt), ExpireTime: timestamppb.New(o.ExpiresAt),
	}
	if o.BookingID != "" || o.TrackingNumber != "" {
		out.Shipment = &orderv1.Shipment{Carrier: o.Carrier, ServiceLevel: o.ServiceLevel, BookingId: o.BookingID, TrackingNumber: o.TrackingNumber}
		if o.ShippedAt != nil {
			out.Shipment.ShipTime = timestamppb.New(*o.ShippedAt)
		}
	}
	for _, l := range o.Lines {
		out.Lines = append(out.Lines, &orderv1.OrderLine{
			Sku: l.SKU, Name: l.Name, Quantity: l.Quantity, UnitPrice: money(l.UnitPrice), LineTotal: money(l.UnitPrice * int64(l.Quantity)),
		})
	}
	for _, s := range o.ShortLines {
		out.ShortLines = append(out.ShortLines, &orderv1.ShortLine{Sku: s.SKU, Requested: s.Requested, Available: int32(min(s.Available, 1<<30))})
	}
	for _, c := range o.History {
		out.History = append(out.History, &orderv1.StatusChange{
			Status: statuses[c.Status], Reason: reasons[c.Reason], Detail: c.Detail, Time: timestamppb.New(c.At),
		})
	}
	return out
}
