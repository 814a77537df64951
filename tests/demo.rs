//! The demo as a newcomer first meets it: `ptsd --demo --once` prints on-call counters on its
//! first output at any hour, the quietest hours of the demo's weeks included (its default
//! backfill is a day). The hidden `PTSD_DEMO_START` fixes the demo feed's clock, so the hours
//! tried are the same on every run; the quietest ones are found from the demo feed itself.

use std::process::Command;

use jiff::{SignedDuration, Timestamp};
use ptsd::event::{EventKind, Window};

/// Four demo weeks (one in four is a bad week), from a Monday.
const FIRST: &str = "2026-11-02T00:30:00Z";
const HOURS: i64 = 4 * 7 * 24;

/// Events and incidents the demo feed (seed 1, as `--demo` has) holds in each hour from one
/// day before `FIRST` on.
fn hourly() -> Vec<(usize, usize)> {
    let config = ptsd::cli::parse_from(["ptsd", "--demo"]).expect("config");
    let mut demo = ptsd::collectors::build("demo", &config)
        .expect("builds")
        .expect("configured");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let first: Timestamp = FIRST.parse().unwrap();
    (-24..HOURS)
        .map(|h| {
            let since = first + SignedDuration::from_hours(h);
            let window = Window::new(since, since + SignedDuration::from_hours(1));
            let events = runtime.block_on(demo.collect(window)).expect("demo").events;
            let incidents = events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::Triggered { .. }))
                .count();
            (events.len(), incidents)
        })
        .collect()
}

/// `ptsd --demo --once` with the demo's clock at `start`: its stdout lines.
fn demo_once_at(start: Timestamp) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_ptsd"))
        .args(["--demo", "--once"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PTSD_DEMO_START", start.to_string())
        .env("RUST_LOG", "off")
        .output()
        .expect("ptsd runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn on_call_counters(lines: &[serde_json::Value]) -> Vec<&str> {
    lines
        .iter()
        .filter(|l| l["type"] == "counter")
        .filter_map(|l| l["name"].as_str())
        .filter(|n| !n.starts_with("ptsd.ptsd."))
        .collect()
}

#[test]
fn the_first_demo_output_has_on_call_counters_at_any_hour() {
    let hours = hourly();
    let first: Timestamp = FIRST.parse().unwrap();
    // Index i of `hours` is the hour [first + (i - 24) h, first + (i - 23) h); the run at
    // `first + k h` reads the day before it: hours k .. k + 24.
    let day_before = |k: usize| -> (usize, usize) {
        hours[k..k + 24]
            .iter()
            .fold((0, 0), |(e, i), (de, di)| (e + de, i + di))
    };
    let at = |k: usize| first + SignedDuration::from_hours(k as i64);
    // The quietest hour: the one whose last hour (the old default backfill) has fewest events.
    let quietest_hour = (0..HOURS as usize)
        .min_by_key(|&k| (hours[k + 23].0, k))
        .unwrap();
    assert_eq!(
        hours[quietest_hour + 23].0,
        0,
        "the demo has hours without any event (a one-hour backfill showed nothing there)"
    );
    let empty_hours = (0..HOURS as usize)
        .filter(|&k| hours[k + 23].0 == 0)
        .count();
    // The quietest day before a run: the hardest case for the day-long backfill.
    let quietest_day = (0..HOURS as usize)
        .min_by_key(|&k| (day_before(k).0, k))
        .unwrap();
    let mut starts = vec![
        (at(quietest_hour), "the quietest hour"),
        (at(quietest_day), "after the quietest day"),
    ];
    // The hour the issue met (01:36 UTC), and a Saturday night and the Monday handoff.
    for fixed in [
        "2026-11-24T01:36:00Z",
        "2026-11-14T03:30:00Z",
        "2026-11-16T10:00:00Z",
    ] {
        starts.push((fixed.parse().unwrap(), "a fixed hour"));
    }
    for (start, what) in starts {
        let lines = demo_once_at(start);
        let counters = on_call_counters(&lines);
        assert!(
            !counters.is_empty(),
            "{what} ({start}; {empty_hours} of {HOURS} hours have no event): no on-call counter in {lines:?}"
        );
        // The day before the quietest day's end has incidents: they are among the counters.
        if what == "after the quietest day" {
            assert!(day_before(quietest_day).1 > 0);
            assert!(counters.contains(&"ptsd.incidents"), "{counters:?}");
        }
    }
}

/// A bad `PTSD_DEMO_START` stops ptsd with one line naming it.
#[test]
fn a_bad_demo_start_names_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_ptsd"))
        .args(["--demo", "--once"])
        .env_clear()
        .env("PTSD_DEMO_START", "yesterday")
        .env("RUST_LOG", "off")
        .output()
        .expect("ptsd runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("PTSD_DEMO_START="), "{err}");
}
