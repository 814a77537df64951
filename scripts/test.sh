#!/usr/bin/env bash
# The project's one test command: installs the real peers the integration tests talk to if
# they are missing, then runs every cargo test target. The peers: Etsy statsd from npm (into
# .test-deps/, gitignored), and Graphite from Debian packages (carbon-cache, whisper and
# graphite-web; apt-get as root, or through sudo). Extra arguments go to `cargo test`; if they
# pick targets themselves (e.g. `scripts/test.sh --test fake_pagerduty`), only those run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Graphite peer (tests/support/graphite_peer.rs). Checked with dpkg-query, so an installed
# machine pays ~50 ms; a fresh one ~35-60 s (apt-get update + 29 packages, no recommends).
graphite_pkgs=(graphite-carbon python3-whisper graphite-web)
graphite_missing=()
for pkg in "${graphite_pkgs[@]}"; do
  if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]]; then
    graphite_missing+=("$pkg")
  fi
done
if ((${#graphite_missing[@]})); then
  echo "installing ${graphite_missing[*]} from Debian (Graphite test peer)" >&2
  sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || {
      echo "need root (or sudo) to apt-get install ${graphite_missing[*]}" >&2
      exit 1
    }
    sudo=(sudo)
  fi
  # The packages enable a carbon-cache service on 0.0.0.0:2003; the tests start their own on
  # loopback ports, so keep dpkg from starting it, unless a policy is already in place.
  policy=/usr/sbin/policy-rc.d
  made_policy=false
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    made_policy=true
    trap '"${sudo[@]}" rm -f "$policy"' EXIT
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${graphite_pkgs[@]}" >/dev/null
  if $made_policy; then
    "${sudo[@]}" rm -f "$policy"
    trap - EXIT
  fi
fi

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
