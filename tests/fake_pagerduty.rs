//! Self-tests of the test support code: the fake PagerDuty server must behave like the real
//! API on the points the daemon depends on (pagination, the 10,000 cap, time zone rendering,
//! `include[]`, auth, 429, late entries), the entry generator must be consistent with the
//! counts it promises, and the real StatsD peer must start and read back plain and tagged
//! counters. If these fail, the daemon's integration tests cannot be trusted.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use support::*;

const TOKEN: &str = "y_NbAkKc66ryYTWUXYEu";

fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// GET `path_and_query` with the given token; returns status, headers and parsed JSON body.
async fn get(
    fake: &FakePagerDuty,
    path_and_query: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = client()
        .get(format!("{}{}", fake.url, path_and_query))
        .header("Accept", "application/vnd.pagerduty+json;version=2");
    if let Some(t) = token {
        req = req.header("Authorization", format!("Token token={t}"));
    }
    let resp = req.send().await.expect("request to fake PagerDuty");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, headers, body)
}

fn ids(body: &Value) -> Vec<String> {
    body["log_entries"]
        .as_array()
        .expect("log_entries array")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect()
}

fn demo_incident() -> Incident {
    Incident::new("PINC001", "Checkout API", "high").with_title("p99 latency high")
}

#[tokio::test]
async fn pages_of_250_entries_are_100_100_50_newest_first() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let inc = demo_incident();
    let base = ts("2026-03-02T00:00:00Z");
    // Added in a scrambled order: the fake must sort, not echo.
    let mut entries: Vec<Value> = (0..250u64)
        .map(|i| {
            let at = base + SignedDuration::from_secs((i * 37 % 250) as i64 * 60);
            trigger(&format!("R{i:05}"), at, &inc)
        })
        .collect();
    entries.reverse();
    fake.add_entries(entries);

    let mut all_ids = Vec::new();
    let mut all_times = Vec::new();
    for (offset, len, more) in [(0, 100, true), (100, 100, true), (200, 50, false)] {
        let (status, _, body) = get(
            &fake,
            &format!("/log_entries?time_zone=UTC&limit=100&offset={offset}"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["log_entries"].as_array().map(Vec::len), Some(len));
        assert_eq!(body["more"], more, "offset {offset}");
        assert_eq!(body["limit"], 100);
        assert_eq!(body["offset"], offset);
        assert_eq!(body["total"], Value::Null);
        all_ids.extend(ids(&body));
        for e in body["log_entries"].as_array().expect("array") {
            all_times.push(ts(e["created_at"].as_str().expect("created_at")));
        }
    }
    let mut unique = all_ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 250, "every entry exactly once");
    assert!(
        all_times.windows(2).all(|w| w[0] > w[1]),
        "strictly newest first across pages"
    );

    let (_, _, body) = get(&fake, "/log_entries?total=true&limit=1", Some(TOKEN)).await;
    assert_eq!(body["total"], 250);
    assert_eq!(body["more"], true);
    let (_, _, body) = get(&fake, "/log_entries", Some(TOKEN)).await;
    assert_eq!(body["limit"], 25, "default limit");
    let (_, _, body) = get(&fake, "/log_entries?limit=500", Some(TOKEN)).await;
    assert_eq!(body["limit"], 100, "limit clamped to 100");
    assert_eq!(body["log_entries"].as_array().map(Vec::len), Some(100));
}

#[tokio::test]
async fn offset_plus_limit_over_10000_is_a_400() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let (status, _, body) = get(&fake, "/log_entries?offset=9950&limit=100", Some(TOKEN)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], 2002);
    assert_eq!(body["error"]["message"], "Arguments Caused Error");
    assert!(body["error"]["errors"][0]
        .as_str()
        .is_some_and(|s| s.contains("10000")));

    let (status, _, body) = get(&fake, "/log_entries?offset=9900&limit=100", Some(TOKEN)).await;
    assert_eq!(status, 200, "exactly 10000 is allowed: {body}");
    assert_eq!(body["more"], false);
}

#[tokio::test]
async fn created_at_renders_in_account_zone_unless_time_zone_is_sent() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let inc = demo_incident();
    fake.add_entries(vec![trigger("R1", ts("2026-03-03T03:14:07Z"), &inc)]);

    let (_, _, body) = get(&fake, "/log_entries", Some(TOKEN)).await;
    assert_eq!(
        body["log_entries"][0]["created_at"],
        "2026-03-02T22:14:07-05:00"
    );
    let (_, _, body) = get(&fake, "/log_entries?time_zone=UTC", Some(TOKEN)).await;
    assert_eq!(body["log_entries"][0]["created_at"], "2026-03-03T03:14:07Z");

    fake.set_account_time_zone_offset(330);
    let (_, _, body) = get(&fake, "/log_entries", Some(TOKEN)).await;
    assert_eq!(
        body["log_entries"][0]["created_at"],
        "2026-03-03T08:44:07+05:30"
    );
}

#[tokio::test]
async fn since_until_is_half_open_and_is_overview_filters() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let inc = demo_incident();
    fake.add_entries(vec![
        trigger("R1", ts("2026-03-02T03:00:00Z"), &inc),
        notify(
            "R2",
            ts("2026-03-02T03:00:01Z"),
            &inc,
            "PUSR1",
            "Ada Lovelace",
            "sms",
        ),
        resolve(
            "R3",
            ts("2026-03-02T03:10:00Z"),
            &inc,
            "PUSR1",
            "Ada Lovelace",
            "user_reference",
        ),
    ]);
    let q = "/log_entries?since=2026-03-02T03%3A00%3A00%2B00%3A00&until=2026-03-02T03%3A10%3A00Z";
    let (_, _, body) = get(&fake, q, Some(TOKEN)).await;
    assert_eq!(
        ids(&body),
        vec!["R2", "R1"],
        "since inclusive, until exclusive"
    );

    let (_, _, body) = get(&fake, "/log_entries?is_overview=true", Some(TOKEN)).await;
    assert_eq!(ids(&body), vec!["R3", "R1"], "overview drops notify");

    // An unencoded '+' decodes to a space, so the date is rejected, as by a form decoder.
    let (status, _, body) = get(
        &fake,
        "/log_entries?since=2026-03-02T03:00:00+00:00",
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn notification_and_full_incident_only_with_include() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let inc = demo_incident();
    fake.add_entries(vec![notify(
        "R1",
        ts("2026-03-02T03:14:07Z"),
        &inc,
        "PUSR1",
        "Ada Lovelace",
        "sms",
    )]);

    let (_, _, body) = get(&fake, "/log_entries", Some(TOKEN)).await;
    let e = &body["log_entries"][0];
    assert_eq!(e["channel"]["type"], "auto");
    assert!(e["channel"].get("notification").is_none(), "{e}");
    assert_eq!(e["incident"]["type"], "incident_reference");
    assert!(e["incident"].get("urgency").is_none());
    assert_eq!(e["incident"]["summary"], inc.summary());
    assert_eq!(e["user"]["summary"], "Ada Lovelace");

    for q in [
        "/log_entries?include[]=channels&include[]=incidents",
        "/log_entries?include%5B%5D=channels&include%5B%5D=incidents",
    ] {
        let (_, _, body) = get(&fake, q, Some(TOKEN)).await;
        let e = &body["log_entries"][0];
        assert_eq!(e["channel"]["notification"]["type"], "sms", "{q}");
        assert_eq!(e["incident"]["type"], "incident", "{q}");
        assert_eq!(e["incident"]["urgency"], "high", "{q}");
        assert_eq!(e["incident"]["service"]["summary"], "Checkout API");
    }
    let reqs = fake.requests();
    assert_eq!(
        reqs.last().expect("recorded").params("include[]"),
        vec!["channels", "incidents"]
    );
    assert!(reqs.iter().all(|r| r.accept_v2 && r.auth_valid));
}

#[tokio::test]
async fn bad_or_missing_token_is_401_and_unknown_path_404() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let (status, _, body) = get(&fake, "/log_entries", Some("wrong")).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], 2006);
    assert_eq!(body["error"]["message"], "Authentication failed");
    let (status, _, _) = get(&fake, "/log_entries", None).await;
    assert_eq!(status, 401);
    let (status, _, body) = get(&fake, "/incidents", Some(TOKEN)).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], 2100);

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[0].auth_present && !reqs[0].auth_valid);
    assert!(!reqs[1].auth_present);
    assert_eq!(
        reqs.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![401, 401, 404]
    );
}

#[tokio::test]
async fn injected_faults_apply_once_in_order() {
    let fake = FakePagerDuty::start(TOKEN).await;
    fake.inject("/log_entries", Fault::Status429 { reset_secs: 7 });
    fake.inject("/log_entries", Fault::Status500);
    fake.inject("/log_entries", Fault::Truncated);
    fake.inject("/log_entries", Fault::Delay(Duration::from_millis(200)));

    // A fault for /log_entries does not hit /users.
    let (status, _, _) = get(&fake, "/users", Some(TOKEN)).await;
    assert_eq!(status, 200);

    let (status, headers, body) = get(&fake, "/log_entries", Some(TOKEN)).await;
    assert_eq!(status, 429);
    assert_eq!(headers["ratelimit-reset"], "7");
    assert_eq!(headers["ratelimit-limit"], "960");
    assert_eq!(headers["ratelimit-remaining"], "0");
    assert_eq!(body["error"]["code"], 2020);

    let (status, _, body) = get(&fake, "/log_entries", Some(TOKEN)).await;
    assert_eq!(status, 500);
    assert_eq!(body["error"]["message"], "Internal Server Error");

    let resp = client()
        .get(format!("{}/log_entries", fake.url))
        .header("Authorization", format!("Token token={TOKEN}"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.expect("body");
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "truncated body must not parse: {text}"
    );

    let started = Instant::now();
    let (status, _, _) = get(&fake, "/log_entries", Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));

    let (status, _, _) = get(&fake, "/log_entries", Some(TOKEN)).await;
    assert_eq!(status, 200, "faults are consumed");
    let faults: Vec<Option<Fault>> = fake.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(faults[1], Some(Fault::Status429 { reset_secs: 7 }));
    assert_eq!(faults[5], None);
}

#[tokio::test]
async fn late_entry_is_invisible_until_its_delay_passes() {
    let fake = FakePagerDuty::start(TOKEN).await;
    let inc = demo_incident();
    let now = Timestamp::now();
    fake.add_entries(vec![
        trigger("R_EARLY", now - SignedDuration::from_secs(60), &inc),
        notify("R_LATE", now, &inc, "PUSR1", "Ada Lovelace", "phone"),
    ]);
    fake.set_visibility_delay("R_LATE", Duration::from_millis(300));

    let (_, _, body) = get(&fake, "/log_entries?time_zone=UTC", Some(TOKEN)).await;
    assert_eq!(ids(&body), vec!["R_EARLY"]);

    let deadline = Instant::now() + Duration::from_secs(5);
    let seen = loop {
        let (_, _, body) = get(&fake, "/log_entries?time_zone=UTC", Some(TOKEN)).await;
        if ids(&body).len() == 2 {
            break body;
        }
        assert!(Instant::now() < deadline, "late entry never appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ids(&seen), vec!["R_LATE", "R_EARLY"]);
    assert!(Timestamp::now() >= now + SignedDuration::from_millis(300));
}

#[tokio::test]
async fn users_paginate() {
    let fake = FakePagerDuty::start(TOKEN).await;
    fake.add_users(synthetic_users());
    let (status, _, body) = get(&fake, "/users?limit=3&total=true", Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(body["users"].as_array().map(Vec::len), Some(3));
    assert_eq!(body["more"], true);
    assert_eq!(body["total"], 4);
    let (_, _, body) = get(&fake, "/users?limit=3&offset=3", Some(TOKEN)).await;
    assert_eq!(body["users"][0]["name"], "Barbara Liskov");
    assert_eq!(body["users"][0]["time_zone"], "America/Los_Angeles");
    assert_eq!(body["more"], false);
}

#[test]
fn start_blocking_serves_without_a_caller_runtime() {
    let fake = FakePagerDuty::start_blocking(TOKEN);
    fake.add_entries(vec![trigger(
        "R1",
        ts("2026-03-02T03:14:04Z"),
        &demo_incident(),
    )]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, _, body) = rt.block_on(get(&fake, "/log_entries?time_zone=UTC", Some(TOKEN)));
    assert_eq!(status, 200);
    assert_eq!(ids(&body), vec!["R1"]);
}

#[test]
fn synthetic_incidents_are_deterministic_and_match_their_counts() {
    let start = ts("2026-03-01T00:00:00Z");
    let (entries, counts) = synthetic_incidents(200, start, Duration::from_secs(900), 42);
    let (again, counts_again) = synthetic_incidents(200, start, Duration::from_secs(900), 42);
    assert_eq!(entries, again);
    assert_eq!(counts, counts_again);
    assert_eq!(counts.entries, entries.len());

    // Recount from the entries with the documented rules.
    let mut recount = ExpectedCounts {
        entries: entries.len(),
        ..ExpectedCounts::default()
    };
    let bump = |m: &mut BTreeMap<String, u64>, k: &str| *m.entry(k.to_string()).or_insert(0) += 1;
    for e in &entries {
        let users_of = |field: &str| -> Vec<String> {
            e[field]
                .as_array()
                .expect("assignees")
                .iter()
                .map(|u| u["summary"].as_str().expect("summary").to_string())
                .collect()
        };
        let agent_user = e["agent"]["type"] == "user_reference";
        let agent = e["agent"]["summary"].as_str().unwrap_or("");
        match e["type"].as_str().expect("type") {
            "trigger_log_entry" => {
                recount.incidents += 1;
                bump(
                    &mut recount.incidents_by_urgency,
                    e["incident"]["urgency"].as_str().expect("urgency"),
                );
                bump(
                    &mut recount.incidents_by_service,
                    e["service"]["summary"].as_str().expect("service"),
                );
            }
            "notify_log_entry" => {
                let key = (
                    e["user"]["summary"].as_str().expect("user").to_string(),
                    channel_bucket(
                        e["channel"]["notification"]["type"]
                            .as_str()
                            .expect("notification type"),
                    )
                    .to_string(),
                );
                *recount.notifications.entry(key).or_insert(0) += 1;
            }
            "assign_log_entry" => users_of("assignees")
                .iter()
                .for_each(|u| bump(&mut recount.assignments, u)),
            "escalate_log_entry" => users_of("assignees")
                .iter()
                .for_each(|u| bump(&mut recount.escalations, u)),
            "acknowledge_log_entry" if agent_user => bump(&mut recount.acks, agent),
            "resolve_log_entry" if agent_user => bump(&mut recount.resolves, agent),
            "acknowledge_log_entry" | "resolve_log_entry" => {}
            other => panic!("unexpected type {other}"),
        }
    }
    assert_eq!(recount, counts);
    assert_eq!(counts.incidents, 200);
    assert!(counts.escalations.values().sum::<u64>() > 0);
    assert!(counts.notifications.keys().any(|(_, c)| c == "push"));

    // The fake accepts them all (unique ids, valid timestamps).
    let fake = FakePagerDuty::start_blocking(TOKEN);
    fake.add_entries(entries);
}

#[test]
fn statsd_peer_reads_back_plain_and_tagged_counters() {
    let mut peer = StatsdPeer::start();
    peer.send("ptsd.selftest:3|c");
    peer.send("ptsd.tagged:2|c|#provider:pagerduty,user:ada");
    let expected: BTreeMap<String, f64> = [
        ("ptsd.selftest".to_string(), 3.0),
        ("ptsd.tagged;provider=pagerduty;user=ada".to_string(), 2.0),
    ]
    .into_iter()
    .collect();
    let got = peer.wait_for(&expected, Duration::from_secs(5));
    assert_eq!(got, expected);
    assert_eq!(peer.bad_lines(), 0.0);
    peer.send("not a statsd line");
    let deadline = Instant::now() + Duration::from_secs(5);
    while peer.bad_lines() < 1.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(peer.bad_lines(), 1.0);
    peer.stop();
}

#[test]
fn inspect_parser_handles_quoted_and_bare_keys() {
    let text = "{\n  'statsd.bad_lines_seen': 1,\n  'a.b;k=v': 3,\n  plainid: 1,\n  'neg': -2.5,\n  big: 1e+21 }\nEND\n\n";
    let got = parse_inspect_numbers(text);
    assert_eq!(got.get("statsd.bad_lines_seen"), Some(&1.0));
    assert_eq!(got.get("a.b;k=v"), Some(&3.0));
    assert_eq!(got.get("plainid"), Some(&1.0));
    assert_eq!(got.get("neg"), Some(&-2.5));
    assert_eq!(got.get("big"), Some(&1e21));
    assert_eq!(got.len(), 5);
}
