package mesh_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	cartv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/services/mesh/meshtest"
	"github.com/ordermesh/ordermesh/services/platform/events"
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
