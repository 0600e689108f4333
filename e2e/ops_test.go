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
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	cartv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1/opsv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	paymentv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
	"github.com/ordermesh/ordermesh/services/order"
)

// TestOperatorReadsOfOneOrder covers the service-role reads the operator's
// saga timeline is assembled from: Inventory's reservation of an order,
// and each producer's deliveries about it and queue counts.
func TestOperatorReadsOfOneOrder(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	alice := s.customer(t, "alice", cardOK)
	if _, err := s.carts.AddItem(ctx, meshtest.WithToken(&cartv1.AddItemRequest{UserId: "alice", Sku: "BEAN-1", Quantity: 2}, alice.token)); err != nil {
		t.Fatalf("AddItem: %v", err)
	}
	req := s.request(t, alice, "DE", &orderv1.PlaceOrderRequest_FromCart{FromCart: &orderv1.FromCart{}})
	placed := s.place(t, alice, req)
	if o := s.settle(t, alice, placed.GetId()); o.GetStatus() != confirmed {
		t.Fatalf("order = %v, want CONFIRMED", o.GetStatus())
	}
	s.m.WaitQuiet(t)

	res, err := s.stock.GetReservation(ctx, meshtest.WithToken(&inventoryv1.GetReservationRequest{OrderId: placed.GetId()}, s.service))
	if err != nil {
		t.Fatalf("GetReservation: %v", err)
	}
	r := res.Msg.GetReservation()
	if r.GetStatus() != inventoryv1.ReservationStatus_RESERVATION_STATUS_SOLD || len(r.GetLines()) != 1 ||
		r.GetLines()[0].GetSku() != "BEAN-1" || r.GetLines()[0].GetQuantity() != 2 || r.GetCreateTime() == nil {
		t.Errorf("reservation = %v, want SOLD with 2 × BEAN-1 and its times", r)
	}
	// A rejection holds nothing, so nothing expires, whichever path
	// (batched or one by one) wrote it.
	short := s.settle(t, alice, s.place(t, alice, s.request(t, alice, "DE", lines("MUG-1", 99))).GetId())
	res, err = s.stock.GetReservation(ctx, meshtest.WithToken(&inventoryv1.GetReservationRequest{OrderId: short.GetId()}, s.merchant))
	if err != nil {
		t.Fatalf("GetReservation: %v", err)
	}
	if r := res.Msg.GetReservation(); r.GetStatus() != inventoryv1.ReservationStatus_RESERVATION_STATUS_REJECTED || r.GetExpireTime() != nil {
		t.Errorf("rejected reservation = %v, want REJECTED with no expiry", r)
	}
	_, err = s.stock.GetReservation(ctx, meshtest.WithToken(&inventoryv1.GetReservationRequest{OrderId: placed.GetId()}, alice.token))
	meshtest.WantCode(t, err, connect.CodePermissionDenied, "")
	_, err = s.stock.GetReservation(ctx, meshtest.WithToken(&inventoryv1.GetReservationRequest{OrderId: uuid.NewString()}, s.merchant))
	meshtest.WantCode(t, err, connect.CodeNotFound, "has no reservation")

	s.m.WaitQuiet(t) // the rejection's deliveries are recorded too

	// Order produced OrderPlaced for Inventory and OrderConfirmed for
	// Payment; Inventory produced StockReserved for Order. Each producer
	// answers for its own.
	delivered := map[string]eventsv1.EventType{}
	for _, producer := range []string{"order", "inventory"} {
		admin := eventsv1connect.NewEventAdminServiceClient(s.m.HTTP, s.m.URL+events.SinkPath(producer))
		list, err := admin.ListOrderDeliveries(ctx, meshtest.WithToken(&eventsv1.ListOrderDeliveriesRequest{OrderId: placed.GetId()}, s.service))
		if err != nil {
			t.Fatalf("%s ListOrderDeliveries: %v", producer, err)
		}
		for _, d := range list.Msg.GetDeliveries() {
			if d.GetOrderId() != placed.GetId() || d.GetState() != eventsv1.DeliveryState_DELIVERY_STATE_DELIVERED ||
				d.GetAttempts() < 1 || d.GetDeliverTime() == nil || d.GetCreateTime() == nil {
				t.Errorf("%s delivery %v, want this order's, delivered, with its times", producer, d)
			}
			delivered[producer+"→"+d.GetSubscriber()+" "+d.GetType().String()] = d.GetType()
		}
		stats, err := admin.GetOutboxStats(ctx, meshtest.WithToken(&eventsv1.GetOutboxStatsRequest{}, s.service))
		if err != nil {
			t.Fatalf("%s GetOutboxStats: %v", producer, err)
		}
		for _, st := range stats.Msg.GetSubscribers() {
			if st.GetPending() != 0 || st.GetParked() != 0 || st.GetOldestPendingCreateTime() != nil {
				t.Errorf("%s → %s: %v, want nothing waiting once the mesh is quiet", producer, st.GetSubscriber(), st)
			}
		}
		_, err = admin.ListOrderDeliveries(ctx, meshtest.WithToken(&eventsv1.ListOrderDeliveriesRequest{OrderId: placed.GetId()}, s.merchant))
		meshtest.WantCode(t, err, connect.CodePermissionDenied, "")
	}
	for _, want := range []string{"order→inventory EVENT_TYPE_ORDER_PLACED", "inventory→order EVENT_TYPE_STOCK_RESERVED"} {
		if _, ok := delivered[want]; !ok {
			t.Errorf("no delivery %s among %v", want, delivered)
		}
	}
}

// TestOpsService is the operator's day, through OpsService at its standard
// path: find orders across customers by status, reason and age, read one
// saga across the services, see a delivery parked while Inventory is down,
// requeue it and watch the order complete, and cancel a stuck order.
func TestOpsService(t *testing.T) {
	t.Parallel()
	// Untraced as a process without a collector is: every order still has
	// a trace id, for the link to its trace.
	s := newShopUntraced(t, func(c *mesh.Config) {
		c.Relay.MaxAttempts = 2
		mesh.ServiceConfig[order.Config](c).TraceURL = "http://jaeger.example:16686/trace/{trace_id}?uiFind={trace_id}"
	})
	ctx := context.Background()
	ops := opsv1connect.NewOpsServiceClient(s.m.HTTP, s.m.URL)
	ok, declined := s.customer(t, "ops-ok", cardOK), s.customer(t, "ops-no", cardDeclined)
	good := s.settle(t, ok, s.place(t, ok, s.request(t, ok, "DE", lines("BEAN-1", 2))).GetId())
	bad := s.settle(t, declined, s.place(t, declined, s.request(t, declined, "DE", lines("BEAN-1", 1))).GetId())
	if good.GetStatus() != confirmed || bad.GetStatus() != cancelled {
		t.Fatalf("orders %v and %v, want CONFIRMED and CANCELLED", good.GetStatus(), bad.GetStatus())
	}
	// With Inventory down, the next order's OrderPlaced is parked after
	// two attempts and the order stays PENDING.
	s.m.WaitQuiet(t)
	s.m.Gates["inventory"].Down()
	stuck := s.place(t, ok, s.request(t, ok, "DE", lines("BEAN-1", 1)))
	parked := waitParked(t, ops, s.merchant, &opsv1.DeliveryFilter{Producer: "order", Subscriber: "inventory"}, 1)
	if d := parked[0]; d.GetProducer() != "order" || d.GetDelivery().GetOrderId() != stuck.GetId() ||
		d.GetDelivery().GetType() != eventsv1.EventType_EVENT_TYPE_ORDER_PLACED || d.GetDelivery().GetAttempts() != 2 || d.GetDelivery().GetLastError() == "" {
		t.Errorf("parked %v, want order's ORDER_PLACED of %s after 2 attempts, with its error", d, stuck.GetId())
	}

	t.Run("ListOrders", func(t *testing.T) {
		for name, tc := range map[string]struct {
			req  *opsv1.ListOrdersRequest
			want []string
		}{
			"confirmed":        {&opsv1.ListOrdersRequest{Statuses: []orderv1.OrderStatus{confirmed}}, []string{good.GetId()}},
			"declined":         {&opsv1.ListOrdersRequest{Reasons: []orderv1.StatusReason{orderv1.StatusReason_STATUS_REASON_PAYMENT_DECLINED}}, []string{bad.GetId()}},
			"open for 0s":      {&opsv1.ListOrdersRequest{OpenLongerThan: durationpb.New(0)}, []string{stuck.GetId()}},
			"open for an hour": {&opsv1.ListOrdersRequest{OpenLongerThan: durationpb.New(time.Hour)}, nil},
			"one customer":     {&opsv1.ListOrdersRequest{UserId: "ops-no"}, []string{bad.GetId()}},
			"newest first":     {&opsv1.ListOrdersRequest{}, []string{stuck.GetId(), bad.GetId(), good.GetId()}},
			"oldest first":     {&opsv1.ListOrdersRequest{Sort: opsv1.OrderSort_ORDER_SORT_OLDEST_FIRST}, []string{good.GetId(), bad.GetId(), stuck.GetId()}},
			"placed after the first": {&opsv1.ListOrdersRequest{PlacedAfter: timestamppb.New(good.GetCreateTime().AsTime().Add(time.Microsecond)),
				Statuses: []orderv1.OrderStatus{confirmed, cancelled}}, []string{bad.GetId()}},
			"placed before the second": {&opsv1.ListOrdersRequest{PlacedBefore: bad.GetCreateTime()}, []string{good.GetId()}},
		} {
			// One by one: every page carries the filter's whole count.
			tc.req.PageSize = 1
			var got []string
			for page := 0; ; page++ {
				res, err := ops.ListOrders(ctx, meshtest.WithToken(tc.req, s.merchant))
				if err != nil {
					t.Fatalf("%s: ListOrders: %v", name, err)
				}
				if res.Msg.GetTotalCount() != int64(len(tc.want)) {
					t.Errorf("%s: total_count %d, want %d", name, res.Msg.GetTotalCount(), len(tc.want))
				}
				for _, o := range res.Msg.GetOrders() {
					got = append(got, o.GetId())
				}
				if tc.req.PageToken = res.Msg.GetNextPageToken(); tc.req.PageToken == "" || page > 5 {
					break
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: orders %v, want %v", name, got, tc.want)
			}
		}
		first, err := ops.ListOrders(ctx, meshtest.WithToken(&opsv1.ListOrdersRequest{PageSize: 1}, s.merchant))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ops.ListOrders(ctx, meshtest.WithToken(&opsv1.ListOrdersRequest{PageSize: 1, Statuses: []orderv1.OrderStatus{confirmed},
			PageToken: first.Msg.GetNextPageToken()}, s.merchant))
		meshtest.WantCode(t, err, connect.CodeInvalidArgument, "page_token")
		_, err = ops.ListOrders(ctx, meshtest.WithToken(&opsv1.ListOrdersRequest{Statuses: []orderv1.OrderStatus{99}}, s.merchant))
		meshtest.WantCode(t, err, connect.CodeInvalidArgument, "statuses")
		_, err = ops.ListOrders(ctx, meshtest.WithToken(&opsv1.ListOrdersRequest{}, ok.token))
		meshtest.WantCode(t, err, connect.CodePermissionDenied, "")
		_, err = ops.ListOrders(ctx, connect.NewRequest(&opsv1.ListOrdersRequest{}))
		meshtest.WantCode(t, err, connect.CodeUnauthenticated, "")
	})

	t.Run("timeline of a confirmed order", func(t *testing.T) {
		res, err := ops.GetSagaTimeline(ctx, meshtest.WithToken(&opsv1.GetSagaTimelineRequest{OrderId: good.GetId()}, s.merchant))
		if err != nil {
			t.Fatalf("GetSagaTimeline: %v", err)
		}
		tl := res.Msg
		if tl.GetOrder().GetId() != good.GetId() || tl.GetReservation().GetStatus() != inventoryv1.ReservationStatus_RESERVATION_STATUS_SOLD ||
			tl.GetPayment().GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_CAPTURED || len(tl.GetUnavailable()) != 0 {
			t.Fatalf("timeline: order %s, reservation %v, payment %v, unavailable %v; want the order, SOLD, CAPTURED, none",
				tl.GetOrder().GetId(), tl.GetReservation().GetStatus(), tl.GetPayment().GetStatus(), tl.GetUnavailable())
		}
		// The order's trace: its id, and the link the template makes.
		if id := tl.GetTraceId(); len(id) != 32 || tl.GetTraceUrl() != "http://jaeger.example:16686/trace/"+id+"?uiFind="+id {
			t.Errorf("trace id %q, url %q; want 32 hex digits in the configured template", id, tl.GetTraceUrl())
		}
		var steps []string
		for i, e := range tl.GetEntries() {
			if i > 0 && e.GetTime().AsTime().Before(tl.GetEntries()[i-1].GetTime().AsTime()) {
				t.Errorf("entry %d (%s) is older than the one before it", i, stepKey(e))
			}
			if e.GetProblem() {
				t.Errorf("entry %s is marked a problem in a clean saga", stepKey(e))
			}
			steps = append(steps, stepKey(e))
		}
		joined := strings.Join(steps, "\n")
		total := fmt.Sprint(good.GetTotal().GetAmountMinor())
		for _, want := range []string{"order status PENDING", "order status RESERVED", "order status CONFIRMED",
			"inventory reservation RESERVATION_STATUS_HELD 2×BEAN-1 expires", "inventory reservation RESERVATION_STATUS_SOLD\n",
			"payment authorize " + total + " EUR ok", "payment capture " + total + " EUR ok",
			"order EVENT_TYPE_ORDER_PLACED → inventory DELIVERY_STATE_DELIVERED after 1",
			"inventory EVENT_TYPE_STOCK_RESERVED → payment DELIVERY_STATE_DELIVERED",
			"payment EVENT_TYPE_PAYMENT_AUTHORIZED → order DELIVERY_STATE_DELIVERED"} {
			if !strings.Contains(joined+"\n", want) {
				t.Errorf("no step %q in the timeline:\n%s", want, joined)
			}
		}
		// Every producer's deliveries are there, by producer.
		producers := map[string]bool{}
		for _, d := range tl.GetDeliveries() {
			producers[d.GetProducer()] = true
		}
		if len(producers) != 3 {
			t.Errorf("deliveries from %v, want order, inventory and payment", producers)
		}
	})

	t.Run("timeline with Inventory down", func(t *testing.T) {
		s.m.Gates["inventory"].Cut()
		res, err := ops.GetSagaTimeline(ctx, meshtest.WithToken(&opsv1.GetSagaTimelineRequest{OrderId: stuck.GetId()}, s.merchant))
		s.m.Gates["inventory"].Down()
		if err != nil {
			t.Fatalf("GetSagaTimeline: %v", err)
		}
		tl := res.Msg
		if len(tl.GetUnavailable()) != 1 || tl.GetUnavailable()[0].GetService() != "inventory" || !strings.Contains(tl.GetUnavailable()[0].GetError(), "unavailable") {
			t.Errorf("unavailable %v, want inventory, unavailable", tl.GetUnavailable())
		}
		problems := 0
		for _, e := range tl.GetEntries() {
			if e.GetProblem() {
				problems++
				if d := e.GetDelivery().GetDelivery(); stepKey(e) != "order EVENT_TYPE_ORDER_PLACED → inventory DELIVERY_STATE_PARKED after 2" || d.GetLastError() == "" {
					t.Errorf("problem %s (%q), want the parked OrderPlaced with its error", stepKey(e), d.GetLastError())
				}
			}
		}
		if problems != 1 {
			t.Errorf("%d problems in the stuck order's timeline, want 1", problems)
		}
		_, err = ops.GetSagaTimeline(ctx, meshtest.WithToken(&opsv1.GetSagaTimelineRequest{OrderId: uuid.NewString()}, s.merchant))
		meshtest.WantCode(t, err, connect.CodeNotFound, "does not exist")
	})

	t.Run("summary", func(t *testing.T) {
		res, err := ops.GetSummary(ctx, meshtest.WithToken(&opsv1.GetSummaryRequest{}, s.merchant))
		if err != nil {
			t.Fatalf("GetSummary: %v", err)
		}
		sum := res.Msg
		open := map[orderv1.OrderStatus]int64{}
		for _, c := range sum.GetOpenOrders() {
			open[c.GetStatus()] = c.GetCount()
		}
		if open[orderv1.OrderStatus_ORDER_STATUS_PENDING] != 1 || open[orderv1.OrderStatus_ORDER_STATUS_RESERVED] != 0 || len(open) != 2 {
			t.Errorf("open orders %v, want 1 PENDING and 0 RESERVED", open)
		}
		if sum.GetOldestOpenOrderId() != stuck.GetId() || sum.GetOldestOpenAge().AsDuration() <= 0 {
			t.Errorf("oldest open %s (%v), want %s with its age", sum.GetOldestOpenOrderId(), sum.GetOldestOpenAge(), stuck.GetId())
		}
		queues := map[string]*opsv1.QueueStats{}
		for _, q := range sum.GetQueues() {
			queues[q.GetProducer()+"→"+q.GetSubscriber()] = q
		}
		if q := queues["order→inventory"]; q.GetParked() != 1 || q.GetPending() != 0 {
			t.Errorf("order→inventory %v, want 1 parked, none pending", q)
		}
		if q := queues["inventory→payment"]; q == nil || q.GetParked() != 0 {
			t.Errorf("inventory→payment %v, want listed, none parked", q)
		}
		// The last hour a minute at a time: three placed, one confirmed,
		// one cancelled, and the stuck one open at the end.
		minutes := sum.GetMinutes()
		var placed, confirmed, cancelled, rejected int64
		for _, m := range minutes {
			placed, confirmed, cancelled, rejected = placed+m.GetPlaced(), confirmed+m.GetConfirmed(), cancelled+m.GetCancelled(), rejected+m.GetRejected()
		}
		if len(minutes) != 60 || placed != 3 || confirmed != 1 || cancelled != 1 || rejected != 0 ||
			minutes[0].GetOpen() != 0 || minutes[59].GetOpen() != 1 || minutes[59].GetMinute().AsTime().After(time.Now()) {
			t.Errorf("%d minutes with %d placed, %d confirmed, %d cancelled, %d rejected, open %d then %d; want 60: 3, 1, 1, 0, open 0 then 1",
				len(minutes), placed, confirmed, cancelled, rejected, minutes[0].GetOpen(), minutes[len(minutes)-1].GetOpen())
		}
		// BEAN-1's four units, without stock while Inventory is down.
		if b := sum.GetBusiestSkus(); len(b) != 1 || b[0].GetSku() != "BEAN-1" || b[0].GetUnits() != 4 || b[0].GetStock() != nil ||
			!slices.ContainsFunc(sum.GetUnavailable(), func(u *opsv1.Unavailable) bool { return u.GetService() == "inventory" }) {
			t.Errorf("busiest SKUs %v (unavailable %v), want BEAN-1's 4 units and Inventory named unavailable", b, sum.GetUnavailable())
		}
	})

	t.Run("requeue", func(t *testing.T) {
		s.m.Gates["inventory"].Up()
		// Another producer's filter requeues nothing.
		res, err := ops.RequeueParkedDeliveries(ctx, meshtest.WithToken(&opsv1.RequeueParkedDeliveriesRequest{Filter: &opsv1.DeliveryFilter{Producer: "payment"}}, s.merchant))
		if err != nil || res.Msg.GetRequeued() != 0 {
			t.Fatalf("requeue payment's = %v, %v; want 0", res, err)
		}
		res, err = ops.RequeueParkedDeliveries(ctx, meshtest.WithToken(&opsv1.RequeueParkedDeliveriesRequest{
			Filter: &opsv1.DeliveryFilter{Subscriber: "inventory", Type: eventsv1.EventType_EVENT_TYPE_ORDER_PLACED}}, s.merchant))
		if err != nil || res.Msg.GetRequeued() != 1 || len(res.Msg.GetUnavailable()) != 0 {
			t.Fatalf("requeue = %v, %v; want 1", res, err)
		}
		_, err = ops.RequeueParkedDeliveries(ctx, meshtest.WithToken(&opsv1.RequeueParkedDeliveriesRequest{Filter: &opsv1.DeliveryFilter{Producer: "cart"}}, s.merchant))
		meshtest.WantCode(t, err, connect.CodeInvalidArgument, "producer")
	})

	if o := s.settle(t, ok, stuck.GetId()); o.GetStatus() != confirmed {
		t.Errorf("requeued order ended %v, want CONFIRMED", o.GetStatus())
	}

	s.m.Gates["inventory"].Down()
	defer s.m.Gates["inventory"].Up()
	o := s.place(t, ok, s.request(t, ok, "DE", lines("MUG-1", 1)))
	t.Run("cancel", func(t *testing.T) {
		_, err := ops.CancelOrder(ctx, meshtest.WithToken(&opsv1.CancelOrderRequest{OrderId: o.GetId(), Reason: "x"}, s.merchant))
		meshtest.WantCode(t, err, connect.CodeInvalidArgument, "reason")
		res, err := ops.CancelOrder(ctx, meshtest.WithToken(&opsv1.CancelOrderRequest{OrderId: o.GetId(), Reason: "customer phoned: wrong size"}, s.merchant))
		if err != nil {
			t.Fatalf("CancelOrder: %v", err)
		}
		got := res.Msg.GetOrder()
		last := got.GetHistory()[len(got.GetHistory())-1]
		if got.GetStatus() != cancelled || got.GetReason() != orderv1.StatusReason_STATUS_REASON_OPERATOR ||
			last.GetDetail() != "cancelled by operator mia: customer phoned: wrong size" {
			t.Errorf("cancelled order %v %v, last change %q; want CANCELLED by the operator with the reason", got.GetStatus(), got.GetReason(), last.GetDetail())
		}
		_, err = ops.CancelOrder(ctx, meshtest.WithToken(&opsv1.CancelOrderRequest{OrderId: good.GetId(), Reason: "too late"}, ok.token))
		meshtest.WantCode(t, err, connect.CodePermissionDenied, "")
		// Again: refused, saying when and why it was cancelled, and the
		// history keeps the first reason only.
		_, err = ops.CancelOrder(ctx, meshtest.WithToken(&opsv1.CancelOrderRequest{OrderId: o.GetId(), Reason: "second thoughts"}, s.merchant))
		meshtest.WantCode(t, err, connect.CodeFailedPrecondition, "was already cancelled (operator) at ")
		tl, err := ops.GetSagaTimeline(ctx, meshtest.WithToken(&opsv1.GetSagaTimelineRequest{OrderId: o.GetId()}, s.merchant))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range tl.Msg.GetOrder().GetHistory() {
			if strings.Contains(c.GetDetail(), "second thoughts") {
				t.Errorf("the refused cancellation is in the history: %q", c.GetDetail())
			}
		}
	})
}

// TestOpsExpireNow runs the expiry sweep on demand: an order stuck past
// its deadline is cancelled as expired at once, not at the next sweep.
func TestOpsExpireNow(t *testing.T) {
	t.Parallel()
	s := newShop(t, func(c *mesh.Config) {
		c.Saga.OrderDeadline, mesh.ServiceConfig[order.Config](c).ExpiryInterval = time.Second, time.Hour
	})
	ctx := context.Background()
	ops := opsv1connect.NewOpsServiceClient(s.m.HTTP, s.m.URL)
	c := s.customer(t, "ops-late", cardOK)
	s.m.Gates["inventory"].Down()
	o := s.place(t, c, s.request(t, c, "DE", lines("BEAN-1", 1)))
	wait.Until(t, 10*time.Second, 50*time.Millisecond, func() error {
		if deadline := o.GetExpireTime().AsTime(); time.Now().Before(deadline.Add(100 * time.Millisecond)) {
			return fmt.Errorf("the order's deadline %v has not passed", deadline)
		}
		return nil
	})
	res, err := ops.ExpireNow(ctx, meshtest.WithToken(&opsv1.ExpireNowRequest{}, s.merchant))
	if err != nil || res.Msg.GetExpired() != 1 {
		t.Fatalf("ExpireNow = %v, %v; want 1 expired", res, err)
	}
	got, err := s.orders.GetOrder(ctx, meshtest.WithToken(&orderv1.GetOrderRequest{OrderId: o.GetId()}, c.token))
	if err != nil || got.Msg.GetOrder().GetStatus() != cancelled || got.Msg.GetOrder().GetReason() != orderv1.StatusReason_STATUS_REASON_EXPIRED {
		t.Fatalf("order after ExpireNow: %v, %v; want CANCELLED as EXPIRED", got, err)
	}
	res, err = ops.ExpireNow(ctx, meshtest.WithToken(&opsv1.ExpireNowRequest{}, s.merchant))
	if err != nil || res.Msg.GetExpired() != 0 {
		t.Errorf("second ExpireNow = %v, %v; want 0", res, err)
	}
	s.m.Gates["inventory"].Up()
}

// waitParked lists parked deliveries through OpsService until there are
// n, for up to 20 s.
func waitParked(t *testing.T, ops opsv1connect.OpsServiceClient, token string, f *opsv1.DeliveryFilter, n int) []*opsv1.ParkedDelivery {
	t.Helper()
	var parked []*opsv1.ParkedDelivery
	wait.Until(t, 20*time.Second, 50*time.Millisecond, func() error {
		res, err := ops.ListParkedDeliveries(context.Background(), meshtest.WithToken(&opsv1.ListParkedDeliveriesRequest{Filter: f}, token))
		if err != nil {
			return fmt.Errorf("ListParkedDeliveries: %w", err)
		}
		if parked = res.Msg.GetDeliveries(); len(parked) < n {
			return fmt.Errorf("%d parked deliveries, want %d", len(parked), n)
		}
		return nil
	})
	if len(parked) != n {
		t.Fatalf("%d parked deliveries, want %d", len(parked), n)
	}
	return parked
}

// stepKey is a timeline entry as a compact line the tests can look for:
// its service, then the step's own fields.
func stepKey(e *opsv1.TimelineEntry) string {
	switch s := e.GetStep().(type) {
	case *opsv1.TimelineEntry_StatusChange:
		return e.GetService() + " status " + strings.TrimPrefix(s.StatusChange.GetStatus().String(), "ORDER_STATUS_")
	case *opsv1.TimelineEntry_Reservation:
		r := s.Reservation
		key := e.GetService() + " reservation " + r.GetStatus().String()
		for _, l := range r.GetLines() {
			key += fmt.Sprintf(" %d×%s", l.GetQuantity(), l.GetSku())
		}
		if r.GetExpireTime() != nil {
			key += " expires"
		}
		return key
	case *opsv1.TimelineEntry_Payment:
		op, outcome := s.Payment.GetOperation(), "failed"
		if op.GetSucceeded() {
			outcome = "ok"
		}
		return fmt.Sprintf("%s %s %d %s %s", e.GetService(), op.GetKind(), s.Payment.GetAmount().GetAmountMinor(), s.Payment.GetAmount().GetCurrency(), outcome)
	case *opsv1.TimelineEntry_Delivery:
		d := s.Delivery.GetDelivery()
		return fmt.Sprintf("%s %s → %s %s after %d", e.GetService(), d.GetType(), d.GetSubscriber(), d.GetState(), d.GetAttempts())
	}
	return e.GetService() + " unknown step"
}
