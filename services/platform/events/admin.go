package events

import (
	"context"
	"log/slog"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	"github.com/ordermesh/ordermesh/services/platform/events/eventsdb"
	"github.com/ordermesh/ordermesh/services/platform/pagetoken"
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
	scope := "parked|" + req.Msg.GetSubscriber()
	cursor, err := pagetoken.Decode(req.Msg.GetPageToken(), scope, 2)
	if err != nil {
		return nil, err
	}
	afterTime, afterID := time.Time{}, uuid.Nil
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
	rows, err := a.q.ListParked(ctx, eventsdb.ListParkedParams{Subscriber: sub, AfterTime: afterTime, AfterID: afterID, PageLimit: size + 1})
	if err != nil {
		return nil, err
	}
	res := &eventsv1.ListParkedDeliveriesResponse{}
	for i, r := range rows {
		if i == int(size) {
			last := rows[i-1]
			res.NextPageToken = pagetoken.Encode(scope, last.ParkedAt.Format(time.RFC3339Nano), last.EventID.String())
			break
		}
		d := &eventsv1.ParkedDelivery{
			EventId: r.EventID.String(), Type: eventsv1.EventType(r.Type), OrderId: r.OrderID,
			Subscriber: r.Subscriber, Attempts: r.Attempts, LastError: r.LastError,
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
	rows, err := a.q.Requeue(ctx, eventsdb.RequeueParams{Subscriber: sub, EventIds: ids})
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		env := &eventsv1.Envelope{}
		_ = proto.Unmarshal(r.Envelope, env) // a broken envelope still logs its ids
		a.log.InfoContext(ContextFrom(ctx, env), "delivery requeued", slog.String("event_id", r.EventID.String()),
			slog.String("subscriber", r.Subscriber), slog.String("type", env.GetType().String()), slog.String("order_id", env.GetOrderId()))
	}
	if len(rows) > 0 {
		_, _ = a.q.Notify(ctx)
	}
	return connect.NewResponse(&eventsv1.RequeueParkedDeliveriesResponse{Requeued: int64(len(rows))}), nil
}
