#!/usr/bin/env bash
# make kind-up: the whole mesh on a laptop's kind cluster, from nothing.
# Creates the cluster (k8s/kind-config.yaml) unless it exists, loads the
# images from .build/images (make images ran first), installs the chart
# with k8s/values-kind.yaml, waits for the rollout, and runs a checkout
# through a port-forward to the gateway with buf curl.
# Needs: Docker (or Podman) for kind, kubectl; kind and helm run as Go
# tools from tools/kube.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${IMAGE_TAG:?set IMAGE_TAG to the tag make images used}"
CLUSTER=${KIND_CLUSTER:-ordermesh}
NS=${KIND_NAMESPACE:-ordermesh}
PORT=${KIND_PORT:-8080}
log() { echo "[kind-up] $*" >&2; }

. scripts/kube-lib.sh
KIND=$(kube_tool kind)
HELM=$(kube_tool helm)

if ! $KIND get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  log "creating kind cluster $CLUSTER"
  $KIND create cluster --name "$CLUSTER" --config k8s/kind-config.yaml --wait 2m
fi
export KUBECONFIG=${KUBECONFIG:-$HOME/.kube/config}
kubectl config use-context "kind-$CLUSTER" >/dev/null

log "loading images (tag $IMAGE_TAG)"
for t in .build/images/*.tar; do $KIND load image-archive --name "$CLUSTER" "$t"; done

log "installing the chart"
$HELM upgrade --install ordermesh helm/ordermesh -n "$NS" --create-namespace \
  -f k8s/values-kind.yaml --set-string image.tag="$IMAGE_TAG" ${KIND_HELM_ARGS:-} --wait --timeout 8m
kubectl -n "$NS" rollout status deployment -l app.kubernetes.io/instance=ordermesh --timeout=5m

log "smoke checkout through the gateway on localhost:$PORT"
kubectl -n "$NS" port-forward svc/ordermesh-gateway "$PORT:80" >/dev/null 2>&1 &
pf=$!
trap 'kill $pf 2>/dev/null || true' EXIT
wait_port "$PORT"
JWT_SIGNING_KEY=$(secret_value "$NS" ordermesh-auth jwt-signing-key) \
  scripts/bufcurl-checkout.sh "http://localhost:$PORT"
cat >&2 <<MSG
[kind-up] ready. Reach the API with:
  kubectl -n $NS port-forward svc/ordermesh-gateway $PORT:80
  scripts/tool buf curl --http2-prior-knowledge --protocol grpc --data '{}' http://localhost:$PORT/ordermesh.catalog.v1.CatalogService/ListProducts
Tokens: make token ROLE=merchant   (the kind values use the development signing key)
MSG
