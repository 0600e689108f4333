// Package order assembles the Order service: the order RPCs, the
// operator's OpsService (Order holds the sagas' state and already calls
// the other services), the saga
// consumers for stock and payment events, the expiry job, and the
// LISTEN/NOTIFY fan-out behind WatchOrder.
package order

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"

	"github.com/ordermesh/ordermesh/gen/go/ordermesh/cart/v1/cartv1connect"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/catalog/v1/catalogv1connect"
	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1/eventsv1connect"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1/opsv1connect"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1/orderv1connect"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1/paymentv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/component"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/rpcclient"
	"github.com/ordermesh/ordermesh/internal/platform/server"
	"github.com/ordermesh/ordermesh/services/order/internal/handler"
	"github.com/ordermesh/ordermesh/services/order/internal/ops"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
	"github.com/ordermesh/ordermesh/services/order/internal/store"
	ordersql "github.com/ordermesh/ordermesh/sqlc/order"
)

// Name is the service's short name, used for its database and logs.
const Name = "order"

// Config is Order's own configuration.
type Config = service.Config

// Component describes Order to the composition root. It prices through
// Catalog, reads carts, asks Payment whose a payment method is, and reads
// reservations (and the other outboxes, at the same addresses) for
// OpsService. Customers act on their own orders (the handler checks
// ownership); merchants see all and ship.
var Component = component.Component{
	Name: Name,
	Contract: component.Contract{
		Serves: []string{orderv1connect.OrderServiceName, opsv1connect.OpsServiceName},
		Calls: []string{
			catalogv1connect.CatalogServiceName, cartv1connect.CartServiceName,
			paymentv1connect.PaymentServiceName, inventoryv1connect.InventoryServiceName,
		},
		Publishes: []eventsv1.EventType{eventsv1.EventType_EVENT_TYPE_ORDER_PLACED, eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED, eventsv1.EventType_EVENT_TYPE_ORDER_CANCELLED},
		Consumes:  []eventsv1.EventType{eventsv1.EventType_EVENT_TYPE_STOCK_RESERVED, eventsv1.EventType_EVENT_TYPE_STOCK_REJECTED, eventsv1.EventType_EVENT_TYPE_PAYMENT_AUTHORIZED, eventsv1.EventType_EVENT_TYPE_PAYMENT_DECLINED},
	},
	Migrations: ordersql.Migrations,
	Policies: auth.Policies{
		orderv1connect.OrderServicePlaceOrderProcedure:    auth.Allow(auth.RoleCustomer),
		orderv1connect.OrderServiceGetOrderProcedure:      auth.Allow(auth.RoleCustomer, auth.RoleMerchant, auth.RoleService),
		orderv1connect.OrderServiceListOrdersProcedure:    auth.Allow(auth.RoleCustomer, auth.RoleMerchant, auth.RoleService),
		orderv1connect.OrderServiceCancelOrderProcedure:   auth.Allow(auth.RoleCustomer, auth.RoleMerchant),
		orderv1connect.OrderServiceWatchOrderProcedure:    auth.Allow(auth.RoleCustomer, auth.RoleMerchant, auth.RoleService),
		orderv1connect.OrderServiceQuoteShippingProcedure: auth.Public,
		orderv1connect.OrderServiceShipOrderProcedure:     auth.Allow(auth.RoleMerchant),

		opsv1connect.OpsServiceListOrdersProcedure:              operators,
		opsv1connect.OpsServiceGetSagaTimelineProcedure:         operators,
		opsv1connect.OpsServiceCancelOrderProcedure:             operators,
		opsv1connect.OpsServiceExpireNowProcedure:               operators,
		opsv1connect.OpsServiceListParkedDeliveriesProcedure:    operators,
		opsv1connect.OpsServiceRequeueParkedDeliveriesProcedure: operators,
		opsv1connect.OpsServiceGetSummaryProcedure:              operators,
		opsv1connect.OpsServiceGetSalesFiguresProcedure:         operators,
		opsv1connect.OpsServiceStartBulkActionProcedure:         operators,
		opsv1connect.OpsServiceGetBulkActionProcedure:           operators,
		opsv1connect.OpsServiceStopBulkActionProcedure:          operators,
		opsv1connect.OpsServiceListBulkActionsProcedure:         operators,
	},
	Config: &Config{},
	Build:  build,
}

// operators may call OpsService: merchants, and services (for scripts that
// run with a service token).
var operators = auth.Allow(auth.RoleMerchant, auth.RoleService)

// Clients are the services Order calls.
type Clients struct {
	Catalog  catalogv1connect.CatalogServiceClient
	Cart     cartv1connect.CartServiceClient
	Payments paymentv1connect.PaymentServiceClient
	// Inventory and Outboxes are what OpsService reads: reservations, and
	// the event admins of the other producers, by name.
	Inventory inventoryv1connect.InventoryServiceClient
	Outboxes  map[string]eventsv1connect.EventAdminServiceClient
}

func build(d component.Deps) (component.Parts, error) {
	cfg, log, tp, pool, outbox := *d.Config.(*Config), d.Log, d.Tracing, d.Pool, d.Outbox
	cfg.Deadline = d.Saga.OrderDeadline
	if cfg.TraceURL != "" && !strings.Contains(cfg.TraceURL, "{trace_id}") {
		return component.Parts{}, fmt.Errorf("OPS_TRACE_URL=%q has no {trace_id} for the trace's id to go in", cfg.TraceURL)
	}
	clients := Clients{
		Catalog:   rpcclient.New(d.Clients, catalogv1connect.NewCatalogServiceClient, d.Serving(catalogv1connect.CatalogServiceName)),
		Cart:      rpcclient.New(d.Clients, cartv1connect.NewCartServiceClient, d.Serving(cartv1connect.CartServiceName)),
		Payments:  rpcclient.New(d.Clients, paymentv1connect.NewPaymentServiceClient, d.Serving(paymentv1connect.PaymentServiceName)),
		Inventory: rpcclient.New(d.Clients, inventoryv1connect.NewInventoryServiceClient, d.Serving(inventoryv1connect.InventoryServiceName)),
		Outboxes:  map[string]eventsv1connect.EventAdminServiceClient{},
	}
	for _, producer := range outbox.Routing().Producers() {
		if producer == Name {
			continue // Order's own outbox is local
		}
		if u, ok := d.URL(producer); ok {
			clients.Outboxes[producer] = rpcclient.New(d.Clients, eventsv1connect.NewEventAdminServiceClient, u+events.SinkPath(producer))
		}
	}
	st := store.New(pool, outbox)
	svc := service.New(st, catalogClient{clients.Catalog}, cartClient{clients.Cart}, newPaymentMethods(clients.Payments, cfg.MethodCache), cfg)
	svc.Tracer = tp.Tracer(service.Instrumentation)
	om, err := newOrderMetrics(d.Metrics, cfg.Deadline, st.OpenOrders)
	if err != nil {
		return component.Parts{}, err
	}
	svc.Finished = func(ctx context.Context, f service.Finish) {
		om.finished(ctx, f)
		log.InfoContext(ctx, "order "+string(f.Status), slog.String("order_id", f.OrderID), slog.String("status", string(f.Status)),
			slog.String("reason", string(f.Reason)), slog.String("detail", f.Detail), slog.Float64("age_seconds", f.Took.Seconds()))
	}
	watchers := store.NewWatchers(pool, log)
	path, h := orderv1connect.NewOrderServiceHandler(handler.New(svc, watchers), d.Handler...)
	outboxes := map[string]eventsv1connect.EventAdminServiceClient{Name: events.NewAdmin(pool, log)}
	maps.Copy(outboxes, clients.Outboxes)
	opsServer := ops.New(svc, ops.Deps{
		Inventory: clients.Inventory, Payments: clients.Payments, Outboxes: outboxes, Routing: outbox.Routing(), OpenOrders: st.OpenOrders,
		TraceURL: cfg.TraceURL, Log: log,
	})
	opsPath, opsHandler := opsv1connect.NewOpsServiceHandler(opsServer, d.Handler...)
	return component.Parts{
		Routes: []server.Route{
			{Service: orderv1connect.OrderServiceName, Path: path, Handler: h},
			{Service: opsv1connect.OpsServiceName, Path: opsPath, Handler: opsHandler},
		},
		Consumer: Consumer(st, svc),
		Workers: []component.Worker{
			watchers.Run,
			opsServer.RunBulkActions,
			component.Every(log, "expired orders cancelled", cfg.ExpiryInterval, func(ctx context.Context) (int, error) {
				return svc.ExpireOrders(ctx, 100)
			}),
		},
	}, nil
}

// Consumer is Order's saga, applied a delivered batch at a time: the
// batch's orders are locked with one statement, each event is decided by
// its handler, and what they decided is written with one statement per
// table (store.Stage).
func Consumer(st *store.Store, svc *service.Service) *events.Consumer {
	return events.Batched(st.Stage, map[eventsv1.EventType]func(context.Context, service.Tx, *eventsv1.Envelope) error{
		eventsv1.EventType_EVENT_TYPE_STOCK_RESERVED:     svc.OnStockReserved,
		eventsv1.EventType_EVENT_TYPE_STOCK_REJECTED:     svc.OnStockRejected,
		eventsv1.EventType_EVENT_TYPE_PAYMENT_AUTHORIZED: svc.OnPaymentAuthorized,
		eventsv1.EventType_EVENT_TYPE_PAYMENT_DECLINED:   svc.OnPaymentDeclined,
	})
}
