package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	cartv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	paymentv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

const (
	confirmed = orderv1.OrderStatus_ORDER_STATUS_CONFIRMED
	cancelled = orderv1.OrderStatus_ORDER_STATUS_CANCELLED
	rejected  = orderv1.OrderStatus_ORDER_STATUS_REJECTED
)

func TestCheckoutFromCartIsConfirmed(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	alice := s.customer(t, "alice", cardOK)
	for sku, q := range map[string]int32{"BEAN-1": 2, "MUG-1": 1} {
		if _, err := s.carts.AddItem(ctx, meshtest.WithToken(&cartv1.AddItemRequest{UserId: "alice", Sku: sku, Quantity: q}, alice.token)); err != nil {
			t.Fatalf("AddItem: %v", err)
		}
	}
	req := s.request(t, alice, "DE", &orderv1.PlaceOrderRequest_FromCart{FromCart: &orderv1.FromCart{}})
	req.ShippingAddress = &commonv1.PostalAddress{
		Recipient: "Ada Lovelace", Line1: "1 Analytical Way", Line2: "Hinterhaus, 3. OG", City: "Berlin",
		Region: "Berlin", PostalCode: "10115", CountryCode: "DE", Phone: "+49301234567",
	}
	placed := s.place(t, alice, req)
	// 2×14.50 + 9.00 = 38.00, plus domestic shipping for 680 g: 4.90 + 1.00.
	if got := placed.GetTotal().GetAmountMinor(); got != 3800+590 {
		t.Errorf("total = %d, want %d", got, 3800+590)
	}
	o := s.settle(t, alice, placed.GetId())
	if o.GetStatus() != confirmed || o.GetShipment().GetBookingId() == "" {
		t.Fatalf("order = %v %v, want CONFIRMED with a booking", o.GetStatus(), o.GetShipment())
	}
	if diff := cmp.Diff(req.GetShippingAddress(), o.GetShippingAddress(), cmpProto()); diff != "" {
		t.Errorf("stored shipping address (-placed +read back):\n%s", diff)
	}
	s.m.WaitQuiet(t)
	if p := s.payment(t, alice, o.GetId()); p.GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_CAPTURED || p.GetAmount().GetAmountMinor() != o.GetTotal().GetAmountMinor() {
		t.Errorf("payment = %v %v, want CAPTURED for the order total %v", p.GetStatus(), p.GetAmount(), o.GetTotal())
	}
	if st := s.available(t, "MUG-1"); st.GetSold() != 1 || st.GetAvailable() != 4 || st.GetReserved() != 0 {
		t.Errorf("MUG-1 stock = %v, want 1 sold, 4 available, 0 reserved", st)
	}
	cart, err := s.carts.GetCart(ctx, meshtest.WithToken(&cartv1.GetCartRequest{UserId: "alice"}, alice.token))
	if err != nil {
		t.Fatalf("GetCart: %v", err)
	}
	if n := len(cart.Msg.GetCart().GetLines()); n != 0 {
		t.Errorf("cart has %d lines after the order, want the ordered lines removed", n)
	}
	list, err := s.orders.ListOrders(ctx, meshtest.WithToken(&orderv1.ListOrdersRequest{UserId: "alice"}, alice.token))
	if err != nil {
		t.Fatalf("ListOrders: %v", err)
	}
	if len(list.Msg.GetOrders()) != 1 || list.Msg.GetOrders()[0].GetLines()[0].GetName() == "" {
		t.Errorf("ListOrders = %v, want the one order with its line names", list.Msg.GetOrders())
	}
	if h := statuses(list.Msg.GetOrders()[0]); h[0] != "ORDER_STATUS_PENDING" || h[len(h)-1] != "ORDER_STATUS_CONFIRMED" {
		t.Errorf("history = %v, want PENDING first and CONFIRMED last", h)
	}
	s.m.CheckInvariants(t)
}

func TestOutOfStockIsRejected(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	bob := s.customer(t, "bob", cardOK)
	o := s.settle(t, bob, s.place(t, bob, s.request(t, bob, "DE", lines("BEAN-1", 1, "MUG-1", 9))).GetId())
	if o.GetStatus() != rejected || o.GetReason() != orderv1.StatusReason_STATUS_REASON_OUT_OF_STOCK {
		t.Fatalf("order = %v %v, want REJECTED OUT_OF_STOCK", o.GetStatus(), o.GetReason())
	}
	want := []*orderv1.ShortLine{{Sku: "MUG-1", Requested: 9, Available: 5}}
	if diff := cmp.Diff(want, o.GetShortLines(), cmpProto()); diff != "" {
		t.Errorf("short lines (-want +got):\n%s", diff)
	}
	if st := s.available(t, "BEAN-1"); st.GetAvailable() != 100 {
		t.Errorf("BEAN-1 available = %d, want 100: nothing is held for a rejected order", st.GetAvailable())
	}
	_, err := s.payments.GetPayment(context.Background(), meshtest.WithToken(&paymentv1.GetPaymentRequest{OrderId: o.GetId()}, bob.token))
	meshtest.WantCode(t, err, connect.CodeNotFound, "no payment")
	s.m.CheckInvariants(t)
}

func TestPlaceOrderRefusesBadRequests(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	carol := s.customer(t, "carol", cardOK)
	good := func() *orderv1.PlaceOrderRequest { return s.request(t, carol, "DE", lines("BEAN-1", 1)) }
	mut := func(f func(r *orderv1.PlaceOrderRequest)) *orderv1.PlaceOrderRequest { r := good(); f(r); return r }
	for _, tc := range []struct {
		name     string
		req      *orderv1.PlaceOrderRequest
		token    string
		code     connect.Code
		contains string
	}{
		{"missing total", mut(func(r *orderv1.PlaceOrderRequest) { r.ExpectedTotal = nil }), carol.token, connect.CodeInvalidArgument, "expected_total"},
		{"missing lines", mut(func(r *orderv1.PlaceOrderRequest) { r.Source = nil }), carol.token, connect.CodeInvalidArgument, "source"},
		{"empty lines", mut(func(r *orderv1.PlaceOrderRequest) { r.Source = lines() }), carol.token, connect.CodeInvalidArgument, "lines"},
		{"zero quantity", mut(func(r *orderv1.PlaceOrderRequest) { r.Source = lines("BEAN-1", 0) }), carol.token, connect.CodeInvalidArgument, "quantity"},
		{"duplicate sku", mut(func(r *orderv1.PlaceOrderRequest) { r.Source = lines("BEAN-1", 1, "BEAN-1", 2) }), carol.token, connect.CodeInvalidArgument, "twice"},
		{"bad email", mut(func(r *orderv1.PlaceOrderRequest) { r.Email = "not-an-email" }), carol.token, connect.CodeInvalidArgument, "email"},
		{"bad country", mut(func(r *orderv1.PlaceOrderRequest) { r.ShippingAddress.CountryCode = "Germany" }), carol.token, connect.CodeInvalidArgument, "country_code"},
		{"no address", mut(func(r *orderv1.PlaceOrderRequest) { r.ShippingAddress = nil }), carol.token, connect.CodeInvalidArgument, "shipping_address"},
		{"wrong total", mut(func(r *orderv1.PlaceOrderRequest) { r.ExpectedTotal.AmountMinor = 1 }), carol.token, connect.CodeFailedPrecondition, "not 0.01 EUR"},
		{"unknown product", mut(func(r *orderv1.PlaceOrderRequest) { r.Source = lines("NOPE-1", 1) }), carol.token, connect.CodeNotFound, "NOPE-1"},
		{"empty cart", mut(func(r *orderv1.PlaceOrderRequest) {
			r.Source = &orderv1.PlaceOrderRequest_FromCart{FromCart: &orderv1.FromCart{}}
		}), carol.token, connect.CodeFailedPrecondition, "empty"},
		{"no token", good(), "", connect.CodeUnauthenticated, "bearer"},
		{"another user", mut(func(r *orderv1.PlaceOrderRequest) { r.UserId = "dave" }), carol.token, connect.CodePermissionDenied, "dave"},
		{"merchant", good(), s.merchant, connect.CodePermissionDenied, "customer"},
	} {
		for _, p := range meshtest.Protocols {
			t.Run(tc.name+"/"+p.Name, func(t *testing.T) {
				c := orderv1connectClient(s, p.Opts...)
				_, err := c.PlaceOrder(ctx, meshtest.WithToken(tc.req, tc.token))
				meshtest.WantCode(t, err, tc.code, tc.contains)
			})
		}
	}
	list, err := s.orders.ListOrders(ctx, meshtest.WithToken(&orderv1.ListOrdersRequest{UserId: "carol"}, carol.token))
	if err != nil {
		t.Fatalf("ListOrders: %v", err)
	}
	if n := len(list.Msg.GetOrders()); n != 0 {
		t.Errorf("refused requests stored %d orders, want none", n)
	}

	// Idempotency: the same key and body give the same order; another
	// body under the same key is refused.
	req := good()
	first := s.place(t, carol, req)
	again, err := s.orders.PlaceOrder(ctx, meshtest.WithToken(req, carol.token))
	if err != nil || again.Msg.GetOrder().GetId() != first.GetId() {
		t.Errorf("replay = %v, %v; want order %s again", again.Msg.GetOrder().GetId(), err, first.GetId())
	}
	// A retry answers with the first order even once pricing would refuse
	// the request: BEAN-1's price has changed since.
	if _, err := s.catalog.UpdateProduct(ctx, meshtest.WithToken(&catalogv1.UpdateProductRequest{
		Sku: "BEAN-1", Price: &commonv1.Money{AmountMinor: 1500, Currency: "EUR"},
	}, s.merchant)); err != nil {
		t.Fatalf("UpdateProduct: %v", err)
	}
	again, err = s.orders.PlaceOrder(ctx, meshtest.WithToken(req, carol.token))
	if err != nil || again.Msg.GetOrder().GetId() != first.GetId() {
		t.Errorf("replay after a price change = %v, %v; want order %s again", again.Msg.GetOrder().GetId(), err, first.GetId())
	}
	other := s.request(t, carol, "DE", lines("BEAN-1", 2))
	other.IdempotencyKey = req.GetIdempotencyKey()
	_, err = s.orders.PlaceOrder(ctx, meshtest.WithToken(other, carol.token))
	meshtest.WantCode(t, err, connect.CodeAlreadyExists, req.GetIdempotencyKey())
	s.settle(t, carol, first.GetId())
	s.m.CheckInvariants(t)
}

// A stale expected total is refused with the current one as a structured
// detail, over every protocol, and placing again with it succeeds.
func TestStaleTotalCarriesTheCurrentTotal(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	erin := s.customer(t, "erin", cardOK)
	reqs := map[string]*orderv1.PlaceOrderRequest{}
	for _, p := range meshtest.Protocols {
		reqs[p.Name] = s.request(t, erin, "DE", lines("BEAN-1", 2))
	}
	for _, p := range meshtest.Protocols {
		t.Run(p.Name, func(t *testing.T) {
			req := reqs[p.Name]
			right := proto.Clone(req.GetExpectedTotal()).(*commonv1.Money)
			req.ExpectedTotal = &commonv1.Money{AmountMinor: right.GetAmountMinor() - 100, Currency: "EUR"}
			c := orderv1connectClient(s, p.Opts...)
			_, err := c.PlaceOrder(ctx, meshtest.WithToken(req, erin.token))
			meshtest.WantCode(t, err, connect.CodeFailedPrecondition, "comes to")
			var ce *connect.Error
			if !errors.As(err, &ce) {
				t.Fatalf("%v is not a Connect error", err)
			}
			var got *orderv1.TotalChanged
			for _, d := range ce.Details() {
				if v, derr := d.Value(); derr == nil {
					if tc, ok := v.(*orderv1.TotalChanged); ok {
						got = tc
					}
				}
			}
			want := &orderv1.TotalChanged{ExpectedTotal: req.GetExpectedTotal(), CurrentTotal: right}
			if diff := cmp.Diff(want, got, cmpProto()); diff != "" {
				t.Fatalf("TotalChanged detail (-want +got):\n%s", diff)
			}
			req.ExpectedTotal = got.GetCurrentTotal()
			if _, err := c.PlaceOrder(ctx, meshtest.WithToken(req, erin.token)); err != nil {
				t.Errorf("PlaceOrder with the current total from the detail: %v", err)
			}
		})
	}
}

func TestDeclinedCardsCancelAndRelease(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	for _, tc := range []struct {
		card, code string
	}{{cardDeclined, "card_declined"}, {cardInsufficient, "insufficient_funds"}} {
		c := s.customer(t, "u-"+tc.code, tc.card)
		o := s.settle(t, c, s.place(t, c, s.request(t, c, "DE", lines("MUG-1", 2))).GetId())
		if o.GetStatus() != cancelled || o.GetReason() != orderv1.StatusReason_STATUS_REASON_PAYMENT_DECLINED {
			t.Fatalf("%s: order = %v %v, want CANCELLED PAYMENT_DECLINED", tc.code, o.GetStatus(), o.GetReason())
		}
		if last := o.GetHistory()[len(o.GetHistory())-1]; !strings.Contains(last.GetDetail(), tc.code) {
			t.Errorf("%s: history detail %q does not say why", tc.code, last.GetDetail())
		}
		s.m.WaitQuiet(t)
		if p := s.payment(t, c, o.GetId()); p.GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_DECLINED || p.GetDeclineCode() != tc.code {
			t.Errorf("%s: payment = %v %q", tc.code, p.GetStatus(), p.GetDeclineCode())
		}
	}
	if st := s.available(t, "MUG-1"); st.GetAvailable() != 5 || st.GetReserved() != 0 {
		t.Errorf("MUG-1 = %v, want all 5 available again", st)
	}
	s.m.CheckInvariants(t)
}

func TestTransientGatewayFailureIsRetried(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	c := s.customer(t, "tess", cardTransient)
	o := s.settle(t, c, s.place(t, c, s.request(t, c, "DE", lines("BEAN-1", 1))).GetId())
	if o.GetStatus() != confirmed {
		t.Fatalf("order = %v, want CONFIRMED after the gateway's second try", o.GetStatus())
	}
	s.m.WaitQuiet(t)
	p := s.payment(t, c, o.GetId())
	kinds := []string{}
	for _, op := range p.GetOperations() {
		kinds = append(kinds, op.GetKind())
	}
	if p.GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_CAPTURED || !slices.Equal(kinds, []string{"authorize", "capture"}) {
		t.Errorf("payment = %v with operations %v, want CAPTURED after one authorisation", p.GetStatus(), kinds)
	}
	var attempts int
	if err := s.m.Databases["payment"].Pool.QueryRow(context.Background(), "SELECT attempts FROM gateway_attempts WHERE order_id = $1", o.GetId()).Scan(&attempts); err != nil || attempts != 2 {
		t.Errorf("gateway attempts = %d (%v), want 2: one failure, one success", attempts, err)
	}
	s.m.CheckInvariants(t)
}

func TestCarrierRejectionCancelsReleasesAndVoids(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	c := s.customer(t, "pen", cardOK)
	o := s.settle(t, c, s.place(t, c, s.request(t, c, "AQ", lines("MUG-1", 3))).GetId())
	if o.GetStatus() != cancelled || o.GetReason() != orderv1.StatusReason_STATUS_REASON_SHIPPING_FAILED {
		t.Fatalf("order = %v %v, want CANCELLED SHIPPING_FAILED", o.GetStatus(), o.GetReason())
	}
	s.m.WaitQuiet(t)
	if p := s.payment(t, c, o.GetId()); p.GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_VOIDED {
		t.Errorf("payment = %v, want VOIDED", p.GetStatus())
	}
	if st := s.available(t, "MUG-1"); st.GetAvailable() != 5 {
		t.Errorf("MUG-1 available = %d, want 5: released", st.GetAvailable())
	}
	s.m.CheckInvariants(t)
}

func TestCustomerCancel(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	c := s.customer(t, "cy", cardOK)

	// Confirmed but not shipped: cancelled, stock back, payment refunded.
	o := s.settle(t, c, s.place(t, c, s.request(t, c, "DE", lines("MUG-1", 2))).GetId())
	s.m.WaitQuiet(t)
	res, err := s.orders.CancelOrder(ctx, meshtest.WithToken(&orderv1.CancelOrderRequest{OrderId: o.GetId()}, c.token))
	if err != nil || res.Msg.GetOrder().GetStatus() != cancelled || res.Msg.GetOrder().GetReason() != orderv1.StatusReason_STATUS_REASON_CUSTOMER {
		t.Fatalf("CancelOrder = %v, %v; want CANCELLED CUSTOMER", res.Msg.GetOrder().GetStatus(), err)
	}
	if _, err := s.orders.CancelOrder(ctx, meshtest.WithToken(&orderv1.CancelOrderRequest{OrderId: o.GetId()}, c.token)); err != nil {
		t.Errorf("cancelling twice: %v, want the cancelled order again", err)
	}
	s.m.WaitQuiet(t)
	if p := s.payment(t, c, o.GetId()); p.GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED {
		t.Errorf("payment = %v, want REFUNDED", p.GetStatus())
	}
	if st := s.available(t, "MUG-1"); st.GetAvailable() != 5 || st.GetSold() != 0 {
		t.Errorf("MUG-1 = %v, want the 2 sold units back", st)
	}

	// To someone else the order does not exist, exactly as a missing one:
	// they can neither cancel nor read it, nor tell it from a random id.
	// After shipment nobody can cancel it.
	o2 := s.settle(t, c, s.place(t, c, s.request(t, c, "DE", lines("BEAN-1", 1))).GetId())
	other := s.customer(t, "eve", cardOK)
	missing := "019a0000-0000-7000-8000-0000000000ff"
	for _, id := range []string{o2.GetId(), missing} {
		_, err = s.orders.CancelOrder(ctx, meshtest.WithToken(&orderv1.CancelOrderRequest{OrderId: id}, other.token))
		meshtest.WantCode(t, err, connect.CodeNotFound, "order "+id+" does not exist")
		_, err = s.orders.GetOrder(ctx, meshtest.WithToken(&orderv1.GetOrderRequest{OrderId: id}, other.token))
		meshtest.WantCode(t, err, connect.CodeNotFound, "order "+id+" does not exist")
		_, err = s.payments.GetPayment(ctx, meshtest.WithToken(&paymentv1.GetPaymentRequest{OrderId: id}, other.token))
		meshtest.WantCode(t, err, connect.CodeNotFound, "order "+id+" has no payment")
	}
	if _, err := s.orders.GetOrder(ctx, meshtest.WithToken(&orderv1.GetOrderRequest{OrderId: o2.GetId()}, s.merchant)); err != nil {
		t.Errorf("a merchant reads any order: %v", err)
	}
	_, err = s.orders.ShipOrder(ctx, meshtest.WithToken(&orderv1.ShipOrderRequest{OrderId: o2.GetId(), TrackingNumber: "TRK-1"}, c.token))
	meshtest.WantCode(t, err, connect.CodePermissionDenied, "merchant")
	shipped, err := s.orders.ShipOrder(ctx, meshtest.WithToken(&orderv1.ShipOrderRequest{OrderId: o2.GetId(), TrackingNumber: "TRK-1"}, s.merchant))
	if err != nil || shipped.Msg.GetOrder().GetShipment().GetTrackingNumber() != "TRK-1" {
		t.Fatalf("ShipOrder = %v, %v", shipped.Msg.GetOrder().GetShipment(), err)
	}
	_, err = s.orders.CancelOrder(ctx, meshtest.WithToken(&orderv1.CancelOrderRequest{OrderId: o2.GetId()}, c.token))
	meshtest.WantCode(t, err, connect.CodeFailedPrecondition, "shipped")
	s.m.CheckInvariants(t)
}

func TestExpiryAndLateAuthorization(t *testing.T) {
	t.Parallel()
	s := newShop(t, func(c *mesh.Config) { c.Saga.OrderDeadline = time.Second })
	c := s.customer(t, "exp", cardOK)
	// Order cannot hear about stock or payment: the order expires while
	// Payment authorises. The late PaymentAuthorized must end voided.
	s.m.Gates["order"].Down()
	o := s.place(t, c, s.request(t, c, "DE", lines("MUG-1", 1)))
	var got *orderv1.Order
	wait.Until(t, 15*time.Second, 100*time.Millisecond, func() error {
		res, err := s.orders.GetOrder(context.Background(), meshtest.WithToken(&orderv1.GetOrderRequest{OrderId: o.GetId()}, c.token))
		if err != nil {
			return fmt.Errorf("GetOrder: %w", err)
		}
		if got = res.Msg.GetOrder(); got.GetStatus() != cancelled {
			return fmt.Errorf("order still %v after its deadline", got.GetStatus())
		}
		return nil
	})
	if got.GetReason() != orderv1.StatusReason_STATUS_REASON_EXPIRED {
		t.Fatalf("reason = %v, want EXPIRED", got.GetReason())
	}
	s.m.Gates["order"].Up()
	s.m.WaitQuiet(t)
	if p := s.payment(t, c, o.GetId()); p.GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_VOIDED {
		t.Errorf("payment of the expired order = %v, want VOIDED", p.GetStatus())
	}
	if st := s.available(t, "MUG-1"); st.GetAvailable() != 5 || st.GetReserved() != 0 {
		t.Errorf("MUG-1 = %v, want nothing held for the expired order", st)
	}
	s.m.CheckInvariants(t)
}

func TestConsumerDownIsRetriedThenCaughtUp(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	c := s.customer(t, "dora", cardOK)
	s.m.Gates["payment"].Down()
	o := s.place(t, c, s.request(t, c, "DE", lines("BEAN-1", 1)))
	wait.Until(t, 20*time.Second, 20*time.Millisecond, func() error {
		if n := s.m.Gates["payment"].Refused(); n < 3 {
			return fmt.Errorf("Payment's gate refused %d deliveries, want 3", n)
		}
		return nil
	})
	got, err := s.orders.GetOrder(context.Background(), meshtest.WithToken(&orderv1.GetOrderRequest{OrderId: o.GetId()}, c.token))
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	if st := got.Msg.GetOrder().GetStatus(); st == confirmed {
		t.Fatalf("order confirmed while Payment was down")
	}
	s.m.Gates["payment"].Up()
	if o := s.settle(t, c, o.GetId()); o.GetStatus() != confirmed {
		t.Errorf("order = %v, want CONFIRMED once Payment is back", o.GetStatus())
	}
	s.m.CheckInvariants(t)
}

func TestWatchOrderFromSecondClientSeesEveryTransition(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	c := s.customer(t, "wanda", cardOK)
	s.m.Gates["inventory"].Down() // hold the order at PENDING while the watcher connects
	o := s.place(t, c, s.request(t, c, "DE", lines("BEAN-1", 1)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watcher := orderv1connectClient(s, connect.WithGRPC())
	stream, err := watcher.WatchOrder(ctx, meshtest.WithToken(&orderv1.WatchOrderRequest{OrderId: o.GetId()}, s.merchant))
	if err != nil {
		t.Fatalf("WatchOrder: %v", err)
	}
	if !stream.Receive() || stream.Msg().GetOrder().GetStatus() != orderv1.OrderStatus_ORDER_STATUS_PENDING {
		t.Fatalf("first message = %v (%v), want the PENDING order", stream.Msg(), stream.Err())
	}
	s.m.Gates["inventory"].Up()
	seen := []string{"ORDER_STATUS_PENDING"}
	var last *orderv1.Order
	for stream.Receive() {
		last = stream.Msg().GetOrder()
		seen = append(seen, last.GetStatus().String())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("WatchOrder: %v", err)
	}
	if last == nil || last.GetStatus() != confirmed {
		t.Fatalf("stream ended at %v, want CONFIRMED", last.GetStatus())
	}
	want := []string{"ORDER_STATUS_PENDING", "ORDER_STATUS_RESERVED", "ORDER_STATUS_CONFIRMED"}
	if diff := cmp.Diff(want, statuses(last)); diff != "" {
		t.Errorf("history in the last message (-want +got):\n%s", diff)
	}
	if !slices.IsSortedFunc(seen, func(a, b string) int { return slices.Index(want, a) - slices.Index(want, b) }) {
		t.Errorf("statuses streamed out of order: %v", seen)
	}
	s.m.CheckInvariants(t)
}

func TestCancelBeforeConfirmationVoids(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	c := s.customer(t, "val", cardOK)
	// Order hears nothing back, so the order stays PENDING while Inventory
	// reserves and Payment authorises.
	s.m.Gates["order"].Down()
	o := s.place(t, c, s.request(t, c, "DE", lines("MUG-1", 2)))
	wait.Until(t, 15*time.Second, 50*time.Millisecond, func() error {
		p, err := s.payments.GetPayment(context.Background(), meshtest.WithToken(&paymentv1.GetPaymentRequest{OrderId: o.GetId()}, c.token))
		if err != nil || p.Msg.GetPayment().GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_AUTHORIZED {
			return fmt.Errorf("payment not authorised (%w)", err)
		}
		return nil
	})
	res, err := s.orders.CancelOrder(context.Background(), meshtest.WithToken(&orderv1.CancelOrderRequest{OrderId: o.GetId()}, c.token))
	if err != nil || res.Msg.GetOrder().GetStatus() != cancelled {
		t.Fatalf("CancelOrder = %v, %v", res.Msg.GetOrder().GetStatus(), err)
	}
	s.m.Gates["order"].Up() // the late StockReserved and PaymentAuthorized now arrive
	s.m.WaitQuiet(t)
	if p := s.payment(t, c, o.GetId()); p.GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_VOIDED {
		t.Errorf("payment = %v, want VOIDED", p.GetStatus())
	}
	if st := s.available(t, "MUG-1"); st.GetAvailable() != 5 || st.GetReserved() != 0 {
		t.Errorf("MUG-1 = %v, want the 2 units released", st)
	}
	got, err := s.orders.GetOrder(context.Background(), meshtest.WithToken(&orderv1.GetOrderRequest{OrderId: o.GetId()}, c.token))
	if err != nil || got.Msg.GetOrder().GetStatus() != cancelled {
		t.Errorf("order after the late events = %v, %v; want it to stay CANCELLED", got.Msg.GetOrder().GetStatus(), err)
	}
	s.m.CheckInvariants(t)
}

// PlaceOrder checks the payment method before anything is priced or
// reserved: an unknown one and another customer's are the same not_found.
// The owner of a known method is remembered, so a returning customer's
// checkout does not ask Payment again.
func TestPlaceOrderChecksThePaymentMethod(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	alice, mallory := s.customer(t, "alice", cardOK), s.customer(t, "mallory", cardOK)
	before := s.available(t, "MUG-1").GetAvailable()
	for name, method := range map[string]string{"unknown": "019a0000-0000-7000-8000-00000000abcd", "alice's": alice.card} {
		req := s.request(t, mallory, "DE", lines("MUG-1", 5))
		req.PaymentMethodId = method
		_, err := s.orders.PlaceOrder(ctx, meshtest.WithToken(req, mallory.token))
		meshtest.WantCode(t, err, connect.CodeNotFound, "payment method "+method+" does not exist")
		t.Logf("%s method: %v", name, err)
	}
	s.m.WaitQuiet(t)
	if got := s.available(t, "MUG-1").GetAvailable(); got != before {
		t.Errorf("MUG-1 available = %d after refused orders, want %d: nothing may be held", got, before)
	}
	list, err := s.orders.ListOrders(ctx, meshtest.WithToken(&orderv1.ListOrdersRequest{UserId: "mallory"}, mallory.token))
	if err != nil || len(list.Msg.GetOrders()) != 0 {
		t.Errorf("mallory's orders = %v, %v; want none stored", list.Msg.GetOrders(), err)
	}

	for range 2 {
		s.settle(t, alice, s.place(t, alice, s.request(t, alice, "DE", lines("BEAN-1", 1))).GetId())
	}
	asked, _ := meshtest.Sample(meshtest.Scrape(t, s.m.Metrics), "ordermesh_rpc_requests_total",
		map[string]string{"service": "payment", "procedure": "/ordermesh.payment.v1.PaymentService/GetPaymentMethod", "code": "ok"})
	if asked != 1 {
		t.Errorf("Payment was asked about alice's card %v times for two checkouts, want once", asked)
	}
}
