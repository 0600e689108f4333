// Package catalog assembles the Catalog service: its access policies, its
// migrations and its handler, for the server to mount.
package catalog

import (
	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/component"
	"github.com/ordermesh/ordermesh/internal/platform/controlchars"
	"github.com/ordermesh/ordermesh/internal/platform/server"
	"github.com/ordermesh/ordermesh/services/catalog/internal/handler"
	"github.com/ordermesh/ordermesh/services/catalog/internal/service"
	"github.com/ordermesh/ordermesh/services/catalog/internal/store"
	catalogsql "github.com/ordermesh/ordermesh/sqlc/catalog"
)

// Name is the service's short name, used for its database and logs.
const Name = "catalog"

// Contract declares Catalog's place in the mesh: it serves the catalog
// and depends on nobody.
var Contract = component.Contract{Serves: []string{catalogv1connect.CatalogServiceName}}

// Migrations are Catalog's schema migrations.
var Migrations = catalogsql.Migrations

// Policies says who may call each RPC: reads are public, writes are for
// merchants.
var Policies = auth.Policies{
	catalogv1connect.CatalogServiceListProductsProcedure:     auth.Public,
	catalogv1connect.CatalogServiceSearchProductsProcedure:   auth.Public,
	catalogv1connect.CatalogServiceGetProductProcedure:       auth.Public,
	catalogv1connect.CatalogServiceBatchGetProductsProcedure: auth.Public,
	catalogv1connect.CatalogServiceListCategoriesProcedure:   auth.Public,
	catalogv1connect.CatalogServiceCreateProductProcedure:    auth.Allow(auth.RoleMerchant),
	catalogv1connect.CatalogServiceUpdateProductProcedure:    auth.Allow(auth.RoleMerchant),
	catalogv1connect.CatalogServiceArchiveProductProcedure:   auth.Allow(auth.RoleMerchant),
}

// FreeText lists the fields that may hold text over several lines (tab
// and newline); every other string refuses control characters.
var FreeText = controlchars.FreeText{
	controlchars.Field(&catalogv1.CreateProductRequest{}, "description"): true,
	controlchars.Field(&catalogv1.UpdateProductRequest{}, "description"): true,
}

// New builds the service on pool. Catalog takes part in no saga.
func New(pool *pgxpool.Pool, opts ...connect.HandlerOption) component.Parts {
	h := handler.New(service.New(store.New(pool)))
	path, hh := catalogv1connect.NewCatalogServiceHandler(h, opts...)
	return component.Parts{Routes: []server.Route{{Service: catalogv1connect.CatalogServiceName, Path: path, Handler: hh}}}
}
