// k6 flash sale against ordermesh: BUYERS virtual users race for UNITS units
// of one product through the full checkout saga, speaking Connect JSON over
// HTTP to `make run` (or any address). The same scenario as `make
// flash-sale`, for teams that run k6.
//
//   k6 run -e JWT_SIGNING_KEY=ordermesh-dev-signing-key-not-for-production k6/flash-sale.js
//
// Options (-e): BASE_URL (http://localhost:8080), BUYERS (2000), UNITS
// (10000), MAX_QUANTITY (10), JWT_SIGNING_KEY (the mesh's HS256 key; tokens
// are minted here, with the issuer and audience "ordermesh").
import http from "k6/http";
import crypto from "k6/crypto";
import encoding from "k6/encoding";
import { check, sleep } from "k6";
import { Counter, Trend } from "k6/metrics";

const BASE = __ENV.BASE_URL || "http://localhost:8080";
const BUYERS = parseInt(__ENV.BUYERS || "2000", 10);
const UNITS = parseInt(__ENV.UNITS || "10000", 10);
const MAX_QUANTITY = parseInt(__ENV.MAX_QUANTITY || "10", 10);
const KEY = __ENV.JWT_SIGNING_KEY;

const sold = new Counter("flashsale_units_sold");
const rejected = new Counter("flashsale_rejected");
const failures = new Counter("flashsale_errors");
const checkout = new Trend("flashsale_checkout_ms", true);

export const options = {
  scenarios: {
    flash: { executor: "per-vu-iterations", vus: BUYERS, iterations: 1, maxDuration: "5m" },
  },
  thresholds: { flashsale_errors: ["count==0"] },
  setupTimeout: "5m",
};

function token(sub, role) {
  if (!KEY) throw new Error("set -e JWT_SIGNING_KEY to the mesh's signing key");
  const enc = (o) => encoding.b64encode(JSON.stringify(o), "rawurl");
  const now = Math.floor(Date.now() / 1000);
  const body = `${enc({ alg: "HS256", typ: "JWT" })}.${enc({ sub, roles: [role], iss: "ordermesh", aud: ["ordermesh"], iat: now, nbf: now - 60, exp: now + 3600 })}`;
  return `${body}.${crypto.hmac("sha256", KEY, body, "base64rawurl")}`;
}

function call(service, method, body, tok) {
  const headers = { "Content-Type": "application/json", "Connect-Protocol-Version": "1" };
  if (tok) headers.Authorization = `Bearer ${tok}`;
  const res = http.post(`${BASE}/ordermesh.${service}/${method}`, JSON.stringify(body), { headers, tags: { rpc: method } });
  return { status: res.status, body: res.status === 200 ? res.json() : res.body };
}

const ADDRESS = { recipient: "Flash Buyer", line1: "1 Rush Lane", city: "Berlin", postalCode: "10115", countryCode: "DE" };

export function setup() {
  const merchant = token("k6-merchant", "merchant");
  const sku = `K6-FLASH-${Date.now()}`;
  const price = 1999;
  let r = call("catalog.v1.CatalogService", "CreateProduct",
    { sku, name: `k6 flash sale ${sku}`, category: "flash-sale", weightGrams: 100, price: { amountMinor: price, currency: "EUR" } }, merchant);
  if (r.status !== 200) throw new Error(`CreateProduct: ${r.status} ${r.body}`);
  r = call("inventory.v1.InventoryService", "SetStock", { sku, available: UNITS }, merchant);
  if (r.status !== 200) throw new Error(`SetStock: ${r.status} ${r.body}`);
  const totals = {};
  for (let q = 1; q <= MAX_QUANTITY; q++) {
    r = call("order.v1.OrderService", "QuoteShipping", { shippingAddress: ADDRESS, lines: [{ sku, quantity: q }] });
    totals[q] = q * price + parseInt(r.body.amount.amountMinor, 10);
  }
  return { sku, totals };
}

export default function (data) {
  const user = `k6-${data.sku}-${__VU}`;
  const tok = token(user, "customer");
  const pm = call("payment.v1.PaymentService", "CreatePaymentMethod",
    { userId: user, cardNumber: "4242424242424242", expMonth: 12, expYear: new Date().getFullYear() + 2, cvc: "123" }, tok);
  if (!check(pm, { "payment method created": (r) => r.status === 200 })) { failures.add(1); return; }
  const qty = 1 + Math.floor(Math.random() * MAX_QUANTITY);
  const t0 = Date.now();
  const placed = call("order.v1.OrderService", "PlaceOrder", {
    userId: user, idempotencyKey: `k6-${data.sku}-${__VU}`, lines: { lines: [{ sku: data.sku, quantity: qty }] },
    shippingAddress: ADDRESS, email: `${user}@example.com`, paymentMethodId: pm.body.paymentMethod.id,
    expectedTotal: { amountMinor: data.totals[qty], currency: "EUR" },
  }, tok);
  if (!check(placed, { "order placed": (r) => r.status === 200 })) { failures.add(1); return; }
  // Poll until the saga is over (k6 has no Connect server streams).
  let status = placed.body.order.status;
  while (status === "ORDER_STATUS_PENDING" || status === "ORDER_STATUS_RESERVED") {
    sleep(0.05);
    const got = call("order.v1.OrderService", "GetOrder", { orderId: placed.body.order.id }, tok);
    if (got.status !== 200) { failures.add(1); return; }
    status = got.body.order.status;
  }
  checkout.add(Date.now() - t0);
  if (status === "ORDER_STATUS_CONFIRMED") sold.add(qty);
  else if (status === "ORDER_STATUS_REJECTED") rejected.add(1);
  else failures.add(1);
}
