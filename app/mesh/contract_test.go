package mesh

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1/cartv1connect"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/component"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/server"
)

// The saga of the design (docs/architecture.md), event by event: who
// publishes it and who consumes it. The table the services' contracts
// produce must be this one.
func TestRoutingIsTheSaga(t *testing.T) {
	if errContracts != nil {
		t.Fatal(errContracts)
	}
	type route struct {
		From string
		To   []string
	}
	want := map[string]route{
		"ORDER_PLACED":       {"order", []string{"inventory"}},
		"ORDER_CONFIRMED":    {"order", []string{"cart", "inventory", "payment"}},
		"ORDER_CANCELLED":    {"order", []string{"inventory", "payment"}},
		"STOCK_RESERVED":     {"inventory", []string{"order", "payment"}},
		"STOCK_REJECTED":     {"inventory", []string{"order"}},
		"STOCK_RELEASED":     {"inventory", nil},
		"PAYMENT_AUTHORIZED": {"payment", []string{"order"}},
		"PAYMENT_DECLINED":   {"payment", []string{"order"}},
		"PAYMENT_REFUNDED":   {"payment", nil},
	}
	got := map[string]route{}
	for v := range eventsv1.EventType_name {
		typ := eventsv1.EventType(v)
		if typ == eventsv1.EventType_EVENT_TYPE_UNSPECIFIED {
			continue
		}
		to := append([]string(nil), Routing.To(typ)...)
		slices.Sort(to)
		got[strings.TrimPrefix(typ.String(), "EVENT_TYPE_")] = route{From: Routing.From(typ), To: to}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routing (-saga +derived):\n%s", diff)
	}
	wantCalls := map[string][]string{
		"catalog":   nil,
		"cart":      {"catalog"},
		"order":     {"cart", "catalog", "inventory", "payment"},
		"inventory": {"order", "payment"},
		"payment":   {"order"},
	}
	if diff := cmp.Diff(wantCalls, Calls); diff != "" {
		t.Errorf("calls (-want +derived):\n%s", diff)
	}
}

// A service whose parts differ from its contract does not start.
func TestCheckContract(t *testing.T) {
	noop := func(context.Context, pgx.Tx, *eventsv1.Envelope) error { return nil }
	confirmed, placed := eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED, eventsv1.EventType_EVENT_TYPE_ORDER_PLACED
	route := server.Route{Service: cartv1connect.CartServiceName}
	cases := map[string]struct {
		parts component.Parts
		err   string
	}{
		"as declared":           {component.Parts{Routes: []server.Route{route}, Handlers: map[eventsv1.EventType]events.Handler{confirmed: noop}}, ""},
		"an undeclared route":   {component.Parts{Routes: []server.Route{route, {Service: "ordermesh.x.v1.X"}}, Handlers: map[eventsv1.EventType]events.Handler{confirmed: noop}}, "serves ordermesh.x.v1.X"},
		"an undeclared event":   {component.Parts{Routes: []server.Route{route}, Handlers: map[eventsv1.EventType]events.Handler{confirmed: noop, placed: noop}}, "handles events"},
		"a declared event lost": {component.Parts{Routes: []server.Route{route}}, "declares it consumes [EVENT_TYPE_ORDER_CONFIRMED]"},
	}
	for name, c := range cases {
		err := checkContract("cart", contracts.ByName["cart"], c.parts)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one saying %q", name, err, c.err)
		}
	}
}

// A component whose contract is not the generated table's does not start:
// the table is stale, and make generate mends it.
func TestCheckComponentRefusesAStaleTable(t *testing.T) {
	cart := component.Component{Name: "cart", Contract: contracts.ByName["cart"]}
	if err := checkComponent(cart); err != nil {
		t.Fatalf("cart as generated: %v", err)
	}
	cart.Contract.Publishes = append(cart.Contract.Publishes, eventsv1.EventType_EVENT_TYPE_ORDER_PLACED)
	if err := checkComponent(cart); err == nil || !strings.Contains(err.Error(), "make generate") {
		t.Errorf("a changed contract = %v, want a refusal that says to run make generate", err)
	}
	if err := checkComponent(component.Component{Name: "shipping"}); err == nil || !strings.Contains(err.Error(), "make generate") {
		t.Errorf("a new service = %v, want a refusal that says to run make generate", err)
	}
}
