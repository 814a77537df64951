//! Bad weather, end to end: the real `ptsd` binary polls the fake PagerDuty API while it
//! misbehaves — bursts of 429 with `ratelimit-reset`, 5xx, a truncated page, a slow page, an
//! outage longer than the retry budget, a 401 in the middle of a long run — and the counters read
//! back from the real Etsy StatsD daemon must still equal the events exactly.
//!
//! Why: the README promises "every event is counted exactly once", that 429s are waited out,
//! that 5xx, timeouts and truncated pages are retried, that a window that cannot be read leaves
//! the cursor where it was (nothing lost, nothing doubled), that a 401 after start is logged and
//! retried rather than fatal, and that the token is never printed. Unit tests of the HTTP client
//! cannot show that the whole binary keeps those promises together; these tests can.
//!
//! Faults are queued on the fake before a run and consumed one per request, in order. The
//! daemon's first request is its start-up check (`GET /log_entries?limit=1`); "pass" faults
//! (`Fault::Delay(0)`, answered normally) step over it and over earlier pages so a fault lands on
//! the page meant. Every run reads one window (`PTSD_MAX_WINDOW` longer than the backfill), so
//! pages are requested at offsets 0, 100, 200, … in order.
//! Synchronisation is by polling (the fake's request log, StatsD's counters) with deadlines.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use support::*;

const TOKEN: &str = "u+weatherSecretToken77qrs";

/// Reads everything from the backfill in one window, so faults can be aimed at a page.
const ONE_WINDOW: [(&str, &str); 2] = [("PTSD_BACKFILL", "9h"), ("PTSD_MAX_WINDOW", "12h")];

/// How long to wait for StatsD to show what a finished run sent (UDP on loopback: milliseconds;
/// generous because the CPU is shared).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);

fn command(fake: &FakePagerDuty, peer: &StatsdPeer, env: &[(&str, &str)]) -> Command {
    let mut cmd = ptsd_command(fake, TOKEN, peer.udp_port);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A fresh state directory, removed when dropped.
struct StateDir(PathBuf);

static NEXT_STATE_DIR: AtomicU64 = AtomicU64::new(0);

impl StateDir {
    fn new(name: &str) -> StateDir {
        let d = std::env::temp_dir().join(format!(
            "ptsd-weather-{name}-{}-{}",
            std::process::id(),
            NEXT_STATE_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        StateDir(d)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn as_str(&self) -> &str {
        self.0.to_str().expect("temp dir path is UTF-8")
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs ptsd to completion (stdout and stderr drained by `output`), checking that the token
/// never reached stderr. Returns the output, its stderr as text, and how long the run took.
fn run_to_end(cmd: &mut Command) -> (Output, String, Duration) {
    let started = Instant::now();
    let out = cmd.output().expect("ptsd runs");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains(TOKEN),
        "the token leaked into ptsd's stderr:\n{stderr}"
    );
    (out, stderr, took)
}

/// [`run_to_end`] for a run that must succeed.
fn run_ok(cmd: &mut Command) -> (String, Duration) {
    let (out, stderr, took) = run_to_end(cmd);
    assert!(
        out.status.success(),
        "ptsd failed ({:?}):\n{stderr}",
        out.status
    );
    (stderr, took)
}

/// The on-call counters StatsD holds.
fn oncall_counters(peer: &StatsdPeer) -> BTreeMap<String, f64> {
    oncall(peer.counters())
}

/// Polls StatsD until its on-call counters equal `want` exactly, or `timeout` passes; returns the
/// last read (the caller asserts on it).
fn wait_exact(
    peer: &StatsdPeer,
    want: &BTreeMap<String, f64>,
    timeout: Duration,
) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = oncall_counters(peer);
        if &got == want || Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls StatsD until counter `key` is at least `min`, or `timeout` passes; returns its value.
fn wait_counter_at_least(peer: &StatsdPeer, key: &str, min: f64, timeout: Duration) -> f64 {
    let deadline = Instant::now() + timeout;
    loop {
        let v = peer.counters().get(key).copied().unwrap_or(0.0);
        if v >= min || Instant::now() >= deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts the exact counters for `expected` and a clean StatsD parse.
fn assert_exact(peer: &StatsdPeer, expected: &ExpectedCounts, context: &str) {
    let want = expected_plain(expected);
    let got = wait_exact(peer, &want, SETTLE_TIMEOUT);
    assert_eq!(got, want, "counters differ from the events; {context}");
    assert_eq!(peer.bad_lines(), 0.0, "StatsD saw malformed lines");
}

/// A fake seeded with `n` synthetic incident lifecycles from 7 h ago, one every 2 minutes (all
/// entries end more than an hour before now, well inside a 9 h backfill).
fn seeded_fake(seed: u64, n: usize) -> (FakePagerDuty, ExpectedCounts) {
    let fake = FakePagerDuty::start_blocking(TOKEN);
    let (entries, expected) = synthetic_incidents(
        n,
        Timestamp::now() - SignedDuration::from_secs(7 * 3600),
        Duration::from_secs(120),
        seed,
    );
    fake.add_entries(entries);
    (fake, expected)
}

/// Queues `n` faults that change nothing (a zero delay), to step over the next `n` requests.
fn pass(fake: &FakePagerDuty, n: usize) {
    for _ in 0..n {
        fake.inject("/log_entries", Fault::Delay(Duration::ZERO));
    }
}

/// The `/log_entries` requests the fake received, as `(offset, status, fault)`. The start-up
/// check (`limit=1`) has offset `None`; pages have `Some(offset)`.
fn log_entry_requests(fake: &FakePagerDuty) -> Vec<(Option<u64>, u16, Option<Fault>)> {
    fake.requests()
        .into_iter()
        .filter(|r| r.path == "/log_entries")
        .map(|r| {
            let offset = if r.param("limit") == Some("1") {
                None
            } else {
                Some(
                    r.param("offset")
                        .and_then(|o| o.parse().ok())
                        .expect("every page request carries a numeric offset"),
                )
            };
            (offset, r.status, r.fault)
        })
        .collect()
}

/// The number of 100-entry pages the run must read for `expected` (one window).
fn pages(expected: &ExpectedCounts) -> usize {
    expected.entries.div_ceil(100)
}

/// Asserts that every page offset of one window got a clean 200 exactly once.
fn assert_every_page_read_once(
    reqs: &[(Option<u64>, u16, Option<Fault>)],
    expected: &ExpectedCounts,
) {
    let mut clean: Vec<u64> = reqs
        .iter()
        .filter(|(o, s, f)| o.is_some() && *s == 200 && matches!(f, None | Some(Fault::Delay(_))))
        .map(|(o, _, _)| o.unwrap())
        .collect();
    clean.sort_unstable();
    let want: Vec<u64> = (0..pages(expected) as u64).map(|p| p * 100).collect();
    assert_eq!(clean, want, "clean pages read; requests: {reqs:?}");
}

#[test]
fn a_burst_of_429s_is_waited_out_and_every_event_counted() {
    let (fake, expected) = seeded_fake(31, 80);
    assert!(pages(&expected) >= 3, "need at least 3 pages: {expected:?}");
    let peer = StatsdPeer::start();
    let state = StateDir::new("429");
    // Start-up check and page 1 pass; page 2 (offset 100) is rate-limited three times.
    pass(&fake, 2);
    for _ in 0..3 {
        fake.inject("/log_entries", Fault::Status429 { reset_secs: 1 });
    }
    let mut env = vec![("PTSD_STATE_DIR", state.as_str())];
    env.extend(ONE_WINDOW);
    let (stderr, took) = run_ok(command(&fake, &peer, &env).arg("--once"));

    let reqs = log_entry_requests(&fake);
    let statuses: Vec<(Option<u64>, u16)> = reqs.iter().map(|(o, s, _)| (*o, *s)).collect();
    assert_eq!(
        statuses[..6],
        [
            (None, 200),
            (Some(0), 200),
            (Some(100), 429),
            (Some(100), 429),
            (Some(100), 429),
            (Some(100), 200),
        ],
        "the 429s, then the same page again: {reqs:?}"
    );
    assert!(
        statuses[6..].iter().all(|(_, s)| *s == 200),
        "only 200s after the burst: {reqs:?}"
    );
    assert_every_page_read_once(&reqs, &expected);
    assert!(
        took >= Duration::from_secs(3),
        "three 429s with ratelimit-reset: 1 must be waited out (≥ 3 s), the run took {took:?}"
    );
    assert_exact(&peer, &expected, &format!("log:\n{stderr}"));
    // ptsd's own metrics saw the same weather.
    let c = peer.counters();
    assert_eq!(
        c.get("ptsd.ptsd.pagerduty.api_requests.429"),
        Some(&3.0),
        "{c:?}"
    );
    assert!(
        c.get("ptsd.ptsd.pagerduty.rate_limit_waits")
            .is_some_and(|v| *v >= 3.0),
        "{c:?}"
    );
}

#[test]
fn a_burst_of_5xx_and_a_truncated_page_are_retried_and_every_event_counted() {
    let (fake, expected) = seeded_fake(32, 100);
    assert!(pages(&expected) >= 4, "need at least 4 pages: {expected:?}");
    let peer = StatsdPeer::start();
    let state = StateDir::new("5xx");
    // Check and page 1 pass; page 2 gets three 500s (one short of the retry budget of 4 tries
    // per request) and then succeeds; page 3 passes; page 4 arrives cut in half once.
    pass(&fake, 2);
    for _ in 0..3 {
        fake.inject("/log_entries", Fault::Status500);
    }
    pass(&fake, 2);
    fake.inject("/log_entries", Fault::Truncated);
    let mut env = vec![("PTSD_STATE_DIR", state.as_str())];
    env.extend(ONE_WINDOW);
    let (stderr, _) = run_ok(command(&fake, &peer, &env).arg("--once"));

    let reqs = log_entry_requests(&fake);
    let head: Vec<(Option<u64>, u16, Option<Fault>)> = reqs.iter().take(9).cloned().collect();
    let zero = Some(Fault::Delay(Duration::ZERO));
    assert_eq!(
        head,
        [
            (None, 200, zero.clone()),
            (Some(0), 200, zero.clone()),
            (Some(100), 500, Some(Fault::Status500)),
            (Some(100), 500, Some(Fault::Status500)),
            (Some(100), 500, Some(Fault::Status500)),
            (Some(100), 200, zero.clone()),
            (Some(200), 200, zero),
            (Some(300), 200, Some(Fault::Truncated)),
            (Some(300), 200, None),
        ],
        "each failed page is asked again at the same offset: {reqs:?}"
    );
    assert_every_page_read_once(&reqs, &expected);
    assert_exact(&peer, &expected, &format!("log:\n{stderr}"));
    let c = peer.counters();
    assert_eq!(c.get("ptsd.ptsd.pagerduty.retries"), Some(&4.0), "{c:?}");
    assert_eq!(
        c.get("ptsd.ptsd.pagerduty.api_requests.5xx"),
        Some(&3.0),
        "{c:?}"
    );
}

#[test]
fn a_slow_page_is_waited_for_and_every_event_counted() {
    let (fake, expected) = seeded_fake(33, 80);
    assert!(pages(&expected) >= 2, "need at least 2 pages: {expected:?}");
    let peer = StatsdPeer::start();
    let state = StateDir::new("slow");
    pass(&fake, 2);
    fake.inject("/log_entries", Fault::Delay(Duration::from_secs(2)));
    let mut env = vec![("PTSD_STATE_DIR", state.as_str())];
    env.extend(ONE_WINDOW);
    let (stderr, took) = run_ok(command(&fake, &peer, &env).arg("--once"));

    let reqs = log_entry_requests(&fake);
    assert_eq!(
        reqs[2],
        (Some(100), 200, Some(Fault::Delay(Duration::from_secs(2)))),
        "{reqs:?}"
    );
    assert!(
        reqs.iter().all(|(_, s, _)| *s == 200),
        "a slow answer is not a failure: {reqs:?}"
    );
    assert_every_page_read_once(&reqs, &expected);
    assert!(took >= Duration::from_secs(2), "the run took {took:?}");
    assert_exact(&peer, &expected, &format!("log:\n{stderr}"));
}

/// Sends one bare `GET path` to the fake (no token) and returns the status code: used to
/// consume faults that a run left queued.
fn raw_get_status(base_url: &str, path: &str) -> u16 {
    let addr = base_url
        .strip_prefix("http://")
        .expect("fake URL is http://host:port");
    let mut stream = TcpStream::connect(addr).expect("connect to the fake");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set_read_timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write request");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read reply");
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP reply: {reply:?}"))
}

#[test]
fn an_outage_longer_than_the_retries_fails_the_run_and_the_next_run_counts_everything_once() {
    let (fake, expected) = seeded_fake(34, 60);
    let peer = StatsdPeer::start();
    let state = StateDir::new("outage");
    const OUTAGE: usize = 10;
    // The start-up check passes; then PagerDuty answers 500 to the next 10 requests.
    pass(&fake, 1);
    for _ in 0..OUTAGE {
        fake.inject("/log_entries", Fault::Status500);
    }
    let mut env = vec![("PTSD_STATE_DIR", state.as_str())];
    env.extend(ONE_WINDOW);

    let (out, stderr, _) = run_to_end(command(&fake, &peer, &env).arg("--once"));
    assert!(
        !out.status.success(),
        "a --once poll that cannot finish must exit non-zero; stderr:\n{stderr}"
    );
    let last = stderr.trim().lines().last().unwrap_or("");
    assert!(
        last.contains("HTTP 500"),
        "the final error says why (HTTP 500): {last:?}\n{stderr}"
    );
    let reqs = log_entry_requests(&fake);
    let consumed = reqs
        .iter()
        .filter(|(_, _, f)| *f == Some(Fault::Status500))
        .count();
    assert!(
        (2..OUTAGE).contains(&consumed),
        "the poll retried, then gave up before the outage ended: {reqs:?}"
    );
    assert!(
        reqs.iter().all(|(o, s, _)| o.is_none() || *s == 500),
        "no page was read during the outage: {reqs:?}"
    );
    // ptsd's own metrics are sent after anything the poll would have counted: once the failed
    // poll shows up in StatsD, the on-call counters are final for this run.
    let failed = wait_counter_at_least(
        &peer,
        "ptsd.ptsd.pagerduty.polls.failed",
        1.0,
        SETTLE_TIMEOUT,
    );
    assert_eq!(
        failed,
        1.0,
        "the failed poll is reported: {:?}",
        peer.counters()
    );
    let counted: BTreeMap<String, f64> = oncall_counters(&peer)
        .into_iter()
        .filter(|(_, v)| *v != 0.0)
        .collect();
    assert!(
        counted.is_empty(),
        "nothing may be counted from a window that was not read: {counted:?}"
    );
    assert!(
        state.path().join("state.json").is_file(),
        "the state (cursor unmoved) is saved even when the poll failed"
    );

    // The outage ends: consume the 500s the first run did not reach.
    for _ in consumed..OUTAGE {
        assert_eq!(raw_get_status(&fake.url, "/log_entries"), 500);
    }
    assert_eq!(
        raw_get_status(&fake.url, "/log_entries"),
        401,
        "no fault left"
    );
    fake.clear_requests();

    let (stderr2, _) = run_ok(command(&fake, &peer, &env).arg("--once"));
    assert!(
        log_entry_requests(&fake).iter().all(|(_, s, _)| *s == 200),
        "{:?}",
        log_entry_requests(&fake)
    );
    assert_exact(
        &peer,
        &expected,
        &format!("first run:\n{stderr}\nsecond run:\n{stderr2}"),
    );
}

/// Kills the daemon if a test fails while it runs (only this child, by its pid).
struct Daemon {
    child: Child,
    log: Option<JoinHandle<String>>,
}

impl Daemon {
    fn spawn(cmd: &mut Command) -> Daemon {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ptsd starts");
        let mut pipe = child.stderr.take().expect("stderr is piped");
        // Drained in a thread: a full pipe would block the daemon.
        let log = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        });
        Daemon {
            child,
            log: Some(log),
        }
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    fn sigterm(&mut self) {
        sigterm(&self.child);
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        wait_exit(&mut self.child, within)
    }

    /// Everything the daemon wrote to stderr (after it exited).
    fn log(&mut self) -> String {
        self.log
            .take()
            .map(|h| h.join().expect("log reader"))
            .unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Adds one incident stamped now (trigger, notify by SMS, ack by the user) and its counts.
fn add_live_incident(fake: &FakePagerDuty, expected: &mut ExpectedCounts, i: usize) {
    let (uid, uname) = [("PUSRADA", "Ada Lovelace"), ("PUSRLIV", "Live Responder")][i % 2];
    let at = Timestamp::now();
    let inc = Incident::new(&format!("PLIVE{i:04}"), "Checkout API", "high");
    fake.add_entries(vec![
        trigger(&format!("RLIVE{i:04}a"), at, &inc),
        notify(&format!("RLIVE{i:04}b"), at, &inc, uid, uname, "sms"),
        acknowledge(
            &format!("RLIVE{i:04}c"),
            at,
            &inc,
            uid,
            uname,
            "user_reference",
        ),
    ]);
    expected.incidents += 1;
    expected.entries += 3;
    *expected
        .incidents_by_urgency
        .entry("high".into())
        .or_default() += 1;
    *expected
        .incidents_by_service
        .entry("Checkout API".into())
        .or_default() += 1;
    *expected
        .notifications
        .entry((uname.into(), "sms".into()))
        .or_default() += 1;
    *expected.acks.entry(uname.into()).or_default() += 1;
}

/// Polls the fake's request log until `pred` holds for some request, or panics at the deadline.
fn wait_for_request(
    fake: &FakePagerDuty,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&RecordedRequest) -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !fake.requests().iter().any(&pred) {
        assert!(
            Instant::now() < deadline,
            "no {what} within {timeout:?}: {:?}",
            log_entry_requests(fake)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_401_after_start_is_logged_and_retried_and_nothing_is_lost() {
    let (fake, mut expected) = seeded_fake(35, 40);
    let peer = StatsdPeer::start();
    let state = StateDir::new("401");
    let env = [
        ("PTSD_STATE_DIR", state.as_str()),
        ("PTSD_INTERVAL", "1s"),
        ("PTSD_BACKFILL", "9h"),
    ];
    let mut daemon = Daemon::spawn(&mut command(&fake, &peer, &env));

    // The daemon is up and has caught up with the seeded past.
    let want = expected_plain(&expected);
    let got = wait_exact(&peer, &want, Duration::from_secs(60));
    assert_eq!(got, want, "catching up before the 401");
    assert!(
        daemon.running(),
        "the daemon keeps running after catching up"
    );

    // PagerDuty refuses the token once, while new incidents keep coming.
    fake.inject("/log_entries", Fault::Status401);
    add_live_incident(&fake, &mut expected, 0);
    add_live_incident(&fake, &mut expected, 1);
    wait_for_request(&fake, "401", Duration::from_secs(30), |r| {
        r.fault == Some(Fault::Status401)
    });
    let after_401 = fake.requests().len();
    add_live_incident(&fake, &mut expected, 2);
    add_live_incident(&fake, &mut expected, 3);
    add_live_incident(&fake, &mut expected, 4);

    let want = expected_plain(&expected);
    let got = wait_exact(&peer, &want, Duration::from_secs(60));
    let still_running = daemon.running();
    let later_ok = fake.requests()[after_401..]
        .iter()
        .any(|r| r.path == "/log_entries" && r.status == 200);
    let failed = peer
        .counters()
        .get("ptsd.ptsd.pagerduty.polls.failed")
        .copied();
    daemon.sigterm();
    let status = daemon.wait_exit(Duration::from_secs(10));
    let log = daemon.log();

    assert!(
        still_running,
        "a 401 after start must not stop the daemon; log:\n{log}"
    );
    assert!(!log.contains(TOKEN), "the token leaked into the log");
    assert_eq!(
        got, want,
        "every event counted once across the 401; log:\n{log}"
    );
    assert_eq!(peer.bad_lines(), 0.0, "StatsD saw malformed lines");
    assert!(later_ok, "polling went on after the 401");
    assert_eq!(failed, Some(1.0), "exactly one poll failed (the 401)");
    assert!(
        log.lines()
            .any(|l| l.contains("HTTP 401") && (l.contains("ERROR") || l.contains("WARN"))),
        "the 401 is logged as an error or warning; log:\n{log}"
    );
    assert!(status.success(), "SIGTERM exits 0: {status:?}; log:\n{log}");
}
