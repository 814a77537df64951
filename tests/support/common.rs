//! What the provider fakes ([`super::pagerduty`], [`super::opsgenie`]) share, written once:
//! the deterministic generator and hash their synthetic data is derived from, the running fake
//! itself ([`Fake`]: start on 127.0.0.1, stop on drop, queue faults, record requests), the reply
//! a handler builds before it becomes an HTTP response, request decoding and recording
//! ([`RecordedRequest`], [`parse_query`]), and the arithmetic of offset paging.
//!
//! Why here: each fake models one provider's API, but how a fake runs, records and pages is the
//! same for both; keeping one copy means a fix (e.g. to query decoding) reaches every fake.
//! What each provider answers — bodies, status codes, headers — stays in its own folder.

use std::collections::{BTreeMap, VecDeque};
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use tokio::sync::oneshot;

use super::pagerduty::Fault;

// ---------------------------------------------------------------------------------------------
// Deterministic data.

/// 32-bit FNV-1a: a stable short hash for ids derived from names.
pub fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// splitmix64: a tiny deterministic PRNG so generated data depends only on the seed.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Counts one more `key` in an expected-counts map.
pub fn bump<K: Ord>(map: &mut BTreeMap<K, u64>, key: K) {
    *map.entry(key).or_insert(0) += 1;
}

// ---------------------------------------------------------------------------------------------
// Server scaffolding.

/// Locks a fake's state. A panicking test thread must not turn every later request into a
/// second panic, so a poisoned lock is taken over as it is.
pub fn lock<T>(shared: &Mutex<T>) -> MutexGuard<'_, T> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake of one provider: its URL, its state `S` (the provider's data), the faults `F`
/// queued for coming requests and the requests received. Dropping it stops the server. Each
/// provider names its instance (`FakePagerDuty`, `FakeOpsgenie`) and adds its own methods.
pub struct Fake<S, F> {
    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
    parts: Parts<S, F>,
    _server: Server,
}

impl<S: Send + 'static, F: Send + 'static> Fake<S, F> {
    /// Starts the fake `name` (e.g. `"fake PagerDuty"`, for panics and log lines) over `state` on
    /// the current tokio runtime; `router` builds its routes over the [`Parts`].
    pub async fn launch(name: &'static str, state: S, router: fn(Parts<S, F>) -> Router) -> Self {
        let parts = Parts::new(state);
        let server = Server::start(name, router(parts.clone())).await;
        Fake::running(parts, server)
    }

    /// [`Fake::launch`] on its own single-threaded runtime in a background thread, for plain
    /// `#[test]`s (e.g. ones that run the daemon binary).
    pub fn launch_blocking(
        name: &'static str,
        state: S,
        router: fn(Parts<S, F>) -> Router,
    ) -> Self {
        let parts = Parts::new(state);
        let server = Server::start_blocking(name, router(parts.clone()));
        Fake::running(parts, server)
    }

    /// [`Fake::launch`] answered in this process at `https://{host}` (`host` ends in
    /// `.invalid`) through ptsd's in-process transport (`ptsd::collectors::in_process`): the
    /// same routes, no socket, and tokio's clock (paused in the simulation) the only clock.
    pub fn launch_in_process(
        name: &'static str,
        state: S,
        router: fn(Parts<S, F>) -> Router,
        host: &str,
    ) -> Self {
        use tower::ServiceExt;
        let parts = Parts::new(state);
        let app = router(parts.clone());
        ptsd::collectors::in_process::register(
            host,
            Arc::new(move |asked: axum::http::Request<()>| {
                let app = app.clone();
                Box::pin(async move {
                    let (head, ()) = asked.into_parts();
                    let request = axum::http::Request::from_parts(head, axum::body::Body::empty());
                    let answer = match app.oneshot(request).await {
                        Ok(a) => a,
                        Err(never) => match never {},
                    };
                    let (head, body) = answer.into_parts();
                    let bytes = axum::body::to_bytes(body, usize::MAX)
                        .await
                        .unwrap_or_else(|e| panic!("{name}: unreadable answer: {e}"));
                    axum::http::Response::from_parts(head, bytes.to_vec())
                })
            }),
        );
        let server = Server {
            url: format!("https://{host}"),
            shutdown: None,
            in_process: Some(host.to_string()),
        };
        Fake::running(parts, server)
    }

    fn running(parts: Parts<S, F>, server: Server) -> Self {
        Fake {
            url: server.url.clone(),
            parts,
            _server: server,
        }
    }

    /// The provider's state, locked.
    pub fn state(&self) -> MutexGuard<'_, S> {
        self.parts.state()
    }

    /// Queues `fault` for the next request whose path starts with `path_prefix`. Faults are
    /// consumed in the order queued; each applies to exactly one request.
    pub fn inject(&self, path_prefix: &str, fault: F) {
        self.parts
            .calls()
            .faults
            .push_back((path_prefix.to_string(), fault));
    }

    /// Every request received so far, in order of completion.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.parts.calls().requests.clone()
    }

    /// Forgets recorded requests.
    pub fn clear_requests(&self) {
        self.parts.calls().requests.clear();
    }
}

/// What a fake's handler is given: the provider's state and the [`Calls`], each behind a lock.
pub struct Parts<S, F> {
    state: Arc<Mutex<S>>,
    calls: Arc<Mutex<Calls<F>>>,
}

impl<S, F> Clone for Parts<S, F> {
    fn clone(&self) -> Self {
        Parts {
            state: self.state.clone(),
            calls: self.calls.clone(),
        }
    }
}

impl<S, F> Parts<S, F> {
    fn new(state: S) -> Self {
        Parts {
            state: Arc::new(Mutex::new(state)),
            calls: Arc::new(Mutex::new(Calls {
                faults: VecDeque::new(),
                requests: Vec::new(),
            })),
        }
    }

    /// The provider's state, locked.
    pub fn state(&self) -> MutexGuard<'_, S> {
        lock(&self.state)
    }

    /// The faults and requests, locked.
    pub fn calls(&self) -> MutexGuard<'_, Calls<F>> {
        lock(&self.calls)
    }
}

/// Faults queued for coming requests (path prefix, fault) and the requests received.
pub struct Calls<F> {
    faults: VecDeque<(String, F)>,
    requests: Vec<RecordedRequest>,
}

impl<F> Calls<F> {
    /// Takes the first queued fault whose path prefix `path` starts with.
    pub fn take_fault(&mut self, path: &str) -> Option<F> {
        let pos = self
            .faults
            .iter()
            .position(|(prefix, _)| path.starts_with(prefix.as_str()))?;
        self.faults.remove(pos).map(|(_, f)| f)
    }

    /// Records an answered request.
    pub fn record(&mut self, request: RecordedRequest) {
        self.requests.push(request);
    }
}

/// A fake's HTTP server on 127.0.0.1:<free port>, serving its router until dropped.
struct Server {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    url: String,
    shutdown: Option<oneshot::Sender<()>>,
    /// The host answered in process instead (see [`Fake::launch_in_process`]).
    in_process: Option<String>,
}

impl Server {
    /// Starts `app` on the current tokio runtime. `name` (e.g. `"fake PagerDuty"`) prefixes
    /// every panic and log line.
    async fn start(name: &'static str, app: Router) -> Server {
        let (listener, addr) = bind(name).await;
        let (tx, rx) = oneshot::channel();
        tokio::spawn(serve(name, listener, app, rx));
        Server::running(addr, tx)
    }

    /// Starts `app` on its own single-threaded runtime in a background thread (named after
    /// `name`, e.g. `fake-pagerduty`).
    fn start_blocking(name: &'static str, app: Router) -> Server {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new()
            .name(name.to_lowercase().replace(' ', "-"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| panic!("{name}: cannot build a tokio runtime: {e}"));
                rt.block_on(async move {
                    let (listener, addr) = bind(name).await;
                    if addr_tx.send(addr).is_err() {
                        return;
                    }
                    serve(name, listener, app, rx).await;
                });
            })
            .unwrap_or_else(|e| panic!("{name}: cannot spawn server thread: {e}"));
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| {
                panic!("{name}: server thread did not report its address within 10 s")
            });
        Server::running(addr, tx)
    }

    fn running(addr: SocketAddr, shutdown: oneshot::Sender<()>) -> Server {
        Server {
            url: format!("http://{addr}"),
            shutdown: Some(shutdown),
            in_process: None,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(host) = &self.in_process {
            ptsd::collectors::in_process::unregister(host);
        }
    }
}

async fn bind(name: &str) -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{name}: cannot bind 127.0.0.1:0: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{name}: listener has no local address: {e}"));
    (listener, addr)
}

async fn serve(
    name: &str,
    listener: tokio::net::TcpListener,
    app: Router,
    stop: oneshot::Receiver<()>,
) {
    tokio::select! {
        res = axum::serve(listener, app).into_future() => {
            if let Err(e) = res {
                eprintln!("{name}: server error: {e}");
            }
        }
        _ = stop => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Replies.

/// A response before it becomes an HTTP response: status, extra headers, JSON body bytes.
/// Each fake writes its provider's bodies; this only carries them.
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// `body` serialised, no extra headers.
    pub fn json(status: StatusCode, body: &Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: serde_json::to_vec(body).expect("serialising a serde_json::Value cannot fail"),
        }
    }

    /// The same reply with these extra headers.
    pub fn with_headers(mut self, headers: Vec<(&'static str, String)>) -> Reply {
        self.headers = headers;
        self
    }

    /// The `Truncated` fault: HTTP 200 whose body is the first half of this one's.
    pub fn truncate(&mut self) {
        self.status = StatusCode::OK;
        self.body.truncate(self.body.len() / 2);
    }
}

impl IntoResponse for Reply {
    /// Sent as `application/json; charset=utf-8` with the extra headers.
    fn into_response(self) -> Response {
        let mut builder = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8");
        for (name, value) in self.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Body::from(self.body))
            .expect("fake server: response parts are valid")
    }
}

/// The index range of the page at `offset` / `limit` in a result of `count` items.
pub fn page_range(count: usize, offset: u64, limit: u64) -> Range<usize> {
    let count = count as u64;
    let start = offset.min(count) as usize;
    let end = offset.saturating_add(limit).min(count) as usize;
    start..end
}

// ---------------------------------------------------------------------------------------------
// Requests.

/// One request a fake received, as it received it.
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
    /// It was exactly what the fake accepts (`Token token=<token>`, `GenieKey <key>`).
    pub auth_valid: bool,
    /// `Accept` contained `application/vnd.pagerduty+json;version=2` (recorded, never enforced;
    /// always false at the Opsgenie fake).
    pub accept_v2: bool,
    /// The injected fault this request got, if any (an Opsgenie fault as the PagerDuty
    /// [`Fault`] of the same name).
    pub fault: Option<Fault>,
    /// When the request arrived.
    pub received: Instant,
}

impl RecordedRequest {
    /// First value of query parameter `name` (decoded name, e.g. `"include[]"`).
    pub fn param(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }

    /// All values of query parameter `name`, in order.
    pub fn params(&self, name: &str) -> Vec<&str> {
        all(&self.query, name)
    }
}

/// What a fake reads off every request before answering it.
pub struct Incoming {
    pub method: Method,
    pub path: String,
    /// Still percent-encoded, without `?`.
    pub raw_query: String,
    /// Decoded by [`parse_query`].
    pub query: Vec<(String, String)>,
    /// The `Authorization` header, if any.
    pub auth: Option<String>,
}

impl Incoming {
    pub fn new(method: Method, uri: &Uri, headers: &HeaderMap) -> Incoming {
        let raw_query = uri.query().unwrap_or("").to_string();
        Incoming {
            method,
            path: uri.path().to_string(),
            query: parse_query(&raw_query),
            raw_query,
            auth: headers
                .get(header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap_or("<non-ascii>").to_string()),
        }
    }

    /// Whether the `Authorization` header is exactly `expected`.
    pub fn auth_is(&self, expected: &str) -> bool {
        self.auth.as_deref() == Some(expected)
    }

    /// First value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }

    /// The record of this request, answered as `reply`.
    pub fn record(
        self,
        reply: &Reply,
        auth_valid: bool,
        accept_v2: bool,
        fault: Option<Fault>,
        received: Instant,
    ) -> RecordedRequest {
        RecordedRequest {
            method: self.method.to_string(),
            path: self.path,
            raw_query: self.raw_query,
            query: self.query,
            status: reply.status.as_u16(),
            auth_present: self.auth.is_some(),
            auth_valid,
            accept_v2,
            fault,
            received,
        }
    }
}

/// First value of query parameter `name`.
pub fn first<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// All values of query parameter `name`, in order.
pub fn all<'a>(query: &'a [(String, String)], name: &str) -> Vec<&'a str> {
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
