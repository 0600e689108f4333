// Package ops serves OpsService, the operator's view of every saga: the
// orders, read from Order's own service, and what the other services know
// of each, asked at the same time through one fan-out (gather). It answers
// with data only; the console and the CLI word it for their readers.
package ops

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1/opsv1connect"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1/paymentv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
)

// Deps are what the operator's service reads beyond Order's own data.
type Deps struct {
	Inventory inventoryv1connect.InventoryServiceClient
	Payments  paymentv1connect.PaymentServiceClient
	// Outboxes are the producers' event admins, by producer name: a client
	// for another service's, or the admin of Order's own outbox.
	Outboxes map[string]eventsv1connect.EventAdminServiceClient
	// Routing is the saga's routing table: every route is listed in the
	// summary, an idle one with zeros.
	Routing events.Routing
	// OpenOrders counts the open orders by status.
	OpenOrders func(context.Context) ([]service.OpenOrders, error)
	// TraceURL links an order to its trace: {trace_id} is replaced with
	// the trace's id. Empty: no link.
	TraceURL string
	// Log takes each bulk action's line.
	Log *slog.Logger
}

// Server implements opsv1connect.OpsServiceHandler.
type Server struct {
	svc       *service.Service
	deps      Deps
	producers []string
	// wake tells RunBulkActions that an action was started.
	wake chan struct{}
}

var _ opsv1connect.OpsServiceHandler = (*Server)(nil)

// New returns the operator's service over svc and deps.
func New(svc *service.Service, deps Deps) *Server {
	producers := make([]string, 0, len(deps.Outboxes))
	for p := range deps.Outboxes {
		producers = append(producers, p)
	}
	slices.Sort(producers)
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{svc: svc, deps: deps, producers: producers, wake: make(chan struct{}, 1)}
}

// gather is the operator API's one fan-out: it calls call for each of in
// at once and returns the answers and errors in in's order.
func gather[I, T any](in []I, call func(I) (T, error)) ([]T, []error) {
	out := make([]T, len(in))
	errs := make([]error, len(in))
	var wg sync.WaitGroup
	for i, x := range in {
		wg.Go(func() { out[i], errs[i] = call(x) })
	}
	wg.Wait()
	return out, errs
}

// allFailed returns an error when every producer asked failed: there is
// no partial answer to give.
func allFailed(producers []string, errs []error) error {
	for _, err := range errs {
		if err == nil {
			return nil
		}
	}
	if len(producers) == 0 {
		return nil
	}
	return rpcerr.Dependency("the "+producers[0]+" service", errs[0])
}

// unavailableOf names a service that did not answer, with its error.
func unavailableOf(svc string, err error) *opsv1.Unavailable {
	return &opsv1.Unavailable{Service: svc, Error: rpcerr.Text(err)}
}
