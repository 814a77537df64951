#!/usr/bin/env bash
# Renders the pictures in docs/ (not run in CI): a private carbon-cache and graphite-web on free
# loopback ports, `ptsd --demo` backfilling a week into it through the Graphite output, then
# PNGs of the main panels of dashboards/grafana-graphite.json from graphite-web's render API
# (the same targets, root=ptsd, provider=demo).
#
# Prerequisites: the Graphite test peer that scripts/test.sh installs into .test-deps/graphite
# (carbon, whisper, graphite-web and cairocffi from PyPI; it needs the cairo library), and curl.
# Runs with that environment's python.
#
# Usage: scripts/render-pictures.sh [out-dir]   (default docs/; PTSD_BIN overrides the binary)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=${1:-docs}
py=$PWD/.test-deps/graphite/bin/python
carbon_cache=$PWD/.test-deps/graphite/bin/carbon-cache.py
for need in "$py" "$carbon_cache"; do
  [[ -e $need ]] || { echo "missing $need: run scripts/test.sh once (it installs the Graphite peer)" >&2; exit 1; }
done
$py -c 'import cairocffi' 2>/dev/null || {
  echo "graphite-web needs the cairo library for PNGs (Debian/Ubuntu: apt-get install libcairo2; Fedora: dnf install cairo; macOS: brew install cairo)" >&2
  exit 1
}

if [[ -z ${PTSD_BIN:-} ]]; then
  cargo build --quiet --bin ptsd
  PTSD_BIN=target/debug/ptsd
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/ptsd-pictures.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
line_port=$(free_port); pickle_port=$(free_port); query_port=$(free_port); web_port=$(free_port)

mkdir -p "$dir"/{conf,storage/whisper,log,run,web/log}
cat >"$dir/conf/carbon.conf" <<EOF
[cache]
STORAGE_DIR = $dir/storage/
LOCAL_DATA_DIR = $dir/storage/whisper/
CONF_DIR = $dir/conf/
LOG_DIR = $dir/log/
PID_DIR = $dir/run/
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = $line_port
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = $pickle_port
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = $query_port
ENABLE_TAGS = False
CARBON_METRIC_INTERVAL = 0
MAX_CACHE_SIZE = inf
MAX_CREATES_PER_MINUTE = inf
MAX_UPDATES_PER_SECOND = inf
EOF
printf '[everything]\npattern = .*\nretentions = 60s:8d\n' >"$dir/conf/storage-schemas.conf"
printf '[everything]\npattern = .*\nxFilesFactor = 0\naggregationMethod = sum\n' \
  >"$dir/conf/storage-aggregation.conf"
cat >"$dir/web/pictures_settings.py" <<EOF
SECRET_KEY = 'ptsd-pictures'
STORAGE_DIR = '$dir/web'
CONF_DIR = '$dir/web'
LOG_DIR = '$dir/web/log'
INDEX_FILE = '$dir/web/index'
WHISPER_DIR = '$dir/storage/whisper/'
STANDARD_DIRS = [WHISPER_DIR]
CARBONLINK_HOSTS = ['127.0.0.1:$query_port']
TAGDB = None
USE_WORKER_POOL = False
FUNCTION_PLUGINS = []
DEFAULT_XFILES_FACTOR = 0
LOG_ROTATION = False
DATABASES = {'default': {'NAME': '$dir/web/graphite.db', 'ENGINE': 'django.db.backends.sqlite3'}}
EOF
cat >"$dir/web/serve.py" <<'EOF'
import sys
from wsgiref.simple_server import make_server, WSGIRequestHandler
from graphite.wsgi import application
class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass
make_server('127.0.0.1', int(sys.argv[1]), application, handler_class=Quiet).serve_forever()
EOF

$py "$carbon_cache" --config="$dir/conf/carbon.conf" --nodaemon start >"$dir/carbon.log" 2>&1 &
pids+=($!)
(cd "$dir/web" && PYTHONPATH="$dir/web" DJANGO_SETTINGS_MODULE=graphite.settings \
  GRAPHITE_SETTINGS_MODULE=pictures_settings exec $py serve.py "$web_port") >"$dir/web.log" 2>&1 &
pids+=($!)

wait_port() {
  for _ in $(seq 1 300); do
    $py -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1; logs:" >&2
  tail -20 "$dir/carbon.log" "$dir/web.log" >&2
  exit 1
}
wait_port "$line_port"
wait_port "$web_port"

echo "backfilling a demo week into carbon on 127.0.0.1:$line_port" >&2
env -i PATH="$PATH" PTSD_OUTPUTS=graphite GRAPHITE_HOST=127.0.0.1 GRAPHITE_PORT="$line_port" \
  PTSD_GRAPHITE_RESOLUTION=1m PTSD_BACKFILL=7d PTSD_STATE_DIR="$dir/state" RUST_LOG=warn \
  "$PTSD_BIN" --demo --once

render() { # target [extra query] -> stdout
  curl -fsS --get "http://127.0.0.1:$web_port/render" --data-urlencode "target=$1" \
    --data "from=-7d&until=now${2:+&$2}"
}
# carbon writes in the background; graphite-web also asks it for what is not written yet.
# Wait until the week's total of pages stops changing.
total() {
  render "integral(sumSeries(ptsd.demo.users.*.notifications.*))" "format=json" |
    $py -c 'import json,sys; d=json.load(sys.stdin); print(max([v for v,_ in d[0]["datapoints"] if v is not None], default=0) if d else 0)'
}
last=-1
for _ in $(seq 1 60); do
  now=$(total)
  [[ $now != 0 && $now == "$last" ]] && break
  last=$now
  sleep 2
done
echo "pages in the week: $last" >&2

mkdir -p "$out"
style="width=800&height=300&fontSize=10&bgcolor=white&fgcolor=black&majorGridLineColor=dddddd&minorGridLineColor=eeeeee&hideGrid=false&lineMode=staircase&yMin=0"
picture() { # file title target [extra]
  local query="$style&format=png&title=$(printf %s "$2" | $py -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.stdin.read()))')${4:+&$4}"
  render "$3" "$query" >"$out/$1"
  echo "$out/$1" >&2
}
root=ptsd.demo
picture pages-per-person-by-channel.png "Pages per person per day, stacked by channel" \
  "groupByNodes(summarize($root.users.*.notifications.*, '1d', 'sum', false), 'sum', -3, -1)" \
  "areaMode=stacked&legendColumns=6"
picture interruptions-by-hour-band.png "Interruptions per hour band, per day (whole team, stacked)" \
  "groupByNode(summarize($root.users.*.interruptions.*, '1d', 'sum', false), -1, 'sum')" \
  "areaMode=stacked&colorList=4a90d9,f5a623,7b3fa0"
picture sleep-interruptions-per-day.png "Sleep interruptions per day, per person" \
  "groupByNode(summarize($root.users.*.interruptions.sleep, '1d', 'sum', false), -3, 'sum')" \
  "drawNullAsZero=true&lineWidth=2"
picture incidents-by-service.png "Incidents per 6 hours, by service (stacked)" \
  "groupByNode(summarize($root.services.*.incidents, '6h', 'sum', false), -2, 'sum')" \
  "areaMode=stacked"
picture acked-within-5-min.png "Share acknowledged within 5 min, per day" \
  "alias(divideSeries(summarize(sumSeries($root.time_to_ack.*.le_5m), '1d', 'sum', false), summarize(sumSeries($root.time_to_ack.*.count), '1d', 'sum', false)), 'acked within 5 min')" \
  "yMax=1&areaMode=first&colorList=2e8b57"
