#!/usr/bin/env bash
# End-to-end run on any Kubernetes cluster (kind, k8s-lab, a real one):
#   1. load the image tarballs from .build/images into the cluster;
#   2. install the chart with k8s/values-kind.yaml (bundled PostgreSQL);
#   3. wait until every pod is Ready;
#   4. run cmd/smoke through the gateway: a checkout and a compensated failure;
#   5. check the invariants in the services' databases, and that a sink
#      accepts an event only from its publisher's ServiceAccount token;
#   6. the spread over replicas (two each of catalog, order and
#      inventory): each catalog pod gets 35-65% of E2E_SPLIT_REQUESTS
#      GetProduct calls through the gateway, and, under a load of
#      checkouts (cmd/steady), of Order's pricing calls to Catalog, and
#      each inventory pod 35-65% of the event deliveries, counted by the
#      pods themselves;
#   7. rollouts under load: cmd/steady keeps checkouts flowing through the
#      gateway during a helm upgrade that replaces every pod, a helm
#      rollback, a rollout restart of every Deployment at once, and a
#      scale of order to zero and back; one "steady scenario=..." line
#      each, and any failed call fails the run (with order at zero its
#      calls may answer unavailable, and are retried);
#   8. helm test: the same smoke test, as a pod inside the cluster;
#   9. reinstall: helm uninstall, then install again into the same namespace
#      (the bundled database's volume and password Secret are kept), Ready
#      again, and a checkout against the data of the first install;
#  10. uninstall (E2E_KEEP=1 keeps the release for a look around).
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
SPLIT_REQUESTS=${E2E_SPLIT_REQUESTS:-200}
PG_IMAGE=${E2E_POSTGRES_IMAGE:-postgres:15} # as k8s/values-kind.yaml names it
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
  k8s-lab)
    "$K8S_LAB/load-images.sh" "${tars[@]}"
    # The lab reaches no registry: the bundled PostgreSQL's image is
    # built from this host's server binaries, under the name the chart
    # uses, unless a run before this one did so.
    lab=${LAB:-${XDG_CACHE_HOME:-$HOME/.cache}/k8s-lab}
    if ! ctr --address "$lab/containerd/containerd.sock" -n k8s.io images ls -q 2>/dev/null | grep -qx "docker.io/library/$PG_IMAGE"; then
      "$K8S_LAB/postgres-image.sh" "$PG_IMAGE"
    fi ;;
  none)    log "not loading images: the cluster pulls $IMAGE_TAG itself" ;;
  *)       for t in "${tars[@]}"; do $IMAGE_LOADER "$t"; done ;;
esac
log "images loaded with $IMAGE_LOADER"

pids=()
stop_forwards() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  local rc=$?
  stop_forwards
  if [[ $rc -ne 0 ]]; then
    log "failed; pods and recent events:"
    k get pods -o wide >&2 || true
    k get events --sort-by=.lastTimestamp 2>/dev/null | tail -20 >&2 || true
  fi
  if [[ ${E2E_KEEP:-0} == 1 ]]; then
    log "keeping release $RELEASE in namespace $NS"
  else
    log "10. uninstall"
    "$HELM" uninstall "$RELEASE" -n "$NS" --wait >/dev/null 2>&1 || true
    kubectl delete namespace "$NS" --wait --timeout=3m >/dev/null 2>&1 || true
  fi
  exit $rc
}
trap cleanup EXIT

# 2. Install, with two replicas of catalog, order and inventory for steps
# 6 and 7. Extra arguments (step 7's upgrade) go to helm as they are.
install() {
  "$HELM" upgrade --install "$RELEASE" helm/ordermesh -n "$NS" --create-namespace \
    -f k8s/values-kind.yaml --set-string image.tag="$IMAGE_TAG" \
    --set services.catalog.replicas=2 --set services.order.replicas=2 --set services.inventory.replicas=2 \
    ${E2E_HELM_ARGS:-} "$@" --wait --timeout 8m
}
# A namespace an earlier run is still deleting takes no new objects.
if [[ $(kubectl get namespace "$NS" -o 'jsonpath={.status.phase}' 2>/dev/null) == Terminating ]]; then
  log "waiting for an earlier run's namespace $NS to go"
  kubectl wait --for=delete namespace "$NS" --timeout=5m
fi
log "2. helm upgrade --install $RELEASE (tag $IMAGE_TAG) into $NS"
install

# 3. Every pod Ready.
# The workloads' pods: helm test's pod stays behind, Completed, for --logs.
workloads="app.kubernetes.io/instance=$RELEASE,app.kubernetes.io/component!=smoke"
ready() {
  k wait --for=condition=Ready pod -l "$workloads" --timeout=5m
  k get pods -o wide
}
log "3. waiting for every pod to be Ready"
ready

# 4 and 5. A checkout and a compensated failure through the gateway, then
# the invariants, over port-forwards.
fullname=$RELEASE-ordermesh
forward() {
  # kubectl itself, not the function k: $! must be kubectl's pid, or the
  # cleanup kills a subshell and leaves the port-forward running.
  kubectl -n "$NS" port-forward "svc/$fullname-gateway" "$GW_PORT:80" >/dev/null 2>&1 & pids+=($!)
  kubectl -n "$NS" port-forward "svc/$fullname-postgresql" "$PG_PORT:5432" >/dev/null 2>&1 & pids+=($!)
  wait_port "$GW_PORT"
  wait_port "$PG_PORT"
  JWT_SIGNING_KEY=$(secret_value "$NS" "$fullname-auth" jwt-signing-key)
  DATABASE_URL="postgres://ordermesh:$(secret_value "$NS" "$fullname-database" postgres-password)@127.0.0.1:$PG_PORT/ordermesh_{service}?sslmode=disable"
  export JWT_SIGNING_KEY DATABASE_URL
}
forward
log "4. checkout through the gateway; 5. invariants"
for protocol in ${E2E_PROTOCOLS:-grpc connect grpcweb}; do
  go run ./cmd/smoke -addr "http://127.0.0.1:$GW_PORT" -protocol "$protocol"
done

# 5. Each service speaks only for itself. Tokens the cluster issues for
# the services' own ServiceAccounts (kubectl create token, as the kubelet
# projects them) deliver an OrderCancelled to Payment's sink: only
# Order's, in an envelope that names Order, is accepted; Cart's, Order's
# naming another producer, one for the API server's audience and one
# signed with the chart's signing key are refused, and Payment counts the
# refusals.
log "5. service identity: Payment's sink refuses every caller but the publisher"
SINK_PORT=${E2E_SINK_PORT:-18090}
kubectl -n "$NS" port-forward "svc/$fullname-payment" "$SINK_PORT:8080" >/dev/null 2>&1 & pids+=($!)
wait_port "$SINK_PORT"
deliver_cancel() { # TOKEN PRODUCER: prints the Connect code, or ok
  local body out
  body=$(printf '{"events":[{"id":"%s","type":"EVENT_TYPE_ORDER_CANCELLED","orderId":"%s","occurredAt":"%s","producer":"%s","orderCancelled":{"userId":"e2e-identity","reason":"CUSTOMER"}}]}' \
    "$(cat /proc/sys/kernel/random/uuid)" "$(cat /proc/sys/kernel/random/uuid)" "$(date -u +%FT%TZ)" "$2")
  out=$(curl -s -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d "$body" \
    "http://127.0.0.1:$SINK_PORT/payment/ordermesh.events.v1.EventSinkService/Deliver")
  if [[ $out == '{}' ]]; then echo ok; else sed -n 's/.*"code":"\([a-z_]*\)".*/\1/p' <<<"$out"; fi
}
refused_at_payment() {
  local pod n=0
  for pod in $(k get pods -l app.kubernetes.io/instance="$RELEASE",app.kubernetes.io/component=payment -o name); do
    pod=${pod#pod/}
    n=$(( n + $(kubectl get --raw "/api/v1/namespaces/$NS/pods/$pod:9090/proxy/metrics" |
      awk 'index($0, "ordermesh_event_deliveries_refused_total{") == 1 { n += $NF } END { print n + 0 }') ))
  done
  echo "$n"
}
refused_before=$(refused_at_payment)
sa_token() { k create token "$fullname-$1" --duration 10m "${@:2}"; }
declare -A identity=(
  [order]="$(deliver_cancel "$(sa_token order --audience ordermesh)" order)"
  [cart]="$(deliver_cancel "$(sa_token cart --audience ordermesh)" cart)"
  [order_as_inventory]="$(deliver_cancel "$(sa_token order --audience ordermesh)" inventory)"
  [api_audience]="$(deliver_cancel "$(sa_token order)" order)"
  [signing_key]="$(deliver_cancel "$(go run ./cmd/ordermesh token -service order -ttl 10m)" order)"
)
refused=$(( $(refused_at_payment) - refused_before ))
echo "identity order=${identity[order]} cart=${identity[cart]} order_as_inventory=${identity[order_as_inventory]}" \
  "api_audience=${identity[api_audience]} signing_key=${identity[signing_key]} refused_counted=$refused"
[[ ${identity[order]} == ok && ${identity[cart]} == permission_denied && ${identity[order_as_inventory]} == permission_denied &&
   ${identity[api_audience]} == unauthenticated && ${identity[signing_key]} == unauthenticated && $refused == 2 ]] ||
  { log "want order=ok cart=permission_denied order_as_inventory=permission_denied api_audience=unauthenticated signing_key=unauthenticated refused_counted=2"; exit 1; }

# 6. The spread over replicas, counted by each pod's own
# ordermesh_rpc_requests_total, read through the API server's pod proxy.
served() { # POD PROCEDURE-SUBSTRING
  kubectl get --raw "/api/v1/namespaces/$NS/pods/$1:9090/proxy/metrics" |
    awk -v p="$2" 'index($0, "ordermesh_rpc_requests_total{") == 1 && index($0, p) { n += $NF } END { print n + 0 }'
}
pods_of() { k get pods -l app.kubernetes.io/instance="$RELEASE",app.kubernetes.io/component="$1" -o 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}'; }
declare -A before
count_before() { # COMPONENT PROCEDURE-SUBSTRING
  mapfile -t spread_pods < <(pods_of "$1")
  [[ ${#spread_pods[@]} -eq 2 ]] || { log "want 2 $1 pods, found ${#spread_pods[@]}: ${spread_pods[*]}"; exit 1; }
  for pod in "${spread_pods[@]}"; do before[$pod]=$(served "$pod" "$2"); done
}
check_split() { # NAME PROCEDURE-SUBSTRING
  local line="split $1" total=0 n pod
  declare -A got
  for pod in "${spread_pods[@]}"; do got[$pod]=$(( $(served "$pod" "$2") - before[$pod] )); total=$(( total + got[$pod] )); done
  (( total > 0 )) || { log "$1: no calls counted"; exit 1; }
  line+=" calls=$total"
  for pod in "${spread_pods[@]}"; do
    n=${got[$pod]}
    line+=" ${pod##*-}=$n ($(( 100 * n / total ))%)"
    if (( 100 * n < 35 * total || 100 * n > 65 * total )); then bad=1; fi
  done
  echo "$line"
  [[ -z ${bad:-} ]] || { log "$1 are not spread over both replicas (want 35-65% each)"; exit 1; }
}
getproduct=/ordermesh.catalog.v1.CatalogService/GetProduct
log "6. $SPLIT_REQUESTS GetProduct calls through the gateway over two catalog replicas"
count_before catalog "$getproduct"
for i in $(seq 1 "$SPLIT_REQUESTS"); do
  # Connect's GET for a side-effect-free RPC; an unknown SKU is a quick NotFound.
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW_PORT$getproduct?encoding=json&message=%7B%22sku%22%3A%22SPLIT-$i%22%7D")
  [[ $code == 404 ]] || { log "GetProduct through the gateway answered HTTP $code, want 404 (not_found)"; exit 1; }
done
check_split "gateway->catalog GetProduct" "$getproduct"

# steady SCENARIO [steady flags]: start checkouts through the gateway, from
# a pod in the cluster (a client of the gateway's Service, as an ingress
# is: a port-forward is a tunnel to one pod, and the rollouts replace it),
# and return once they run; stop_steady ends them (SIGTERM: the orders in
# flight are finished), prints their line and fails on any failed call.
steady_image=${IMAGE_REPO:-ordermesh}/steady:$IMAGE_TAG
steady() {
  steady_pod=steady-$1
  steady_log=$(mktemp)
  k delete pod "$steady_pod" --ignore-not-found --wait >/dev/null
  k run "$steady_pod" --image="$steady_image" --image-pull-policy=IfNotPresent --restart=Never \
    --labels=app.kubernetes.io/component=e2e-load --env=JWT_SIGNING_KEY="$JWT_SIGNING_KEY" -- \
    -addr "http://$fullname-gateway:80" -scenario "$@" -ready-file - >/dev/null
  k wait --for=condition=Ready "pod/$steady_pod" --timeout=2m >/dev/null
  k logs -f "$steady_pod" >"$steady_log" 2>&1 & steady_logs=$!
  for _ in $(seq 1 1200); do
    grep -q '^steady running' "$steady_log" && return 0
    kill -0 "$steady_logs" 2>/dev/null || break
    sleep 0.1
  done
  log "the load did not start:"; cat "$steady_log" >&2; exit 1
}
stop_steady() {
  k delete pod "$steady_pod" --grace-period=120 --wait >/dev/null
  wait "$steady_logs" 2>/dev/null || true
  local line; line=$(grep '^steady scenario=' "$steady_log" || true)
  [[ -n $line ]] && echo "$line"
  [[ $line == *" failed=0 "* ]] || { log "calls failed during the scenario:"; grep -v '^steady running' "$steady_log" | tail -20 >&2; exit 1; }
  rm -f "$steady_log"
}
# ready_again waits until every Deployment has rolled out and every pod it
# replaced is gone: the stopping pods' drain and shutdown happen under the
# load too.
ready_again() {
  local d
  for d in $(k get deployment -l app.kubernetes.io/instance="$RELEASE" -o name); do k rollout status "$d" --timeout 5m >/dev/null; done
  for _ in $(seq 1 600); do
    [[ -z $(k get pods -l "$workloads" -o 'jsonpath={range .items[*]}{.metadata.deletionTimestamp}{end}') ]] && { ready >/dev/null; return 0; }
    sleep 0.5
  done
  log "replaced pods still stopping after 5 minutes"; k get pods >&2; exit 1
}

log "6. service-to-service calls and deliveries under load, over two replicas"
count_before catalog BatchGetProducts; catalog_pods=("${spread_pods[@]}"); declare -A catalog_before; for p in "${catalog_pods[@]}"; do catalog_before[$p]=${before[$p]}; done
count_before inventory EventSinkService/Deliver
steady split
sleep_until=$(( SECONDS + ${E2E_SPLIT_SECONDS:-20} ))
while (( SECONDS < sleep_until )); do kill -0 "$steady_logs" || break; sleep 1; done
stop_steady
check_split "->inventory deliveries" EventSinkService/Deliver
spread_pods=("${catalog_pods[@]}"); for p in "${catalog_pods[@]}"; do before[$p]=${catalog_before[$p]}; done
check_split "order,cart->catalog BatchGetProducts" BatchGetProducts

# 7. Rollouts under load.
log "7. helm upgrade under load (every pod replaced)"
steady upgrade
install --set-string defaults.podAnnotations.e2e-rollout="$(date +%s)" --set-string gateway.podAnnotations.e2e-rollout="$(date +%s)" >/dev/null
ready_again
stop_steady

log "7. helm rollback under load"
steady rollback
"$HELM" rollback "$RELEASE" -n "$NS" --wait --timeout 8m >/dev/null
ready_again
stop_steady

log "7. rollout restart of every Deployment at once, under load"
steady restart
k rollout restart deployment -l app.kubernetes.io/instance="$RELEASE" >/dev/null
ready_again
stop_steady

log "7. order scaled to zero and back, under load"
steady scale-order-to-zero -allow-unavailable -deadline 3m
k scale deployment "$fullname-order" --replicas=0 >/dev/null
k wait --for=delete pod -l app.kubernetes.io/instance="$RELEASE",app.kubernetes.io/component=order --timeout=3m
k scale deployment "$fullname-order" --replicas=2 >/dev/null
ready_again
stop_steady

log "8. helm test"
"$HELM" test "$RELEASE" -n "$NS" --timeout 5m # the chart prints the pod's output

# 9. Reinstall into the same namespace: the kept password Secret must match
# the kept volume, or nothing becomes Ready.
log "9. helm uninstall, then install again into $NS"
orders() { psql "${DATABASE_URL//\{service\}/order}" -Atc 'SELECT count(*) FROM orders'; }
kept=$(orders)
stop_forwards
"$HELM" uninstall "$RELEASE" -n "$NS" --wait --timeout 5m
k wait --for=delete pod -l "$workloads" --timeout=3m
start=$SECONDS
install
ready
echo "reinstall ready_s=$(( SECONDS - start )) restarts=$(k get pods -l "$workloads" -o 'jsonpath={range .items[*]}{.status.containerStatuses[0].restartCount}{" "}{end}' | tr ' ' '\n' | awk '{ s += $1 } END { print s + 0 }')"
forward
now=$(orders)
echo "reinstall orders_before=$kept orders_after=$now"
(( now >= kept && kept > 0 )) || { log "the reinstall lost the first install's orders"; exit 1; }
go run ./cmd/smoke -addr "http://127.0.0.1:$GW_PORT" -protocol grpc
log "passed"
