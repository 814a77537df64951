//! An in-process fake of PagerDuty's REST API v2 (`GET /log_entries`, `GET /users`) on
//! 127.0.0.1, for integration tests of the poller.
//!
//! Why a fake and not mocks: the poller's hard cases are properties of the real server —
//! classic offset pagination recomputed per request (newest first, so pages shift when entries
//! appear), the 10,000 `offset+limit` cap answered with HTTP 400, `created_at` rendered in the
//! *account* time zone unless `time_zone` is sent, `channel.notification` and full incidents only
//! with `include[]=channels` / `include[]=incidents`, 429 with `ratelimit-reset`, and entries
//! that show up late. This server reproduces those as documented in
//! PagerDuty's REST API reference (paging, the offset cap, time zones, errors and rate limits), and records every request so tests can
//! assert what the daemon asked for.
//!
//! Behaviour not pinned down by PagerDuty's docs is chosen here and marked "(choice)".

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use jiff::tz::{Offset, TimeZone};
use jiff::{civil, SignedDuration, Timestamp};
use serde_json::{json, Value};

use super::super::common::{all, first, page_range, Fake, Incoming, Parts, Reply};

/// Account time zone used when a request has no `time_zone`: UTC-05:00, in minutes east.
pub const DEFAULT_ACCOUNT_OFFSET_MINUTES: i32 = -300;
/// `offset + limit` above this is answered with HTTP 400 (code 2002).
pub const MAX_OFFSET_PLUS_LIMIT: u64 = 10_000;
/// `limit` when the request has none.
pub const DEFAULT_LIMIT: u64 = 25;
/// Larger `limit`s are clamped to this (choice: PagerDuty documents the maximum, not what
/// happens above it).
pub const MAX_LIMIT: u64 = 100;

/// Log entry types kept by `is_overview=true`.
const OVERVIEW_TYPES: [&str; 3] = [
    "trigger_log_entry",
    "acknowledge_log_entry",
    "resolve_log_entry",
];

/// Timestamp fields re-rendered in the requested `time_zone`, wherever they occur.
const TIME_FIELDS: [&str; 6] = [
    "created_at",
    "updated_at",
    "started_at",
    "last_status_change_at",
    "resolved_at",
    "at",
];

/// A failure the next matching request gets instead of its normal answer (see
/// [`FakePagerDuty::inject`]). Faults take precedence over authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 429 with `ratelimit-limit: 960`, `ratelimit-remaining: 0`,
    /// `ratelimit-reset: <reset_secs>` and body `{"error":{"message":"Rate Limit Exceeded","code":2020}}`.
    Status429 { reset_secs: u64 },
    /// HTTP 500 with body `{"error":{"message":"Internal Server Error"}}`.
    Status500,
    /// HTTP 401 with body `{"error":{"message":"Authentication failed","code":2006}}`, whatever
    /// the `Authorization` header (a token revoked, or PagerDuty's auth briefly failing).
    Status401,
    /// HTTP 200 whose body is the first half of the normal JSON body (invalid JSON).
    Truncated,
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// HTTP 200 with the normal envelope but no entries and `more: true` (a page that lies).
    EmptyButMore,
    /// HTTP 200 with this page's entries but `more: false`: a listing that ends before the
    /// `total` its first page announced (a page that lies the other way).
    EndsEarly,
    /// Answer normally, then add this log entry (JSON text, as for [`FakePagerDuty::add_entries`]):
    /// an entry that appears while a window is being paged, so the newest-first pages after it
    /// shift by one and the next page repeats the last entry of this one.
    ThenAdd(String),
    /// HTTP 200 with exactly this body (a proxy or gateway answering the wrong shape, or a
    /// listing that serves the same page for ever).
    Body(String),
    /// HTTP 301 to this URL (another host, say).
    Redirect(String),
}

struct StoredEntry {
    id: String,
    at: Timestamp,
    value: Value,
    /// The entry as the daemon asks for it (`time_zone=UTC`, `include[]=channels`,
    /// `include[]=incidents`), serialised once when added, so a large fake (the catch-up
    /// benchmark's 100,000 entries) costs a copy per served entry, not a render.
    utc_full: Vec<u8>,
}

/// What the PagerDuty fake holds besides its calls (see [`Fake`]).
pub struct PagerDutyState {
    token: String,
    /// Newest first (ties by id, descending) once `sorted`; appended to by `add_entry`.
    entries: Vec<StoredEntry>,
    sorted: bool,
    ids: HashSet<String>,
    users: Vec<Value>,
    account_offset_minutes: i32,
    delays: HashMap<String, Duration>,
    /// Service id → the team it belongs to now, for `team_ids[]`: an entry is related to its
    /// service's team at the time of the request, so moving a service moves its entries,
    /// past ones included. Services not here go by the entry's own `teams`.
    service_teams: HashMap<String, String>,
}

impl PagerDutyState {
    fn new(token: &str) -> PagerDutyState {
        PagerDutyState {
            token: token.to_string(),
            entries: Vec::new(),
            sorted: true,
            ids: HashSet::new(),
            users: Vec::new(),
            account_offset_minutes: DEFAULT_ACCOUNT_OFFSET_MINUTES,
            delays: HashMap::new(),
            service_teams: HashMap::new(),
        }
    }
}

const NAME: &str = "fake PagerDuty";

/// The fake server. Dropping it stops the server. `inject` queues a [`Fault`]; `requests`
/// returns what it received (see [`Fake`]).
pub type FakePagerDuty = Fake<PagerDutyState, Fault>;

impl FakePagerDuty {
    /// Starts the fake on the current tokio runtime, accepting `Authorization: Token token=<token>`.
    /// Starts the fake answered in this process at `https://{host}` (a `.invalid` host), for
    /// the simulation.
    pub fn start_in_process(token: &str, host: &str) -> FakePagerDuty {
        Fake::launch_in_process(NAME, PagerDutyState::new(token), router, host)
    }

    pub async fn start(token: &str) -> FakePagerDuty {
        Fake::launch(NAME, PagerDutyState::new(token), router).await
    }

    /// Starts the fake on its own single-threaded runtime in a background thread, for plain
    /// `#[test]`s (e.g. ones that run the daemon binary).
    pub fn start_blocking(token: &str) -> FakePagerDuty {
        Fake::launch_blocking(NAME, PagerDutyState::new(token), router)
    }

    /// Adds full log entries (any order). Each needs a string `id` and an RFC 3339
    /// `created_at` with offset. Panics on a duplicate id.
    pub fn add_entries(&self, entries: Vec<Value>) {
        let mut inner = self.state();
        for value in entries {
            add_entry(&mut inner, value);
        }
    }

    /// Adds `user` objects served by `GET /users` (in the order added).
    pub fn add_users(&self, users: Vec<Value>) {
        self.state().users.extend(users);
    }

    /// Sets the account time zone used when a request has no `time_zone` (minutes east of UTC).
    pub fn set_account_time_zone_offset(&self, minutes_east: i32) {
        self.state().account_offset_minutes = minutes_east;
    }

    /// Puts service `service_id` in team `team_id` (see `team_ids[]`): its entries, past and
    /// future, are related to that team from now on.
    pub fn set_service_team(&self, service_id: &str, team_id: &str) {
        self.state()
            .service_teams
            .insert(service_id.to_string(), team_id.to_string());
    }

    /// Makes entry `entry_id` invisible until the wall clock reaches `created_at + delay`
    /// (a late entry: PagerDuty shows it after windows covering its `created_at` were read).
    pub fn set_visibility_delay(&self, entry_id: &str, delay: Duration) {
        self.state().delays.insert(entry_id.to_string(), delay);
    }
}

fn add_entry(inner: &mut PagerDutyState, value: Value) {
    let id = value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("fake PagerDuty: log entry without string id: {value}"))
        .to_string();
    let raw = value["created_at"]
        .as_str()
        .unwrap_or_else(|| panic!("fake PagerDuty: log entry {id} has no string created_at"));
    let at: Timestamp = raw.parse().unwrap_or_else(|e| {
        panic!(
            "fake PagerDuty: log entry {id}: created_at {raw:?} is not RFC 3339 with offset: {e}"
        )
    });
    assert!(
        inner.ids.insert(id.clone()),
        "fake PagerDuty: duplicate log entry id {id}"
    );
    let mut utc = value.clone();
    Render::Utc.apply(&mut utc);
    let utc_full = serde_json::to_vec(&utc).expect("serialising a serde_json::Value cannot fail");
    inner.entries.push(StoredEntry {
        id,
        at,
        value,
        utc_full,
    });
    inner.sorted = false;
}

fn router(parts: Parts<PagerDutyState, Fault>) -> Router {
    Router::new().fallback(handle).with_state(parts)
}

/// PagerDuty's error body: `{"error":{"message", "code"?, "errors"?}}`.
fn error(status: StatusCode, message: &str, code: Option<u32>, errors: &[String]) -> Reply {
    let mut err = json!({ "message": message });
    if let Some(code) = code {
        err["code"] = json!(code);
    }
    if !errors.is_empty() {
        err["errors"] = json!(errors);
    }
    Reply::json(status, &json!({ "error": err }))
}

async fn handle(
    State(fake): State<Parts<PagerDutyState, Fault>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let received = Instant::now();
    let request = Incoming::new(method, &uri, &headers);
    let accept_v2 = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/vnd.pagerduty+json;version=2"));

    let fault = fake.calls().take_fault(&request.path);
    let auth_valid = request.auth_is(&format!("Token token={}", fake.state().token));

    if let Some(Fault::Delay(d)) = &fault {
        tokio::time::sleep(*d).await;
    }

    let reply = match &fault {
        Some(Fault::Status429 { reset_secs }) => error(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate Limit Exceeded",
            Some(2020),
            &[],
        )
        .with_headers(vec![
            ("ratelimit-limit", "960".to_string()),
            ("ratelimit-remaining", "0".to_string()),
            ("ratelimit-reset", reset_secs.to_string()),
        ]),
        Some(Fault::Status500) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            None,
            &[],
        ),
        Some(Fault::Status401) => unauthorized(),
        Some(Fault::Body(body)) => Reply {
            status: StatusCode::OK,
            headers: Vec::new(),
            body: body.clone().into_bytes(),
        },
        Some(Fault::Redirect(to)) => Reply {
            status: StatusCode::MOVED_PERMANENTLY,
            headers: vec![("location", to.clone())],
            body: Vec::new(),
        },
        _ => {
            let mut r = normal_reply(&fake, &request, auth_valid);
            if fault == Some(Fault::Truncated) {
                r.truncate();
            }
            if fault == Some(Fault::EndsEarly) {
                let mut v: Value = serde_json::from_slice(&r.body).expect("own JSON");
                v["more"] = json!(false);
                r = Reply::json(StatusCode::OK, &v);
            }
            if fault == Some(Fault::EmptyButMore) {
                let mut v: Value = serde_json::from_slice(&r.body).expect("own JSON");
                v["log_entries"] = json!([]);
                v["more"] = json!(true);
                r = Reply::json(StatusCode::OK, &v);
            }
            r
        }
    };

    if let Some(Fault::ThenAdd(json)) = &fault {
        let value: Value = serde_json::from_str(json).expect("fake PagerDuty: ThenAdd holds JSON");
        add_entry(&mut fake.state(), value);
    }

    let recorded = request.record(&reply, auth_valid, accept_v2, fault, received);
    fake.calls().record(recorded);
    reply.into_response()
}

fn unauthorized() -> Reply {
    error(
        StatusCode::UNAUTHORIZED,
        "Authentication failed",
        Some(2006),
        &[],
    )
}

fn normal_reply(
    fake: &Parts<PagerDutyState, Fault>,
    request: &Incoming,
    auth_valid: bool,
) -> Reply {
    if !auth_valid {
        return unauthorized();
    }
    let query = &request.query;
    let path = request.path.trim_end_matches('/');
    match (&request.method, path) {
        (&Method::GET, "/log_entries") => log_entries(&mut fake.state(), query),
        (&Method::GET, "/users") => users(&fake.state(), query),
        _ => error(StatusCode::NOT_FOUND, "Not Found", Some(2100), &[]),
    }
}

fn invalid_input(detail: String) -> Reply {
    error(
        StatusCode::BAD_REQUEST,
        "Invalid Input Provided",
        Some(2001),
        &[detail],
    )
}

/// `limit` / `offset` / `total` of classic pagination, validated.
struct Page {
    limit: u64,
    offset: u64,
    total: bool,
}

fn page_params(query: &[(String, String)]) -> Result<Page, Reply> {
    let number = |name: &str, default: u64| -> Result<u64, Reply> {
        match first(query, name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| invalid_input(format!("{name} must be a non-negative integer"))),
        }
    };
    // limit=0 is treated as 1 (choice).
    let limit = number("limit", DEFAULT_LIMIT)?.clamp(1, MAX_LIMIT);
    let offset = number("offset", 0)?;
    if offset.saturating_add(limit) > MAX_OFFSET_PLUS_LIMIT {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "Arguments Caused Error",
            Some(2002),
            &["Offset+limit exceeds maximum allowed value of 10000. Please try to refine your search by adding a date range.".to_string()],
        ));
    }
    let total = first(query, "total") == Some("true");
    Ok(Page {
        limit,
        offset,
        total,
    })
}

/// Slices `items` (already filtered and ordered) into the page and builds the envelope.
fn envelope(key: &str, items: Vec<Value>, page: &Page) -> Reply {
    let range = page_range(items.len(), page.offset, page.limit);
    let count = items.len() as u64;
    page_envelope(key, items[range].to_vec(), count, page)
}

/// The envelope for one page, `returned` already cut from a result of `count` items.
fn page_envelope(key: &str, returned: Vec<Value>, count: u64, page: &Page) -> Reply {
    let more = page.offset.saturating_add(returned.len() as u64) < count;
    Reply::json(
        StatusCode::OK,
        &json!({
            key: returned,
            "limit": page.limit,
            "offset": page.offset,
            "more": more,
            "total": if page.total { json!(count) } else { Value::Null },
        }),
    )
}

/// How timestamps are rendered for one request.
enum Render {
    Utc,
    Zone(TimeZone),
}

impl Render {
    fn for_request(time_zone: Option<&str>, account_offset_minutes: i32) -> Render {
        match time_zone {
            // Absent: the account time zone (PagerDuty documents it).
            None => {
                let offset = Offset::from_seconds(account_offset_minutes * 60)
                    .expect("account offset within ±25 h");
                Render::Zone(TimeZone::fixed(offset))
            }
            Some("UTC" | "Etc/UTC" | "Z" | "GMT" | "Etc/GMT") => Render::Utc,
            // Any IANA name this machine's tzdb knows; unknown names fall back to UTC (choice).
            Some(name) => TimeZone::get(name).map_or(Render::Utc, Render::Zone),
        }
    }

    fn render(&self, ts: Timestamp) -> String {
        match self {
            Render::Utc => ts.strftime("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
            Render::Zone(tz) => ts
                .to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%.f%:z")
                .to_string(),
        }
    }

    /// Re-renders every timestamp field ([`TIME_FIELDS`]) in `v`, recursively.
    fn apply(&self, v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (key, field) in map.iter_mut() {
                    if TIME_FIELDS.contains(&key.as_str()) {
                        if let Some(ts) = field.as_str().and_then(|s| s.parse::<Timestamp>().ok()) {
                            *field = Value::String(self.render(ts));
                            continue;
                        }
                    }
                    self.apply(field);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.apply(item)),
            _ => {}
        }
    }
}

/// Parses `since`/`until`: RFC 3339 with offset; without an offset the value is read in the
/// account time zone (as `GET /incidents` documents; choice for log entries).
fn parse_bound(
    query: &[(String, String)],
    name: &str,
    account_offset_minutes: i32,
) -> Result<Option<Timestamp>, Reply> {
    let Some(raw) = first(query, name) else {
        return Ok(None);
    };
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Ok(Some(ts));
    }
    let offset = Offset::from_seconds(account_offset_minutes * 60).expect("account offset");
    raw.parse::<civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(TimeZone::fixed(offset)).ok())
        .map(|z| Some(z.timestamp()))
        .ok_or_else(|| invalid_input(format!("{name} is not a valid date-time: {raw:?}")))
}

fn log_entries(inner: &mut PagerDutyState, query: &[(String, String)]) -> Reply {
    let page = match page_params(query) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let since = match parse_bound(query, "since", inner.account_offset_minutes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let until = match parse_bound(query, "until", inner.account_offset_minutes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let overview = first(query, "is_overview") == Some("true");
    let include: HashSet<&str> = all(query, "include[]").into_iter().collect();
    let teams: HashSet<&str> = all(query, "team_ids[]").into_iter().collect();
    let time_zone = first(query, "time_zone");
    let render = Render::for_request(time_zone, inner.account_offset_minutes);
    let now = ptsd::clock::now();
    if !inner.sorted {
        // Newest first; ties by id, descending.
        inner
            .entries
            .sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
        inner.sorted = true;
    }

    // The window's slice of the sorted entries: `at < until` starts it, `at >= since` ends it.
    let lo = until.map_or(0, |u| inner.entries.partition_point(|e| e.at >= u));
    let hi = since.map_or(inner.entries.len(), |s| {
        inner.entries.partition_point(|e| e.at >= s)
    });
    let visible: Vec<&StoredEntry> = inner.entries[lo..hi.max(lo)]
        .iter()
        .filter(|e| match inner.delays.get(&e.id) {
            None => true,
            Some(d) => {
                let delay = SignedDuration::try_from(*d).unwrap_or(SignedDuration::MAX);
                e.at.checked_add(delay)
                    .is_ok_and(|visible_at| now >= visible_at)
            }
        })
        .filter(|e| !overview || OVERVIEW_TYPES.contains(&e.value["type"].as_str().unwrap_or("")))
        // `team_ids[]`: only entries related to one of these teams (their service's team, or
        // the entry's `teams`).
        .filter(|e| {
            teams.is_empty()
                || match inner
                    .service_teams
                    .get(e.value["service"]["id"].as_str().unwrap_or(""))
                {
                    Some(team) => teams.contains(team.as_str()),
                    None => e.value["teams"].as_array().is_some_and(|t| {
                        t.iter()
                            .any(|t| teams.contains(t["id"].as_str().unwrap_or("")))
                    }),
                }
        })
        .collect();

    // Only the requested page is copied and rendered.
    let count = visible.len() as u64;
    let range = page_range(visible.len(), page.offset, page.limit);
    let as_asked = matches!(render, Render::Utc)
        && include.contains("channels")
        && include.contains("incidents");
    let items: Vec<Vec<u8>> = visible[range]
        .iter()
        .map(|e| {
            if as_asked {
                return e.utc_full.clone();
            }
            let mut v = e.value.clone();
            if !include.contains("channels") {
                if let Some(channel) = v.get_mut("channel").and_then(Value::as_object_mut) {
                    channel.remove("notification");
                }
            }
            if !include.contains("incidents") {
                if let Some(inc) = v.get_mut("incident") {
                    if inc["type"] == "incident" {
                        *inc = json!({
                            "id": inc["id"], "type": "incident_reference",
                            "summary": inc["summary"], "self": inc["self"],
                            "html_url": inc["html_url"],
                        });
                    }
                }
            }
            render.apply(&mut v);
            serde_json::to_vec(&v).expect("serialising a serde_json::Value cannot fail")
        })
        .collect();
    raw_page_envelope("log_entries", &items, count, &page)
}

/// [`page_envelope`] for entries already serialised: the same JSON, written by hand.
fn raw_page_envelope(key: &str, returned: &[Vec<u8>], count: u64, page: &Page) -> Reply {
    let more = page.offset.saturating_add(returned.len() as u64) < count;
    let mut body = Vec::with_capacity(returned.iter().map(|r| r.len() + 1).sum::<usize>() + 128);
    body.extend_from_slice(format!("{{\"{key}\":[").as_bytes());
    for (i, item) in returned.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    let total = if page.total {
        count.to_string()
    } else {
        "null".into()
    };
    body.extend_from_slice(
        format!(
            "],\"limit\":{},\"offset\":{},\"more\":{more},\"total\":{total}}}",
            page.limit, page.offset
        )
        .as_bytes(),
    );
    Reply {
        status: StatusCode::OK,
        headers: Vec::new(),
        body,
    }
}

fn users(inner: &PagerDutyState, query: &[(String, String)]) -> Reply {
    let page = match page_params(query) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let needle = first(query, "query").unwrap_or("").to_lowercase();
    let items: Vec<Value> = inner
        .users
        .iter()
        .filter(|u| {
            needle.is_empty()
                || ["name", "email"].iter().any(|k| {
                    u[k].as_str()
                        .is_some_and(|s| s.to_lowercase().contains(&needle))
                })
        })
        .cloned()
        .collect();
    envelope("users", items, &page)
}
