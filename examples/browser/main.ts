// A shop page in the browser: it lists the catalog with stock, places an
// order for the product a customer picks, and follows the order with
// WatchOrder's server stream until the saga has finished. It uses
// @ordermesh/client with @connectrpc/connect-web, calls the mesh from
// another origin (CORS), and is bundled with esbuild; nothing comes from
// a CDN.
//
// The page reads its settings from the address:
//   index.html?api=http://localhost:8080&user=cleo#token=<customer token>
// The token is in the fragment, which the browser never sends to a server.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { bearerAuth, catalogv1, commonv1, inventoryv1, orderv1, paymentv1 } from "@ordermesh/client";

const params = new URLSearchParams(location.search);
const baseUrl = params.get("api") ?? "http://localhost:8080";
const userId = params.get("user") ?? "";
const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";

// Reads go as Connect GETs, which the mesh marks cacheable.
const transport = createConnectTransport({
  baseUrl,
  useHttpGet: true,
  interceptors: token ? [bearerAuth(token)] : [],
});
const catalog = createClient(catalogv1.CatalogService, transport);
const inventory = createClient(inventoryv1.InventoryService, transport);
const payments = createClient(paymentv1.PaymentService, transport);
const orders = createClient(orderv1.OrderService, transport);

const shippingAddress = create(commonv1.PostalAddressSchema, {
  recipient: "Ada Lovelace",
  line1: "12 Analytical Row",
  city: "London",
  postalCode: "N1 9GU",
  countryCode: "GB",
});

function element<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) {
    throw new Error(`the page has no #${id}`);
  }
  return el as T;
}

function money(m: commonv1.Money | undefined): string {
  if (!m) {
    return "";
  }
  // Money is in minor units; two decimals covers the currencies the shop sells in.
  return new Intl.NumberFormat("en", { style: "currency", currency: m.currency }).format(Number(m.amountMinor) / 100);
}

// show puts an error on the page as a person reads it: ConnectError's
// message is the Connect code and the server's message, such as
// "[failed_precondition] only 0 of SKU-1 left".
function show(err: unknown): void {
  const e = ConnectError.from(err);
  // fetch rejects with a bare TypeError when the network fails or the
  // mesh does not let this page's origin call it (CORS_ALLOWED_ORIGINS).
  element("error").textContent =
    e.code === Code.Unknown && e.cause instanceof TypeError
      ? `cannot reach ${baseUrl}: the network failed, or the mesh does not allow calls from ${location.origin} (CORS)`
      : e.message;
  element("state").textContent = "Something went wrong.";
}

async function listProducts(): Promise<void> {
  const { products } = await catalog.listProducts({ pageSize: 50 });
  const stock = new Map<string, bigint>();
  if (products.length > 0) {
    const { stocks } = await inventory.batchGetStock({ skus: products.map((p) => p.sku) });
    for (const s of stocks) {
      stock.set(s.sku, s.available);
    }
  }
  const list = element<HTMLUListElement>("products");
  list.replaceChildren();
  for (const p of products) {
    const available = stock.get(p.sku) ?? 0n;
    const li = document.createElement("li");
    li.dataset.sku = p.sku;
    li.textContent = `${p.name} (${p.sku}), ${money(p.price)}, ${available} in stock`;
    const buy = document.createElement("button");
    buy.textContent = "Buy";
    buy.disabled = available <= 0n;
    buy.addEventListener("click", () => {
      for (const b of list.querySelectorAll("button")) {
        b.disabled = true;
      }
      order(p).catch(show);
    });
    li.append(buy);
    list.append(li);
  }
  element("state").textContent = products.length === 0 ? "The catalog is empty." : `${products.length} products`;
}

async function order(p: catalogv1.Product): Promise<void> {
  element("state").textContent = `Ordering ${p.name}…`;
  const lines = [{ sku: p.sku, quantity: 1 }];
  const [{ paymentMethod }, { amount: shipping }] = await Promise.all([
    payments.createPaymentMethod({
      userId,
      cardNumber: "4242424242424242",
      expMonth: 12,
      expYear: new Date().getFullYear() + 2,
      cvc: "123",
    }),
    orders.quoteShipping({ shippingAddress, lines }),
  ]);
  const { order } = await orders.placeOrder({
    userId,
    // One key per order the customer agreed to: a retry of this click
    // cannot order twice.
    idempotencyKey: crypto.randomUUID(),
    source: { case: "lines", value: { lines } },
    shippingAddress,
    email: "ada@example.com",
    paymentMethodId: paymentMethod?.id ?? "",
    expectedTotal: {
      amountMinor: (p.price?.amountMinor ?? 0n) + (shipping?.amountMinor ?? 0n),
      currency: p.price?.currency ?? "",
    },
  });
  if (!order) {
    throw new Error("PlaceOrder answered without an order");
  }
  element("order").hidden = false;
  element("order-id").textContent = order.id;
  element("total").textContent = money(order.total);
  element("state").textContent = "Following the order…";
  // WatchOrder sends the order now and at every change, and ends when the
  // order is terminal.
  const history = element<HTMLOListElement>("history");
  const record = (status: orderv1.OrderStatus) => {
    const name = orderv1.OrderStatus[status];
    element("status").textContent = name;
    if (history.lastElementChild?.textContent !== name) {
      const li = document.createElement("li");
      li.textContent = name;
      history.append(li);
    }
  };
  // The order as placed, then every change: the stream's first message is
  // the order as it is when the stream starts, which may be later already.
  let status = order.status;
  record(status);
  for await (const update of orders.watchOrder({ orderId: order.id })) {
    status = update.order?.status ?? status;
    record(status);
  }
  element("state").textContent = `Order ${orderv1.OrderStatus[status].toLowerCase()}.`;
  document.body.dataset.done = orderv1.OrderStatus[status];
}

listProducts().catch(show);
