//! The Opsgenie fake's server: [`FakeOpsgenie`] (what tests start, fill and inspect), its
//! stored alerts and log rows, faults, authentication, routing and the Opsgenie reply envelope
//! (`took`, `requestId`, `X-RateLimit-*` headers). The three listings it routes to are in
//! [`super::endpoints`]; what it models and what is UNCONFIRMED is in [`super`].
//!
//! Why apart: the endpoints' paging and the search syntax are the hard cases a poller is tested
//! against; the server around them is plumbing.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::super::common::{Fake, Incoming, Parts, Reply};
use super::super::pagerduty::Fault;
use super::endpoints::{list_alerts, list_logs, list_users};
use super::logs::{og_match_log, OgLog};
use super::model::OgAlert;

/// `limit` of `/v2/alerts` and `/logs` when the request has none.
pub const OG_DEFAULT_LIMIT: u64 = 20;
/// Largest `limit` of `/v2/alerts` and `/logs`; above it the answer is 422.
pub const OG_MAX_LIMIT: u64 = 100;
/// `limit` of `/v2/users` when the request has none.
pub const OG_USERS_DEFAULT_LIMIT: u64 = 100;
/// `offset + limit` above this on `/v2/alerts` is answered with 422 ([`OG_CAP_MESSAGE`]).
pub const OG_MAX_OFFSET_PLUS_LIMIT: u64 = 20_000;
/// The `message` of the 422 past the cap. UNCONFIRMED: the cap is documented (Opsgenie's alert API,
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
    /// HTTP 404 with body `{"message":"Alert with id [..] does not exist", "took", "requestId"}`
    /// (an alert deleted, or out of the key's reach, while listings still show it).
    Status404,
    /// The normal answer, but with `X-RateLimit-State: THROTTLED`,
    /// `X-RateLimit-Reason: <domain>` and `X-RateLimit-Period-In-Sec: 2`: Opsgenie's rate-limit
    /// docs say over-limit requests are "rejected with 429 or delayed"; this is the served one
    /// that says the client is over its limit (UNCONFIRMED values). Recorded as no fault.
    Throttled,
}

impl OgFault {
    fn recorded(self) -> Option<Fault> {
        match self {
            OgFault::Status429 => Some(Fault::Status429 { reset_secs: 1 }),
            OgFault::Status500 => Some(Fault::Status500),
            OgFault::Truncated => Some(Fault::Truncated),
            OgFault::Status404 | OgFault::Throttled => None,
        }
    }
}

pub(super) struct StoredLog {
    /// `"<createdAtMillis:013>_<createdAtMillis * 10^6 + sequence:019>"`: sorts
    /// lexicographically in time order, then in insertion order.
    pub(super) offset: String,
    pub(super) log: OgLog,
    /// Served instead of the row's normal JSON (see [`FakeOpsgenie::add_raw_log`]).
    pub(super) raw: Option<Value>,
    /// What the row means to Opsgenie when its text is not one of [`super::OG_LOG_TEXTS`]
    /// (see [`FakeOpsgenie::add_log_meaning`]): an [`super::OgLogText::action`].
    pub(super) meaning: Option<&'static str>,
}

impl StoredLog {
    /// The [`super::OgLogText::action`] the row stands for, if any.
    pub(super) fn action(&self) -> Option<&'static str> {
        self.meaning
            .or_else(|| og_match_log(&self.log.log).map(|(text, _)| text.action))
    }
}

pub(super) struct StoredAlert {
    pub(super) alert: OgAlert,
    /// Sorted by `offset`.
    pub(super) logs: Vec<StoredLog>,
    /// Rows added so far (the sequence part of offsets).
    pub(super) seq: u64,
}

/// What the Opsgenie fake holds besides its calls (see [`Fake`]).
pub struct OpsgenieState {
    pub(super) api_key: String,
    /// `http://127.0.0.1:PORT`, for `paging` links.
    pub(super) base_url: String,
    pub(super) alerts: Vec<StoredAlert>,
    pub(super) by_id: HashMap<String, usize>,
    pub(super) users: Vec<Value>,
    pub(super) served: u64,
    /// Whether a notification row moves its alert's `updatedAt` (see
    /// [`FakeOpsgenie::set_notifications_move_updated_at`]).
    pub(super) notifications_move_updated_at: bool,
}

impl OpsgenieState {
    fn new(api_key: &str) -> OpsgenieState {
        OpsgenieState {
            api_key: api_key.to_string(),
            base_url: String::new(),
            alerts: Vec::new(),
            by_id: HashMap::new(),
            users: Vec::new(),
            served: 0,
            notifications_move_updated_at: true,
        }
    }
}

const NAME: &str = "fake Opsgenie";

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
/// way. (choice: Opsgenie's docs say `next` = "greater than the given offset", which is the same
/// for `order=asc`; for `desc` it would break the documented `order=desc&direction=next` links.)
/// Unknown alert → 404 "Alert does not exist".
///
/// **`GET /v2/users`**: `limit` (default 100, no maximum (choice)), `offset`; users in the order
/// added with `totalCount`; `sortField`, `order` and `query` are ignored (choice).
///
/// Every response has `X-RateLimit-State: OK` (`THROTTLED` on 429), `X-Request-ID` (= body
/// `requestId`) and `X-Response-Time`. Missing or wrong `Authorization: GenieKey <key>` → 401
/// "Could not authenticate"; unknown path or non-GET → 404.
///
/// `inject` queues an [`OgFault`]; `requests` returns what it received, `auth_valid` meaning
/// exactly `GenieKey <api_key>` and `accept_v2` always false (see [`Fake`]).
pub type FakeOpsgenie = Fake<OpsgenieState, OgFault>;

impl FakeOpsgenie {
    /// Starts the fake on the current tokio runtime, accepting `Authorization: GenieKey <api_key>`.
    pub async fn start(api_key: &str) -> FakeOpsgenie {
        Fake::launch(NAME, OpsgenieState::new(api_key), router)
            .await
            .with_base_url()
    }

    /// Starts the fake on its own single-threaded runtime in a background thread, for plain
    /// `#[test]`s (e.g. ones that run the daemon binary).
    pub fn start_blocking(api_key: &str) -> FakeOpsgenie {
        Fake::launch_blocking(NAME, OpsgenieState::new(api_key), router).with_base_url()
    }

    /// `paging` links need the base URL, known once the server is bound; no request can come
    /// before the caller has the URL, so setting it here is in time.
    fn with_base_url(self) -> FakeOpsgenie {
        self.state().base_url = self.url.clone();
        self
    }

    /// Starts the fake answered in this process at `https://{host}` (a `.invalid` host), for
    /// the simulation.
    pub fn start_in_process(api_key: &str, host: &str) -> FakeOpsgenie {
        Fake::launch_in_process(NAME, OpsgenieState::new(api_key), router, host).with_base_url()
    }

    /// Changes alert `id` (its status, owner) as Opsgenie would (panics if unknown).
    pub fn update_alert(&self, id: &str, change: impl FnOnce(&mut OgAlert)) {
        let mut s = self.state();
        let i = *s
            .by_id
            .get(id)
            .unwrap_or_else(|| panic!("fake Opsgenie: no alert {id}"));
        change(&mut s.alerts[i].alert);
    }

    /// Adds an alert (without log rows). Panics on a duplicate id.
    pub fn add_alert(&self, alert: OgAlert) {
        let mut inner = self.state();
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
        self.state().notifications_move_updated_at = moves;
    }

    /// Appends a log row to alert `alert_id` (panics if unknown) and moves the alert's `updatedAt`
    /// to the row's time if that is later (for a notification row, only if
    /// [`FakeOpsgenie::set_notifications_move_updated_at`] left that on). The row's `offset` cursor
    /// is derived from its `created_at` and the alert's row count, so a row added late with an old
    /// time sorts before cursors already handed out (as a late row would).
    pub fn add_log(&self, alert_id: &str, log: OgLog) {
        self.insert_log(alert_id, log, None, None);
    }

    /// Appends a row whose text is in a wording ptsd's rules may not know, but which means
    /// `action` (an [`super::OgLogText::action`]: `acked`, `closed`, `unacked`, …) to Opsgenie:
    /// the alert's derived fields (`acknowledged`, `report.*`) follow it as they follow the
    /// builders' texts. This is how a real account's unknown wording looks to a poller: the
    /// documented fields say what happened, the row text does not.
    pub fn add_log_meaning(&self, alert_id: &str, log: OgLog, action: &'static str) {
        self.insert_log(alert_id, log, None, Some(action));
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
        self.insert_log(alert_id, log, Some(raw), None);
    }

    fn insert_log(
        &self,
        alert_id: &str,
        log: OgLog,
        raw: Option<Value>,
        meaning: Option<&'static str>,
    ) {
        let notification = meaning.map_or_else(
            || og_match_log(&log.log).is_some_and(|(text, _)| text.action == "notified"),
            |m| m == "notified",
        );
        let mut inner = self.state();
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
        stored.logs.insert(
            pos,
            StoredLog {
                offset,
                log,
                raw,
                meaning,
            },
        );
    }

    /// [`FakeOpsgenie::add_alert`] then [`FakeOpsgenie::add_log`] for each row, for every item
    /// (e.g. the output of [`og_synthetic`]).
    pub fn add_alerts_with_logs(&self, items: Vec<(OgAlert, Vec<OgLog>)>) {
        let quiet = !self.state().notifications_move_updated_at;
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
        let inner = self.state();
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
        self.state().users.extend(users);
    }
}

fn router(parts: Parts<OpsgenieState, OgFault>) -> Router {
    Router::new().fallback(handle).with_state(parts)
}

/// An Opsgenie body: `body` plus `took` and `requestId`.
pub(super) fn og_json(status: StatusCode, mut body: Value, took: f64, request_id: &str) -> Reply {
    body["took"] = json!(took);
    body["requestId"] = json!(request_id);
    Reply::json(status, &body)
}

/// An Opsgenie error: `{"message", "took", "requestId"}`.
pub(super) fn og_error(status: StatusCode, message: &str, request_id: &str) -> Reply {
    og_json(status, json!({ "message": message }), 0.0, request_id)
}

/// 422 with `errors: {param: detail}`.
pub(super) fn og_unprocessable(param: &str, detail: &str, request_id: &str) -> Reply {
    og_json(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({ "message": OG_UNPROCESSABLE_MESSAGE, "errors": { param: detail } }),
        0.001,
        request_id,
    )
}

async fn handle(
    State(fake): State<Parts<OpsgenieState, OgFault>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let request = Incoming::new(method, &uri, &headers);

    let fault = fake.calls().take_fault(&request.path);
    let (auth_valid, request_id) = {
        let mut inner = fake.state();
        let expected = format!("GenieKey {}", inner.api_key);
        inner.served += 1;
        let request_id = format!("5a1b2c3d-0000-4000-8000-{:012x}", inner.served);
        (request.auth_is(&expected), request_id)
    };

    let mut reply = match fault {
        Some(OgFault::Status429) => {
            // UNCONFIRMED values: the header names are in the spec, these values are guesses.
            og_error(
                StatusCode::TOO_MANY_REQUESTS,
                OG_THROTTLED_MESSAGE,
                &request_id,
            )
            .with_headers(vec![
                ("X-RateLimit-State", "THROTTLED".to_string()),
                (
                    "X-RateLimit-Reason",
                    rate_limit_domain(&request.path).to_string(),
                ),
                ("X-RateLimit-Period-In-Sec", "1".to_string()),
            ])
        }
        Some(OgFault::Status500) => og_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            &request_id,
        ),
        Some(OgFault::Status404) => og_error(
            StatusCode::NOT_FOUND,
            "Alert with id [..] does not exist",
            &request_id,
        ),
        Some(OgFault::Throttled) => normal_reply(&fake.state(), &request, auth_valid, &request_id)
            .with_headers(vec![
                ("X-RateLimit-State", "THROTTLED".to_string()),
                (
                    "X-RateLimit-Reason",
                    rate_limit_domain(&request.path).to_string(),
                ),
                ("X-RateLimit-Period-In-Sec", "2".to_string()),
            ]),
        Some(OgFault::Truncated) | None => {
            let mut r = normal_reply(&fake.state(), &request, auth_valid, &request_id);
            if fault == Some(OgFault::Truncated) {
                r.truncate();
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

    let recorded = request.record(
        &reply,
        auth_valid,
        false,
        fault.and_then(OgFault::recorded),
        Instant::now(),
    );
    fake.calls().record(recorded);
    reply.into_response()
}

/// The rate-limit domain a path belongs to (Opsgenie's rate-limit docs: list alerts and list users are
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
    inner: &OpsgenieState,
    request: &Incoming,
    auth_valid: bool,
    request_id: &str,
) -> Reply {
    if !auth_valid {
        return og_error(
            StatusCode::UNAUTHORIZED,
            "Could not authenticate",
            request_id,
        );
    }
    let not_found = || {
        og_error(
            StatusCode::NOT_FOUND,
            "Could not find the requested resource", // (choice)
            request_id,
        )
    };
    if request.method != Method::GET {
        return not_found();
    }
    let query = &request.query;
    let path = request.path.trim_end_matches('/');
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
