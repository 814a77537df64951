//! A real Graphite for integration tests: a private carbon-cache (`carbon` 1.1.10 from PyPI) on
//! free loopback ports writing whisper files into its own temp dir, read back with whisper's
//! own `fetch` (`whisper` 1.1.10), and graphite-web's render API (`graphite-web` 1.1.10) over
//! the same storage, to evaluate targets exactly as a Grafana panel sends them.
//!
//! Why a real peer: whisper's storage rules are what a Graphite outputter must get right, and a
//! mock would only restate our own assumptions. Each retention step is one slot; a point lands
//! in the slot `ts - ts % step`, and a later write to the same slot overwrites it (last write
//! wins). Lower archives aggregate with `sum` (xFilesFactor 0, set here for every name) so that
//! counts roll up correctly. Dashboard targets (`sumSeries`, `groupByNode`, `divideSeries`,
//! `summarize`, …) are evaluated by graphite-web's own function library through its real
//! `/render?format=json` view, served by a small WSGI server on a free port, started on the first
//! [`GraphitePeer::render`] and kept for the life of the peer. It also asks this carbon-cache for
//! points not yet written (CARBONLINK), as a production graphite-web does.
//!
//! Semantics worth knowing (all whisper's, checked on this peer):
//! - A fetch of `from..until` returns the slots `from < ts <= until` (a slot-aligned `from` is
//!   itself left out), and never slots after the current time: a point stamped in the future
//!   is stored but reads back only once its slot is reached. Graphite's render does the same.
//! - carbon-cache writes asynchronously (tens of ms): poll with
//!   [`GraphitePeer::wait_for_points`], never sleep.
//! - Names: dots are directories (`a.b` is `a/b.wsp`); carbon collapses `..`, drops a leading
//!   dot, makes `/` a further directory and keeps other characters (`:`, `*`, `é`) in the file
//!   name. A tagged name `name;k=v` is stored as `_tagged/<h[0:3]>/<h[3:6]>/<h>.wsp`, h = sha256
//!   of the name with its tags sorted; [`GraphitePeer::fetch`] finds it by name through carbon's
//!   own encoder, but [`GraphitePeer::paths`] can only list it by its hash.
//!
//! The three are installed by `scripts/test.sh` from PyPI into the virtual environment
//! `.test-deps/graphite` (no root; the versions are pinned in `scripts/graphite-requirements.txt`).
//! Without it [`GraphitePeer::start`] panics with instructions: a missing peer must never skip
//! tests silently. Everything runs with that environment's own interpreter.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The virtual environment `scripts/test.sh` installs carbon, whisper and graphite-web into.
pub const GRAPHITE_VENV: &str = ".test-deps/graphite";
/// What `scripts/test.sh` writes into it once every package is installed.
const INSTALLED_MARK: &str = ".ptsd-installed";

const INSTALL_HINT: &str = "run scripts/test.sh (installs carbon, whisper and graphite-web \
     from PyPI into .test-deps/graphite, without root)";

/// A file of the virtual environment, e.g. `bin/python`.
fn venv(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(GRAPHITE_VENV)
        .join(rel)
}

/// The interpreter that has the `whisper`, `carbon` and `graphite` modules.
pub fn python() -> PathBuf {
    venv("bin/python")
}

/// carbon-cache's start script.
pub fn carbon_cache() -> PathBuf {
    venv("bin/carbon-cache.py")
}

/// How long carbon-cache or graphite-web may take to listen before a start is retried
/// (normally 0.7 s and 0.9 s on a 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one render request may take (the first one imports graphite-web's functions).
const RENDER_TIMEOUT: Duration = Duration::from_secs(60);

/// carbon.conf for one private instance. Paths come from `{dir}`; `USER` is left out so it runs
/// as the current user. ENABLE_TAGS=False: no TagDB to post to. CARBON_METRIC_INTERVAL=0: no
/// `carbon.agents.*` self-metrics in the storage. The rate limits are lifted so that a test's
/// points are created and written at once.
const CARBON_CONF: &str = "[cache]
STORAGE_DIR = {dir}/storage/
LOCAL_DATA_DIR = {dir}/storage/whisper/
CONF_DIR = {dir}/conf/
LOG_DIR = {dir}/log/
PID_DIR = {dir}/run/
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {line_port}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {pickle_port}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {cache_query_port}
ENABLE_TAGS = False
CARBON_METRIC_INTERVAL = 0
WHISPER_AUTOFLUSH = True
MAX_CACHE_SIZE = inf
MAX_CREATES_PER_MINUTE = inf
MAX_UPDATES_PER_SECOND = inf
";

/// Reads one whisper file with whisper's own fetch. Args: whisper dir, metric name, from, until.
/// Prints `null` while the file does not exist (or is still being created), else
/// `{"start": first slot, "step": seconds, "values": [...]}`.
const FETCH_PY: &str = r#"import json, os, struct, sys
import whisper
root, name, frm, until = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if ';' in name:
    # carbon's own encoding of tagged series (tags sorted, file named by sha256)
    from carbon.util import TaggedSeries
    rel = TaggedSeries.encode(TaggedSeries.parse(name).path, os.sep, hash_only=True)
else:
    rel = name.replace('.', os.sep).lstrip(os.sep)
path = os.path.join(root, rel + '.wsp')
out = None
if os.path.isfile(path):
    try:
        got = whisper.fetch(path, frm, until)
    except (whisper.CorruptWhisperFile, struct.error):
        got = None  # carbon is still writing the header
    if got is not None:
        (start, end, step), values = got
        out = {"start": start, "step": step, "values": values}
print(json.dumps(out))
"#;

/// graphite-web's local settings for this peer, from the environment set by
/// [`GraphitePeer::render`]'s server start.
const SETTINGS_PY: &str = r#"import os
_dir = os.environ['PTSD_GRAPHITE_DIR']
SECRET_KEY = 'ptsd-graphite-test-peer'
STORAGE_DIR = os.path.join(_dir, 'web')
CONF_DIR = os.path.join(_dir, 'web')
LOG_DIR = os.path.join(_dir, 'web', 'log')
INDEX_FILE = os.path.join(_dir, 'web', 'index')
WHISPER_DIR = os.path.join(_dir, 'storage', 'whisper') + os.sep
STANDARD_DIRS = [WHISPER_DIR]
CARBONLINK_HOSTS = ['127.0.0.1:' + os.environ['PTSD_GRAPHITE_CACHE_QUERY_PORT']]
TAGDB = None
USE_WORKER_POOL = False
FUNCTION_PLUGINS = []
DEFAULT_XFILES_FACTOR = 0
LOG_ROTATION = False
DATABASES = {'default': {'NAME': os.path.join(_dir, 'web', 'graphite.db'),
                         'ENGINE': 'django.db.backends.sqlite3'}}
"#;

/// graphite-web's WSGI application on 127.0.0.1:argv[1], single-threaded, no access log.
const SERVE_PY: &str = r#"import sys
from wsgiref.simple_server import make_server, WSGIRequestHandler
from graphite.wsgi import application

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

make_server('127.0.0.1', int(sys.argv[1]), application, handler_class=Quiet).serve_forever()
"#;

/// One series of a render result: its name (`target` in graphite's JSON) and its points.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedSeries {
    pub target: String,
    pub datapoints: Vec<(i64, Option<f64>)>,
}

/// One running carbon-cache, plus graphite-web once [`GraphitePeer::render`] was called.
/// Dropping it kills both processes (by their pid) and removes the temp dir.
pub struct GraphitePeer {
    /// Plaintext line receiver (`<path> <value> <unix seconds>\n` over TCP), on 127.0.0.1.
    pub line_port: u16,
    /// Pickle receiver, on 127.0.0.1.
    pub pickle_port: u16,
    /// carbon-cache's query port (graphite-web's CARBONLINK), on 127.0.0.1.
    pub cache_query_port: u16,
    /// The storage-schemas retentions every name gets, e.g. `60s:30d`.
    pub retentions: String,
    dir: PathBuf,
    carbon: Option<Child>,
    web: Mutex<Option<WebServer>>,
}

struct WebServer {
    port: u16,
    child: Child,
}

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

use super::statsd_peer::free_tcp_port as free_port;

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// The last `lines` lines of a log file, for panic messages.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn require(path: &Path, what: &str) {
    if !path.is_file() {
        panic!(
            "Graphite test peer: {what} not found at {}: {INSTALL_HINT}",
            path.display()
        );
    }
}

fn write_file(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn log_file(path: &Path) -> (std::fs::File, std::fs::File) {
    let log = std::fs::File::create(path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    let err = log
        .try_clone()
        .unwrap_or_else(|e| panic!("cannot clone log handle: {e}"));
    (log, err)
}

/// Percent-encodes a query parameter value (everything but RFC 3986 unreserved characters).
fn url_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `[[value, ts], …]` from graphite's JSON into `(ts, value)` pairs.
fn datapoints(series: &Value) -> Vec<(i64, Option<f64>)> {
    series["datapoints"]
        .as_array()
        .map(|points| {
            points
                .iter()
                .map(|p| {
                    let ts = p[1]
                        .as_i64()
                        .unwrap_or_else(|| panic!("datapoint without a timestamp: {p}"));
                    (ts, p[0].as_f64())
                })
                .collect()
        })
        .unwrap_or_default()
}

impl GraphitePeer {
    /// Starts a private carbon-cache (`--nodaemon`) on free loopback ports, storing every name
    /// with `retentions` (storage-schemas syntax, e.g. `60s:30d` or `1s:1h,60s:1d`) and `sum`
    /// aggregation with xFilesFactor 0, and waits until its ports accept connections. Retries
    /// with new ports if one was taken in between; panics with carbon's log if it cannot start.
    pub fn start(retentions: &str) -> GraphitePeer {
        require(&venv(INSTALLED_MARK), "the installed virtual environment");
        require(&python(), "its python");
        require(&carbon_cache(), "carbon-cache");
        let mut last_error = String::new();
        for _attempt in 0..3 {
            match Self::try_start(retentions) {
                Ok(peer) => return peer,
                Err(e) => last_error = e,
            }
        }
        panic!("Graphite test peer (carbon-cache) did not start after 3 attempts:\n{last_error}");
    }

    fn try_start(retentions: &str) -> Result<GraphitePeer, String> {
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 3 {
            let p = free_port();
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        let (line_port, pickle_port, cache_query_port) = (ports[0], ports[1], ports[2]);
        let dir = std::env::temp_dir().join(format!(
            "ptsd-graphite-{}-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        for sub in ["conf", "storage/whisper", "log", "run", "web/log"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
        }
        let dir_str = dir
            .to_str()
            .unwrap_or_else(|| panic!("temp dir is not UTF-8: {}", dir.display()));
        let conf = dir.join("conf/carbon.conf");
        write_file(
            &conf,
            &CARBON_CONF
                .replace("{dir}", dir_str)
                .replace("{line_port}", &line_port.to_string())
                .replace("{pickle_port}", &pickle_port.to_string())
                .replace("{cache_query_port}", &cache_query_port.to_string()),
        );
        write_file(
            &dir.join("conf/storage-schemas.conf"),
            &format!("[everything]\npattern = .*\nretentions = {retentions}\n"),
        );
        write_file(
            &dir.join("conf/storage-aggregation.conf"),
            "[everything]\npattern = .*\nxFilesFactor = 0\naggregationMethod = sum\n",
        );
        write_file(&dir.join("fetch.py"), FETCH_PY);
        write_file(&dir.join("web/ptsd_graphite_settings.py"), SETTINGS_PY);
        write_file(&dir.join("web/serve.py"), SERVE_PY);

        let log_path = dir.join("carbon.log");
        let (log, log_err) = log_file(&log_path);
        let child = Command::new(python())
            .arg(carbon_cache())
            .arg(format!("--config={}", conf.display()))
            .arg("--nodaemon")
            .arg("start")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", carbon_cache().display()));

        let mut peer = GraphitePeer {
            line_port,
            pickle_port,
            cache_query_port,
            retentions: retentions.to_string(),
            dir,
            carbon: Some(child),
            web: Mutex::new(None),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = peer
                .carbon
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                let log = tail(&log_path, 40);
                peer.stop();
                return Err(format!("carbon-cache exited early ({status}); log:\n{log}"));
            }
            if [line_port, pickle_port, cache_query_port]
                .into_iter()
                .all(accepts)
            {
                return Ok(peer);
            }
            if Instant::now() > deadline {
                let log = tail(&log_path, 40);
                peer.stop();
                return Err(format!(
                    "carbon-cache not listening after {START_TIMEOUT:?}; log:\n{log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The directory carbon writes whisper files into.
    pub fn whisper_dir(&self) -> PathBuf {
        self.dir.join("storage/whisper")
    }

    /// `127.0.0.1:<line_port>`, where a plaintext sender should connect.
    pub fn line_addr(&self) -> String {
        format!("127.0.0.1:{}", self.line_port)
    }

    /// Sends plaintext-protocol lines (`<path> <value> <unix seconds>`, `\n`-separated) over
    /// one TCP connection to the line receiver.
    pub fn send(&self, lines: &str) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.line_port))
            .expect("cannot connect to carbon-cache's line receiver");
        let mut body = lines.to_string();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        stream
            .write_all(body.as_bytes())
            .expect("cannot write to carbon-cache's line receiver");
        let _ = stream.shutdown(Shutdown::Write);
    }

    /// Sends one point: `path value ts`.
    pub fn send_point(&self, path: &str, value: f64, ts: i64) {
        self.send(&format!("{path} {value} {ts}\n"));
    }

    /// The slots `from < ts <= until` of the whisper file for the dotted `path` (a tagged
    /// `name;k=v` works too), read with whisper's own fetch: `(slot timestamp, value)`, `None`
    /// where nothing was written. Empty while the file does not exist yet (carbon creates it on
    /// the first point) or when the range is entirely in the future or beyond the retention.
    pub fn fetch(&self, path: &str, from: i64, until: i64) -> Vec<(i64, Option<f64>)> {
        let out = Command::new(python())
            .arg(self.dir.join("fetch.py"))
            .arg(self.whisper_dir())
            .arg(path)
            .arg(from.to_string())
            .arg(until.to_string())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {} to read whisper: {e}", python().display()));
        if !out.status.success() {
            panic!(
                "whisper fetch of {path:?} ({from}..{until}) failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let got: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "whisper fetch printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        if got.is_null() {
            return Vec::new();
        }
        let start = got["start"].as_i64().expect("fetch start");
        let step = got["step"].as_i64().expect("fetch step");
        got["values"]
            .as_array()
            .expect("fetch values")
            .iter()
            .enumerate()
            .map(|(i, v)| (start + i as i64 * step, v.as_f64()))
            .collect()
    }

    /// Polls [`GraphitePeer::fetch`] every 50 ms until `predicate` holds for what it returns, or
    /// `timeout` passes (carbon writes asynchronously). Returns the last read either way: the
    /// caller asserts on it.
    pub fn wait_for_points(
        &self,
        path: &str,
        from: i64,
        until: i64,
        predicate: impl Fn(&[(i64, Option<f64>)]) -> bool,
        timeout: Duration,
    ) -> Vec<(i64, Option<f64>)> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.fetch(path, from, until);
            if predicate(&got) || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every metric path stored, sorted: the whisper files under [`GraphitePeer::whisper_dir`],
    /// directories joined with dots, `.wsp` left out. Tagged series appear by their file,
    /// `_tagged.<h[0:3]>.<h[3:6]>.<sha256>`: whisper does not store their names.
    pub fn paths(&self) -> Vec<String> {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let full = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, &full, out);
                } else if let Some(metric) = full.strip_suffix(".wsp") {
                    out.push(metric.to_string());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.whisper_dir(), "", &mut out);
        out.sort();
        out
    }

    /// Polls [`GraphitePeer::paths`] every 50 ms until `predicate` holds, or `timeout` passes.
    /// Returns the last listing either way.
    pub fn wait_for_paths(
        &self,
        predicate: impl Fn(&[String]) -> bool,
        timeout: Duration,
    ) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.paths();
            if predicate(&got) || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Evaluates a Graphite target expression over this peer's storage with graphite-web's own
    /// render view: the parsed body of `GET /render?target=…&from=…&until=…&format=json`, a JSON
    /// array of `{"target": name, "tags": {…}, "datapoints": [[value, ts], …]}`. Points follow
    /// whisper's `from < ts <= until`. Only files that exist are found: wait for the points
    /// ([`GraphitePeer::wait_for_points`]) before rendering. Panics with graphite-web's answer
    /// and log on any status but 200 (e.g. an unknown function).
    pub fn render(&self, target: &str, from: i64, until: i64) -> Value {
        let query = format!(
            "target={}&from={from}&until={until}&format=json",
            url_encode(target)
        );
        let (status, body) = self.render_request(&query);
        if status != 200 {
            panic!(
                "graphite-web render of {target:?} ({from}..{until}) answered {status}:\n{body}\n\
                 exception log:\n{}",
                tail(&self.dir.join("web/log/exception.log"), 40)
            );
        }
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("graphite-web render answered non-JSON ({e}): {body}"))
    }

    /// [`GraphitePeer::render`], typed: each series' name and `(ts, value)` points.
    pub fn render_series(&self, target: &str, from: i64, until: i64) -> Vec<RenderedSeries> {
        let json = self.render(target, from, until);
        json.as_array()
            .unwrap_or_else(|| panic!("render result is not an array: {json}"))
            .iter()
            .map(|s| RenderedSeries {
                target: s["target"].as_str().unwrap_or_default().to_string(),
                datapoints: datapoints(s),
            })
            .collect()
    }

    /// One GET against graphite-web (started on first use): `(status, body)`.
    fn render_request(&self, query: &str) -> (u16, String) {
        let port = self.web_port();
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .expect("cannot connect to the graphite-web test server");
        stream
            .set_read_timeout(Some(RENDER_TIMEOUT))
            .expect("set_read_timeout");
        stream
            .write_all(
                format!(
                    "GET /render?{query} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .expect("cannot write to the graphite-web test server");
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .unwrap_or_else(|e| panic!("reading graphite-web's answer to {query} failed: {e}"));
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("graphite-web answered no HTTP response: {raw:?}"));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("graphite-web answered a bad status line: {head:?}"));
        (status, body.to_string())
    }

    /// The graphite-web server's port, starting it on first use (retried with new ports).
    fn web_port(&self) -> u16 {
        let mut web = self.web.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = web.as_ref() {
            return w.port;
        }
        let mut last_error = String::new();
        for _attempt in 0..3 {
            match self.try_start_web() {
                Ok(w) => {
                    let port = w.port;
                    *web = Some(w);
                    return port;
                }
                Err(e) => last_error = e,
            }
        }
        panic!("graphite-web test server did not start after 3 attempts:\n{last_error}");
    }

    fn try_start_web(&self) -> Result<WebServer, String> {
        let port = free_port();
        let web_dir = self.dir.join("web");
        let log_path = web_dir.join("server.log");
        let (log, log_err) = log_file(&log_path);
        let mut child = Command::new(python())
            .arg(web_dir.join("serve.py"))
            .arg(port.to_string())
            .current_dir(&web_dir)
            .env("PYTHONPATH", &web_dir)
            .env("DJANGO_SETTINGS_MODULE", "graphite.settings")
            .env("GRAPHITE_SETTINGS_MODULE", "ptsd_graphite_settings")
            .env("PTSD_GRAPHITE_DIR", &self.dir)
            .env(
                "PTSD_GRAPHITE_CACHE_QUERY_PORT",
                self.cache_query_port.to_string(),
            )
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {} for graphite-web: {e}", python().display()));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "graphite-web exited early ({status}); log:\n{}",
                    tail(&log_path, 40)
                ));
            }
            if accepts(port) {
                return Ok(WebServer { port, child });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "graphite-web not listening after {START_TIMEOUT:?}; log:\n{}",
                    tail(&log_path, 40)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// carbon-cache's own log (creates, updates, errors), for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("carbon.log")).unwrap_or_default()
    }

    /// Kills graphite-web and carbon-cache (only these children) and removes the temp dir.
    /// Idempotent.
    pub fn stop(&mut self) {
        let web = self.web.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(mut w) = web.take() {
            let _ = w.child.kill();
            let _ = w.child.wait();
        }
        if let Some(mut child) = self.carbon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for GraphitePeer {
    fn drop(&mut self) {
        self.stop();
    }
}
