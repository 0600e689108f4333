package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	paymentv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/events"
)

// deliver hands envs to sub's sink in one delivery, with token.
func deliver(s *shop, sub, token string, envs ...*eventsv1.Envelope) (*connect.Response[eventsv1.DeliverResponse], error) {
	client := eventsv1connect.NewEventSinkServiceClient(s.m.HTTP, s.m.URL+events.SinkPath(sub))
	return client.Deliver(context.Background(), meshtest.WithToken(&eventsv1.DeliverRequest{Events: envs}, token))
}

// forge wraps payload in an envelope that says producer made it.
func forge(t *testing.T, producer, orderID string, payload proto.Message) *eventsv1.Envelope {
	t.Helper()
	env, err := events.NewEnvelope(context.Background(), producer, orderID, payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// payloads returns, for every event type a sink consumes, a well-formed
// event about order o of customer c, which would change something were it
// applied: cancel a confirmed order, confirm it again, authorise again.
func payloads(c customer, o *orderv1.Order) map[eventsv1.EventType]proto.Message {
	lines := []*eventsv1.Line{{Sku: "BEAN-1", Quantity: 1}}
	total := &commonv1.Money{AmountMinor: o.GetTotal().GetAmountMinor(), Currency: "EUR"}
	return map[eventsv1.EventType]proto.Message{
		eventsv1.EventType_EVENT_TYPE_ORDER_PLACED: &eventsv1.OrderPlaced{UserId: c.id, Lines: lines, Total: total,
			PaymentMethodId: c.card, ExpireTime: timestamppb.New(time.Now().Add(time.Minute))},
		eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED:    &eventsv1.OrderConfirmed{UserId: c.id, Lines: lines, FromCart: true},
		eventsv1.EventType_EVENT_TYPE_ORDER_CANCELLED:    &eventsv1.OrderCancelled{UserId: c.id, Reason: "CUSTOMER"},
		eventsv1.EventType_EVENT_TYPE_STOCK_RESERVED:     &eventsv1.StockReserved{UserId: c.id, Lines: lines, Total: total, PaymentMethodId: c.card},
		eventsv1.EventType_EVENT_TYPE_STOCK_REJECTED:     &eventsv1.StockRejected{ShortLines: []*eventsv1.ShortLine{{Sku: "BEAN-1", Requested: 1}}},
		eventsv1.EventType_EVENT_TYPE_STOCK_RELEASED:     &eventsv1.StockReleased{ReleasedUnits: 1},
		eventsv1.EventType_EVENT_TYPE_PAYMENT_AUTHORIZED: &eventsv1.PaymentAuthorized{PaymentId: uuid.NewString(), Amount: total},
		eventsv1.EventType_EVENT_TYPE_PAYMENT_DECLINED:   &eventsv1.PaymentDeclined{PaymentId: uuid.NewString(), DeclineCode: "card_declined"},
		eventsv1.EventType_EVENT_TYPE_PAYMENT_REFUNDED:   &eventsv1.PaymentRefunded{PaymentId: uuid.NewString(), Amount: total},
	}
}

// A sink accepts an event type only from the service that publishes it,
// in an envelope that names that service as its producer. Every other
// caller is refused for the whole delivery with permission_denied, logged
// with the caller and counted; nothing changes. This is each sink with
// each type it consumes, delivered by every service that does not publish
// it, and by its publisher under another producer's name.
func TestSinksAcceptOnlyThePublisher(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	alice := s.customer(t, "alice", cardOK)
	o := s.settle(t, alice, s.place(t, alice, s.request(t, alice, "DE", lines("BEAN-1", 1))).GetId())
	if o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		t.Fatalf("the order is %v, want CONFIRMED", o.GetStatus())
	}
	s.m.WaitQuiet(t)
	before := snapshot(t, s.m)
	forged := payloads(alice, o)

	refusals := 0
	for _, sub := range mesh.Services {
		for typ, payload := range forged {
			if !slices.Contains(mesh.Routing.To(typ), sub) {
				continue
			}
			publisher := mesh.Routing.From(typ)
			for _, caller := range mesh.Services {
				env := forge(t, caller, o.GetId(), payload)
				if caller == publisher {
					// The publisher itself, but the envelope names another.
					env.Producer = map[string]string{"order": "payment", "inventory": "order", "payment": "inventory"}[publisher]
				}
				name := sub + " " + typ.String() + " from " + caller
				_, err := deliver(s, sub, s.m.ServiceToken(t, caller), env)
				meshtest.WantCode(t, err, connect.CodePermissionDenied, caller)
				if t.Failed() {
					t.Fatalf("%s: %v", name, err)
				}
				refusals++
			}
		}
	}
	if refusals < 30 {
		t.Fatalf("only %d impersonations tried; the routing table has changed under the test", refusals)
	}

	// A batch with one event the caller may not speak for is refused
	// whole: the good event with it is not applied either.
	good := forge(t, "order", o.GetId(), &eventsv1.OrderCancelled{UserId: alice.id, Reason: "CUSTOMER"})
	bad := forge(t, "order", o.GetId(), forged[eventsv1.EventType_EVENT_TYPE_STOCK_RESERVED])
	_, err := deliver(s, "payment", s.m.ServiceToken(t, "order"), good, bad)
	meshtest.WantCode(t, err, connect.CodePermissionDenied, "only inventory publishes them")

	// Callers that are no service of the mesh.
	for name, tc := range map[string]struct {
		token string
		code  connect.Code
	}{
		"customer":                     {alice.token, connect.CodePermissionDenied},
		"merchant":                     {s.merchant, connect.CodePermissionDenied},
		"unknown service":              {s.m.Token(t, "ops", auth.RoleService), connect.CodeUnauthenticated},
		"service and customer at once": {s.m.Token(t, "order", auth.RoleService, auth.RoleCustomer), connect.CodeUnauthenticated},
	} {
		_, err := deliver(s, "payment", tc.token, good)
		meshtest.WantCode(t, err, tc.code, "")
		if t.Failed() {
			t.Fatalf("%s: %v", name, err)
		}
	}

	s.m.WaitQuiet(t)
	if diff := cmp.Diff(before, snapshot(t, s.m)); diff != "" {
		t.Errorf("refused deliveries changed state (-before +after):\n%s", diff)
	}
	if p := s.payment(t, alice, o.GetId()); p.GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_CAPTURED {
		t.Errorf("the confirmed order's payment is %v, want still CAPTURED", p.GetStatus())
	}
	fams := meshtest.Scrape(t, s.m.Metrics)
	for _, want := range []map[string]string{
		{"service": "cart", "caller": "payment", "reason": "not_publisher"},
		{"service": "payment", "caller": "order", "reason": "not_publisher"},
		{"service": "inventory", "caller": "order", "reason": "producer_mismatch"},
		{"service": "order", "caller": "inventory", "reason": "not_publisher"},
	} {
		if v, ok := meshtest.Sample(fams, "ordermesh_event_deliveries_refused_total", want); !ok || v < 1 {
			t.Errorf("ordermesh_event_deliveries_refused_total%v = %v (found %v), want at least 1", want, v, ok)
		}
	}
	waitForLine(t, s.m, func(l map[string]any) bool {
		return strings.HasPrefix(l["msg"].(string), "delivery refused") && l["caller"] == "payment" && l["reason"] == "not_publisher"
	})
}

// What a consumer can check against its own records it checks, even when
// the event comes from the service that publishes it: a check that fails
// parks the event with its reason (a permanent failure), and nothing of it
// is applied.
func TestConsumersCheckEventsAgainstTheirRecords(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	alice := s.customer(t, "alice", cardOK)
	bob := s.customer(t, "bob", cardOK)

	// A confirmed order, its payment captured.
	confirmed := s.settle(t, alice, s.place(t, alice, s.request(t, alice, "DE", lines("BEAN-1", 1))).GetId())
	s.m.WaitQuiet(t)
	// An order held at RESERVED: its StockReserved waits at Payment's door.
	s.m.Gates["payment"].Hold()
	reserved := s.place(t, bob, s.request(t, bob, "DE", lines("BEAN-1", 2)))
	waitStatus(t, s, bob, reserved.GetId(), orderv1.OrderStatus_ORDER_STATUS_RESERVED)
	before := snapshot(t, s.m)
	beforeBeans := s.available(t, "BEAN-1")

	eur := func(minor int64) *commonv1.Money { return &commonv1.Money{AmountMinor: minor, Currency: "EUR"} }
	total := reserved.GetTotal().GetAmountMinor()
	newOrder := uuid.Must(uuid.NewV7()).String()
	for _, tc := range []struct {
		name, to, from, orderID string
		payload                 proto.Message
		says                    string
	}{
		{"authorisation of another amount", "order", "payment", reserved.GetId(),
			&eventsv1.PaymentAuthorized{PaymentId: uuid.NewString(), Amount: eur(total - 1)}, "totals"},
		{"authorisation in another currency", "order", "payment", reserved.GetId(),
			&eventsv1.PaymentAuthorized{PaymentId: uuid.NewString(), Amount: &commonv1.Money{AmountMinor: total, Currency: "USD"}}, "totals"},
		{"reservation of other lines", "order", "inventory", reserved.GetId(),
			&eventsv1.StockReserved{UserId: bob.id, Lines: []*eventsv1.Line{{Sku: "MUG-1", Quantity: 2}}, Total: eur(total), PaymentMethodId: bob.card}, "other lines"},
		{"reservation for another customer", "order", "inventory", reserved.GetId(),
			&eventsv1.StockReserved{UserId: alice.id, Lines: []*eventsv1.Line{{Sku: "BEAN-1", Quantity: 2}}, Total: eur(total), PaymentMethodId: alice.card}, "another customer"},
		{"rejection naming a SKU the order lacks", "order", "inventory", reserved.GetId(),
			&eventsv1.StockRejected{ShortLines: []*eventsv1.ShortLine{{Sku: "MUG-1", Requested: 1}}}, "does not hold"},
		{"a currency that does not exist", "payment", "inventory", newOrder,
			&eventsv1.StockReserved{UserId: alice.id, Lines: []*eventsv1.Line{{Sku: "BEAN-1", Quantity: 1}}, Total: &commonv1.Money{AmountMinor: 100, Currency: "QQQ"}, PaymentMethodId: alice.card}, "ISO 4217"},
		{"an amount of nothing", "payment", "inventory", newOrder,
			&eventsv1.StockReserved{UserId: alice.id, Lines: []*eventsv1.Line{{Sku: "BEAN-1", Quantity: 1}}, Total: eur(0), PaymentMethodId: alice.card}, "positive"},
		{"a refund for another customer", "payment", "order", confirmed.GetId(),
			&eventsv1.OrderCancelled{UserId: bob.id, Reason: "CUSTOMER"}, "another customer"},
		{"a capture for another customer", "payment", "order", confirmed.GetId(),
			&eventsv1.OrderConfirmed{UserId: bob.id, Lines: []*eventsv1.Line{{Sku: "BEAN-1", Quantity: 1}}}, "another customer"},
		{"a hold for ten years", "inventory", "order", newOrder,
			&eventsv1.OrderPlaced{UserId: alice.id, Lines: []*eventsv1.Line{{Sku: "BEAN-1", Quantity: 50}}, Total: eur(72500),
				PaymentMethodId: alice.card, ExpireTime: timestamppb.New(time.Now().AddDate(10, 0, 0))}, "later than the order deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := forge(t, tc.from, tc.orderID, tc.payload)
			res, err := deliver(s, tc.to, s.m.ServiceToken(t, tc.from), env)
			if err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			f := res.Msg.GetFailures()
			if len(f) != 1 || f[0].GetEventId() != env.GetId() || !f[0].GetPermanent() || !strings.Contains(f[0].GetMessage(), tc.says) {
				t.Fatalf("failures = %v, want the event parked for good saying %q", f, tc.says)
			}
		})
	}
	if diff := cmp.Diff(before, snapshot(t, s.m)); diff != "" {
		t.Errorf("events that failed their checks changed state (-before +after):\n%s", diff)
	}
	if got := s.available(t, "BEAN-1"); !proto.Equal(got, beforeBeans) {
		t.Errorf("stock moved: %v, was %v", got, beforeBeans)
	}

	// The held order was not touched: once Payment has it, it completes.
	s.m.Gates["payment"].Release()
	if o := s.settle(t, bob, reserved.GetId()); o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		t.Fatalf("the held order ended %v, want CONFIRMED", o.GetStatus())
	}
	s.m.WaitQuiet(t)
	s.m.CheckInvariants(t)
}

// A delivery is what the protocol says: 1 to 500 events, each id once.
// Anything else is refused whole with invalid_argument, before anything is
// applied: the same event twice in one delivery is not applied twice.
func TestSinksRefuseMalformedDeliveries(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	alice := s.customer(t, "alice", cardOK)
	s.m.WaitQuiet(t)
	before := snapshot(t, s.m)
	reserved := forge(t, "inventory", uuid.Must(uuid.NewV7()).String(), &eventsv1.StockReserved{UserId: alice.id,
		Lines: []*eventsv1.Line{{Sku: "BEAN-1", Quantity: 1}}, Total: &commonv1.Money{AmountMinor: 1450, Currency: "EUR"}, PaymentMethodId: alice.card})
	many := make([]*eventsv1.Envelope, events.MaxDelivery+1)
	for i := range many {
		many[i] = forge(t, "inventory", uuid.Must(uuid.NewV7()).String(), reserved.GetStockReserved())
	}
	inventory := s.m.ServiceToken(t, "inventory")
	for name, tc := range map[string]struct {
		envs []*eventsv1.Envelope
		says string
	}{
		"no events":          {nil, "1 to 500 events, not 0"},
		"501 events":         {many, "1 to 500 events, not 501"},
		"one event twice":    {[]*eventsv1.Envelope{reserved, reserved}, "appears twice"},
		"one id, two events": {[]*eventsv1.Envelope{reserved, withID(many[0], reserved.GetId())}, "appears twice"},
	} {
		_, err := deliver(s, "payment", inventory, tc.envs...)
		meshtest.WantCode(t, err, connect.CodeInvalidArgument, tc.says)
		if t.Failed() {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Exactly 500 is a delivery.
	if res, err := deliver(s, "payment", inventory, many[:events.MaxDelivery]...); err != nil || len(res.Msg.GetFailures()) != 0 {
		t.Fatalf("a delivery of %d events: %v %v", events.MaxDelivery, res.Msg.GetFailures(), err)
	}
	after := snapshot(t, s.m)
	if before["payment"] == after["payment"] {
		t.Fatal("the 500 events authorised nothing; the test would not see a double application")
	}
	var authorised int
	if err := s.m.Databases["payment"].Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM payments WHERE order_id = $1", reserved.GetOrderId()).Scan(&authorised); err != nil {
		t.Fatal(err)
	}
	if authorised != 0 {
		t.Errorf("the refused deliveries authorised order %s %d times", reserved.GetOrderId(), authorised)
	}
}

func withID(env *eventsv1.Envelope, id string) *eventsv1.Envelope {
	c := proto.Clone(env).(*eventsv1.Envelope)
	c.Id = id
	return c
}

// waitStatus follows an order until it reaches status.
func waitStatus(t *testing.T, s *shop, c customer, id string, status orderv1.OrderStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := s.orders.WatchOrder(ctx, meshtest.WithToken(&orderv1.WatchOrderRequest{OrderId: id}, c.token))
	if err != nil {
		t.Fatalf("WatchOrder: %v", err)
	}
	defer func() { _ = stream.Close() }()
	for stream.Receive() {
		if stream.Msg().GetOrder().GetStatus() == status {
			return
		}
	}
	t.Fatalf("order %s never reached %v: %v", id, status, stream.Err())
}

// An enum value named in a JSON request that the schema does not have is
// invalid_argument naming the field, in every service's requests, never
// dropped: a filter on a status that does not exist is not a filter on
// none. Every request message of every service with an enum field is
// tried.
func TestUnknownEnumNamesAreRefused(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	tried := 0
	for _, route := range enumRoutes() {
		body, _ := json.Marshal(route.body)
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, s.m.URL+route.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+s.merchant)
		res, err := s.m.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		var e struct{ Code, Message string }
		_ = json.Unmarshal(out, &e)
		if e.Code != "invalid_argument" || !strings.Contains(e.Message, route.field+`: "NO_SUCH_VALUE" is no value of`) {
			t.Errorf("%s with %s = %d %s, want invalid_argument naming %s", route.path, body, res.StatusCode, out, route.field)
		}
		tried++
	}
	if tried < 4 {
		t.Fatalf("only %d requests with enum fields found; the walk over the schema is broken", tried)
	}
}

type enumRoute struct {
	path  string // where to POST
	field string // the enum field's path, as the error names it
	body  any    // JSON with that field set to NO_SUCH_VALUE
}

// enumRoutes finds, for every RPC of every service the mesh serves, the
// first enum field its request has (nested ones too), and a body that
// names a value it does not have.
func enumRoutes() []enumRoute {
	type served struct{ prefix, service string }
	var all []served
	for api := range mesh.Owners {
		all = append(all, served{"", api})
	}
	consumers := map[string]bool{}
	for _, p := range mesh.Routing.Producers() {
		for _, sub := range mesh.Routing.Subscribers(p) {
			consumers[sub] = true
		}
	}
	for _, n := range mesh.Services {
		all = append(all, served{events.SinkPath(n), eventsv1connect.EventAdminServiceName})
		if consumers[n] {
			all = append(all, served{events.SinkPath(n), eventsv1connect.EventSinkServiceName})
		}
	}
	var out []enumRoute
	for _, sv := range all {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(sv.service))
		if err != nil {
			continue
		}
		methods := d.(protoreflect.ServiceDescriptor).Methods()
		for i := range methods.Len() {
			m := methods.Get(i)
			if field, body, ok := enumBody(m.Input(), 0); ok {
				out = append(out, enumRoute{path: sv.prefix + "/" + sv.service + "/" + string(m.Name()), field: field, body: body})
			}
		}
	}
	return out
}

// enumBody returns the path of md's first enum field and a JSON value
// that sets it to a name it lacks.
func enumBody(md protoreflect.MessageDescriptor, depth int) (string, map[string]any, bool) {
	if depth > 3 || strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return "", nil, false
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() {
			continue
		}
		var path string
		var v any
		switch fd.Kind() {
		case protoreflect.EnumKind:
			path, v = string(fd.Name()), "NO_SUCH_VALUE"
		case protoreflect.MessageKind:
			inner, body, ok := enumBody(fd.Message(), depth+1)
			if !ok {
				continue
			}
			path, v = string(fd.Name())+"."+inner, body
		default:
			continue
		}
		if fd.IsList() {
			name, rest, _ := strings.Cut(path, ".")
			path, v = name+"[0]", []any{v}
			if rest != "" {
				path += "." + rest
			}
		}
		return path, map[string]any{fd.JSONName(): v}, true
	}
	return "", nil, false
}
