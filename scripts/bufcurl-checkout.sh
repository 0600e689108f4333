#!/usr/bin/env bash
# One checkout with `buf curl` against ADDR (default http://localhost:8080):
# a merchant lists and stocks a product, a customer tokenises a card, asks
# for shipping, places the order and watches it to CONFIRMED. Used by
# `make kind-up` as its smoke test; JWT_SIGNING_KEY must be the mesh's.
set -euo pipefail
cd "$(dirname "$0")/.."
ADDR=${1:-http://localhost:8080}
: "${JWT_SIGNING_KEY:?set JWT_SIGNING_KEY to the signing key of the mesh}"
go build -o .build/bin/ordermesh ./cmd/ordermesh
BUF=(scripts/tool buf curl --http2-prior-knowledge --protocol grpc)
call() { local token=$1 proc=$2 data=$3; "${BUF[@]}" -H "Authorization: Bearer $token" --data "$data" "$ADDR/$proc"; }
field() { sed -n "s/^ *\"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -1; }

run=$(date +%s)
sku=KIND-$run user=kind-shopper-$run
merchant=$(.build/bin/ordermesh token -role merchant -user kind-merchant)
customer=$(.build/bin/ordermesh token -role customer -user "$user")

call "$merchant" ordermesh.catalog.v1.CatalogService/CreateProduct \
  "{\"sku\":\"$sku\",\"name\":\"Kind smoke beans\",\"price\":{\"amountMinor\":1450,\"currency\":\"EUR\"},\"category\":\"smoke\",\"weightGrams\":250}" >/dev/null
call "$merchant" ordermesh.inventory.v1.InventoryService/SetStock "{\"sku\":\"$sku\",\"available\":10}" >/dev/null
card=$(call "$customer" ordermesh.payment.v1.PaymentService/CreatePaymentMethod \
  "{\"userId\":\"$user\",\"cardNumber\":\"4242424242424242\",\"expMonth\":12,\"expYear\":$(( $(date +%Y) + 2 )),\"cvc\":\"123\"}" | field id)
address='{"recipient":"Ada Lovelace","line1":"1 Analytical Way","city":"Berlin","postalCode":"10115","countryCode":"DE"}'
shipping=$(call "$customer" ordermesh.order.v1.OrderService/QuoteShipping \
  "{\"shippingAddress\":$address,\"lines\":[{\"sku\":\"$sku\",\"quantity\":2}]}" | field amountMinor)
total=$((2 * 1450 + shipping))
order=$(call "$customer" ordermesh.order.v1.OrderService/PlaceOrder \
  "{\"userId\":\"$user\",\"idempotencyKey\":\"kind-$run\",\"lines\":{\"lines\":[{\"sku\":\"$sku\",\"quantity\":2}]},\"shippingAddress\":$address,\"email\":\"$user@example.com\",\"paymentMethodId\":\"$card\",\"expectedTotal\":{\"amountMinor\":$total,\"currency\":\"EUR\"}}" | field id)
final=$(call "$customer" ordermesh.order.v1.OrderService/WatchOrder "{\"orderId\":\"$order\"}" | field status | tail -1)
status=$(call "$customer" ordermesh.order.v1.OrderService/GetOrder "{\"orderId\":\"$order\"}" | field status)
echo "checkout order=$order total_minor=$total status=$status"
[[ $status == ORDER_STATUS_CONFIRMED ]] || { echo "the order ended $status (watch said $final), want ORDER_STATUS_CONFIRMED" >&2; exit 1; }
