//! End to end into real Graphite: the real `ptsd` binary backfills a known history from the
//! fake PagerDuty API into a real carbon-cache, and the points read back from the whisper files
//! (whisper's own fetch) equal what the history holds, slot by slot: every count at the minute
//! its log entry was created, every time-to-acknowledge sample at its acknowledgement. The same
//! after a `kill -9` in the middle of the catch-up and a restart, and with entries that show up
//! late into slots that already hold counts (a slot's total is rewritten, never incremented).
//!
//! The expectation is built here from the log entries themselves (their type, `created_at`,
//! people and channels), not from ptsd's schema code.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use ptsd::schema::sanitize;
use serde_json::Value;
use support::*;

const TOKEN: &str = "u+graphiteE2eToken77";
const RESOLUTION: i64 = 60;
const WAIT: Duration = Duration::from_secs(30);

/// path → slot → value.
type Slots = BTreeMap<String, BTreeMap<i64, f64>>;

fn ts(v: &Value) -> Timestamp {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .expect("a timestamp")
}

fn slot(t: Timestamp) -> i64 {
    let s = t.as_second();
    s - s.rem_euclid(RESOLUTION)
}

/// What Graphite must hold for `entries`: the on-call counters by user, the incidents by
/// urgency and service, and the time-to-acknowledge summaries by urgency, at their own slots.
fn expected(entries: &[Value]) -> Slots {
    let s = |v: &Value| sanitize(v.as_str().unwrap_or("unknown"), true);
    let mut out = Slots::new();
    let mut add = |path: String, at: Timestamp, v: f64| {
        *out.entry(path).or_default().entry(slot(at)).or_default() += v;
    };
    let base = "ptsd.pagerduty";
    for e in entries {
        let at = ts(&e["created_at"]);
        for name in plain_counts(e) {
            add(format!("{base}.{name}"), at, 1.0);
        }
        if e["type"] == "acknowledge_log_entry" {
            // Every synthetic incident is acknowledged at most once: each ack is a first.
            let ms = at
                .duration_since(ts(&e["incident"]["created_at"]))
                .as_millis() as f64;
            let timer = format!("{base}.time_to_ack.{}", s(&e["incident"]["urgency"]));
            add(format!("{timer}.count"), at, 1.0);
            add(format!("{timer}.sum"), at, ms);
            add(format!("{timer}.le_5m"), at, f64::from(ms <= 300_000.0));
            add(format!("{timer}.le_4h"), at, f64::from(ms <= 14_400_000.0));
        }
    }
    out
}

/// Every expected path's non-empty slots as whisper holds them, waiting (polling) until they
/// equal `want` or [`WAIT`] passes.
fn stored(peer: &GraphitePeer, want: &Slots, from: i64) -> Slots {
    let until = Timestamp::now().as_second() + RESOLUTION;
    let read = |path: &str| -> BTreeMap<i64, f64> {
        peer.fetch(path, from - 1, until)
            .into_iter()
            .filter_map(|(t, v)| Some((t, v?)))
            .collect()
    };
    let deadline = Instant::now() + WAIT;
    loop {
        let got: Slots = want.keys().map(|p| (p.clone(), read(p))).collect();
        if got == *want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_stored(peer: &GraphitePeer, want: &Slots, from: i64) {
    let got = stored(peer, want, from);
    for (path, slots) in want {
        assert_eq!(
            got.get(path),
            Some(slots),
            "{path}\ncarbon log:\n{}",
            peer.log()
        );
    }
    // A family that must be there: some acknowledgements within five minutes, some not.
    assert!(want.keys().any(|k| k.ends_with(".le_5m")));
}

fn command(fake: &FakePagerDuty, peer: &GraphitePeer, state: &Path) -> Command {
    let mut cmd = ptsd_command(fake, TOKEN, 9);
    cmd.env("PTSD_OUTPUTS", "graphite")
        .env("GRAPHITE_HOST", "127.0.0.1")
        .env("GRAPHITE_PORT", peer.line_port.to_string())
        .env("PTSD_GRAPHITE_RESOLUTION", "1m")
        .env("PTSD_STATE_DIR", state)
        .env("PTSD_BACKFILL", "9h")
        .env("PTSD_MAX_REQUESTS_PER_MINUTE", "0")
        .env("RUST_LOG", "info");
    cmd
}

fn run_once(cmd: &mut Command) {
    let out = cmd.arg("--once").output().expect("ptsd runs");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ptsd failed:\n{log}");
    assert!(!log.contains(TOKEN), "the token leaked");
}

fn state_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ptsd-graphite-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn history(fake: &FakePagerDuty, n: usize, hours_ago: i64, seed: u64) -> (Vec<Value>, i64) {
    let start = Timestamp::now() - SignedDuration::from_hours(hours_ago);
    let (entries, _) = synthetic_incidents(n, start, Duration::from_secs(150), seed);
    fake.add_entries(entries.clone());
    (entries, start.as_second() - 2 * RESOLUTION)
}

#[test]
fn a_backfill_lands_every_count_at_its_own_minute() {
    let peer = GraphitePeer::start("60s:1d");
    let fake = FakePagerDuty::start_blocking(TOKEN);
    fake.add_users(synthetic_users());
    let (entries, from) = history(&fake, 80, 6, 31);
    let dir = state_dir("backfill");
    run_once(&mut command(&fake, &peer, &dir));
    let want = expected(&entries);
    assert!(want.len() > 20, "{want:?}");
    assert_stored(&peer, &want, from);
    // ptsd's own metrics are there too, at the poll.
    assert!(peer
        .wait_for_paths(
            |p| p.iter().any(|p| p == "ptsd.ptsd.pagerduty.polls.ok"),
            WAIT
        )
        .iter()
        .any(|p| p.starts_with("ptsd.ptsd.pagerduty.api_requests")));
    let _ = std::fs::remove_dir_all(dir);
}

/// The entries created before now (a synthetic incident may run on into the future).
fn past(entries: Vec<Value>) -> Vec<Value> {
    let now = Timestamp::now() - SignedDuration::from_secs(2);
    entries
        .into_iter()
        .filter(|e| ts(&e["created_at"]) < now)
        .collect()
}

/// Waits until `dir` holds a state file that `ptsd` wrote with Graphite totals in it.
fn wait_for_saved_totals(dir: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let saved = std::fs::read_to_string(dir.join("state.json")).unwrap_or_default();
        if saved.contains("\"graphite\"") {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "ptsd exited early");
        assert!(Instant::now() < deadline, "no state saved within a minute");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn kill_9_in_the_middle_of_a_catch_up_and_late_entries_stay_exact() {
    let peer = GraphitePeer::start("60s:1d");
    let fake = FakePagerDuty::start_blocking(TOKEN);
    fake.add_users(synthetic_users());
    let (mut entries, from) = history(&fake, 120, 7, 47);
    let dir = state_dir("kill9");
    // Small windows, so the catch-up is many commits long, and a slow API, so it takes time.
    for _ in 0..80 {
        fake.inject("/log_entries", Fault::Delay(Duration::from_millis(60)));
    }
    let mut child = command(&fake, &peer, &dir)
        .env("PTSD_MAX_WINDOW", "10m")
        .env("PTSD_LATENESS", "10m")
        .env("PTSD_INTERVAL", "1h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ptsd starts");
    wait_for_saved_totals(&dir, &mut child);
    child.kill().expect("kill -9");
    child.wait().unwrap();
    // What it saved carries the slot length, so the restart continues the totals.
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(
        saved["outputters"]["graphite"]["resolution"], RESOLUTION,
        "{saved}"
    );
    // Whatever it wrote before dying, the restart writes complete totals again.
    run_once(command(&fake, &peer, &dir).env("PTSD_LATENESS", "10m"));
    assert_stored(&peer, &expected(&entries), from);

    // Entries that show up late, into minutes that already hold counts: the first lot is read,
    // then the second lot appears (created in the same minutes) and is read by the next poll.
    let recent = Timestamp::now() - SignedDuration::from_secs(240);
    let first = past(synthetic_incidents(6, recent, Duration::from_secs(20), 5).0);
    fake.add_entries(first.clone());
    run_once(command(&fake, &peer, &dir).env("PTSD_LATENESS", "10m"));
    let late = past(synthetic_incidents(6, recent, Duration::from_secs(20), 6).0);
    fake.add_entries(late.clone());
    run_once(command(&fake, &peer, &dir).env("PTSD_LATENESS", "10m"));
    // Some minute really holds counts from both lots, so only a total rewritten whole is right.
    let (a, b) = (expected(&first), expected(&late));
    let shared = a.iter().any(|(path, slots)| {
        slots
            .keys()
            .any(|t| b.get(path).is_some_and(|s| s.contains_key(t)))
    });
    assert!(shared, "{a:?} {b:?}");
    entries.extend(first);
    entries.extend(late);
    let want = expected(&entries);
    assert_stored(&peer, &want, from);
    let _ = std::fs::remove_dir_all(dir);
}
