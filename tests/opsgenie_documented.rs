//! The Opsgenie collector on documented ground (issue 13): nobody is dropped for a username the
//! directory does not know, acknowledgements, closes and owners from the alert's documented
//! `report` and `owner` fields when the log wording is not recognised, user log rules, unmatched
//! rows made visible, `X-RateLimit-State: THROTTLED`, and log reads bounded on a burst.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use ptsd::collectors::{self, Collector};
use ptsd::config::Config;
use ptsd::event::Window;
use support::*;

const KEY: &str = "og-key-documented-0123456789";

fn config(fake: &FakeOpsgenie, extra: &[&str]) -> Config {
    test_config(
        "--opsgenie-api-key-file",
        KEY,
        &["--opsgenie-api-url", &fake.url],
        extra,
    )
}

fn collector(config: &Config) -> Box<dyn Collector> {
    collector_of("opsgenie", config)
}

async fn run_once(config: &Config) -> Capture {
    support::run_once(config, collector(config)).await
}

fn map(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// A fresh, empty state directory for one test.
fn tempdir(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("ptsd-og-doc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("state dir");
    dir.display().to_string()
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

/// Rows in a wording no rule knows still show in the alert's documented fields: the
/// acknowledgement (by Grace, and her ownership), the close (by Ada) and the times to
/// acknowledge and resolve count from `report`, each once, through three runs of the daemon
/// over overlapping windows with a state directory (restarts). A re-acknowledgement whose row is
/// recognised counts as a second acknowledgement; the recognised first acknowledgement of another
/// alert is not counted a second time through its report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_closes_and_owners_come_from_the_report_once() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake.add_users(og_synthetic_users());
    let now = now_ms();
    let t = |ago: i64| now - SignedDuration::from_secs(ago);
    let row = |at, log: &str, owner: &str| OgLog {
        log: log.into(),
        kind: "alertAction".into(),
        owner: owner.into(),
        created_at: at,
    };
    let mut odd = OgAlert::new("odd", "1", "db down", "P1", "Prometheus", t(900));
    odd.owner = "grace@example.com".into();
    odd.status = "closed".into();
    fake.add_alert(odd);
    fake.add_log("odd", og_log_notified(t(890), "grace@example.com", "SMS"));
    fake.add_log_meaning(
        "odd",
        row(t(800), "Grace took it from her watch", "grace@example.com"),
        "acked",
    );
    fake.add_log_meaning(
        "odd",
        row(t(600), "Ada made it go away", "ada@example.com"),
        "closed",
    );
    let mut plain = OgAlert::new("plain", "2", "disk full", "P3", "Datadog", t(900));
    plain.owner = "edsger@example.com".into();
    fake.add_alert(plain);
    fake.add_log("plain", og_log_assigned(t(899), "edsger@example.com"));
    fake.add_log("plain", og_log_acked(t(850), "edsger@example.com"));

    let state = tempdir("report-safety-net");
    let run = |ago: &str| {
        config(
            &fake,
            &[
                "--once",
                "--backfill",
                ago,
                "--max-requests-per-minute",
                "0",
                "--state-dir",
                &state,
                "--lateness",
                "30m",
            ],
        )
    };
    let first = run_once(&run("1h")).await;
    let want = map(&[
        ("ptsd.opsgenie.incidents.p1", 1.0),
        ("ptsd.opsgenie.incidents.p3", 1.0),
        ("ptsd.opsgenie.services.prometheus.incidents", 1.0),
        ("ptsd.opsgenie.services.datadog.incidents", 1.0),
        ("ptsd.opsgenie.users.grace_hopper.notifications.sms", 1.0),
        ("ptsd.opsgenie.users.grace_hopper.acknowledgements", 1.0),
        ("ptsd.opsgenie.users.grace_hopper.assignments", 1.0),
        ("ptsd.opsgenie.users.ada_lovelace.resolves", 1.0),
        ("ptsd.opsgenie.users.edsger_dijkstra.assignments", 1.0),
        ("ptsd.opsgenie.users.edsger_dijkstra.acknowledgements", 1.0),
    ]);
    assert_eq!(first.counts(), want);
    let samples = first.samples();
    for (name, ms) in [("time_to_ack", 100_000), ("time_to_resolve", 300_000)] {
        let key = format!("ptsd.opsgenie.{name}.p1");
        assert_eq!(samples.get(&key), Some(&vec![ms]), "{samples:?}");
    }

    // A restart re-reads the overlap (lateness 30 min): nothing is counted again.
    let second = run_once(&run("1h")).await;
    assert_eq!(second.counts(), BTreeMap::new());

    // Edsger unacknowledges and acknowledges again, in recognised rows: one more ack.
    fake.add_log("plain", og_log_unacked(t(60), "edsger@example.com"));
    fake.add_log("plain", og_log_acked(t(30), "edsger@example.com"));
    let third = run_once(&run("1h")).await;
    assert_eq!(
        third.counts(),
        map(&[("ptsd.opsgenie.users.edsger_dijkstra.acknowledgements", 1.0)])
    );
}

/// The real forms of log rows count through the built-in table (any row type, bracketed
/// suffixes, the policy close, the `Rule[..] -> Sent` form with the row's owner as the person),
/// and a user's rules file adds a wording the table lacks; a bad file stops ptsd at start with
/// one line naming the file, the rule and the fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_rules_built_in_and_from_a_file() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake.add_users(og_synthetic_users());
    let now = now_ms();
    let t = |ago: i64| now - SignedDuration::from_secs(ago);
    let row = |ago, log: &str, kind: &str, owner: &str| OgLog {
        log: log.into(),
        kind: kind.into(),
        owner: owner.into(),
        created_at: t(ago),
    };
    fake.add_alert(OgAlert::new("a1", "1", "db down", "P2", "Datadog", t(900)));
    for r in [
        row(
            890,
            "Rule[Default][schedule][ada] -> Sent sms to +4917****12",
            "alertRecipient",
            "ada@example.com",
        ),
        row(
            889,
            "Rule[Default][schedule][ada] -> Sent [voice] call",
            "alertRecipient",
            "ada@example.com",
        ),
        row(
            885,
            "Rule[Default][schedule][ada] -> Received sms",
            "alertRecipient",
            "ada@example.com",
        ),
        row(
            880,
            "Paged grace@example.com through the pager app",
            "alertRecipient",
            "System",
        ),
        row(
            800,
            "Alert acknowledged via web[Default API-Acknowledge Alert]",
            "alertAction",
            "ada@example.com",
        ),
        row(
            700,
            "Alert closed via system using policy/policies[autoclose and no-notify tags]",
            "system",
            "System",
        ),
    ] {
        fake.add_log("a1", r);
    }
    let dir = tempdir("log-rules");
    let path = format!("{dir}/og-rules.toml");
    std::fs::write(
        &path,
        "[[rule]]\nname = \"pager app\"\nmatch = '^Paged (?P<who>\\S+) through the pager app$'\ncounts = \"notification\"\nperson = \"who\"\nchannel = \"push\"\n",
    )
    .unwrap();
    let base = [
        "--once",
        "--backfill",
        "1h",
        "--max-requests-per-minute",
        "0",
    ];
    let without = run_once(&config(&fake, &base)).await;
    let mut want = map(&[
        ("ptsd.opsgenie.incidents.p2", 1.0),
        ("ptsd.opsgenie.services.datadog.incidents", 1.0),
        ("ptsd.opsgenie.users.ada_lovelace.notifications.sms", 1.0),
        ("ptsd.opsgenie.users.ada_lovelace.notifications.phone", 1.0),
        ("ptsd.opsgenie.users.ada_lovelace.acknowledgements", 1.0),
    ]);
    assert_eq!(without.counts(), want);
    let mut with_file = base.to_vec();
    with_file.extend(["--opsgenie-log-rules", &path]);
    let with = run_once(&config(&fake, &with_file)).await;
    want.insert(
        "ptsd.opsgenie.users.grace_hopper.notifications.push".into(),
        1.0,
    );
    assert_eq!(with.counts(), want);

    std::fs::write(&path, "[[rule]]\nname = \"pager app\"\nmatch = '^Paged (\\S+)$'\ncounts = \"notification\"\nperson = \"who\"\nchannel = \"push\"\n").unwrap();
    let e = collectors::build("opsgenie", &config(&fake, &with_file))
        .err()
        .expect("a bad rules file is refused")
        .to_string();
    assert!(
        e.starts_with(&format!("PTSD_OPSGENIE_LOG_RULES {path}: rule 1 (\"pager app\"): person = \"who\" is no capture group")),
        "{e}"
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

/// Rows in unknown wording for three alerts, plus known ones.
fn unmatched_fixture(fake: &FakeOpsgenie, now: Timestamp) {
    fake.add_users(og_synthetic_users());
    let t = |ago: i64| now - SignedDuration::from_secs(ago);
    for (i, who) in ["ada@example.com", "grace@example.com", "edsger@example.com"]
        .into_iter()
        .enumerate()
    {
        let id = format!("u{i}");
        fake.add_alert(OgAlert::new(&id, &id, "x", "P3", "Datadog", t(900)));
        fake.add_log(&id, og_log_created_via(t(900), "Datadog"));
        fake.add_log(&id, og_log_notified(t(890), who, "SMS"));
        let page = OgLog {
            log: format!("Paged {who} via the pager app at 03:1{i}"),
            kind: "alertRecipient".into(),
            owner: "System".into(),
            created_at: t(880),
        };
        fake.add_log(&id, page);
        if i == 0 {
            let odd = OgLog {
                log: "Grace Hopper snoozed it for 30 minutes".into(),
                kind: "alertAction".into(),
                owner: "grace@example.com".into(),
                created_at: t(870),
            };
            fake.add_log(&id, odd);
        }
    }
}

/// Rows that no rule matches are counted once each in `log_rows_unmatched`, even when windows
/// overlap, and their most frequent shapes (people and digits masked) are logged at info level
/// once, not again within the hour.
#[tokio::test(flavor = "current_thread")]
async fn unmatched_rows_are_counted_once_and_their_shapes_logged_hourly() {
    let fake = FakeOpsgenie::start(KEY).await;
    let now = now_ms();
    unmatched_fixture(&fake, now);
    let t = |ago: i64| now - SignedDuration::from_secs(ago);
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let cfg = config(&fake, &["--max-requests-per-minute", "0"]);
    let mut c = collector(&cfg);
    c.check().await.unwrap();
    let w1 = Window::new(t(2000), t(800));
    let first = c.collect(w1).await.unwrap();
    assert_eq!(
        first.unmatched_rows, 4,
        "three pages and the snooze, each once, as read"
    );
    c.delivered(w1.until);
    // The next window overlaps the first by 20 minutes, and one alert changed: only its new
    // row is read, and nothing is counted again.
    fake.add_log("u1", og_log_acked(t(100), "grace@example.com"));
    let w2 = Window::new(t(2000), t(10));
    let second = c.collect(w2).await.unwrap();
    assert_eq!(second.unmatched_rows, 0);
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    let reports: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Log rows no rule matched"))
        .collect();
    assert_eq!(reports.len(), 1, "once within the hour: {text}");
    assert!(
        reports[0].contains(r#"3× "Paged <email> via the pager app at <n>:<n>""#),
        "{}",
        reports[0]
    );
    assert!(!text.contains("ada@example.com"), "{text}");
    // Through the engine, the self-metric.
    let capture = run_once(&config(
        &fake,
        &[
            "--once",
            "--backfill",
            "1h",
            "--max-requests-per-minute",
            "0",
        ],
    ))
    .await;
    assert_eq!(
        capture.all().get("ptsd.ptsd.opsgenie.log_rows_unmatched"),
        Some(&4.0)
    );
}

/// `ptsd logs --since 1d` (the real binary) prints each distinct row shape with its count and
/// the rule that matched it, people masked; with a rules file, the unknown wording gets a rule.
#[test]
fn ptsd_logs_lists_row_shapes_and_their_rules() {
    let fake = FakeOpsgenie::start_blocking(KEY);
    unmatched_fixture(&fake, now_ms());
    let run = |extra: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ptsd"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("OPSGENIE_API_KEY", KEY)
            .env("OPSGENIE_API_URL", &fake.url)
            .env("RUST_LOG", "warn")
            .args(["logs", "--since", "1d"]);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("ptsd runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = run(&[]);
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.ends_with(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in\n{text}"))
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(text.starts_with("opsgenie: 10 log rows from "), "{text}");
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with("4 rows matched no rule"),
        "{text}"
    );
    assert_eq!(
        line("Sent [SMS] notification to <owner>"),
        "3 system built-in:sent-notification"
    );
    assert_eq!(
        line("Alert created via Datadog"),
        "3 system built-in:created"
    );
    assert_eq!(
        line("Paged <email> via the pager app at <n>:<n>"),
        "3 alertRecipient -"
    );
    assert_eq!(line("<name> snoozed it for <n> minutes"), "1 alertAction -");
    assert!(
        !text.contains("@example.com") && !text.contains("Grace"),
        "{text}"
    );

    let dir = tempdir("ptsd-logs");
    let path = format!("{dir}/rules.toml");
    std::fs::write(
        &path,
        "[[rule]]\nname = \"pager app\"\nmatch = '^Paged (?P<who>\\S+) via the pager app'\ncounts = \"notification\"\nperson = \"who\"\nchannel = \"push\"\n",
    )
    .unwrap();
    let text = run(&[("PTSD_OPSGENIE_LOG_RULES", &path)]);
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with("1 rows matched no rule"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.contains("pager app")
            && l.ends_with("Paged <email> via the pager app at <n>:<n>")),
        "{text}"
    );
}

/// An answer that is served but says `X-RateLimit-State: THROTTLED` (period 2 s) is used, and
/// the next request waits the period first (a rate-limit wait in ptsd's own metrics); nothing
/// is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_state_slows_the_next_request() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake.add_users(og_synthetic_users());
    let (alerts, expected) = og_synthetic(
        5,
        Timestamp::now() - SignedDuration::from_hours(2),
        std::time::Duration::from_secs(60),
        21,
    );
    fake.add_alerts_with_logs(alerts);
    fake.inject("/v2/alerts", OgFault::Throttled);
    let capture = run_once(&config(
        &fake,
        &[
            "--once",
            "--backfill",
            "3h",
            "--max-requests-per-minute",
            "0",
        ],
    ))
    .await;
    let incidents: f64 = capture
        .counts()
        .iter()
        .filter(|(k, _)| k.starts_with("ptsd.opsgenie.incidents."))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(incidents, expected.incidents as f64);
    assert!(
        capture.all().get("ptsd.ptsd.opsgenie.rate_limit_waits") >= Some(&1.0),
        "{:?}",
        capture.all()
    );
    let requests = fake.requests();
    let throttled = requests
        .iter()
        .position(|r| r.path == "/v2/alerts")
        .expect("the listing was read");
    let next = &requests[throttled + 1];
    assert!(
        next.received.duration_since(requests[throttled].received)
            >= std::time::Duration::from_millis(1900),
        "the request after a THROTTLED answer waited its period"
    );
}
