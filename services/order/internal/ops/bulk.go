package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/pagetoken"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/services/order/internal/handler"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
)

// A bulk action's step is one transaction: this many orders cancelled, or
// this many parked deliveries listed and requeued.
const (
	cancelBatch  = 100
	requeueBatch = 200
)

var (
	errBulkFilter   = rpcerr.New(rpcerr.KindInvalid, "a bulk cancel needs a filter")
	errBulkRequest  = rpcerr.New(rpcerr.KindExists, "the request id was used for another bulk action")
	errBulkAction   = rpcerr.New(rpcerr.KindInvalid, "the bulk action is not known")
	errBulkProducer = rpcerr.New(rpcerr.KindInvalid, "the producer is not known")
)

// StartBulkAction implements opsv1connect.OpsServiceHandler.
func (o *Server) StartBulkAction(ctx context.Context, req *connect.Request[opsv1.StartBulkActionRequest]) (*connect.Response[opsv1.StartBulkActionResponse], error) {
	m := req.Msg
	sample := pagetoken.Size(m.GetSampleSize(), 10, 50)
	p, _ := auth.FromContext(ctx)
	a := service.BulkAction{Operator: p.Subject, Reason: m.GetReason(), RequestID: m.GetRequestId()}
	res := &opsv1.StartBulkActionResponse{}
	var err error
	switch action := m.GetAction().(type) {
	case *opsv1.StartBulkActionRequest_CancelOrders:
		a.Kind = service.BulkCancelOrders
		err = o.previewCancel(ctx, action.CancelOrders, sample, &a, res)
	case *opsv1.StartBulkActionRequest_RequeueDeliveries:
		a.Kind = service.BulkRequeueDeliveries
		err = o.previewRequeue(ctx, action.RequeueDeliveries, sample, &a, res)
	default:
		err = rpcerr.Errorf(errBulkAction, "say which bulk action: cancel_orders or requeue_deliveries")
	}
	if err != nil {
		return nil, err
	}
	res.Filter = a.FilterText
	if m.GetDryRun() {
		return connect.NewResponse(res), nil
	}
	a.Matched = res.GetCount()
	started, created, err := o.svc.StartBulkAction(ctx, a)
	if err != nil {
		return nil, err
	}
	if !created && (started.Kind != a.Kind || started.FilterText != a.FilterText || started.Reason != a.Reason) {
		return nil, rpcerr.Errorf(errBulkRequest, "request id %s started bulk action %s (%s %s); make a new request id for a new action",
			a.RequestID, started.ID, started.Kind, started.FilterText)
	}
	if !created {
		// A retry answers as the first call did: the count the action
		// started with, not what the filter selects after it.
		res.Count, res.SampleOrders, res.SampleDeliveries = started.Matched, nil, nil
	}
	if created && started.State != service.BulkRunning {
		o.logFinished(ctx, started) // it selected nothing: it is over already
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	res.Action = bulkActionProto(started)
	return connect.NewResponse(res), nil
}

// cancelFilter is what a bulk cancel's runner selects with.
type cancelFilter struct {
	Filter service.Filter
	// None is set when none of the filter's statuses can be cancelled.
	None bool
}

// previewCancel counts and samples the orders a bulk cancel would cancel
// now, and fixes the action's filter: only orders placed before now, with
// open_longer_than counted from now.
func (o *Server) previewCancel(ctx context.Context, m *opsv1.OrderFilter, sample int32, a *service.BulkAction, res *opsv1.StartBulkActionResponse) error {
	a.FilterText = describeFilter(m)
	if a.FilterText == "" {
		return rpcerr.Errorf(errBulkFilter, "a bulk cancel needs a filter; to cancel every open order say so with statuses PENDING and RESERVED")
	}
	now := o.svc.Now()
	f := filterOf(m, now)
	if f.PlacedBefore == nil || f.PlacedBefore.After(now) {
		f.PlacedBefore = &now
	}
	f, ok := service.Cancellable(f)
	var err error
	if a.Filter, err = json.Marshal(cancelFilter{Filter: f, None: !ok}); err != nil {
		return err
	}
	if !ok {
		return nil // shipped, rejected and cancelled orders cannot be cancelled
	}
	if res.Count, err = o.svc.CountOrders(ctx, f); err != nil {
		return err
	}
	f.OldestFirst = true
	orders, err := o.svc.SearchOrders(ctx, f, "", sample)
	if err != nil {
		return err
	}
	for _, ord := range orders {
		res.SampleOrders = append(res.SampleOrders, handler.ToProto(ord))
	}
	return nil
}

// previewRequeue counts and samples the parked deliveries a bulk requeue
// would requeue now, over the producers the filter selects.
func (o *Server) previewRequeue(ctx context.Context, f *opsv1.DeliveryFilter, sample int32, a *service.BulkAction, res *opsv1.StartBulkActionResponse) error {
	a.FilterText = describeDeliveryFilter(f)
	var err error
	if a.Filter, err = protojson.Marshal(f); err != nil {
		return err
	}
	producers := o.selected(f)
	if len(producers) == 0 {
		return rpcerr.Errorf(errBulkProducer, "producer %q has no outbox here", f.GetProducer())
	}
	ask := &eventsv1.ListParkedDeliveriesRequest{Subscriber: f.GetSubscriber(), Type: f.GetType(), PageSize: sample}
	pages, errs := gather(producers, func(p string) (*eventsv1.ListParkedDeliveriesResponse, error) {
		r, err := o.deps.Outboxes[p].ListParkedDeliveries(ctx, connect.NewRequest(ask))
		if err != nil {
			return nil, err
		}
		return r.Msg, nil
	})
	if err := allFailed(producers, errs); err != nil {
		return err
	}
	for i, p := range producers {
		if errs[i] != nil {
			res.Unavailable = append(res.Unavailable, unavailableOf(p, errs[i]))
			continue
		}
		res.Count += pages[i].GetTotalCount()
		for _, d := range pages[i].GetDeliveries() {
			res.SampleDeliveries = append(res.SampleDeliveries, &opsv1.ParkedDelivery{Producer: p, Delivery: d})
		}
	}
	sortParked(res.SampleDeliveries)
	res.SampleDeliveries = res.SampleDeliveries[:min(len(res.SampleDeliveries), int(sample))]
	return nil
}

// describeDeliveryFilter writes f as an operator would.
func describeDeliveryFilter(f *opsv1.DeliveryFilter) string {
	var parts []string
	if p := f.GetProducer(); p != "" {
		parts = append(parts, "producer="+p)
	}
	if s := f.GetSubscriber(); s != "" {
		parts = append(parts, "subscriber="+s)
	}
	if t := f.GetType(); t != eventsv1.EventType_EVENT_TYPE_UNSPECIFIED {
		parts = append(parts, "type="+strings.TrimPrefix(t.String(), "EVENT_TYPE_"))
	}
	if len(parts) == 0 {
		return "every parked delivery"
	}
	return strings.Join(parts, " ")
}

// GetBulkAction implements opsv1connect.OpsServiceHandler.
func (o *Server) GetBulkAction(ctx context.Context, req *connect.Request[opsv1.GetBulkActionRequest]) (*connect.Response[opsv1.GetBulkActionResponse], error) {
	a, err := o.svc.GetBulkAction(ctx, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&opsv1.GetBulkActionResponse{Action: bulkActionProto(a)}), nil
}

// StopBulkAction implements opsv1connect.OpsServiceHandler.
func (o *Server) StopBulkAction(ctx context.Context, req *connect.Request[opsv1.StopBulkActionRequest]) (*connect.Response[opsv1.StopBulkActionResponse], error) {
	p, _ := auth.FromContext(ctx)
	a, err := o.svc.StopBulkAction(ctx, req.Msg.GetId(), p.Subject)
	if err != nil {
		return nil, err
	}
	o.logFinished(ctx, a)
	return connect.NewResponse(&opsv1.StopBulkActionResponse{Action: bulkActionProto(a)}), nil
}

// ListBulkActions implements opsv1connect.OpsServiceHandler.
func (o *Server) ListBulkActions(ctx context.Context, req *connect.Request[opsv1.ListBulkActionsRequest]) (*connect.Response[opsv1.ListBulkActionsResponse], error) {
	page, err := pagetoken.NewKeyset(req.Msg.GetPageToken(), "ops-bulk", req.Msg.GetPageSize(), 20, 100)
	if err != nil {
		return nil, err
	}
	actions, err := o.svc.ListBulkActions(ctx, page.After, page.Fetch())
	if err != nil {
		return nil, err
	}
	res := &opsv1.ListBulkActionsResponse{}
	actions, res.NextPageToken = pagetoken.Page(page, actions, func(a service.BulkAction) string { return a.ID })
	for _, a := range actions {
		res.Actions = append(res.Actions, bulkActionProto(a))
	}
	return connect.NewResponse(res), nil
}

// RunBulkActions runs the bulk actions a step at a time until ctx ends:
// at once after StartBulkAction, and every second for the ones a crash
// or a failed step left behind. Several replicas share the work: a step
// locks its action, and another replica takes the next one.
func (o *Server) RunBulkActions(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		a, found, err := o.svc.StepBulkAction(ctx, o.Step)
		switch {
		case err != nil && !found && ctx.Err() == nil:
			// The database is away; the readiness check says so.
			o.deps.Log.DebugContext(ctx, "no bulk action could be claimed", slog.Any("error", err))
		case err != nil && ctx.Err() == nil:
			o.deps.Log.WarnContext(ctx, "bulk action step failed; it will be tried again", slog.String("action_id", a.ID),
				slog.String("kind", string(a.Kind)), slog.Any("error", err))
			if a.State == service.BulkFailed {
				o.logFinished(ctx, a)
			}
		case found && a.State != service.BulkRunning:
			o.logFinished(ctx, a)
		}
		if found && err == nil {
			continue // there may be more
		}
		select {
		case <-ctx.Done():
			return nil
		case <-o.wake:
		case <-tick.C:
		}
	}
}

// logFinished is an action's one log line: who, why, the filter and what
// it did.
func (o *Server) logFinished(ctx context.Context, a service.BulkAction) {
	level := slog.LevelInfo
	if a.State == service.BulkFailed {
		level = slog.LevelError
	}
	o.deps.Log.Log(ctx, level, "bulk action "+string(a.State), slog.String("action_id", a.ID), slog.String("kind", string(a.Kind)),
		slog.String("operator", a.Operator), slog.String("reason", a.Reason), slog.String("filter", a.FilterText),
		slog.Int64("matched", a.Matched), slog.Int64("done", a.Done), slog.Int64("skipped", a.Skipped),
		slog.String("error", a.Error), slog.String("stopped_by", a.StoppedBy), slog.Time("started", a.CreatedAt))
}

// Step runs one step of a bulk action, in the transaction that records
// its progress; RunBulkActions runs it through service.StepBulkAction.
func (o *Server) Step(ctx context.Context, tx service.BulkTx, a service.BulkAction) (service.BulkStep, error) {
	switch a.Kind {
	case service.BulkCancelOrders:
		var f cancelFilter
		if err := json.Unmarshal(a.Filter, &f); err != nil {
			return service.BulkStep{}, fmt.Errorf("bulk action %s: read its filter: %w", a.ID, err)
		}
		if f.None {
			return service.BulkStep{Finished: true}, nil
		}
		return o.svc.CancelBatch(ctx, tx, a, f.Filter, cancelBatch)
	case service.BulkRequeueDeliveries:
		return o.requeueBatch(ctx, a)
	}
	return service.BulkStep{}, fmt.Errorf("bulk action %s is of an unknown kind %q", a.ID, a.Kind)
}

// requeueCursor is where a bulk requeue stands: the producer it is at (an
// index into the filter's producers) and the last delivery it listed.
type requeueCursor struct {
	Producer int       `json:"producer"`
	ParkTime time.Time `json:"park_time"`
	EventID  string    `json:"event_id,omitempty"`
}

// requeueBatch lists the next parked deliveries of the producer the
// cursor is at, the ones parked before the action started, and requeues
// them; past a producer's last, it moves to the next producer. A
// delivery requeued twice (after a crash between the requeue and the
// commit) is requeued once: the second time it is no longer parked.
func (o *Server) requeueBatch(ctx context.Context, a service.BulkAction) (service.BulkStep, error) {
	f := &opsv1.DeliveryFilter{}
	if err := protojson.Unmarshal(a.Filter, f); err != nil {
		return service.BulkStep{}, fmt.Errorf("bulk action %s: read its filter: %w", a.ID, err)
	}
	var cur requeueCursor
	if a.Cursor != "" {
		if err := json.Unmarshal([]byte(a.Cursor), &cur); err != nil {
			return service.BulkStep{}, fmt.Errorf("bulk action %s: read its cursor: %w", a.ID, err)
		}
	}
	producers := o.selected(f)
	step := service.BulkStep{}
	if cur.Producer >= len(producers) {
		step.Finished = true
		return step, nil
	}
	producer := producers[cur.Producer]
	admin := o.deps.Outboxes[producer]
	ask := &eventsv1.ListParkedDeliveriesRequest{Subscriber: f.GetSubscriber(), Type: f.GetType(), PageSize: requeueBatch}
	if cur.EventID != "" {
		ask.AfterParkTime, ask.AfterEventId = timestamppb.New(cur.ParkTime), cur.EventID
	}
	page, err := admin.ListParkedDeliveries(ctx, connect.NewRequest(ask))
	if err != nil {
		return step, rpcerr.Dependency("the "+producer+" service", err)
	}
	var ids []string
	last := true
	for _, d := range page.Msg.GetDeliveries() {
		if !d.GetParkTime().AsTime().Before(a.CreatedAt) {
			break // parked after the action started: not selected
		}
		ids = append(ids, d.GetEventId())
		cur.ParkTime, cur.EventID = d.GetParkTime().AsTime(), d.GetEventId()
	}
	if len(ids) == int(requeueBatch) && page.Msg.GetNextPageToken() != "" {
		last = false
	}
	if len(ids) > 0 {
		r, err := admin.RequeueParkedDeliveries(ctx, connect.NewRequest(&eventsv1.RequeueParkedDeliveriesRequest{
			EventIds: ids, Subscriber: f.GetSubscriber(), Type: f.GetType(),
		}))
		if err != nil {
			return step, rpcerr.Dependency("the "+producer+" service", err)
		}
		step.Done = r.Msg.GetRequeued()
		for _, d := range r.Msg.GetDeliveries() {
			step.Outcomes = append(step.Outcomes, service.BulkOutcome{OrderID: d.GetOrderId(), Outcome: fmt.Sprintf("requeued %s from %s to %s",
				strings.TrimPrefix(d.GetType().String(), "EVENT_TYPE_"), producer, d.GetSubscriber())})
		}
	}
	if last {
		cur = requeueCursor{Producer: cur.Producer + 1}
		step.Finished = cur.Producer >= len(producers)
	}
	raw, err := json.Marshal(cur)
	if err != nil {
		return step, err
	}
	step.Cursor = string(raw)
	return step, nil
}

// bulkActionProto is a bulk action for the API.
func bulkActionProto(a service.BulkAction) *opsv1.BulkAction {
	out := &opsv1.BulkAction{
		Id: a.ID, Operator: a.Operator, Reason: a.Reason, Filter: a.FilterText,
		Matched: a.Matched, Done: a.Done, Skipped: a.Skipped, Error: a.Error, RequestId: a.RequestID, StoppedBy: a.StoppedBy,
		CreateTime: timestamppb.New(a.CreatedAt), UpdateTime: timestamppb.New(a.UpdatedAt),
	}
	if a.FinishedAt != nil {
		out.FinishTime = timestamppb.New(*a.FinishedAt)
	}
	switch a.Kind {
	case service.BulkCancelOrders:
		out.Kind = opsv1.BulkActionKind_BULK_ACTION_KIND_CANCEL_ORDERS
	case service.BulkRequeueDeliveries:
		out.Kind = opsv1.BulkActionKind_BULK_ACTION_KIND_REQUEUE_DELIVERIES
	}
	switch a.State {
	case service.BulkRunning:
		out.State = opsv1.BulkActionState_BULK_ACTION_STATE_RUNNING
	case service.BulkDone:
		out.State = opsv1.BulkActionState_BULK_ACTION_STATE_DONE
	case service.BulkFailed:
		out.State = opsv1.BulkActionState_BULK_ACTION_STATE_FAILED
	case service.BulkStopped:
		out.State = opsv1.BulkActionState_BULK_ACTION_STATE_STOPPED
	}
	return out
}
