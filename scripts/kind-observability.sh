#!/usr/bin/env bash
# make kind-observability: Grafana, Tempo, Prometheus, Loki (with
# Promtail) and Pyroscope from their official charts into the namespace
# "observability" of the kind cluster, then the mesh re-installed with
# traces, profiles and dashboards wired to them (make kind-up first).
# Needs: network access to grafana.github.io and
# prometheus-community.github.io, kubectl; helm runs as a Go tool.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${IMAGE_TAG:?set IMAGE_TAG to the tag make images used}"
NS=observability
. scripts/kube-lib.sh
HELM=$(kube_tool helm)
V=k8s/observability
$HELM repo add grafana https://grafana.github.io/helm-charts >/dev/null
$HELM repo add prometheus-community https://prometheus-community.github.io/helm-charts >/dev/null
$HELM repo update >/dev/null
install() { $HELM upgrade --install "$1" "$2" -n "$NS" --create-namespace -f "$V/values-$1.yaml" --wait --timeout 10m; }
install prometheus prometheus-community/prometheus
install tempo grafana/tempo
install loki grafana/loki
install promtail grafana/promtail
$HELM upgrade --install pyroscope grafana/pyroscope -n "$NS" --wait --timeout 10m
install grafana grafana/grafana
$HELM upgrade --install ordermesh helm/ordermesh -n "${KIND_NAMESPACE:-ordermesh}" --reuse-values \
  -f "$V/values-ordermesh.yaml" --set-string image.tag="$IMAGE_TAG" --wait --timeout 8m
cat >&2 <<MSG
[kind-observability] Grafana (admin / ordermesh), dashboards in the folder "ordermesh":
  kubectl -n $NS port-forward svc/grafana 3000:80     # then http://localhost:3000
MSG
