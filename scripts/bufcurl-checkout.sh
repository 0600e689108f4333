#!/usr/bin/env bash
# One checkout with `buf curl` against the mesh at ORDERMESH_URL (default
# http://localhost:8080; a first argument overrides it): a merchant lists
# and stocks a product, a customer tokenises a card, asks for shipping,
# places the order and watches it to CONFIRMED. Reruns reuse the same
# product (CHECKOUT-1) and restock it, so they leave nothing new in the
# catalog. Used by `make kind-up` as its smoke test. It mints tokens with
# JWT_SIGNING_KEY, by default the development key `make run` uses.
set -euo pipefail
cd "$(dirname "$0")/.."
URL=${1:-${ORDERMESH_URL:-http://localhost:8080}}
export JWT_SIGNING_KEY=${JWT_SIGNING_KEY:-ordermesh-dev-signing-key-not-for-production}
make -s --no-print-directory .build/bin/ordermesh # built once; rebuilt only when the code changed
scripts/tool buf --version >/dev/null # the first run builds buf, and says so
BUF=(scripts/tool buf curl --http2-prior-knowledge --protocol grpc)
call() { local token=$1 proc=$2 data=$3; "${BUF[@]}" -H "Authorization: Bearer $token" --data "$data" "$URL/$proc"; }
field() { sed -n "s/^ *\"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -1; }

run=$(date +%s%N)
sku=CHECKOUT-1 user=checkout-shopper
merchant=$(.build/bin/ordermesh token -role merchant -user checkout-merchant)
customer=$(.build/bin/ordermesh token -role customer -user "$user")

if ! out=$(call "$merchant" ordermesh.catalog.v1.CatalogService/CreateProduct \
  "{\"sku\":\"$sku\",\"name\":\"Checkout script beans\",\"price\":{\"amountMinor\":1450,\"currency\":\"EUR\"},\"category\":\"smoke\",\"weightGrams\":250}" 2>&1); then
  grep -q already_exists <<<"$out" || { echo "$out" >&2; exit 1; } # a rerun: the product is there
fi
price=$(call "$merchant" ordermesh.catalog.v1.CatalogService/GetProduct "{\"sku\":\"$sku\"}" | field amountMinor)
call "$merchant" ordermesh.inventory.v1.InventoryService/SetStock "{\"sku\":\"$sku\",\"available\":10}" >/dev/null
card=$(call "$customer" ordermesh.payment.v1.PaymentService/CreatePaymentMethod \
  "{\"userId\":\"$user\",\"cardNumber\":\"4242424242424242\",\"expMonth\":12,\"expYear\":$(( $(date +%Y) + 2 )),\"cvc\":\"123\"}" | field id)
address='{"recipient":"Ada Lovelace","line1":"1 Analytical Way","city":"Berlin","postalCode":"10115","countryCode":"DE"}'
shipping=$(call "$customer" ordermesh.order.v1.OrderService/QuoteShipping \
  "{\"shippingAddress\":$address,\"lines\":[{\"sku\":\"$sku\",\"quantity\":2}]}" | field amountMinor)
total=$((2 * price + shipping))
order=$(call "$customer" ordermesh.order.v1.OrderService/PlaceOrder \
  "{\"userId\":\"$user\",\"idempotencyKey\":\"checkout-$run\",\"lines\":{\"lines\":[{\"sku\":\"$sku\",\"quantity\":2}]},\"shippingAddress\":$address,\"email\":\"$user@example.com\",\"paymentMethodId\":\"$card\",\"expectedTotal\":{\"amountMinor\":$total,\"currency\":\"EUR\"}}" | field id)
final=$(call "$customer" ordermesh.order.v1.OrderService/WatchOrder "{\"orderId\":\"$order\"}" | field status | tail -1)
status=$(call "$customer" ordermesh.order.v1.OrderService/GetOrder "{\"orderId\":\"$order\"}" | field status)
echo "checkout order=$order total_minor=$total status=$status"
[[ $status == ORDER_STATUS_CONFIRMED ]] || { echo "the order ended $status (watch said $final), want ORDER_STATUS_CONFIRMED" >&2; exit 1; }
