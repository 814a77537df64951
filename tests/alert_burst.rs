//! Measurements of the alert collector's request count (issue 13) for Opsgenie and for JSM
//! Operations, each against its own fake, recorded in BENCHMARKS.md; `#[ignore]`d because they
//! take minutes:
//!
//! ```sh
//! cargo test --test alert_burst -- --ignored --nocapture --test-threads 1   # all six
//! cargo test --test alert_burst -- --ignored --nocapture --test-threads 1 jsm_   # one provider
//! ```
//!
//! - **Burst**: 150 alerts created in 60 s, their rows arriving in real time at the fake, ptsd
//!   polling every 2 s with the default budget of 120 requests a minute. Asserts what must hold
//!   (every event counted exactly; at most 2 log reads per alert) and prints the requests.
//!   The same burst again with ptsd at its default interval and lateness (1 min, 5 min), as a
//!   new user would run it: the same alerts, rows and assertions.
//! - **Catch-up**: 20,000 alerts over 10 hours read by one `--once` run (budget off), and again
//!   in one-hour chunks: every alert's log read once per run, every event counted.
//!
//! Both providers run the same scenario (same seeds, times and assertions): the rows are
//! written as Opsgenie's, and [`Provider`] is all that differs (the fake, people named by
//! account id in JSM, the config, the paths of the listing, the logs and the user look-ups).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use ptsd::config::Config;
use ptsd::engine;
use ptsd::schema::sanitize;
use support::common::SplitMix64;
use support::*;

const KEY: &str = "og-key-burst-0123456789";
const CLOUD: &str = "0c5a7c2e-1234-4f00-9a00-0123456789ab";
const EMAIL: &str = "ptsd-bot@example.com";
const TOKEN: &str = "ATATT3xFfGF0jsmTokenForBurst0123";

/// What differs between the providers. Alerts and rows come in Opsgenie's form, people named
/// by username; a provider renames them as its API does.
trait Provider: Send + Sync + Sized + 'static {
    /// The collector's registry name, and the provider in metric names.
    const NAME: &'static str;
    async fn start() -> Self;
    /// The collector's configuration against this fake, then `extra`.
    fn config(&self, extra: &[&str]) -> Config;
    /// The path of the alert listing; a log read is `{listing}/{alert id}/logs`.
    fn listing(&self) -> String;
    /// The path of the user look-ups.
    fn users(&self) -> String;
    /// Serves the synthetic users.
    fn add_people(&self);
    fn alert(&self, alert: OgAlert);
    fn row(&self, alert_id: &str, row: OgLog);
    /// Adds the catch-up's `n` alerts (`og_synthetic`'s) with their rows; returns the rows.
    fn catch_up(&self, n: usize, start: Timestamp, spacing: Duration, seed: u64) -> OgExpected;
    fn received(&self) -> Vec<RecordedRequest>;
    fn forget_received(&self);
}

impl Provider for FakeOpsgenie {
    const NAME: &'static str = "opsgenie";
    async fn start() -> Self {
        FakeOpsgenie::start(KEY).await
    }
    fn config(&self, extra: &[&str]) -> Config {
        test_config(
            "--opsgenie-api-key-file",
            KEY,
            &["--opsgenie-api-url", &self.url],
            extra,
        )
    }
    fn listing(&self) -> String {
        "/v2/alerts".into()
    }
    fn users(&self) -> String {
        "/v2/users".into()
    }
    fn add_people(&self) {
        self.add_users(og_synthetic_users());
    }
    fn alert(&self, alert: OgAlert) {
        self.add_alert(alert);
    }
    fn row(&self, alert_id: &str, row: OgLog) {
        self.add_log(alert_id, row);
    }
    fn catch_up(&self, n: usize, start: Timestamp, spacing: Duration, seed: u64) -> OgExpected {
        let (alerts, expected) = og_synthetic(n, start, spacing, seed);
        self.add_alerts_with_logs(alerts);
        expected
    }
    fn received(&self) -> Vec<RecordedRequest> {
        self.requests()
    }
    fn forget_received(&self) {
        self.clear_requests();
    }
}

/// People are Atlassian account ids in rows and owners ([`JSM_ACCOUNT_IDS`]); their names come
/// from Jira's bulk user API.
impl Provider for FakeJsm {
    const NAME: &'static str = "jsm";
    async fn start() -> Self {
        FakeJsm::start(CLOUD, EMAIL, TOKEN).await
    }
    fn config(&self, extra: &[&str]) -> Config {
        let flags = [
            "--jsm-email",
            EMAIL,
            "--jsm-cloud-id",
            CLOUD,
            "--jsm-api-url",
            &self.url,
        ];
        test_config("--jsm-api-token-file", TOKEN, &flags, extra)
    }
    fn listing(&self) -> String {
        format!("/jsm/ops/api/{CLOUD}/v1/alerts")
    }
    fn users(&self) -> String {
        format!("/ex/jira/{CLOUD}/rest/api/3/user/bulk")
    }
    fn add_people(&self) {
        self.add_users(jsm_synthetic_users());
    }
    fn alert(&self, mut alert: OgAlert) {
        alert.owner = jsm_named(&alert.owner);
        self.add_alert(alert);
    }
    fn row(&self, alert_id: &str, row: OgLog) {
        self.add_log(alert_id, jsm_row(row));
    }
    fn catch_up(&self, n: usize, start: Timestamp, spacing: Duration, seed: u64) -> OgExpected {
        let (alerts, expected) = jsm_synthetic(n, start, spacing, seed, self.serves_report());
        self.add_alerts_with_logs(alerts);
        expected
    }
    fn received(&self) -> Vec<RecordedRequest> {
        self.requests()
    }
    fn forget_received(&self) {
        self.clear_requests();
    }
}

/// Log reads per alert id.
fn log_reads<P: Provider>(fake: &P) -> BTreeMap<String, usize> {
    let prefix = format!("{}/", fake.listing());
    let mut out = BTreeMap::new();
    for r in fake.received() {
        if let Some(id) = r
            .path
            .strip_prefix(&prefix)
            .and_then(|p| p.strip_suffix("/logs"))
        {
            *out.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    out
}

fn summary<P: Provider>(fake: &P) -> String {
    let requests = fake.received();
    let reads = log_reads(fake);
    let listings = requests.iter().filter(|r| r.path == fake.listing()).count();
    // The listing of the young open alerts is the one sorted newest first.
    let renotify_listings = requests
        .iter()
        .filter(|r| r.path == fake.listing() && r.param("order") == Some("desc"))
        .count();
    let users: Vec<_> = requests.iter().filter(|r| r.path == fake.users()).collect();
    // JSM looks people up by account id, in bulk.
    let ids: usize = users.iter().map(|r| r.params("accountId").len()).sum();
    let total_reads: usize = reads.values().sum();
    format!(
        "requests {} (alert listings {listings} of which {renotify_listings} of young open alerts, users {}{}, log reads {total_reads} for {} alerts: max {} per alert, mean {:.2})",
        requests.len(),
        users.len(),
        if ids > 0 { format!(" for {ids} account ids") } else { String::new() },
        reads.len(),
        reads.values().max().copied().unwrap_or(0),
        total_reads as f64 / reads.len().max(1) as f64
    )
}

/// One burst alert: its rows, times relative to its creation, and what `provider` counts.
fn burst_alert(
    provider: &str,
    i: usize,
    rng: &mut SplitMix64,
) -> (OgAlert, Vec<(i64, OgLog)>, BTreeMap<String, f64>) {
    let users = OG_SYNTHETIC_USERS;
    let at0 = Timestamp::UNIX_EPOCH;
    let primary = users[rng.below(3) as usize];
    let integration = OG_SYNTHETIC_INTEGRATIONS[rng.below(3) as usize];
    let priority = ["P1", "P2", "P3"][rng.below(3) as usize];
    let mut alert = OgAlert::new(
        &format!("b0000000-0000-4000-8000-{i:012}"),
        &i.to_string(),
        "burst",
        priority,
        integration,
        at0,
    );
    alert.owner = primary.1.to_string();
    let mut want = BTreeMap::new();
    let mut add = |k: String| *want.entry(k).or_insert(0.0) += 1.0;
    let key = |u: &str| sanitize(u, true);
    add(format!(
        "ptsd.{provider}.incidents.{}",
        priority.to_lowercase()
    ));
    add(format!(
        "ptsd.{provider}.services.{}.incidents",
        key(integration)
    ));
    let mut rows = vec![
        (0, og_log_created_via(at0, integration)),
        (1000, og_log_assigned(at0, primary.1)),
    ];
    add(format!(
        "ptsd.{provider}.users.{}.assignments",
        key(primary.2)
    ));
    for (k, (method, channel)) in [("SMS", "sms"), ("Voice", "phone"), ("Email", "email")]
        .into_iter()
        .take(1 + rng.below(3) as usize)
        .enumerate()
    {
        rows.push((
            2000 + 700 * k as i64,
            og_log_notified(at0, primary.1, method),
        ));
        add(format!(
            "ptsd.{provider}.users.{}.notifications.{channel}",
            key(primary.2)
        ));
    }
    if rng.chance(40) {
        let other = users[(users.iter().position(|u| u.1 == primary.1).unwrap() + 1) % 3];
        rows.push((
            20_000,
            og_log_escalated(at0, "Platform_escalation", other.1),
        ));
        rows.push((20_500, og_log_notified(at0, other.1, "SMS")));
        add(format!(
            "ptsd.{provider}.users.{}.escalations",
            key(other.2)
        ));
        add(format!(
            "ptsd.{provider}.users.{}.notifications.sms",
            key(other.2)
        ));
    }
    if rng.chance(85) {
        rows.push((
            30_000 + rng.below(30_000) as i64,
            og_log_acked(at0, primary.1),
        ));
        add(format!(
            "ptsd.{provider}.users.{}.acknowledgements",
            key(primary.2)
        ));
    }
    (alert, rows, want)
}

/// The log reads of a burst by why they were made, as far as the requests tell: an alert's
/// first read; a later one after a row arrived since the listing before its previous read (a
/// change); a later one with no such row (a re-notification look). `arrivals`: when each
/// alert's rows were added to the fake.
fn reads_by_cause<P: Provider>(fake: &P, arrivals: &BTreeMap<String, Vec<Instant>>) -> String {
    let prefix = format!("{}/", fake.listing());
    let mut last_listing: Option<Instant> = None;
    // Per alert: the listing before its previous read.
    let mut previous: BTreeMap<String, Option<Instant>> = BTreeMap::new();
    let (mut first, mut changed, mut renotify) = (0, 0, 0);
    let mut requests = fake.received();
    requests.sort_by_key(|r| r.received);
    for r in requests {
        if r.path == fake.listing() {
            last_listing = Some(r.received);
            continue;
        }
        let Some(id) = r
            .path
            .strip_prefix(&prefix)
            .and_then(|p| p.strip_suffix("/logs"))
        else {
            continue;
        };
        match previous.insert(id.to_string(), last_listing) {
            None => first += 1,
            Some(before) => {
                let moved = arrivals.get(id).is_some_and(|rows| {
                    rows.iter()
                        .any(|at| before.is_none_or(|b| *at > b) && Some(*at) <= last_listing)
                });
                if moved {
                    changed += 1;
                } else {
                    renotify += 1;
                }
            }
        }
    }
    format!("log reads: {first} first, {changed} after a change, {renotify} re-notification looks")
}

/// 150 alerts in 60 s, rows arriving in real time; ptsd on the default budget, with `extra`
/// flags (`--interval 2s`, or none: every setting at its default).
async fn burst<P: Provider>(extra: &[&str]) {
    let fake = Arc::new(P::start().await);
    fake.add_people();
    let mut rng = SplitMix64(150);
    let start = Timestamp::now() + SignedDuration::from_secs(3);
    let mut plan: Vec<(Timestamp, Option<OgAlert>, String, Option<OgLog>)> = Vec::new();
    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    for i in 0..150 {
        let (mut alert, rows, w) = burst_alert(P::NAME, i, &mut rng);
        let t0 = start + SignedDuration::from_millis(400 * i as i64);
        alert.created_at = t0;
        alert.updated_at = t0;
        let id = alert.id.clone();
        plan.push((t0, Some(alert), id.clone(), None));
        for (ms, mut row) in rows {
            row.created_at = t0 + SignedDuration::from_millis(ms);
            plan.push((row.created_at, None, id.clone(), Some(row)));
        }
        for (k, v) in w {
            *want.entry(k).or_insert(0.0) += v;
        }
    }
    plan.sort_by_key(|p| (p.0, p.1.is_none()));
    let events: f64 = want.values().sum();
    let last_row = plan.last().unwrap().0;
    let feeder = {
        let fake = fake.clone();
        tokio::spawn(async move {
            let mut arrivals: BTreeMap<String, Vec<Instant>> = BTreeMap::new();
            for (at, alert, id, row) in plan {
                if let Ok(wait) = Duration::try_from(at.duration_since(Timestamp::now())) {
                    tokio::time::sleep(wait).await;
                }
                match (alert, row) {
                    (Some(a), _) => fake.alert(a),
                    (None, Some(r)) => {
                        fake.row(&id, r);
                        arrivals.entry(id).or_default().push(Instant::now());
                    }
                    _ => {}
                }
            }
            arrivals
        })
    };
    let capture = Capture::default();
    let cfg = fake.config(extra);
    let polling = if extra.is_empty() {
        "defaults".to_string()
    } else {
        extra.join(" ")
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(engine::run(
        engine::Settings::from_config(&cfg).unwrap(),
        vec![collector_of(P::NAME, &cfg)],
        vec![Box::new(capture.clone())],
        async move {
            let _ = stop_rx.await;
        },
    ));
    let arrivals = feeder.await.unwrap();
    let burst_end = Instant::now();
    // A changed alert is read once quiet for 30 s, at the latest a minute after its change was
    // seen, at the next poll after that.
    let deadline = burst_end + Duration::from_secs(180).max(cfg.interval * 4);
    while capture.counts() != want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let caught_up = burst_end.elapsed();
    let _ = stop_tx.send(());
    daemon.await.unwrap().unwrap();
    eprintln!(
        "{} burst ({polling}, interval {:?}): {events} events over {} s of rows; all counted {:.1} s after the last row; {}; {}",
        P::NAME,
        cfg.interval,
        last_row.duration_since(start).as_secs(),
        caught_up.as_secs_f64(),
        summary(&*fake),
        reads_by_cause(&*fake, &arrivals)
    );
    assert_eq!(capture.counts(), want);
    let reads = log_reads(&*fake);
    assert_eq!(reads.len(), 150);
    assert!(reads.values().all(|n| *n <= 2), "{}", summary(&*fake));
}

/// 20,000 alerts over 10 hours, read in one `--once` run in one-hour chunks (budget off).
async fn catch_up<P: Provider>() {
    let fake = P::start().await;
    fake.add_people();
    let expected = fake.catch_up(
        20_000,
        Timestamp::now() - SignedDuration::from_hours(12),
        Duration::from_millis(1800),
        20,
    );
    for window in ["1h", "12h"] {
        fake.forget_received();
        let cfg = fake.config(&[
            "--once",
            "--backfill",
            "13h",
            "--max-requests-per-minute",
            "0",
            "--max-window",
            window,
        ]);
        let began = Instant::now();
        let capture = run_once(&cfg, collector_of(P::NAME, &cfg)).await;
        let rows = expected.logs;
        eprintln!(
            "{} catch-up, PTSD_MAX_WINDOW={window}: 20000 alerts, {rows} log rows in {:.1} s; {}",
            P::NAME,
            began.elapsed().as_secs_f64(),
            summary(&fake)
        );
        assert_eq!(
            capture.sum_of(&format!("ptsd.{}.incidents.", P::NAME)),
            20_000.0
        );
        assert_eq!(
            capture.counts(),
            expected.plain(P::NAME),
            "every event, once"
        );
        let reads = log_reads(&fake);
        assert_eq!(reads.len(), 20_000);
        assert!(reads.values().all(|n| *n == 1), "{}", summary(&fake));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of about three minutes; see BENCHMARKS.md"]
async fn opsgenie_burst_of_150_alerts_in_60_s_on_the_default_budget() {
    burst::<FakeOpsgenie>(&["--interval", "2s"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of about three minutes; see BENCHMARKS.md"]
async fn jsm_burst_of_150_alerts_in_60_s_on_the_default_budget() {
    burst::<FakeJsm>(&["--interval", "2s"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of about four minutes; see BENCHMARKS.md"]
async fn opsgenie_burst_of_150_alerts_in_60_s_at_the_default_interval() {
    burst::<FakeOpsgenie>(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of about four minutes; see BENCHMARKS.md"]
async fn jsm_burst_of_150_alerts_in_60_s_at_the_default_interval() {
    burst::<FakeJsm>(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of a few minutes; see BENCHMARKS.md"]
async fn opsgenie_catch_up_of_20000_alerts() {
    catch_up::<FakeOpsgenie>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of a few minutes; see BENCHMARKS.md"]
async fn jsm_catch_up_of_20000_alerts() {
    catch_up::<FakeJsm>().await;
}
