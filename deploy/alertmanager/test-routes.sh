#!/usr/bin/env bash
# Check the Alertmanager configuration and every routing case of routes.test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
config="${1:-$here/alertmanager.yaml}"
amtool check-config "$config" >/dev/null
failed=0
while read -r receivers labels; do
  case "$receivers" in ''|'#'*) continue ;; esac
  # shellcheck disable=SC2086  # the labels are separate arguments
  if ! amtool config routes test --config.file="$config" \
      --verify.receivers="$receivers" $labels >/dev/null 2>&1; then
    echo "expected $receivers for: $labels" >&2
    failed=1
  fi
done <"$here/routes.test"
exit "$failed"
