// Package inventory assembles the Inventory service. Its contract and
// access policies are settled; the stock ledger behind them is not built
// yet, so every RPC answers Unimplemented after authentication and
// validation.
package inventory

import (
	"connectrpc.com/connect"

	"github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1/inventoryv1connect"
	"github.com/ordermesh/ordermesh/services/platform/auth"
	"github.com/ordermesh/ordermesh/services/platform/server"
)

// Name is the service's short name, used for its database and logs.
const Name = "inventory"

// Policies says who may call each RPC: stock levels are public, changing
// stock is the merchant's, and reservations are internal.
var Policies = auth.Policies{
	inventoryv1connect.InventoryServiceGetStockProcedure:      auth.Public,
	inventoryv1connect.InventoryServiceBatchGetStockProcedure: auth.Public,
	inventoryv1connect.InventoryServiceSetStockProcedure:      auth.Allow(auth.RoleMerchant),
	inventoryv1connect.InventoryServiceAdjustStockProcedure:   auth.Allow(auth.RoleMerchant),
	inventoryv1connect.InventoryServiceReserveProcedure:       auth.Allow(auth.RoleService),
	inventoryv1connect.InventoryServiceReleaseProcedure:       auth.Allow(auth.RoleService),
}

// Routes returns what the server mounts.
func Routes(opts ...connect.HandlerOption) []server.Route {
	path, h := inventoryv1connect.NewInventoryServiceHandler(inventoryv1connect.UnimplementedInventoryServiceHandler{}, opts...)
	return []server.Route{{Service: inventoryv1connect.InventoryServiceName, Path: path, Handler: h}}
}
