// Package cart assembles the Cart service: its access policies, its
// migrations, and its handler wired to Catalog over Connect.
package cart

import (
	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1/cartv1connect"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	"github.com/ordermesh/ordermesh/services/cart/handler"
	"github.com/ordermesh/ordermesh/services/cart/service"
	"github.com/ordermesh/ordermesh/services/cart/store"
	"github.com/ordermesh/ordermesh/services/platform/auth"
	"github.com/ordermesh/ordermesh/services/platform/server"
	cartsql "github.com/ordermesh/ordermesh/sqlc/cart"
)

// Name is the service's short name, used for its database and logs.
const Name = "cart"

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

// Routes builds the service on pool, pricing through catalog.
func Routes(pool *pgxpool.Pool, catalog catalogv1connect.CatalogServiceClient, opts ...connect.HandlerOption) []server.Route {
	svc := service.New(store.New(pool), catalogClient{client: catalog})
	path, h := cartv1connect.NewCartServiceHandler(handler.New(svc), opts...)
	return []server.Route{{Service: cartv1connect.CartServiceName, Path: path, Handler: h}}
}
