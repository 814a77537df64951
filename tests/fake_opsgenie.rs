//! Self-tests of the fake Opsgenie server and its builders: the fake must behave like the real
//! API on the points an Opsgenie poller depends on (offset paging with `paging.next`, newest
//! first by default, the 20,000 `offset + limit` cap, `limit` ≤ 100, `createdAt`/`updatedAt`
//! terms in epoch milliseconds, the string `offset` cursor of alert logs in both directions and
//! orders, 401, 404, injected 429s), and the generator must be consistent with the counts it
//! promises. If these fail, the Opsgenie collector's integration tests cannot be trusted.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use support::*;

const KEY: &str = "eb243592-faa2-4ba2-a551q-1afdf565c889";

fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn plus_secs(t: Timestamp, secs: i64) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(secs))
        .expect("in range")
}

/// GET `path_and_query` (or a full URL) with the given key; returns status, headers and JSON.
async fn get(
    fake: &FakeOpsgenie,
    path_and_query: &str,
    key: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let url = if path_and_query.starts_with("http") {
        path_and_query.to_string()
    } else {
        format!("{}{}", fake.url, path_and_query)
    };
    let mut req = reqwest::Client::new().get(url);
    if let Some(k) = key {
        req = req.header("Authorization", format!("GenieKey {k}"));
    }
    let resp = req.send().await.expect("request to fake Opsgenie");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, headers, body)
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn data(body: &Value) -> &Vec<Value> {
    body["data"].as_array().expect("data array")
}

fn tiny_ids(body: &Value) -> Vec<String> {
    data(body)
        .iter()
        .map(|a| a["tinyId"].as_str().expect("tinyId").to_string())
        .collect()
}

fn log_texts(body: &Value) -> Vec<String> {
    data(body)
        .iter()
        .map(|r| r["log"].as_str().expect("log").to_string())
        .collect()
}

fn alert_n(n: u64, created_at: Timestamp) -> OgAlert {
    OgAlert::new(
        &format!("a0000000-0000-4000-8000-{n:012}"),
        &n.to_string(),
        &format!("alert {n}"),
        "P3",
        "Prometheus",
        created_at,
    )
}

/// `n` alerts, tiny ids 1..=n, created one minute apart from 2026-03-02T00:00:00Z, added in a
/// scrambled order.
fn fake_with_alerts(fake: &FakeOpsgenie, n: u64) {
    let base = ts("2026-03-02T00:00:00Z");
    let mut order: Vec<u64> = (1..=n).collect();
    order.sort_by_key(|i| (i * 37) % n.max(1));
    for i in order {
        fake.add_alert(alert_n(i, plus_secs(base, (i as i64 - 1) * 60)));
    }
}

#[tokio::test]
async fn alerts_page_newest_first_with_next_only_while_more() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake_with_alerts(&fake, 45);

    // Default limit 20, default order desc by createdAt.
    let (status, headers, body) = get(&fake, "/v2/alerts", Some(KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(data(&body).len(), 20);
    assert_eq!(tiny_ids(&body)[0], "45", "newest first");
    assert!(body.get("total").is_none() && body.get("totalCount").is_none());
    assert!(body["took"].is_number());
    assert_eq!(
        header(&headers, "X-Request-ID"),
        body["requestId"].as_str(),
        "header and body request ids agree"
    );
    assert_eq!(header(&headers, "X-RateLimit-State"), Some("OK"));

    // Follow paging.next to the end.
    let mut seen = tiny_ids(&body);
    let mut pages = vec![data(&body).len()];
    let mut next = body["paging"]["next"].as_str().map(str::to_string);
    assert_eq!(header(&headers, "X-Paging-Next"), next.as_deref());
    while let Some(url) = next {
        assert!(url.starts_with(&fake.url), "links point at the fake: {url}");
        let (status, _, body) = get(&fake, &url, Some(KEY)).await;
        assert_eq!(status, 200, "{body}");
        pages.push(data(&body).len());
        seen.extend(tiny_ids(&body));
        next = body["paging"]["next"].as_str().map(str::to_string);
        assert!(body["paging"]["first"].is_string());
    }
    assert_eq!(pages, vec![20, 20, 5]);
    let expected: Vec<String> = (1..=45).rev().map(|i| i.to_string()).collect();
    assert_eq!(seen, expected, "every alert once, strictly newest first");

    // An exact multiple: no `next` on the last full page.
    let (_, _, body) = get(&fake, "/v2/alerts?offset=25&limit=20", Some(KEY)).await;
    assert_eq!(data(&body).len(), 20);
    assert!(body["paging"]["next"].is_null(), "{body}");
    assert!(body["paging"]["prev"].is_string());

    // Ascending.
    let (_, _, body) = get(&fake, "/v2/alerts?order=asc&limit=3", Some(KEY)).await;
    assert_eq!(tiny_ids(&body), vec!["1", "2", "3"]);
    let next = body["paging"]["next"].as_str().expect("next");
    assert!(
        next.contains("offset=3") && next.contains("limit=3") && next.contains("order=asc"),
        "{next}"
    );
}

#[tokio::test]
async fn base_alert_shape() {
    let fake = FakeOpsgenie::start(KEY).await;
    let t0 = ts("2026-03-02T03:14:04.120Z");
    let mut alert = alert_n(1791, t0);
    alert.status = "closed".to_string();
    alert.owner = "ada@example.com".to_string();
    alert.priority = "P2".to_string();
    fake.add_alert(alert.clone());
    fake.add_log(&alert.id, og_log_created(t0));
    fake.add_log(
        &alert.id,
        og_log_acked(plus_secs(t0, 156), "ada@example.com"),
    );
    fake.add_log(
        &alert.id,
        og_log_closed(plus_secs(t0, 2287), "ada@example.com"),
    );

    let (_, _, body) = get(&fake, "/v2/alerts", Some(KEY)).await;
    let a = &data(&body)[0];
    for field in [
        "id",
        "tinyId",
        "alias",
        "message",
        "status",
        "acknowledged",
        "isSeen",
        "tags",
        "snoozed",
        "count",
        "lastOccurredAt",
        "createdAt",
        "updatedAt",
        "source",
        "owner",
        "priority",
        "responders",
        "integration",
        "report",
        "ownerTeamId",
    ] {
        assert!(a.get(field).is_some(), "BaseAlert has {field}: {a}");
    }
    assert_eq!(a["createdAt"], "2026-03-02T03:14:04.120Z");
    assert_eq!(
        a["updatedAt"], "2026-03-02T03:52:11.120Z",
        "updatedAt moved to the last row"
    );
    assert_eq!(a["priority"], "P2");
    assert_eq!(a["status"], "closed");
    assert_eq!(a["acknowledged"], true);
    assert_eq!(a["integration"]["name"], "Prometheus");
    assert_eq!(a["report"]["ackTime"], 156_000);
    assert_eq!(a["report"]["closeTime"], 2_287_000);
    assert_eq!(a["report"]["acknowledgedBy"], "ada@example.com");
    assert_eq!(a["report"]["closedBy"], "ada@example.com");
}

#[tokio::test]
async fn offset_plus_limit_over_20000_is_a_422() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake_with_alerts(&fake, 3);
    let (status, _, body) = get(&fake, "/v2/alerts?offset=19901&limit=100", Some(KEY)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["message"], OG_CAP_MESSAGE);
    assert!(body["requestId"].is_string());
    let (status, _, body) = get(&fake, "/v2/alerts?offset=19990", Some(KEY)).await;
    assert_eq!(status, 422, "default limit 20 counts too: {body}");

    let (status, _, body) = get(&fake, "/v2/alerts?offset=19900&limit=100", Some(KEY)).await;
    assert_eq!(status, 200, "exactly 20000 is allowed: {body}");
    assert!(data(&body).is_empty());
    assert!(body["paging"]["next"].is_null());
}

#[tokio::test]
async fn next_link_is_given_even_when_following_it_passes_the_cap() {
    let fake = FakeOpsgenie::start(KEY).await;
    let base = ts("2026-01-01T00:00:00Z");
    for i in 1..=20_050u64 {
        fake.add_alert(alert_n(i, plus_secs(base, i as i64)));
    }
    let (status, _, body) = get(&fake, "/v2/alerts?offset=19900&limit=100", Some(KEY)).await;
    assert_eq!(status, 200);
    assert_eq!(data(&body).len(), 100);
    let next = body["paging"]["next"].as_str().expect("more alerts exist");
    let (status, _, body) = get(&fake, next, Some(KEY)).await;
    assert_eq!(status, 422, "the trap: {body}");

    // The way out: a createdAt window.
    let q = format!(
        "/v2/alerts?query=createdAt%3C{}&limit=100",
        plus_secs(base, 101).as_millisecond()
    );
    let (status, _, body) = get(&fake, &q, Some(KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(data(&body).len(), 100);
    assert!(body["paging"]["next"].is_null());
}

#[tokio::test]
async fn limit_over_100_or_below_1_is_a_422() {
    let fake = FakeOpsgenie::start(KEY).await;
    let (status, _, body) = get(&fake, "/v2/alerts?limit=101", Some(KEY)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["message"], OG_UNPROCESSABLE_MESSAGE);
    assert_eq!(body["errors"]["limit"], "must be less than or equal to 100");
    let (status, _, body) = get(&fake, "/v2/alerts?limit=0", Some(KEY)).await;
    assert_eq!(status, 422, "{body}");
    let (status, _, _) = get(&fake, "/v2/alerts?limit=100", Some(KEY)).await;
    assert_eq!(status, 200);
    let (status, _, body) = get(&fake, "/v2/alerts?sort=tinyId", Some(KEY)).await;
    assert_eq!(status, 422, "unmodelled sort fields are refused: {body}");
    let (status, _, _) = get(&fake, "/v2/alerts?order=up", Some(KEY)).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn query_filters_on_created_and_updated_at_in_epoch_millis() {
    let fake = FakeOpsgenie::start(KEY).await;
    let t = ts("2026-03-02T03:00:00Z");
    let ms = t.as_millisecond();
    fake.add_alert(alert_n(1, plus_secs(t, -60)));
    fake.add_alert(alert_n(2, t));
    fake.add_alert(alert_n(3, plus_secs(t, 60)));
    // Alert 1 changes later: its updatedAt moves into the window.
    fake.add_log(
        &alert_n(1, t).id,
        og_log_acked(plus_secs(t, 600), "ada@example.com"),
    );

    let ask = |q: String| {
        let fake = &fake;
        async move {
            let url = format!("/v2/alerts?order=asc&query={}", urlencode(&q));
            let (status, _, body) = get(fake, &url, Some(KEY)).await;
            assert_eq!(status, 200, "{q}: {body}");
            tiny_ids(&body)
        }
    };
    assert_eq!(ask(format!("createdAt>={ms}")).await, vec!["2", "3"]);
    assert_eq!(ask(format!("createdAt>{ms}")).await, vec!["3"]);
    assert_eq!(ask(format!("createdAt<{ms}")).await, vec!["1"]);
    assert_eq!(ask(format!("createdAt<={ms}")).await, vec!["1", "2"]);
    // Millisecond precision: one ms later excludes alert 2.
    assert_eq!(ask(format!("createdAt>={}", ms + 1)).await, vec!["3"]);
    assert_eq!(
        ask(format!(
            "createdAt<{} AND updatedAt>={}",
            ms + 1,
            ms + 300_000
        ))
        .await,
        vec!["1"],
        "created before, changed after"
    );
    assert_eq!(
        ask("createdAt>=2026-03-02T03:00:00Z AND createdAt<2026-03-02T03:01:00.000Z".into()).await,
        vec!["2"],
        "ISO-8601 values"
    );
    // sort=updatedAt puts the late-changed alert last.
    let (_, _, body) = get(&fake, "/v2/alerts?sort=updatedAt&order=asc", Some(KEY)).await;
    assert_eq!(tiny_ids(&body), vec!["2", "3", "1"]);

    for bad in [
        "status:snoozed",
        "acknowledged:false",
        "createdAt=5",
        "createdAt>yesterday",
        "tag:x AND createdAt>1",
    ] {
        let url = format!("/v2/alerts?query={}", urlencode(bad));
        let (status, _, body) = get(&fake, &url, Some(KEY)).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(body["errors"]["query"].is_string());
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An alert with 25 rows "row 01".."row 25", one second apart.
fn fake_with_log_rows(fake: &FakeOpsgenie) -> String {
    let t0 = ts("2026-03-02T03:14:04.120Z");
    let alert = alert_n(7, t0);
    let id = alert.id.clone();
    fake.add_alert(alert);
    // Added out of order: the fake sorts by time.
    let mut order: Vec<i64> = (1..=25).collect();
    order.reverse();
    order.swap(3, 17);
    for i in order {
        fake.add_log(
            &id,
            OgLog {
                log: format!("row {i:02}"),
                kind: "system".into(),
                owner: "System".into(),
                created_at: plus_secs(t0, i),
            },
        );
    }
    id
}

fn rows(range: std::ops::RangeInclusive<u32>, rev: bool) -> Vec<String> {
    let mut v: Vec<String> = range.map(|i| format!("row {i:02}")).collect();
    if rev {
        v.reverse();
    }
    v
}

#[tokio::test]
async fn log_offsets_are_time_ordered_strings() {
    let fake = FakeOpsgenie::start(KEY).await;
    let id = fake_with_log_rows(&fake);
    let (status, _, body) = get(
        &fake,
        &format!("/v2/alerts/{id}/logs?order=asc&limit=100"),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let offsets: Vec<&str> = data(&body)
        .iter()
        .map(|r| r["offset"].as_str().expect("string offset"))
        .collect();
    assert_eq!(offsets.len(), 25);
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
    let (ms, seq) = offsets[0].split_once('_').expect("<millis>_<seq>");
    assert_eq!(
        ms,
        ts("2026-03-02T03:14:05.120Z").as_millisecond().to_string()
    );
    assert_eq!(seq.len(), 19);
    assert!(seq.starts_with(ms));
    let row = &data(&body)[0];
    assert_eq!(row["createdAt"], "2026-03-02T03:14:05.120Z");
    assert_eq!(row["type"], "system");
    assert_eq!(row["owner"], "System");
}

#[tokio::test]
async fn logs_page_with_string_offsets_in_both_directions_and_orders() {
    let fake = FakeOpsgenie::start(KEY).await;
    let id = fake_with_log_rows(&fake);
    let path = format!("/v2/alerts/{id}/logs");

    // Defaults: desc, next, limit 20.
    let (_, headers, body) = get(&fake, &path, Some(KEY)).await;
    assert_eq!(log_texts(&body), rows(6..=25, true));
    let next = body["paging"]["next"]
        .as_str()
        .expect("more rows")
        .to_string();
    assert_eq!(header(&headers, "X-Paging-Next"), Some(next.as_str()));
    let last_offset = data(&body)[19]["offset"].as_str().expect("offset");
    assert!(next.contains(&format!("offset={last_offset}")), "{next}");
    let (_, _, body) = get(&fake, &next, Some(KEY)).await;
    assert_eq!(
        log_texts(&body),
        rows(1..=5, true),
        "desc+next continues to older rows"
    );
    assert!(body["paging"]["next"].is_null());
    assert!(body["paging"]["first"].is_string());

    // asc + next, the collector's way, following paging.next.
    let mut url = format!("{path}?identifierType=id&order=asc&direction=next&limit=10");
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let (status, _, body) = get(&fake, &url, Some(KEY)).await;
        assert_eq!(status, 200, "{body}");
        all.extend(log_texts(&body));
        pages += 1;
        match body["paging"]["next"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(all, rows(1..=25, false));

    // Offset of row 10, to page around.
    let (_, _, body) = get(&fake, &format!("{path}?order=asc&limit=100"), Some(KEY)).await;
    let off10 = data(&body)[9]["offset"]
        .as_str()
        .expect("offset")
        .to_string();
    let q = |rest: &str| format!("{path}?offset={off10}&{rest}");

    let (_, _, body) = get(&fake, &q("order=asc&direction=next&limit=3"), Some(KEY)).await;
    assert_eq!(log_texts(&body), rows(11..=13, false));
    assert!(body["paging"]["next"].is_string());

    let (_, _, body) = get(&fake, &q("order=asc&direction=prev&limit=3"), Some(KEY)).await;
    assert_eq!(
        log_texts(&body),
        rows(7..=9, false),
        "asc+prev: just before, ascending"
    );
    let first = body["paging"]["first"].as_str().expect("first");
    assert!(
        first.contains("direction=next") && first.contains("limit=3") && !first.contains("offset="),
        "{first}"
    );
    let next = body["paging"]["next"].as_str().expect("rows 1..6 remain");
    assert!(next.contains("direction=prev"), "{next}");
    let (_, _, body) = get(&fake, next, Some(KEY)).await;
    assert_eq!(
        log_texts(&body),
        rows(4..=6, false),
        "prev keeps going back"
    );

    let (_, _, body) = get(&fake, &q("order=desc&direction=next&limit=3"), Some(KEY)).await;
    assert_eq!(log_texts(&body), rows(7..=9, true), "desc+next: older rows");

    let (_, _, body) = get(&fake, &q("order=desc&direction=prev&limit=3"), Some(KEY)).await;
    assert_eq!(
        log_texts(&body),
        rows(11..=13, true),
        "desc+prev: newer rows"
    );

    let (_, _, body) = get(&fake, &q("order=asc&direction=prev&limit=100"), Some(KEY)).await;
    assert_eq!(log_texts(&body), rows(1..=9, false));
    assert!(body["paging"]["next"].is_null(), "nothing more that way");

    // The last row as cursor: nothing after it.
    let (_, _, body) = get(&fake, &format!("{path}?order=asc&limit=100"), Some(KEY)).await;
    let off25 = data(&body)[24]["offset"]
        .as_str()
        .expect("offset")
        .to_string();
    let (status, _, body) = get(
        &fake,
        &format!("{path}?offset={off25}&order=asc&direction=next"),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 200);
    assert!(data(&body).is_empty());
    assert!(body["paging"]["next"].is_null());

    // Bad parameters.
    for bad in [
        "identifierType=tiny",
        "identifierType=alias",
        "limit=101",
        "limit=0",
        "direction=sideways",
        "order=random",
        "offset=not-an-offset",
    ] {
        let (status, _, body) = get(&fake, &format!("{path}?{bad}"), Some(KEY)).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
}

#[tokio::test]
async fn add_log_bumps_updated_at_only_forward() {
    let fake = FakeOpsgenie::start(KEY).await;
    let t0 = ts("2026-03-02T03:00:00Z");
    let alert = alert_n(1, t0);
    let id = alert.id.clone();
    fake.add_alert(alert);
    fake.add_log(&id, og_log_acked(plus_secs(t0, 100), "ada@example.com"));
    fake.add_log(&id, og_log_viewed(plus_secs(t0, 50), "ada@example.com"));
    let (_, _, body) = get(&fake, "/v2/alerts", Some(KEY)).await;
    assert_eq!(data(&body)[0]["updatedAt"], "2026-03-02T03:01:40.000Z");
    // The late-added older row sorts before the newer one.
    let (_, _, body) = get(&fake, &format!("/v2/alerts/{id}/logs?order=asc"), Some(KEY)).await;
    assert_eq!(
        log_texts(&body),
        vec!["Viewed on [web]", "Alert acknowledged via web"]
    );
    assert_eq!(data(&body)[0]["type"], "alertRecipient");
}

#[tokio::test]
async fn notification_rows_can_leave_updated_at_alone() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake.set_notifications_move_updated_at(false);
    let t0 = ts("2026-03-02T03:00:00Z");
    let alert = alert_n(1, t0);
    let id = alert.id.clone();
    fake.add_alert(alert);
    fake.add_log(&id, og_log_assigned(plus_secs(t0, 1), "ada@example.com"));
    fake.add_log(
        &id,
        og_log_notified(plus_secs(t0, 2), "ada@example.com", "SMS"),
    );
    fake.add_log(
        &id,
        og_log_notified(plus_secs(t0, 900), "ada@example.com", "Voice"),
    );
    let (_, _, body) = get(&fake, "/v2/alerts", Some(KEY)).await;
    assert_eq!(data(&body)[0]["updatedAt"], "2026-03-02T03:00:01.000Z");
    let (_, _, body) = get(&fake, &format!("/v2/alerts/{id}/logs"), Some(KEY)).await;
    assert_eq!(data(&body).len(), 3, "the rows are there all the same");
    // A state change still moves it.
    fake.add_log(&id, og_log_acked(plus_secs(t0, 1000), "ada@example.com"));
    let (_, _, body) = get(&fake, "/v2/alerts", Some(KEY)).await;
    assert_eq!(data(&body)[0]["updatedAt"], "2026-03-02T03:16:40.000Z");

    // Generated alerts start at their creation and move with their other rows only.
    let (items, _) = og_synthetic(
        20,
        plus_secs(t0, 86_400),
        std::time::Duration::from_secs(60),
        4,
    );
    fake.add_alerts_with_logs(items.clone());
    for (alert, logs) in &items {
        let last_other = logs
            .iter()
            .filter(|l| og_match_log(&l.log).is_none_or(|(t, _)| t.action != "notified"))
            .map(|l| l.created_at)
            .max()
            .unwrap_or(alert.created_at)
            .max(alert.created_at);
        let q = format!(
            "/v2/alerts?query=createdAt%3E%3D{0}%20AND%20createdAt%3C%3D{0}",
            alert.created_at.as_millisecond()
        );
        let (_, _, body) = get(&fake, &q, Some(KEY)).await;
        assert_eq!(data(&body).len(), 1);
        assert_eq!(
            data(&body)[0]["updatedAt"],
            og_time(last_other),
            "{}",
            alert.id
        );
    }
}

#[tokio::test]
async fn query_filters_on_status() {
    let fake = FakeOpsgenie::start(KEY).await;
    let t0 = ts("2026-03-02T03:00:00Z");
    for n in 1..=4 {
        let mut a = alert_n(n, plus_secs(t0, n as i64));
        if n % 2 == 0 {
            a.status = "closed".into();
        }
        fake.add_alert(a);
    }
    for (query, want) in [
        ("status:open", vec!["3", "1"]),
        ("status%3A%20open", vec!["3", "1"]),
        ("status%3Dclosed", vec!["4", "2"]),
        (
            &format!(
                "status:open%20AND%20createdAt%3E{}",
                plus_secs(t0, 1).as_millisecond()
            ),
            vec!["3"],
        ),
    ] {
        let (status, _, body) = get(&fake, &format!("/v2/alerts?query={query}"), Some(KEY)).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(tiny_ids(&body), want, "{query}");
    }
    let (status, _, _) = get(&fake, "/v2/alerts?query=status:snoozed", Some(KEY)).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn missing_or_wrong_key_is_401_and_unknown_alert_404() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake_with_alerts(&fake, 1);
    for key in [None, Some("wrong")] {
        let (status, headers, body) = get(&fake, "/v2/alerts", key).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["message"], "Could not authenticate");
        assert_eq!(body["took"], 0.0);
        assert!(body["requestId"].is_string());
        assert_eq!(header(&headers, "X-RateLimit-State"), Some("OK"));
        assert!(header(&headers, "X-Request-ID").is_some());
    }
    // `Token token=` (PagerDuty's scheme) is not accepted.
    let resp = reqwest::Client::new()
        .get(format!("{}/v2/alerts", fake.url))
        .header("Authorization", format!("Token token={KEY}"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 401);

    let (status, _, body) = get(
        &fake,
        "/v2/alerts/00000000-0000-0000-0000-000000000000/logs",
        Some(KEY),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["message"], "Alert does not exist");
    assert!(body["requestId"].is_string() && body["took"].is_number());

    let (status, _, _) = get(&fake, "/v1/incidents", Some(KEY)).await;
    assert_eq!(status, 404);

    let reqs = fake.requests();
    assert!(!reqs[0].auth_present && !reqs[0].auth_valid);
    assert!(reqs[1].auth_present && !reqs[1].auth_valid);
    assert!(reqs[3].auth_valid);
    assert_eq!(reqs[3].status, 404);
}

#[tokio::test]
async fn injected_faults_apply_once_in_order() {
    let fake = FakeOpsgenie::start(KEY).await;
    fake_with_alerts(&fake, 3);
    fake.inject("/v2/alerts", OgFault::Status429);
    fake.inject("/v2/users", OgFault::Status500);
    fake.inject("/v2/alerts", OgFault::Truncated);

    let (status, headers, body) = get(&fake, "/v2/alerts?limit=2", Some(KEY)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(header(&headers, "X-RateLimit-State"), Some("THROTTLED"));
    assert!(header(&headers, "X-RateLimit-Reason").is_some());
    assert_eq!(header(&headers, "X-RateLimit-Period-In-Sec"), Some("1"));
    assert_eq!(body["message"], OG_THROTTLED_MESSAGE);
    assert!(body["requestId"].is_string());

    let (status, _, body) = get(&fake, "/v2/users", Some(KEY)).await;
    assert_eq!(status, 500);
    assert_eq!(body["message"], "Internal Server Error");

    let resp = reqwest::Client::new()
        .get(format!("{}/v2/alerts", fake.url))
        .header("Authorization", format!("GenieKey {KEY}"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.expect("body");
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "truncated: {text}"
    );

    let (status, headers, _) = get(&fake, "/v2/alerts", Some(KEY)).await;
    assert_eq!(status, 200, "faults are used up");
    assert_eq!(header(&headers, "X-RateLimit-State"), Some("OK"));

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[0].fault, Some(Fault::Status429 { reset_secs: 1 }));
    assert_eq!(reqs[0].status, 429);
    assert_eq!(reqs[0].param("limit"), Some("2"));
    assert_eq!(reqs[1].fault, Some(Fault::Status500));
    assert_eq!(reqs[2].fault, Some(Fault::Truncated));
    assert_eq!(reqs[3].fault, None);
    fake.clear_requests();
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn users_paginate_with_total_count() {
    let fake = FakeOpsgenie::start(KEY).await;
    let users: Vec<Value> = (0..150)
        .map(|i| {
            og_user(
                &format!("u{i}"),
                &format!("user{i}@example.com"),
                &format!("User {i}"),
                if i % 2 == 0 { "Europe/Moscow" } else { "" },
            )
        })
        .collect();
    fake.add_users(users);
    let (status, _, body) = get(&fake, "/v2/users", Some(KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(data(&body).len(), 100, "default limit 100");
    assert_eq!(body["totalCount"], 150);
    assert_eq!(data(&body)[0]["username"], "user0@example.com");
    assert_eq!(data(&body)[0]["fullName"], "User 0");
    assert_eq!(data(&body)[0]["timeZone"], "Europe/Moscow");
    assert!(data(&body)[1].get("timeZone").is_none(), "unset zone");
    let next = body["paging"]["next"].as_str().expect("next");
    let (_, _, body) = get(&fake, next, Some(KEY)).await;
    assert_eq!(data(&body).len(), 50);
    assert!(body["paging"]["next"].is_null());
}

#[test]
fn start_blocking_serves_without_a_caller_runtime() {
    let fake = FakeOpsgenie::start_blocking(KEY);
    fake.add_users(og_synthetic_users());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, _, body) = rt.block_on(get(&fake, "/v2/users?limit=2", Some(KEY)));
    assert_eq!(status, 200);
    assert_eq!(data(&body).len(), 2);
    assert_eq!(body["totalCount"], 3);
    assert!(body["paging"]["next"]
        .as_str()
        .is_some_and(|u| u.starts_with(&fake.url)));
}

#[test]
fn log_builders_write_the_table_texts() {
    let at = ts("2026-03-02T03:14:07.500Z");
    let ada = "ada@example.com";
    let cases = [
        (
            og_log_created(at),
            "created",
            "Alert created via Prometheus",
            "System",
        ),
        (
            og_log_notified(at, ada, "SMS"),
            "notified",
            "Sent [SMS] notification to ada@example.com",
            ada,
        ),
        (og_log_viewed(at, ada), "viewed", "Viewed on [web]", ada),
        (
            og_log_assigned(at, ada),
            "assigned",
            "Alert owner changed to ada@example.com",
            "System",
        ),
        (
            og_log_escalated(at, "Platform_escalation", ada),
            "escalated",
            "Escalation [Platform_escalation] is triggered and notified ada@example.com",
            "System",
        ),
        (
            og_log_acked(at, ada),
            "acked",
            "Alert acknowledged via web",
            ada,
        ),
        (
            og_log_unacked(at, ada),
            "unacked",
            "Alert unacknowledged via web",
            ada,
        ),
        (
            og_log_acked_by_integration(at, "Datadog"),
            "acked_by_integration",
            "Alert acknowledged via Datadog",
            "Datadog",
        ),
        (
            og_log_closed(at, ada),
            "closed",
            "Alert closed via web",
            ada,
        ),
        (
            og_log_closed_by_integration(at),
            "closed_by_integration",
            "Alert closed via Prometheus",
            "Prometheus",
        ),
    ];
    for (log, action, text, owner) in cases {
        assert_eq!(log.log, text);
        assert_eq!(log.owner, owner, "{text}");
        assert_eq!(log.created_at, at);
        let (entry, _) = og_match_log(&log.log).expect("matches the table");
        assert_eq!(entry.action, action, "{text}");
        assert_eq!(entry.kind, log.kind);
    }
    let (_, values) =
        og_match_log("Sent [Voice] notification to grace@example.com").expect("match");
    assert_eq!(
        values,
        vec![
            ("method".to_string(), "Voice".to_string()),
            ("user".to_string(), "grace@example.com".to_string())
        ]
    );
    assert!(og_match_log("Alert snoozed until tomorrow").is_none());
    assert_eq!(og_channel("SMS"), "sms");
    assert_eq!(og_channel("Voice"), "phone");
    assert_eq!(og_channel("Email"), "email");
    assert_eq!(og_channel("Mobile"), "push");
    assert_eq!(og_channel("Slack"), "other");
}

/// Recounts what [`og_synthetic`] promises from the rows alone, through the text table and the
/// users' full names: an independent check of its bookkeeping.
fn recount(alerts: &[(OgAlert, Vec<OgLog>)], users: &[Value]) -> OgExpected {
    let full_name: BTreeMap<&str, &str> = users
        .iter()
        .map(|u| {
            (
                u["username"].as_str().expect("username"),
                u["fullName"].as_str().expect("fullName"),
            )
        })
        .collect();
    let person = |username: &str| full_name.get(username).map(|s| s.to_string());
    let mut c = OgExpected::default();
    let bump = |m: &mut BTreeMap<String, u64>, k: String| *m.entry(k).or_insert(0) += 1;
    for (alert, logs) in alerts {
        c.incidents += 1;
        bump(&mut c.incidents_by_priority, alert.priority.to_lowercase());
        bump(&mut c.incidents_by_service, alert.integration_name.clone());
        c.logs += logs.len();
        for row in logs {
            let (entry, values) = og_match_log(&row.log).expect("every row is in the table");
            let value = |name: &str| {
                values
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .expect("placeholder")
            };
            match entry.action {
                "notified" => {
                    let who = person(&value("user")).expect("notified user exists");
                    *c.notifications
                        .entry((who, og_channel(&value("method")).to_string()))
                        .or_insert(0) += 1;
                }
                "assigned" => bump(&mut c.assignments, person(&value("user")).expect("user")),
                "escalated" => bump(&mut c.escalations, person(&value("user")).expect("user")),
                "acked" => bump(&mut c.acks, person(&row.owner).expect("acker is a user")),
                "closed" => bump(
                    &mut c.resolves,
                    person(&row.owner).expect("closer is a user"),
                ),
                "acked_by_integration" | "closed_by_integration" => {
                    assert!(person(&row.owner).is_none(), "integration owner is no user")
                }
                _ => {}
            }
        }
        // An owner no assignment row names, who acknowledged or closed: the alert's `owner`
        // field is the only record of that assignment.
        let by_owner = |action: &str| {
            logs.iter().any(|r| {
                r.owner == alert.owner
                    && og_match_log(&r.log).is_some_and(|(t, _)| t.action == action)
            })
        };
        let assigned = logs.iter().any(|r| {
            og_match_log(&r.log).is_some_and(|(t, v)| {
                t.action == "assigned" && v.iter().any(|(_, u)| *u == alert.owner)
            })
        });
        if !alert.owner.is_empty() && !assigned && (by_owner("acked") || by_owner("closed")) {
            let owner = person(&alert.owner).expect("owner is a user");
            bump(&mut c.assignments, owner.clone());
            bump(&mut c.owners_by_ack, owner);
        }
    }
    c
}

#[test]
fn synthetic_alerts_are_deterministic_and_match_their_counts() {
    let start = ts("2026-03-02T00:00:00Z");
    let (alerts, expected) = og_synthetic(400, start, Duration::from_secs(600), 42);
    let (again, expected_again) = og_synthetic(400, start, Duration::from_secs(600), 42);
    assert_eq!(alerts, again, "same seed, same data");
    assert_eq!(expected, expected_again);
    let (other, _) = og_synthetic(400, start, Duration::from_secs(600), 43);
    assert_ne!(alerts, other, "another seed, other data");

    assert_eq!(recount(&alerts, &og_synthetic_users()), expected);
    assert_eq!(expected.incidents, 400);
    assert_eq!(expected.incidents_by_priority.len(), 5);
    assert!(expected
        .incidents_by_priority
        .keys()
        .all(|k| k.starts_with('p')));
    assert_eq!(expected.incidents_by_service.len(), 3);
    for ch in ["sms", "phone", "email", "push", "other"] {
        assert!(
            expected.notifications.keys().any(|(_, c)| c == ch),
            "channel {ch} appears"
        );
    }
    for map in [
        &expected.acks,
        &expected.assignments,
        &expected.escalations,
        &expected.resolves,
    ] {
        assert!(!map.is_empty());
    }
    let mut ids: Vec<&str> = alerts.iter().map(|(a, _)| a.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 400);
    for (i, (alert, logs)) in alerts.iter().enumerate() {
        assert_eq!(
            alert.created_at,
            plus_secs(start, i as i64 * 600),
            "one every spacing"
        );
        assert_eq!(logs[0].created_at, alert.created_at, "created row first");
        assert!(logs.windows(2).all(|w| w[0].created_at < w[1].created_at));
        assert_eq!(alert.updated_at, logs.last().expect("rows").created_at);
        let closed = logs.iter().any(|r| r.log.starts_with("Alert closed via"));
        assert_eq!(alert.status == "closed", closed);
        assert!(
            (alert.updated_at.as_millisecond() - alert.created_at.as_millisecond()) < 3 * 3_600_000
        );
    }
    // Some rows have an integration as owner and must not count.
    assert!(alerts
        .iter()
        .flat_map(|(_, l)| l)
        .any(|r| r.log == "Alert closed via Datadog" || r.log == "Alert closed via Prometheus"));
}

#[tokio::test]
async fn synthetic_alerts_served_through_the_fake_read_back_completely() {
    let fake = FakeOpsgenie::start(KEY).await;
    let start = ts("2026-03-02T00:00:00Z");
    let (alerts, expected) = og_synthetic(120, start, Duration::from_secs(300), 7);
    fake.add_alerts_with_logs(alerts);
    fake.add_users(og_synthetic_users());

    // Read everything back the way a poller would: alerts by createdAt ascending, logs asc+next.
    let mut read: Vec<(OgAlert, Vec<OgLog>)> = Vec::new();
    let mut url = "/v2/alerts?sort=createdAt&order=asc&limit=100".to_string();
    loop {
        let (status, _, body) = get(&fake, &url, Some(KEY)).await;
        assert_eq!(status, 200, "{body}");
        for a in data(&body) {
            let id = a["id"].as_str().expect("id").to_string();
            let mut logs = Vec::new();
            let mut log_url = format!("/v2/alerts/{id}/logs?order=asc&direction=next&limit=5");
            loop {
                let (status, _, page) = get(&fake, &log_url, Some(KEY)).await;
                assert_eq!(status, 200, "{page}");
                for r in data(&page) {
                    logs.push(OgLog {
                        log: r["log"].as_str().expect("log").into(),
                        kind: r["type"].as_str().expect("type").into(),
                        owner: r["owner"].as_str().expect("owner").into(),
                        created_at: ts(r["createdAt"].as_str().expect("createdAt")),
                    });
                }
                match page["paging"]["next"].as_str() {
                    Some(n) => log_url = n.to_string(),
                    None => break,
                }
            }
            let alert = OgAlert {
                id,
                tiny_id: a["tinyId"].as_str().expect("tinyId").into(),
                message: a["message"].as_str().expect("message").into(),
                priority: a["priority"].as_str().expect("priority").into(),
                integration_name: a["integration"]["name"].as_str().expect("name").into(),
                created_at: ts(a["createdAt"].as_str().expect("createdAt")),
                updated_at: ts(a["updatedAt"].as_str().expect("updatedAt")),
                status: a["status"].as_str().expect("status").into(),
                owner: a["owner"].as_str().expect("owner").into(),
            };
            read.push((alert, logs));
        }
        match body["paging"]["next"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    assert_eq!(read.len(), 120);
    let (_, _, users) = get(&fake, "/v2/users", Some(KEY)).await;
    assert_eq!(recount(&read, data(&users)), expected);
}
