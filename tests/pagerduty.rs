//! The PagerDuty collector and the engine against the fake PagerDuty API, in process: paging,
//! the parameters that matter, the 10,000 cap, late entries, 429 and 5xx, a refused token.

mod support;

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use ptsd::collectors::{self, CollectError, Collector};
use ptsd::config::Config;
use ptsd::engine;
use ptsd::event::{EventKind, Window};
use ptsd::schema::{self};
use serde_json::json;
use support::*;

const TOKEN: &str = "y_NbAkKc66ryYTWUXYEu";

fn config(fake: &FakePagerDuty, extra: &[&str]) -> Config {
    test_config(
        "--pdtoken-file",
        TOKEN,
        &["--pagerduty-api-url", &fake.url],
        extra,
    )
}

fn collector(config: &Config) -> Box<dyn Collector> {
    collector_of("pagerduty", config)
}

/// An outputter that keeps every batch, for assertions.
impl Capture {
    /// The on-call counters as whole numbers.
    fn plain_totals(&self) -> std::collections::BTreeMap<String, i64> {
        self.counts()
            .into_iter()
            .map(|(k, v)| (k, v as i64))
            .collect()
    }
}

/// The plain names and values a correct run emits for `expected`.
fn expected_plain(expected: &ExpectedCounts) -> std::collections::BTreeMap<String, i64> {
    let s = |v: &str| schema::sanitize(v, true);
    let mut out = std::collections::BTreeMap::new();
    let base = "ptsd.pagerduty";
    for (u, n) in &expected.incidents_by_urgency {
        out.insert(format!("{base}.incidents.{u}"), *n as i64);
    }
    for (svc, n) in &expected.incidents_by_service {
        out.insert(format!("{base}.services.{}.incidents", s(svc)), *n as i64);
    }
    for ((user, ch), n) in &expected.notifications {
        *out.entry(format!("{base}.users.{}.notifications.{ch}", s(user)))
            .or_insert(0) += *n as i64;
    }
    for (metric, map) in [
        ("acknowledgements", &expected.acks),
        ("assignments", &expected.assignments),
        ("escalations", &expected.escalations),
        ("resolves", &expected.resolves),
    ] {
        for (user, n) in map {
            out.insert(format!("{base}.users.{}.{metric}", s(user)), *n as i64);
        }
    }
    out
}

/// How many incidents `got` opened.
fn triggers(got: &ptsd::collectors::Collected) -> u64 {
    got.events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Triggered { .. }))
        .count() as u64
}

async fn run_once(config: &Config) -> Capture {
    support::run_once(config, collector(config)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_through_everything_with_the_right_parameters() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let now = Timestamp::now();
    let (entries, expected) = synthetic_incidents(
        40,
        now - SignedDuration::from_secs(5 * 3600),
        Duration::from_secs(60),
        11,
    );
    assert!(entries.len() > 250, "several pages: {}", entries.len());
    fake.add_entries(entries.clone());
    let cfg = config(&fake, &[]);
    let mut c = collector(&cfg);
    c.check().await.expect("token accepted");
    let paths: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        ["/log_entries", "/users"],
        "the check is one request, then the user directory (time zones, e-mails)"
    );
    fake.clear_requests();
    let check = c.take_stats();
    assert_eq!(check.requests(), 2);
    let window = Window::new(now - SignedDuration::from_secs(6 * 3600), now);
    let got = c.collect(window).await.expect("collects");

    let reqs = fake.requests();
    let pages = entries.len().div_ceil(100);
    assert_eq!(reqs.len(), pages, "one request per page of 100");
    assert_eq!(c.take_stats().by_status.get("2xx"), Some(&(pages as u64)));
    for (i, r) in reqs.iter().enumerate() {
        assert_eq!(r.path, "/log_entries");
        assert!(r.auth_valid && r.accept_v2);
        assert_eq!(r.param("time_zone"), Some("UTC"));
        assert_eq!(r.param("is_overview"), Some("false"));
        assert_eq!(r.param("limit"), Some("100"));
        assert_eq!(r.param("offset"), Some((i * 100).to_string().as_str()));
        assert!(r.params("include[]").contains(&"channels"));
        assert!(r.params("include[]").contains(&"incidents"));
        assert!(r.param("since").unwrap().ends_with('Z'));
    }
    // Every entry that maps to events is present exactly once.
    let mut ids: Vec<&str> = got.events.iter().map(|e| e.record_id.as_str()).collect();
    ids.dedup();
    let distinct: std::collections::HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), distinct.len(), "no record comes back twice");
    assert_eq!(triggers(&got), expected.incidents);
    let notified = got
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Notified { .. }))
        .count() as u64;
    assert_eq!(notified, expected.notifications.values().sum::<u64>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_counts_exactly_what_was_generated() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let now = Timestamp::now();
    let (entries, expected) = synthetic_incidents(
        60,
        now - SignedDuration::from_secs(6 * 3600),
        Duration::from_secs(90),
        5,
    );
    fake.add_entries(entries);
    let cfg = config(&fake, &["--once", "--backfill", "7h"]);
    let capture = run_once(&cfg).await;
    assert_eq!(capture.plain_totals(), expected_plain(&expected));
    // Caught up in 1-hour windows (PTSD_MAX_WINDOW): seven windows of 7 hours.
    let mut sinces: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/log_entries" && r.param("offset") == Some("0"))
        .filter_map(|r| r.param("since").map(String::from))
        .collect();
    sinces.dedup();
    assert!(sinces.len() >= 7, "{sinces:?}");
    // History older than PTSD_LATENESS was visible when it was read: consecutive windows
    // overlap only by the one-second margins asked for on each side, not by PTSD_LATENESS.
    let windows: Vec<(Timestamp, Timestamp)> = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/log_entries" && r.param("offset") == Some("0"))
        .filter(|r| r.param("limit") == Some("100"))
        .map(|r| {
            let t = |k| r.param(k).unwrap().parse::<Timestamp>().unwrap();
            (t("since"), t("until"))
        })
        .collect();
    for pair in windows.windows(2) {
        assert_eq!(
            pair[0].1.duration_since(pair[1].0),
            SignedDuration::from_secs(2),
            "{windows:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_arriving_mid_read_shifts_the_pages_but_nothing_counts_twice() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let now = Timestamp::now();
    let start = now - SignedDuration::from_secs(3600);
    let inc = Incident::new("PSHIFT", "Checkout API", "high");
    // 250 triggers, one per 10 s: three pages, every entry counted.
    let entries: Vec<_> = (0..250)
        .map(|i| {
            trigger(
                &format!("RSHIFT{i:04}"),
                start + SignedDuration::from_secs(i * 10),
                &inc,
            )
        })
        .collect();
    fake.add_entries(entries);
    // While the first page is served, a newer entry appears (an annotation: counted by nobody),
    // so page two starts with page one's last entry.
    let late = json!({"id": "RSHIFTLATE", "type": "annotate_log_entry",
        "created_at": (start + SignedDuration::from_secs(2500)).to_string(),
        "summary": "note", "incident": {"id": "PSHIFT", "type": "incident_reference"}});
    fake.inject("/log_entries", Fault::ThenAdd(late.to_string()));
    let cfg = config(
        &fake,
        &[
            "--once",
            "--backfill",
            "70m",
            "--max-window",
            "2h",
            "--max-requests-per-minute",
            "0",
        ],
    );
    let capture = run_once(&cfg).await;
    let pages: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/log_entries" && r.param("limit") == Some("100"))
        .collect();
    assert_eq!(pages.len(), 3, "the shift adds no page: 251 entries");
    assert_eq!(
        capture.plain_totals(),
        std::collections::BTreeMap::from([
            ("ptsd.pagerduty.incidents.high".to_string(), 250),
            (
                "ptsd.pagerduty.services.checkout_api.incidents".to_string(),
                250
            ),
        ]),
        "the entry repeated at the top of page two counts once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_over_the_10000_cap_is_split_and_fully_counted() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let now = Timestamp::now();
    let start = now - SignedDuration::from_secs(40 * 60);
    let inc = Incident::new("PBIG", "Checkout API", "high");
    let entries: Vec<_> = (0..12_500)
        .map(|i| {
            trigger(
                &format!("RBIG{i:06}"),
                start + SignedDuration::from_millis(i * 100),
                &inc,
            )
        })
        .collect();
    fake.add_entries(entries);
    // About 130 pages in one go: no request budget here (it would spread them over a minute).
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
    let totals = capture.plain_totals();
    assert_eq!(totals.get("ptsd.pagerduty.incidents.high"), Some(&12_500));
    let over_cap = fake.requests().iter().filter(|r| r.status == 400).count();
    assert_eq!(
        over_cap, 0,
        "the cap is never hit: the window is split first"
    );
    let requests = fake.requests().len();
    assert!(
        requests <= 125 + 10,
        "close to the floor of 125 pages: {requests}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_ratelimit_reset_and_retries_5xx() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let now = Timestamp::now();
    let (entries, expected) = synthetic_incidents(
        10,
        now - SignedDuration::from_secs(3 * 3600),
        Duration::from_secs(60),
        3,
    );
    fake.add_entries(entries);
    let cfg = config(&fake, &[]);
    let mut c = collector(&cfg);
    fake.inject("/log_entries", Fault::Status429 { reset_secs: 2 });
    fake.inject("/log_entries", Fault::Status500);
    fake.inject("/log_entries", Fault::Truncated);
    let got = c
        .collect(Window::new(now - SignedDuration::from_secs(4 * 3600), now))
        .await
        .expect("rides out the faults");
    let reqs = fake.requests();
    let statuses: Vec<u16> = reqs.iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..3], &[429, 500, 200], "{statuses:?}");
    let gap = |i: usize| reqs[i + 1].received - reqs[i].received;
    // Backoff alone would wait 0.5-0.625 s after the 429; ratelimit-reset says 2 s.
    assert!(
        gap(0) >= Duration::from_millis(1950),
        "waited for ratelimit-reset: {:?}",
        gap(0)
    );
    assert!(
        gap(1) >= Duration::from_millis(450),
        "backed off after the 500: {:?}",
        gap(1)
    );
    assert_eq!(triggers(&got), expected.incidents);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_slower_than_the_timeout_is_given_up_and_asked_again() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let now = Timestamp::now();
    let (entries, expected) = synthetic_incidents(
        10,
        now - SignedDuration::from_secs(3600),
        Duration::from_secs(60),
        4,
    );
    fake.add_entries(entries);
    let cfg = config(&fake, &["--http-timeout", "1s"]);
    let mut c = collector(&cfg);
    fake.inject("/log_entries", Fault::Delay(Duration::from_secs(5)));
    let got = c
        .collect(Window::new(now - SignedDuration::from_secs(2 * 3600), now))
        .await
        .expect("the second try answers in time");
    let stats = c.take_stats();
    assert_eq!(
        stats.by_status.get("error"),
        Some(&1),
        "{stats:?}: one timeout"
    );
    assert_eq!(stats.retries, 1, "{stats:?}");
    assert_eq!(triggers(&got), expected.incidents);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_unauthorized_with_the_eu_hint() {
    let fake = FakePagerDuty::start("the-real-token").await;
    let cfg = config(&fake, &[]);
    let mut c = collector(&cfg);
    let err = c.check().await.expect_err("refused");
    assert!(matches!(
        err,
        CollectError::Unauthorized { status: 401, .. }
    ));
    let text = err.to_string();
    assert!(text.contains("api.eu.pagerduty.com"), "{text}");
    assert!(!text.contains(TOKEN));
    assert_eq!(fake.requests().len(), 1, "a 401 is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_says_more_but_is_empty_fails_the_window_instead_of_skipping_the_rest() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let now = Timestamp::now();
    let (entries, expected) = synthetic_incidents(
        20,
        now - SignedDuration::from_secs(3600),
        Duration::from_secs(60),
        3,
    );
    assert!(entries.len() > 100, "two pages at least");
    fake.add_entries(entries);
    let cfg = config(&fake, &["--max-requests-per-minute", "0"]);
    let mut c = collector(&cfg);
    let window = Window::new(now - SignedDuration::from_secs(2 * 3600), now);
    // The second page lies: nothing, yet `more`.
    fake.inject("/log_entries", Fault::Delay(Duration::ZERO));
    fake.inject("/log_entries", Fault::EmptyButMore);
    let err = c.collect(window).await.expect_err("cannot page on");
    assert!(
        matches!(err, CollectError::Malformed { .. }),
        "{err}: the engine keeps the cursor and reads the window again"
    );
    let again = c.collect(window).await.expect("the next read is whole");
    assert_eq!(triggers(&again), expected.incidents);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_ends_short_of_its_total_fails_the_window_instead_of_counting_short() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let now = Timestamp::now();
    let (entries, expected) = synthetic_incidents(
        60,
        now - SignedDuration::from_secs(3 * 3600),
        Duration::from_secs(60),
        4,
    );
    assert!(
        entries.len() > 300,
        "four pages at least: {}",
        entries.len()
    );
    fake.add_entries(entries);
    let cfg = config(&fake, &["--max-requests-per-minute", "0"]);
    let mut c = collector(&cfg);
    let window = Window::new(now - SignedDuration::from_secs(4 * 3600), now);
    // The second page says nothing more follows, though the first announced more.
    fake.inject("/log_entries", Fault::Delay(Duration::ZERO));
    fake.inject("/log_entries", Fault::EndsEarly);
    let err = c.collect(window).await.expect_err("short of its total");
    assert!(
        matches!(&err, CollectError::Malformed { what, .. } if what.contains("ended after 200 of the")),
        "{err}"
    );
    let again = c.collect(window).await.expect("the next read is whole");
    assert_eq!(triggers(&again), expected.incidents);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_may_not_read_users_still_starts() {
    let fake = FakePagerDuty::start(TOKEN).await;
    fake.inject("/users", Fault::Status401);
    let cfg = config(&fake, &[]);
    let mut c = collector(&cfg);
    c.check()
        .await
        .expect("log entries can be read: the directory is optional");
    let statuses: Vec<(String, u16)> = fake
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("/log_entries".to_string(), 200),
            ("/users".to_string(), 401)
        ]
    );
}

/// The engine polling `fake` live (every second, a minute of lateness, a minute of backfill)
/// into a capture, until the sender is used; the handle ends with the engine's result.
fn live_engine(
    fake: &FakePagerDuty,
) -> (
    Capture,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), engine::EngineError>>,
) {
    let cfg = config(
        fake,
        &["--backfill", "1m", "--interval", "1s", "--lateness", "1m"],
    );
    let capture = Capture::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let settings = engine::Settings::from_config(&cfg).expect("settings");
    let engine = tokio::spawn(engine::run(
        settings,
        vec![collector(&cfg)],
        vec![Box::new(capture.clone())],
        async move {
            let _ = stopped.await;
        },
    ));
    (capture, stop, engine)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_entries_are_counted_once_on_a_later_poll() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let now = Timestamp::now();
    let inc = Incident::new("PLATE", "Search", "low");
    // Visible from the start: counted at the first poll.
    fake.add_entries(vec![trigger(
        "RON-TIME",
        now - SignedDuration::from_secs(20),
        &inc,
    )]);
    // Created 10 s ago but only visible 2 s after the first poll began.
    fake.add_entries(vec![trigger(
        "RLATE",
        now - SignedDuration::from_secs(10),
        &inc,
    )]);
    fake.set_visibility_delay("RLATE", Duration::from_secs(12));
    let (capture, stop, engine) = live_engine(&fake);
    // Poll the captured totals until the late entry was counted (or give up after 10 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    while capture.plain_totals().get("ptsd.pagerduty.incidents.low") != Some(&2)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A few more polls re-read the lateness window: the count must not grow.
    let polls_before = fake.requests().len();
    while fake.requests().len() < polls_before + 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    engine.await.unwrap().unwrap();
    assert_eq!(
        capture.plain_totals().get("ptsd.pagerduty.incidents.low"),
        Some(&2)
    );
    assert!(capture.0.lock().unwrap().len() >= 2, "counted on two polls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_key_email_reads_the_user_directory() {
    let fake = FakePagerDuty::start(TOKEN).await;
    fake.add_users(synthetic_users());
    let now = Timestamp::now();
    let (entries, expected) = synthetic_incidents(
        20,
        now - SignedDuration::from_secs(4 * 3600),
        Duration::from_secs(60),
        9,
    );
    fake.add_entries(entries);
    let cfg = config(
        &fake,
        &["--once", "--backfill", "5h", "--user-key", "email"],
    );
    let capture = run_once(&cfg).await;
    let totals = capture.plain_totals();
    for (name, n) in &expected.acks {
        let email = SYNTHETIC_USERS
            .iter()
            .find(|u| u.1 == name)
            .map(|u| u.2)
            .expect("a synthetic user");
        let key = format!(
            "ptsd.pagerduty.users.{}.acknowledgements",
            schema::sanitize(email, true)
        );
        assert_eq!(totals.get(&key), Some(&(*n as i64)), "{key} in {totals:?}");
    }
    assert!(fake.requests().iter().any(|r| r.path == "/users"));
}

/// `PTSD_PAGERDUTY_TEAMS`: one team of a large account runs its own ptsd. Every request asks
/// PagerDuty for that team's entries only (`team_ids[]`), and exactly that team's incidents
/// are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_narrow_the_log_entries_to_those_teams() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let now = Timestamp::now();
    let start = now - SignedDuration::from_secs(4 * 3600);
    let with_team = |entries: Vec<serde_json::Value>, team: &str| -> Vec<serde_json::Value> {
        entries
            .into_iter()
            .map(|mut e| {
                e["teams"] = json!([{ "id": team, "type": "team_reference", "summary": team }]);
                e
            })
            .collect()
    };
    let (ops, ops_expected) = synthetic_incidents(12, start, Duration::from_secs(300), 71);
    let (web, web_expected) = synthetic_incidents(9, start, Duration::from_secs(300), 72);
    fake.add_entries(with_team(ops, "PTEAMOPS"));
    fake.add_entries(with_team(web, "PTEAMWEB"));
    let window = Window::new(now - SignedDuration::from_secs(5 * 3600), now);

    for (teams, want) in [
        ("PTEAMOPS", ops_expected.incidents),
        (" PTEAMWEB ,", web_expected.incidents),
        (
            "PTEAMOPS,PTEAMWEB",
            ops_expected.incidents + web_expected.incidents,
        ),
    ] {
        fake.clear_requests();
        let mut c = collector(&config(&fake, &["--pagerduty-teams", teams]));
        let got = c.collect(window).await.expect("collects");
        assert_eq!(triggers(&got), want, "{teams}");
        let asked: Vec<String> = teams
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect();
        // (`/users` is the whole directory: people are named the same whichever team.)
        let pages: Vec<_> = fake
            .requests()
            .into_iter()
            .filter(|r| r.path == "/log_entries")
            .collect();
        assert!(!pages.is_empty());
        for r in pages {
            assert_eq!(r.params("team_ids[]"), asked);
        }
    }
    // Unset: the whole account, no `team_ids[]`.
    fake.clear_requests();
    let mut c = collector(&config(&fake, &[]));
    let got = c.collect(window).await.expect("collects");
    assert_eq!(
        triggers(&got),
        ops_expected.incidents + web_expected.incidents
    );
    assert!(fake
        .requests()
        .iter()
        .all(|r| r.params("team_ids[]").is_empty()));
    // A value that is no team id is refused at start, naming the variable.
    let e = collectors::build(
        "pagerduty",
        &config(&fake, &["--pagerduty-teams", "ops team"]),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(e.starts_with("PTSD_PAGERDUTY_TEAMS holds"), "{e}");
}

/// Whether `r` is a live poll's count of a part already read (`total=true&limit=1`).
fn is_count(r: &RecordedRequest) -> bool {
    let has = |k: &str, v: &str| r.query.iter().any(|(a, b)| a == k && b == v);
    r.path == "/log_entries" && has("limit", "1") && has("total", "true")
}

/// A page read of log entries (not a count, not the start-up check).
fn is_page(r: &RecordedRequest) -> bool {
    let has = |k: &str, v: &str| r.query.iter().any(|(a, b)| a == k && b == v);
    r.path == "/log_entries" && has("limit", "100")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_poll_counts_before_it_reads_again_and_reads_only_what_is_new() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let inc = Incident::new("PLIVE", "Checkout", "high");
    let now = Timestamp::now();
    // 250 entries over the last 50 s: three pages, all inside the lateness window.
    let old: Vec<_> = (0..250)
        .map(|i| {
            trigger(
                &format!("ROLD{i}"),
                now - SignedDuration::from_millis(50_000 - i * 180),
                &inc,
            )
        })
        .collect();
    fake.add_entries(old);
    let (capture, stop, engine) = live_engine(&fake);
    let high = |c: &Capture| {
        c.plain_totals()
            .get("ptsd.pagerduty.incidents.high")
            .copied()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let wait = |what: &str, cond: &dyn Fn() -> bool| {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        !cond()
    };
    while wait("the first read", &|| high(&capture) == Some(250)) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Three quiet polls: each is one count and one page for the new part, never the three
    // pages of the part already read.
    let mark = fake.requests().len();
    while wait("three counts", &|| {
        fake.requests()[mark..]
            .iter()
            .filter(|r| is_count(r))
            .count()
            >= 3
    }) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let quiet = fake.requests()[mark..].to_vec();
    let counts = quiet.iter().filter(|r| is_count(r)).count();
    let pages = quiet.iter().filter(|r| is_page(r)).count();
    assert!(
        pages <= counts + 1,
        "{pages} pages for {counts} quiet polls: {:?}",
        quiet.iter().map(|r| &r.raw_query).collect::<Vec<_>>()
    );

    // 150 new entries: read once, in at most two pages, without re-reading the 250.
    let mark = fake.requests().len();
    let fresh_at = Timestamp::now();
    let fresh: Vec<_> = (0..150)
        .map(|i| {
            trigger(
                &format!("RNEW{i}"),
                fresh_at + SignedDuration::from_millis(i),
                &inc,
            )
        })
        .collect();
    fake.add_entries(fresh);
    while wait("the new entries", &|| high(&capture) == Some(400)) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Each poll reads its new part (one page, two for the poll that holds most of the 150);
    // none reads the 250 again.
    let since_mark = fake.requests()[mark..].to_vec();
    let counts = since_mark.iter().filter(|r| is_count(r)).count();
    let pages = since_mark.iter().filter(|r| is_page(r)).count();
    assert!(
        pages <= counts + 2,
        "{pages} pages in {counts} polls for 150 new entries"
    );

    // An entry that shows up late inside the part already read: the count differs, the part
    // is read again, and the entry counts once.
    let mark = fake.requests().len();
    fake.add_entries(vec![trigger(
        "RLATE-LIVE",
        Timestamp::now() - SignedDuration::from_secs(20),
        &inc,
    )]);
    while wait("the late entry", &|| high(&capture) == Some(401)) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pages = fake.requests()[mark..]
        .iter()
        .filter(|r| is_page(r))
        .count();
    assert!(pages >= 3, "the old part was read again: {pages} pages");
    stop.send(()).unwrap();
    engine.await.unwrap().unwrap();
    assert_eq!(high(&capture), Some(401));
}

/// Issue 19: with `PTSD_PAGERDUTY_TEAMS` a count proves nothing (an entry can leave the
/// filtered set while a late one arrives, and the count stays equal), so no count is asked and
/// the part already read is read again; and without teams, a count that fails means the part
/// is read again, not a failed read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_count_probe_with_a_team_filter_and_a_failed_count_reads_again() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let inc = Incident::new("PTEAM", "Checkout", "high");
    let now = Timestamp::now();
    let at = |ago: i64| now - SignedDuration::from_secs(ago);
    let team = |mut e: serde_json::Value| {
        e["teams"] = json!([{ "id": "PTEAM1", "type": "team_reference", "summary": "PTEAM1" }]);
        e
    };
    fake.add_entries(vec![team(trigger("RT1", at(100), &inc))]);
    for (extra, fault) in [
        (&["--pagerduty-teams", "PTEAM1"][..], None),
        (&[][..], Some(())),
    ] {
        fake.clear_requests();
        let cfg = config(&fake, extra);
        let mut c = collector(&cfg);
        let w1 = Window::new(at(200), at(50));
        c.collect(w1).await.unwrap();
        c.delivered(w1.until);
        // A late entry in the part already read.
        let late = format!("RLATE{}", extra.len());
        fake.add_entries(vec![team(trigger(&late, at(90), &inc))]);
        if fault.is_some() {
            fake.inject("/log_entries", Fault::Status401);
        }
        let got = c.collect(Window::new(at(150), at(10))).await.unwrap();
        assert!(
            got.events.iter().any(|e| e.record_id == late),
            "the late entry is read ({extra:?}): {:?}",
            got.events.iter().map(|e| &e.record_id).collect::<Vec<_>>()
        );
        let counts = fake.requests().iter().filter(|r| is_count(r)).count();
        if fault.is_none() {
            assert_eq!(counts, 0, "no count with a team filter");
        } else {
            assert_eq!(counts, 1, "the count was asked, and failed");
        }
    }
}
