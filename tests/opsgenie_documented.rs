//! The Opsgenie collector on documented ground (issue 13): nobody is dropped for a username the
//! directory does not know, acknowledgements, closes and owners from the alert's documented
//! `report` and `owner` fields when the log wording is not recognised, user log rules, unmatched
//! rows made visible, `X-RateLimit-State: THROTTLED`, and log reads bounded on a burst.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use ptsd::aggregate::MetricBatch;
use ptsd::collectors::{self, Collector};
use ptsd::config::Config;
use ptsd::engine;
use ptsd::outputters::{OutputError, Outputter};
use ptsd::schema::{self, Flavor};
use support::*;

const KEY: &str = "og-key-documented-0123456789";

fn config(fake: &FakeOpsgenie, extra: &[&str]) -> Config {
    let key = secret_file(KEY);
    let mut argv = vec![
        "ptsd",
        "--opsgenie-api-key-file",
        &key,
        "--opsgenie-api-url",
        &fake.url,
        "--outputs",
        "stdout",
    ];
    argv.extend_from_slice(extra);
    ptsd::cli::parse_from(argv).expect("config")
}

fn collector(config: &Config) -> Box<dyn Collector> {
    collectors::build("opsgenie", config)
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
    /// Every series of every batch, plain flavor, ptsd's own metrics included.
    fn all(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for b in self.0.lock().unwrap().iter() {
            for r in schema::render(Flavor::Plain, "ptsd", &b.series) {
                *out.entry(r.name).or_insert(0.0) += r.value as f64;
            }
        }
        out
    }

    /// The on-call counters only (no timers, no self-metrics).
    fn counts(&self) -> BTreeMap<String, f64> {
        oncall(self.all())
    }
}

async fn run_once(config: &Config) -> Capture {
    let capture = Capture::default();
    engine::run(
        engine::Settings::from_config(config).expect("settings"),
        vec![collector(config)],
        vec![Box::new(capture.clone())],
        std::future::pending::<()>(),
    )
    .await
    .expect("engine runs");
    capture
}

fn map(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Whole milliseconds, as the fake serves times.
fn now_ms() -> Timestamp {
    Timestamp::from_millisecond(Timestamp::now().as_millisecond()).unwrap()
}

/// The user list cannot be read (five 500s: the start-up check and its retries fail), and a
/// second account's user list simply lacks the person: either way the rows naming a username
/// count under the username itself, while System and an integration stay nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_the_directory_does_not_know_counts_under_itself() {
    for outage in [true, false] {
        let fake = FakeOpsgenie::start(KEY).await;
        if outage {
            fake.add_users(og_synthetic_users());
            for _ in 0..5 {
                fake.inject("/v2/users", OgFault::Status500);
            }
        }
        let now = now_ms();
        let t = |ago: i64| now - SignedDuration::from_secs(ago);
        fake.add_alert(OgAlert::new(
            "a1",
            "1",
            "db down",
            "P1",
            "Prometheus",
            t(600),
        ));
        fake.add_log("a1", og_log_notified(t(590), "Ada@Example.com", "SMS"));
        fake.add_log("a1", og_log_acked(t(500), "ada@example.com"));
        fake.add_log("a1", og_log_acked_by_integration(t(450), "System"));
        fake.add_log("a1", og_log_closed_via_integration(t(400), "Prometheus"));
        let cfg = config(
            &fake,
            &[
                "--once",
                "--backfill",
                "1h",
                "--max-requests-per-minute",
                "0",
            ],
        );
        let capture = run_once(&cfg).await;
        assert_eq!(
            capture.counts(),
            map(&[
                ("ptsd.opsgenie.incidents.p1", 1.0),
                ("ptsd.opsgenie.services.prometheus.incidents", 1.0),
                ("ptsd.opsgenie.users.ada_example_com.notifications.sms", 1.0),
                ("ptsd.opsgenie.users.ada_example_com.acknowledgements", 1.0),
            ]),
            "outage: {outage}"
        );
    }
}
