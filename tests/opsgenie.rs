//! The Opsgenie collector against the fake Opsgenie API: exact counts through the engine, logs
//! read only for alerts that changed, the 20,000 cap, 429s, and the real binary running both
//! collectors at once into the real StatsD daemon.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use ptsd::collectors::opsgenie::{classify, Action, Activity};
use ptsd::collectors::{CollectError, Collector};
use ptsd::config::Config;
use ptsd::event::Channel;
use ptsd::event::Window;
use ptsd::schema::{self, sanitize, Flavor};
use support::*;

const KEY: &str = "og-key-0123456789abcdef";
const PD_TOKEN: &str = "pd-token-for-both-collectors";

fn config(fake: &FakeOpsgenie, extra: &[&str]) -> Config {
    test_config(
        "--opsgenie-api-key-file",
        KEY,
        &["--opsgenie-api-url", &fake.url],
        extra,
    )
}

/// One poll reading `backfill` of history, with no request budget (these tests make thousands
/// of requests), plus `extra` arguments.
fn once_unbudgeted(fake: &FakeOpsgenie, backfill: &str, extra: &[&str]) -> Config {
    let mut argv = vec![
        "--once",
        "--backfill",
        backfill,
        "--max-requests-per-minute",
        "0",
    ];
    argv.extend_from_slice(extra);
    config(fake, &argv)
}

fn collector(config: &Config) -> Box<dyn Collector> {
    collector_of("opsgenie", config)
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
    support::run_once(config, collector(config)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_counts_exactly_what_opsgenie_recorded() {
    let fake = FakeOpsgenie::start(KEY).await;
    let expected = seeded(&fake, 40, 3);
    let cfg = config(&fake, &["--once", "--backfill", "9h"]);
    let capture = run_once(&cfg).await;
    assert_eq!(capture.counts(), expected.plain("opsgenie"));
    for r in fake.requests() {
        assert!(r.auth_valid, "GenieKey sent: {}", r.path);
        if r.path == "/v2/alerts" {
            let q = r.param("query").unwrap();
            assert_eq!(r.param("sort"), Some("createdAt"));
            if q.starts_with("status:open AND ") {
                // The young open alerts, read whether or not they changed.
                assert!(
                    q.contains(" AND createdAt>=") && q.contains(" AND createdAt<"),
                    "{q}"
                );
                assert_eq!(r.param("order"), Some("desc"));
                assert_eq!(r.param("limit"), Some("50"));
                continue;
            }
            assert!(
                q.starts_with("createdAt<") && q.contains(" AND updatedAt>="),
                "{q}"
            );
            assert_eq!(r.param("order"), Some("asc"));
        }
    }
}

/// 250 alerts (three `/v2/alerts` pages) plus one alert with 250 log rows (three `/logs` pages
/// joined by the string `offset` cursor): exact counts, and the cursors the fake handed out are
/// the ones the collector sent back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_logs_are_paged_through() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake.add_users(og_synthetic_users());
    let now = Timestamp::now();
    let (alerts, expected) = og_synthetic(
        250,
        now - SignedDuration::from_hours(7),
        Duration::from_secs(60),
        11,
    );
    fake.add_alerts_with_logs(alerts);
    let mut want = expected.plain("opsgenie");

    let t0 = now - SignedDuration::from_hours(6);
    fake.add_alert(OgAlert::new(
        "chatty", "9999", "flapping", "P2", "Datadog", t0,
    ));
    let people = [
        ("ada@example.com", "ada_lovelace"),
        ("grace@example.com", "grace_hopper"),
        ("edsger@example.com", "edsger_dijkstra"),
    ];
    let methods = [
        ("SMS", "sms"),
        ("Voice", "phone"),
        ("Email", "email"),
        ("Mobile", "push"),
    ];
    for i in 0..250usize {
        let (user, key) = people[i % 3];
        let (method, channel) = methods[i % 4];
        let at = t0 + SignedDuration::from_secs(10 * (i as i64 + 1));
        fake.add_log("chatty", og_log_notified(at, user, method));
        *want
            .entry(format!("ptsd.opsgenie.users.{key}.notifications.{channel}"))
            .or_insert(0.0) += 1.0;
    }
    *want
        .entry("ptsd.opsgenie.incidents.p2".into())
        .or_insert(0.0) += 1.0;
    *want
        .entry("ptsd.opsgenie.services.datadog.incidents".into())
        .or_insert(0.0) += 1.0;

    // One chunk, so one query pages through all 251 alerts.
    let cfg = once_unbudgeted(&fake, "9h", &["--max-window", "12h"]);
    let capture = run_once(&cfg).await;
    assert_eq!(capture.counts(), want);

    let requests = fake.requests();
    let listing: Vec<&str> = requests
        .iter()
        .filter(|r| r.path == "/v2/alerts" && r.param("query").unwrap().starts_with("createdAt<"))
        .map(|r| r.param("offset").unwrap())
        .collect();
    assert_eq!(listing, ["0", "100", "200"]);
    let cursors: Vec<Option<&str>> = requests
        .iter()
        .filter(|r| r.path == "/v2/alerts/chatty/logs")
        .map(|r| r.param("offset"))
        .collect();
    let offsets = fake.log_offsets("chatty");
    assert_eq!(
        cursors,
        [
            None,
            Some(offsets[99].as_str()),
            Some(offsets[199].as_str())
        ]
    );
    for r in requests.iter().filter(|r| r.path.ends_with("/logs")) {
        assert_eq!(r.param("order"), Some("asc"));
        assert_eq!(r.param("direction"), Some("next"));
        assert_eq!(r.param("limit"), Some("100"));
        assert_eq!(r.status, 200);
    }
}

/// The collector's one table of log texts reads every text the fake writes as the fake's
/// table says it counts.
#[test]
fn the_log_text_table_agrees_with_the_fakes_texts() {
    let at = Timestamp::now();
    let (ada, grace) = ("ada@example.com", "grace@example.com");
    let some = |action, people: &[&str]| {
        Some(Activity {
            action,
            people: people.iter().map(|p| p.to_string()).collect(),
        })
    };
    let cases = [
        (og_log_created(at), None),
        (
            og_log_notified(at, ada, "SMS"),
            some(Action::Notified(Channel::Sms), &[ada]),
        ),
        (
            og_log_notified(at, ada, "Voice"),
            some(Action::Notified(Channel::Phone), &[ada]),
        ),
        (
            og_log_notified(at, ada, "Email"),
            some(Action::Notified(Channel::Email), &[ada]),
        ),
        (
            og_log_notified(at, ada, "Mobile"),
            some(Action::Notified(Channel::Push), &[ada]),
        ),
        (
            og_log_notified(at, ada, "Slack"),
            some(Action::Notified(Channel::Other), &[ada]),
        ),
        (og_log_viewed(at, ada), None),
        (og_log_assigned(at, ada), some(Action::Assigned, &[ada])),
        (
            og_log_escalated(at, "Platform_escalation", ada),
            some(Action::Escalated, &[ada]),
        ),
        (
            og_log_escalated_to(at, "Platform_escalation", &[ada, grace]),
            some(Action::Escalated, &[ada, grace]),
        ),
        (og_log_acked(at, ada), some(Action::Acknowledged, &[ada])),
        (og_log_unacked(at, ada), None),
        (
            og_log_acked_by_integration(at, "Prometheus"),
            some(Action::Acknowledged, &["Prometheus"]),
        ),
        (og_log_closed(at, ada), some(Action::Closed, &[ada])),
        (
            og_log_closed_by_integration(at),
            some(Action::Closed, &["Prometheus"]),
        ),
    ];
    for (log, want) in &cases {
        assert_eq!(&classify(&log.log, &log.kind, &log.owner), want, "{log:?}");
    }
    for text in OG_LOG_TEXTS {
        assert!(
            cases.iter().any(
                |(log, _)| og_match_log(&log.log).is_some_and(|(t, _)| t.action == text.action)
            ),
            "no case for {}",
            text.action
        );
    }
}

/// Through the engine: an escalation notifying three people counts for each; a failed send
/// and a note mentioning a close count for nobody; a close text counts whatever its row type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_rows_the_table_trusts_are_counted() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake.add_users(og_synthetic_users());
    let now = Timestamp::now();
    let t = |ago: i64| now - SignedDuration::from_secs(ago);
    fake.add_alert(OgAlert::new(
        "a1",
        "1",
        "db down",
        "P1",
        "Prometheus",
        t(600),
    ));
    let row = |at, log: &str, kind: &str, owner: &str| OgLog {
        log: log.into(),
        kind: kind.into(),
        owner: owner.into(),
        created_at: at,
    };
    for log in [
        og_log_created_via(t(600), "Prometheus"),
        row(
            t(590),
            "Could not send [SMS] notification to ada@example.com",
            "system",
            "System",
        ),
        og_log_escalated_to(
            t(500),
            "Platform_escalation",
            &["ada@example.com", "grace@example.com", "edsger@example.com"],
        ),
        row(
            t(450),
            "Note added: closed the ticket, reopening",
            "system",
            "ada@example.com",
        ),
        og_log_acked(t(400), "grace@example.com"),
        row(
            t(300),
            "Alert closed via web",
            "alertRecipient",
            "grace@example.com",
        ),
    ] {
        fake.add_log("a1", log);
    }
    let cfg = config(&fake, &["--once", "--backfill", "1h"]);
    let capture = run_once(&cfg).await;
    let want: BTreeMap<String, f64> = [
        ("ptsd.opsgenie.incidents.p1", 1.0),
        ("ptsd.opsgenie.services.prometheus.incidents", 1.0),
        ("ptsd.opsgenie.users.ada_lovelace.escalations", 1.0),
        ("ptsd.opsgenie.users.grace_hopper.escalations", 1.0),
        ("ptsd.opsgenie.users.edsger_dijkstra.escalations", 1.0),
        ("ptsd.opsgenie.users.grace_hopper.acknowledgements", 1.0),
        // Any row type: a real acknowledgement row is `alertAction`, not `system`.
        ("ptsd.opsgenie.users.grace_hopper.resolves", 1.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(capture.counts(), want);
}

/// Acks and closes by System or an integration, and a notification to an address that is no
/// user, name nobody in the directory: none of them makes the collector read `/v2/users` again,
/// poll after poll. Someone new, named after the directory was read, is looked up at most
/// every `USERS_REFRESH` (10 minutes), so not again right away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_by_nobody_do_not_reread_the_user_directory() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake.add_users(og_synthetic_users());
    let now = Timestamp::now();
    let t = |ago: i64| now - SignedDuration::from_secs(ago);
    let users_reads = || {
        fake.requests()
            .iter()
            .filter(|r| r.path == "/v2/users")
            .count()
    };
    for i in 0..5 {
        let id = format!("sys-{i}");
        fake.add_alert(OgAlert::new(
            &id,
            &i.to_string(),
            "x",
            "P3",
            "Prometheus",
            t(900),
        ));
        fake.add_log(&id, og_log_acked_by_integration(t(800), "System"));
        fake.add_log(
            &id,
            og_log_notified(t(790), "oncall-list@example.com", "Email"),
        );
        fake.add_log(&id, og_log_closed_via_integration(t(700), "Prometheus"));
    }
    let cfg = config(&fake, &["--max-requests-per-minute", "0"]);
    let mut c = collector(&cfg);
    c.check().await.unwrap();
    assert_eq!(users_reads(), 1, "read once at start");
    let w1 = Window::new(t(1000), t(600));
    let got = c.collect(w1).await.unwrap();
    // 5 incidents, 5 acks and 5 closes by nobody; the e-mail to an address the directory does
    // not hold counts under the address itself.
    assert_eq!(got.events.len(), 20);
    c.delivered(w1.until);
    for i in 0..5 {
        let id = format!("sys-{i}");
        fake.add_log(&id, og_log_acked_by_integration(t(300), "System"));
    }
    let w2 = Window::new(t(900), t(200));
    c.collect(w2).await.unwrap();
    c.delivered(w2.until);
    assert_eq!(
        users_reads(),
        1,
        "System and integrations never re-read the directory"
    );

    // Someone new joins after the directory was read and is paged at once.
    fake.add_users(vec![og_user(
        "4f6a1c2e-0000-4000-8000-0000000000b7",
        "barbara@example.com",
        "Barbara Liskov",
        "America/Chicago",
    )]);
    fake.add_alert(OgAlert::new(
        "new-1",
        "9",
        "y",
        "P2",
        "Datadog",
        Timestamp::now(),
    ));
    fake.add_log(
        "new-1",
        og_log_notified(Timestamp::now(), "barbara@example.com", "SMS"),
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    c.collect(Window::new(t(300), Timestamp::now()))
        .await
        .unwrap();
    assert_eq!(
        users_reads(),
        1,
        "within USERS_REFRESH of the last read: not yet"
    );
}

/// A log writer the tests can read back.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Every series of every batch, plain flavor, ptsd's own metrics included.
fn all_totals(capture: &Capture) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for b in capture.0.lock().unwrap().iter() {
        for r in schema::render(Flavor::Plain, "ptsd", &b.series) {
            *out.entry(r.name).or_insert(0.0) += r.value as f64;
        }
    }
    out
}

/// Log rows that are malformed (a number for `createdAt`, no `offset`) or carry a timestamp
/// that does not parse are each counted as skipped and logged as a warning; the good rows
/// around them count, and paging goes on past them. (The first acknowledgement still counts
/// through the alert's `report`.)
#[tokio::test(flavor = "current_thread")]
async fn malformed_and_misdated_log_rows_are_skipped_and_logged() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake.add_users(og_synthetic_users());
    let now = Timestamp::now();
    let t = |ago: i64| now - SignedDuration::from_secs(ago);
    fake.add_alert(OgAlert::new("odd", "1", "x", "P3", "Prometheus", t(600)));
    fake.add_log("odd", og_log_notified(t(590), "ada@example.com", "SMS"));
    fake.add_raw_log(
        "odd",
        t(580),
        serde_json::json!({"log": "Alert acknowledged via web", "type": "system",
            "owner": "ada@example.com", "createdAt": 1_772_421_400_120_i64}),
    );
    fake.add_raw_log(
        "odd",
        t(570),
        serde_json::json!({"log": "Alert acknowledged via web", "type": "system",
            "owner": "ada@example.com", "createdAt": "2026-03-02T03:16:40Z", "offset": null}),
    );
    fake.add_raw_log(
        "odd",
        t(560),
        serde_json::json!({"log": "Alert closed via web", "type": "system",
            "owner": "ada@example.com", "createdAt": "last tuesday"}),
    );
    fake.add_log("odd", og_log_acked(t(550), "grace@example.com"));
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let cfg = config(&fake, &["--once", "--backfill", "1h"]);
    let capture = run_once(&cfg).await;
    let all = all_totals(&capture);
    assert_eq!(all.get("ptsd.ptsd.opsgenie.entries_skipped"), Some(&3.0));
    assert_eq!(
        capture.counts(),
        BTreeMap::from([
            ("ptsd.opsgenie.incidents.p3".to_string(), 1.0),
            (
                "ptsd.opsgenie.services.prometheus.incidents".to_string(),
                1.0
            ),
            (
                "ptsd.opsgenie.users.ada_lovelace.notifications.sms".to_string(),
                1.0
            ),
            // Ada's ack row is malformed; `report.acknowledgedBy` still names her.
            (
                "ptsd.opsgenie.users.ada_lovelace.acknowledgements".to_string(),
                1.0
            ),
            (
                "ptsd.opsgenie.users.grace_hopper.acknowledgements".to_string(),
                1.0
            ),
        ])
    );
    let text = logs.text();
    assert_eq!(
        text.matches("Skipped a malformed alert log row.").count(),
        2,
        "{text}"
    );
    assert_eq!(
        text.matches("Skipped an alert log row with a bad timestamp.")
            .count(),
        1,
        "{text}"
    );
}

/// The alerts whose re-notification (a row added after the first poll, at t-300 s) the second
/// poll counts, when notification rows do or do not move `updatedAt`.
async fn renotified(moves: bool) -> Vec<String> {
    let fake = FakeOpsgenie::start(KEY).await;
    fake.set_notifications_move_updated_at(moves);
    fake.add_users(og_synthetic_users());
    // Whole milliseconds, as the fake serves times.
    let now = Timestamp::from_millisecond(Timestamp::now().as_millisecond()).unwrap();
    let t = |ago: i64| now - SignedDuration::from_secs(ago);
    // (alert, created s ago, person, acknowledged after its first notification)
    let alerts = [
        // Open and unacknowledged, 30 min old; changed last before the second window.
        ("young", 1800, "ada@example.com", false),
        // Same, 13 min old: its last change is inside the second window.
        ("young2", 800, "ada@example.com", false),
        // Open and unacknowledged, but two hours old: past RENOTIFY_HORIZON.
        ("old", 7200, "grace@example.com", false),
        // Acknowledged: Opsgenie is taken to have stopped notifying.
        ("acked", 1700, "edsger@example.com", true),
    ];
    for (id, ago, who, acked) in alerts {
        fake.add_alert(OgAlert::new(id, id, "x", "P2", "Datadog", t(ago)));
        fake.add_log(id, og_log_assigned(t(ago - 1), who));
        fake.add_log(id, og_log_notified(t(ago - 2), who, "SMS"));
        if acked {
            fake.add_log(id, og_log_acked(t(ago - 10), who));
        }
    }
    let cfg = config(&fake, &["--max-requests-per-minute", "0"]);
    let mut c = collector(&cfg);
    c.check().await.unwrap();
    let w1 = Window::new(t(8000), t(600));
    c.collect(w1).await.unwrap();
    c.delivered(w1.until);
    for (id, _, who, _) in alerts {
        fake.add_log(id, og_log_notified(t(300), who, "Voice"));
    }
    let got = c.collect(Window::new(t(900), t(100))).await.unwrap();
    let mut ids: Vec<String> = got
        .events
        .iter()
        // (young2's first notification lies in the second window's overlap too: the engine
        // would drop it as counted.)
        .filter(|e| e.at == t(300) && matches!(e.kind, ptsd::event::EventKind::Notified { .. }))
        .map(|e| e.incident.as_ref().unwrap().id.clone())
        .collect();
    ids.sort();
    ids
}

/// Whether a notification row moves its alert's `updatedAt` is UNCONFIRMED. If it does, every
/// re-notification is seen (the alert changed). If it does not, the collector still reads the
/// logs of open, unacknowledged alerts created within the last hour every window, listed or
/// not and changed or not; a re-notification of an older or acknowledged alert that changes
/// nothing else is then not seen: the documented limitation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renotifications_under_both_readings_of_updated_at() {
    assert_eq!(renotified(true).await, ["acked", "old", "young", "young2"]);
    assert_eq!(renotified(false).await, ["young", "young2"]);
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
    // Acknowledged: no longer being notified, so only a change makes its logs worth reading
    // (a young unacknowledged alert is read every time: see `renotifications_…` below).
    fake.add_log("alert-quiet", og_log_acked(t(140), "ada@example.com"));
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
    assert_eq!(got.events.len(), 5, "2 incidents + 2 notifications + 1 ack");
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
    // A window that was not delivered (the poll failed) gets its events again, from the rows
    // already read: no request.
    let w3 = Window::new(t(700), t(5));
    fake.clear_requests();
    let got = c.collect(w3).await.unwrap();
    let again = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/logs"))
        .count();
    assert_eq!(
        again, 0,
        "rows read once are kept until no window can hold them"
    );
    assert_eq!(
        got.events.len(),
        6,
        "2 incidents + 2 notifications + 2 acks"
    );
}

/// `/v2/alerts` requests never pass the cap, and none was refused.
fn assert_cap_respected(fake: &FakeOpsgenie) {
    for r in fake.requests().iter().filter(|r| r.path == "/v2/alerts") {
        let offset: u64 = r.param("offset").unwrap().parse().unwrap();
        let limit: u64 = r.param("limit").unwrap().parse().unwrap();
        assert!(offset + limit <= 20_000, "{}", r.raw_query);
        assert_eq!(r.status, 200, "{}", r.raw_query);
    }
}

/// How many times each alert's logs were read.
fn log_reads(fake: &FakeOpsgenie) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in fake.requests() {
        if let Some(id) = r
            .path
            .strip_prefix("/v2/alerts/")
            .and_then(|p| p.strip_suffix("/logs"))
        {
            *out.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    out
}

/// 20,050 alerts created two days ago, seven to a millisecond (so the 20,000th shares its
/// millisecond with the next ones), all closed by Ada inside the window: a bulk close. No split
/// of the window brings the query `createdAt<until AND updatedAt>=since` under the cap; the
/// collector pages on with a `createdAt>=` lower bound instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_alerts_updated_in_the_window_past_the_cap_are_all_counted() {
    const N: i64 = 20_050;
    let fake = FakeOpsgenie::start(KEY).await;
    fake.add_users(og_synthetic_users());
    let now = Timestamp::now();
    let created = now - SignedDuration::from_hours(48);
    let closed = now - SignedDuration::from_secs(40 * 60);
    fake.add_alerts_with_logs(
        (0..N)
            .map(|i| {
                let a = OgAlert::new(
                    &format!("bulk-{i:05}"),
                    &i.to_string(),
                    "stale check",
                    "P4",
                    "CloudWatch",
                    created + SignedDuration::from_millis(i / 7),
                );
                let close = og_log_closed(
                    closed + SignedDuration::from_millis(i * 100),
                    "ada@example.com",
                );
                (a, vec![close])
            })
            .collect(),
    );
    // 20,000+ requests in one go: no request budget here.
    let cfg = once_unbudgeted(&fake, "1h", &[]);
    let capture = run_once(&cfg).await;
    assert_eq!(
        capture.counts(),
        BTreeMap::from([(
            "ptsd.opsgenie.users.ada_lovelace.resolves".to_string(),
            N as f64
        )])
    );
    assert_cap_respected(&fake);
    let restarts = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/v2/alerts" && r.param("query").unwrap().contains("AND createdAt>="))
        .count();
    assert!(restarts > 0, "the lower bound was used");
    let reads = log_reads(&fake);
    assert_eq!(reads.len(), N as usize, "every alert's logs were read");
    assert!(reads.values().all(|n| *n == 1), "and each only once");
}

/// 20,050 alerts created inside one window (a storm), seven to a millisecond: every one is an
/// incident, counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_created_in_one_window_past_the_cap_are_all_counted() {
    const N: i64 = 20_050;
    let fake = FakeOpsgenie::start(KEY).await;
    let start = Timestamp::now() - SignedDuration::from_secs(30 * 60);
    let priorities = ["P1", "P2", "P3", "P4", "P5"];
    let integrations = ["Prometheus", "Datadog", "CloudWatch"];
    let mut want = BTreeMap::new();
    let mut items = Vec::new();
    for i in 0..N {
        let (p, svc) = (priorities[i as usize % 5], integrations[i as usize % 3]);
        *want
            .entry(format!("ptsd.opsgenie.incidents.{}", p.to_lowercase()))
            .or_insert(0.0) += 1.0;
        *want
            .entry(format!(
                "ptsd.opsgenie.services.{}.incidents",
                svc.to_lowercase()
            ))
            .or_insert(0.0) += 1.0;
        let a = OgAlert::new(
            &format!("storm-{i:05}"),
            &i.to_string(),
            "noisy",
            p,
            svc,
            start + SignedDuration::from_millis((i / 7) * 150),
        );
        items.push((a, Vec::new()));
    }
    fake.add_alerts_with_logs(items);
    let cfg = once_unbudgeted(&fake, "1h", &[]);
    let capture = run_once(&cfg).await;
    assert_eq!(capture.counts(), want);
    assert_cap_respected(&fake);
    let reads = log_reads(&fake);
    assert_eq!(reads.len(), N as usize);
    assert!(reads.values().all(|n| *n == 1));
}

/// Only more than 20,000 alerts in a single `createdAt` millisecond cannot be paged through:
/// that (and only that) is `WindowTooLarge`, and the cap is still never sent to the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_millisecond_past_the_cap_is_too_large() {
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
                    start,
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
    assert_cap_respected(&fake);
    assert!(fake.requests().iter().all(|r| !r.path.ends_with("/logs")));
}

// ---------------------------------------------------------------------------------------------
// On-call analysis of Opsgenie data: interruptions by hour band, time to ack/resolve, categories.

/// `(username, full name, zone)`; Nora has no zone in her profile: `PTSD_TIME_ZONE` applies.
const HEALTH_PEOPLE: [(&str, &str, Option<&str>); 4] = [
    ("ada@example.com", "Ada Lovelace", Some("Europe/London")),
    (
        "grace@example.com",
        "Grace Hopper",
        Some("America/New_York"),
    ),
    (
        "edsger@example.com",
        "Edsger Dijkstra",
        Some("Europe/Amsterdam"),
    ),
    ("nora@example.com", "Nora Nozone", None),
];
const HEALTH_ACCOUNT_ZONE: &str = "Asia/Tokyo";

/// One notification: person, day after Monday, local time in the person's zone, method,
/// expected hour band if it is an interruption.
type OgPage = (usize, i64, (i8, i8, i8), &'static str, Option<&'static str>);

const HEALTH_PAGES: [OgPage; 15] = [
    // Ada, London: three channels within 60 s of each other interrupt once; 61 s after the
    // last of them is a new interruption; e-mail never interrupts.
    (0, 0, (3, 0, 0), "Mobile", Some("sleep")),
    (0, 0, (3, 0, 30), "SMS", None),
    (0, 0, (3, 1, 31), "Voice", Some("sleep")),
    (0, 0, (10, 0, 0), "Email", None),
    (0, 0, (10, 5, 0), "Mobile", Some("business")),
    (0, 5, (11, 0, 0), "Mobile", Some("off")), // Saturday
    // Grace, New York: either side of 08:00 and 18:00; an unknown method is no interruption.
    (1, 1, (7, 59, 0), "Mobile", Some("sleep")),
    (1, 2, (8, 0, 0), "Mobile", Some("business")),
    (1, 2, (17, 59, 0), "SMS", Some("business")),
    (1, 2, (18, 5, 0), "Mobile", Some("off")),
    (1, 3, (12, 0, 0), "Carrier pigeon", None),
    // Edsger, Amsterdam: Friday evening, Friday night, Sunday morning.
    (2, 4, (21, 58, 0), "Mobile", Some("off")),
    (2, 4, (22, 30, 0), "Voice", Some("sleep")),
    (2, 6, (9, 0, 0), "SMS", Some("off")),
    // Nora, no zone of her own: Monday noon in Tokyo.
    (3, 0, (12, 0, 0), "Mobile", Some("business")),
];

/// The Monday of a full week that ended at least two days ago.
fn health_monday() -> jiff::civil::Date {
    use jiff::ToSpan;
    let d = (Timestamp::now() - SignedDuration::from_hours(10 * 24))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    d - (d.weekday().to_monday_zero_offset() as i64).days()
}

/// The instant that is `hms` local time in `zone`, `day` days after `monday`.
fn health_local(monday: jiff::civil::Date, day: i64, hms: (i8, i8, i8), zone: &str) -> Timestamp {
    use jiff::ToSpan;
    (monday + day.days())
        .at(hms.0, hms.1, hms.2, 0)
        .in_tz(zone)
        .expect("a valid zone and an unambiguous local time")
        .timestamp()
}

/// The analysis counters (interruptions, categories) and the timer samples of a capture.
fn analysis_of(capture: &Capture) -> (BTreeMap<String, f64>, BTreeMap<String, Vec<f64>>) {
    let counters = all_totals(capture)
        .into_iter()
        .filter(|(k, _)| is_analysis(k))
        .collect();
    let mut timers: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for b in capture.0.lock().unwrap().iter() {
        for r in schema::render_timings(Flavor::Plain, "ptsd", &b.samples) {
            timers.entry(r.name).or_default().push(r.value as f64);
        }
    }
    for samples in timers.values_mut() {
        samples.sort_by(f64::total_cmp);
    }
    (counters, timers)
}

/// A known week of Opsgenie activity through the engine: interruptions by hour band in each
/// person's own zone (from `/v2/users` `timeZone`, else `PTSD_TIME_ZONE`), time to acknowledge
/// and resolve per priority and integration, alert categories. Expected values come from the
/// week as built here, not from ptsd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interruptions_timings_and_categories_of_a_known_week() {
    let s = |v: &str| sanitize(v, true);
    let fake = FakeOpsgenie::start(KEY).await;
    fake.add_users(
        HEALTH_PEOPLE
            .iter()
            .enumerate()
            .map(|(i, (username, name, zone))| {
                og_user(
                    &format!("4f6a1c2e-0000-4000-8000-0000000001{i:02}"),
                    username,
                    name,
                    zone.unwrap_or(""),
                )
            })
            .collect(),
    );
    let monday = health_monday();
    let utc = |day: i64, h: i8| health_local(monday, day, (h, 0, 0), "UTC");
    let mut counters: BTreeMap<String, f64> = BTreeMap::new();
    let mut bump = |k: String| *counters.entry(k).or_insert(0.0) += 1.0;

    // Every page on one alert opened on the Sunday before; never acknowledged or closed.
    fake.add_alert(OgAlert::new(
        "paging",
        "1",
        "Paging drill",
        "P5",
        "Pingdom",
        utc(-1, 12),
    ));
    for (person, day, hms, method, band) in HEALTH_PAGES {
        let (username, name, zone) = HEALTH_PEOPLE[person];
        let at = health_local(monday, day, hms, zone.unwrap_or(HEALTH_ACCOUNT_ZONE));
        fake.add_log("paging", og_log_notified(at, username, method));
        if let Some(band) = band {
            bump(format!(
                "ptsd.opsgenie.users.{}.interruptions.{band}",
                s(name)
            ));
        }
    }

    // Four alerts on Wednesday from 12:00 UTC; times in seconds after creation.
    let at = |hour: i8, secs: i64| utc(2, hour) + SignedDuration::from_secs(secs);
    let (ada, grace, edsger) = (HEALTH_PEOPLE[0].0, HEALTH_PEOPLE[1].0, HEALTH_PEOPLE[2].0);
    /// (id, message, priority, integration, hour created, rows)
    type Story = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        i8,
        Vec<OgLog>,
    );
    let alerts: [Story; 4] = [
        // Acked by Ada after 150 s, closed by her after 600 s.
        (
            "disk-1",
            "disk 91% on db-17",
            "P1",
            "Prometheus",
            12,
            vec![
                og_log_acked(at(12, 150), ada),
                og_log_closed(at(12, 600), ada),
            ],
        ),
        // Closed by the integration after 180 s, never acknowledged: no time to ack.
        (
            "disk-2",
            "disk 93% on db-4",
            "P1",
            "Prometheus",
            13,
            vec![og_log_closed_via_integration(at(13, 180), "Prometheus")],
        ),
        // Acked by the integration after 30 s (that ends the wait), by Grace after 90 s.
        (
            "cpu",
            "CPU load 4.5 on 10.0.3.17",
            "P3",
            "Datadog",
            14,
            vec![
                og_log_acked_by_integration(at(14, 30), "Datadog"),
                og_log_acked(at(14, 90), grace),
                og_log_closed(at(14, 3600), grace),
            ],
        ),
        // Acked, unacked, acked again: the first ack is the time to ack.
        (
            "queue",
            "Queue depth growing on billing",
            "P2",
            "CloudWatch",
            15,
            vec![
                og_log_acked(at(15, 60), edsger),
                og_log_unacked(at(15, 120), edsger),
                og_log_acked(at(15, 180), edsger),
                og_log_closed(at(15, 240), edsger),
            ],
        ),
    ];
    let mut messages = vec!["Paging drill"];
    for (id, message, priority, integration, hour, logs) in alerts {
        fake.add_alert(OgAlert::new(
            id,
            id,
            message,
            priority,
            integration,
            at(hour, 0),
        ));
        for log in logs {
            fake.add_log(id, log);
        }
        messages.push(message);
    }
    let category = |m: &str| s(&ptsd::analysis::category::normalise(m));
    assert_eq!(
        category("disk 91% on db-17"),
        category("disk 93% on db-4"),
        "the categoriser puts both disk alerts together"
    );
    for m in messages {
        bump(format!(
            "ptsd.opsgenie.categories.{}.incidents",
            category(m)
        ));
    }
    let mut timers: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (name, secs) in [
        ("time_to_ack.p1", vec![150]),
        ("services.prometheus.time_to_ack", vec![150]),
        ("time_to_ack.p3", vec![30]),
        ("services.datadog.time_to_ack", vec![30]),
        ("time_to_ack.p2", vec![60]),
        ("services.cloudwatch.time_to_ack", vec![60]),
        ("time_to_resolve.p1", vec![180, 600]),
        ("services.prometheus.time_to_resolve", vec![180, 600]),
        ("time_to_resolve.p3", vec![3600]),
        ("services.datadog.time_to_resolve", vec![3600]),
        ("time_to_resolve.p2", vec![240]),
        ("services.cloudwatch.time_to_resolve", vec![240]),
    ] {
        timers.insert(
            format!("ptsd.opsgenie.{name}"),
            secs.into_iter().map(|s| s as f64 * 1000.0).collect(),
        );
    }

    let cfg = config(
        &fake,
        &[
            "--once",
            "--backfill",
            "21d",
            "--max-window",
            "7d",
            "--time-zone",
            HEALTH_ACCOUNT_ZONE,
            "--max-requests-per-minute",
            "0",
        ],
    );
    let capture = run_once(&cfg).await;
    let (got_counters, got_timers) = analysis_of(&capture);
    assert_eq!(got_counters, counters);
    assert_eq!(got_timers, timers);
    // The hours never leak into the plain notification names: counted by channel as before.
    let plain = capture.counts();
    assert_eq!(
        plain.get("ptsd.opsgenie.users.ada_lovelace.notifications.push"),
        Some(&3.0)
    );
    assert_eq!(
        plain.get("ptsd.opsgenie.users.grace_hopper.notifications.other"),
        Some(&1.0)
    );
    assert_eq!(
        plain.get("ptsd.opsgenie.users.edsger_dijkstra.acknowledgements"),
        Some(&2.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_waited_out() {
    let fake = FakeOpsgenie::start(KEY).await;
    let expected = seeded(&fake, 10, 8);
    fake.inject("/v2/alerts", OgFault::Status429);
    fake.inject("/v2/alerts", OgFault::Status500);
    let cfg = config(&fake, &["--once", "--backfill", "9h"]);
    let capture = run_once(&cfg).await;
    assert_eq!(capture.counts(), expected.plain("opsgenie"));
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
    want.extend(og_expected.plain("opsgenie"));
    let got = wait_for_oncall(&peer, &want, Duration::from_secs(10));
    assert_eq!(got, want);
    assert_eq!(peer.bad_lines(), 0.0);
}

/// One alert whose log answers 404 poll after poll (deleted, or out of the key's reach) would
/// hold the provider's cursor for ever: after `POISON_AFTER` polls its rows are skipped, named in
/// an error log and counted in `windows_skipped`, and everything else is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_whose_log_stays_refused_is_singled_out_and_skipped() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake.add_users(og_synthetic_users());
    let (alerts, expected) = og_synthetic(
        6,
        Timestamp::now() - SignedDuration::from_secs(3600),
        Duration::from_secs(120),
        17,
    );
    let poisoned = alerts[2].0.id.clone();
    fake.add_alerts_with_logs(alerts);
    for _ in 0..50 {
        fake.inject(&format!("/v2/alerts/{poisoned}/logs"), OgFault::Status404);
    }
    let cfg = config(
        &fake,
        &[
            "--backfill",
            "2h",
            "--interval",
            "1s",
            "--max-requests-per-minute",
            "0",
        ],
    );
    let want = expected.incidents as f64;
    let skipped = "ptsd.ptsd.opsgenie.windows_skipped";
    let capture = run_until(
        &cfg,
        collector(&cfg),
        Duration::from_secs(40),
        "every incident and the skip",
        move |c| c.sum_of("ptsd.opsgenie.incidents.") == want && c.total(skipped) >= 1.0,
    )
    .await;
    assert_eq!(
        capture.sum_of("ptsd.opsgenie.incidents."),
        expected.incidents as f64,
        "every alert's creation"
    );
    let refused = fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with(&format!("/v2/alerts/{poisoned}/logs")) && r.status == 404)
        .count();
    assert!(
        refused >= ptsd::collectors::opsgenie::POISON_AFTER as usize,
        "{refused}"
    );
    assert_eq!(capture.total(skipped), 1.0, "the alert skipped once");
}

/// Issue 19: windows need not only move forward (the engine's reader splits and narrows a
/// window; the next poll starts `PTSD_LATENESS` before the cursor). A row that shows up late,
/// keyed before the rows a read settled past, in a window that starts before the last one,
/// must still be read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_that_starts_before_the_last_one_still_reads_late_rows() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake.add_users(og_synthetic_users());
    // Whole milliseconds, as Opsgenie's times are, so the comparison below is exact.
    let now = Timestamp::from_millisecond(Timestamp::now().as_millisecond()).unwrap();
    let t = |ago: i64| now - SignedDuration::from_secs(ago);
    fake.add_alert(OgAlert::new(
        "back-1",
        "1",
        "x",
        "P3",
        "Prometheus",
        t(1000),
    ));
    fake.add_log("back-1", og_log_notified(t(950), "ada@example.com", "SMS"));
    fake.add_log("back-1", og_log_acked(t(800), "ada@example.com"));
    let cfg = config(
        &fake,
        &["--max-requests-per-minute", "0", "--lateness", "5m"],
    );
    let mut c = collector(&cfg);
    c.check().await.unwrap();
    let w1 = Window::new(t(900), t(600));
    c.collect(w1).await.unwrap();
    c.delivered(w1.until);
    // A row keyed before the one the read settled past, and the alert's change that says so.
    fake.add_log(
        "back-1",
        og_log_notified(t(960), "grace@example.com", "Voice"),
    );
    fake.update_alert("back-1", |a| a.updated_at = t(550));
    let w2 = Window::new(t(970), t(500));
    let got = c.collect(w2).await.unwrap();
    let late: Vec<_> = got.events.iter().filter(|e| e.at == t(960)).collect();
    assert_eq!(late.len(), 1, "the late row is read: {:?}", got.events);
}

/// Issue 22: ptsd's clock ahead of the provider's by more than a listing's overlap. A listing
/// starts where the last delivered one is known to have covered; that must be measured in the
/// provider's time (the `updatedAt` it listed), not by the window's end (ptsd's clock), or an
/// alert that changes just after a listing is never listed again and its new rows are lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_ahead_of_the_provider_still_lists_the_next_change() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake.add_users(og_synthetic_users());
    // The provider's "now"; ptsd's clock (the windows' ends) is 90 s ahead of it.
    let now = Timestamp::from_millisecond(Timestamp::now().as_millisecond()).unwrap();
    let t = |s: i64| now + SignedDuration::from_secs(s);
    fake.add_alert(OgAlert::new(
        "ahead-1",
        "1",
        "x",
        "P3",
        "Prometheus",
        t(-120),
    ));
    fake.add_log(
        "ahead-1",
        og_log_notified(t(-100), "ada@example.com", "SMS"),
    );
    let cfg = config(
        &fake,
        &["--max-requests-per-minute", "0", "--lateness", "5m"],
    );
    let mut c = collector(&cfg);
    c.check().await.unwrap();
    let w1 = Window::new(t(-200), t(90));
    c.collect(w1).await.unwrap();
    c.delivered(w1.until);
    // The alert is acknowledged 10 s later, in the provider's time: 80 s before the end of the
    // window ptsd already listed.
    // (The fake moves the alert's `updatedAt` with the row.)
    fake.add_log("ahead-1", og_log_acked(t(10), "ada@example.com"));
    let w2 = Window::new(t(-150), t(150));
    let got = c.collect(w2).await.unwrap();
    let acks = got
        .events
        .iter()
        .filter(|e| matches!(e.kind, ptsd::event::EventKind::Acknowledged { .. }))
        .count();
    assert_eq!(acks, 1, "the change is listed and read: {:?}", got.events);
}
