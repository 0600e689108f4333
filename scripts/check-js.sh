#!/usr/bin/env bash
# Parses ES module scripts with node, so a syntax error in a script that
# runs under another engine (k6) is caught by `make lint`.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$@"; do
  cp "$f" "$tmp/check.mjs"
  node --check "$tmp/check.mjs" || { echo "$f: syntax error" >&2; exit 1; }
done
