// Calls Catalog through the generated TypeScript client against a real
// server. The Go test TestTypeScriptClient (build tag tsclient) starts the
// server on a fresh database and runs this file with:
//   ORDERMESH_URL, ORDERMESH_MERCHANT_TOKEN, ORDERMESH_CUSTOMER_TOKEN
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { catalogv1, commonv1 } from "../dist/index.js";

const baseUrl = process.env.ORDERMESH_URL;
const merchant = process.env.ORDERMESH_MERCHANT_TOKEN;
const customer = process.env.ORDERMESH_CUSTOMER_TOKEN;
assert.ok(baseUrl && merchant && customer, "ORDERMESH_URL and the tokens must be set");

const auth = (token) => ({ headers: { Authorization: `Bearer ${token}` } });
const transports = {
  connect: createConnectTransport({ baseUrl, httpVersion: "2" }),
  grpc: createGrpcTransport({ baseUrl }),
  grpcweb: createGrpcWebTransport({ baseUrl, httpVersion: "2" }),
  "connect-get": createConnectTransport({ baseUrl, httpVersion: "1.1", useHttpGet: true }),
};

const price = (amountMinor) => create(commonv1.MoneySchema, { amountMinor: BigInt(amountMinor), currency: "EUR" });

for (const [name, transport] of Object.entries(transports)) {
  test(`catalog over ${name}`, async (t) => {
    const catalog = createClient(catalogv1.CatalogService, transport);
    const sku = `TS-${name.toUpperCase()}`;

    await t.test("merchant creates a product", async () => {
      const res = await catalog.createProduct(
        { sku, name: `Matcha ${name}`, category: "tea", weightGrams: 100, price: price(1299), description: "Ceremonial grade" },
        auth(merchant),
      );
      assert.equal(res.product?.sku, sku);
      assert.equal(res.product?.price?.amountMinor, 1299n);
      assert.equal(res.product?.state, catalogv1.ProductState.ACTIVE);
    });

    await t.test("anyone gets, lists and searches it", async () => {
      const got = await catalog.getProduct({ sku });
      assert.equal(got.product?.name, `Matcha ${name}`);
      const listed = await catalog.listProducts({ category: "tea", pageSize: 100 });
      assert.ok(listed.products.some((p) => p.sku === sku), "listed");
      const found = await catalog.searchProducts({ query: `matcha ${name}` });
      assert.equal(found.products[0]?.sku, sku, "best match first");
    });

    await t.test("errors carry Connect codes", async () => {
      await assert.rejects(catalog.getProduct({ sku: "NOPE-404" }), (err) => {
        assert.ok(err instanceof ConnectError);
        assert.equal(err.code, Code.NotFound);
        return true;
      });
      await assert.rejects(catalog.createProduct({ sku: "bad sku", name: "x" }, auth(merchant)), (err) => {
        assert.equal(ConnectError.from(err).code, Code.InvalidArgument);
        assert.match(ConnectError.from(err).rawMessage, /sku/);
        return true;
      });
      await assert.rejects(
        catalog.createProduct({ sku: `${sku}-2`, name: "x", category: "tea", weightGrams: 1, price: price(1) }, auth(customer)),
        (err) => ConnectError.from(err).code === Code.PermissionDenied,
      );
      await assert.rejects(
        catalog.createProduct({ sku: `${sku}-3`, name: "x", category: "tea", weightGrams: 1, price: price(1) }),
        (err) => ConnectError.from(err).code === Code.Unauthenticated,
      );
    });
  });
}
