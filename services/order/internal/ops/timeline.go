package ops

import (
	"context"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	paymentv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1"
	"github.com/ordermesh/ordermesh/internal/platform/telemetry"
	"github.com/ordermesh/ordermesh/services/order/internal/handler"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
)

// GetSagaTimeline implements opsv1connect.OpsServiceHandler. The order
// must exist; the other services are asked at the same time, and one that
// cannot answer is named in the response instead of failing it.
func (o *Server) GetSagaTimeline(ctx context.Context, req *connect.Request[opsv1.GetSagaTimelineRequest]) (*connect.Response[opsv1.GetSagaTimelineResponse], error) {
	id := req.Msg.GetOrderId()
	ord, err := o.svc.GetOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	records, err := o.svc.OrderBulkActions(ctx, id)
	if err != nil {
		return nil, err
	}
	res := &opsv1.GetSagaTimelineResponse{Order: handler.ToProto(ord), TraceId: telemetry.TraceIDOf(ord.TraceParent)}
	if res.TraceId != "" && o.deps.TraceURL != "" {
		res.TraceUrl = strings.ReplaceAll(o.deps.TraceURL, "{trace_id}", res.TraceId)
	}
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
	res.Entries = timeline(res, records)
	return connect.NewResponse(res), nil
}

// timeline merges the parts of a saga into one list of steps, oldest
// first, each marked when it is a problem for an operator: a failed
// payment operation, a delivery that failed or was parked. The bulk
// actions that touched the order are steps of the operator's.
func timeline(res *opsv1.GetSagaTimelineResponse, records []service.BulkRecord) []*opsv1.TimelineEntry {
	var out []*opsv1.TimelineEntry
	add := func(e *opsv1.TimelineEntry) {
		if e.GetTime() != nil {
			out = append(out, e)
		}
	}
	for _, c := range res.GetOrder().GetHistory() {
		add(&opsv1.TimelineEntry{Time: c.GetTime(), Service: "order", Step: &opsv1.TimelineEntry_StatusChange{StatusChange: c}})
	}
	if r := res.GetReservation(); r != nil {
		made := inventoryv1.ReservationStatus_RESERVATION_STATUS_HELD
		if r.GetStatus() == inventoryv1.ReservationStatus_RESERVATION_STATUS_REJECTED {
			made = r.GetStatus()
		}
		add(&opsv1.TimelineEntry{Time: r.GetCreateTime(), Service: "inventory", Step: &opsv1.TimelineEntry_Reservation{
			Reservation: &opsv1.ReservationStep{Status: made, Lines: r.GetLines(), ExpireTime: r.GetExpireTime()},
		}})
		if r.GetStatus() != made {
			add(&opsv1.TimelineEntry{Time: r.GetUpdateTime(), Service: "inventory", Step: &opsv1.TimelineEntry_Reservation{
				Reservation: &opsv1.ReservationStep{Status: r.GetStatus()},
			}})
		}
	}
	if p := res.GetPayment(); p != nil {
		for _, op := range p.GetOperations() {
			add(&opsv1.TimelineEntry{Time: op.GetTime(), Service: "payment", Problem: !op.GetSucceeded(), Step: &opsv1.TimelineEntry_Payment{
				Payment: &opsv1.PaymentStep{Operation: op, Amount: p.GetAmount()},
			}})
		}
	}
	for _, pd := range res.GetDeliveries() {
		d := pd.GetDelivery()
		var at *timestamppb.Timestamp
		var problem bool
		switch d.GetState() {
		case eventsv1.DeliveryState_DELIVERY_STATE_DELIVERED:
			at = d.GetDeliverTime()
		case eventsv1.DeliveryState_DELIVERY_STATE_PARKED:
			at, problem = d.GetParkTime(), true
		case eventsv1.DeliveryState_DELIVERY_STATE_PENDING, eventsv1.DeliveryState_DELIVERY_STATE_UNSPECIFIED:
			at, problem = d.GetCreateTime(), d.GetAttempts() > 0 // failing, not yet given up
		}
		add(&opsv1.TimelineEntry{Time: at, Service: pd.GetProducer(), Problem: problem, Step: &opsv1.TimelineEntry_Delivery{Delivery: pd}})
	}
	for _, r := range records {
		add(&opsv1.TimelineEntry{Time: timestamppb.New(r.At), Service: "operator", Step: &opsv1.TimelineEntry_BulkAction{
			BulkAction: &opsv1.BulkActionStep{Action: bulkActionProto(r.Action), Outcome: r.Outcome},
		}})
	}
	slices.SortStableFunc(out, func(a, b *opsv1.TimelineEntry) int { return compareTime(a.GetTime(), b.GetTime()) })
	return out
}

func compareTime(a, b *timestamppb.Timestamp) int { return a.AsTime().Compare(b.AsTime()) }
