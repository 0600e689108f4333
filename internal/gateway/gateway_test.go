package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	healthv1 "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1/opsv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1/orderv1connect"
	"github.com/ordermesh/ordermesh/internal/gateway"
	"github.com/ordermesh/ordermesh/internal/meshtable"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/config"
	"github.com/ordermesh/ordermesh/internal/platform/logging"
	"github.com/ordermesh/ordermesh/internal/platform/rpcclient"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

// start runs a gateway in front of the given backend URLs and returns its URL.
func start(t *testing.T, backends func(*gateway.Config)) string {
	t.Helper()
	url, _ := startGateway(t, backends)
	return url
}

// startGateway is start that also returns the gateway, for its metrics.
func startGateway(t *testing.T, backends func(*gateway.Config)) (string, *gateway.Gateway) {
	t.Helper()
	var cfg gateway.Config
	if err := config.LoadFrom(func(string) (string, bool) { return "", false }, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.AdminAddr = "" // parallel tests would race for :9090; MetricsHandler serves the same
	backends(&cfg)
	srv, err := gateway.New(cfg, logging.New(io.Discard, "gateway", slog.LevelError))
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway stopped with %v", err)
		}
	})
	return "http://" + ln.Addr().String(), srv
}

// scrape returns the gateway's metrics in the text format.
func scrape(t *testing.T, g *gateway.Gateway) string {
	t.Helper()
	rec := httptest.NewRecorder()
	g.MetricsHandler().ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	return rec.Body.String()
}

func allAt(url string) func(*gateway.Config) {
	return func(c *gateway.Config) {
		for _, s := range meshtable.Services {
			*c.Backends.Of(s) = url
		}
	}
}

func TestGatewayRoutesEveryProtocol(t *testing.T) {
	t.Parallel()
	m := meshtest.Start(t, nil)
	gw, g := startGateway(t, allAt(m.URL))
	t.Cleanup(func() {
		// Every call above reached its backend: the gateway counted and
		// timed them under the backend's name, and knew its one address.
		out := scrape(t, g)
		for _, want := range []string{
			`ordermesh_gateway_requests_total{backend="catalog",result="proxied"} ` + fmt.Sprint(4*len(meshtest.Protocols)),
			`ordermesh_gateway_backend_response_seconds_count{backend="order"} ` + fmt.Sprint(2*len(meshtest.Protocols)), // GetSummary and WatchOrder
			`ordermesh_gateway_backend_addresses{backend="inventory"} 1`,
			`ordermesh_build_info{`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the gateway's metrics lack %s:\n%s", want, grepLines(out, "ordermesh_"))
			}
		}
	})
	merchant := m.Token(t, "gw-merchant", auth.RoleMerchant)
	ctx := context.Background()
	for i, p := range meshtest.Protocols {
		t.Run(p.Name, func(t *testing.T) {
			catalog := catalogv1connect.NewCatalogServiceClient(m.HTTP, gw, p.Opts...)
			sku := "GW-" + string(rune('A'+i))
			created, err := catalog.CreateProduct(ctx, meshtest.WithToken(&catalogv1.CreateProductRequest{
				Sku: sku, Name: "Gateway " + sku, Category: "gw", WeightGrams: 100,
				Price: &commonv1.Money{AmountMinor: 1250, Currency: "EUR"},
			}, merchant))
			if err != nil {
				t.Fatalf("CreateProduct through the gateway: %v", err)
			}
			got, err := catalog.GetProduct(ctx, connect.NewRequest(&catalogv1.GetProductRequest{Sku: created.Msg.GetProduct().GetSku()}))
			if err != nil || got.Msg.GetProduct().GetSku() != sku {
				t.Fatalf("GetProduct = %v, %v; want %s", got, err, sku)
			}
			// Errors travel in trailers for gRPC and gRPC-Web: the code and
			// message must come through the proxy untouched.
			_, err = catalog.CreateProduct(ctx, meshtest.WithToken(&catalogv1.CreateProductRequest{
				Sku: sku, Name: "again", Category: "gw", WeightGrams: 100,
				Price: &commonv1.Money{AmountMinor: 1250, Currency: "EUR"},
			}, merchant))
			meshtest.WantCode(t, err, connect.CodeAlreadyExists, sku)
			_, err = catalog.CreateProduct(ctx, connect.NewRequest(&catalogv1.CreateProductRequest{Sku: "X"}))
			meshtest.WantCode(t, err, connect.CodeUnauthenticated, "")

			stock := inventoryv1connect.NewInventoryServiceClient(m.HTTP, gw, p.Opts...)
			if _, err := stock.SetStock(ctx, meshtest.WithToken(&inventoryv1.SetStockRequest{Sku: sku, Available: 7}, merchant)); err != nil {
				t.Fatalf("SetStock through the gateway: %v", err)
			}

			// The operator's service answers at its standard path.
			ops := opsv1connect.NewOpsServiceClient(m.HTTP, gw, p.Opts...)
			if sum, err := ops.GetSummary(ctx, meshtest.WithToken(&opsv1.GetSummaryRequest{}, merchant)); err != nil || sum.Msg.GetTime() == nil {
				t.Fatalf("GetSummary through the gateway = %v, %v", sum, err)
			}

			// A server stream is proxied too; an unknown order ends it with NotFound.
			orders := orderv1connect.NewOrderServiceClient(m.HTTP, gw, p.Opts...)
			stream, err := orders.WatchOrder(ctx, meshtest.WithToken(&orderv1.WatchOrderRequest{OrderId: "0190a0b0-0000-7000-8000-000000000000"}, m.Token(t, "gw-shopper", auth.RoleCustomer)))
			if err == nil {
				for stream.Receive() {
				}
				err = stream.Err()
				_ = stream.Close()
			}
			meshtest.WantCode(t, err, connect.CodeNotFound, "")
		})
	}
}

func TestGatewayAnswersReflectionAndHealth(t *testing.T) {
	t.Parallel()
	gw := start(t, allAt("http://127.0.0.1:1"))
	client := grpcreflect.NewClient(rpcclient.NewHTTPClient(), gw)
	stream := client.NewStream(context.Background())
	defer func() { _, _ = stream.Close() }()
	names, err := stream.ListServices()
	if err != nil {
		t.Fatalf("ListServices: %v", err)
	}
	for svc := range gateway.PublicServices {
		if !slices.Contains(names, protoreflect.FullName(svc)) {
			t.Errorf("reflection does not list %s: %v", svc, names)
		}
	}
	// No backend answers at 127.0.0.1:1: the gateway is not ready.
	if st := healthOf(t, gw); st != healthv1.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health with no backend reachable = %v, want NOT_SERVING", st)
	}
}

func healthOf(t *testing.T, gw string) healthv1.HealthCheckResponse_ServingStatus {
	t.Helper()
	check := connect.NewClient[healthv1.HealthCheckRequest, healthv1.HealthCheckResponse](rpcclient.NewHTTPClient(), gw+"/grpc.health.v1.Health/Check", connect.WithGRPC())
	res, err := check.CallUnary(context.Background(), connect.NewRequest(&healthv1.HealthCheckRequest{}))
	if err != nil {
		t.Fatalf("health Check: %v", err)
	}
	return res.Msg.GetStatus()
}

// The gateway is ready once every backend has answered its readiness
// probe, not before: a call before then would have nowhere to go.
func TestGatewayIsReadyOnceBackendsAnswer(t *testing.T) {
	t.Parallel()
	m := meshtest.Start(t, []string{"catalog"})
	gw := start(t, allAt(m.URL))
	wait.Until(t, 10*time.Second, 50*time.Millisecond, func() error {
		if st := healthOf(t, gw); st != healthv1.HealthCheckResponse_SERVING {
			return fmt.Errorf("the gateway is %v with every backend answering, want SERVING", st)
		}
		return nil
	})
}

func TestGatewayUnreachableBackendIsUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	_ = ln.Close()
	gw, g := startGateway(t, allAt(dead))
	for _, p := range meshtest.Protocols {
		catalog := catalogv1connect.NewCatalogServiceClient(rpcclient.NewHTTPClient(), gw, p.Opts...)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := catalog.GetProduct(ctx, connect.NewRequest(&catalogv1.GetProductRequest{Sku: "X-1"}))
		cancel()
		meshtest.WantCode(t, err, connect.CodeUnavailable, "catalog service is unavailable")
	}
	want := fmt.Sprintf(`ordermesh_gateway_requests_total{backend="catalog",result="unavailable"} %d`, len(meshtest.Protocols))
	if out := scrape(t, g); !strings.Contains(out, want) {
		t.Errorf("the gateway's metrics lack %s:\n%s", want, grepLines(out, "ordermesh_gateway_"))
	}
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func TestGatewayDoesNotExposeInternalPaths(t *testing.T) {
	t.Parallel()
	m := meshtest.Start(t, []string{"inventory"})
	gw := start(t, allAt(m.URL))
	for _, path := range []string{"/inventory/ordermesh.events.v1.EventSinkService/Deliver", "/inventory/ordermesh.events.v1.EventAdminService/ListParkedDeliveries"} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, gw+path, nil)
		req.Header.Set("Content-Type", "application/json")
		res, err := m.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s through the gateway = %d, want 404", path, res.StatusCode)
		}
	}
}

func TestGatewayRefusesMissingBackends(t *testing.T) {
	t.Parallel()
	var cfg gateway.Config
	cfg.Backends.Catalog = "http://catalog:8080"
	_, err := gateway.New(cfg, logging.New(io.Discard, "gateway", slog.LevelError))
	if err == nil {
		t.Fatal("gateway.New with only CATALOG_URL set succeeded")
	}
	cfg.Backends.Cart, cfg.Backends.Order, cfg.Backends.Inventory, cfg.Backends.Payment = "http://cart:8080", "http://order:8080", "ftp://inventory", "http://payment:8080"
	if _, err := gateway.New(cfg, logging.New(io.Discard, "gateway", slog.LevelError)); err == nil || !strings.Contains(err.Error(), "INVENTORY_URL") {
		t.Errorf("gateway.New with an ftp:// URL = %v, want an error naming INVENTORY_URL", err)
	}
}

// Catalog's reads by Connect GET are cacheable at the mesh and through
// the gateway alike: Cache-Control and an ETag, 304 while the ETag holds,
// a new answer and ETag once the product changes.
func TestCatalogGetsAreCacheable(t *testing.T) {
	t.Parallel()
	m := meshtest.Start(t, []string{"catalog"})
	gw := start(t, allAt(m.URL))
	merchant := m.Token(t, "cache-merchant", auth.RoleMerchant)
	ctx := context.Background()
	catalog := catalogv1connect.NewCatalogServiceClient(m.HTTP, m.URL)
	for i, base := range map[string]string{"mesh": m.URL, "gateway": gw} {
		sku := "CACHE-" + strings.ToUpper(i)
		if _, err := catalog.CreateProduct(ctx, meshtest.WithToken(&catalogv1.CreateProductRequest{
			Sku: sku, Name: "Cached " + sku, Category: "cache", WeightGrams: 100,
			Price: &commonv1.Money{AmountMinor: 500, Currency: "EUR"},
		}, merchant)); err != nil {
			t.Fatal(err)
		}
		url := base + "/ordermesh.catalog.v1.CatalogService/GetProduct?encoding=json&message=" + neturl.QueryEscape(`{"sku":"`+sku+`"}`)
		get := func(inm string) *http.Response {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if inm != "" {
				req.Header.Set("If-None-Match", inm)
			}
			res, err := m.HTTP.Do(req)
			if err != nil {
				t.Fatalf("%s: GET: %v", i, err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			return res
		}
		first := get("")
		etag := first.Header.Get("ETag")
		if first.StatusCode != http.StatusOK || etag == "" || first.Header.Get("Cache-Control") != "public, max-age=30" {
			t.Fatalf("%s: GET = %d, ETag %q, Cache-Control %q; want 200, an ETag and public, max-age=30", i, first.StatusCode, etag, first.Header.Get("Cache-Control"))
		}
		if res := get(etag); res.StatusCode != http.StatusNotModified {
			t.Errorf("%s: GET with If-None-Match %s = %d, want 304", i, etag, res.StatusCode)
		}
		if _, err := catalog.UpdateProduct(ctx, meshtest.WithToken(&catalogv1.UpdateProductRequest{
			Sku: sku, Price: &commonv1.Money{AmountMinor: 650, Currency: "EUR"},
		}, merchant)); err != nil {
			t.Fatal(err)
		}
		if res := get(etag); res.StatusCode != http.StatusOK || res.Header.Get("ETag") == etag {
			t.Errorf("%s: GET after a price change = %d, ETag %q; want 200 and a new ETag", i, res.StatusCode, res.Header.Get("ETag"))
		}
	}
}
