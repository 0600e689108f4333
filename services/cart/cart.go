// Package cart assembles the Cart service: its Component, with its
// handler wired to Catalog over Connect, and the saga consumer that
// clears ordered lines on OrderConfirmed.
package cart

import (
	"context"

	"github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1/cartv1connect"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/component"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/rpcclient"
	"github.com/ordermesh/ordermesh/internal/platform/server"
	"github.com/ordermesh/ordermesh/services/cart/internal/handler"
	"github.com/ordermesh/ordermesh/services/cart/internal/service"
	"github.com/ordermesh/ordermesh/services/cart/internal/store"
	cartsql "github.com/ordermesh/ordermesh/sqlc/cart"
)

// Name is the service's short name, used for its database and logs.
const Name = "cart"

// Component describes Cart to the composition root: it prices through
// Catalog and clears ordered lines on OrderConfirmed. A customer calls it
// on their own cart (the handler checks ownership), or another service
// does.
var Component = component.Component{
	Name: Name,
	Contract: component.Contract{
		Serves:   []string{cartv1connect.CartServiceName},
		Calls:    []string{catalogv1connect.CatalogServiceName},
		Consumes: []eventsv1.EventType{eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED},
	},
	Migrations: cartsql.Migrations,
	Policies: auth.Policies{
		cartv1connect.CartServiceGetCartProcedure:    auth.Allow(auth.RoleCustomer, auth.RoleService),
		cartv1connect.CartServiceAddItemProcedure:    auth.Allow(auth.RoleCustomer, auth.RoleService),
		cartv1connect.CartServiceUpdateItemProcedure: auth.Allow(auth.RoleCustomer, auth.RoleService),
		cartv1connect.CartServiceRemoveItemProcedure: auth.Allow(auth.RoleCustomer, auth.RoleService),
		cartv1connect.CartServiceClearCartProcedure:  auth.Allow(auth.RoleCustomer, auth.RoleService),
	},
	Build: build,
}

func build(d component.Deps) (component.Parts, error) {
	catalog := rpcclient.New(d.Clients, catalogv1connect.NewCatalogServiceClient, d.Serving(catalogv1connect.CatalogServiceName))
	st := store.New(d.Pool)
	svc := service.New(st, catalogClient{client: catalog})
	path, h := cartv1connect.NewCartServiceHandler(handler.New(svc), d.Handler...)
	return component.Parts{
		Routes: []server.Route{{Service: cartv1connect.CartServiceName, Path: path, Handler: h}},
		// A delivered batch's carts are locked with one statement and
		// changed with one.
		Consumer: events.Batched(st.Stage, map[eventsv1.EventType]func(context.Context, service.Tx, *eventsv1.Envelope) error{
			eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED: svc.OnOrderConfirmed,
		}),
	}, nil
}
