// A whole checkout through @ordermesh/client, as a shop's backend or a
// script would write it: a merchant stocks a product, a customer saves a
// card and quotes shipping, the merchant raises the price, the customer's
// order is refused with the new total as an error detail and placed again
// at it, and the order is followed over a gRPC server stream until the
// saga has finished.
//
//   ORDERMESH_URL=http://localhost:8080 \
//   ORDERMESH_MERCHANT_TOKEN=$(make -s token ROLE=merchant USER=mia) \
//   ORDERMESH_CUSTOMER_TOKEN=$(make -s token ROLE=customer USER=cleo) \
//   ORDERMESH_CUSTOMER_ID=cleo node dist/checkout.js
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { bearerAuth, catalogv1, commonv1, inventoryv1, orderv1, paymentv1 } from "@ordermesh/client";

function env(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`set ${name}`);
  }
  return value;
}

const baseUrl = process.env.ORDERMESH_URL ?? "http://localhost:8080";
const userId = env("ORDERMESH_CUSTOMER_ID");
const merchant = [bearerAuth(env("ORDERMESH_MERCHANT_TOKEN"))];
const customer = [bearerAuth(() => env("ORDERMESH_CUSTOMER_TOKEN"))];

// The merchant's side: a product and its stock.
const shop = createConnectTransport({ baseUrl, httpVersion: "2", interceptors: merchant });
const sku = `TS-GRINDER-${Date.now()}`;
await createClient(catalogv1.CatalogService, shop).createProduct({
  sku,
  name: "Hand grinder",
  category: "grinders",
  weightGrams: 700,
  price: create(commonv1.MoneySchema, { amountMinor: 6900n, currency: "EUR" }),
});
await createClient(inventoryv1.InventoryService, shop).setStock({ sku, available: 5n });

// The customer's side, over Connect for calls and gRPC for the stream.
const connect = createConnectTransport({ baseUrl, httpVersion: "2", interceptors: customer });
const grpc = createGrpcTransport({ baseUrl, interceptors: customer });
const payments = createClient(paymentv1.PaymentService, connect);
const orders = createClient(orderv1.OrderService, connect);

const { paymentMethod } = await payments.createPaymentMethod({
  userId,
  cardNumber: "4242424242424242",
  expMonth: 12,
  expYear: new Date().getFullYear() + 2,
  cvc: "123",
});
const shippingAddress = create(commonv1.PostalAddressSchema, {
  recipient: "Ada Lovelace",
  line1: "12 Analytical Row",
  city: "London",
  postalCode: "N1 9GU",
  countryCode: "GB",
});
const lines = [{ sku, quantity: 1 }];
const quote = await orders.quoteShipping({ shippingAddress, lines });
const shipping = quote.amount?.amountMinor ?? 0n;

const seen = { amountMinor: 6900n + shipping, currency: "EUR" };

// Meanwhile the merchant raises the price: the total the customer saw is
// stale now.
await createClient(catalogv1.CatalogService, shop).updateProduct({
  sku,
  price: create(commonv1.MoneySchema, { amountMinor: 7400n, currency: "EUR" }),
});

const place = (expectedTotal: commonv1.Money | { amountMinor: bigint; currency: string }) =>
  orders.placeOrder({
    userId,
    idempotencyKey: `ts-example-${sku}-${expectedTotal.amountMinor}`, // one per attempt the customer agreed to
    source: { case: "lines", value: { lines } },
    shippingAddress,
    email: "ada@example.com",
    paymentMethodId: paymentMethod?.id ?? "",
    expectedTotal,
  });

let order: orderv1.Order | undefined;
try {
  ({ order } = await place(seen));
} catch (err) {
  // Every error is a ConnectError with a code and a message for people; a
  // changed total also carries the current one as a detail.
  const e = ConnectError.from(err);
  const [changed] = e.findDetails(orderv1.TotalChangedSchema);
  if (e.code !== Code.FailedPrecondition || !changed?.currentTotal) {
    throw e;
  }
  console.log(`total changed: ${e.rawMessage}`);
  // Show the customer the new total; when they agree, order at it.
  ({ order } = await place(changed.currentTotal));
}
if (!order) {
  throw new Error("PlaceOrder answered without an order");
}

// WatchOrder sends the order now and at every change until it is terminal.
let status = order.status;
for await (const update of createClient(orderv1.OrderService, grpc).watchOrder({ orderId: order.id })) {
  status = update.order?.status ?? status;
}
console.log(`checkout order=${order.id} status=${orderv1.OrderStatus[status]}`);
if (status !== orderv1.OrderStatus.CONFIRMED) {
  process.exitCode = 1;
}
