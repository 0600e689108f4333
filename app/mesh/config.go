// Package mesh is the composition root: it reads the configuration, opens
// each service's database, builds the services with their interceptors and
// clients, and serves them. `ordermesh` runs all five services in one
// process; each per-service binary runs one. Either way services reach each
// other only through Connect clients over HTTP.
package mesh

import (
	"reflect"
	"strings"
	"time"

	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/component"
	"github.com/ordermesh/ordermesh/internal/platform/config"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/server"
	"github.com/ordermesh/ordermesh/internal/platform/telemetry"
)

// Config is the configuration of every ordermesh binary.
type Config struct {
	Server    server.Config
	Auth      auth.Config
	Relay     events.RelayConfig
	Telemetry telemetry.Config
	Saga      component.Saga
	// Services holds each service's own configuration, one pointer per
	// Component that has one (see NewConfig and ServiceConfig).
	Services []any

	LogLevel       string `env:"LOG_LEVEL" default:"info" usage:"debug, info, warn or error"`
	AdminAddr      string `env:"ADMIN_ADDR" default:":9090" usage:"admin listen address for Prometheus /metrics, apart from the public port; empty turns it off"`
	AdminPprof     bool   `env:"ADMIN_PPROF" default:"false" usage:"serve net/http/pprof at /debug/pprof/ on the admin port"`
	SinkPartitions int    `env:"SINK_PARTITIONS" default:"1" usage:"transactions a service's event sink applies one delivery in at once, split by order; consumers are set-based, so one (a fixed number of statements per delivery) is cheapest (Inventory, whose handlers share stock rows, always uses one)"`
	DevBanner      bool   `env:"DEV_BANNER" default:"false" usage:"once listening, print the web console's URL and the CLI's settings with a fresh merchant token (make run sets it; never in production)"`

	DatabaseURL      string        `env:"DATABASE_URL" default:"postgres://postgres@127.0.0.1:5432/ordermesh_{service}?sslmode=disable" secret:"url" usage:"PostgreSQL URL; {service} is replaced by the service name, so one server can hold every service's own database"`
	DatabaseMaxConns int           `env:"DATABASE_MAX_CONNS" default:"16" usage:"largest number of pooled connections per service"`
	DatabaseCreate   bool          `env:"DATABASE_CREATE" default:"true" usage:"create a service's database at start when it is missing"`
	DatabaseWait     time.Duration `env:"DATABASE_WAIT" default:"60s" usage:"how long to wait at start for a database that does not answer yet"`

	CatalogDatabaseURL   string `env:"CATALOG_DATABASE_URL" secret:"url" usage:"Catalog's database; overrides DATABASE_URL"`
	CartDatabaseURL      string `env:"CART_DATABASE_URL" secret:"url" usage:"Cart's database; overrides DATABASE_URL"`
	OrderDatabaseURL     string `env:"ORDER_DATABASE_URL" secret:"url" usage:"Order's database; overrides DATABASE_URL"`
	InventoryDatabaseURL string `env:"INVENTORY_DATABASE_URL" secret:"url" usage:"Inventory's database; overrides DATABASE_URL"`
	PaymentDatabaseURL   string `env:"PAYMENT_DATABASE_URL" secret:"url" usage:"Payment's database; overrides DATABASE_URL"`

	// The endpoints double as the routing table's: the relay delivers a
	// service's events to <URL>/<service>/ordermesh.events.v1.EventSinkService.
	CatalogURL   string `env:"CATALOG_URL" default:"http://127.0.0.1:8080" usage:"base URL of the Catalog service"`
	CartURL      string `env:"CART_URL" default:"http://127.0.0.1:8080" usage:"base URL of the Cart service"`
	OrderURL     string `env:"ORDER_URL" default:"http://127.0.0.1:8080" usage:"base URL of the Order service"`
	InventoryURL string `env:"INVENTORY_URL" default:"http://127.0.0.1:8080" usage:"base URL of the Inventory service"`
	PaymentURL   string `env:"PAYMENT_URL" default:"http://127.0.0.1:8080" usage:"base URL of the Payment service"`
}

// NewConfig returns a Config with a zero configuration of each of comps
// that has one, ready for config.Load.
func NewConfig(comps ...component.Component) Config {
	var c Config
	for _, comp := range comps {
		if comp.Config != nil {
			c.Services = append(c.Services, reflect.New(reflect.TypeOf(comp.Config).Elem()).Interface())
		}
	}
	return c
}

// ServiceConfig returns the configuration of type T in c, a service's own,
// such as order.Config; one with its defaults is added if c has none.
func ServiceConfig[T any](c *Config) *T {
	return c.configOf(reflect.TypeFor[*T]()).(*T)
}

// serviceConfig returns comp's configuration in c (nil if it has none).
func (c *Config) serviceConfig(comp component.Component) any {
	if comp.Config == nil {
		return nil
	}
	return c.configOf(reflect.TypeOf(comp.Config))
}

// configOf returns the configuration of type t (a pointer to a struct) in
// c, adding one with its defaults if c has none.
func (c *Config) configOf(t reflect.Type) any {
	for _, v := range c.Services {
		if reflect.TypeOf(v) == t {
			return v
		}
	}
	v := reflect.New(t.Elem()).Interface()
	_ = config.LoadFrom(func(string) (string, bool) { return "", false }, v) // defaults are the code's own: valid
	c.Services = append(c.Services, v)
	return v
}

// perService returns, for each service by name, its base URL and its own
// database URL: the one place Config's per-service fields are named.
func (c *Config) perService() map[string]struct{ url, database *string } {
	return map[string]struct{ url, database *string }{
		"catalog":   {&c.CatalogURL, &c.CatalogDatabaseURL},
		"cart":      {&c.CartURL, &c.CartDatabaseURL},
		"order":     {&c.OrderURL, &c.OrderDatabaseURL},
		"inventory": {&c.InventoryURL, &c.InventoryDatabaseURL},
		"payment":   {&c.PaymentURL, &c.PaymentDatabaseURL},
	}
}

// endpoint returns the base URL of a service.
func (c Config) endpoint(service string) (string, bool) {
	f, ok := c.perService()[service]
	if !ok || *f.url == "" {
		return "", false
	}
	return *f.url, true
}

// SetDatabaseURL points one service at its own database.
func (c *Config) SetDatabaseURL(service, url string) {
	if f, ok := c.perService()[service]; ok {
		*f.database = url
	}
}

// DatabaseURLOf returns the URL of service's own database: its own
// variable, else DATABASE_URL with {service} replaced.
func (c Config) DatabaseURLOf(service string) string {
	if f, ok := c.perService()[service]; ok && *f.database != "" {
		return *f.database
	}
	return strings.ReplaceAll(c.DatabaseURL, "{service}", service)
}
