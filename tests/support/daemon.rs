//! Running the real `ptsd` binary in tests, and what it should have sent: the command with a
//! clean environment pointed at a fake API and a StatsD peer, the StatsD keys a correct run
//! produces for an [`ExpectedCounts`], and signal helpers.

use std::collections::BTreeMap;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use ptsd::schema::sanitize;

use super::{ExpectedCounts, FakePagerDuty};

/// `ptsd` with a clean environment (no `PDTOKEN` or `PTSD_*` from the developer's shell),
/// polling `fake` with `token` and sending to StatsD on 127.0.0.1:`statsd_port`, logging at
/// debug level so that tests can check the token never appears.
pub fn ptsd_command(fake: &FakePagerDuty, token: &str, statsd_port: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ptsd"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PDTOKEN", token)
        .env("PAGERDUTY_API_URL", &fake.url)
        .env("STATSD_HOST", "127.0.0.1")
        .env("STATSD_PORT", statsd_port.to_string())
        .env("RUST_LOG", "debug");
    cmd
}

/// The plain-flavor StatsD keys and values a correct run sends for `expected`.
pub fn expected_plain(expected: &ExpectedCounts) -> BTreeMap<String, f64> {
    let s = |v: &str| sanitize(v, true);
    let mut out = BTreeMap::new();
    let mut add = |k: String, n: u64| *out.entry(k).or_insert(0.0) += n as f64;
    for (u, n) in &expected.incidents_by_urgency {
        add(format!("ptsd.pagerduty.incidents.{u}"), *n);
    }
    for (svc, n) in &expected.incidents_by_service {
        add(format!("ptsd.pagerduty.services.{}.incidents", s(svc)), *n);
    }
    for ((user, ch), n) in &expected.notifications {
        add(
            format!("ptsd.pagerduty.users.{}.notifications.{ch}", s(user)),
            *n,
        );
    }
    for (metric, map) in per_user(expected) {
        for (user, n) in map {
            add(format!("ptsd.pagerduty.users.{}.{metric}", s(user)), *n);
        }
    }
    out
}

/// The DogStatsD keys (as Etsy statsd stores them: `name;tag=value;…`) of the per-user series a
/// correct run sends for `expected`. Incidents are left out: `ExpectedCounts` does not split
/// them by (service, urgency) together.
pub fn expected_tagged_people(expected: &ExpectedCounts) -> BTreeMap<String, f64> {
    let s = |v: &str| sanitize(v, true);
    let mut out = BTreeMap::new();
    let mut add = |k: String, n: u64| *out.entry(k).or_insert(0.0) += n as f64;
    for ((user, ch), n) in &expected.notifications {
        add(
            format!(
                "ptsd.notifications;provider=pagerduty;user={};channel={ch}",
                s(user)
            ),
            *n,
        );
    }
    for (metric, map) in per_user(expected) {
        for (user, n) in map {
            add(
                format!("ptsd.{metric};provider=pagerduty;user={}", s(user)),
                *n,
            );
        }
    }
    out
}

fn per_user(expected: &ExpectedCounts) -> [(&'static str, &BTreeMap<String, u64>); 4] {
    [
        ("acknowledgements", &expected.acks),
        ("assignments", &expected.assignments),
        ("escalations", &expected.escalations),
        ("resolves", &expected.resolves),
    ]
}

/// The on-call counters among `counters`: keys under `ptsd.`, without ptsd's own `ptsd.ptsd.*`
/// and without what the on-call analysis adds (interruptions, alert categories, timings, the
/// `hours` and `category` tags, summed away), which `tests/oncall_health.rs` checks on its own. So
/// these are the counts of the provider's records, one per event.
pub fn oncall(counters: BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (k, v) in counters {
        if !k.starts_with("ptsd.") || k.starts_with("ptsd.ptsd.") || is_analysis(&k) {
            continue;
        }
        let folded: Vec<&str> = k
            .split(';')
            .filter(|part| !part.starts_with("hours=") && !part.starts_with("category="))
            .collect();
        *out.entry(folded.join(";")).or_insert(0.0) += v;
    }
    out
}

/// Polls `peer` every 20 ms until [`oncall`] of its counters has every key of `want` with its
/// value (other keys ignored), or `timeout` passes; returns the last [`oncall`] read.
pub fn wait_for_oncall(
    peer: &super::StatsdPeer,
    want: &BTreeMap<String, f64>,
    timeout: Duration,
) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = oncall(peer.counters());
        let all_there = want
            .iter()
            .all(|(k, v)| got.get(k).is_some_and(|g| (g - v).abs() < 1e-9));
        if all_there || Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `key` is an interruption, alert-category or timing series (plain or tagged).
pub fn is_analysis(key: &str) -> bool {
    let name = key.split(';').next().unwrap_or(key);
    let parts: Vec<&str> = name.split('.').collect();
    // `|d` distributions (time to ack/resolve, DogStatsD flavor) are counters to Etsy statsd.
    [
        "ptsd.interruptions",
        "ptsd.time_to_ack",
        "ptsd.time_to_resolve",
    ]
    .contains(&name)
        || (parts.len() == 5 && parts[2] == "categories" && parts[4] == "incidents")
        || (parts.len() == 6
            && parts[2] == "users"
            && parts[4] == "interruptions"
            && ["sleep", "business", "off"].contains(&parts[5]))
}

/// Sends SIGTERM to `child`.
pub fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM failed");
}

/// Waits until `child` exits, failing the test after `within`.
pub fn wait_exit(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "ptsd did not exit in {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A file in the temp dir holding `secret`, for `--pdtoken-file` and the like: ptsd takes
/// tokens only from the environment or a file, never as a flag. Each call writes a file of its
/// own, so tests running in parallel never read one another's half-written file.
pub fn secret_file(secret: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("ptsd-test-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("secret-{n}"));
    std::fs::write(&path, secret).expect("secret file");
    path.display().to_string()
}
