package e2e_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

// When a service's database goes away under a running mesh, its callers
// get Unavailable (retryable) with a message that says so, over every
// protocol, and so do the callers of the services that depend on it; once
// it is back, the same calls succeed.
func TestDatabaseOutageIsUnavailable(t *testing.T) {
	t.Parallel()
	var proxy *meshtest.Proxy
	s := newShop(t, func(c *mesh.Config) {
		u, err := url.Parse(c.DatabaseURLOf("catalog"))
		if err != nil {
			t.Fatal(err)
		}
		proxy = meshtest.NewProxy(t, u.Host)
		u.Host = proxy.Addr
		c.SetDatabaseURL("catalog", u.String())
	})
	bob := s.customer(t, "bob", cardOK)
	req := s.request(t, bob, "DE", lines("BEAN-1", 1))
	ctx := context.Background()
	proxy.Cut()

	for _, p := range meshtest.Protocols {
		t.Run(p.Name, func(t *testing.T) {
			catalog := catalogv1connect.NewCatalogServiceClient(s.m.HTTP, s.m.URL, p.Opts...)
			_, err := catalog.SearchProducts(ctx, connect.NewRequest(&catalogv1.SearchProductsRequest{Query: "beans"}))
			meshtest.WantCode(t, err, connect.CodeUnavailable, "database is unavailable")
			_, err = catalog.GetProduct(ctx, connect.NewRequest(&catalogv1.GetProductRequest{Sku: "BEAN-1"}))
			meshtest.WantCode(t, err, connect.CodeUnavailable, "try again")
			// Order prices through Catalog: the outage passes on as
			// Unavailable, naming the catalog.
			_, err = orderv1connectClient(s, p.Opts...).PlaceOrder(ctx, meshtest.WithToken(req, bob.token))
			meshtest.WantCode(t, err, connect.CodeUnavailable, "the catalog is unavailable")
		})
	}
	// The failures are logged as server-side, with the driver's cause.
	logged := false
	for _, l := range s.m.LogLines(t) {
		cause, _ := l["error"].(string)
		logged = logged || (l["msg"] == "rpc failed" && l["code"] == "unavailable" && cause != "" &&
			l["procedure"] == "/ordermesh.catalog.v1.CatalogService/SearchProducts")
	}
	if !logged {
		t.Error("no \"rpc failed\" line for the unavailable SearchProducts")
	}

	proxy.Restore(t)
	catalog := catalogv1connect.NewCatalogServiceClient(s.m.HTTP, s.m.URL)
	wait.Until(t, 10*time.Second, 100*time.Millisecond, func() error {
		if _, err := catalog.GetProduct(ctx, connect.NewRequest(&catalogv1.GetProductRequest{Sku: "BEAN-1"})); err != nil {
			return fmt.Errorf("Catalog did not recover after its database came back: %w", err)
		}
		return nil
	})
}
