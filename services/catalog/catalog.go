// Package catalog assembles the Catalog service: its Component, which the
// composition root builds and mounts.
package catalog

import (
	"time"

	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/component"
	"github.com/ordermesh/ordermesh/internal/platform/controlchars"
	"github.com/ordermesh/ordermesh/internal/platform/httpcache"
	"github.com/ordermesh/ordermesh/internal/platform/server"
	"github.com/ordermesh/ordermesh/services/catalog/internal/handler"
	"github.com/ordermesh/ordermesh/services/catalog/internal/service"
	"github.com/ordermesh/ordermesh/services/catalog/internal/store"
	catalogsql "github.com/ordermesh/ordermesh/sqlc/catalog"
)

// Name is the service's short name, used for its database and logs.
const Name = "catalog"

// Config is Catalog's own configuration.
type Config struct {
	CacheMaxAge time.Duration `env:"CATALOG_CACHE_MAX_AGE" default:"30s" usage:"how long HTTP caches may keep Catalog's answers to GET requests (Cache-Control max-age; each also carries an ETag and answers If-None-Match with 304); 0 makes them revalidate every time"`
}

// Component describes Catalog to the composition root: it serves the
// catalog, depends on nobody and takes part in no saga. Reads are public,
// writes are for merchants.
var Component = component.Component{
	Name:       Name,
	Contract:   component.Contract{Serves: []string{catalogv1connect.CatalogServiceName}},
	Migrations: catalogsql.Migrations,
	Policies: auth.Policies{
		catalogv1connect.CatalogServiceListProductsProcedure:     auth.Public,
		catalogv1connect.CatalogServiceSearchProductsProcedure:   auth.Public,
		catalogv1connect.CatalogServiceGetProductProcedure:       auth.Public,
		catalogv1connect.CatalogServiceBatchGetProductsProcedure: auth.Public,
		catalogv1connect.CatalogServiceListCategoriesProcedure:   auth.Public,
		catalogv1connect.CatalogServiceCreateProductProcedure:    auth.Allow(auth.RoleMerchant),
		catalogv1connect.CatalogServiceUpdateProductProcedure:    auth.Allow(auth.RoleMerchant),
		catalogv1connect.CatalogServiceArchiveProductProcedure:   auth.Allow(auth.RoleMerchant),
	},
	// Descriptions may run over several lines.
	FreeText: controlchars.FreeText{
		controlchars.Field(&catalogv1.CreateProductRequest{}, "description"): true,
		controlchars.Field(&catalogv1.UpdateProductRequest{}, "description"): true,
	},
	Config: &Config{},
	Build:  build,
}

func build(d component.Deps) (component.Parts, error) {
	cfg := d.Config.(*Config)
	h := handler.New(service.New(store.New(d.Pool)))
	path, hh := catalogv1connect.NewCatalogServiceHandler(h, d.Handler...)
	// Catalog's reads are public and the same for everyone: worth caching
	// in browsers and CDNs when called by GET.
	return component.Parts{Routes: []server.Route{{Service: catalogv1connect.CatalogServiceName, Path: path, Handler: httpcache.Handler(hh, cfg.CacheMaxAge)}}}, nil
}
