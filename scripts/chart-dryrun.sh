#!/usr/bin/env bash
# Server-side dry-run of every chart variant against a real kube-apiserver
# and etcd: `kubectl apply --dry-run=server --validate=strict`, which runs
# the API server's defaulting, validation and admission on each object.
#
# The API server comes from k8s-lab (../shared/k8s-lab, or K8S_LAB), which
# builds etcd and kube-apiserver from the Go module proxy once and caches
# them. A cluster k8s-lab already runs is used as it is. The Gateway API
# and Prometheus Operator CRDs come from their Go modules, so the variants
# that render an HTTPRoute, a ServiceMonitor or a PrometheusRule are
# checked too.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[chart-dryrun] $*" >&2; }

K8S_LAB=${K8S_LAB:-}
if [[ -z $K8S_LAB ]]; then
  for d in ../shared/k8s-lab /work/shared/k8s-lab; do
    [[ -x $d/apiserver-up.sh ]] && { K8S_LAB=$(cd "$d" && pwd); break; }
  done
fi
[[ -n $K8S_LAB && -x $K8S_LAB/apiserver-up.sh ]] || { log "k8s-lab not found: set K8S_LAB to the directory holding apiserver-up.sh"; exit 1; }
LAB=${LAB:-${XDG_CACHE_HOME:-$HOME/.cache}/k8s-lab}
KUBECTL=kubectl
[[ -x $LAB/bin/kubectl ]] && KUBECTL=$LAB/bin/kubectl

kc=$LAB/kubeconfig
if [[ -f $kc ]] && $KUBECTL --kubeconfig "$kc" get --raw /readyz >/dev/null 2>&1; then
  log "using the running API server ($kc)"
else
  kc=$("$K8S_LAB/apiserver-up.sh" | tail -1)
  [[ -x $LAB/bin/kubectl ]] && KUBECTL=$LAB/bin/kubectl
fi
k() { $KUBECTL --kubeconfig "$kc" "$@"; }

. scripts/kube-lib.sh
mkdir -p .build/dryrun
HELM=$(kube_tool helm)

# CRDs for the optional objects, from the modules the chart test decodes with.
moddir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p'; }
gw=$(moddir sigs.k8s.io/gateway-api@v1.6.3)
po=$(moddir github.com/prometheus-operator/prometheus-operator@v0.85.0)
k apply --server-side --force-conflicts -f "$gw/config/crd/standard/gateway.networking.k8s.io_httproutes.yaml" \
  -f "$po/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
  -f "$po/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" >/dev/null
k wait --for=condition=Established crd/httproutes.gateway.networking.k8s.io crd/servicemonitors.monitoring.coreos.com \
  crd/prometheusrules.monitoring.coreos.com --timeout=60s >/dev/null

ns=ordermesh-dryrun
k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
k -n "$ns" get serviceaccount default >/dev/null 2>&1 || k -n "$ns" create serviceaccount default >/dev/null

kv=$(k version -o json | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -1)
status=0
for variant in default helm/ordermesh/ci/*-values.yaml k8s/values-kind.yaml; do
  args=()
  name=$variant
  if [[ $variant != default ]]; then args=(-f "$variant"); name=$(basename "$variant" .yaml); fi
  out=.build/dryrun/$name.yaml
  "$HELM" template dryrun helm/ordermesh -n "$ns" --kube-version "${kv:-v1.34.4}" "${args[@]}" > "$out"
  objects=$(grep -c '^kind:' "$out")
  if result=$(k apply -n "$ns" --dry-run=server --validate=strict -f "$out" 2>&1); then
    log "$name: $objects objects accepted by kube-apiserver $kv"
  else
    log "$name: rejected"; echo "$result" >&2; status=1
  fi
done
exit $status
