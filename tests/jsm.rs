//! The Jira Service Management Operations collector against the fake JSM API: exact counts
//! through the engine, both readings of the activity log's paging, people looked up by account
//! id (and never dropped), the 20,000 cap, 429 and 5xx, late rows and a restart with the real
//! binary into the real StatsD daemon, a refused token, and all three providers at once.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use ptsd::collectors::Collector;
use ptsd::config::Config;
use ptsd::schema::sanitize;
use support::common::bump;
use support::*;

const CLOUD: &str = "0c5a7c2e-1234-4f00-9a00-0123456789ab";
const EMAIL: &str = "ptsd-bot@example.com";
const TOKEN: &str = "ATATT3xFfGF0jsmTokenForTests0123";
const OG_KEY: &str = "og-key-for-three-collectors";
const PD_TOKEN: &str = "pd-token-for-three-collectors";

fn config(fake: &FakeJsm, extra: &[&str]) -> Config {
    let flags = [
        "--jsm-email",
        EMAIL,
        "--jsm-cloud-id",
        CLOUD,
        "--jsm-api-url",
        &fake.url,
    ];
    test_config("--jsm-api-token-file", TOKEN, &flags, extra)
}

fn collector(config: &Config) -> Box<dyn Collector> {
    collector_of("jsm", config)
}

fn seeded(fake: &FakeJsm, n: usize, seed: u64) -> OgExpected {
    fake.add_users(jsm_synthetic_users());
    let (alerts, expected) = jsm_synthetic(
        n,
        Timestamp::now() - SignedDuration::from_secs(6 * 3600),
        Duration::from_secs(120),
        seed,
        fake.serves_report(),
    );
    fake.add_alerts_with_logs(alerts);
    expected
}

async fn run_once(config: &Config) -> Capture {
    support::run_once(config, collector(config)).await
}

const ALERTS: &str = "/jsm/ops/api/0c5a7c2e-1234-4f00-9a00-0123456789ab/v1/alerts";

fn is_listing(r: &RecordedRequest) -> bool {
    r.path == ALERTS
        && r.param("query")
            .is_some_and(|q| q.starts_with("createdAt<"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_counts_exactly_what_jsm_recorded() {
    let fake = FakeJsm::start(CLOUD, EMAIL, TOKEN).await;
    let expected = seeded(&fake, 40, 3);
    let cfg = config(&fake, &["--once", "--backfill", "9h"]);
    let capture = run_once(&cfg).await;
    assert_eq!(capture.counts(), expected.plain("jsm"));
    let requests = fake.requests();
    let mut looked_up = Vec::new();
    for r in &requests {
        assert!(r.auth_valid, "basic auth sent: {}", r.path);
        assert_eq!(r.status, 200, "{} {}", r.path, r.raw_query);
        if r.path == ALERTS {
            let q = r.param("query").unwrap();
            assert_eq!(r.param("sort"), Some("createdAt"));
            if q.starts_with("status:open AND ") {
                assert_eq!(r.param("order"), Some("desc"));
                assert_eq!(r.param("size"), Some("50"));
            } else {
                assert!(
                    q.starts_with("createdAt<") && q.contains(" AND updatedAt>="),
                    "{q}"
                );
                assert_eq!(r.param("order"), Some("asc"));
                assert_eq!(r.param("size"), Some("100"));
            }
        } else if r.path.ends_with("/rest/api/3/user/bulk") {
            assert_eq!(r.path, format!("/ex/jira/{CLOUD}/rest/api/3/user/bulk"));
            looked_up.extend(r.params("accountId").into_iter().map(String::from));
        }
    }
    looked_up.sort();
    let mut want: Vec<String> = JSM_ACCOUNT_IDS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(looked_up, want, "each person looked up once");
}

/// 250 alerts plus one alert with 250 activity rows, under both readings of the paging:
/// `links.next` (alerts; logs with `after`), or no links at all (alerts: `count` alone; logs:
/// the last row's `id`). Exact counts, and the keys
/// the fake handed out are the ones sent back.
async fn paged_through(paging: LogPaging) {
    let fake = FakeJsm::start(CLOUD, EMAIL, TOKEN).await;
    fake.set_log_paging(paging);
    // The other reading of the alert envelope goes with the other reading of the log's.
    fake.set_alert_links(paging == LogPaging::Link);
    fake.add_users(jsm_synthetic_users());
    let now = Timestamp::now();
    let (alerts, expected) = jsm_synthetic(
        250,
        now - SignedDuration::from_hours(7),
        Duration::from_secs(60),
        11,
        false,
    );
    fake.add_alerts_with_logs(alerts);
    let mut want = expected.plain("jsm");
    let t0 = now - SignedDuration::from_hours(6);
    fake.add_alert(OgAlert::new(
        "chatty", "9999", "flapping", "P2", "Datadog", t0,
    ));
    let people = ["ada_lovelace", "grace_hopper", "edsger_dijkstra"];
    let methods = [
        ("SMS", "sms"),
        ("Voice", "phone"),
        ("Email", "email"),
        ("Mobile", "push"),
    ];
    for i in 0..250usize {
        let (method, channel) = methods[i % 4];
        let at = t0 + SignedDuration::from_secs(10 * (i as i64 + 1));
        fake.add_log(
            "chatty",
            og_log_notified(at, JSM_ACCOUNT_IDS[i % 3], method),
        );
        *want
            .entry(format!(
                "ptsd.jsm.users.{}.notifications.{channel}",
                people[i % 3]
            ))
            .or_insert(0.0) += 1.0;
    }
    *want.entry("ptsd.jsm.incidents.p2".into()).or_insert(0.0) += 1.0;
    *want
        .entry("ptsd.jsm.services.datadog.incidents".into())
        .or_insert(0.0) += 1.0;
    let cfg = config(
        &fake,
        &[
            "--once",
            "--backfill",
            "9h",
            "--max-window",
            "12h",
            "--max-requests-per-minute",
            "0",
        ],
    );
    let capture = run_once(&cfg).await;
    assert_eq!(capture.counts(), want, "{paging:?}");
    let requests = fake.requests();
    let offsets: Vec<&str> = requests
        .iter()
        .filter(|r| is_listing(r))
        .map(|r| r.param("offset").unwrap())
        .collect();
    assert_eq!(offsets, ["0", "100", "200"]);
    let cursors: Vec<Option<&str>> = requests
        .iter()
        .filter(|r| r.path.ends_with("/v1/alerts/chatty/logs"))
        .map(|r| r.param("after"))
        .collect();
    let keys = fake.log_keys("chatty");
    assert_eq!(
        cursors,
        [None, Some(keys[99].as_str()), Some(keys[199].as_str())],
        "{paging:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_logs_are_paged_through_by_link() {
    paged_through(LogPaging::Link).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_logs_are_paged_through_by_row_key() {
    paged_through(LogPaging::RowKey).await;
}

/// JSM's documented alert sample has no `report`; when the alerts carry one (Opsgenie's alert
/// model), the shared safety net counts from it as for Opsgenie: here the owners whom only the
/// alert's `owner` and `report.acknowledgedBy` name, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_when_jsm_sends_one_is_the_safety_net_under_the_rows() {
    let start = Timestamp::now() - SignedDuration::from_secs(6 * 3600);
    let spacing = Duration::from_secs(120);
    let (_, without) = jsm_synthetic(40, start, spacing, 5, false);
    let (_, with) = jsm_synthetic(40, start, spacing, 5, true);
    assert_ne!(
        with.assignments, without.assignments,
        "the seed has owners only the report tells"
    );
    for serve in [false, true] {
        let fake = FakeJsm::start(CLOUD, EMAIL, TOKEN).await;
        fake.set_serve_report(serve);
        let expected = seeded(&fake, 40, 5);
        let cfg = config(&fake, &["--once", "--backfill", "9h"]);
        let capture = run_once(&cfg).await;
        assert_eq!(
            capture.counts(),
            expected.plain("jsm"),
            "report served: {serve}"
        );
    }
}

/// Rows of a wording no rule knows are counted in `log_rows_unmatched` and kept as shapes for
/// `ptsd logs`, as for Opsgenie (the same rules and shapes).
#[tokio::test(flavor = "current_thread")]
async fn unmatched_rows_are_counted_and_shown_as_shapes() {
    use ptsd::event::Window;
    let fake = FakeJsm::start(CLOUD, EMAIL, TOKEN).await;
    fake.add_users(jsm_synthetic_users());
    let now = Timestamp::now();
    let t = |ago: i64| now - SignedDuration::from_secs(ago);
    let [ada, _, _] = JSM_ACCOUNT_IDS;
    fake.add_alert(OgAlert::new("new", "1", "x", "P3", "Prometheus", t(600)));
    fake.add_log("new", og_log_notified(t(590), ada, "SMS"));
    for (i, ago) in [580, 570].into_iter().enumerate() {
        fake.add_raw_log(
            "new",
            t(ago),
            serde_json::json!({"offset": format!("u{i}"), "log": format!("Paged {ada} through the new app {i}"),
            "logType": "alertRecipient", "owner": ada, "createdAt": t(ago).to_string()}),
        );
    }
    let cfg = config(&fake, &["--once"]);
    let mut c = collector(&cfg);
    c.check().await.unwrap();
    let got = c.collect(Window::new(t(900), t(0))).await.unwrap();
    assert_eq!(got.unmatched_rows, 2);
    let shapes = c.log_shapes();
    let unmatched: Vec<_> = shapes.iter().filter(|s| s.rule.is_none()).collect();
    assert_eq!(unmatched.len(), 1, "{shapes:?}");
    assert_eq!(unmatched[0].rows, 2);
    assert_eq!(unmatched[0].kind, "alertRecipient");
    assert!(
        !unmatched[0].shape.contains(ada),
        "the account id is masked: {}",
        unmatched[0].shape
    );
    assert!(shapes.iter().any(|s| s.rule.is_some()), "{shapes:?}");
}

/// An alert whose log JSM refuses (404) poll after poll is skipped after
/// `POISON_AFTER` polls, as Opsgenie's is; every other alert counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_whose_log_stays_refused_is_skipped_after_a_few_polls() {
    let fake = FakeJsm::start(CLOUD, EMAIL, TOKEN).await;
    let expected = seeded(&fake, 6, 17);
    let poisoned = fake.alert_ids()[2].clone();
    for _ in 0..50 {
        fake.inject(&format!("{ALERTS}/{poisoned}/logs"), JsmFault::Status404);
    }
    let cfg = config(
        &fake,
        &[
            "--backfill",
            "7h",
            "--interval",
            "1s",
            "--max-requests-per-minute",
            "0",
        ],
    );
    let want = expected.incidents as f64;
    let skipped = "ptsd.ptsd.jsm.windows_skipped";
    let capture = run_until(
        &cfg,
        collector(&cfg),
        Duration::from_secs(40),
        "every incident and the skip",
        move |c| c.sum_of("ptsd.jsm.incidents.") == want && c.total(skipped) >= 1.0,
    )
    .await;
    assert_eq!(
        capture.sum_of("ptsd.jsm.incidents."),
        want,
        "every alert's creation"
    );
    let refused = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(&format!("/{poisoned}/logs")) && r.status == 404)
        .count();
    assert!(
        refused >= ptsd::collectors::opsgenie::POISON_AFTER as usize,
        "{refused}"
    );
    assert_eq!(capture.total(skipped), 1.0, "the alert skipped once");
}

/// A classic token: the gateway's user API refuses it, the site serves it. With
/// `JSM_SITE_URL` people are named; without it, they still count, under their account ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_come_from_the_site_or_count_under_their_ids() {
    let fake = FakeJsm::start(CLOUD, EMAIL, TOKEN).await;
    fake.set_gateway_refuses_users(true);
    let expected = seeded(&fake, 20, 4);
    let site = fake.url.clone();
    let cfg = config(
        &fake,
        &["--once", "--backfill", "9h", "--jsm-site-url", &site],
    );
    let capture = run_once(&cfg).await;
    assert_eq!(capture.counts(), expected.plain("jsm"));
    let bulk: Vec<(String, u16)> = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/user/bulk"))
        .map(|r| (r.path.clone(), r.status))
        .collect();
    assert!(!bulk.is_empty());
    assert!(
        bulk.iter()
            .all(|(path, status)| path == "/rest/api/3/user/bulk" && *status == 200),
        "the site first, and only the site: {bulk:?}"
    );

    let fake = FakeJsm::start(CLOUD, EMAIL, TOKEN).await;
    fake.set_gateway_refuses_users(true);
    let expected = seeded(&fake, 20, 4);
    let cfg = config(&fake, &["--once", "--backfill", "9h"]);
    let got = run_once(&cfg).await.counts();
    let want = expected.plain("jsm");
    // Every person's count arrives, under the account id instead of the name.
    let by_id = |k: &str| {
        let mut k = k.to_string();
        for ((_, _, name, _), id) in OG_SYNTHETIC_USERS.iter().zip(JSM_ACCOUNT_IDS) {
            k = k.replace(&sanitize(name, true), &sanitize(id, false));
        }
        k
    };
    let want: BTreeMap<String, f64> = want.into_iter().map(|(k, v)| (by_id(&k), v)).collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_and_a_500_are_waited_out() {
    let fake = FakeJsm::start(CLOUD, EMAIL, TOKEN).await;
    let expected = seeded(&fake, 10, 8);
    fake.inject(ALERTS, JsmFault::Status429);
    fake.inject("/jsm/ops/api/", JsmFault::Status500);
    fake.inject("/jsm/ops/api/", JsmFault::Truncated);
    let cfg = config(&fake, &["--once", "--backfill", "9h"]);
    let capture = run_once(&cfg).await;
    assert_eq!(capture.counts(), expected.plain("jsm"));
    let requests = fake.requests();
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..3], [429, 500, 200], "{statuses:?}");
    assert_eq!(requests[2].fault, Some(Fault::Truncated));
    // `Retry-After: 1` was honoured: the retry came at least a second after the 429.
    assert!(requests[1].received.duration_since(requests[0].received) >= Duration::from_secs(1));
}

/// 20,050 alerts created in one window, seven to a millisecond: every one is an incident,
/// counted once, and no request passes the documented cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_past_the_cap_are_all_counted() {
    const N: i64 = 20_050;
    let fake = FakeJsm::start(CLOUD, EMAIL, TOKEN).await;
    let start = Timestamp::now() - SignedDuration::from_secs(30 * 60);
    let mut want = BTreeMap::new();
    let mut items = Vec::new();
    for i in 0..N {
        let p = ["P1", "P2", "P3", "P4", "P5"][i as usize % 5];
        let svc = ["Prometheus", "Datadog", "CloudWatch"][i as usize % 3];
        *want
            .entry(format!("ptsd.jsm.incidents.{}", p.to_lowercase()))
            .or_insert(0.0) += 1.0;
        *want
            .entry(format!(
                "ptsd.jsm.services.{}.incidents",
                svc.to_lowercase()
            ))
            .or_insert(0.0) += 1.0;
        let at = start + SignedDuration::from_millis((i / 7) * 150);
        items.push((
            OgAlert::new(
                &format!("storm-{i:05}"),
                &i.to_string(),
                "noisy",
                p,
                svc,
                at,
            ),
            Vec::new(),
        ));
    }
    fake.add_alerts_with_logs(items);
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
    assert_eq!(capture.counts(), want);
    let mut restarted = false;
    for r in fake.requests().iter().filter(|r| r.path == ALERTS) {
        let offset: u64 = r.param("offset").unwrap().parse().unwrap();
        let size: u64 = r.param("size").unwrap().parse().unwrap();
        assert!(offset + size < 20_000, "{}", r.raw_query);
        assert_eq!(r.status, 200, "{}", r.raw_query);
        restarted |= r.param("query").unwrap().contains(" AND createdAt>=");
    }
    assert!(restarted, "the listing restarted from the newest createdAt");
    let log_reads = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/logs"))
        .map(|r| r.path.clone())
        .collect::<Vec<_>>();
    let distinct: std::collections::BTreeSet<&String> = log_reads.iter().collect();
    assert_eq!(
        (log_reads.len(), distinct.len()),
        (N as usize, N as usize),
        "each alert's log read once"
    );
}

/// Windows end at any nanosecond, the API keeps milliseconds: an alert created in the last
/// millisecond of a window (before its end) is that window's, and is listed there, not lost
/// between it and the next one. (Failed before the bound was rounded up.)
#[tokio::test(flavor = "current_thread")]
async fn an_alert_in_the_last_millisecond_of_a_window_is_counted() {
    use ptsd::event::{EventKind, Window};
    let fake = FakeJsm::start(CLOUD, EMAIL, TOKEN).await;
    let ms = Timestamp::now().as_millisecond() - 60_000;
    let created = Timestamp::from_millisecond(ms).unwrap() + SignedDuration::from_micros(100);
    let end = created + SignedDuration::from_micros(400);
    // Closed, so that only the main listing can find it (not the young-open-alerts query).
    let mut edge = OgAlert::new("edge", "1", "x", "P2", "Datadog", created);
    edge.status = "closed".into();
    fake.add_alert(edge);
    let cfg = config(&fake, &["--max-requests-per-minute", "0"]);
    let mut c = collector(&cfg);
    let first = c
        .collect(Window::new(end - SignedDuration::from_hours(1), end))
        .await
        .unwrap();
    let second = c
        .collect(Window::new(end, end + SignedDuration::from_hours(1)))
        .await
        .unwrap();
    let triggered = |events: &[ptsd::event::Event]| {
        events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Triggered { .. }))
            .count()
    };
    assert_eq!(
        (triggered(&first.events), triggered(&second.events)),
        (1, 0)
    );
}

/// An alert's log is read again only when the alert changed, and then only after the last row
/// older than the window it was read for less the lateness (the `after` key; a window to come
/// starts at most that much earlier), never from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_read_again_only_for_changed_alerts_and_only_past_what_was_settled() {
    use ptsd::event::{EventKind, Window};
    let fake = FakeJsm::start(CLOUD, EMAIL, TOKEN).await;
    fake.add_users(jsm_synthetic_users());
    let now = Timestamp::now();
    let t = |ago: i64| now - SignedDuration::from_secs(ago);
    let [ada, grace, _] = JSM_ACCOUNT_IDS;
    for (id, who) in [("quiet", ada), ("busy", grace)] {
        fake.add_alert(OgAlert::new(
            id,
            id,
            "disk full",
            "P3",
            "Prometheus",
            t(700),
        ));
        fake.add_log(id, og_log_notified(t(690), who, "SMS"));
        fake.add_log(id, og_log_acked(t(680), who));
        fake.add_log(id, og_log_notified(t(150), who, "Voice"));
    }
    let cfg = config(
        &fake,
        &["--max-requests-per-minute", "0", "--lateness", "2m"],
    );
    let mut c = collector(&cfg);
    c.check().await.unwrap();
    let w1 = Window::new(t(300), t(100));
    let got = c.collect(w1).await.unwrap();
    assert_eq!(
        got.events.len(),
        2,
        "one notification each inside the window"
    );
    c.delivered(w1.until);
    fake.add_log("busy", og_log_closed(t(50), grace));
    fake.clear_requests();
    let w2 = Window::new(t(250), t(10));
    let got = c.collect(w2).await.unwrap();
    let reads: Vec<(String, Option<String>)> = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/logs"))
        .map(|r| {
            (
                r.path.rsplit('/').nth(1).unwrap().to_string(),
                r.param("after").map(String::from),
            )
        })
        .collect();
    let settled = fake.log_keys("busy")[1].clone();
    assert_eq!(reads, [("busy".to_string(), Some(settled))]);
    let closes: Vec<&str> = got
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Resolved { user: Some(u) } => u.name.as_deref(),
            _ => None,
        })
        .collect();
    assert_eq!(closes, ["Grace Hopper"]);
}

/// Rows ptsd cannot read (no key at all, a time that does not parse) are skipped, each logged
/// and counted in `entries_skipped`; the rows around them count and paging goes on.
#[tokio::test(flavor = "current_thread")]
async fn unreadable_rows_are_skipped_logged_and_counted() {
    let fake = FakeJsm::start(CLOUD, EMAIL, TOKEN).await;
    fake.add_users(jsm_synthetic_users());
    let now = Timestamp::now();
    let t = |ago: i64| now - SignedDuration::from_secs(ago);
    let [ada, grace, _] = JSM_ACCOUNT_IDS;
    fake.add_alert(OgAlert::new("odd", "1", "x", "P3", "Prometheus", t(600)));
    fake.add_log("odd", og_log_notified(t(590), ada, "SMS"));
    fake.add_raw_log(
        "odd",
        t(580),
        serde_json::json!({"log": "Alert acknowledged via web",
        "type": "system", "owner": ada, "createdAt": "2026-03-02T03:16:40Z"}),
    );
    fake.add_raw_log(
        "odd",
        t(570),
        serde_json::json!({"offset": "x1", "log": "Alert closed via web",
        "type": "system", "owner": ada, "createdAt": "last tuesday"}),
    );
    fake.add_log("odd", og_log_acked(t(550), grace));
    let logs = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = {
        let logs = logs.clone();
        move || LogSink(logs.clone())
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let cfg = config(&fake, &["--once", "--backfill", "1h"]);
    let capture = run_once(&cfg).await;
    assert_eq!(capture.total("ptsd.ptsd.jsm.entries_skipped"), 2.0);
    assert_eq!(
        capture.counts(),
        BTreeMap::from([
            ("ptsd.jsm.incidents.p3".to_string(), 1.0),
            ("ptsd.jsm.services.prometheus.incidents".to_string(), 1.0),
            (
                "ptsd.jsm.users.ada_lovelace.notifications.sms".to_string(),
                1.0
            ),
            (
                "ptsd.jsm.users.grace_hopper.acknowledgements".to_string(),
                1.0
            ),
        ])
    );
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert_eq!(
        text.matches("Skipped a malformed alert log row.").count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches("Skipped an alert log row with a bad timestamp.")
            .count(),
        1,
        "{text}"
    );
}

/// A log writer the tests can read back.
struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The fake keeps the documented rules the tests above rely on: basic auth, the cloud id, the
/// cap, `size` ≤ 100, relative `links.next`, 429 with `Retry-After`, the bulk user page.
#[tokio::test(flavor = "current_thread")]
async fn the_fake_keeps_the_documented_rules() {
    let fake = FakeJsm::start(CLOUD, EMAIL, TOKEN).await;
    let at = Timestamp::now() - SignedDuration::from_hours(1);
    for i in 0..3 {
        fake.add_alert(OgAlert::new(
            &format!("a{i}"),
            &i.to_string(),
            "x",
            "P3",
            "Prometheus",
            at,
        ));
    }
    fake.add_users(jsm_synthetic_users());
    let client = reqwest::Client::new();
    let get = |path: String, auth: Option<String>| {
        let mut req = client.get(format!("{}{path}", fake.url));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let retry = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let body: serde_json::Value = resp.json().await.unwrap();
            (status, retry, body)
        }
    };
    let basic = |user: &str, token: &str| {
        Some(format!(
            "Basic {}",
            base64(format!("{user}:{token}").as_bytes())
        ))
    };
    let ok = basic(EMAIL, TOKEN);
    let (status, _, body) = get(format!("{ALERTS}?size=2"), ok.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 3);
    assert_eq!(body["values"].as_array().unwrap().len(), 2);
    assert!(
        body["links"]["next"]
            .as_str()
            .unwrap()
            .starts_with("/v1/alerts?"),
        "{body}"
    );
    let (status, _, body) = get(format!("{ALERTS}?size=2&offset=2"), ok.clone()).await;
    assert_eq!((status, body["links"].get("next")), (200, None));
    assert_eq!(get(format!("{ALERTS}?size=101"), ok.clone()).await.0, 400);
    assert_eq!(
        get(format!("{ALERTS}?size=100&offset=19900"), ok.clone())
            .await
            .0,
        400
    );
    assert_eq!(
        get(format!("{ALERTS}?size=100&offset=19899"), ok.clone())
            .await
            .0,
        200
    );
    assert_eq!(
        get(format!("{ALERTS}?query=priority:P1"), ok.clone())
            .await
            .0,
        400
    );
    assert_eq!(get(ALERTS.to_string(), basic(EMAIL, "nope")).await.0, 401);
    assert_eq!(get(ALERTS.to_string(), None).await.0, 401);
    assert_eq!(
        get(ALERTS.to_string(), Some(format!("Bearer {TOKEN}")))
            .await
            .0,
        401
    );
    assert_eq!(
        get("/jsm/ops/api/other-cloud/v1/alerts".into(), ok.clone())
            .await
            .0,
        404
    );
    fake.inject(ALERTS, JsmFault::Status429);
    let (status, retry, _) = get(ALERTS.to_string(), ok.clone()).await;
    assert_eq!((status, retry.as_deref()), (429, Some("1")));
    let ids = format!(
        "accountId={}&accountId=unknown",
        JSM_ACCOUNT_IDS[1].replace(':', "%3A")
    );
    let (status, _, body) = get(
        format!("/ex/jira/{CLOUD}/rest/api/3/user/bulk?{ids}"),
        ok.clone(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["isLast"], true);
    assert_eq!(body["values"][0]["displayName"], "Grace Hopper");
    assert_eq!(
        body["values"].as_array().unwrap().len(),
        1,
        "unknown ids left out"
    );
}

// ---------------------------------------------------------------------------------------------
// The real binary.

fn state_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ptsd-jsm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `ptsd` with a clean environment, JSM only, sending to StatsD on `statsd_port`.
fn jsm_command(fake: &FakeJsm, token: &str, statsd_port: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ptsd"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("JSM_API_TOKEN", token)
        .env("JSM_EMAIL", EMAIL)
        .env("JSM_CLOUD_ID", CLOUD)
        .env("JSM_API_URL", &fake.url)
        .env("STATSD_HOST", "127.0.0.1")
        .env("STATSD_PORT", statsd_port.to_string())
        .env("RUST_LOG", "debug");
    cmd
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("ptsd runs");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    assert!(!log.contains(TOKEN), "the token leaked");
    log
}

/// `ptsd logs` lists JSM's row shapes under `jsm:` with the rule of each (`-` for none), the
/// account ids masked: the same command and rules as for Opsgenie.
#[test]
fn ptsd_logs_lists_jsm_row_shapes() {
    let fake = FakeJsm::start_blocking(CLOUD, EMAIL, TOKEN);
    fake.add_users(jsm_synthetic_users());
    let now = Timestamp::now();
    let t = |ago: i64| now - SignedDuration::from_secs(ago);
    let [ada, grace, _] = JSM_ACCOUNT_IDS;
    fake.add_alert(OgAlert::new("a1", "1", "x", "P3", "Prometheus", t(600)));
    fake.add_log("a1", og_log_notified(t(590), ada, "SMS"));
    fake.add_log("a1", og_log_notified(t(580), grace, "SMS"));
    fake.add_raw_log(
        "a1",
        t(570),
        serde_json::json!({"offset": "u1", "log": format!("Paged {ada} through the new app"),
        "logType": "alertRecipient", "owner": ada, "createdAt": t(570).to_string()}),
    );
    let out = jsm_command(&fake, TOKEN, 9)
        .env("RUST_LOG", "warn")
        .args(["logs", "--since", "1h"])
        .output()
        .expect("ptsd runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("jsm: 3 log rows from "), "{text}");
    assert!(text.contains("1 rows matched no rule"), "{text}");
    let row = |rule: &str| {
        text.lines()
            .find(|l| l.split_whitespace().nth(2) == Some(rule))
            .unwrap_or_else(|| panic!("no {rule} in\n{text}"))
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(row("built-in:sent-notification"), "2 system");
    assert_eq!(row("-"), "1 alertRecipient");
    assert!(
        !text.contains(ada) && !text.contains(grace),
        "ids masked:\n{text}"
    );
}

/// Two `--once` runs sharing a state dir, into the real StatsD: between them a new alert, a new
/// row on a known alert, and a row written late (dated before the first run ended, inside
/// `PTSD_LATENESS`). StatsD ends with every event exactly once.
#[test]
fn late_rows_and_a_restart_count_every_event_once() {
    let fake = FakeJsm::start_blocking(CLOUD, EMAIL, TOKEN);
    let mut expected = seeded(&fake, 20, 21);
    let peer = StatsdPeer::start();
    let dir = state_dir("restart");
    let first_end = Timestamp::now();
    run_ok(
        jsm_command(&fake, TOKEN, peer.udp_port)
            .env("PTSD_STATE_DIR", &dir)
            .env("PTSD_BACKFILL", "9h")
            .arg("--once"),
    );
    let want = expected.plain("jsm");
    assert_eq!(wait_for_oncall(&peer, &want, Duration::from_secs(10)), want);

    // A new alert, paged and acknowledged; a late notification on the first synthetic alert.
    let now = Timestamp::now();
    fake.add_alert(OgAlert::new(
        "new-1",
        "901",
        "db down",
        "P1",
        "Datadog",
        now - SignedDuration::from_secs(5),
    ));
    fake.add_log(
        "new-1",
        jsm_row(og_log_notified(
            now - SignedDuration::from_secs(4),
            "ada@example.com",
            "SMS",
        )),
    );
    fake.add_log(
        "new-1",
        jsm_row(og_log_acked(
            now - SignedDuration::from_secs(3),
            "ada@example.com",
        )),
    );
    let first_alert = format!("{:08x}-0000-4000-8000-{:012x}", 21, 0);
    fake.add_log(
        &first_alert,
        jsm_row(og_log_notified(
            first_end - SignedDuration::from_secs(60),
            "grace@example.com",
            "Voice",
        )),
    );
    bump(&mut expected.incidents_by_priority, "p1".to_string());
    bump(&mut expected.incidents_by_service, "Datadog".to_string());
    bump(
        &mut expected.notifications,
        ("Ada Lovelace".to_string(), "sms".to_string()),
    );
    bump(&mut expected.acks, "Ada Lovelace".to_string());
    bump(
        &mut expected.notifications,
        ("Grace Hopper".to_string(), "phone".to_string()),
    );
    run_ok(
        jsm_command(&fake, TOKEN, peer.udp_port)
            .env("PTSD_STATE_DIR", &dir)
            .arg("--once"),
    );
    let want = expected.plain("jsm");
    assert_eq!(wait_for_oncall(&peer, &want, Duration::from_secs(10)), want);
    assert_eq!(peer.bad_lines(), 0.0);
}

fn one_line_failure(out: &Output) -> String {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        !err.contains(TOKEN) && !err.contains("wrong-token"),
        "{err}"
    );
    err
}

#[test]
fn a_refused_token_or_an_unknown_cloud_id_stops_ptsd_with_one_line() {
    let fake = FakeJsm::start_blocking(CLOUD, EMAIL, TOKEN);
    let peer = StatsdPeer::start();
    let out = jsm_command(&fake, "wrong-token", peer.udp_port)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let err = one_line_failure(&out);
    assert!(
        err.contains("jsm refused the API token (HTTP 401)"),
        "{err}"
    );
    assert!(err.contains("JSM_EMAIL and JSM_API_TOKEN"), "{err}");
    let out = jsm_command(&fake, TOKEN, peer.udp_port)
        .env("JSM_CLOUD_ID", "11111111-2222-3333-4444-555555555555")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let err = one_line_failure(&out);
    assert!(
        err.contains("(HTTP 404)") && err.contains("JSM_CLOUD_ID"),
        "{err}"
    );
}

#[test]
fn a_token_without_its_cloud_id_or_email_or_as_a_flag_is_refused_at_start() {
    let bin = env!("CARGO_BIN_EXE_ptsd");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(bin);
        cmd.env_clear().env("RUST_LOG", "off").args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let err = one_line_failure(&run(&[], &[("JSM_API_TOKEN", TOKEN), ("JSM_EMAIL", EMAIL)]));
    assert!(err.contains("JSM_CLOUD_ID is not"), "{err}");
    let err = one_line_failure(&run(
        &[],
        &[("JSM_API_TOKEN", TOKEN), ("JSM_CLOUD_ID", CLOUD)],
    ));
    assert!(err.contains("JSM_EMAIL is not"), "{err}");
    let err = one_line_failure(&run(&["--jsm-api-token", TOKEN], &[]));
    assert!(
        err.contains("set JSM_API_TOKEN or JSM_API_TOKEN_FILE"),
        "{err}"
    );
    let help = run(&["--help"], &[]);
    let help = String::from_utf8_lossy(&help.stdout);
    for var in [
        "JSM_API_URL",
        "JSM_CLOUD_ID",
        "JSM_EMAIL",
        "JSM_API_TOKEN",
        "JSM_API_TOKEN_FILE",
    ] {
        assert!(help.contains(&format!("[env: {var}")), "--help lacks {var}");
    }
}

/// PagerDuty, Opsgenie and JSM in one daemon run, into the real StatsD: every provider's
/// counts, each under its own `provider`.
#[test]
fn all_three_providers_at_once_into_the_real_statsd() {
    let jsm = FakeJsm::start_blocking(CLOUD, EMAIL, TOKEN);
    let jsm_expected = seeded(&jsm, 30, 5);
    let og = FakeOpsgenie::start_blocking(OG_KEY);
    og.add_users(og_synthetic_users());
    let (alerts, og_expected) = og_synthetic(
        30,
        Timestamp::now() - SignedDuration::from_secs(6 * 3600),
        Duration::from_secs(120),
        5,
    );
    og.add_alerts_with_logs(alerts);
    let pd = FakePagerDuty::start_blocking(PD_TOKEN);
    let (entries, pd_expected) = synthetic_incidents(
        30,
        Timestamp::now() - SignedDuration::from_secs(6 * 3600),
        Duration::from_secs(120),
        6,
    );
    pd.add_entries(entries);
    let peer = StatsdPeer::start();
    let log = run_ok(
        ptsd_command(&pd, PD_TOKEN, peer.udp_port)
            .env("OPSGENIE_API_KEY", OG_KEY)
            .env("OPSGENIE_API_URL", &og.url)
            .env("JSM_API_TOKEN", TOKEN)
            .env("JSM_EMAIL", EMAIL)
            .env("JSM_CLOUD_ID", CLOUD)
            .env("JSM_API_URL", &jsm.url)
            .env("PTSD_BACKFILL", "9h")
            .arg("--once"),
    );
    assert!(
        !log.contains(OG_KEY) && !log.contains(PD_TOKEN),
        "a secret leaked"
    );
    let mut want = expected_plain(&pd_expected);
    want.extend(og_expected.plain("opsgenie"));
    want.extend(jsm_expected.plain("jsm"));
    assert_eq!(wait_for_oncall(&peer, &want, Duration::from_secs(10)), want);
    assert_eq!(peer.bad_lines(), 0.0);
}
