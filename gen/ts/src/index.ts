// @ordermesh/client: the generated messages and service descriptors of the
// ordermesh API, one namespace per Protobuf package, and a bearer-token
// interceptor. Use them with Connect-ES:
//   createClient(catalogv1.CatalogService, transport).
export * as catalogv1 from "./gen/ordermesh/catalog/v1/catalog_pb.js";
export * as cartv1 from "./gen/ordermesh/cart/v1/cart_pb.js";
export * as orderv1 from "./gen/ordermesh/order/v1/order_pb.js";
export * as inventoryv1 from "./gen/ordermesh/inventory/v1/inventory_pb.js";
export * as paymentv1 from "./gen/ordermesh/payment/v1/payment_pb.js";
export * as commonv1 from "./common.js";
export * as eventsv1 from "./gen/ordermesh/events/v1/events_pb.js";
export * as deliveryv1 from "./gen/ordermesh/events/v1/delivery_pb.js";
export * as opsv1 from "./gen/ordermesh/ops/v1/ops_pb.js";
export { bearerAuth, type TokenSource } from "./auth.js";
