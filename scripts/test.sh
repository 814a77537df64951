#!/usr/bin/env bash
# The project's one test command: installs the real StatsD peer the integration tests talk to
# (Etsy statsd from npm, into .test-deps/, gitignored) if it is missing, then runs every cargo
# test target. Extra arguments go to `cargo test`; if they pick targets themselves
# (e.g. `scripts/test.sh --test fake_pagerduty`), only those run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -f .test-deps/node_modules/statsd/stats.js ]]; then
  echo "installing statsd@0.9.0 into .test-deps (test peer)" >&2
  npm install --prefix .test-deps --no-audit --no-fund statsd@0.9.0
fi

targets=(--all-targets)
for arg in "$@"; do
  case "$arg" in
    --) break ;;
    --lib | --bins | --bin | --bin=* | --tests | --test | --test=* | --benches | --bench | --bench=* \
      | --examples | --example | --example=* | --doc | --all-targets) targets=() ;;
  esac
done

cargo test "${targets[@]}" "$@"
