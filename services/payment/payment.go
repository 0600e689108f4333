// Package payment assembles the Payment service. Its contract and access
// policies are settled; the gateway simulator behind them is not built yet,
// so every RPC answers Unimplemented after authentication and validation.
package payment

import (
	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/gen/go/ordermesh/payment/v1/paymentv1connect"
	"github.com/ordermesh/ordermesh/services/platform/auth"
	"github.com/ordermesh/ordermesh/services/platform/server"
)

// Name is the service's short name, used for its database and logs.
const Name = "payment"

// Policies says who may call each RPC.
var Policies = auth.Policies{
	paymentv1connect.PaymentServiceCreatePaymentMethodProcedure: auth.Allow(auth.RoleCustomer),
	paymentv1connect.PaymentServiceGetPaymentProcedure:          auth.Allow(auth.RoleCustomer, auth.RoleMerchant, auth.RoleService),
	paymentv1connect.PaymentServiceListPaymentsProcedure:        auth.Allow(auth.RoleCustomer, auth.RoleMerchant, auth.RoleService),
}

// Routes returns what the server mounts.
func Routes(opts ...connect.HandlerOption) []server.Route {
	path, h := paymentv1connect.NewPaymentServiceHandler(paymentv1connect.UnimplementedPaymentServiceHandler{}, opts...)
	return []server.Route{{Service: paymentv1connect.PaymentServiceName, Path: path, Handler: h}}
}
