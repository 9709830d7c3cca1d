#!/usr/bin/env bash
# Install what the test suite needs, then run it.
#   system (Debian, as root): ffmpeg (for ffprobe in the tests), redis-server, libfribidi0
#     (right-to-left text: Pillow's Raqm loads it),
#     chromium and chromium-driver (the dashboard's browser tests),
#     radosgw, ceph-mon and ceph-osd (the S3 test server, scripts/s3_server.sh)
#   Python: requirements-dev.txt (torch pinned to the 2.13.0 CPU build)
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  need=()
  command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
  # Pillow's wheel shapes text with its own Raqm, which loads FriBiDi from the system
  ldconfig -p 2>/dev/null | grep -q libfribidi || need+=(libfribidi0)
  for tool in radosgw ceph-mon ceph-osd; do command -v $tool >/dev/null 2>&1 || need+=($tool); done
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
  fi
fi
python3 -m pip install -q --disable-pip-version-check -r requirements-dev.txt
# architecture rules (.importlinter): layers, a leaf job model, no cycles
lint-imports --no-cache
set +e
# -rs: every skipped test is listed with its reason
python3 -m pytest -q -p no:cacheprovider -rs "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
