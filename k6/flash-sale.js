// k6 flash sale against ordermesh: buyers race for UNITS units of one
// product through the full checkout saga, speaking Connect JSON over HTTP
// to `make run` (or any address). The same scenario as `make flash-sale`,
// for teams that run k6.
//
//   make k6                                   # the default sale below
//   k6 run -e JWT_SIGNING_KEY=ordermesh-dev-signing-key-not-for-production k6/flash-sale.js
//   k6 run --vus 20 --duration 10s -e JWT_SIGNING_KEY=... k6/flash-sale.js
//   k6 run --vus 10 --iterations 100 -e JWT_SIGNING_KEY=... k6/flash-sale.js
//
// Every iteration is a new buyer with a card of their own and a unique
// idempotency key, so the script's own scenario and k6's --vus/--duration
// and --iterations modes all work, and several runs can share a mesh.
//
// Options (-e, or the environment): ORDERMESH_URL, as every ordermesh
// tool reads it (BASE_URL also works; default http://localhost:8080), BUYERS (2000: the
// iterations of the script's scenario), VUS (200: how many buy at once),
// UNITS (10000), MAX_QUANTITY (10), POLL_MS (100), JWT_SIGNING_KEY (the
// mesh's HS256 key; tokens are minted here, with the issuer and audience
// "ordermesh").
//
// A buyer's check passes when the saga ends CONFIRMED, or REJECTED as out
// of stock once the units are gone; the run fails below 99% passed checks,
// and a failed check prints its Connect code and message. The teardown
// waits for the saga to settle, reads the product's stock from Inventory
// and prints one line:
//
//   flashsale units=10000 sold=10000 available=0 reserved=0 sellout_s=4.21 oversold=0
//
// sellout_s runs from the end of setup to the stock's last change, as the
// mesh recorded it, when the units sold out ("none" when they did not).
// oversold above zero fails the run.
import http from "k6/http";
import crypto from "k6/crypto";
import encoding from "k6/encoding";
import exec from "k6/execution";
import { check, sleep } from "k6";
import { Counter, Trend } from "k6/metrics";

const BASE = __ENV.ORDERMESH_URL || __ENV.BASE_URL || "http://localhost:8080";
const BUYERS = parseInt(__ENV.BUYERS || "2000", 10);
const VUS = Math.min(parseInt(__ENV.VUS || "200", 10), BUYERS);
const UNITS = parseInt(__ENV.UNITS || "10000", 10);
const MAX_QUANTITY = parseInt(__ENV.MAX_QUANTITY || "10", 10);
const POLL_MS = parseInt(__ENV.POLL_MS || "100", 10);
const KEY = __ENV.JWT_SIGNING_KEY;

const sold = new Counter("flashsale_units_sold");
const rejected = new Counter("flashsale_rejected");
const oversold = new Counter("flashsale_oversold");
const checkout = new Trend("flashsale_checkout_ms", true);

export const options = {
  scenarios: {
    flash: { executor: "shared-iterations", vus: VUS, iterations: BUYERS, maxDuration: "10m" },
  },
  thresholds: {
    checks: ["rate>=0.99"],
    flashsale_oversold: ["count==0"],
  },
  setupTimeout: "5m",
  teardownTimeout: "3m",
};

function token(sub, role) {
  if (!KEY) throw new Error("set -e JWT_SIGNING_KEY to the mesh's signing key (make run's is in the Makefile)");
  const enc = (o) => encoding.b64encode(JSON.stringify(o), "rawurl");
  const now = Math.floor(Date.now() / 1000);
  const body = `${enc({ alg: "HS256", typ: "JWT" })}.${enc({ sub, roles: [role], iss: "ordermesh", aud: ["ordermesh"], iat: now, nbf: now - 60, exp: now + 3600 })}`;
  return `${body}.${crypto.hmac("sha256", KEY, body, "base64rawurl")}`;
}

// call makes one Connect unary call. It returns the HTTP status, the
// decoded answer on success, and on failure a line a person reads: the
// Connect code and message, or what went wrong on the network.
function call(service, method, body, tok) {
  const headers = { "Content-Type": "application/json", "Connect-Protocol-Version": "1" };
  if (tok) headers.Authorization = `Bearer ${tok}`;
  const res = http.post(`${BASE}/ordermesh.${service}/${method}`, JSON.stringify(body), { headers, tags: { rpc: method } });
  if (res.status === 200) {
    return { status: 200, body: res.json() };
  }
  let why;
  if (res.status === 0) {
    why = `network: ${res.error}`;
  } else {
    try {
      const e = JSON.parse(res.body);
      why = `${e.code}: ${e.message}`;
    } catch (_) {
      why = `HTTP ${res.status}: ${String(res.body).slice(0, 200)}`;
    }
  }
  return { status: res.status, error: `${method} ${why}` };
}

// expect records a check and, when it fails, prints why.
function expect(name, ok, why) {
  if (!check(null, { [name]: () => ok })) {
    console.error(`${name} failed: ${why}`);
  }
  return ok;
}

const ADDRESS = { recipient: "Flash Buyer", line1: "1 Rush Lane", city: "Berlin", postalCode: "10115", countryCode: "DE" };

function must(r) {
  if (r.status !== 200) throw new Error(r.error);
  return r.body;
}

export function setup() {
  const merchant = token("k6-merchant", "merchant");
  const sku = `K6-FLASH-${Date.now()}`;
  const price = 1999;
  must(call("catalog.v1.CatalogService", "CreateProduct",
    { sku, name: `k6 flash sale ${sku}`, category: "flash-sale", weightGrams: 100, price: { amountMinor: price, currency: "EUR" } }, merchant));
  must(call("inventory.v1.InventoryService", "SetStock", { sku, available: UNITS }, merchant));
  const totals = {};
  for (let q = 1; q <= MAX_QUANTITY; q++) {
    const quote = must(call("order.v1.OrderService", "QuoteShipping", { shippingAddress: ADDRESS, lines: [{ sku, quantity: q }] }));
    totals[q] = q * price + parseInt(quote.amount.amountMinor, 10);
  }
  return { sku, totals, start: Date.now() };
}

export default function (data) {
  // One buyer per iteration: the VU's id is unique in the test and its
  // iteration count unique to the VU, whatever the executor.
  const buyer = `${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  const user = `k6-${data.sku}-${buyer}`;
  const tok = token(user, "customer");
  const pm = call("payment.v1.PaymentService", "CreatePaymentMethod",
    { userId: user, cardNumber: "4242424242424242", expMonth: 12, expYear: new Date().getFullYear() + 2, cvc: "123" }, tok);
  if (!expect("payment method created", pm.status === 200, pm.error)) return;
  const qty = 1 + Math.floor(Math.random() * MAX_QUANTITY);
  const t0 = Date.now();
  // PlaceOrder takes its lines in a message (source.lines.lines), as a
  // cart checkout takes a cart id instead.
  const placed = call("order.v1.OrderService", "PlaceOrder", {
    userId: user, idempotencyKey: `k6-${data.sku}-${buyer}`, lines: { lines: [{ sku: data.sku, quantity: qty }] },
    shippingAddress: ADDRESS, email: `${user}@example.com`, paymentMethodId: pm.body.paymentMethod.id,
    expectedTotal: { amountMinor: data.totals[qty], currency: "EUR" },
  }, tok);
  if (!expect("order placed", placed.status === 200, placed.error)) return;
  // Poll until the saga is over (k6's HTTP client has no Connect streams).
  let order = placed.body.order;
  while (order.status === "ORDER_STATUS_PENDING" || order.status === "ORDER_STATUS_RESERVED") {
    sleep(POLL_MS / 1000);
    const got = call("order.v1.OrderService", "GetOrder", { orderId: order.id }, tok);
    if (!expect("order read", got.status === 200, got.error)) return;
    order = got.body.order;
  }
  checkout.add(Date.now() - t0);
  const outOfStock = order.status === "ORDER_STATUS_REJECTED" && order.reason === "STATUS_REASON_OUT_OF_STOCK";
  expect("saga ended confirmed or out of stock", order.status === "ORDER_STATUS_CONFIRMED" || outOfStock,
    `order ${order.id} ended ${order.status} (${order.reason || "no reason"})`);
  if (order.status === "ORDER_STATUS_CONFIRMED") sold.add(qty);
  else if (outOfStock) rejected.add(1);
}

// teardown waits until no units are held by a reservation (the saga has
// settled), then reports the sale as the mesh holds it.
export function teardown(data) {
  const merchant = token("k6-merchant", "merchant");
  let stock;
  for (let i = 0; i < 600; i++) {
    stock = must(call("inventory.v1.InventoryService", "GetStock", { sku: data.sku }, merchant)).stock;
    if (parseInt(stock.reserved || "0", 10) === 0) break;
    sleep(0.1);
  }
  const n = (v) => parseInt(v || "0", 10);
  const received = n(stock.received), available = n(stock.available), reserved = n(stock.reserved), soldUnits = n(stock.sold);
  const over = Math.max(reserved + soldUnits - received, 0) + Math.max(-available, 0);
  oversold.add(over);
  const soldOut = available === 0 && reserved === 0;
  // The mesh writes microseconds; three digits are what every Date.parse reads.
  const changed = Date.parse(stock.updateTime.replace(/\.(\d{3})\d*Z$/, ".$1Z"));
  const sellout = soldOut ? ((changed - data.start) / 1000).toFixed(2) : "none";
  console.log(`flashsale units=${UNITS} sold=${soldUnits} available=${available} reserved=${reserved} sellout_s=${sellout} oversold=${over}`);
  if (reserved !== 0) {
    console.error(`the saga did not settle within a minute: ${reserved} units are still reserved`);
  }
}
