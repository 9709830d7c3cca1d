#!/usr/bin/env bash
# Check the systemd units in deploy/: `systemd-analyze verify` must be silent and
# `systemd-analyze security` must score each at most MAX_EXPOSURE (lower is better).
#
# Runs offline in a container without a running systemd:
# - verify loads a copy of each unit whose ExecStart= names an interpreter that exists here
#   (/usr/bin/env python3 stand-in for /opt/protovideo/.venv/bin/python; verify insists the
#   command is executable), with --man=no (no man pages installed) and --generators=no (no
#   generators in a container); the template is verified as the instance protovideo-worker@1.
#   verify reports unknown keys as warnings with exit 0, so any output at all fails the check.
# - security runs with --offline=true (judges the unit file, asks no running manager).
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_EXPOSURE="${MAX_EXPOSURE:-2.5}"
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not found (apt-get install systemd)"; exit 1; }
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
status=0
for unit in deploy/protovideo-worker.service deploy/protovideo-worker@.service deploy/protovideo-api.service; do
  name="$(basename "$unit")"
  sed 's|^ExecStart=/opt/protovideo/.venv/bin/python |ExecStart=/usr/bin/env python3 |' "$unit" > "$stage/$name"
  target="$stage/$name"
  [[ "$name" == *@.service ]] && target="$stage/${name/@.service/@1.service}"
  if ! out="$(systemd-analyze verify --man=no --generators=no "$target" 2>&1)" || [[ -n "$out" ]]; then
    echo "FAIL verify $unit:"; echo "$out"; status=1
  else
    echo "ok   verify $unit"
  fi
  line="$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1 | grep 'Overall exposure level' || true)"
  score="$(sed -n 's/.*: \([0-9.]*\) .*/\1/p' <<<"$line")"
  if [[ -z "$score" ]] || ! awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }'; then
    echo "FAIL security $unit: exposure ${score:-unknown} (at most $MAX_EXPOSURE): $line"; status=1
  else
    echo "ok   security $unit: exposure $score (at most $MAX_EXPOSURE)"
  fi
done
exit $status
