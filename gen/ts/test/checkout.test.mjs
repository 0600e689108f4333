// One whole checkout through the generated TypeScript client: a merchant
// stocks a product, a customer tokenises a card, places an order and
// watches it until it is CONFIRMED. TestTypeScriptClient runs it against a
// fresh mesh; `make checkout-ts` runs it against `make run`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { catalogv1, commonv1, inventoryv1, orderv1, paymentv1 } from "../dist/index.js";

const baseUrl = process.env.ORDERMESH_URL;
const merchant = process.env.ORDERMESH_MERCHANT_TOKEN;
const customer = process.env.ORDERMESH_CUSTOMER_TOKEN;
const userId = process.env.ORDERMESH_CUSTOMER_ID;
assert.ok(baseUrl && merchant && customer && userId, "ORDERMESH_* must be set");

const auth = (token) => ({ headers: { Authorization: `Bearer ${token}` } });

test("checkout from the TypeScript client", async () => {
  const transport = createConnectTransport({ baseUrl, httpVersion: "2" });
  const catalog = createClient(catalogv1.CatalogService, transport);
  const inventory = createClient(inventoryv1.InventoryService, transport);
  const payments = createClient(paymentv1.PaymentService, transport);
  const orders = createClient(orderv1.OrderService, transport);
  // Watching over gRPC: server streams work on every protocol.
  const watcher = createClient(orderv1.OrderService, createGrpcTransport({ baseUrl }));

  const sku = `TS-KETTLE-${Date.now()}`;
  const price = create(commonv1.MoneySchema, { amountMinor: 2500n, currency: "EUR" });
  await catalog.createProduct({ sku, name: "Gooseneck kettle", category: "brewing", weightGrams: 900, price }, auth(merchant));
  await inventory.setStock({ sku, available: 3n }, auth(merchant));

  const { paymentMethod } = await payments.createPaymentMethod(
    { userId, cardNumber: "4242424242424242", expMonth: 12, expYear: new Date().getFullYear() + 2, cvc: "123" },
    auth(customer),
  );
  const shippingAddress = { recipient: "Grace Hopper", line1: "1 Compiler Street", city: "Munich", postalCode: "80331", countryCode: "DE" };
  const lines = [{ sku, quantity: 2 }];
  const quote = await orders.quoteShipping({ shippingAddress, lines });
  const expectedTotal = { amountMinor: 2n * 2500n + quote.amount.amountMinor, currency: "EUR" };

  const { order } = await orders.placeOrder(
    {
      userId,
      idempotencyKey: `ts-checkout-${Date.now()}`,
      source: { case: "lines", value: { lines } },
      shippingAddress,
      email: "grace@example.com",
      paymentMethodId: paymentMethod.id,
      expectedTotal,
    },
    auth(customer),
  );
  assert.equal(order.status, orderv1.OrderStatus.PENDING);
  assert.equal(order.total.amountMinor, expectedTotal.amountMinor);

  let last;
  for await (const res of watcher.watchOrder({ orderId: order.id }, auth(customer))) {
    last = res.order;
  }
  assert.equal(last.status, orderv1.OrderStatus.CONFIRMED, `ended ${orderv1.OrderStatus[last.status]}`);
  assert.ok(last.shipment?.bookingId, "booked with the carrier");
  assert.deepEqual(
    last.history.map((h) => orderv1.OrderStatus[h.status]),
    ["PENDING", "RESERVED", "CONFIRMED"],
  );
});
