package events

import (
	"slices"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
)

// Routing maps an event type to the services that consume it.
type Routing map[eventsv1.EventType][]string

// SagaRouting is the checkout saga's static routing table (DESIGN.md,
// "The saga").
var SagaRouting = Routing{
	eventsv1.EventType_EVENT_TYPE_ORDER_PLACED:       {"inventory"},
	eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED:    {"inventory", "payment", "cart"},
	eventsv1.EventType_EVENT_TYPE_ORDER_CANCELLED:    {"inventory", "payment"},
	eventsv1.EventType_EVENT_TYPE_STOCK_RESERVED:     {"payment", "order"},
	eventsv1.EventType_EVENT_TYPE_STOCK_REJECTED:     {"order"},
	eventsv1.EventType_EVENT_TYPE_STOCK_RELEASED:     nil,
	eventsv1.EventType_EVENT_TYPE_PAYMENT_AUTHORIZED: {"order"},
	eventsv1.EventType_EVENT_TYPE_PAYMENT_DECLINED:   {"order"},
	eventsv1.EventType_EVENT_TYPE_PAYMENT_REFUNDED:   nil,
}

// SinkPath returns the path prefix under which service serves its event
// sink and admin RPCs, so that several services can share one port.
func SinkPath(service string) string { return "/" + service }

// Producers names the service that publishes each event type.
var Producers = map[eventsv1.EventType]string{
	eventsv1.EventType_EVENT_TYPE_ORDER_PLACED:       "order",
	eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED:    "order",
	eventsv1.EventType_EVENT_TYPE_ORDER_CANCELLED:    "order",
	eventsv1.EventType_EVENT_TYPE_STOCK_RESERVED:     "inventory",
	eventsv1.EventType_EVENT_TYPE_STOCK_REJECTED:     "inventory",
	eventsv1.EventType_EVENT_TYPE_STOCK_RELEASED:     "inventory",
	eventsv1.EventType_EVENT_TYPE_PAYMENT_AUTHORIZED: "payment",
	eventsv1.EventType_EVENT_TYPE_PAYMENT_DECLINED:   "payment",
	eventsv1.EventType_EVENT_TYPE_PAYMENT_REFUNDED:   "payment",
}

// Subscribers returns, sorted, the services that producer delivers events
// to under r.
func (r Routing) Subscribers(producer string) []string {
	var out []string
	for typ, subs := range r {
		if Producers[typ] == producer {
			out = append(out, subs...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
