package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1/opsv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

// TestOpsBulkActions cancels the orders a filter selects and requeues the
// parked deliveries a filter selects, on the server: a dry run first,
// then the action, its progress to the end, its record in each order's
// timeline, and a second run that changes nothing.
func TestOpsBulkActions(t *testing.T) {
	t.Parallel()
	s := newShop(t, func(c *mesh.Config) { c.Relay.MaxAttempts = 2 })
	ops := opsv1connect.NewOpsServiceClient(s.m.HTTP, s.m.URL)
	start := func(req *opsv1.StartBulkActionRequest) (*opsv1.StartBulkActionResponse, error) {
		res, err := ops.StartBulkAction(t.Context(), meshtest.WithToken(req, s.merchant))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	ada, bob := s.customer(t, "bulk-ada", cardOK), s.customer(t, "bulk-bob", cardOK)
	shipped := s.settle(t, ada, s.place(t, ada, s.request(t, ada, "DE", lines("BEAN-1", 1))).GetId())
	if shipped.GetStatus() != confirmed {
		t.Fatalf("first order %v, want CONFIRMED", shipped.GetStatus())
	}
	// With Inventory down, the next orders stay PENDING and their
	// OrderPlaced deliveries are parked.
	s.m.WaitQuiet(t)
	s.m.Gates["inventory"].Down()
	var recalled []string
	for range 3 {
		recalled = append(recalled, s.place(t, ada, s.request(t, ada, "DE", lines("BEAN-1", 1))).GetId())
	}
	other := s.place(t, bob, s.request(t, bob, "DE", lines("MUG-1", 1))).GetId()
	waitParked(t, ops, s.merchant, &opsv1.DeliveryFilter{Subscriber: "inventory"}, 4)

	recall := &opsv1.OrderFilter{Sku: "BEAN-1", Statuses: []orderv1.OrderStatus{orderv1.OrderStatus_ORDER_STATUS_PENDING}}
	cancelRecalled := func(reason, requestID string, dryRun bool) *opsv1.StartBulkActionRequest {
		return &opsv1.StartBulkActionRequest{Action: &opsv1.StartBulkActionRequest_CancelOrders{CancelOrders: recall},
			Reason: reason, RequestId: requestID, DryRun: dryRun}
	}

	t.Run("refused", func(t *testing.T) {
		for name, tc := range map[string]struct {
			req   *opsv1.StartBulkActionRequest
			token string
			code  connect.Code
			want  string
		}{
			"no reason": {cancelRecalled("", "", false), s.merchant, connect.CodeInvalidArgument, "reason must say why"},
			"no filter": {&opsv1.StartBulkActionRequest{Action: &opsv1.StartBulkActionRequest_CancelOrders{CancelOrders: &opsv1.OrderFilter{}}, Reason: "all of them"},
				s.merchant, connect.CodeInvalidArgument, "needs a filter"},
			"no action":        {&opsv1.StartBulkActionRequest{Reason: "what"}, s.merchant, connect.CodeInvalidArgument, "action"},
			"unknown producer": {&opsv1.StartBulkActionRequest{Action: &opsv1.StartBulkActionRequest_RequeueDeliveries{RequeueDeliveries: &opsv1.DeliveryFilter{Producer: "cart"}}, Reason: "retry"}, s.merchant, connect.CodeInvalidArgument, "producer"},
			"a customer":       {cancelRecalled("recall", "", true), ada.token, connect.CodePermissionDenied, ""},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := ops.StartBulkAction(t.Context(), meshtest.WithToken(tc.req, tc.token))
				meshtest.WantCode(t, err, tc.code, tc.want)
			})
		}
	})

	t.Run("cancel", func(t *testing.T) {
		dry, err := start(cancelRecalled("", "", true))
		if err != nil {
			t.Fatalf("dry run: %v", err)
		}
		var sample []string
		for _, o := range dry.GetSampleOrders() {
			sample = append(sample, o.GetId())
		}
		if dry.GetCount() != 3 || !slices.Equal(sample, recalled) || dry.GetAction() != nil {
			t.Fatalf("dry run: count %d, sample %v, action %v; want 3, %v oldest first, no action", dry.GetCount(), sample, dry.GetAction(), recalled)
		}
		if o := s.order(t, ada, recalled[0]); o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_PENDING {
			t.Fatalf("after the dry run the order is %v, want PENDING", o.GetStatus())
		}
		request := uuid.NewString()
		res, err := start(cancelRecalled("supplier recall of BEAN-1", request, false))
		if err != nil {
			t.Fatalf("StartBulkAction: %v", err)
		}
		a := res.GetAction()
		if res.GetCount() != 3 || a.GetMatched() != 3 || a.GetOperator() != "mia" || a.GetReason() != "supplier recall of BEAN-1" ||
			a.GetFilter() != "status=pending sku=BEAN-1" || a.GetKind() != opsv1.BulkActionKind_BULK_ACTION_KIND_CANCEL_ORDERS {
			t.Fatalf("started %v, want 3 matched by mia, with its reason and filter", a)
		}
		done := waitBulk(t, ops, s.merchant, a.GetId())
		if done.GetDone() != 3 || done.GetSkipped() != 0 || done.GetFinishTime() == nil {
			t.Errorf("finished %v, want 3 done, none skipped", done)
		}
		for _, id := range recalled {
			o := s.order(t, ada, id)
			if o.GetStatus() != cancelled || o.GetReason() != orderv1.StatusReason_STATUS_REASON_OPERATOR {
				t.Errorf("order %s is %v %v, want CANCELLED by the operator", id, o.GetStatus(), o.GetReason())
			}
			tl, err := ops.GetSagaTimeline(t.Context(), meshtest.WithToken(&opsv1.GetSagaTimelineRequest{OrderId: id}, s.merchant))
			if err != nil {
				t.Fatal(err)
			}
			var steps []*opsv1.BulkActionStep
			for _, e := range tl.Msg.GetEntries() {
				if b := e.GetBulkAction(); b != nil && e.GetService() == "operator" {
					steps = append(steps, b)
				}
			}
			if len(steps) != 1 || steps[0].GetOutcome() != "cancelled" || steps[0].GetAction().GetId() != a.GetId() ||
				steps[0].GetAction().GetMatched() != 3 || steps[0].GetAction().GetReason() != "supplier recall of BEAN-1" {
				t.Errorf("order %s's timeline has bulk steps %v, want the action's one, cancelled", id, steps)
			}
		}
		// One log line records the action.
		var logged []map[string]any
		for _, l := range s.m.LogLines(t) {
			if l["action_id"] == a.GetId() && strings.HasPrefix(fmt.Sprint(l["msg"]), "bulk action") {
				logged = append(logged, l)
			}
		}
		if len(logged) != 1 || logged[0]["msg"] != "bulk action done" || logged[0]["operator"] != "mia" ||
			logged[0]["reason"] != "supplier recall of BEAN-1" || logged[0]["filter"] != "status=pending sku=BEAN-1" ||
			logged[0]["matched"] != float64(3) || logged[0]["done"] != float64(3) {
			t.Errorf("log lines of the action %v, want one: done, by mia, why, the filter, 3 of 3", logged)
		}
		if o := s.order(t, bob, other); o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_PENDING {
			t.Errorf("an order the filter does not select is %v, want PENDING", o.GetStatus())
		}
		if o := s.order(t, ada, shipped.GetId()); o.GetStatus() != confirmed {
			t.Errorf("a confirmed order the filter does not select is %v, want CONFIRMED", o.GetStatus())
		}

		// A retry with the same request id is the same action; with another
		// reason it is refused.
		again, err := start(cancelRecalled("supplier recall of BEAN-1", request, false))
		if err != nil || again.GetAction().GetId() != a.GetId() || again.GetAction().GetDone() != 3 || again.GetCount() != 3 || len(again.GetSampleOrders()) != 0 {
			t.Errorf("retry = %v, %v; want action %s, 3 done, and the count it started with", again, err, a.GetId())
		}
		_, err = start(cancelRecalled("another reason", request, false))
		meshtest.WantCode(t, err, connect.CodeAlreadyExists, "make a new request id")
		// Run again: nothing is left to cancel, and it ends at once.
		second, err := start(cancelRecalled("supplier recall of BEAN-1", uuid.NewString(), false))
		if err != nil || second.GetCount() != 0 || second.GetAction().GetState() != opsv1.BulkActionState_BULK_ACTION_STATE_DONE {
			t.Errorf("second run = %v, %v; want 0 matched, done", second, err)
		}
		// Shipped, rejected and cancelled orders cannot be cancelled.
		finished, err := start(&opsv1.StartBulkActionRequest{DryRun: true, Action: &opsv1.StartBulkActionRequest_CancelOrders{CancelOrders: &opsv1.OrderFilter{
			Statuses: []orderv1.OrderStatus{orderv1.OrderStatus_ORDER_STATUS_CANCELLED}}}})
		if err != nil || finished.GetCount() != 0 {
			t.Errorf("dry run of cancelled orders = %v, %v; want 0", finished, err)
		}
	})

	t.Run("requeue", func(t *testing.T) {
		requeue := &opsv1.StartBulkActionRequest{Action: &opsv1.StartBulkActionRequest_RequeueDeliveries{RequeueDeliveries: &opsv1.DeliveryFilter{
			Subscriber: "inventory", Type: eventsv1.EventType_EVENT_TYPE_ORDER_PLACED,
		}}, Reason: "inventory is back"}
		requeue.DryRun = true
		dry, err := start(requeue)
		if err != nil || dry.GetCount() != 4 || len(dry.GetSampleDeliveries()) != 4 {
			t.Fatalf("dry run = %v, %v; want the 4 parked OrderPlaced", dry, err)
		}
		s.m.Gates["inventory"].Up()
		requeue.DryRun = false
		res, err := start(requeue)
		if err != nil {
			t.Fatalf("StartBulkAction: %v", err)
		}
		a := waitBulk(t, ops, s.merchant, res.GetAction().GetId())
		if a.GetMatched() != 4 || a.GetDone() != 4 || a.GetFilter() != "subscriber=inventory type=ORDER_PLACED" {
			t.Errorf("requeue %v, want 4 matched and requeued", a)
		}
		// Bob's order goes on to be confirmed, and its timeline says why.
		if o := s.settle(t, bob, other); o.GetStatus() != confirmed {
			t.Errorf("requeued order ended %v, want CONFIRMED", o.GetStatus())
		}
		tl, err := ops.GetSagaTimeline(t.Context(), meshtest.WithToken(&opsv1.GetSagaTimelineRequest{OrderId: other}, s.merchant))
		if err != nil {
			t.Fatal(err)
		}
		var outcomes []string
		for _, e := range tl.Msg.GetEntries() {
			if b := e.GetBulkAction(); b != nil {
				outcomes = append(outcomes, b.GetOutcome())
			}
		}
		if !slices.Equal(outcomes, []string{"requeued ORDER_PLACED from order to inventory"}) {
			t.Errorf("timeline's bulk steps %q, want the requeue", outcomes)
		}
		// Again: nothing is parked, nothing is requeued.
		again, err := start(requeue)
		if err != nil || again.GetCount() != 0 || again.GetAction().GetState() != opsv1.BulkActionState_BULK_ACTION_STATE_DONE {
			t.Errorf("second requeue = %v, %v; want 0, done", again, err)
		}
	})

	t.Run("summary", func(t *testing.T) {
		// Five placed, the three recalled cancelled from PENDING, two
		// confirmed: none open at the end, and none ever below zero.
		res, err := ops.GetSummary(t.Context(), meshtest.WithToken(&opsv1.GetSummaryRequest{Minutes: 5, TopSkus: 1}, s.merchant))
		if err != nil {
			t.Fatal(err)
		}
		var placed, confirmed, cancelled int64
		for _, m := range res.Msg.GetMinutes() {
			placed, confirmed, cancelled = placed+m.GetPlaced(), confirmed+m.GetConfirmed(), cancelled+m.GetCancelled()
			if m.GetOpen() < 0 || m.GetOpen() > 4 {
				t.Errorf("minute %v: %d open, want 0 to 4", m.GetMinute().AsTime(), m.GetOpen())
			}
		}
		minutes := res.Msg.GetMinutes()
		if len(minutes) != 5 || placed != 5 || confirmed != 2 || cancelled != 3 || minutes[4].GetOpen() != 0 {
			t.Errorf("%d minutes: %d placed, %d confirmed, %d cancelled, %d open at the end; want 5: 5, 2, 3, 0", len(minutes), placed, confirmed, cancelled, minutes[len(minutes)-1].GetOpen())
		}
		if b := res.Msg.GetBusiestSkus(); len(b) != 1 || b[0].GetSku() != "BEAN-1" || b[0].GetUnits() != 4 || b[0].GetStock().GetSku() != "BEAN-1" {
			t.Errorf("busiest SKU %v, want BEAN-1's 4 units with its stock", b)
		}
	})

	var stoppedDone int64
	t.Run("a producer down, then stopped", func(t *testing.T) {
		// A parked OrderPlaced, and Payment down: the requeue does Order's
		// part, then retries Payment's with backoff, showing the error,
		// until the operator stops it.
		s.m.WaitQuiet(t)
		s.m.Gates["inventory"].Down()
		stuck := s.place(t, bob, s.request(t, bob, "DE", lines("MUG-1", 1))).GetId()
		wait.Until(t, 20*time.Second, 50*time.Millisecond, func() error {
			res, err := ops.ListParkedDeliveries(t.Context(), meshtest.WithToken(&opsv1.ListParkedDeliveriesRequest{Filter: &opsv1.DeliveryFilter{Producer: "order"}}, s.merchant))
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(res.Msg.GetDeliveries(), func(d *opsv1.ParkedDelivery) bool { return d.GetDelivery().GetOrderId() == stuck }) {
				return fmt.Errorf("order %s's OrderPlaced is not parked yet", stuck)
			}
			return nil
		})
		s.m.Gates["payment"].Cut() // its admin API too
		defer s.m.Gates["payment"].Up()
		defer s.m.Gates["inventory"].Up()
		res, err := start(&opsv1.StartBulkActionRequest{Action: &opsv1.StartBulkActionRequest_RequeueDeliveries{RequeueDeliveries: &opsv1.DeliveryFilter{}},
			Reason: "retry while payment is down"})
		if err != nil {
			t.Fatalf("StartBulkAction: %v", err)
		}
		// The count is what Order and Inventory hold parked, the stuck order's
		// OrderPlaced among them (and the recalled orders' OrderCancelled,
		// parked while Inventory was down); Payment's is unknown.
		if res.GetCount() < 1 || len(res.GetUnavailable()) != 1 || res.GetUnavailable()[0].GetService() != "payment" {
			t.Fatalf("started with count %d, unavailable %v; want some, and payment", res.GetCount(), res.GetUnavailable())
		}
		parked := res.GetCount()
		id := res.GetAction().GetId()
		var a *opsv1.BulkAction
		wait.Until(t, 20*time.Second, 50*time.Millisecond, func() error {
			got, err := ops.GetBulkAction(t.Context(), meshtest.WithToken(&opsv1.GetBulkActionRequest{Id: id}, s.merchant))
			if err != nil {
				return err
			}
			if a = got.Msg.GetAction(); a.GetError() == "" {
				return fmt.Errorf("no error yet on %v", a)
			}
			return nil
		})
		if a.GetState() != opsv1.BulkActionState_BULK_ACTION_STATE_RUNNING || a.GetDone() != parked || !strings.Contains(a.GetError(), "payment") {
			t.Errorf("with Payment down the action is %v, want running, the %d of Inventory and Order requeued, and Payment's error", a, parked)
		}
		stopped, err := ops.StopBulkAction(t.Context(), meshtest.WithToken(&opsv1.StopBulkActionRequest{Id: id}, s.merchant))
		if err != nil {
			t.Fatalf("StopBulkAction: %v", err)
		}
		if b := stopped.Msg.GetAction(); b.GetState() != opsv1.BulkActionState_BULK_ACTION_STATE_STOPPED || b.GetStoppedBy() != "mia" || b.GetDone() != parked {
			t.Errorf("stopped %v, want STOPPED by mia with %d done", b, parked)
		}
		stoppedDone = parked
		_, err = ops.StopBulkAction(t.Context(), meshtest.WithToken(&opsv1.StopBulkActionRequest{Id: id}, s.merchant))
		meshtest.WantCode(t, err, connect.CodeFailedPrecondition, "has ended (stopped by mia at ")
		if o := s.order(t, bob, stuck); o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_PENDING {
			t.Errorf("the order is %v while Inventory is down, want PENDING", o.GetStatus())
		}
	})

	t.Run("list", func(t *testing.T) {
		res, err := ops.ListBulkActions(t.Context(), meshtest.WithToken(&opsv1.ListBulkActionsRequest{PageSize: 2}, s.merchant))
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, a := range res.Msg.GetActions() {
			kinds = append(kinds, fmt.Sprintf("%s %d", strings.TrimPrefix(a.GetKind().String(), "BULK_ACTION_KIND_"), a.GetDone()))
		}
		if !slices.Equal(kinds, []string{fmt.Sprintf("REQUEUE_DELIVERIES %d", stoppedDone), "REQUEUE_DELIVERIES 0"}) || res.Msg.GetNextPageToken() == "" {
			t.Errorf("newest actions %v (next %q), want the stopped requeue and the empty one, newest first, and a next page", kinds, res.Msg.GetNextPageToken())
		}
		_, err = ops.GetBulkAction(t.Context(), meshtest.WithToken(&opsv1.GetBulkActionRequest{Id: uuid.NewString()}, s.merchant))
		meshtest.WantCode(t, err, connect.CodeNotFound, "does not exist")
	})
}

// waitBulk reads a bulk action until it is no longer running, for up to
// 20 s, and returns it.
func waitBulk(t *testing.T, ops opsv1connect.OpsServiceClient, token, id string) *opsv1.BulkAction {
	t.Helper()
	var a *opsv1.BulkAction
	wait.Until(t, 20*time.Second, 50*time.Millisecond, func() error {
		res, err := ops.GetBulkAction(context.Background(), meshtest.WithToken(&opsv1.GetBulkActionRequest{Id: id}, token))
		if err != nil {
			return err
		}
		if a = res.Msg.GetAction(); a.GetState() == opsv1.BulkActionState_BULK_ACTION_STATE_RUNNING {
			return fmt.Errorf("bulk action %s is running: %d of %d done", id, a.GetDone(), a.GetMatched())
		}
		return nil
	})
	if a.GetState() != opsv1.BulkActionState_BULK_ACTION_STATE_DONE {
		t.Fatalf("bulk action %v, want DONE", a)
	}
	return a
}
