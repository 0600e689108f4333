// Package inventory assembles the Inventory service: stock RPCs, the saga
// consumers for OrderPlaced, OrderConfirmed and OrderCancelled, and the job
// that expires stale reservations.
package inventory

import (
	"context"
	"log/slog"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/component"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/server"
	"github.com/ordermesh/ordermesh/services/inventory/internal/handler"
	"github.com/ordermesh/ordermesh/services/inventory/internal/service"
	"github.com/ordermesh/ordermesh/services/inventory/internal/store"
	inventorysql "github.com/ordermesh/ordermesh/sqlc/inventory"
)

// Name is the service's short name, used for its database and logs.
const Name = "inventory"

// Config is Inventory's own configuration.
type Config = service.Config

// The reservation modes of Config.Mode.
const (
	ModeBatch = service.ModeBatch // the hot path: many orders per transaction
	ModeNaive = service.ModeNaive // one transaction per order, the benchmark baseline
)

// Component describes Inventory to the composition root: it calls
// nobody, reserves on OrderPlaced, sells on OrderConfirmed and releases on
// OrderCancelled. Stock levels are public, changing stock is the
// merchant's, and reservations are internal.
var Component = component.Component{
	Name: Name,
	Contract: component.Contract{
		Serves:    []string{inventoryv1connect.InventoryServiceName},
		Publishes: []eventsv1.EventType{eventsv1.EventType_EVENT_TYPE_STOCK_RESERVED, eventsv1.EventType_EVENT_TYPE_STOCK_REJECTED, eventsv1.EventType_EVENT_TYPE_STOCK_RELEASED},
		Consumes:  []eventsv1.EventType{eventsv1.EventType_EVENT_TYPE_ORDER_PLACED, eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED, eventsv1.EventType_EVENT_TYPE_ORDER_CANCELLED},
	},
	Migrations: inventorysql.Migrations,
	Policies: auth.Policies{
		inventoryv1connect.InventoryServiceGetStockProcedure:       auth.Public,
		inventoryv1connect.InventoryServiceBatchGetStockProcedure:  auth.Public,
		inventoryv1connect.InventoryServiceSetStockProcedure:       auth.Allow(auth.RoleMerchant),
		inventoryv1connect.InventoryServiceAdjustStockProcedure:    auth.Allow(auth.RoleMerchant),
		inventoryv1connect.InventoryServiceReserveProcedure:        auth.Allow(auth.RoleService),
		inventoryv1connect.InventoryServiceReleaseProcedure:        auth.Allow(auth.RoleService),
		inventoryv1connect.InventoryServiceGetReservationProcedure: auth.Allow(auth.RoleMerchant, auth.RoleService),
	},
	Config: &Config{},
	Build:  build,
}

func build(d component.Deps) (component.Parts, error) {
	cfg, log, m, tp := *d.Config.(*Config), d.Log, d.Metrics, d.Tracing
	cfg.OrderDeadline = d.Saga.OrderDeadline // it bounds the holds OrderPlaced asks for
	st := store.New(d.Pool, d.Outbox)
	svc := service.New(st, cfg, log)
	svc.Released = func(ctx context.Context, orderID string, units int64) {
		m.Compensations.WithLabelValues("stock_released").Inc()
		log.InfoContext(ctx, "stock released", slog.String("order_id", orderID), slog.Int64("units", units))
	}
	if b := svc.Batcher(); b != nil {
		b.Tracer = tp.Tracer(service.Instrumentation)
		if err := observeHotPath(m, b, cfg.QueueMax); err != nil {
			return component.Parts{}, err
		}
	}
	path, h := inventoryv1connect.NewInventoryServiceHandler(handler.New(svc), d.Handler...)
	parts := component.Parts{
		Routes: []server.Route{{Service: inventoryv1connect.InventoryServiceName, Path: path, Handler: h}},
		// Settling a batch (selling, releasing) locks its stock rows in
		// SKU order and moves each SKU's units with one statement.
		Consumer: events.Batched(st.Stage, map[eventsv1.EventType]func(context.Context, service.Tx, *eventsv1.Envelope) error{
			eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED: svc.OnOrderConfirmed,
			eventsv1.EventType_EVENT_TYPE_ORDER_CANCELLED: svc.OnOrderCancelled,
		}),
		// The naive mode's one-order-at-a-time reservation, the baseline
		// the hot path is measured against.
		Handlers: map[eventsv1.EventType]events.Handler{
			eventsv1.EventType_EVENT_TYPE_ORDER_PLACED: events.InTx(st.Bind, svc.OnOrderPlaced),
		},
		// Selling and releasing update the stock rows every order of a
		// SKU shares.
		SharedRows: true,
		Workers: []component.Worker{
			component.Every(log, "expired reservations released", cfg.ExpiryInterval, func(ctx context.Context) (int, error) {
				return svc.ExpireReservations(ctx, 100)
			}),
		},
	}
	if b := svc.Batcher(); b != nil {
		// OrderPlaced joins the reservation batches; the batch writes its
		// inbox row and its outcome.
		parts.Direct = map[eventsv1.EventType]events.DirectHandler{eventsv1.EventType_EVENT_TYPE_ORDER_PLACED: svc.ReserveFromEvent}
		parts.Workers = append(parts.Workers, b.Run)
	} else {
		// A naive batch reserves some orders and settles others: lock all
		// their stock rows first, in one statement and in SKU order.
		parts.Prepare = events.PrepareInTx(st.Bind, svc.LockBatch)
	}
	return parts, nil
}
