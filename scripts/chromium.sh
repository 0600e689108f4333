#!/usr/bin/env bash
# Makes sure headless Chromium is on PATH, for the browser test
# (TestBrowserCheckout drives it with chromedp). It comes from Debian's
# chromium package; set CHROMIUM to use another Chromium or Chrome.
set -euo pipefail
if [[ -n ${CHROMIUM:-} ]] || command -v chromium >/dev/null 2>&1; then
  exit 0
fi
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "installing chromium from Debian's chromium package" >&2
"${sudo[@]}" apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >&2
