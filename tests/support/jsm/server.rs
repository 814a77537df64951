//! The JSM fake's server: [`FakeJsm`] (what tests start, fill and inspect), its stored alerts,
//! activity rows and users, faults, basic authentication, routing and the error bodies. The
//! listings it routes to are in [`super::endpoints`]; what is documented and what is chosen is
//! in [`super`].

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use super::super::common::{Fake, Incoming, Parts, Reply};
use super::super::opsgenie::OgAlert;
use super::super::opsgenie::OgLog;
use super::super::pagerduty::Fault;
use super::endpoints::{bulk_users, list_alerts, list_logs};

/// `size` of a listing when the request has none (choice).
pub const JSM_DEFAULT_SIZE: u64 = 20;
/// Largest `size` of `/v1/alerts` and `/logs`; above it the answer is 400.
pub const JSM_MAX_SIZE: u64 = 100;
/// `offset + size` must be lower than this on `/v1/alerts` (documented: "Sum of offset and size
/// should be lower than 20K"); otherwise 400 with [`JSM_CAP_MESSAGE`].
pub const JSM_OFFSET_CAP: u64 = 20_000;
/// The message of the 400 past the cap (wording: choice).
pub const JSM_CAP_MESSAGE: &str = "Sum of offset and size should be lower than 20000";

/// A failure the next matching request gets instead of its answer ([`FakeJsm::inject`]),
/// recorded as the PagerDuty [`Fault`] of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsmFault {
    /// HTTP 429 with `Retry-After: 1` and `{"code":429,"message":"Too Many Requests"}`.
    Status429,
    /// HTTP 500 with `{"code":500,"message":"Internal Server Error"}`.
    Status500,
    /// HTTP 200 whose body is the first half of the normal one (invalid JSON).
    Truncated,
    /// HTTP 404 with `{"code":404,"message":"Alert not found"}` (an alert deleted, or out of
    /// the account's reach, while listings still show it).
    Status404,
}

impl JsmFault {
    fn recorded(self) -> Option<Fault> {
        match self {
            JsmFault::Status429 => Some(Fault::Status429 { reset_secs: 1 }),
            JsmFault::Status500 => Some(Fault::Status500),
            JsmFault::Truncated => Some(Fault::Truncated),
            JsmFault::Status404 => None,
        }
    }
}

/// How the activity log pages, the one fact the docs leave most open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogPaging {
    /// Rows carry `offset` and `type`; `links.next` is a relative URL with `after=<last key>`
    /// (the default).
    Link,
    /// Rows carry their key as `id` and their type as `logType`; there is no `links` object at
    /// all: a full page means "ask again with `after` = the last row's `id`".
    RowKey,
}

pub(super) struct StoredRow {
    /// `"<createdAt ms:013>_<sequence:06>"`: sorts in time order, then insertion order.
    pub(super) key: String,
    pub(super) log: OgLog,
    /// Served as it is instead of the row's JSON (see [`FakeJsm::add_raw_log`]).
    pub(super) raw: Option<Value>,
}

pub(super) struct StoredAlert {
    pub(super) alert: OgAlert,
    /// Sorted by key.
    pub(super) rows: Vec<StoredRow>,
    seq: u64,
}

/// What the JSM fake holds besides its calls.
pub struct JsmState {
    pub(super) cloud_id: String,
    /// `Basic base64(email:token)`.
    expected_auth: String,
    pub(super) alerts: Vec<StoredAlert>,
    pub(super) by_id: HashMap<String, usize>,
    /// Jira users (see [`jsm_user`](super::jsm_user)), by `accountId`.
    pub(super) users: Vec<Value>,
    pub(super) log_paging: LogPaging,
    /// The gateway's user API refuses the token (as it does a classic token); the site's serves it.
    pub(super) gateway_refuses_users: bool,
    /// Whether alert pages carry `links` (else only `count` says that more remain).
    pub(super) alert_links: bool,
    /// Whether alerts carry Opsgenie's `report` object (the documented sample shows none).
    pub(super) serve_report: bool,
}

/// Standard base64 with padding (RFC 4648), written here so that the fake checks the header
/// independently of the collector's encoder.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= c.len() {
                ABC[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

const NAME: &str = "fake JSM";

/// The fake server: JSM Operations' alert API under `/jsm/ops/api/{cloudId}/v1/…` and Jira's
/// bulk user API both through the gateway (`/ex/jira/{cloudId}/rest/api/3/user/bulk`) and on
/// the "site" (`/rest/api/3/user/bulk`, the same server standing in for
/// `https://<site>.atlassian.net`). See [`super`] for every endpoint's behaviour.
pub type FakeJsm = Fake<JsmState, JsmFault>;

impl FakeJsm {
    /// Starts the fake on the current tokio runtime for `cloud_id`, accepting basic auth with
    /// `email` and `token`.
    pub fn start_in_process(cloud_id: &str, email: &str, token: &str, host: &str) -> FakeJsm {
        Fake::launch_in_process(NAME, JsmState::new(cloud_id, email, token), router, host)
    }

    /// Changes alert `id` (its status, owner) as the provider would (panics if unknown).
    pub fn update_alert(&self, id: &str, change: impl FnOnce(&mut OgAlert)) {
        let mut s = self.state();
        let i = *s
            .by_id
            .get(id)
            .unwrap_or_else(|| panic!("fake JSM: no alert {id}"));
        change(&mut s.alerts[i].alert);
    }

    pub async fn start(cloud_id: &str, email: &str, token: &str) -> FakeJsm {
        Fake::launch(NAME, JsmState::new(cloud_id, email, token), router).await
    }

    /// The same, on its own runtime in a background thread (for tests that run the binary).
    pub fn start_blocking(cloud_id: &str, email: &str, token: &str) -> FakeJsm {
        Fake::launch_blocking(NAME, JsmState::new(cloud_id, email, token), router)
    }

    /// Adds an alert without rows. Panics on a duplicate id.
    pub fn add_alert(&self, alert: OgAlert) {
        let mut s = self.state();
        assert!(
            !s.by_id.contains_key(&alert.id),
            "fake JSM: duplicate alert {}",
            alert.id
        );
        let i = s.alerts.len();
        s.by_id.insert(alert.id.clone(), i);
        s.alerts.push(StoredAlert {
            alert,
            rows: Vec::new(),
            seq: 0,
        });
    }

    /// Adds an activity row to `alert_id` (panics if unknown) and moves the alert's `updatedAt`
    /// to the row's time if later. A row added late with an old time sorts before keys already
    /// handed out, as a late row would.
    pub fn add_log(&self, alert_id: &str, log: OgLog) {
        self.insert(alert_id, log, None);
    }

    /// Adds a row served exactly as `raw` (no key added: a row without one is malformed), stored
    /// and paged as a row created `at`.
    pub fn add_raw_log(&self, alert_id: &str, at: jiff::Timestamp, raw: Value) {
        let log = OgLog {
            log: String::new(),
            kind: String::new(),
            owner: String::new(),
            created_at: at,
        };
        self.insert(alert_id, log, Some(raw));
    }

    fn insert(&self, alert_id: &str, log: OgLog, raw: Option<Value>) {
        let mut s = self.state();
        let i = *s
            .by_id
            .get(alert_id)
            .unwrap_or_else(|| panic!("fake JSM: add_log to unknown alert {alert_id}"));
        let stored = &mut s.alerts[i];
        stored.seq += 1;
        let ms = log.created_at.as_millisecond();
        assert!(ms >= 0, "fake JSM: row before 1970");
        let key = format!("{ms:013}_{:06}", stored.seq);
        if log.created_at > stored.alert.updated_at {
            stored.alert.updated_at = log.created_at;
        }
        let pos = stored.rows.partition_point(|r| r.key < key);
        stored.rows.insert(pos, StoredRow { key, log, raw });
    }

    /// [`FakeJsm::add_alert`] and [`FakeJsm::add_log`] for every item.
    pub fn add_alerts_with_logs(&self, items: Vec<(OgAlert, Vec<OgLog>)>) {
        for (alert, logs) in items {
            let id = alert.id.clone();
            self.add_alert(alert);
            for log in logs {
                self.add_log(&id, log);
            }
        }
    }

    /// The row keys of `alert_id`, oldest first.
    pub fn log_keys(&self, alert_id: &str) -> Vec<String> {
        let s = self.state();
        s.alerts[s.by_id[alert_id]]
            .rows
            .iter()
            .map(|r| r.key.clone())
            .collect()
    }

    /// Adds Jira users served by the bulk user API.
    pub fn add_users(&self, users: Vec<Value>) {
        self.state().users.extend(users);
    }

    /// Chooses how the activity log pages ([`LogPaging`]).
    pub fn set_log_paging(&self, paging: LogPaging) {
        self.state().log_paging = paging;
    }

    /// Whether alerts carry a `report` ([`FakeJsm::set_serve_report`]).
    pub fn serves_report(&self) -> bool {
        self.state().serve_report
    }

    /// The ids of the alerts added, in the order added.
    pub fn alert_ids(&self) -> Vec<String> {
        self.state()
            .alerts
            .iter()
            .map(|a| a.alert.id.clone())
            .collect()
    }

    /// Serves each alert with Opsgenie's `report` (`ackTime`, `acknowledgedBy`, `closeTime`,
    /// `closedBy`, from its rows): the other reading of JSM's alert object, whose documented
    /// sample has none.
    pub fn set_serve_report(&self, report: bool) {
        self.state().serve_report = report;
    }

    /// Leaves `links` out of alert pages, so that only `count` says that more remain (the other
    /// reading of the envelope).
    pub fn set_alert_links(&self, links: bool) {
        self.state().alert_links = links;
    }

    /// Makes the gateway's user API refuse the token with 401 (only the site answers).
    pub fn set_gateway_refuses_users(&self, refuses: bool) {
        self.state().gateway_refuses_users = refuses;
    }
}

impl JsmState {
    fn new(cloud_id: &str, email: &str, token: &str) -> JsmState {
        JsmState {
            cloud_id: cloud_id.to_string(),
            expected_auth: format!("Basic {}", base64(format!("{email}:{token}").as_bytes())),
            alerts: Vec::new(),
            by_id: HashMap::new(),
            users: Vec::new(),
            log_paging: LogPaging::Link,
            gateway_refuses_users: false,
            alert_links: true,
            serve_report: false,
        }
    }
}

fn router(parts: Parts<JsmState, JsmFault>) -> Router {
    Router::new().fallback(handle).with_state(parts)
}

/// An Atlassian gateway error body: `{"code": status, "message": …}`.
pub(super) fn error(status: StatusCode, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({ "code": status.as_u16(), "message": message }),
    )
}

async fn handle(
    State(fake): State<Parts<JsmState, JsmFault>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let request = Incoming::new(method, &uri, &headers);
    let fault = fake.calls().take_fault(&request.path);
    let auth_valid = request.auth_is(&fake.state().expected_auth);
    let mut reply = match fault {
        Some(JsmFault::Status429) => error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
            .with_headers(vec![("Retry-After", "1".to_string())]),
        Some(JsmFault::Status500) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        Some(JsmFault::Status404) => error(StatusCode::NOT_FOUND, "Alert not found"),
        Some(JsmFault::Truncated) | None => {
            let mut r = route(&fake.state(), &request, auth_valid);
            if fault.is_some() {
                r.truncate();
            }
            r
        }
    };
    reply.headers.push((
        "X-Request-Id",
        format!("{:016x}", Instant::now().elapsed().as_nanos()),
    ));
    let recorded = request.record(
        &reply,
        auth_valid,
        false,
        fault.and_then(JsmFault::recorded),
        Instant::now(),
    );
    fake.calls().record(recorded);
    reply.into_response()
}

fn route(state: &JsmState, request: &Incoming, auth_valid: bool) -> Reply {
    if !auth_valid {
        return error(
            StatusCode::UNAUTHORIZED,
            "Client must be authenticated to access this resource.",
        );
    }
    let not_found = || error(StatusCode::NOT_FOUND, "Not Found");
    if request.method != Method::GET {
        return not_found();
    }
    let path = request.path.trim_end_matches('/');
    let q = &request.query;
    if path == "/rest/api/3/user/bulk" {
        return bulk_users(state, q);
    }
    if let Some(rest) = path.strip_prefix("/ex/jira/") {
        return match rest.split_once('/') {
            Some((cloud, "rest/api/3/user/bulk")) if cloud == state.cloud_id => {
                if state.gateway_refuses_users {
                    error(
                        StatusCode::UNAUTHORIZED,
                        "Unauthorized; scope does not match",
                    )
                } else {
                    bulk_users(state, q)
                }
            }
            _ => not_found(),
        };
    }
    let Some(rest) = path.strip_prefix("/jsm/ops/api/") else {
        return not_found();
    };
    let Some((cloud, rest)) = rest.split_once('/') else {
        return not_found();
    };
    if cloud != state.cloud_id {
        return not_found();
    }
    if rest == "v1/alerts" {
        return list_alerts(state, q);
    }
    match rest
        .strip_prefix("v1/alerts/")
        .and_then(|r| r.strip_suffix("/logs"))
    {
        Some(id) if !id.is_empty() && !id.contains('/') => list_logs(state, id, q),
        _ => not_found(),
    }
}
