#!/usr/bin/env bash
# Finds a PostgreSQL server for `make run` and `make test`, or starts a
# throwaway one, and prints the environment to use it:
#
#   eval "$(scripts/postgres.sh)"
#
# Order of preference:
#   1. DATABASE_URL, when it is set (ORDERMESH_TEST_DATABASE_URL likewise);
#   2. a server on 127.0.0.1:5432 that accepts the postgres role;
#   3. a cluster in ./.data/postgres, created with initdb and started with
#      pg_ctl from PATH (or /usr/lib/postgresql/*/bin) on port 55432.
#
# `scripts/postgres.sh --throwaway` skips 1 and 2; `--stop` stops the
# throwaway cluster and `--restart` restarts it (fast shutdown).
set -euo pipefail
mode=${1:-}

root=$(cd "$(dirname "$0")/.." && pwd)
# ORDERMESH_PG_PORT and ORDERMESH_PG_DATA place another throwaway cluster
# (make chaos runs its own).
port=${ORDERMESH_PG_PORT:-55432}
data=${ORDERMESH_PG_DATA:-"$root/.data/postgres"}

emit() { # $1: server URL without a database
  local svc='{service}'
  echo "export DATABASE_URL='${DATABASE_URL:-$1/ordermesh_$svc?sslmode=disable}'"
  echo "export ORDERMESH_TEST_DATABASE_URL='${ORDERMESH_TEST_DATABASE_URL:-$1/postgres?sslmode=disable}'"
}

if [[ "$mode" == "--restart" ]]; then # the throwaway cluster, fast, as an operator would
  pg_ctl=$(command -v pg_ctl || ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1)
  if [[ $(id -u) -eq 0 ]]; then runuser -u "$(stat -c %U "$data")" -- "$pg_ctl" -D "$data" restart -m fast -w >/dev/null; else "$pg_ctl" -D "$data" restart -m fast -w >/dev/null; fi
  exit 0
fi

if [[ "$mode" == "--stop" ]]; then
  pg_ctl=$(command -v pg_ctl || ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1)
  if [[ -f "$data/PG_VERSION" ]]; then
    if [[ $(id -u) -eq 0 ]]; then runuser -u "$(stat -c %U "$data")" -- "$pg_ctl" -D "$data" stop -m fast; else "$pg_ctl" -D "$data" stop -m fast; fi
  fi
  exit 0
fi

if [[ "$mode" != "--throwaway" && -n "${DATABASE_URL:-}" ]]; then
  emit "postgres://postgres@127.0.0.1:5432"
  exit 0
fi

if [[ "$mode" != "--throwaway" ]] && command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 -U postgres; then
  emit "postgres://postgres@127.0.0.1:5432"
  exit 0
fi

find_bin() {
  if command -v "$1" >/dev/null; then command -v "$1"; return; fi
  local b
  b=$(ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n "$b" ]] && echo "$b"
}
initdb=$(find_bin initdb || true)
pg_ctl=$(find_bin pg_ctl || true)
if [[ -z "$initdb" || -z "$pg_ctl" ]]; then
  echo "scripts/postgres.sh: no PostgreSQL on 127.0.0.1:5432 and no initdb/pg_ctl to start one." >&2
  echo "Install PostgreSQL (apt-get install postgresql) or set DATABASE_URL." >&2
  exit 1
fi

# PostgreSQL refuses to run as root: run the throwaway cluster as the
# postgres user when we are root.
as_owner=()
if [[ $(id -u) -eq 0 ]]; then
  owner=postgres
  id "$owner" >/dev/null 2>&1 || owner=nobody
  as_owner=(runuser -u "$owner" --)
fi

mkdir -p "$data"
if [[ ${#as_owner[@]} -gt 0 ]]; then
  chown -R "${as_owner[2]}" "$(dirname "$data")"
  # The owner must be able to reach the folder: a parent made private
  # (.build by a tool that creates it 0750) gets the search bit for others.
  d=$(dirname "$(dirname "$data")")
  while [[ $d != / ]] && ! "${as_owner[@]}" test -x "$d"; do chmod o+x "$d"; d=$(dirname "$d"); done
fi
if [[ ! -f "$data/PG_VERSION" ]]; then
  echo "scripts/postgres.sh: no PostgreSQL on 127.0.0.1:5432; creating a throwaway cluster in $data (seconds)" >&2
  "${as_owner[@]}" "$initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 >/dev/null
fi
if ! "${as_owner[@]}" "$pg_ctl" -D "$data" status >/dev/null 2>&1; then
  echo "scripts/postgres.sh: starting PostgreSQL on 127.0.0.1:$port from $data" >&2
  "${as_owner[@]}" "$pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
fi
emit "postgres://postgres@127.0.0.1:$port"
