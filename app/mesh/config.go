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

	"github.com/ordermesh/ordermesh/internal/meshtable"
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

	Databases meshtable.Databases

	// Endpoints double as the routing table's: the relay delivers a
	// service's events to <URL>/<service>/ordermesh.events.v1.EventSinkService.
	Endpoints meshtable.Endpoints
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

// endpoint returns the base URL of a service.
func (c *Config) endpoint(service string) (string, bool) {
	u := c.Endpoints.Of(service)
	if u == nil || *u == "" {
		return "", false
	}
	return *u, true
}

// SetDatabaseURL points one service at its own database.
func (c *Config) SetDatabaseURL(service, url string) {
	if d := c.Databases.Of(service); d != nil {
		*d = url
	}
}

// DatabaseURLOf returns the URL of service's own database: its own
// variable, else DATABASE_URL with {service} replaced.
func (c *Config) DatabaseURLOf(service string) string {
	if d := c.Databases.Of(service); d != nil && *d != "" {
		return *d
	}
	return strings.ReplaceAll(c.DatabaseURL, "{service}", service)
}
