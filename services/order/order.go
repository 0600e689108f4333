// Package order assembles the Order service. Its contract and access
// policies are settled; the checkout saga behind them is not built yet, so
// every RPC answers Unimplemented after authentication and validation.
package order

import (
	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/gen/go/ordermesh/order/v1/orderv1connect"
	"github.com/ordermesh/ordermesh/services/platform/auth"
	"github.com/ordermesh/ordermesh/services/platform/server"
)

// Name is the service's short name, used for its database and logs.
const Name = "order"

// Policies says who may call each RPC. Customers act on their own orders;
// shipping is the merchant's.
var Policies = auth.Policies{
	orderv1connect.OrderServicePlaceOrderProcedure:    auth.Allow(auth.RoleCustomer),
	orderv1connect.OrderServiceGetOrderProcedure:      auth.Allow(auth.RoleCustomer, auth.RoleMerchant, auth.RoleService),
	orderv1connect.OrderServiceListOrdersProcedure:    auth.Allow(auth.RoleCustomer, auth.RoleMerchant, auth.RoleService),
	orderv1connect.OrderServiceCancelOrderProcedure:   auth.Allow(auth.RoleCustomer, auth.RoleMerchant),
	orderv1connect.OrderServiceWatchOrderProcedure:    auth.Allow(auth.RoleCustomer, auth.RoleMerchant),
	orderv1connect.OrderServiceQuoteShippingProcedure: auth.Public,
	orderv1connect.OrderServiceShipOrderProcedure:     auth.Allow(auth.RoleMerchant),
}

// Routes returns what the server mounts.
func Routes(opts ...connect.HandlerOption) []server.Route {
	path, h := orderv1connect.NewOrderServiceHandler(orderv1connect.UnimplementedOrderServiceHandler{}, opts...)
	return []server.Route{{Service: orderv1connect.OrderServiceName, Path: path, Handler: h}}
}
