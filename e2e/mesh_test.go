package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	"github.com/google/go-cmp/cmp"
	healthv1 "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1/orderv1connect"
	paymentv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1/paymentv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
)

func TestReflectionListsEveryService(t *testing.T) {
	t.Parallel()
	m := meshtest.Start(t, nil)
	stream := grpcreflect.NewClient(m.HTTP, m.URL).NewStream(context.Background())
	names, err := stream.ListServices()
	if err != nil {
		t.Fatalf("ListServices: %v", err)
	}
	_, _ = stream.Close()
	var got []string
	for _, n := range names {
		got = append(got, string(n))
	}
	slices.Sort(got)
	want := []string{
		"grpc.health.v1.Health",
		"grpc.reflection.v1.ServerReflection",
		"grpc.reflection.v1alpha.ServerReflection",
		"ordermesh.cart.v1.CartService",
		"ordermesh.catalog.v1.CatalogService",
		"ordermesh.inventory.v1.InventoryService",
		"ordermesh.ops.v1.OpsService",
		"ordermesh.order.v1.OrderService",
		"ordermesh.payment.v1.PaymentService",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reflected services (-want +got):\n%s", diff)
	}
	// Every service listed is served at the same base URL: a call to each
	// of its methods reaches a handler, never the mux's 404.
	for _, name := range got {
		if strings.HasPrefix(name, "grpc.reflection.") {
			continue // answered above, by this very stream
		}
		desc, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Errorf("%s is listed but not registered: %v", name, err)
			continue
		}
		methods := desc.(protoreflect.ServiceDescriptor).Methods()
		for i := range methods.Len() {
			path := "/" + name + "/" + string(methods.Get(i).Name())
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, m.URL+path, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			res, err := m.HTTP.Do(req)
			if err != nil {
				t.Fatalf("POST %s: %v", path, err)
			}
			_ = res.Body.Close()
			if res.StatusCode == http.StatusNotFound && res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("reflection lists %s, but POST %s is not served", name, path)
			}
		}
	}
	// The internal services live under their service's prefix, and so does
	// the reflection that lists them.
	inner := grpcreflect.NewClient(m.HTTP, m.URL+"/inventory").NewStream(context.Background())
	innerNames, err := inner.ListServices()
	if err != nil {
		t.Fatalf("ListServices under /inventory: %v", err)
	}
	_, _ = inner.Close()
	for _, svc := range []protoreflect.FullName{"ordermesh.events.v1.EventSinkService", "ordermesh.events.v1.EventAdminService"} {
		if !slices.Contains(innerNames, svc) {
			t.Errorf("reflection under /inventory lists %v, not %s", innerNames, svc)
		}
	}
	// The descriptors carry the .proto comments, as `grpcurl describe`
	// shows them: PlaceOrder's, in OrderService's file.
	withComments := grpcreflect.NewClient(m.HTTP, m.URL).NewStream(context.Background())
	fds, err := withComments.FileContainingSymbol("ordermesh.order.v1.OrderService")
	_, _ = withComments.Close()
	if err != nil || len(fds) == 0 {
		t.Fatalf("FileContainingSymbol(OrderService): %v", err)
	}
	var comment string
	for _, loc := range fds[0].GetSourceCodeInfo().GetLocation() {
		if strings.Contains(loc.GetLeadingComments(), "PlaceOrder") {
			comment = loc.GetLeadingComments()
		}
	}
	if comment == "" {
		t.Errorf("reflection serves %s without its comments (%d source locations)", fds[0].GetName(), len(fds[0].GetSourceCodeInfo().GetLocation()))
	}
	// v1alpha is what older grpcurl releases ask for.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost,
		m.URL+"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/grpc")
	res, err := m.HTTP.Do(req)
	if err != nil {
		t.Fatalf("v1alpha reflection: %v", err)
	}
	_ = res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		t.Errorf("v1alpha reflection is not served")
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	m := meshtest.Start(t, nil)
	ctx := context.Background()
	for _, p := range meshtest.Protocols {
		t.Run(p.Name, func(t *testing.T) {
			check := connect.NewClient[healthv1.HealthCheckRequest, healthv1.HealthCheckResponse](m.HTTP, m.URL+"/grpc.health.v1.Health/Check", p.Opts...)
			for _, svc := range []string{"", "ordermesh.catalog.v1.CatalogService", "ordermesh.payment.v1.PaymentService"} {
				res, err := check.CallUnary(ctx, connect.NewRequest(&healthv1.HealthCheckRequest{Service: svc}))
				if err != nil {
					t.Fatalf("Check(%q): %v", svc, err)
				}
				if st := res.Msg.GetStatus(); st != healthv1.HealthCheckResponse_SERVING {
					t.Errorf("Check(%q) = %v, want SERVING", svc, st)
				}
			}
			_, err := check.CallUnary(ctx, connect.NewRequest(&healthv1.HealthCheckRequest{Service: "no.such.Service"}))
			if connect.CodeOf(err) != connect.CodeNotFound {
				t.Errorf("Check(unknown) error = %v, want NotFound", err)
			}
			watch := connect.NewClient[healthv1.HealthCheckRequest, healthv1.HealthCheckResponse](m.HTTP, m.URL+"/grpc.health.v1.Health/Watch", p.Opts...)
			wctx, cancel := context.WithCancel(ctx)
			stream, err := watch.CallServerStream(wctx, connect.NewRequest(&healthv1.HealthCheckRequest{}))
			if err != nil {
				cancel()
				t.Fatalf("Watch: %v", err)
			}
			if !stream.Receive() || stream.Msg().GetStatus() != healthv1.HealthCheckResponse_SERVING {
				t.Errorf("Watch first message = %v (err %v), want SERVING", stream.Msg(), stream.Err())
			}
			cancel()
			_ = stream.Close()
		})
	}
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusOK} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+path, nil)
		res, err := m.HTTP.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, res.StatusCode, want)
		}
		if path != "/healthz" {
			continue
		}
		// Liveness says which build answers, as `ordermesh version` does.
		var live struct {
			Status, Version, Revision string
			GoVersion                 string `json:"go_version"`
			BuildTime                 string `json:"build_time"`
		}
		if err := json.Unmarshal(body, &live); err != nil || live.Status != "ok" || live.Version == "" || live.Revision == "" ||
			live.GoVersion != runtime.Version() || live.BuildTime == "" || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET /healthz = %s (%s, %v); want JSON with status ok, version, revision, build time and %s",
				body, res.Header.Get("Content-Type"), err, runtime.Version())
		}
	}
}

func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	m := meshtest.Start(t, []string{"catalog"})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodOptions, m.URL+"/ordermesh.catalog.v1.CatalogService/ListProducts", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,connect-protocol-version,content-type") // sorted, as browsers send it
	res, err := m.HTTP.Do(req)
	if err != nil {
		t.Fatalf("preflight: %v", err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("preflight = %d %v, want 204 allowing the origin", res.StatusCode, res.Header)
	}
	if h := strings.ToLower(res.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "authorization") {
		t.Errorf("preflight allows headers %q, want authorization among them", h)
	}
}

// Every service refuses bad callers and bad input before any work.
func TestSagaServicesGuardTheirRPCs(t *testing.T) {
	t.Parallel()
	m := meshtest.Start(t, nil)
	ctx := context.Background()
	customer := m.Token(t, "alice", auth.RoleCustomer)
	orders := orderv1connect.NewOrderServiceClient(m.HTTP, m.URL, connect.WithGRPC())
	_, err := orders.GetOrder(ctx, meshtest.WithToken(&orderv1.GetOrderRequest{OrderId: "019a0000-0000-7000-8000-000000000000"}, customer))
	meshtest.WantCode(t, err, connect.CodeNotFound, "does not exist")
	_, err = orders.GetOrder(ctx, meshtest.WithToken(&orderv1.GetOrderRequest{OrderId: "not-a-uuid"}, customer))
	meshtest.WantCode(t, err, connect.CodeInvalidArgument, "order_id")
	_, err = orders.GetOrder(ctx, connect.NewRequest(&orderv1.GetOrderRequest{OrderId: "019a0000-0000-7000-8000-000000000000"}))
	meshtest.WantCode(t, err, connect.CodeUnauthenticated, "")
	inv := inventoryv1connect.NewInventoryServiceClient(m.HTTP, m.URL)
	_, err = inv.Reserve(ctx, meshtest.WithToken(&inventoryv1.ReserveRequest{OrderId: "019a0000-0000-7000-8000-000000000000", Lines: []*inventoryv1.ReserveLine{{Sku: "A", Quantity: 1}}}, customer))
	meshtest.WantCode(t, err, connect.CodePermissionDenied, "service")
	pay := paymentv1connect.NewPaymentServiceClient(m.HTTP, m.URL)
	_, err = pay.CreatePaymentMethod(ctx, meshtest.WithToken(&paymentv1.CreatePaymentMethodRequest{UserId: "alice", CardNumber: "4242424242424241", ExpMonth: 12, ExpYear: 2099, Cvc: "123"}, customer))
	meshtest.WantCode(t, err, connect.CodeInvalidArgument, "Luhn")
	_, err = pay.CreatePaymentMethod(ctx, meshtest.WithToken(&paymentv1.CreatePaymentMethodRequest{UserId: "bob", CardNumber: "4242424242424242", ExpMonth: 12, ExpYear: 2099, Cvc: "123"}, customer))
	meshtest.WantCode(t, err, connect.CodePermissionDenied, "bob")
}

// TestConsoleIsServed checks what the mesh sends for /console/: the page
// and its assets, locked to its own origin.
func TestConsoleIsServed(t *testing.T) {
	t.Parallel()
	m := meshtest.Start(t, nil)
	for path, want := range map[string]string{"/console/": "text/html", "/console/console.js": "text/javascript", "/console/console.css": "text/css"} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, m.URL+path, nil)
		res, err := m.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), want) ||
			!strings.Contains(res.Header.Get("Content-Security-Policy"), "connect-src 'self'") {
			t.Errorf("GET %s = %d %s, CSP %q; want 200 %s locked to its origin", path, res.StatusCode, res.Header.Get("Content-Type"),
				res.Header.Get("Content-Security-Policy"), want)
		}
	}
}
