//! An in-process fake of PagerDuty's REST API v2 (`GET /log_entries`, `GET /users`) on
//! 127.0.0.1, for integration tests of the poller.
//!
//! Why a fake and not mocks: the poller's hard cases are properties of the real server —
//! classic offset pagination recomputed per request (newest first, so pages shift when entries
//! appear), the 10,000 `offset+limit` cap answered with HTTP 400, `created_at` rendered in the
//! *account* time zone unless `time_zone` is sent, `channel.notification` and full incidents only
//! with `include[]=channels` / `include[]=incidents`, 429 with `ratelimit-reset`, and entries
//! that show up late. This server reproduces those as documented in
//! `/work/shared/api-notes.md` §2, §3, §5, §6, §8, and records every request so tests can
//! assert what the daemon asked for.
//!
//! Behaviour not pinned down by PagerDuty's docs is chosen here and marked "(choice)".

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::IntoFuture;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use jiff::tz::{Offset, TimeZone};
use jiff::{civil, SignedDuration, Timestamp};
use serde_json::{json, Value};
use tokio::sync::oneshot;

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
    /// Answer normally, then add this log entry (JSON text, as for [`FakePagerDuty::add_entries`]):
    /// an entry that appears while a window is being paged, so the newest-first pages after it
    /// shift by one and the next page repeats the last entry of this one.
    ThenAdd(String),
}

/// One request the fake received, as it received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The query string exactly as sent (still percent-encoded), without `?`.
    pub raw_query: String,
    /// Decoded query pairs in order (`include%5B%5D=channels` → `("include[]", "channels")`).
    pub query: Vec<(String, String)>,
    /// Status code returned.
    pub status: u16,
    /// An `Authorization` header was sent.
    pub auth_present: bool,
    /// It was exactly `Token token=<token>`.
    pub auth_valid: bool,
    /// `Accept` contained `application/vnd.pagerduty+json;version=2` (recorded, never enforced).
    pub accept_v2: bool,
    /// The injected fault this request got, if any.
    pub fault: Option<Fault>,
    /// When the request arrived.
    pub received: std::time::Instant,
}

impl RecordedRequest {
    /// First value of query parameter `name` (decoded name, e.g. `"include[]"`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of query parameter `name`, in order.
    pub fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
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

struct Inner {
    token: String,
    /// Newest first (ties by id, descending) once `sorted`; appended to by `add_entry`.
    entries: Vec<StoredEntry>,
    sorted: bool,
    ids: HashSet<String>,
    users: Vec<Value>,
    account_offset_minutes: i32,
    faults: VecDeque<(String, Fault)>,
    requests: Vec<RecordedRequest>,
    delays: HashMap<String, Duration>,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    // A panicking test thread must not turn every later request into a second panic.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The fake server. Dropping it stops the server.
pub struct FakePagerDuty {
    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
    shared: Shared,
    shutdown: Option<oneshot::Sender<()>>,
}

impl FakePagerDuty {
    fn new_shared(token: &str) -> Shared {
        Arc::new(Mutex::new(Inner {
            token: token.to_string(),
            entries: Vec::new(),
            sorted: true,
            ids: HashSet::new(),
            users: Vec::new(),
            account_offset_minutes: DEFAULT_ACCOUNT_OFFSET_MINUTES,
            faults: VecDeque::new(),
            requests: Vec::new(),
            delays: HashMap::new(),
        }))
    }

    /// Starts the fake on the current tokio runtime, accepting `Authorization: Token token=<token>`.
    pub async fn start(token: &str) -> FakePagerDuty {
        let shared = Self::new_shared(token);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake PagerDuty: cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("fake PagerDuty: listener has no local address");
        let (tx, rx) = oneshot::channel();
        tokio::spawn(serve(listener, shared.clone(), rx));
        FakePagerDuty {
            url: format!("http://{addr}"),
            shared,
            shutdown: Some(tx),
        }
    }

    /// Starts the fake on its own single-threaded runtime in a background thread, for plain
    /// `#[test]`s (e.g. ones that run the daemon binary).
    pub fn start_blocking(token: &str) -> FakePagerDuty {
        let shared = Self::new_shared(token);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (tx, rx) = oneshot::channel();
        let server_shared = shared.clone();
        std::thread::Builder::new()
            .name("fake-pagerduty".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake PagerDuty: cannot build a tokio runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("fake PagerDuty: cannot bind 127.0.0.1:0");
                    let addr = listener
                        .local_addr()
                        .expect("fake PagerDuty: listener has no local address");
                    if addr_tx.send(addr).is_err() {
                        return;
                    }
                    serve(listener, server_shared, rx).await;
                });
            })
            .expect("fake PagerDuty: cannot spawn server thread");
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("fake PagerDuty: server thread did not report its address within 10 s");
        FakePagerDuty {
            url: format!("http://{addr}"),
            shared,
            shutdown: Some(tx),
        }
    }

    /// Adds full log entries (any order). Each needs a string `id` and an RFC 3339
    /// `created_at` with offset. Panics on a duplicate id.
    pub fn add_entries(&self, entries: Vec<Value>) {
        let mut inner = lock(&self.shared);
        for value in entries {
            add_entry(&mut inner, value);
        }
    }

    /// Adds `user` objects served by `GET /users` (in the order added).
    pub fn add_users(&self, users: Vec<Value>) {
        lock(&self.shared).users.extend(users);
    }

    /// Sets the account time zone used when a request has no `time_zone` (minutes east of UTC).
    pub fn set_account_time_zone_offset(&self, minutes_east: i32) {
        lock(&self.shared).account_offset_minutes = minutes_east;
    }

    /// Queues `fault` for the next request whose path starts with `path_prefix`. Faults are
    /// consumed in the order queued; each applies to exactly one request.
    pub fn inject(&self, path_prefix: &str, fault: Fault) {
        lock(&self.shared)
            .faults
            .push_back((path_prefix.to_string(), fault));
    }

    /// Every request received so far, in order of completion.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared).requests.clone()
    }

    /// Forgets recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared).requests.clear();
    }

    /// Makes entry `entry_id` invisible until the wall clock reaches `created_at + delay`
    /// (a late entry: PagerDuty shows it after windows covering its `created_at` were read).
    pub fn set_visibility_delay(&self, entry_id: &str, delay: Duration) {
        lock(&self.shared)
            .delays
            .insert(entry_id.to_string(), delay);
    }
}

impl Drop for FakePagerDuty {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn add_entry(inner: &mut Inner, value: Value) {
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

async fn serve(listener: tokio::net::TcpListener, shared: Shared, stop: oneshot::Receiver<()>) {
    let app = Router::new().fallback(handle).with_state(shared);
    tokio::select! {
        res = axum::serve(listener, app).into_future() => {
            if let Err(e) = res {
                eprintln!("fake PagerDuty: server error: {e}");
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
    fn json(status: StatusCode, body: &Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: serde_json::to_vec(body).expect("serialising a serde_json::Value cannot fail"),
        }
    }

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
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let received = std::time::Instant::now();
    let path = uri.path().to_string();
    let raw_query = uri.query().unwrap_or("").to_string();
    let query = parse_query(&raw_query);
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("<non-ascii>").to_string());
    let accept_v2 = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/vnd.pagerduty+json;version=2"));

    let (fault, auth_valid) = {
        let mut inner = lock(&shared);
        let pos = inner
            .faults
            .iter()
            .position(|(prefix, _)| path.starts_with(prefix.as_str()));
        let fault = pos.and_then(|p| inner.faults.remove(p)).map(|(_, f)| f);
        let expected = format!("Token token={}", inner.token);
        (fault, auth.as_deref() == Some(expected.as_str()))
    };

    if let Some(Fault::Delay(d)) = &fault {
        tokio::time::sleep(*d).await;
    }

    let reply = match &fault {
        Some(Fault::Status429 { reset_secs }) => {
            let mut r = Reply::error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate Limit Exceeded",
                Some(2020),
                &[],
            );
            r.headers = vec![
                ("ratelimit-limit", "960".to_string()),
                ("ratelimit-remaining", "0".to_string()),
                ("ratelimit-reset", reset_secs.to_string()),
            ];
            r
        }
        Some(Fault::Status500) => Reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            None,
            &[],
        ),
        Some(Fault::Status401) => Reply::error(
            StatusCode::UNAUTHORIZED,
            "Authentication failed",
            Some(2006),
            &[],
        ),
        _ => {
            let mut r = normal_reply(&shared, &method, &path, &query, auth_valid);
            if fault == Some(Fault::Truncated) {
                r.status = StatusCode::OK;
                r.body.truncate(r.body.len() / 2);
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
        add_entry(&mut lock(&shared), value);
    }

    lock(&shared).requests.push(RecordedRequest {
        method: method.to_string(),
        path,
        raw_query,
        query,
        status: reply.status.as_u16(),
        auth_present: auth.is_some(),
        auth_valid,
        accept_v2,
        fault,
        received,
    });

    let mut builder = Response::builder()
        .status(reply.status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8");
    for (name, value) in reply.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Body::from(reply.body))
        .expect("fake PagerDuty: response parts are valid")
}

fn normal_reply(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    auth_valid: bool,
) -> Reply {
    if !auth_valid {
        return Reply::error(
            StatusCode::UNAUTHORIZED,
            "Authentication failed",
            Some(2006),
            &[],
        );
    }
    let path = path.trim_end_matches('/');
    match (method, path) {
        (&Method::GET, "/log_entries") => log_entries(&mut lock(shared), query),
        (&Method::GET, "/users") => users(&lock(shared), query),
        _ => Reply::error(StatusCode::NOT_FOUND, "Not Found", Some(2100), &[]),
    }
}

fn invalid_input(detail: String) -> Reply {
    Reply::error(
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
        return Err(Reply::error(
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
/// The index range of `page` in a result of `count` items.
fn page_range(count: usize, page: &Page) -> std::ops::Range<usize> {
    let count = count as u64;
    let start = page.offset.min(count) as usize;
    let end = page.offset.saturating_add(page.limit).min(count) as usize;
    start..end
}

fn envelope(key: &str, items: Vec<Value>, page: &Page) -> Reply {
    let range = page_range(items.len(), page);
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
            // Absent: the account time zone (api-notes §2).
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

fn log_entries(inner: &mut Inner, query: &[(String, String)]) -> Reply {
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
    let time_zone = first(query, "time_zone");
    let render = Render::for_request(time_zone, inner.account_offset_minutes);
    let now = Timestamp::now();
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
        .collect();

    // Only the requested page is copied and rendered.
    let count = visible.len() as u64;
    let range = page_range(visible.len(), &page);
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

fn users(inner: &Inner, query: &[(String, String)]) -> Reply {
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

fn first<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn all<'a>(query: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    query
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Splits a raw query string into decoded `(name, value)` pairs, as a form decoder does:
/// `+` is a space and `%XX` a byte. So an unencoded `+` in `since=…+00:00` becomes a space and
/// the date no longer parses — as on a real server.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
