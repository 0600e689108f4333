#!/usr/bin/env bash
# Checks every Go module of the repository against the Go vulnerability
# database with govulncheck (`make vulncheck`, in CI). It fails when code
# here calls a vulnerable function of a module it requires: bump that
# module. Findings in the standard library are printed, with the Go
# release that fixes them, but do not fail: the Go release is the
# machine's (see docs/decisions.md, "Vulnerabilities").
#
# vuln.go.dev cannot be reached from here, so the database is built from
# the Go module golang.org/x/vulndb (its data/osv, the same reports)
# pinned in tools/vuln/go.mod: bump that pin to take newer reports. Both
# tools run from that module, outside go.work (see scripts/tool).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
modfile=$root/tools/vuln/go.mod
db=$root/.build/vulndb
export GOWORK=off

osv=$(go list -modfile="$modfile" -m -f '{{.Dir}}' golang.org/x/vulndb)/data/osv
rm -rf "$db" && mkdir -p "$db"
go tool -modfile="$modfile" indexdb -vulns "$osv" -out "$db"
echo "vulncheck: $(find "$db/ID" -name '*.json' | wc -l) reports from golang.org/x/vulndb $(go list -modfile="$modfile" -m -f '{{.Version}}' golang.org/x/vulndb)"

status=0
for mod in . gen/go examples/go-client; do
  echo "== govulncheck $mod"
  out=$(cd "$mod" && go tool -modfile="$modfile" govulncheck -db "file://$db" ./... 2>&1) && continue
  # govulncheck exits 3 when it found vulnerabilities the code calls;
  # anything else is the scan failing.
  if ! grep -q '^=== Symbol Results ===' <<<"$out"; then
    echo "$out"
    status=1
    continue
  fi
  modules=$(grep -E '^ +Found in: ' <<<"$out" | grep -vE '@go[0-9]' || true)
  if [[ -n $modules ]]; then
    echo "$out"
    echo "vulncheck: $mod calls vulnerable code in modules it requires; upgrade them:" >&2
    echo "$modules" >&2
    status=1
  else
    stdlib=$(grep -cE '^Vulnerability #' <<<"$out")
    fixed=$(grep -E '^ +Fixed in: ' <<<"$out" | sed 's/.*@//' | sort -V | tail -1)
    echo "vulncheck: $mod: no vulnerable module is called; $stdlib standard-library findings for $(go env GOVERSION), fixed by $fixed (not failing: the Go release is the machine's)"
  fi
done
exit $status
