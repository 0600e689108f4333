package component

import (
	"fmt"
	"slices"

	"github.com/ordermesh/ordermesh/internal/platform/events"
)

// Contracts are the contracts of every service of a mesh, by name, with
// the services' names in start order: what the components declare, as
// data. cmd/meshgen writes them into package meshtable, so that a binary
// that runs one service knows the others without linking them.
type Contracts struct {
	Services []string
	ByName   map[string]Contract
}

// ContractsOf returns the contracts of comps.
func ContractsOf(comps []Component) Contracts {
	c := Contracts{ByName: map[string]Contract{}}
	for _, comp := range comps {
		c.Services = append(c.Services, comp.Name)
		c.ByName[comp.Name] = comp.Contract
	}
	return c
}

// Mesh is what follows from the contracts: the saga's routing table, who
// serves each public API, and the call graph.
type Mesh struct {
	Routing events.Routing
	// Owners maps each Connect API to the service that serves it.
	Owners map[string]string
	// Calls is, for each service, sorted, the services it opens
	// connections to: by RPC (its contract's Calls, mapped to the service
	// that serves each) or by delivering its events to their sinks.
	Calls map[string][]string
}

// Derive works out the mesh the contracts declare, or says how they
// contradict each other: two publishers of a type, a consumed type nobody
// publishes, a call to an API nobody serves.
func (c Contracts) Derive() (Mesh, error) {
	m := Mesh{Owners: map[string]string{}, Calls: map[string][]string{}}
	for _, n := range c.Services {
		ct := c.ByName[n]
		if err := m.Routing.Declare(n, ct.Publishes, ct.Consumes); err != nil {
			return Mesh{}, err
		}
		for _, api := range ct.Serves {
			m.Owners[api] = n
		}
	}
	if err := m.Routing.Check(); err != nil {
		return Mesh{}, err
	}
	for _, n := range c.Services {
		to := m.Routing.Subscribers(n)
		for _, api := range c.ByName[n].Calls {
			callee, ok := m.Owners[api]
			if !ok {
				return Mesh{}, fmt.Errorf("mesh: %s calls %s, which no service declares it serves", n, api)
			}
			to = append(to, callee)
		}
		slices.Sort(to)
		m.Calls[n] = slices.DeleteFunc(slices.Compact(to), func(s string) bool { return s == n })
	}
	return m, nil
}

// Equal reports whether two contracts declare the same: the order of a
// list does not matter.
func (c Contract) Equal(o Contract) bool {
	return sameSet(c.Serves, o.Serves) && sameSet(c.Calls, o.Calls) && sameSet(c.Publishes, o.Publishes) && sameSet(c.Consumes, o.Consumes)
}

func sameSet[T interface{ ~string | ~int32 }](a, b []T) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
