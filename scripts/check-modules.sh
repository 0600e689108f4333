#!/usr/bin/env bash
# Checks each Go module of the repository on its own, outside go.work, as
# a user or a fresh clone sees it (`make check-modules`, in CI):
#   - go.mod and go.sum are tidy (go mod tidy -diff prints what is not);
#   - the service module and the Go client build and pass go vet alone.
# The tool modules (tools, tools/kube, tools/vuln) only pin tools: their
# builds are `make generate`, `make lint`, `make chart-dryrun` and
# `make vulncheck`.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOWORK=off
status=0
for mod in . gen/go examples/go-client tools tools/kube tools/vuln; do
  echo "== $mod: go mod tidy -diff"
  (cd "$mod" && go mod tidy -diff) || { echo "check-modules: $mod is not tidy; run (cd $mod && GOWORK=off go mod tidy)" >&2; status=1; }
done
for mod in . gen/go; do
  echo "== $mod: go build, go vet"
  (cd "$mod" && go build ./... && go vet ./...) || status=1
done
exit $status
