package events

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/events/eventsdb"
	"github.com/ordermesh/ordermesh/internal/platform/pagetoken"
)

// Admin serves EventAdminService over a producer's outbox.
type Admin struct {
	q   *eventsdb.Queries
	log *slog.Logger
}

var _ eventsv1connect.EventAdminServiceHandler = (*Admin)(nil)

// NewAdmin returns the admin service of the outbox in pool; it logs every
// requeued delivery to log.
func NewAdmin(pool *pgxpool.Pool, log *slog.Logger) *Admin {
	return &Admin{q: eventsdb.New(pool), log: log}
}

// ListParkedDeliveries implements eventsv1connect.EventAdminServiceHandler.
func (a *Admin) ListParkedDeliveries(ctx context.Context, req *connect.Request[eventsv1.ListParkedDeliveriesRequest]) (*connect.Response[eventsv1.ListParkedDeliveriesResponse], error) {
	scope := fmt.Sprintf("parked|%s|%d", req.Msg.GetSubscriber(), req.Msg.GetType())
	cursor, err := pagetoken.Decode(req.Msg.GetPageToken(), scope, 2)
	if err != nil {
		return nil, err
	}
	afterTime, afterID := time.Time{}, uuid.Nil
	if t := req.Msg.GetAfterParkTime(); t != nil && cursor == nil {
		// A caller merging several producers' lists keeps its own cursor.
		afterTime = t.AsTime()
		if id := req.Msg.GetAfterEventId(); id != "" {
			if afterID, err = uuid.Parse(id); err != nil {
				return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("after_event_id: %w", err))
			}
		}
	}
	if cursor != nil {
		if afterTime, err = time.Parse(time.RFC3339Nano, cursor[0]); err != nil {
			return nil, pagetoken.ErrInvalid
		}
		if afterID, err = uuid.Parse(cursor[1]); err != nil {
			return nil, pagetoken.ErrInvalid
		}
	}
	size := pagetoken.Size(req.Msg.GetPageSize(), 100, 500)
	var sub *string
	if s := req.Msg.GetSubscriber(); s != "" {
		sub = &s
	}
	rows, err := a.q.ListParked(ctx, eventsdb.ListParkedParams{Subscriber: sub, Type: typeFilter(req.Msg.GetType()), AfterTime: afterTime, AfterID: afterID, PageLimit: size + 1})
	if err != nil {
		return nil, err
	}
	res := &eventsv1.ListParkedDeliveriesResponse{}
	if res.TotalCount, err = a.q.CountParked(ctx, eventsdb.CountParkedParams{Subscriber: sub, Type: typeFilter(req.Msg.GetType())}); err != nil {
		return nil, err
	}
	for i, r := range rows {
		if i == int(size) {
			last := rows[i-1]
			res.NextPageToken = pagetoken.Encode(scope, last.ParkedAt.Format(time.RFC3339Nano), last.EventID.String())
			break
		}
		d := &eventsv1.ParkedDelivery{
			EventId: r.EventID.String(), Type: eventsv1.EventType(r.Type), OrderId: r.OrderID,
			Subscriber: r.Subscriber, Attempts: r.Attempts, LastError: r.LastError, CreateTime: timestamppb.New(r.CreatedAt),
		}
		if r.ParkedAt != nil {
			d.ParkTime = timestamppb.New(*r.ParkedAt)
		}
		res.Deliveries = append(res.Deliveries, d)
	}
	return connect.NewResponse(res), nil
}

// RequeueParkedDeliveries implements eventsv1connect.EventAdminServiceHandler.
func (a *Admin) RequeueParkedDeliveries(ctx context.Context, req *connect.Request[eventsv1.RequeueParkedDeliveriesRequest]) (*connect.Response[eventsv1.RequeueParkedDeliveriesResponse], error) {
	ids := make([]uuid.UUID, 0, len(req.Msg.GetEventIds()))
	for _, s := range req.Msg.GetEventIds() {
		id, err := uuid.Parse(s)
		if err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
		ids = append(ids, id)
	}
	var sub *string
	if s := req.Msg.GetSubscriber(); s != "" {
		sub = &s
	}
	rows, err := a.q.Requeue(ctx, eventsdb.RequeueParams{Subscriber: sub, Type: typeFilter(req.Msg.GetType()), EventIds: ids})
	if err != nil {
		return nil, err
	}
	res := &eventsv1.RequeueParkedDeliveriesResponse{Requeued: int64(len(rows))}
	for _, r := range rows {
		env := &eventsv1.Envelope{}
		_ = proto.Unmarshal(r.Envelope, env) // a broken envelope still logs its ids
		a.log.InfoContext(ContextFrom(ctx, env), "delivery requeued", slog.String("event_id", r.EventID.String()),
			slog.String("subscriber", r.Subscriber), slog.String("type", env.GetType().String()), slog.String("order_id", env.GetOrderId()))
		res.Deliveries = append(res.Deliveries, &eventsv1.RequeuedDelivery{
			EventId: r.EventID.String(), Type: env.GetType(), OrderId: env.GetOrderId(), Subscriber: r.Subscriber,
		})
	}
	if len(rows) > 0 {
		_, _ = a.q.Notify(ctx)
	}
	return connect.NewResponse(res), nil
}

// ListOrderDeliveries implements eventsv1connect.EventAdminServiceHandler.
func (a *Admin) ListOrderDeliveries(ctx context.Context, req *connect.Request[eventsv1.ListOrderDeliveriesRequest]) (*connect.Response[eventsv1.ListOrderDeliveriesResponse], error) {
	rows, err := a.q.OrderDeliveries(ctx, req.Msg.GetOrderId())
	if err != nil {
		return nil, err
	}
	res := &eventsv1.ListOrderDeliveriesResponse{Deliveries: make([]*eventsv1.Delivery, 0, len(rows))}
	for _, r := range rows {
		d := &eventsv1.Delivery{
			EventId: r.EventID.String(), Type: eventsv1.EventType(r.Type), OrderId: r.OrderID, Subscriber: r.Subscriber,
			State: deliveryStates[r.State], Attempts: r.Attempts, LastError: r.LastError, CreateTime: timestamppb.New(r.CreatedAt),
		}
		if d.GetState() == eventsv1.DeliveryState_DELIVERY_STATE_PENDING {
			d.NextAttemptTime = timestamppb.New(r.NextAttemptAt)
		}
		if r.DeliveredAt != nil {
			d.DeliverTime = timestamppb.New(*r.DeliveredAt)
		}
		if r.ParkedAt != nil {
			d.ParkTime = timestamppb.New(*r.ParkedAt)
		}
		res.Deliveries = append(res.Deliveries, d)
	}
	return connect.NewResponse(res), nil
}

// GetOutboxStats implements eventsv1connect.EventAdminServiceHandler.
func (a *Admin) GetOutboxStats(ctx context.Context, _ *connect.Request[eventsv1.GetOutboxStatsRequest]) (*connect.Response[eventsv1.GetOutboxStatsResponse], error) {
	rows, err := a.q.OutboxBySubscriber(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	res := &eventsv1.GetOutboxStatsResponse{}
	for _, r := range rows {
		st := &eventsv1.SubscriberStats{Subscriber: r.Subscriber, Pending: r.Pending, Parked: r.Parked}
		if r.Pending > 0 {
			st.OldestPendingCreateTime = timestamppb.New(now.Add(-time.Duration(r.OldestPendingSeconds * float64(time.Second))))
		}
		res.Subscribers = append(res.Subscribers, st)
	}
	slices.SortFunc(res.Subscribers, func(x, y *eventsv1.SubscriberStats) int { return strings.Compare(x.GetSubscriber(), y.GetSubscriber()) })
	return connect.NewResponse(res), nil
}

// deliveryStates maps the outbox_deliveries.state column to the API.
var deliveryStates = map[string]eventsv1.DeliveryState{
	"pending":   eventsv1.DeliveryState_DELIVERY_STATE_PENDING,
	"delivered": eventsv1.DeliveryState_DELIVERY_STATE_DELIVERED,
	"parked":    eventsv1.DeliveryState_DELIVERY_STATE_PARKED,
}

// typeFilter is the type column's filter: nil for every type.
func typeFilter(t eventsv1.EventType) *int32 {
	if t == eventsv1.EventType_EVENT_TYPE_UNSPECIFIED {
		return nil
	}
	v := int32(t)
	return &v
}
