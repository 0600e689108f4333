#!/usr/bin/env bash
# Tags a release of the Go client module, github.com/ordermesh/ordermesh/gen/go.
# A module in a subdirectory is versioned by tags named after its path:
# gen/go/v0.2.0 is what `go get github.com/ordermesh/ordermesh/gen/go@v0.2.0`
# fetches. Usage: scripts/tag-go-client.sh v0.2.0  (make tag-go-client VERSION=v0.2.0)
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-}
[[ $version =~ ^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]] ||
  { echo "usage: make tag-go-client VERSION=vX.Y.Z (semantic version, with the v)" >&2; exit 2; }
[[ ${BASH_REMATCH[1]} -lt 2 ]] ||
  { echo "$version: a major version of 2 or more needs the module path to end in /v${BASH_REMATCH[1]}" >&2; exit 2; }
tag=gen/go/$version
[[ -z $(git status --porcelain) ]] || { echo "the work tree has changes: commit them first" >&2; exit 1; }
git rev-parse -q --verify "refs/tags/$tag" >/dev/null && { echo "$tag exists already" >&2; exit 1; }
# What is tagged must build on its own, outside the workspace.
(cd gen/go && GOWORK=off go mod tidy -diff && GOWORK=off go build ./...)
git tag -a "$tag" -m "Go client module $version"
echo "tagged $tag at $(git rev-parse --short HEAD); publish it with: git push origin $tag"
