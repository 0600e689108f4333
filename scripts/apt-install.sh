#!/usr/bin/env bash
# apt-install.sh PACKAGE...: installs Debian packages, with sudo when not
# root. The scripts that make sure a tool is present call it when it is not.
set -euo pipefail
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "installing $* from Debian's packages" >&2
"${sudo[@]}" apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >&2
