//! End to end into a DogStatsD intake at its own time: the real `ptsd` binary, with
//! `PTSD_STATSD_FLAVOR=dogstatsd PTSD_STATSD_TIMESTAMPS=on`, backfills a known history from the
//! fake PagerDuty API into a fake DogStatsD v1.3 receiver that keeps, as Datadog's intake does,
//! the last value per (series, tags, timestamp) ([`FakeIntake`]). Every slot must hold exactly
//! what the history holds: after a backfill, after a `kill -9` in the middle of a catch-up and a
//! restart, and with entries that show up late into slots that already hold counts (a slot's
//! total is rewritten, never incremented, so a sink that sent increments fails here). The same
//! for a 7-day demo backfill cut by a `kill -9`, against an uninterrupted one.
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

const TOKEN: &str = "u+dogstatsdE2eToken77";
const RESOLUTION: i64 = 60;
const WAIT: Duration = Duration::from_secs(30);

/// metric → "tag:value,…" (the tags kept) → slot → value.
type Slots = BTreeMap<&'static str, BTreeMap<String, BTreeMap<i64, f64>>>;

/// The tags each checked metric is reduced to (the others, such as `hours` and `category`
/// that the on-call analysis adds, are summed away).
const CHECKED: &[(&str, &[&str])] = &[
    ("ptsd.incidents", &["service", "urgency"]),
    ("ptsd.notifications", &["user", "channel"]),
    ("ptsd.acknowledgements", &["user"]),
    ("ptsd.resolves", &["user"]),
    ("ptsd.assignments", &["user"]),
    ("ptsd.escalations", &["user"]),
    ("ptsd.time_to_ack.count", &["urgency"]),
    ("ptsd.time_to_ack.sum", &["urgency"]),
    ("ptsd.time_to_ack.le_5m", &["urgency"]),
    ("ptsd.time_to_ack.le_4h", &["urgency"]),
];

fn ts(v: &Value) -> Timestamp {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .expect("a timestamp")
}

fn slot(t: Timestamp) -> i64 {
    let s = t.as_second();
    s - s.rem_euclid(RESOLUTION)
}

/// What the intake must hold for `entries`, at their own slots.
fn expected(entries: &[Value]) -> Slots {
    let s = |v: &Value| sanitize(v.as_str().unwrap_or("unknown"), true);
    let mut out = Slots::new();
    let mut add = |metric: &'static str, tags: String, at: Timestamp, v: f64| {
        *out.entry(metric)
            .or_default()
            .entry(tags)
            .or_default()
            .entry(slot(at))
            .or_default() += v;
    };
    let by_user = |e: &Value| e["agent"]["type"] == "user_reference";
    for e in entries {
        let at = ts(&e["created_at"]);
        match e["type"].as_str().unwrap_or_default() {
            "trigger_log_entry" => add(
                "ptsd.incidents",
                format!(
                    "service:{},urgency:{}",
                    s(&e["service"]["summary"]),
                    s(&e["incident"]["urgency"])
                ),
                at,
                1.0,
            ),
            "notify_log_entry" => {
                let ty = e["channel"]["notification"]["type"].as_str().unwrap_or("");
                add(
                    "ptsd.notifications",
                    format!(
                        "user:{},channel:{}",
                        s(&e["user"]["summary"]),
                        channel_bucket(ty)
                    ),
                    at,
                    1.0,
                );
            }
            "acknowledge_log_entry" => {
                if by_user(e) {
                    let user = format!("user:{}", s(&e["agent"]["summary"]));
                    add("ptsd.acknowledgements", user, at, 1.0);
                }
                // Every synthetic incident is acknowledged at most once: each ack is a first.
                let ms = at
                    .duration_since(ts(&e["incident"]["created_at"]))
                    .as_millis() as f64;
                let u = format!("urgency:{}", s(&e["incident"]["urgency"]));
                add("ptsd.time_to_ack.count", u.clone(), at, 1.0);
                add("ptsd.time_to_ack.sum", u.clone(), at, ms);
                add(
                    "ptsd.time_to_ack.le_5m",
                    u.clone(),
                    at,
                    f64::from(ms <= 300_000.0),
                );
                add(
                    "ptsd.time_to_ack.le_4h",
                    u,
                    at,
                    f64::from(ms <= 14_400_000.0),
                );
            }
            "resolve_log_entry" if by_user(e) => add(
                "ptsd.resolves",
                format!("user:{}", s(&e["agent"]["summary"])),
                at,
                1.0,
            ),
            kind @ ("assign_log_entry" | "escalate_log_entry") => {
                let metric = if kind == "assign_log_entry" {
                    "ptsd.assignments"
                } else {
                    "ptsd.escalations"
                };
                for a in e["assignees"].as_array().into_iter().flatten() {
                    add(metric, format!("user:{}", s(&a["summary"])), at, 1.0);
                }
            }
            _ => {}
        }
    }
    // A slot whose total is 0 (a bucket no sample fell in) is still written.
    out
}

/// The intake's timestamped points of every checked metric, reduced like [`expected`], the
/// zero-valued slots that [`expected`] has no entry for left out.
fn held(intake: &Intake, want: &Slots) -> Slots {
    let mut out = Slots::new();
    for (metric, keep) in CHECKED {
        let mut got = intake.by(metric, keep);
        let w = want.get(metric);
        for (tags, slots) in got.iter_mut() {
            slots.retain(|t, v| {
                *v != 0.0
                    || w.and_then(|w| w.get(tags))
                        .is_some_and(|s| s.contains_key(t))
            });
        }
        got.retain(|_, s| !s.is_empty());
        if !got.is_empty() {
            out.insert(metric, got);
        }
    }
    out
}

/// Waits (polling) until the intake holds exactly `want`, then checks it did and that every
/// timestamped line was a count or gauge.
fn assert_exact(intake: &FakeIntake, want: &Slots) {
    let snap = intake.wait_until(WAIT, |i| held(i, want) == *want);
    let got = held(&snap, want);
    for (metric, series) in want {
        for (tags, slots) in series {
            assert_eq!(
                got.get(metric).and_then(|g| g.get(tags)),
                Some(slots),
                "{metric}{{{tags}}}"
            );
        }
    }
    assert_eq!(got, *want);
    assert!(snap.dropped.is_empty(), "{:?}", snap.dropped);
    assert!(snap.malformed.is_empty(), "{:?}", snap.malformed);
    // A family that must be there: some acknowledgements within five minutes.
    assert!(want.contains_key("ptsd.time_to_ack.le_5m"));
}

fn command(fake: &FakePagerDuty, intake: &FakeIntake, state: &Path) -> Command {
    let mut cmd = ptsd_command(fake, TOKEN, intake.port);
    cmd.env("PTSD_OUTPUTS", "statsd")
        .env("PTSD_STATSD_FLAVOR", "dogstatsd")
        .env("PTSD_STATSD_TIMESTAMPS", "on")
        .env("PTSD_STATSD_TIMESTAMP_RESOLUTION", "1m")
        .env("PTSD_STATE_DIR", state)
        .env("PTSD_BACKFILL", "9h")
        .env("PTSD_MAX_REQUESTS_PER_MINUTE", "0")
        .env("RUST_LOG", "info");
    cmd
}

fn run_once(cmd: &mut Command) -> String {
    let out = cmd.arg("--once").output().expect("ptsd runs");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "ptsd failed:\n{log}");
    assert!(!log.contains(TOKEN), "the token leaked");
    log
}

fn state_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ptsd-dogstatsd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn history(fake: &FakePagerDuty, n: usize, hours_ago: i64, seed: u64) -> Vec<Value> {
    let start = Timestamp::now() - SignedDuration::from_hours(hours_ago);
    let (entries, _) = synthetic_incidents(n, start, Duration::from_secs(150), seed);
    fake.add_entries(entries.clone());
    entries
}

/// The entries created before now (a synthetic incident may run on into the future).
fn past(entries: Vec<Value>) -> Vec<Value> {
    let now = Timestamp::now() - SignedDuration::from_secs(2);
    entries
        .into_iter()
        .filter(|e| ts(&e["created_at"]) < now)
        .collect()
}

#[test]
fn a_backfill_lands_every_count_at_its_own_minute() {
    let intake = FakeIntake::start();
    let fake = FakePagerDuty::start_blocking(TOKEN);
    fake.add_users(synthetic_users());
    let entries = history(&fake, 80, 6, 31);
    let dir = state_dir("backfill");
    let log = run_once(&mut command(&fake, &intake, &dir));
    let want = expected(&entries);
    assert!(
        want.values().map(BTreeMap::len).sum::<usize>() > 20,
        "{want:?}"
    );
    assert_exact(&intake, &want);
    // History six hours back: the warning about Datadog's one-hour intake limit.
    assert!(log.contains("Historical Metrics Ingestion"), "{log}");
    // ptsd's own metrics are live: untimestamped, as before.
    let snap = intake.wait_until(WAIT, |i| {
        i.live_counts
            .keys()
            .any(|(n, _)| n == "ptsd.ptsd.api_requests")
    });
    assert!(
        snap.live_counts.keys().any(|(n, _)| n == "ptsd.ptsd.polls"),
        "{:?}",
        snap.live_counts
    );
    assert!(
        !snap.points.keys().any(|(n, _)| n.starts_with("ptsd.ptsd.")),
        "own metrics stamped"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn timestamps_need_the_dogstatsd_flavor() {
    let fake = FakePagerDuty::start_blocking(TOKEN);
    let dir = state_dir("flavor");
    let out = command(&fake, &FakeIntake::start(), &dir)
        .env("PTSD_STATSD_FLAVOR", "plain")
        .arg("--once")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        log.contains("PTSD_STATSD_TIMESTAMPS=on needs PTSD_STATSD_FLAVOR=dogstatsd"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Waits until `dir` holds a state file that `ptsd` wrote with slot totals in it.
fn wait_for_saved_totals(dir: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let saved = std::fs::read_to_string(dir.join("state.json")).unwrap_or_default();
        if saved.contains("\"statsd\"") {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "ptsd exited early");
        assert!(Instant::now() < deadline, "no state saved within a minute");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn kill_9_in_the_middle_of_a_catch_up_and_late_entries_stay_exact() {
    let intake = FakeIntake::start();
    let fake = FakePagerDuty::start_blocking(TOKEN);
    fake.add_users(synthetic_users());
    let mut entries = history(&fake, 120, 7, 47);
    let dir = state_dir("kill9");
    // Small windows, so the catch-up is many commits long, and a slow API, so it takes time.
    for _ in 0..80 {
        fake.inject("/log_entries", Fault::Delay(Duration::from_millis(60)));
    }
    let mut child = command(&fake, &intake, &dir)
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
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(
        saved["outputters"]["statsd"]["resolution"], RESOLUTION,
        "{saved}"
    );
    // Whatever it wrote before dying, the restart writes complete totals again.
    run_once(command(&fake, &intake, &dir).env("PTSD_LATENESS", "10m"));
    assert_exact(&intake, &expected(&entries));

    // Entries that show up late, into minutes that already hold counts: the first lot is read,
    // then the second lot appears (created in the same minutes) and is read by the next poll.
    let recent = Timestamp::now() - SignedDuration::from_secs(240);
    let first = past(synthetic_incidents(6, recent, Duration::from_secs(20), 5).0);
    fake.add_entries(first.clone());
    run_once(command(&fake, &intake, &dir).env("PTSD_LATENESS", "10m"));
    let late = past(synthetic_incidents(6, recent, Duration::from_secs(20), 6).0);
    fake.add_entries(late.clone());
    run_once(command(&fake, &intake, &dir).env("PTSD_LATENESS", "10m"));
    // Some minute really holds counts from both lots, so only a total rewritten whole is right
    // (increments would leave the late lot's count alone in it).
    let (a, b) = (expected(&first), expected(&late));
    let shared = a.iter().any(|(metric, series)| {
        series.iter().any(|(tags, slots)| {
            slots.keys().any(|t| {
                b.get(metric)
                    .and_then(|s| s.get(tags))
                    .is_some_and(|s| s.contains_key(t))
            })
        })
    });
    assert!(shared, "{a:?} {b:?}");
    entries.extend(first);
    entries.extend(late);
    assert_exact(&intake, &expected(&entries));
    let _ = std::fs::remove_dir_all(dir);
}

/// The intake's timestamped points of the checked metrics (reduced to their `CHECKED` tags)
/// in slots `[from, until)`.
fn window_of(intake: &Intake, from: i64, until: i64) -> Slots {
    let mut out = Slots::new();
    for (metric, keep) in CHECKED {
        for (tags, slots) in intake.by(metric, keep) {
            let kept: BTreeMap<i64, f64> = slots
                .into_iter()
                .filter(|(t, _)| (from..until).contains(t))
                .collect();
            if !kept.is_empty() {
                out.entry(metric).or_default().insert(tags, kept);
            }
        }
    }
    out
}

/// Issue 20's "done when": a 7-day demo backfill, cut by a `kill -9` and restarted, leaves
/// every slot as an uninterrupted 7-day backfill does (the demo feed is a pure function of the
/// time, so both runs see the same events where their windows overlap).
#[test]
fn a_seven_day_demo_backfill_cut_by_kill_9_equals_an_uninterrupted_one() {
    let demo = |intake: &FakeIntake, dir: &Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ptsd"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PTSD_DEMO", "true")
            .env("PTSD_BACKFILL", "7d")
            .env("PTSD_OUTPUTS", "statsd")
            .env("STATSD_HOST", "127.0.0.1")
            .env("STATSD_PORT", intake.port.to_string())
            .env("PTSD_STATSD_FLAVOR", "dogstatsd")
            .env("PTSD_STATSD_TIMESTAMPS", "on")
            .env("PTSD_STATE_DIR", dir)
            .env("PTSD_MAX_WINDOW", "2h")
            .env("RUST_LOG", "info");
        cmd
    };
    let (whole, cut) = (FakeIntake::start(), FakeIntake::start());
    let (dir_whole, dir_cut) = (state_dir("demo-whole"), state_dir("demo-cut"));
    let started = Timestamp::now();
    run_once(&mut demo(&whole, &dir_whole));
    let mut child = demo(&cut, &dir_cut)
        .env("PTSD_INTERVAL", "1h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ptsd starts");
    wait_for_saved_totals(&dir_cut, &mut child);
    child.kill().expect("kill -9");
    child.wait().unwrap();
    run_once(&mut demo(&cut, &dir_cut));
    // Where both windows hold every event of every incident: incidents live less than 8 hours,
    // and the last minutes may still have been open when the first run read them.
    let from = slot(started - SignedDuration::from_hours(7 * 24 - 8)) + RESOLUTION;
    let until = slot(started - SignedDuration::from_mins(10));
    let settled = |i: &Intake| window_of(i, from, until);
    let want = settled(&whole.drained());
    let points: usize = want
        .values()
        .flat_map(|s| s.values())
        .map(BTreeMap::len)
        .sum();
    assert!(points > 300, "{points} points");
    let got = settled(&cut.wait_until(WAIT, |i| settled(i) == want));
    for (metric, series) in &want {
        assert_eq!(got.get(metric), Some(series), "{metric}");
    }
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(dir_whole);
    let _ = std::fs::remove_dir_all(dir_cut);
}
