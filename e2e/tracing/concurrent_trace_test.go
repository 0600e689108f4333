package tracing_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
	"github.com/ordermesh/ordermesh/app/shopper"
	cartv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1"
	catalogv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1"
	commonv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/common/v1"
	orderv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1"
	"github.com/ordermesh/ordermesh/internal/otlpreceiver"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/config"
	"github.com/ordermesh/ordermesh/internal/platform/logging"
	"github.com/ordermesh/ordermesh/internal/platform/telemetry"
)

// placed is one checkout of the concurrent test: what was asked and what
// the order ended as.
type placed struct {
	id, kind string // kind: approve, decline or refuse (carrier)
	status   string // GetOrder's final status, "confirmed"
}

// TestConcurrentCheckoutsEachHaveTheirOwnTrace runs hundreds of checkouts
// at once, so that reservations and deliveries are batched, with approved,
// declined and carrier-refused orders, and exports every span through the
// real OTLP exporter to an in-process receiver. Each order's trace must be
// whole and its own: the PlaceOrder root, its terminal status, spans of
// all five services, and no span about another order.
func TestConcurrentCheckoutsEachHaveTheirOwnTrace(t *testing.T) {
	const (
		shoppers = 32
		each     = 7 // 224 checkouts
	)
	ctx := context.Background()
	m, rcv, tel := startExported(t)
	c := shopper.NewClients(m.URL)
	merchant := m.Token(t, "mia", auth.RoleMerchant)
	const price = 700
	if err := c.NewProduct(ctx, merchant, &catalogv1.CreateProductRequest{
		Sku: "TR-1", Name: "Traced beans", Category: "coffee", WeightGrams: 250, Price: &commonv1.Money{AmountMinor: price, Currency: "EUR"},
	}, 100_000); err != nil {
		t.Fatal(err)
	}
	addresses := map[string]*commonv1.PostalAddress{
		"DE": {Recipient: "A", Line1: "B", City: "Berlin", PostalCode: "10115", CountryCode: "DE"},
		"AQ": {Recipient: "A", Line1: "B", City: "McMurdo", PostalCode: "00000", CountryCode: "AQ"},
	}
	shipping := map[string]int64{}
	for cc, a := range addresses {
		q, err := c.Orders.QuoteShipping(ctx, connect.NewRequest(&orderv1.QuoteShippingRequest{
			ShippingAddress: a, Lines: []*orderv1.LineRequest{{Sku: "TR-1", Quantity: 1}}}))
		if err != nil {
			t.Fatal(err)
		}
		shipping[cc] = q.Msg.GetAmount().GetAmountMinor()
	}

	// Every checkout is a new customer who fills a cart and checks it out,
	// so every order passes through all five services.
	var (
		mu     sync.Mutex
		orders []placed
		wg     sync.WaitGroup
	)
	for s := range shoppers {
		wg.Go(func() {
			for n := range each {
				kind, card, cc := "approve", shopper.GoodCard, "DE"
				switch (s + n) % 5 {
				case 1:
					kind, card = "decline", "4000000000000002"
				case 3:
					kind, cc = "refuse", "AQ"
				}
				user := fmt.Sprintf("tr-%d-%d", s, n)
				cust, err := c.NewCustomer(ctx, m.Config.Auth, user, card)
				if err != nil {
					t.Errorf("%s: %v", user, err)
					return
				}
				if _, err := c.Carts.AddItem(ctx, shopper.With(&cartv1.AddItemRequest{UserId: user, Sku: "TR-1", Quantity: 1}, cust.Token)); err != nil {
					t.Errorf("%s: add item: %v", user, err)
					return
				}
				last, err := c.Checkout(ctx, cust.Token, &orderv1.PlaceOrderRequest{
					UserId: user, IdempotencyKey: "checkout-" + user, Source: &orderv1.PlaceOrderRequest_FromCart{FromCart: &orderv1.FromCart{}},
					ShippingAddress: addresses[cc], Email: user + "@example.com", PaymentMethodId: cust.Card,
					ExpectedTotal: &commonv1.Money{AmountMinor: price + shipping[cc], Currency: "EUR"},
				}, time.Minute)
				if err != nil {
					t.Errorf("%s: checkout: %v", user, err)
					return
				}
				status := strings.ToLower(strings.TrimPrefix(last.GetStatus().String(), "ORDER_STATUS_"))
				mu.Lock()
				orders = append(orders, placed{id: last.GetId(), kind: kind, status: status})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	m.WaitQuiet(t)
	if err := tel.Shutdown(ctx); err != nil { // flushes every service's spans
		t.Fatalf("telemetry shutdown: %v", err)
	}
	spans := rcv.Spans()
	if _, _, _, refused := rcv.Stats(); refused > 0 {
		t.Fatalf("the receiver refused %d export requests", refused)
	}
	byTrace := map[string][]otlpreceiver.Span{}
	roots := map[string]otlpreceiver.Span{} // order id → PlaceOrder server span
	for _, s := range spans {
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
		if s.Kind == tracev1.Span_SPAN_KIND_SERVER && strings.HasSuffix(s.Name, "OrderService/PlaceOrder") {
			roots[s.Attributes["ordermesh.order_id"]] = s
		}
	}

	want := []string{"ordermesh-cart", "ordermesh-catalog", "ordermesh-inventory", "ordermesh-order", "ordermesh-payment"}
	wantStatus := map[string]string{"approve": "confirmed", "decline": "cancelled", "refuse": "cancelled"}
	whole := 0
	for _, o := range orders {
		if o.status != wantStatus[o.kind] {
			t.Errorf("order %s (%s) ended %s, want %s", o.id, o.kind, o.status, wantStatus[o.kind])
			continue
		}
		root, ok := roots[o.id]
		if !ok {
			t.Errorf("order %s (%s): no PlaceOrder server span carries its id", o.id, o.kind)
			continue
		}
		if root.ParentID != "" {
			t.Errorf("order %s: PlaceOrder is not the root of its trace (parent %s)", o.id, root.ParentID)
		}
		if problems := checkOrderTrace(o, byTrace[root.TraceID], want); len(problems) > 0 {
			t.Errorf("order %s (%s), trace %s:\n  %s", o.id, o.kind, root.TraceID, strings.Join(problems, "\n  "))
			continue
		}
		whole++
	}
	t.Logf("%d of %d orders have a whole trace of their own; %d spans exported", whole, len(orders), len(spans))

	checkBatches(t, spans)
}

// startExported starts a mesh whose services export every span through
// the real OTLP exporter to an in-process receiver.
func startExported(t *testing.T, opts ...meshtest.Option) (*meshtest.Mesh, *otlpreceiver.Receiver, *telemetry.Telemetry) {
	t.Helper()
	return startExportedQueue(t, 65536, opts...) // keep every span of a burst
}

// startExportedQueue is startExported with each service's span queue
// holding queue spans.
func startExportedQueue(t *testing.T, queue int, opts ...meshtest.Option) (*meshtest.Mesh, *otlpreceiver.Receiver, *telemetry.Telemetry) {
	t.Helper()
	rcv, err := otlpreceiver.Start(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rcv.Close() })
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_BSP_MAX_QUEUE_SIZE", fmt.Sprint(queue))
	var tcfg telemetry.Config
	if err := config.Load(&tcfg); err != nil {
		t.Fatal(err)
	}
	tel, err := telemetry.Setup(context.Background(), logging.New(io.Discard, "test", slog.LevelError), tcfg, mesh.Services...)
	if err != nil {
		t.Fatal(err)
	}
	return meshtest.StartTraced(t, nil, tel, opts...), rcv, tel
}

// checkOrderTrace returns what is wrong with one order's trace.
func checkOrderTrace(o placed, trace []otlpreceiver.Span, services []string) []string {
	var problems []string
	seen := map[string]bool{}
	var terminal []string
	failed := map[string]bool{}
	for _, s := range trace {
		seen[s.Service] = true
		if id, ok := s.Attributes["ordermesh.order_id"]; ok && id != o.id {
			problems = append(problems, fmt.Sprintf("span %q (%s) is about order %s", s.Name, s.Service, id))
		}
		if st := s.Attributes["ordermesh.order.status"]; st != "" && st != "pending" {
			terminal = append(terminal, st)
		}
		if s.Error {
			failed[s.Name] = true
		}
	}
	for _, svc := range services {
		if !seen[svc] {
			problems = append(problems, "no span of "+svc)
		}
	}
	// A transaction that a deadlock rolled back and the sink ran again
	// records the status twice; it is never another status.
	if len(terminal) == 0 || slices.ContainsFunc(terminal, func(st string) bool { return st != o.status }) {
		problems = append(problems, fmt.Sprintf("terminal statuses recorded %v, want %s as GetOrder says", terminal, o.status))
	}
	switch o.kind {
	case "decline":
		if !failed["payment.authorize"] {
			problems = append(problems, "the decline is not an error span (payment.authorize)")
		}
	case "refuse":
		if !failed["carrier.book"] {
			problems = append(problems, "the carrier's refusal is not an error span (carrier.book)")
		}
	default:
		if failed["payment.authorize"] || failed["carrier.book"] {
			problems = append(problems, "a confirmed order has a failed authorisation or booking")
		}
	}
	return problems
}

// checkBatches checks the spans of batches: a reservation batch or relay
// delivery that serves several orders is a root of its own, linked to each
// order it served.
func checkBatches(t *testing.T, spans []otlpreceiver.Span) {
	t.Helper()
	var reserveBatches, deliveries, largest int
	for _, s := range spans {
		var size string
		switch {
		case s.Name == "inventory.reserve_batch":
			size = s.Attributes["ordermesh.batch.size"]
			reserveBatches++
		case strings.HasPrefix(s.Name, "deliver ") && s.Attributes["ordermesh.delivery.outcome"] == "":
			// (A failed delivery's span in its order's trace has an
			// outcome and no batch.)
			size = s.Attributes["messaging.batch.message_count"]
			deliveries++
			if s.Attributes["ordermesh.producer"] == "" || s.Attributes["ordermesh.subscriber"] == "" || s.Attributes["ordermesh.delivery.attempt"] == "" {
				t.Errorf("delivery span %q lacks producer, subscriber or attempt: %v", s.Name, s.Attributes)
			}
		default:
			continue
		}
		var n int
		if _, err := fmt.Sscan(size, &n); err != nil {
			t.Errorf("%q has no batch size: %v", s.Name, s.Attributes)
			continue
		}
		largest = max(largest, n)
		if len(s.Links) != n {
			t.Errorf("%q of %d links to %d spans, want one per request", s.Name, n, len(s.Links))
		}
		if n > 1 && s.ParentID != "" {
			t.Errorf("%q of %d sits under span %s of one order", s.Name, n, s.ParentID)
		}
	}
	if reserveBatches == 0 || deliveries == 0 {
		t.Errorf("recorded %d reservation batches and %d deliveries, want some of each", reserveBatches, deliveries)
	}
	t.Logf("%d reservation batches, %d deliveries, largest batch %d", reserveBatches, deliveries, largest)
}
