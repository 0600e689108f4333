// Package components is the one list of the mesh's services, in start
// order. The all-in-one binary, the tests and cmd/meshgen (which writes
// what follows from it) use the whole list; a per-service binary names
// only its own component, and links no other service.
package components

import (
	"github.com/ordermesh/ordermesh/internal/platform/component"
	"github.com/ordermesh/ordermesh/services/cart"
	"github.com/ordermesh/ordermesh/services/catalog"
	"github.com/ordermesh/ordermesh/services/inventory"
	"github.com/ordermesh/ordermesh/services/order"
	"github.com/ordermesh/ordermesh/services/payment"
)

// All is every service's component, in start order.
var All = []component.Component{catalog.Component, cart.Component, order.Component, inventory.Component, payment.Component}

// Named returns the components of the named services, in start order of
// the names given; all of them when none is named. ok is false for a name
// that is no service.
func Named(names ...string) (comps []component.Component, ok bool) {
	if len(names) == 0 {
		return All, true
	}
	for _, n := range names {
		found := false
		for _, c := range All {
			if c.Name == n {
				comps, found = append(comps, c), true
			}
		}
		if !found {
			return nil, false
		}
	}
	return comps, true
}
