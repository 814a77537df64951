//! A real StatsD server for integration tests: Etsy statsd 0.9.0 from npm, run with node on
//! free loopback ports, read back through its management TCP interface.
//!
//! Why a real peer: the daemon's output must be accepted by an actual StatsD implementation,
//! including DogStatsD tags (`name:1|c|#k:v`), which Etsy statsd stores as the Graphite-style key
//! `name;k=v` (Graphite's tag syntax). It is configured with `backends: []` and a
//! one-hour flush interval, so counters never reset during a test and can be polled.
//!
//! [`StatsdPeer::start_with_graphite`] runs it instead as a Graphite user would: its graphite
//! backend flushing every second into a carbon-cache (see `graphite_peer.rs`), with
//! `deleteIdleStats: true`. Etsy statsd 0.9.0 stamps each flush with the flush time, rounded to
//! the second, and with its default `legacyNamespace` writes, for a counter `c`,
//! `stats_counts.c` (the count of the flush) and `stats.c` (per second); for a timer `t`,
//! `stats.timers.t.{count,count_ps,lower,upper,mean,median,std,sum,sum_squares}` and
//! `stats.timers.t.{count,mean,sum,sum_squares,upper}_90`; for a gauge `g`, `stats.gauges.g`;
//! for a set `s`, `stats.sets.s.count`; a tagged counter `c;k=v` becomes `stats_counts.c;k=v`;
//! plus its own `stats.statsd.*`, `stats_counts.statsd.*`, `stats.gauges.statsd.*` and
//! `statsd.numStats`. Without `deleteIdleStats` every later flush writes 0 for an idle counter
//! (and an idle timer's `count`), which overwrites the real count whenever two flushes share a
//! whisper slot; with it, an idle name is not written at all.
//!
//! The package is installed by `scripts/test.sh` into `.test-deps/` (gitignored). Without it
//! [`StatsdPeer::start`] panics with instructions: a missing peer must never skip tests silently.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where `scripts/test.sh` installs statsd, relative to the crate root.
pub const STATSD_JS: &str = ".test-deps/node_modules/statsd/stats.js";

/// How long a start may take before it is retried (the peer is normally up in ~0.2 s).
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// One running statsd process. Dropping it kills the process and removes its temp dir.
pub struct StatsdPeer {
    /// UDP port statsd listens on (127.0.0.1).
    pub udp_port: u16,
    /// Management TCP port (127.0.0.1).
    pub mgmt_port: u16,
    child: Option<Child>,
    dir: PathBuf,
}

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// A port that was free a moment ago (bound to port 0, then released).
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("cannot bind a TCP port on 127.0.0.1")
        .port()
}

/// A UDP port that was free a moment ago (bound to port 0, then released).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("cannot bind a UDP port on 127.0.0.1")
        .port()
}

fn stats_js() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(STATSD_JS);
    if !path.is_file() {
        panic!(
            "StatsD test peer not found at {}: run scripts/test.sh (installs npm statsd into .test-deps)",
            path.display()
        );
    }
    path
}

impl StatsdPeer {
    /// Starts a fresh statsd on free ports and waits until both its UDP and management ports are
    /// bound. Retries with new ports if a port was taken in between; panics with the statsd log
    /// if it cannot start.
    pub fn start() -> StatsdPeer {
        Self::start_with(None)
    }

    /// Starts statsd listening on UDP `udp_port` (for tests where the daemon was already
    /// sending to that port before StatsD came up).
    pub fn start_on(udp_port: u16) -> StatsdPeer {
        Self::start_with(Some(udp_port))
    }

    /// Starts statsd on free ports with its graphite backend sending to carbon's plaintext
    /// line receiver on 127.0.0.1:`line_port` (e.g. `GraphitePeer::line_port`), flushing every
    /// 1000 ms with the default (legacy) namespace and `deleteIdleStats: true` (module doc).
    /// Counters are reset at each flush, so read them back from Graphite, not with
    /// [`StatsdPeer::counters`].
    pub fn start_with_graphite(line_port: u16) -> StatsdPeer {
        Self::start_configured(None, Some(line_port))
    }

    fn start_with(udp_port: Option<u16>) -> StatsdPeer {
        Self::start_configured(udp_port, None)
    }

    fn start_configured(udp_port: Option<u16>, graphite_port: Option<u16>) -> StatsdPeer {
        let script = stats_js();
        let mut last_error = String::new();
        for _attempt in 0..3 {
            match Self::try_start(&script, udp_port, graphite_port) {
                Ok(peer) => return peer,
                Err(e) => last_error = e,
            }
        }
        panic!("StatsD test peer did not start after 3 attempts:\n{last_error}");
    }

    fn try_start(
        script: &Path,
        udp_port: Option<u16>,
        graphite_port: Option<u16>,
    ) -> Result<StatsdPeer, String> {
        let udp_port = udp_port.unwrap_or_else(free_udp_port);
        let mut mgmt_port = free_tcp_port();
        while mgmt_port == udp_port {
            mgmt_port = free_tcp_port();
        }
        let dir = std::env::temp_dir().join(format!(
            "ptsd-statsd-{}-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let config = dir.join("config.js");
        // A JS object literal, not JSON. backends: [] = no backend (omitting it loads graphite).
        let body = match graphite_port {
            None => format!(
                "{{\n  port: {udp_port}, address: \"127.0.0.1\",\n  mgmt_port: {mgmt_port}, mgmt_address: \"127.0.0.1\",\n  flushInterval: 3600000,\n  backends: []\n}}\n"
            ),
            Some(graphite_port) => format!(
                "{{\n  port: {udp_port}, address: \"127.0.0.1\",\n  mgmt_port: {mgmt_port}, mgmt_address: \"127.0.0.1\",\n  flushInterval: 1000,\n  deleteIdleStats: true,\n  backends: [\"./backends/graphite\"],\n  graphiteHost: \"127.0.0.1\", graphitePort: {graphite_port}\n}}\n"
            ),
        };
        std::fs::write(&config, body)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
        let log_path = dir.join("statsd.log");
        let log = std::fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let log_err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone log handle: {e}"));
        let child = Command::new("node")
            .arg(script)
            .arg(&config)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node` for the StatsD test peer: {e}"));

        let mut peer = StatsdPeer {
            udp_port,
            mgmt_port,
            child: Some(child),
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = peer
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                peer.stop();
                return Err(format!("statsd exited early ({status}); log:\n{log}"));
            }
            if peer.ready() {
                return Ok(peer);
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                peer.stop();
                return Err(format!(
                    "statsd not ready after {START_TIMEOUT:?}; log:\n{log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Ready = the management port accepts and the UDP port is taken (node binds without
    /// SO_REUSEADDR, so our own bind fails once statsd holds it).
    fn ready(&self) -> bool {
        let mgmt_up = TcpStream::connect_timeout(
            &([127, 0, 0, 1], self.mgmt_port).into(),
            Duration::from_millis(200),
        )
        .is_ok();
        let udp_taken = matches!(
            UdpSocket::bind(("127.0.0.1", self.udp_port)),
            Err(ref e) if e.kind() == ErrorKind::AddrInUse
        );
        mgmt_up && udp_taken
    }

    /// `127.0.0.1:<udp_port>`, where the daemon should send.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.udp_port)
    }

    /// Sends one datagram (one or more `\n`-separated StatsD lines) to the peer.
    pub fn send(&self, payload: &str) {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("cannot bind a UDP socket to send from");
        sock.send_to(payload.as_bytes(), ("127.0.0.1", self.udp_port))
            .expect("cannot send a datagram to the StatsD peer");
    }

    /// Runs one management command and returns the raw reply (up to `END\n\n`).
    pub fn mgmt(&self, command: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.mgmt_port))
            .expect("cannot connect to the StatsD peer's management port");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set_read_timeout");
        stream
            .write_all(format!("{command}\n").as_bytes())
            .expect("cannot write to the StatsD management port");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        while !buf.ends_with(b"END\n\n") {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!(
                    "reading `{command}` from the StatsD management port failed after {} bytes: {e}",
                    buf.len()
                ),
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Every counter, including statsd's own `statsd.*` ones.
    pub fn all_counters(&self) -> BTreeMap<String, f64> {
        parse_inspect_numbers(&self.mgmt("counters"))
    }

    /// The counters sent to the peer (keys starting with `statsd.` left out). Tagged counters
    /// appear as `name;k1=v1;k2=v2`, in the order the tags were sent.
    pub fn counters(&self) -> BTreeMap<String, f64> {
        self.all_counters()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("statsd."))
            .collect()
    }

    /// Every timer's samples (`|ms` lines), by key, in arrival order.
    pub fn timers(&self) -> BTreeMap<String, Vec<f64>> {
        parse_inspect_arrays(&self.mgmt("timers"))
    }

    /// Lines statsd could not parse (`statsd.bad_lines_seen`).
    pub fn bad_lines(&self) -> f64 {
        self.all_counters()
            .get("statsd.bad_lines_seen")
            .copied()
            .unwrap_or(0.0)
    }

    /// Polls [`StatsdPeer::counters`] every 20 ms until every key of `expected` has its value
    /// (other keys are ignored), or `timeout` passes. Returns the last read either way: the
    /// caller asserts on it.
    pub fn wait_for(
        &self,
        expected: &BTreeMap<String, f64>,
        timeout: Duration,
    ) -> BTreeMap<String, f64> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.counters();
            let all_there = expected
                .iter()
                .all(|(k, v)| got.get(k).is_some_and(|g| (g - v).abs() < 1e-9));
            if all_there || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the statsd process (only this child) and removes its temp dir. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for StatsdPeer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Extracts `key: number` pairs from node's `util.inspect` output (not JSON: identifier-like
/// keys are unquoted, others are in single quotes, or double quotes if they contain `'`).
/// Same grammar as Etsy statsd's own line parser:
/// `(?:'((?:[^'\\]|\\.)*)'|([A-Za-z_$][\w$]*)):\s*(-?[\d.e+]+)`.
pub fn parse_inspect_numbers(text: &str) -> BTreeMap<String, f64> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = BTreeMap::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let (key, after) = if c == '\'' || c == '"' {
            let mut key = String::new();
            let mut j = i + 1;
            let mut closed = false;
            while j < chars.len() {
                match chars[j] {
                    '\\' if j + 1 < chars.len() => {
                        key.push(match chars[j + 1] {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        j += 2;
                    }
                    q if q == c => {
                        closed = true;
                        j += 1;
                        break;
                    }
                    other => {
                        key.push(other);
                        j += 1;
                    }
                }
            }
            if !closed {
                break;
            }
            (key, j)
        } else if c.is_ascii_alphabetic() || c == '_' || c == '$' {
            let mut j = i;
            while j < chars.len()
                && (chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == '$')
            {
                j += 1;
            }
            (chars[i..j].iter().collect(), j)
        } else {
            i += 1;
            continue;
        };
        i = after;
        if chars.get(i) != Some(&':') {
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        let start = j;
        while j < chars.len() && (chars[j].is_ascii_digit() || "-.e+".contains(chars[j])) {
            j += 1;
        }
        let number: String = chars[start..j].iter().collect();
        if let Ok(v) = number.parse::<f64>() {
            out.insert(key, v);
        }
        i = j;
    }
    out
}

/// Extracts `key: [n, n, …]` pairs from node's `util.inspect` output of the `timers` command
/// (keys as in [`parse_inspect_numbers`]).
pub fn parse_inspect_arrays(text: &str) -> BTreeMap<String, Vec<f64>> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']') else {
            break;
        };
        let before = rest[..open].trim_end();
        let Some(before) = before.strip_suffix(':') else {
            rest = &rest[open + 1..];
            continue;
        };
        let before = before.trim_end();
        let key = if let Some(b) = before.strip_suffix('\'') {
            b.rfind('\'').map(|i| b[i + 1..].replace("\\'", "'"))
        } else if let Some(b) = before.strip_suffix('"') {
            b.rfind('"').map(|i| b[i + 1..].to_string())
        } else {
            let start = before
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
                .map_or(0, |i| i + 1);
            Some(before[start..].to_string())
        };
        let values: Vec<f64> = rest[open + 1..open + close]
            .split(',')
            .filter_map(|v| v.trim().parse().ok())
            .collect();
        if let Some(k) = key.filter(|k| !k.is_empty()) {
            out.insert(k, values);
        }
        rest = &rest[open + close + 1..];
    }
    out
}
