#!/usr/bin/env bash
# make chaos: the mesh on its own throwaway PostgreSQL cluster, steady
# checkouts (approvals, declined cards, carrier refusals), the mesh killed
# with SIGKILL twice and restarted, PostgreSQL restarted once, all mid-load;
# then the saga must settle with every invariant intact. Prints
#   chaos kills=2 pg_restarts=1 orders=N stuck=0 invariants=ok
# and exits non-zero otherwise. Takes about two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$PWD/.build/chaos
export ORDERMESH_PG_DATA=$dir/pg ORDERMESH_PG_PORT=${CHAOS_PG_PORT:-55433}
scripts/postgres.sh --stop >/dev/null 2>&1 || true
rm -rf "$dir" && mkdir -p "$dir"
unset DATABASE_URL
eval "$(scripts/postgres.sh --throwaway)"

go build -o "$dir/ordermesh" ./cmd/ordermesh
go build -o "$dir/chaos" ./cmd/chaos

port=${CHAOS_PORT:-18080}
base=http://127.0.0.1:$port
export ADDR=127.0.0.1:$port ADMIN_ADDR= LOG_LEVEL=warn # every service's URL follows ADDR
export JWT_SIGNING_KEY=${JWT_SIGNING_KEY:-chaos-signing-key-not-for-production}
# Orders the kills interrupt finish by expiry at the latest: keep it short.
export ORDER_DEADLINE=20s ORDER_EXPIRY_INTERVAL=1s RELAY_BACKOFF_MAX=2s

mesh=
start_mesh() {
  "$dir/ordermesh" >>"$dir/mesh.log" 2>&1 &
  mesh=$!
  for _ in $(seq 1 150); do
    curl -sf "$base/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "chaos: the mesh did not become ready; see $dir/mesh.log" >&2
  return 1
}
cleanup() {
  [[ -n "$mesh" ]] && kill "$mesh" 2>/dev/null || true
  [[ -n "${load:-}" ]] && kill "$load" 2>/dev/null || true
  wait 2>/dev/null || true
  scripts/postgres.sh --stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

start_mesh
"$dir/chaos" load -addr "$base" -duration "${CHAOS_DURATION:-40s}" >"$dir/load.log" 2>&1 &
load=$!
kills=0 restarts=0
for step in kill kill pg; do
  sleep 8
  case $step in
    kill)
      kill -9 "$mesh"; wait "$mesh" 2>/dev/null || true
      kills=$((kills + 1)); echo "chaos: SIGKILL $kills"
      start_mesh ;;
    pg)
      scripts/postgres.sh --restart
      restarts=$((restarts + 1)); echo "chaos: PostgreSQL restarted" ;;
  esac
done
status=0
wait "$load" || status=$?
load=
cat "$dir/load.log"
[[ $status -eq 0 ]] || { echo "chaos: the load failed" >&2; exit 1; }
"$dir/chaos" check -kills "$kills" -pg-restarts "$restarts"
