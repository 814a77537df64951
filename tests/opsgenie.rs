//! The Opsgenie collector against the fake Opsgenie API: exact counts through the engine, logs
//! read only for alerts that changed, the 20,000 cap, 429s, and the real binary running both
//! collectors at once into the real StatsD daemon.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use jiff::{SignedDuration, Timestamp};
use ptsd::aggregate::MetricBatch;
use ptsd::collectors::{self, CollectError, Collector};
use ptsd::config::{Args, Config};
use ptsd::engine;
use ptsd::event::Window;
use ptsd::outputters::{OutputError, Outputter};
use ptsd::schema::{self, sanitize, Flavor};
use support::*;

const KEY: &str = "og-key-0123456789abcdef";
const PD_TOKEN: &str = "pd-token-for-both-collectors";

fn config(fake: &FakeOpsgenie, extra: &[&str]) -> Config {
    let mut argv = vec![
        "ptsd",
        "--opsgenie-api-key",
        KEY,
        "--opsgenie-api-url",
        &fake.url,
        "--outputs",
        "stdout",
    ];
    argv.extend_from_slice(extra);
    Config::from_args(Args::try_parse_from(argv).expect("args")).expect("config")
}

fn collector(config: &Config) -> Box<dyn Collector> {
    collectors::opsgenie::build(config)
        .expect("builds")
        .expect("configured")
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<MetricBatch>>>);

impl Outputter for Capture {
    fn name(&self) -> &'static str {
        "capture"
    }
    fn write(&mut self, batch: &MetricBatch) -> Result<(), OutputError> {
        self.0.lock().unwrap().push(batch.clone());
        Ok(())
    }
}

impl Capture {
    fn plain_totals(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for b in self.0.lock().unwrap().iter() {
            for r in schema::render(Flavor::Plain, "ptsd", &b.series) {
                *out.entry(r.name).or_insert(0.0) += r.value as f64;
            }
        }
        oncall(out)
    }
}

/// The plain keys a correct run sends for the Opsgenie expectations.
fn og_expected_plain(e: &OgExpected) -> BTreeMap<String, f64> {
    let s = |v: &str| sanitize(v, true);
    let mut out = BTreeMap::new();
    let mut add = |k: String, n: u64| *out.entry(k).or_insert(0.0) += n as f64;
    let base = "ptsd.opsgenie";
    for (p, n) in &e.incidents_by_priority {
        add(format!("{base}.incidents.{}", s(p)), *n);
    }
    for (svc, n) in &e.incidents_by_service {
        add(format!("{base}.services.{}.incidents", s(svc)), *n);
    }
    for ((user, ch), n) in &e.notifications {
        add(format!("{base}.users.{}.notifications.{ch}", s(user)), *n);
    }
    for (metric, map) in [
        ("acknowledgements", &e.acks),
        ("assignments", &e.assignments),
        ("escalations", &e.escalations),
        ("resolves", &e.resolves),
    ] {
        for (user, n) in map {
            add(format!("{base}.users.{}.{metric}", s(user)), *n);
        }
    }
    out
}

fn seeded(fake: &FakeOpsgenie, n: usize, seed: u64) -> OgExpected {
    fake.add_users(og_synthetic_users());
    let (alerts, expected) = og_synthetic(
        n,
        Timestamp::now() - SignedDuration::from_secs(6 * 3600),
        Duration::from_secs(120),
        seed,
    );
    fake.add_alerts_with_logs(alerts);
    expected
}

async fn run_once(config: &Config) -> Capture {
    let capture = Capture::default();
    engine::run(
        engine::Settings::from_config(config),
        vec![collector(config)],
        vec![Box::new(capture.clone())],
        std::future::pending::<()>(),
    )
    .await
    .expect("engine runs");
    capture
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_counts_exactly_what_opsgenie_recorded() {
    let fake = FakeOpsgenie::start(KEY).await;
    let expected = seeded(&fake, 40, 3);
    let cfg = config(&fake, &["--once", "--backfill", "9h"]);
    let capture = run_once(&cfg).await;
    assert_eq!(capture.plain_totals(), og_expected_plain(&expected));
    for r in fake.requests() {
        assert!(r.auth_valid, "GenieKey sent: {}", r.path);
        if r.path == "/v2/alerts" {
            let q = r.param("query").unwrap();
            assert!(
                q.starts_with("createdAt<") && q.contains(" AND updatedAt>="),
                "{q}"
            );
            assert_eq!(r.param("sort"), Some("createdAt"));
            assert_eq!(r.param("order"), Some("asc"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_read_again_only_for_alerts_that_changed() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake.add_users(og_synthetic_users());
    let now = Timestamp::now();
    let t = |ago: i64| now - SignedDuration::from_secs(ago);
    let quiet = OgAlert::new("alert-quiet", "1", "disk full", "P3", "Prometheus", t(200));
    let busy = OgAlert::new("alert-busy", "2", "latency", "P1", "Datadog", t(190));
    fake.add_alert(quiet);
    fake.add_alert(busy);
    fake.add_log(
        "alert-quiet",
        og_log_notified(t(150), "ada@example.com", "SMS"),
    );
    fake.add_log(
        "alert-busy",
        og_log_notified(t(150), "grace@example.com", "Voice"),
    );
    let cfg = config(&fake, &["--lateness", "10m"]);
    let mut c = collector(&cfg);
    c.check().await.unwrap();
    // First poll: both alerts' logs are read.
    let w1 = Window::new(t(300), t(100));
    let got = c.collect(w1).await.unwrap();
    assert_eq!(got.events.len(), 4, "2 incidents + 2 notifications");
    c.delivered(w1.until);
    // New activity on one alert only.
    fake.add_log("alert-busy", og_log_acked(t(50), "grace@example.com"));
    fake.clear_requests();
    let w2 = Window::new(t(700), t(10)); // the lateness re-read covers both alerts again
    let got = c.collect(w2).await.unwrap();
    let log_reads: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/logs"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        log_reads,
        ["/v2/alerts/alert-busy/logs"],
        "the quiet alert is skipped"
    );
    assert!(got
        .events
        .iter()
        .any(|e| e.record_id.starts_with("alert-busy/")
            && matches!(e.kind, ptsd::event::EventKind::Acknowledged { .. })));
    // A window that was not delivered is read in full again.
    let w3 = Window::new(t(700), t(5));
    fake.clear_requests();
    c.collect(w3).await.unwrap();
    let again = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/logs"))
        .count();
    assert_eq!(
        again, 1,
        "alert-busy again: w2 was never reported delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_20000_cap_the_window_must_be_split() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake.add_users(og_synthetic_users());
    let start = Timestamp::now() - SignedDuration::from_secs(3600);
    fake.add_alerts_with_logs(
        (0..20_050)
            .map(|i| {
                let a = OgAlert::new(
                    &format!("cap-{i:05}"),
                    &i.to_string(),
                    "noisy",
                    "P5",
                    "CloudWatch",
                    start + SignedDuration::from_millis(i * 100),
                );
                (a, Vec::new())
            })
            .collect(),
    );
    // 200 pages in one go: no request budget here (it would spread them over a minute).
    let cfg = config(&fake, &["--max-requests-per-minute", "0"]);
    let mut c = collector(&cfg);
    let err = c
        .collect(Window::new(start, Timestamp::now()))
        .await
        .expect_err("too large");
    assert!(matches!(err, CollectError::WindowTooLarge { .. }), "{err}");
    assert!(
        fake.requests().iter().all(|r| r.status != 422),
        "the cap is never sent to the API"
    );
    assert!(fake.requests().iter().all(|r| !r.path.ends_with("/logs")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_waited_out() {
    let fake = FakeOpsgenie::start(KEY).await;
    let expected = seeded(&fake, 10, 8);
    fake.inject("/v2/alerts", OgFault::Status429);
    fake.inject("/v2/alerts", OgFault::Status500);
    let cfg = config(&fake, &["--once", "--backfill", "9h"]);
    let capture = run_once(&cfg).await;
    assert_eq!(capture.plain_totals(), og_expected_plain(&expected));
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert!(
        statuses.contains(&429) && statuses.contains(&500),
        "{statuses:?}"
    );
}

#[test]
fn both_collectors_at_once_into_the_real_statsd() {
    let og = FakeOpsgenie::start_blocking(KEY);
    let og_expected = seeded(&og, 30, 5);
    let pd = FakePagerDuty::start_blocking(PD_TOKEN);
    let (entries, pd_expected) = synthetic_incidents(
        30,
        Timestamp::now() - SignedDuration::from_secs(6 * 3600),
        Duration::from_secs(120),
        6,
    );
    pd.add_entries(entries);
    let peer = StatsdPeer::start();
    let out = ptsd_command(&pd, PD_TOKEN, peer.udp_port)
        .env("OPSGENIE_API_KEY", KEY)
        .env("OPSGENIE_API_URL", &og.url)
        .env("PTSD_BACKFILL", "9h")
        .arg("--once")
        .output()
        .expect("ptsd runs");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        !log.contains(KEY) && !log.contains(PD_TOKEN),
        "a secret leaked"
    );
    let mut want = expected_plain(&pd_expected);
    want.extend(og_expected_plain(&og_expected));
    let got = wait_for_oncall(&peer, &want, Duration::from_secs(10));
    assert_eq!(got, want);
    assert_eq!(peer.bad_lines(), 0.0);
}
