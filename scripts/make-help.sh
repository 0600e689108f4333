#!/usr/bin/env bash
# make help: every target with a "## what it does" comment, in the order
# the Makefile has them, the names in one column as wide as the longest;
# coloured only on a terminal, so a pipe or a file gets plain text.
set -euo pipefail
bold= reset=
if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then bold=$'\033[36m' reset=$'\033[0m'; fi
awk -v bold="$bold" -v reset="$reset" '
  BEGIN { FS = ":.*## " }
  /^[a-zA-Z0-9_-]+:.*## / { n++; name[n] = $1; what[n] = $2; if (length($1) > w) w = length($1) }
  END { for (i = 1; i <= n; i++) printf "  %s%-" w "s%s  %s\n", bold, name[i], reset, what[i] }
' "$@"
