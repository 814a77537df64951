//! An in-process fake of the Opsgenie REST API pieces a poller reads (`GET /v2/alerts`,
//! `GET /v2/alerts/{id}/logs`, `GET /v2/users`) on 127.0.0.1, plus builders for alerts, log rows
//! and users in their JSON shape, and a deterministic generator of alert lifecycles with the
//! counts a correct poller must emit for them ([`og_synthetic`]).
//!
//! Why a fake and not mocks: the poller's hard cases are properties of the real server — the
//! 20,000 `offset + limit` cap on alert listing (so windows must be cut with `createdAt` /
//! `updatedAt` terms in `query`, in epoch **milliseconds**), newest-first default order, the
//! opaque string `offset` cursor of alert logs, log `owner` being a username rather than a user
//! id, `limit` above 100 refused with 422, and 429s carrying `X-RateLimit-*` headers. This
//! server reproduces those as described in `/work/shared/api-notes.md` §9, §10 and trap 12, and
//! records every request (as the PagerDuty fake's [`RecordedRequest`]) so tests can assert what
//! the daemon asked for.
//!
//! What is **UNCONFIRMED** in the real API and chosen here (each marked "(choice)" or
//! "UNCONFIRMED" where it is implemented):
//! - every log row text and its `type` (only "Alert acknowledged via web" / `system` and
//!   "Viewed on [web]" / `alertRecipient` come from Opsgenie's doc samples): all texts the
//!   builders write are in one table, [`OG_LOG_TEXTS`], for a collector to mirror;
//! - the error returned past the 20,000 cap (422 with [`OG_CAP_MESSAGE`] here), the 429 body
//!   wording and the `X-RateLimit-State: THROTTLED` / `X-RateLimit-Reason` values;
//! - how `direction` combines with `order` on `/logs`: here `direction` is relative to the
//!   listing order (`next` continues in `order`, `prev` goes back), the only reading under which
//!   Opsgenie's documented `order=desc&direction=next` paging links work (see [`FakeOpsgenie`]);
//! - the search syntax: only `createdAt` / `updatedAt` comparisons and `status:open|closed`
//!   joined by ` AND ` are modelled; anything else in `query` is answered with 422 so that a
//!   test notices;
//! - whether a notification row moves its alert's `updatedAt`: by default it does (every row
//!   does); [`FakeOpsgenie::set_notifications_move_updated_at`] turns that off.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::IntoFuture;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use jiff::tz::TimeZone;
use jiff::{civil, SignedDuration, Timestamp};
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;

use super::fake_pagerduty::{parse_query, Fault, RecordedRequest};

/// `limit` of `/v2/alerts` and `/logs` when the request has none.
pub const OG_DEFAULT_LIMIT: u64 = 20;
/// Largest `limit` of `/v2/alerts` and `/logs`; above it the answer is 422.
pub const OG_MAX_LIMIT: u64 = 100;
/// `limit` of `/v2/users` when the request has none.
pub const OG_USERS_DEFAULT_LIMIT: u64 = 100;
/// `offset + limit` above this on `/v2/alerts` is answered with 422 ([`OG_CAP_MESSAGE`]).
pub const OG_MAX_OFFSET_PLUS_LIMIT: u64 = 20_000;
/// The `message` of the 422 past the cap. UNCONFIRMED: the cap is documented (api-notes §9,
/// [OG-20K]); the real status and wording past it are not.
pub const OG_CAP_MESSAGE: &str = "offset + limit should be lower than or equal to 20000";
/// The `message` of every 422 on a bad parameter (the `errors` map names the parameter).
pub const OG_UNPROCESSABLE_MESSAGE: &str =
    "Request body is not processable. Please check the errors.";
/// The `message` of a 429. UNCONFIRMED wording.
pub const OG_THROTTLED_MESSAGE: &str =
    "You are making too many requests! To avoid errors, we recommend you limit requests.";

/// A failure the next matching request gets instead of its normal answer (see
/// [`FakeOpsgenie::inject`]). Faults take precedence over authentication. Recorded in
/// [`RecordedRequest::fault`] as the PagerDuty fake's [`Fault`] of the same name
/// (`Status429` as `Fault::Status429 { reset_secs: 1 }`, matching `X-RateLimit-Period-In-Sec: 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OgFault {
    /// HTTP 429 with `X-RateLimit-State: THROTTLED`, `X-RateLimit-Reason: <domain>`,
    /// `X-RateLimit-Period-In-Sec: 1` and body `{"message": OG_THROTTLED_MESSAGE, …}`.
    /// No `Retry-After` (undocumented for Opsgenie).
    Status429,
    /// HTTP 500 with body `{"message":"Internal Server Error", "took", "requestId"}`.
    Status500,
    /// HTTP 200 whose body is the first half of the normal JSON body (invalid JSON).
    Truncated,
}

impl OgFault {
    fn recorded(self) -> Fault {
        match self {
            OgFault::Status429 => Fault::Status429 { reset_secs: 1 },
            OgFault::Status500 => Fault::Status500,
            OgFault::Truncated => Fault::Truncated,
        }
    }
}

/// An alert as the fake stores it. Rendered as Opsgenie's `BaseAlert` (see
/// [`FakeOpsgenie`] for the derived fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OgAlert {
    /// UUID-like alert id (`identifierType=id`).
    pub id: String,
    /// The short numeric id shown in the UI (`tinyId`).
    pub tiny_id: String,
    pub message: String,
    /// `"P1"`..`"P5"`.
    pub priority: String,
    /// `integration.name` (and `type`, and `source`).
    pub integration_name: String,
    pub created_at: Timestamp,
    /// Moved forward by [`FakeOpsgenie::add_log`] when a later row arrives (notification rows
    /// excepted in the mode [`FakeOpsgenie::set_notifications_move_updated_at`] `(false)`).
    pub updated_at: Timestamp,
    /// `"open"` or `"closed"`.
    pub status: String,
    /// Username of the owner, `""` for none.
    pub owner: String,
}

impl OgAlert {
    /// An open, unowned alert created (and last updated) at `created_at`.
    pub fn new(
        id: &str,
        tiny_id: &str,
        message: &str,
        priority: &str,
        integration_name: &str,
        created_at: Timestamp,
    ) -> OgAlert {
        OgAlert {
            id: id.to_string(),
            tiny_id: tiny_id.to_string(),
            message: message.to_string(),
            priority: priority.to_string(),
            integration_name: integration_name.to_string(),
            created_at,
            updated_at: created_at,
            status: "open".to_string(),
            owner: String::new(),
        }
    }
}

/// One row of an alert's activity log. Its `offset` cursor is assigned by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OgLog {
    /// Free text (`log`); see [`OG_LOG_TEXTS`].
    pub log: String,
    /// The row's `type`: `"system"`, `"alertRecipient"`, …
    pub kind: String,
    /// A username (e-mail), `"System"`, or an integration name.
    pub owner: String,
    pub created_at: Timestamp,
}

struct StoredLog {
    /// `"<createdAtMillis:013>_<createdAtMillis * 10^6 + sequence:019>"`: sorts
    /// lexicographically in time order, then in insertion order.
    offset: String,
    log: OgLog,
    /// Served instead of the row's normal JSON (see [`FakeOpsgenie::add_raw_log`]).
    raw: Option<Value>,
}

struct StoredAlert {
    alert: OgAlert,
    /// Sorted by `offset`.
    logs: Vec<StoredLog>,
    /// Rows added so far (the sequence part of offsets).
    seq: u64,
}

struct Inner {
    api_key: String,
    /// `http://127.0.0.1:PORT`, for `paging` links.
    base_url: String,
    alerts: Vec<StoredAlert>,
    by_id: HashMap<String, usize>,
    users: Vec<Value>,
    faults: VecDeque<(String, OgFault)>,
    requests: Vec<RecordedRequest>,
    served: u64,
    /// Whether a notification row moves its alert's `updatedAt` (see
    /// [`FakeOpsgenie::set_notifications_move_updated_at`]).
    notifications_move_updated_at: bool,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    // A panicking test thread must not turn every later request into a second panic.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The fake server. Dropping it stops the server.
///
/// **`GET /v2/alerts`**: `query` (terms `createdAt|updatedAt` `>=|>|<=|<` value and
/// `status:open|closed`, joined by ` AND `; value in epoch milliseconds or ISO-8601, a date-time
/// without offset read as UTC (choice); anything else → 422), `offset` (default 0), `limit` (1–100,
/// default 20, else 422), `offset + limit` > 20,000 → 422, `sort` (`createdAt` default,
/// `updatedAt`; others → 422), `order` (`desc` default, `asc`). Ties are broken by alert id in the
/// same order (choice). `paging` has `first` and `last` always, `next` only when more alerts match
/// (even when following it would pass the cap: the trap), `prev` when `offset > 0`; the same URLs
/// are sent as `X-Paging-*` headers. No `total`/`count` field.
///
/// Rendered `BaseAlert`: `acknowledged` is whether the latest ack/unack row is an ack;
/// `report.ackTime`/`acknowledgedBy` come from the first ack row, `closeTime`/`closedBy` from
/// the first close row of a closed alert (milliseconds since creation; unit UNCONFIRMED);
/// `isSeen` = any ack or "Viewed" row; `alias`, `source`, `integration.id`, `responders` and
/// `ownerTeamId` are derived from the id and integration name; `count` 1, `tags` [].
///
/// **`GET /v2/alerts/{id}/logs`**: `identifierType` (`id` only; others → 422), `offset` (a row's
/// cursor; malformed → 422), `direction` (`next` default, `prev`), `limit` (1–100, default 20),
/// `order` (`desc` default, `asc`). The rows are listed in `order`; `next` returns the `limit`
/// rows after the cursor in that listing (asc: greater offsets, desc: smaller), `prev` the
/// `limit` rows just before it (without a cursor: the end of the listing), always presented in
/// `order`. `paging.next` repeats the request with `offset` = the page's row farthest along
/// `direction` (the last row for `next`, the first for `prev`), only when more rows lie that
/// way. (choice: api-notes §9 says `next` = "greater than the given offset", which is the same
/// for `order=asc`; for `desc` it would break the documented `order=desc&direction=next` links.)
/// Unknown alert → 404 "Alert does not exist".
///
/// **`GET /v2/users`**: `limit` (default 100, no maximum (choice)), `offset`; users in the order
/// added with `totalCount`; `sortField`, `order` and `query` are ignored (choice).
///
/// Every response has `X-RateLimit-State: OK` (`THROTTLED` on 429), `X-Request-ID` (= body
/// `requestId`) and `X-Response-Time`. Missing or wrong `Authorization: GenieKey <key>` → 401
/// "Could not authenticate"; unknown path or non-GET → 404.
pub struct FakeOpsgenie {
    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
    shared: Shared,
    shutdown: Option<oneshot::Sender<()>>,
}

impl FakeOpsgenie {
    fn new_shared(api_key: &str) -> Shared {
        Arc::new(Mutex::new(Inner {
            api_key: api_key.to_string(),
            base_url: String::new(),
            alerts: Vec::new(),
            by_id: HashMap::new(),
            users: Vec::new(),
            faults: VecDeque::new(),
            requests: Vec::new(),
            served: 0,
            notifications_move_updated_at: true,
        }))
    }

    /// Starts the fake on the current tokio runtime, accepting `Authorization: GenieKey <api_key>`.
    pub async fn start(api_key: &str) -> FakeOpsgenie {
        let shared = Self::new_shared(api_key);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake Opsgenie: cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("fake Opsgenie: listener has no local address");
        let url = format!("http://{addr}");
        lock(&shared).base_url = url.clone();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(serve(listener, shared.clone(), rx));
        FakeOpsgenie {
            url,
            shared,
            shutdown: Some(tx),
        }
    }

    /// Starts the fake on its own single-threaded runtime in a background thread, for plain
    /// `#[test]`s (e.g. ones that run the daemon binary).
    pub fn start_blocking(api_key: &str) -> FakeOpsgenie {
        let shared = Self::new_shared(api_key);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (tx, rx) = oneshot::channel();
        let server_shared = shared.clone();
        std::thread::Builder::new()
            .name("fake-opsgenie".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake Opsgenie: cannot build a tokio runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("fake Opsgenie: cannot bind 127.0.0.1:0");
                    let addr = listener
                        .local_addr()
                        .expect("fake Opsgenie: listener has no local address");
                    lock(&server_shared).base_url = format!("http://{addr}");
                    if addr_tx.send(addr).is_err() {
                        return;
                    }
                    serve(listener, server_shared, rx).await;
                });
            })
            .expect("fake Opsgenie: cannot spawn server thread");
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("fake Opsgenie: server thread did not report its address within 10 s");
        FakeOpsgenie {
            url: format!("http://{addr}"),
            shared,
            shutdown: Some(tx),
        }
    }

    /// Adds an alert (without log rows). Panics on a duplicate id.
    pub fn add_alert(&self, alert: OgAlert) {
        let mut inner = lock(&self.shared);
        assert!(
            !inner.by_id.contains_key(&alert.id),
            "fake Opsgenie: duplicate alert id {}",
            alert.id
        );
        let idx = inner.alerts.len();
        inner.by_id.insert(alert.id.clone(), idx);
        inner.alerts.push(StoredAlert {
            alert,
            logs: Vec::new(),
            seq: 0,
        });
    }

    /// Chooses whether a notification row ("Sent [..] notification to ..") moves its alert's
    /// `updatedAt` (the default, `true`) or not. UNCONFIRMED which one Opsgenie does: state
    /// changes surely move it; a notification changes no field of the alert. With `false`,
    /// [`FakeOpsgenie::add_alerts_with_logs`] also starts each alert's `updatedAt` at its
    /// `createdAt`, so only its other rows move it.
    pub fn set_notifications_move_updated_at(&self, moves: bool) {
        lock(&self.shared).notifications_move_updated_at = moves;
    }

    /// Appends a log row to alert `alert_id` (panics if unknown) and moves the alert's `updatedAt`
    /// to the row's time if that is later (for a notification row, only if
    /// [`FakeOpsgenie::set_notifications_move_updated_at`] left that on). The row's `offset` cursor
    /// is derived from its `created_at` and the alert's row count, so a row added late with an old
    /// time sorts before cursors already handed out (as a late row would).
    pub fn add_log(&self, alert_id: &str, log: OgLog) {
        self.insert_log(alert_id, log, None);
    }

    /// Appends a row served as the JSON object `raw` (plus `"offset"` unless `raw` has that
    /// key), e.g. a malformed row; it sorts and moves `updatedAt` as a row created `at`.
    pub fn add_raw_log(&self, alert_id: &str, at: Timestamp, raw: Value) {
        let log = OgLog {
            log: raw["log"].as_str().unwrap_or("").to_string(),
            kind: raw["type"].as_str().unwrap_or("").to_string(),
            owner: raw["owner"].as_str().unwrap_or("").to_string(),
            created_at: at,
        };
        self.insert_log(alert_id, log, Some(raw));
    }

    fn insert_log(&self, alert_id: &str, log: OgLog, raw: Option<Value>) {
        let notification =
            og_match_log(&log.log).is_some_and(|(text, _)| text.action == "notified");
        let mut inner = lock(&self.shared);
        let moves = inner.notifications_move_updated_at || !notification;
        let idx = *inner
            .by_id
            .get(alert_id)
            .unwrap_or_else(|| panic!("fake Opsgenie: add_log to unknown alert {alert_id}"));
        let stored = &mut inner.alerts[idx];
        stored.seq += 1;
        let offset = log_offset(log.created_at, stored.seq);
        if moves && log.created_at > stored.alert.updated_at {
            stored.alert.updated_at = log.created_at;
        }
        let pos = stored.logs.partition_point(|r| r.offset < offset);
        stored.logs.insert(pos, StoredLog { offset, log, raw });
    }

    /// [`FakeOpsgenie::add_alert`] then [`FakeOpsgenie::add_log`] for each row, for every item
    /// (e.g. the output of [`og_synthetic`]).
    pub fn add_alerts_with_logs(&self, items: Vec<(OgAlert, Vec<OgLog>)>) {
        let quiet = !lock(&self.shared).notifications_move_updated_at;
        for (mut alert, logs) in items {
            if quiet {
                alert.updated_at = alert.created_at;
            }
            let id = alert.id.clone();
            self.add_alert(alert);
            for log in logs {
                self.add_log(&id, log);
            }
        }
    }

    /// The `offset` cursors of alert `alert_id`'s log rows, oldest first (panics if unknown).
    pub fn log_offsets(&self, alert_id: &str) -> Vec<String> {
        let inner = lock(&self.shared);
        let idx = *inner
            .by_id
            .get(alert_id)
            .unwrap_or_else(|| panic!("fake Opsgenie: log_offsets of unknown alert {alert_id}"));
        inner.alerts[idx]
            .logs
            .iter()
            .map(|r| r.offset.clone())
            .collect()
    }

    /// Adds user objects (see [`og_user`]) served by `GET /v2/users`, in the order added.
    pub fn add_users(&self, users: Vec<Value>) {
        lock(&self.shared).users.extend(users);
    }

    /// Queues `fault` for the next request whose path starts with `path_prefix`. Faults are
    /// consumed in the order queued; each applies to exactly one request.
    pub fn inject(&self, path_prefix: &str, fault: OgFault) {
        lock(&self.shared)
            .faults
            .push_back((path_prefix.to_string(), fault));
    }

    /// Every request received so far, in order of completion. `auth_valid` means exactly
    /// `GenieKey <api_key>`; `accept_v2` is always false (a PagerDuty notion).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared).requests.clone()
    }

    /// Forgets recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared).requests.clear();
    }
}

impl Drop for FakeOpsgenie {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, shared: Shared, stop: oneshot::Receiver<()>) {
    let app = Router::new().fallback(handle).with_state(shared);
    tokio::select! {
        res = axum::serve(listener, app).into_future() => {
            if let Err(e) = res {
                eprintln!("fake Opsgenie: server error: {e}");
            }
        }
        _ = stop => {}
    }
}

/// A response before it becomes an HTTP response: status, extra headers, JSON body bytes.
struct Reply {
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    /// `body` plus `took` and `requestId`.
    fn json(status: StatusCode, mut body: Value, took: f64, request_id: &str) -> Reply {
        body["took"] = json!(took);
        body["requestId"] = json!(request_id);
        Reply {
            status,
            headers: Vec::new(),
            body: serde_json::to_vec(&body).expect("serialising a serde_json::Value cannot fail"),
        }
    }

    fn error(status: StatusCode, message: &str, request_id: &str) -> Reply {
        Reply::json(status, json!({ "message": message }), 0.0, request_id)
    }

    /// 422 with `errors: {param: detail}`.
    fn unprocessable(param: &str, detail: &str, request_id: &str) -> Reply {
        Reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "message": OG_UNPROCESSABLE_MESSAGE, "errors": { param: detail } }),
            0.001,
            request_id,
        )
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_string();
    let raw_query = uri.query().unwrap_or("").to_string();
    let query = parse_query(&raw_query);
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("<non-ascii>").to_string());

    let (fault, auth_valid, request_id) = {
        let mut inner = lock(&shared);
        let pos = inner
            .faults
            .iter()
            .position(|(prefix, _)| path.starts_with(prefix.as_str()));
        let fault = pos.and_then(|p| inner.faults.remove(p)).map(|(_, f)| f);
        let expected = format!("GenieKey {}", inner.api_key);
        inner.served += 1;
        let request_id = format!("5a1b2c3d-0000-4000-8000-{:012x}", inner.served);
        (
            fault,
            auth.as_deref() == Some(expected.as_str()),
            request_id,
        )
    };

    let mut reply = match fault {
        Some(OgFault::Status429) => {
            let mut r = Reply::error(
                StatusCode::TOO_MANY_REQUESTS,
                OG_THROTTLED_MESSAGE,
                &request_id,
            );
            // UNCONFIRMED values: the header names are in the spec, these values are guesses.
            r.headers = vec![
                ("X-RateLimit-State", "THROTTLED".to_string()),
                ("X-RateLimit-Reason", rate_limit_domain(&path).to_string()),
                ("X-RateLimit-Period-In-Sec", "1".to_string()),
            ];
            r
        }
        Some(OgFault::Status500) => Reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            &request_id,
        ),
        Some(OgFault::Truncated) | None => {
            let mut r = {
                let inner = lock(&shared);
                normal_reply(&inner, &method, &path, &query, auth_valid, &request_id)
            };
            if fault == Some(OgFault::Truncated) {
                r.status = StatusCode::OK;
                r.body.truncate(r.body.len() / 2);
            }
            r
        }
    };
    if !reply
        .headers
        .iter()
        .any(|(name, _)| *name == "X-RateLimit-State")
    {
        reply.headers.push(("X-RateLimit-State", "OK".to_string()));
    }
    reply.headers.push(("X-Request-ID", request_id));
    reply.headers.push(("X-Response-Time", "0.010".to_string()));

    lock(&shared).requests.push(RecordedRequest {
        method: method.to_string(),
        path,
        raw_query,
        query,
        status: reply.status.as_u16(),
        auth_present: auth.is_some(),
        auth_valid,
        accept_v2: false,
        fault: fault.map(OgFault::recorded),
        received: std::time::Instant::now(),
    });

    let mut builder = Response::builder()
        .status(reply.status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8");
    for (name, value) in reply.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Body::from(reply.body))
        .expect("fake Opsgenie: response parts are valid")
}

/// The rate-limit domain a path belongs to (api-notes §10: list alerts and list users are
/// "Search"; other alert calls "Alert"). Used as `X-RateLimit-Reason` (UNCONFIRMED value).
fn rate_limit_domain(path: &str) -> &'static str {
    let path = path.trim_end_matches('/');
    if path == "/v2/alerts" || path == "/v2/users" {
        "SEARCH"
    } else if path.starts_with("/v2/alerts") {
        "ALERT"
    } else {
        "CONFIGURATION"
    }
}

fn normal_reply(
    inner: &Inner,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    auth_valid: bool,
    request_id: &str,
) -> Reply {
    if !auth_valid {
        return Reply::error(
            StatusCode::UNAUTHORIZED,
            "Could not authenticate",
            request_id,
        );
    }
    let not_found = || {
        Reply::error(
            StatusCode::NOT_FOUND,
            "Could not find the requested resource", // (choice)
            request_id,
        )
    };
    if method != Method::GET {
        return not_found();
    }
    let path = path.trim_end_matches('/');
    let result = match path {
        "/v2/alerts" => list_alerts(inner, query, request_id),
        "/v2/users" => list_users(inner, query, request_id),
        _ => match path
            .strip_prefix("/v2/alerts/")
            .and_then(|rest| rest.strip_suffix("/logs"))
        {
            Some(id) if !id.is_empty() && !id.contains('/') => {
                list_logs(inner, id, query, request_id)
            }
            _ => Ok(not_found()),
        },
    };
    result.unwrap_or_else(|r| r)
}

fn first<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `limit`: absent → `default`; must be an integer ≥ 1 and, with `max`, ≤ `max` (else 422).
fn limit_param(
    query: &[(String, String)],
    default: u64,
    max: Option<u64>,
    rid: &str,
) -> Result<u64, Reply> {
    let Some(raw) = first(query, "limit") else {
        return Ok(default);
    };
    let n: u64 = raw
        .parse()
        .map_err(|_| Reply::unprocessable("limit", "must be a positive integer", rid))?;
    if n < 1 {
        return Err(Reply::unprocessable(
            "limit",
            "must be greater than or equal to 1",
            rid,
        ));
    }
    if let Some(max) = max {
        if n > max {
            return Err(Reply::unprocessable(
                "limit",
                &format!("must be less than or equal to {max}"),
                rid,
            ));
        }
    }
    Ok(n)
}

/// Numeric `offset` (alerts, users): absent → 0; must be an integer ≥ 0 (else 422).
fn offset_param(query: &[(String, String)], rid: &str) -> Result<u64, Reply> {
    match first(query, "offset") {
        None => Ok(0),
        Some(raw) => raw
            .parse()
            .map_err(|_| Reply::unprocessable("offset", "must be greater than or equal to 0", rid)),
    }
}

/// `order`: absent → `desc`; `asc` or `desc` (else 422). True for descending.
fn desc_param(query: &[(String, String)], rid: &str) -> Result<bool, Reply> {
    match first(query, "order") {
        None | Some("desc") => Ok(true),
        Some("asc") => Ok(false),
        Some(_) => Err(Reply::unprocessable(
            "order",
            "must be one of [asc, desc]",
            rid,
        )),
    }
}

/// Percent-encodes a query component (everything but unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn link(base: &str, path: &str, params: &[(&str, String)]) -> String {
    let qs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("{base}{path}?{}", qs.join("&"))
}

/// Adds `paging` links to the reply body's headers as `X-Paging-<Name>`.
fn paging_headers(paging: &Map<String, Value>) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (key, header) in [
        ("first", "X-Paging-First"),
        ("prev", "X-Paging-Prev"),
        ("next", "X-Paging-Next"),
        ("last", "X-Paging-Last"),
    ] {
        if let Some(url) = paging.get(key).and_then(Value::as_str) {
            out.push((header, url.to_string()));
        }
    }
    out
}

/// Offset-paging links for a result of `count` items seen at `offset`/`limit`.
fn offset_paging(
    base: &str,
    path: &str,
    fixed: &[(&str, String)],
    offset: u64,
    limit: u64,
    count: u64,
    returned: u64,
) -> Map<String, Value> {
    let with = |o: u64| {
        let mut params: Vec<(&str, String)> = Vec::new();
        // Opsgenie's own links put `query` first, then offset, limit, sort, order.
        params.extend(fixed.iter().filter(|(k, _)| *k == "query").cloned());
        params.push(("offset", o.to_string()));
        params.push(("limit", limit.to_string()));
        params.extend(fixed.iter().filter(|(k, _)| *k != "query").cloned());
        json!(link(base, path, &params))
    };
    let mut paging = Map::new();
    paging.insert("first".into(), with(0));
    if offset > 0 {
        paging.insert("prev".into(), with(offset.saturating_sub(limit)));
    }
    if offset.saturating_add(returned) < count {
        paging.insert("next".into(), with(offset + limit));
    }
    let last = if count == 0 {
        0
    } else {
        (count - 1) / limit * limit
    };
    paging.insert("last".into(), with(last));
    paging
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
}

/// One term of the search syntax: `field op millis`, or `status:value`.
enum Term {
    Time { field: Field, op: Op, millis: i64 },
    Status(String),
}

impl Term {
    fn matches(&self, alert: &OgAlert) -> bool {
        let (field, op, millis) = match self {
            Term::Status(status) => return alert.status.eq_ignore_ascii_case(status),
            Term::Time { field, op, millis } => (*field, *op, *millis),
        };
        let v = match field {
            Field::CreatedAt => alert.created_at,
            Field::UpdatedAt => alert.updated_at,
        }
        .as_millisecond();
        match op {
            Op::Ge => v >= millis,
            Op::Gt => v > millis,
            Op::Le => v <= millis,
            Op::Lt => v < millis,
        }
    }
}

/// A search value: epoch milliseconds, or ISO-8601 (with offset, or without it read as UTC).
fn parse_search_value(raw: &str) -> Option<i64> {
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse().ok();
    }
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Some(ts.as_millisecond());
    }
    raw.parse::<civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(TimeZone::UTC).ok())
        .map(|z| z.timestamp().as_millisecond())
}

/// Parses the `query` subset: `createdAt|updatedAt` `>=|>|<=|<` value, and `status:open|closed`
/// (also `status: open`, `status=open`), joined by ` AND `.
fn parse_search(query: &str) -> Result<Vec<Term>, String> {
    let query = query.trim();
    if query.is_empty() {
        return Ok(Vec::new());
    }
    let mut terms = Vec::new();
    for raw in query.split(" AND ").flat_map(|part| part.split(" and ")) {
        let term = raw.trim();
        let unsupported = || {
            format!(
                "unsupported term {term:?}: this fake models only createdAt/updatedAt \
                 comparisons (>=, >, <=, <) and status:open|closed, joined by AND"
            )
        };
        if let Some(rest) = term.strip_prefix("status") {
            let value = rest
                .trim_start()
                .strip_prefix([':', '='])
                .map(str::trim)
                .filter(|v| ["open", "closed"].contains(v))
                .ok_or_else(unsupported)?;
            terms.push(Term::Status(value.to_string()));
            continue;
        }
        let (field, rest) = if let Some(rest) = term.strip_prefix("createdAt") {
            (Field::CreatedAt, rest.trim_start())
        } else if let Some(rest) = term.strip_prefix("updatedAt") {
            (Field::UpdatedAt, rest.trim_start())
        } else {
            return Err(unsupported());
        };
        let (op, value) = if let Some(v) = rest.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = rest.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = rest.strip_prefix('>') {
            (Op::Gt, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Op::Lt, v)
        } else {
            return Err(unsupported());
        };
        let millis = parse_search_value(value.trim())
            .ok_or_else(|| format!("invalid date {:?} in term {term:?}", value.trim()))?;
        terms.push(Term::Time { field, op, millis });
    }
    Ok(terms)
}

fn list_alerts(inner: &Inner, query: &[(String, String)], rid: &str) -> Result<Reply, Reply> {
    let limit = limit_param(query, OG_DEFAULT_LIMIT, Some(OG_MAX_LIMIT), rid)?;
    let offset = offset_param(query, rid)?;
    if offset.saturating_add(limit) > OG_MAX_OFFSET_PLUS_LIMIT {
        return Err(Reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "message": OG_CAP_MESSAGE }),
            0.001,
            rid,
        ));
    }
    let sort = first(query, "sort").unwrap_or("createdAt");
    let field = match sort {
        "createdAt" => Field::CreatedAt,
        "updatedAt" => Field::UpdatedAt,
        // Opsgenie supports more sort fields; a poller needs only these two (fake limitation).
        _ => {
            return Err(Reply::unprocessable(
                "sort",
                "this fake supports only createdAt and updatedAt",
                rid,
            ))
        }
    };
    let desc = desc_param(query, rid)?;
    let raw_search = first(query, "query").unwrap_or("");
    let terms = parse_search(raw_search).map_err(|detail| {
        Reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "message": "Invalid query", "errors": { "query": detail } }),
            0.001,
            rid,
        )
    })?;

    let mut hits: Vec<&StoredAlert> = inner
        .alerts
        .iter()
        .filter(|a| terms.iter().all(|t| t.matches(&a.alert)))
        .collect();
    let key = |a: &StoredAlert| match field {
        Field::CreatedAt => a.alert.created_at,
        Field::UpdatedAt => a.alert.updated_at,
    };
    hits.sort_by(|a, b| {
        key(a)
            .cmp(&key(b))
            .then_with(|| a.alert.id.cmp(&b.alert.id))
    });
    if desc {
        hits.reverse();
    }
    let count = hits.len() as u64;
    let start = offset.min(count) as usize;
    let end = offset.saturating_add(limit).min(count) as usize;
    let data: Vec<Value> = hits[start..end].iter().map(|a| render_alert(a)).collect();

    let mut fixed: Vec<(&str, String)> = Vec::new();
    if first(query, "query").is_some() {
        fixed.push(("query", raw_search.to_string()));
    }
    fixed.push(("sort", sort.to_string()));
    fixed.push(("order", if desc { "desc" } else { "asc" }.to_string()));
    let paging = offset_paging(
        &inner.base_url,
        "/v2/alerts",
        &fixed,
        offset,
        limit,
        count,
        data.len() as u64,
    );
    let headers = paging_headers(&paging);
    let mut reply = Reply::json(
        StatusCode::OK,
        json!({ "data": data, "paging": paging }),
        0.01,
        rid,
    );
    reply.headers = headers;
    Ok(reply)
}

fn list_users(inner: &Inner, query: &[(String, String)], rid: &str) -> Result<Reply, Reply> {
    let limit = limit_param(query, OG_USERS_DEFAULT_LIMIT, None, rid)?;
    let offset = offset_param(query, rid)?;
    let count = inner.users.len() as u64;
    let start = offset.min(count) as usize;
    let end = offset.saturating_add(limit).min(count) as usize;
    let data = inner.users[start..end].to_vec();
    let paging = offset_paging(
        &inner.base_url,
        "/v2/users",
        &[],
        offset,
        limit,
        count,
        data.len() as u64,
    );
    let headers = paging_headers(&paging);
    let mut reply = Reply::json(
        StatusCode::OK,
        json!({ "data": data, "totalCount": count, "paging": paging }),
        0.01,
        rid,
    );
    reply.headers = headers;
    Ok(reply)
}

/// A log cursor has the shape `<digits>_<digits>`.
fn is_log_offset(s: &str) -> bool {
    s.split_once('_').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

fn list_logs(
    inner: &Inner,
    alert_id: &str,
    query: &[(String, String)],
    rid: &str,
) -> Result<Reply, Reply> {
    match first(query, "identifierType") {
        None | Some("id") => {}
        // Opsgenie also accepts `alias` and `tiny`; a poller has ids (fake limitation).
        Some(_) => {
            return Err(Reply::unprocessable(
                "identifierType",
                "this fake supports only id",
                rid,
            ))
        }
    }
    let limit = limit_param(query, OG_DEFAULT_LIMIT, Some(OG_MAX_LIMIT), rid)?;
    let desc = desc_param(query, rid)?;
    let forward = match first(query, "direction") {
        None | Some("next") => true,
        Some("prev") => false,
        Some(_) => {
            return Err(Reply::unprocessable(
                "direction",
                "must be one of [next, prev]",
                rid,
            ))
        }
    };
    let cursor = match first(query, "offset") {
        None | Some("") => None,
        Some(c) if is_log_offset(c) => Some(c),
        Some(_) => return Err(Reply::unprocessable("offset", "is not a valid offset", rid)),
    };
    let Some(&idx) = inner.by_id.get(alert_id) else {
        return Err(Reply::error(
            StatusCode::NOT_FOUND,
            "Alert does not exist",
            rid,
        ));
    };
    let stored = &inner.alerts[idx];

    // The listing in `order`.
    let mut listing: Vec<&StoredLog> = stored.logs.iter().collect();
    if desc {
        listing.reverse();
    }
    // `a` comes after `b` in the listing.
    let after = |a: &str, b: &str| if desc { a < b } else { a > b };
    let limit = limit as usize;
    let (page, more): (Vec<&StoredLog>, bool) = if forward {
        let rest: Vec<&StoredLog> = match cursor {
            None => listing,
            Some(c) => listing
                .into_iter()
                .filter(|r| after(&r.offset, c))
                .collect(),
        };
        let more = rest.len() > limit;
        (rest.into_iter().take(limit).collect(), more)
    } else {
        let before: Vec<&StoredLog> = match cursor {
            None => listing,
            Some(c) => listing
                .into_iter()
                .filter(|r| after(c, &r.offset))
                .collect(),
        };
        let more = before.len() > limit;
        let skip = before.len().saturating_sub(limit);
        (before.into_iter().skip(skip).collect(), more)
    };

    let params = |offset: Option<&str>| {
        let mut p: Vec<(&str, String)> = vec![("identifierType", "id".to_string())];
        if let Some(o) = offset {
            p.push(("offset", o.to_string()));
        }
        p.push((
            "direction",
            if forward { "next" } else { "prev" }.to_string(),
        ));
        p.push(("limit", limit.to_string()));
        p.push(("order", if desc { "desc" } else { "asc" }.to_string()));
        p
    };
    let path = format!("/v2/alerts/{alert_id}/logs");
    let mut paging = Map::new();
    // `first`: the start of the listing, whatever the direction asked.
    let first_params: Vec<(&str, String)> = params(None)
        .into_iter()
        .map(|(k, v)| match k {
            "direction" => (k, "next".to_string()),
            _ => (k, v),
        })
        .collect();
    paging.insert(
        "first".into(),
        json!(link(&inner.base_url, &path, &first_params)),
    );
    if more {
        let edge = if forward { page.last() } else { page.first() };
        if let Some(edge) = edge {
            paging.insert(
                "next".into(),
                json!(link(&inner.base_url, &path, &params(Some(&edge.offset)))),
            );
        }
    }
    let data: Vec<Value> = page
        .iter()
        .map(|r| {
            if let Some(raw) = &r.raw {
                let mut row = raw.clone();
                if let Some(obj) = row.as_object_mut() {
                    obj.entry("offset").or_insert_with(|| json!(r.offset));
                }
                return row;
            }
            json!({
                "log": r.log.log,
                "type": r.log.kind,
                "owner": r.log.owner,
                "createdAt": og_time(r.log.created_at),
                "offset": r.offset,
            })
        })
        .collect();
    let headers = paging_headers(&paging);
    let mut reply = Reply::json(
        StatusCode::OK,
        json!({ "data": data, "paging": paging }),
        0.005,
        rid,
    );
    reply.headers = headers;
    Ok(reply)
}

/// An Opsgenie timestamp: ISO-8601 in UTC with milliseconds, e.g. `2026-03-02T03:14:04.120Z`.
pub fn og_time(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A log row's cursor: see [`StoredLog::offset`].
fn log_offset(at: Timestamp, seq: u64) -> String {
    let ms = at.as_millisecond();
    assert!(
        (0..10_000_000_000_000).contains(&ms),
        "fake Opsgenie: log time {at} outside 1970..2286"
    );
    let ms = ms as u64;
    format!("{ms:013}_{:019}", ms * 1_000_000 + seq % 1_000_000)
}

/// 32-bit FNV-1a: a stable short hash for ids derived from names.
fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// A UUID-shaped id derived from `kind` and `name`.
fn derived_id(kind: &str, name: &str) -> String {
    let h = fnv1a(&format!("{kind}:{name}"));
    format!(
        "{h:08x}-{:04x}-4000-8000-{:012x}",
        h >> 16,
        u64::from(h) * 7
    )
}

/// The `BaseAlert` JSON of a stored alert (derived fields: see [`FakeOpsgenie`]).
fn render_alert(stored: &StoredAlert) -> Value {
    let a = &stored.alert;
    let since_creation =
        |at: Timestamp| (at.as_millisecond() - a.created_at.as_millisecond()).max(0);
    let mut acknowledged = false;
    let mut seen = false;
    let mut report = Map::new();
    for row in &stored.logs {
        match og_match_log(&row.log.log).map(|(text, _)| text.action) {
            Some("acked" | "acked_by_integration") => {
                acknowledged = true;
                seen = true;
                if !report.contains_key("ackTime") {
                    report.insert("ackTime".into(), json!(since_creation(row.log.created_at)));
                    report.insert("acknowledgedBy".into(), json!(row.log.owner));
                }
            }
            Some("unacked") => acknowledged = false,
            Some("viewed") => seen = true,
            Some("closed" | "closed_by_integration")
                if a.status == "closed" && !report.contains_key("closeTime") =>
            {
                report.insert(
                    "closeTime".into(),
                    json!(since_creation(row.log.created_at)),
                );
                report.insert("closedBy".into(), json!(row.log.owner));
            }
            _ => {}
        }
    }
    let integration = &a.integration_name;
    let team_id = derived_id("team", integration);
    json!({
        "id": a.id,
        "tinyId": a.tiny_id,
        "alias": format!("{}-{}", integration.to_lowercase().replace(' ', "-"), a.tiny_id),
        "message": a.message,
        "status": a.status,
        "acknowledged": acknowledged,
        "isSeen": seen,
        "tags": [],
        "snoozed": false,
        "count": 1,
        "lastOccurredAt": og_time(a.created_at),
        "createdAt": og_time(a.created_at),
        "updatedAt": og_time(a.updated_at),
        "source": integration,
        "owner": a.owner,
        "priority": a.priority,
        "responders": [ { "type": "team", "id": team_id } ],
        "integration": {
            "id": derived_id("integration", integration),
            "name": integration,
            "type": integration,
        },
        "report": report,
        "ownerTeamId": team_id,
    })
}

/// A user object as `GET /v2/users` returns it. `time_zone` `""` leaves `timeZone` out (a real
/// case: the account zone applies).
pub fn og_user(id: &str, username: &str, full_name: &str, time_zone: &str) -> Value {
    let mut u = json!({
        "id": id,
        "username": username,
        "fullName": full_name,
        "role": { "id": "User", "name": "User" },
        "locale": "en_US",
        "userAddress": { "country": "", "state": "", "city": "", "line": "", "zipCode": "" },
        "tags": [],
        "details": {},
        "blocked": false,
        "verified": true,
        "createdAt": "2021-06-01T09:00:00.000Z",
    });
    if !time_zone.is_empty() {
        u["timeZone"] = json!(time_zone);
    }
    u
}

// ---------------------------------------------------------------------------------------------
// Log rows.

/// One kind of log row the builders write: its text template, `type` and `owner`.
/// Placeholders: `{user}` (a username), `{method}` (a notification method, see
/// [`OG_NOTIFICATION_METHODS`]), `{escalation}` (an escalation name), `{integration}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OgLogText {
    /// Name of the builder's action (`"acked"`, …).
    pub action: &'static str,
    /// The `log` text with placeholders.
    pub template: &'static str,
    /// The row's `type`.
    pub kind: &'static str,
    /// The row's `owner`: a placeholder or a literal.
    pub owner: &'static str,
}

/// Every log text the builders write — the patterns a collector should mirror.
///
/// UNCONFIRMED: only "Alert acknowledged via web" (type `system`, owner = the acker) and
/// "Viewed on [web]" (type `alertRecipient`) are Opsgenie doc samples; the other texts, their
/// `type` (all `system` here) and owners are plausible guesses to verify against a live account.
/// Order matters for [`og_match_log`]: a literal text comes before a template it also matches.
///
/// | action | `log` | `type` | `owner` | counts as |
/// |---|---|---|---|---|
/// | created | `Alert created via {integration}` | system | `System` | — (the alert is the incident) |
/// | notified | `Sent [{method}] notification to {user}` | system | `{user}` | notification of `{user}` |
/// | viewed | `Viewed on [web]` | alertRecipient | `{user}` | nothing |
/// | assigned | `Alert owner changed to {user}` | system | `System` | assignment of `{user}` |
/// | escalated | `Escalation [{escalation}] is triggered and notified {user}` | system | `System` | escalation to `{user}` |
/// | acked | `Alert acknowledged via web` | system | `{user}` | ack by the owner |
/// | unacked | `Alert unacknowledged via web` | system | `{user}` | nothing |
/// | acked_by_integration | `Alert acknowledged via {integration}` | system | `{integration}` | nothing (not a user) |
/// | closed | `Alert closed via web` | system | `{user}` | resolve by the owner |
/// | closed_by_integration | `Alert closed via {integration}` | system | `{integration}` | nothing (not a user) |
pub const OG_LOG_TEXTS: [OgLogText; 10] = [
    OgLogText {
        action: "created",
        template: "Alert created via {integration}",
        kind: "system",
        owner: "System",
    },
    OgLogText {
        action: "notified",
        template: "Sent [{method}] notification to {user}",
        kind: "system",
        owner: "{user}",
    },
    OgLogText {
        action: "viewed",
        template: "Viewed on [web]",
        kind: "alertRecipient",
        owner: "{user}",
    },
    OgLogText {
        action: "assigned",
        template: "Alert owner changed to {user}",
        kind: "system",
        owner: "System",
    },
    OgLogText {
        action: "escalated",
        template: "Escalation [{escalation}] is triggered and notified {user}",
        kind: "system",
        owner: "System",
    },
    OgLogText {
        action: "acked",
        template: "Alert acknowledged via web",
        kind: "system",
        owner: "{user}",
    },
    OgLogText {
        action: "unacked",
        template: "Alert unacknowledged via web",
        kind: "system",
        owner: "{user}",
    },
    OgLogText {
        action: "acked_by_integration",
        template: "Alert acknowledged via {integration}",
        kind: "system",
        owner: "{integration}",
    },
    OgLogText {
        action: "closed",
        template: "Alert closed via web",
        kind: "system",
        owner: "{user}",
    },
    OgLogText {
        action: "closed_by_integration",
        template: "Alert closed via {integration}",
        kind: "system",
        owner: "{integration}",
    },
];

/// Notification methods as written inside `Sent [..]` (UNCONFIRMED spellings).
pub const OG_NOTIFICATION_METHODS: [&str; 4] = ["SMS", "Voice", "Email", "Mobile"];

/// The channel bucket of a notification method: `SMS`→`sms`, `Voice`→`phone`, `Email`→`email`,
/// `Mobile` (or anything containing "push")→`push`, anything else→`other` (case-insensitive).
pub fn og_channel(method: &str) -> &'static str {
    let m = method.to_ascii_lowercase();
    match m.as_str() {
        "sms" => "sms",
        "voice" | "phone" => "phone",
        "email" => "email",
        "mobile" => "push",
        _ if m.contains("push") => "push",
        _ => "other",
    }
}

fn log_text(action: &str) -> &'static OgLogText {
    OG_LOG_TEXTS
        .iter()
        .find(|t| t.action == action)
        .unwrap_or_else(|| panic!("no log text for action {action}"))
}

/// Fills `{name}` placeholders of `template`.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

fn build_log(action: &str, at: Timestamp, values: &[(&str, &str)]) -> OgLog {
    let t = log_text(action);
    OgLog {
        log: fill(t.template, values),
        kind: t.kind.to_string(),
        owner: fill(t.owner, values),
        created_at: at,
    }
}

/// The [`OG_LOG_TEXTS`] entry `text` matches and the placeholder values it carries
/// (e.g. `[("method","SMS"),("user","ada@example.com")]`), first match in table order.
pub fn og_match_log(text: &str) -> Option<(&'static OgLogText, Vec<(String, String)>)> {
    OG_LOG_TEXTS
        .iter()
        .find_map(|t| match_template(t.template, text).map(|vals| (t, vals)))
}

fn match_template(template: &str, text: &str) -> Option<Vec<(String, String)>> {
    // Split into literal, name, literal, name, …, literal.
    let mut literals = Vec::new();
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}')? + open;
        literals.push(&rest[..open]);
        names.push(&rest[open + 1..close]);
        rest = &rest[close + 1..];
    }
    literals.push(rest);

    let mut remaining = text.strip_prefix(literals[0])?;
    let mut values = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let next = literals[i + 1];
        let value = if next.is_empty() && i + 1 == names.len() {
            std::mem::take(&mut remaining)
        } else {
            let at = remaining.find(next)?;
            let v = &remaining[..at];
            remaining = &remaining[at + next.len()..];
            v
        };
        if value.is_empty() {
            return None;
        }
        values.push((name.to_string(), value.to_string()));
    }
    (remaining.is_empty()).then_some(values)
}

/// "Alert created via Prometheus" (`system`, owner `System`).
pub fn og_log_created(at: Timestamp) -> OgLog {
    og_log_created_via(at, "Prometheus")
}

/// "Alert created via {integration}" (`system`, owner `System`).
pub fn og_log_created_via(at: Timestamp, integration: &str) -> OgLog {
    build_log("created", at, &[("integration", integration)])
}

/// "Sent [{method}] notification to {username}" (`system`, owner = `username`); `method` is one
/// of [`OG_NOTIFICATION_METHODS`] or any other string (which counts as `other`).
pub fn og_log_notified(at: Timestamp, username: &str, method: &str) -> OgLog {
    build_log("notified", at, &[("method", method), ("user", username)])
}

/// "Viewed on [web]" (`alertRecipient`, owner = `username`): counts as nothing.
pub fn og_log_viewed(at: Timestamp, username: &str) -> OgLog {
    build_log("viewed", at, &[("user", username)])
}

/// "Alert acknowledged via web" (`system`, owner = `username`).
pub fn og_log_acked(at: Timestamp, username: &str) -> OgLog {
    build_log("acked", at, &[("user", username)])
}

/// "Alert unacknowledged via web" (`system`, owner = `username`): counts as nothing.
pub fn og_log_unacked(at: Timestamp, username: &str) -> OgLog {
    build_log("unacked", at, &[("user", username)])
}

/// "Alert acknowledged via {integration}" (`system`, owner = `integration`): not a user's ack.
pub fn og_log_acked_by_integration(at: Timestamp, integration: &str) -> OgLog {
    build_log("acked_by_integration", at, &[("integration", integration)])
}

/// "Alert owner changed to {username}" (`system`, owner `System`).
pub fn og_log_assigned(at: Timestamp, username: &str) -> OgLog {
    build_log("assigned", at, &[("user", username)])
}

/// "Escalation [{escalation_name}] is triggered and notified {username}" (`system`, owner
/// `System`).
pub fn og_log_escalated(at: Timestamp, escalation_name: &str, username: &str) -> OgLog {
    build_log(
        "escalated",
        at,
        &[("escalation", escalation_name), ("user", username)],
    )
}

/// "Escalation [{escalation_name}] is triggered and notified a, b and c" (`system`, owner
/// `System`): one escalation notifying several users. UNCONFIRMED: how Opsgenie lists several
/// people in this text (here ", " and a final " and ").
pub fn og_log_escalated_to(at: Timestamp, escalation_name: &str, usernames: &[&str]) -> OgLog {
    let list = match usernames {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    build_log(
        "escalated",
        at,
        &[("escalation", escalation_name), ("user", &list)],
    )
}

/// "Alert closed via web" (`system`, owner = `username`).
pub fn og_log_closed(at: Timestamp, username: &str) -> OgLog {
    build_log("closed", at, &[("user", username)])
}

/// "Alert closed via Prometheus" (`system`, owner `Prometheus`): not a user's close.
pub fn og_log_closed_by_integration(at: Timestamp) -> OgLog {
    og_log_closed_via_integration(at, "Prometheus")
}

/// "Alert closed via {integration}" (`system`, owner = `integration`): not a user's close.
pub fn og_log_closed_via_integration(at: Timestamp, integration: &str) -> OgLog {
    build_log("closed_by_integration", at, &[("integration", integration)])
}

// ---------------------------------------------------------------------------------------------
// Synthetic data.

/// `(id, username, full_name, time_zone)` of the users [`og_synthetic`] draws from.
pub const OG_SYNTHETIC_USERS: [(&str, &str, &str, &str); 3] = [
    (
        "4f6a1c2e-0000-4000-8000-00000000ada1",
        "ada@example.com",
        "Ada Lovelace",
        "Europe/London",
    ),
    (
        "4f6a1c2e-0000-4000-8000-00000000c0b0",
        "grace@example.com",
        "Grace Hopper",
        "America/New_York",
    ),
    (
        "4f6a1c2e-0000-4000-8000-00000000d1e5",
        "edsger@example.com",
        "Edsger Dijkstra",
        "Europe/Amsterdam",
    ),
];

/// Integrations (= services) [`og_synthetic`] draws from.
pub const OG_SYNTHETIC_INTEGRATIONS: [&str; 3] = ["Prometheus", "Datadog", "CloudWatch"];

/// Escalation names [`og_synthetic`] draws from.
pub const OG_SYNTHETIC_ESCALATIONS: [&str; 2] = ["Platform_escalation", "Payments_escalation"];

const SYNTHETIC_MESSAGES: [&str; 5] = [
    "p99 latency high on checkout",
    "Disk usage above 90% on db-2",
    "Error rate above 5% on search",
    "Queue depth growing on billing",
    "Certificate expires in 7 days",
];

/// All [`OG_SYNTHETIC_USERS`] as `GET /v2/users` objects.
pub fn og_synthetic_users() -> Vec<Value> {
    OG_SYNTHETIC_USERS
        .iter()
        .map(|(id, username, full_name, tz)| og_user(id, username, full_name, tz))
        .collect()
}

/// What a correct poller must count for the alerts of [`og_synthetic`]. People are keyed by
/// **full name** (usernames in logs resolve through `/v2/users`); notification keys are
/// `(full_name, channel)` with channel in `sms|phone|email|push|other`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OgExpected {
    /// Number of alerts.
    pub incidents: u64,
    /// Number of log rows generated.
    pub logs: usize,
    /// By lowercase priority `p1`..`p5`.
    pub incidents_by_priority: BTreeMap<String, u64>,
    /// By integration name.
    pub incidents_by_service: BTreeMap<String, u64>,
    /// One per "Sent [..] notification to" row.
    pub notifications: BTreeMap<(String, String), u64>,
    /// One per "Alert acknowledged via web" row (integration acks excluded).
    pub acks: BTreeMap<String, u64>,
    /// One per "Alert owner changed to" row.
    pub assignments: BTreeMap<String, u64>,
    /// One per escalation row (each names one user).
    pub escalations: BTreeMap<String, u64>,
    /// One per "Alert closed via web" row (closes by an integration excluded).
    pub resolves: BTreeMap<String, u64>,
}

fn bump<K: Ord>(map: &mut BTreeMap<K, u64>, key: K) {
    *map.entry(key).or_insert(0) += 1;
}

/// splitmix64: a tiny deterministic PRNG so generated data depends only on the seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Row times of one alert: whole seconds after creation plus a random millisecond part, so
/// millisecond precision matters and rows stay strictly increasing.
struct Clock<'a> {
    t0: Timestamp,
    rng: &'a mut SplitMix64,
}

impl Clock<'_> {
    fn at(&mut self, secs: u64) -> Timestamp {
        let ms = secs as i64 * 1000 + self.rng.below(1000) as i64;
        self.t0
            .checked_add(SignedDuration::from_millis(ms))
            .expect("synthetic timestamp out of range")
    }
}

/// Generates `n_alerts` alert lifecycles, the first created at `start` and one every `spacing`:
/// created → owner set to a user (assignment) → 1–3 notifications of distinct channels (rarely
/// plus an unknown `Slack` method, counted as `other`) → sometimes "Viewed on [web]" → optional
/// escalation naming another user (+ their notifications) → optional ack by the current
/// responder (sometimes unacked and acked again: two acks) or by the integration → optional
/// close by a user (usually the responder) or by the integration. Each alert spans at most ~2 h;
/// `updated_at` is its last row's time and `status` is `closed` iff a close row exists.
///
/// Rows are chronological per alert; ids are unique per `(seed & 0xFFFF_FFFF, index)`.
pub fn og_synthetic(
    n_alerts: usize,
    start: Timestamp,
    spacing: Duration,
    seed: u64,
) -> (Vec<(OgAlert, Vec<OgLog>)>, OgExpected) {
    let mut rng = SplitMix64(seed);
    let tag = seed & 0xFFFF_FFFF;
    let spacing = SignedDuration::try_from(spacing).expect("spacing fits a SignedDuration");
    let users = &OG_SYNTHETIC_USERS;
    let mut out = Vec::with_capacity(n_alerts);
    let mut c = OgExpected::default();

    for i in 0..n_alerts {
        let t0 = spacing
            .checked_mul(i32::try_from(i).expect("n_alerts fits i32"))
            .and_then(|d| start.checked_add(d).ok())
            .expect("synthetic timestamp out of range");
        let integration =
            OG_SYNTHETIC_INTEGRATIONS[rng.below(OG_SYNTHETIC_INTEGRATIONS.len() as u64) as usize];
        let priority = match rng.below(100) {
            0..=9 => "P1",
            10..=29 => "P2",
            30..=69 => "P3",
            70..=89 => "P4",
            _ => "P5",
        };
        let message = SYNTHETIC_MESSAGES[rng.below(SYNTHETIC_MESSAGES.len() as u64) as usize];
        let mut alert = OgAlert::new(
            &format!("{tag:08x}-0000-4000-8000-{i:012x}"),
            &(i + 1).to_string(),
            message,
            priority,
            integration,
            t0,
        );
        c.incidents += 1;
        bump(&mut c.incidents_by_priority, priority.to_lowercase());
        bump(&mut c.incidents_by_service, integration.to_string());

        let mut rows = vec![og_log_created_via(t0, integration)];
        let mut clock = Clock { t0, rng: &mut rng };
        let primary = clock.rng.below(users.len() as u64) as usize;
        rows.push(og_log_assigned(clock.at(1), users[primary].1));
        bump(&mut c.assignments, users[primary].2.to_string());
        alert.owner = users[primary].1.to_string();

        let mut notify_round = |clock: &mut Clock, who: usize, from: u64, rows: &mut Vec<OgLog>| {
            let n = 1 + clock.rng.below(3) as usize;
            let mut methods: Vec<&str> = Vec::new();
            while methods.len() < n {
                let m = OG_NOTIFICATION_METHODS
                    [clock.rng.below(OG_NOTIFICATION_METHODS.len() as u64) as usize];
                if !methods.contains(&m) {
                    methods.push(m);
                }
            }
            if clock.rng.chance(5) {
                methods.push("Slack");
            }
            for (k, m) in methods.into_iter().enumerate() {
                rows.push(og_log_notified(clock.at(from + k as u64), users[who].1, m));
                bump(
                    &mut c.notifications,
                    (users[who].2.to_string(), og_channel(m).to_string()),
                );
            }
        };
        notify_round(&mut clock, primary, 2, &mut rows);
        if clock.rng.chance(40) {
            rows.push(og_log_viewed(clock.at(30), users[primary].1));
        }

        let mut responder = primary;
        let mut t = 60;
        if clock.rng.chance(30) {
            let esc =
                (primary + 1 + clock.rng.below(users.len() as u64 - 1) as usize) % users.len();
            let name = OG_SYNTHETIC_ESCALATIONS
                [clock.rng.below(OG_SYNTHETIC_ESCALATIONS.len() as u64) as usize];
            rows.push(og_log_escalated(clock.at(300), name, users[esc].1));
            bump(&mut c.escalations, users[esc].2.to_string());
            notify_round(&mut clock, esc, 301, &mut rows);
            responder = esc;
            t = 330;
        }

        if clock.rng.chance(85) {
            t += 10 + clock.rng.below(600);
            if clock.rng.chance(80) {
                let (_, username, full_name, _) = users[responder];
                rows.push(og_log_acked(clock.at(t), username));
                bump(&mut c.acks, full_name.to_string());
                alert.owner = username.to_string();
                if clock.rng.chance(10) {
                    rows.push(og_log_unacked(clock.at(t + 60), username));
                    rows.push(og_log_acked(clock.at(t + 120), username));
                    bump(&mut c.acks, full_name.to_string());
                    t += 120;
                }
            } else {
                rows.push(og_log_acked_by_integration(clock.at(t), integration));
            }
        }

        if clock.rng.chance(90) {
            t += 60 + clock.rng.below(3600);
            if clock.rng.chance(75) {
                let who = if clock.rng.chance(85) {
                    responder
                } else {
                    clock.rng.below(users.len() as u64) as usize
                };
                rows.push(og_log_closed(clock.at(t), users[who].1));
                bump(&mut c.resolves, users[who].2.to_string());
            } else {
                rows.push(og_log_closed_via_integration(clock.at(t), integration));
            }
            alert.status = "closed".to_string();
        }

        debug_assert!(rows.windows(2).all(|w| w[0].created_at < w[1].created_at));
        alert.updated_at = rows.last().map_or(t0, |r| r.created_at);
        c.logs += rows.len();
        out.push((alert, rows));
    }
    (out, c)
}
