// Package cart assembles the Cart service: its access policies, its
// migrations, its handler wired to Catalog over Connect, and the saga
// consumer that clears ordered lines on OrderConfirmed.
package cart

import (
	"context"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1/cartv1connect"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/component"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/server"
	"github.com/ordermesh/ordermesh/services/cart/internal/handler"
	"github.com/ordermesh/ordermesh/services/cart/internal/service"
	"github.com/ordermesh/ordermesh/services/cart/internal/store"
	cartsql "github.com/ordermesh/ordermesh/sqlc/cart"
)

// Name is the service's short name, used for its database and logs.
const Name = "cart"

// Contract declares Cart's place in the mesh: it prices through Catalog
// and clears ordered lines on OrderConfirmed.
var Contract = component.Contract{
	Serves:   []string{cartv1connect.CartServiceName},
	Calls:    []string{catalogv1connect.CatalogServiceName},
	Consumes: []eventsv1.EventType{eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED},
}

// Migrations are Cart's schema migrations.
var Migrations = cartsql.Migrations

// Policies says who may call each RPC: a customer, on their own cart (the
// handler checks ownership), or another service.
var Policies = auth.Policies{
	cartv1connect.CartServiceGetCartProcedure:    auth.Allow(auth.RoleCustomer, auth.RoleService),
	cartv1connect.CartServiceAddItemProcedure:    auth.Allow(auth.RoleCustomer, auth.RoleService),
	cartv1connect.CartServiceUpdateItemProcedure: auth.Allow(auth.RoleCustomer, auth.RoleService),
	cartv1connect.CartServiceRemoveItemProcedure: auth.Allow(auth.RoleCustomer, auth.RoleService),
	cartv1connect.CartServiceClearCartProcedure:  auth.Allow(auth.RoleCustomer, auth.RoleService),
}

// New builds the service on pool, pricing through catalog.
func New(pool *pgxpool.Pool, catalog catalogv1connect.CatalogServiceClient, opts ...connect.HandlerOption) component.Parts {
	st := store.New(pool)
	svc := service.New(st, catalogClient{client: catalog})
	path, h := cartv1connect.NewCartServiceHandler(handler.New(svc), opts...)
	return component.Parts{
		Routes: []server.Route{{Service: cartv1connect.CartServiceName, Path: path, Handler: h}},
		// A delivered batch's carts are locked with one statement and
		// changed with one.
		Consumer: events.Batched(st.Stage, map[eventsv1.EventType]func(context.Context, service.Tx, *eventsv1.Envelope) error{
			eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED: svc.OnOrderConfirmed,
		}),
	}
}
