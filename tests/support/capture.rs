//! An outputter that keeps every batch the engine delivers ([`Capture`]), read back in the plain
//! flavor; the configuration and collector a collector test starts from ([`test_config`],
//! [`collector_of`]); and the two ways the collector tests run the real engine: once (`--once`,
//! [`run_once`]) or until a condition on what was delivered holds ([`run_until`]).
//!
//! Why here: the tests of every provider drive the engine the same way; one copy keeps them
//! reading the same names.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ptsd::aggregate::MetricBatch;
use ptsd::collectors::Collector;
use ptsd::config::Config;
use ptsd::engine;
use ptsd::outputters::{OutputError, Outputter};
use ptsd::schema::{self, Flavor};

use super::daemon::{oncall, secret_file};

/// The configuration of a collector test: `secret_flag` names a file holding `secret` (as a
/// deployment would), then the provider's other `flags`, stdout as the only sink, and `extra`.
pub fn test_config(secret_flag: &str, secret: &str, flags: &[&str], extra: &[&str]) -> Config {
    let file = secret_file(secret);
    let mut argv = vec!["ptsd", secret_flag, &file];
    argv.extend_from_slice(flags);
    argv.extend_from_slice(&["--outputs", "stdout"]);
    argv.extend_from_slice(extra);
    ptsd::cli::parse_from(argv).expect("config")
}

/// The collector `name` as `config` builds it (it must be configured).
pub fn collector_of(name: &str, config: &Config) -> Box<dyn Collector> {
    ptsd::collectors::build(name, config)
        .expect("builds")
        .expect("configured")
}

/// Keeps every batch written to it; clones share the batches.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<Mutex<Vec<MetricBatch>>>);

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
    /// Every series of every batch, plain flavor, summed by name, ptsd's own metrics included.
    pub fn all(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for b in self.0.lock().unwrap().iter() {
            for r in schema::render(Flavor::Plain, "ptsd", &b.series) {
                *out.entry(r.name).or_insert(0.0) += r.value as f64;
            }
        }
        out
    }

    /// The on-call counters only (no self-metrics, no analysis; see [`oncall`]).
    pub fn counts(&self) -> BTreeMap<String, f64> {
        oncall(self.all())
    }

    /// The total of one plain name (0 when never sent), e.g. `ptsd.ptsd.jsm.windows_skipped`.
    pub fn total(&self, name: &str) -> f64 {
        self.all().get(name).copied().unwrap_or(0.0)
    }

    /// The sum of every on-call counter whose name starts with `prefix`.
    pub fn sum_of(&self, prefix: &str) -> f64 {
        self.counts()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    }

    /// Every timing sample, plain flavor, by name.
    pub fn samples(&self) -> BTreeMap<String, Vec<i64>> {
        let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for b in self.0.lock().unwrap().iter() {
            for (series, values) in &b.samples {
                for r in schema::render(
                    Flavor::Plain,
                    "ptsd",
                    &BTreeMap::from([(series.clone(), 0)]),
                ) {
                    out.entry(r.name).or_default().extend(values);
                }
            }
        }
        out
    }
}

/// Runs the engine with `collector` until it stops by itself (`--once` in `config`).
pub async fn run_once(config: &Config, collector: Box<dyn Collector>) -> Capture {
    let capture = Capture::default();
    engine::run(
        engine::Settings::from_config(config).expect("settings"),
        vec![collector],
        vec![Box::new(capture.clone())],
        std::future::pending::<()>(),
    )
    .await
    .expect("engine runs");
    capture
}

/// Runs the engine with `collector` until `done` holds for what was delivered (polled every
/// 50 ms; a panic naming `what` after `timeout`).
pub async fn run_until(
    config: &Config,
    collector: Box<dyn Collector>,
    timeout: Duration,
    what: &'static str,
    done: impl Fn(&Capture) -> bool + Send + 'static,
) -> Capture {
    let capture = Capture::default();
    let seen = capture.clone();
    let stop = async move {
        let deadline = Instant::now() + timeout;
        while !done(&seen) {
            assert!(Instant::now() < deadline, "not delivered in time: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    engine::run(
        engine::Settings::from_config(config).expect("settings"),
        vec![collector],
        vec![Box::new(capture.clone())],
        stop,
    )
    .await
    .expect("engine runs");
    capture
}
