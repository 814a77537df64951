#!/usr/bin/env bash
# The project's one test command: installs the real peers the integration tests talk to if
# they are missing, then runs every cargo test target. The peers, all installed into
# .test-deps/ (gitignored) without root: Etsy statsd from npm, Graphite (carbon-cache,
# whisper and graphite-web) from PyPI into a virtual environment, and Datadog's API client
# (its dashboard models) into another. Needs python3 (with venv),
# node and npm, and the cairo library; it says which is missing. Extra arguments go to
# `cargo test`; if they pick targets themselves (e.g. `scripts/test.sh --test
# fake_pagerduty`), only those run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Everything below installs as the current user, into .test-deps/ (gitignored), once: no root,
# no apt. A system library a peer needs is checked first; if it is missing the script stops
# with one line naming it (it never skips a test).
stop() {
  echo "scripts/test.sh: $*" >&2
  exit 1
}

# Graphite peer (tests/support/graphite_peer.rs): carbon-cache, whisper and graphite-web from
# PyPI into a virtual environment, at the versions of scripts/graphite-requirements.txt. It is
# made again only when that file changes (a copy of it marks a finished install); a fresh
# install takes about 30 s, an installed one costs one `cmp`.
python=${PYTHON:-python3}
command -v "$python" >/dev/null \
  || stop "the Graphite test peer needs python3 (Debian/Ubuntu: apt-get install python3; Fedora: dnf install python3; macOS: brew install python)"
# graphite-web's renderer loads the cairo library (through cairocffi, which looks for it as
# this does) when its render view is imported, even for JSON.
"$python" -c 'import ctypes.util, sys
sys.exit(not any(ctypes.util.find_library(n) for n in ("cairo", "cairo-2", "libcairo-2")))' \
  || stop "graphite-web (a test peer) needs the cairo library, which is missing (Debian/Ubuntu: apt-get install libcairo2; Fedora: dnf install cairo; macOS: brew install cairo)"
graphite_venv=.test-deps/graphite
graphite_reqs=scripts/graphite-requirements.txt
if ! cmp -s "$graphite_reqs" "$graphite_venv/.ptsd-installed"; then
  "$python" -c 'import ensurepip, venv' 2>/dev/null \
    || stop "python3 cannot make a virtual environment: the venv module is missing (Debian/Ubuntu: apt-get install python3-venv; Fedora: dnf install python3; macOS: brew install python)"
  echo "installing carbon, whisper and graphite-web from PyPI into $graphite_venv (Graphite test peer)" >&2
  rm -rf "$graphite_venv"
  "$python" -m venv "$graphite_venv"
  # GRAPHITE_NO_PREFIX: install into the environment, not carbon's default /opt/graphite.
  GRAPHITE_NO_PREFIX=True "$graphite_venv/bin/pip" install --disable-pip-version-check --quiet --no-compile \
    --no-deps -r "$graphite_reqs"
  cp "$graphite_reqs" "$graphite_venv/.ptsd-installed"
fi

# Datadog's API client (tests/support/datadog_models.py): the Datadog dashboards must load
# into its dashboard models. From PyPI into its own virtual environment, remade only when
# scripts/datadog-requirements.txt changes.
datadog_venv=.test-deps/datadog
datadog_reqs=scripts/datadog-requirements.txt
if ! cmp -s "$datadog_reqs" "$datadog_venv/.ptsd-installed"; then
  echo "installing datadog-api-client from PyPI into $datadog_venv (dashboard check)" >&2
  rm -rf "$datadog_venv"
  "$python" -m venv "$datadog_venv"
  "$datadog_venv/bin/pip" install --disable-pip-version-check --quiet --no-compile \
    --no-deps -r "$datadog_reqs"
  cp "$datadog_reqs" "$datadog_venv/.ptsd-installed"
fi

# StatsD peer (tests/support/statsd_peer.rs): Etsy statsd from npm.
command -v npm >/dev/null \
  || stop "the StatsD test peer needs node and npm (Debian/Ubuntu: apt-get install nodejs npm; Fedora: dnf install nodejs npm; macOS: brew install node)"
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
