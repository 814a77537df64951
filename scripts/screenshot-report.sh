#!/usr/bin/env bash
# Takes the README's picture of the HTML handoff report (not run in CI): `ptsd report --demo
# --format html` over a fixed demo week, then a PNG of the page from headless Chromium.
#
# Prerequisites (Debian): apt-get install --no-install-recommends chromium fonts-dejavu-core
#
# Usage: scripts/screenshot-report.sh [out.png]   (default docs/report.png; PTSD_BIN overrides
# the binary, PTSD_REPORT_UNTIL the end of the week, PTSD_SHOT_HEIGHT the page height in px)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=${1:-docs/report.png}
until=${PTSD_REPORT_UNTIL:-2026-11-30T09:00:00Z}
height=${PTSD_SHOT_HEIGHT:-2000}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[[ -n $browser ]] || { echo "no Chromium: see the prerequisites at the top of $0" >&2; exit 1; }

if [[ -z ${PTSD_BIN:-} ]]; then
  cargo build --quiet --bin ptsd
  PTSD_BIN=target/debug/ptsd
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$PTSD_BIN" report --demo --since 7d --until "$until" --format html >"$dir/report.html" 2>/dev/null
# --user-data-dir: a throwaway profile, so a Chromium already running is not disturbed.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$dir/profile" \
  --window-size="1000,$height" --screenshot="$dir/shot.png" "file://$dir/report.html" 2>/dev/null
mkdir -p "$(dirname "$out")"
mv "$dir/shot.png" "$out"
echo "wrote $out"
