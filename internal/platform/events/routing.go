package events

import (
	"fmt"
	"slices"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
)

// Routing is the saga's routing table: the service that publishes each
// event type and the services that consume it. Nobody writes it out: the
// composition root declares each service's published and consumed types
// (component.Contract) and the table follows. The zero value is empty.
type Routing struct {
	from map[eventsv1.EventType]string
	to   map[eventsv1.EventType][]string
}

// Declare adds what service publishes and consumes. A type has one
// producer: a second is an error.
func (r *Routing) Declare(service string, publishes, consumes []eventsv1.EventType) error {
	if r.from == nil {
		r.from, r.to = map[eventsv1.EventType]string{}, map[eventsv1.EventType][]string{}
	}
	for _, typ := range publishes {
		if p, taken := r.from[typ]; taken && p != service {
			return fmt.Errorf("events: %s and %s both declare that they publish %v", p, service, typ)
		}
		r.from[typ] = service
	}
	for _, typ := range consumes {
		if !slices.Contains(r.to[typ], service) {
			r.to[typ] = append(r.to[typ], service)
		}
	}
	return nil
}

// Check reports a consumed type that nobody publishes.
func (r Routing) Check() error {
	for typ, subs := range r.to {
		if _, ok := r.from[typ]; !ok {
			return fmt.Errorf("events: %v consume %v, which no service declares it publishes", subs, typ)
		}
	}
	return nil
}

// From returns the service that publishes typ, "" if none does.
func (r Routing) From(typ eventsv1.EventType) string { return r.from[typ] }

// To returns the services that consume typ, in declaration order.
func (r Routing) To(typ eventsv1.EventType) []string { return r.to[typ] }

// Producers returns, sorted, the services that publish events.
func (r Routing) Producers() []string {
	var out []string
	for _, p := range r.from {
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Subscribers returns, sorted, the services that producer delivers events
// to.
func (r Routing) Subscribers(producer string) []string {
	var out []string
	for typ, subs := range r.to {
		if r.from[typ] == producer {
			out = append(out, subs...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// SinkPath returns the path prefix under which service serves its event
// sink and admin RPCs, so that several services can share one port.
func SinkPath(service string) string { return "/" + service }
