// Package payment assembles the Payment service: payment RPCs, the
// gateway simulator, and the saga consumers that authorise on
// StockReserved, capture on OrderConfirmed and void or refund on
// OrderCancelled.
package payment

import (
	"context"
	"log/slog"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	"github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1/paymentv1connect"
	"github.com/ordermesh/ordermesh/internal/platform/auth"
	"github.com/ordermesh/ordermesh/internal/platform/component"
	"github.com/ordermesh/ordermesh/internal/platform/events"
	"github.com/ordermesh/ordermesh/internal/platform/server"
	"github.com/ordermesh/ordermesh/services/payment/internal/handler"
	"github.com/ordermesh/ordermesh/services/payment/internal/service"
	"github.com/ordermesh/ordermesh/services/payment/internal/store"
	paymentsql "github.com/ordermesh/ordermesh/sqlc/payment"
)

// Name is the service's short name, used for its database and logs.
const Name = "payment"

// Component describes Payment to the composition root: it calls nobody,
// authorises on StockReserved, captures on OrderConfirmed and voids or
// refunds on OrderCancelled.
var Component = component.Component{
	Name: Name,
	Contract: component.Contract{
		Serves:    []string{paymentv1connect.PaymentServiceName},
		Publishes: []eventsv1.EventType{eventsv1.EventType_EVENT_TYPE_PAYMENT_AUTHORIZED, eventsv1.EventType_EVENT_TYPE_PAYMENT_DECLINED, eventsv1.EventType_EVENT_TYPE_PAYMENT_REFUNDED},
		Consumes:  []eventsv1.EventType{eventsv1.EventType_EVENT_TYPE_STOCK_RESERVED, eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED, eventsv1.EventType_EVENT_TYPE_ORDER_CANCELLED},
	},
	Migrations: paymentsql.Migrations,
	Policies: auth.Policies{
		paymentv1connect.PaymentServiceCreatePaymentMethodProcedure: auth.Allow(auth.RoleCustomer),
		paymentv1connect.PaymentServiceGetPaymentMethodProcedure:    auth.Allow(auth.RoleCustomer, auth.RoleMerchant, auth.RoleService),
		paymentv1connect.PaymentServiceGetPaymentProcedure:          auth.Allow(auth.RoleCustomer, auth.RoleMerchant, auth.RoleService),
		paymentv1connect.PaymentServiceListPaymentsProcedure:        auth.Allow(auth.RoleCustomer, auth.RoleMerchant, auth.RoleService),
	},
	Build: build,
}

func build(d component.Deps) (component.Parts, error) {
	log, m := d.Log, d.Metrics
	st := store.New(d.Pool, d.Outbox)
	svc := service.New(st, service.NewGateway(st.CountAttempt), log)
	svc.Compensated = func(ctx context.Context, p service.Payment, kind string) {
		m.Compensations.WithLabelValues(map[string]string{"void": "payment_voided", "refund": "payment_refunded"}[kind]).Inc()
		log.InfoContext(ctx, "payment "+map[string]string{"void": "voided", "refund": "refunded"}[kind], slog.String("order_id", p.OrderID),
			slog.String("payment_id", p.ID), slog.Int64("amount_minor", p.Amount.AmountMinor), slog.String("currency", p.Amount.Currency))
	}
	path, h := paymentv1connect.NewPaymentServiceHandler(handler.New(svc), d.Handler...)
	return component.Parts{
		Routes:   []server.Route{{Service: paymentv1connect.PaymentServiceName, Path: path, Handler: h}},
		Consumer: Consumer(st, svc),
	}, nil
}

// Consumer is Payment's saga, applied a delivered batch at a time: the
// batch's payments are locked with one statement, each event is decided
// by its handler, and what they decided is written with one statement per
// table (store.Stage).
func Consumer(st *store.Store, svc *service.Service) *events.Consumer {
	return events.Batched(st.Stage, map[eventsv1.EventType]func(context.Context, service.Tx, *eventsv1.Envelope) error{
		eventsv1.EventType_EVENT_TYPE_STOCK_RESERVED:  svc.OnStockReserved,
		eventsv1.EventType_EVENT_TYPE_ORDER_CONFIRMED: svc.OnOrderConfirmed,
		eventsv1.EventType_EVENT_TYPE_ORDER_CANCELLED: svc.OnOrderCancelled,
	})
}
