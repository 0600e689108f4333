#!/usr/bin/env bash
# Makes sure promtool and prometheus are on PATH, for the rule unit tests
# and the dashboard and alert queries run against a real Prometheus. They
# come from Debian's prometheus package (2.42 on bookworm); nothing else of
# the package is used, and no Prometheus service is started.
set -euo pipefail
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
exec "$(dirname "$0")/apt-install.sh" prometheus
