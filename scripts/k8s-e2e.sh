#!/usr/bin/env bash
# End-to-end run on any Kubernetes cluster (kind, k8s-lab, a real one):
#   1. load the image tarballs from .build/images into the cluster;
#   2. install the chart with k8s/values-kind.yaml (bundled PostgreSQL);
#   3. wait until every pod is Ready;
#   4. run cmd/smoke through the gateway: a checkout and a compensated failure;
#   5. check the invariants in the services' databases;
#   6. helm test: the same smoke test, as a pod inside the cluster;
#   7. uninstall (E2E_KEEP=1 keeps the release for a look around).
# Usage: KUBECONFIG=... IMAGE_TAG=... scripts/k8s-e2e.sh   (make k8s-e2e does this)
set -euo pipefail
cd "$(dirname "$0")/.."

: "${KUBECONFIG:?set KUBECONFIG to the kubeconfig of the cluster}"
: "${IMAGE_TAG:?set IMAGE_TAG to the tag make images used}"
export KUBECONFIG
NS=${E2E_NAMESPACE:-ordermesh-e2e}
RELEASE=${E2E_RELEASE:-e2e}
IMAGES_DIR=${IMAGES_DIR:-.build/images}
IMAGE_LOADER=${IMAGE_LOADER:-auto}
K8S_LAB=${K8S_LAB:-$(cd .. && pwd)/shared/k8s-lab}
GW_PORT=${E2E_GATEWAY_PORT:-18080}
PG_PORT=${E2E_POSTGRES_PORT:-15432}
log() { echo "[k8s-e2e] $*" >&2; }

. scripts/kube-lib.sh
HELM=$(kube_tool helm)
k() { kubectl -n "$NS" "$@"; }

# 1. Images.
ctx=$(kubectl config current-context)
if [[ $IMAGE_LOADER == auto ]]; then
  if [[ $ctx == kind-* ]]; then IMAGE_LOADER=kind
  elif [[ -x $K8S_LAB/load-images.sh ]]; then IMAGE_LOADER=k8s-lab
  else IMAGE_LOADER=none; fi
fi
shopt -s nullglob
tars=("$IMAGES_DIR"/*.tar)
[[ ${#tars[@]} -gt 0 || $IMAGE_LOADER == none ]] || { log "no image tarballs in $IMAGES_DIR: run make images"; exit 1; }
case $IMAGE_LOADER in
  kind)    KIND=$(kube_tool kind); for t in "${tars[@]}"; do "$KIND" load image-archive --name "${ctx#kind-}" "$t"; done ;;
  k8s-lab) "$K8S_LAB/load-images.sh" "${tars[@]}" ;;
  none)    log "not loading images: the cluster pulls $IMAGE_TAG itself" ;;
  *)       for t in "${tars[@]}"; do $IMAGE_LOADER "$t"; done ;;
esac
log "images loaded with $IMAGE_LOADER"

pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ $rc -ne 0 ]]; then
    log "failed; pods and recent events:"
    k get pods -o wide >&2 || true
    k get events --sort-by=.lastTimestamp 2>/dev/null | tail -20 >&2 || true
  fi
  if [[ ${E2E_KEEP:-0} == 1 ]]; then
    log "keeping release $RELEASE in namespace $NS"
  else
    log "6. uninstall"
    "$HELM" uninstall "$RELEASE" -n "$NS" --wait >/dev/null 2>&1 || true
    kubectl delete namespace "$NS" --wait --timeout=3m >/dev/null 2>&1 || true
  fi
  exit $rc
}
trap cleanup EXIT

# 2. Install.
log "2. helm upgrade --install $RELEASE (tag $IMAGE_TAG) into $NS"
"$HELM" upgrade --install "$RELEASE" helm/ordermesh -n "$NS" --create-namespace \
  -f k8s/values-kind.yaml --set-string image.tag="$IMAGE_TAG" ${E2E_HELM_ARGS:-} --wait --timeout 8m

# 3. Every pod Ready.
log "3. waiting for every pod to be Ready"
k wait --for=condition=Ready pod -l app.kubernetes.io/instance="$RELEASE" --timeout=5m
k get pods -o wide

# 4 and 5. A checkout and a compensated failure through the gateway, then
# the invariants, over port-forwards.
fullname=$RELEASE-ordermesh
# kubectl itself, not the function k: $! must be kubectl's pid, or the
# cleanup kills a subshell and leaves the port-forward running.
kubectl -n "$NS" port-forward "svc/$fullname-gateway" "$GW_PORT:80" >/dev/null 2>&1 & pids+=($!)
kubectl -n "$NS" port-forward "svc/$fullname-postgresql" "$PG_PORT:5432" >/dev/null 2>&1 & pids+=($!)
wait_port "$GW_PORT"
wait_port "$PG_PORT"
log "4. checkout through the gateway; 5. invariants"
JWT_SIGNING_KEY=$(secret_value "$NS" "$fullname-auth" jwt-signing-key)
DATABASE_URL="postgres://ordermesh:$(secret_value "$NS" "$fullname-database" postgres-password)@127.0.0.1:$PG_PORT/ordermesh_{service}?sslmode=disable"
export JWT_SIGNING_KEY DATABASE_URL
for protocol in ${E2E_PROTOCOLS:-grpc connect grpcweb}; do
  go run ./cmd/smoke -addr "http://127.0.0.1:$GW_PORT" -protocol "$protocol"
done
log "6. helm test"
"$HELM" test "$RELEASE" -n "$NS" --logs --timeout 5m
log "passed"
