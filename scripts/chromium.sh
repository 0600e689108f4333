#!/usr/bin/env bash
# Makes sure headless Chromium is on PATH, for the browser test
# (TestBrowserCheckout drives it with chromedp). It comes from Debian's
# chromium package; set CHROMIUM to use another Chromium or Chrome.
set -euo pipefail
if [[ -n ${CHROMIUM:-} ]] || command -v chromium >/dev/null 2>&1; then
  exit 0
fi
exec "$(dirname "$0")/apt-install.sh" chromium
