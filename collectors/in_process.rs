//! Requests answered inside this process instead of over the network: the provider side of
//! the deterministic simulation (`tests/simulation.rs`).
//!
//! Why: the simulation runs the real collectors (their URLs, paging, JSON parsing, retries and
//! rate-limit waits, all of [`super::http`]) on a virtual clock, against fake provider APIs, in
//! one process and without sockets, so a seed replays exactly and hours of history take a
//! second. [`super::http::HttpClient`] asks [`route`] before each request; a host registered
//! here is answered by its handler, any other host goes to the network as always.
//!
//! Only hosts under the reserved `.invalid` top-level domain (RFC 2606: it never resolves) can
//! be registered, so nothing here can take over a real provider's traffic.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// An answer being prepared.
pub type Answer = Pin<Box<dyn Future<Output = http::Response<Vec<u8>>> + Send>>;

/// Answers one request (method, URL with its query, headers).
pub type Handler = Arc<dyn Fn(http::Request<()>) -> Answer + Send + Sync>;

static HOSTS: Mutex<Option<HashMap<String, Handler>>> = Mutex::new(None);

/// Answers every request to `host` (which must end in `.invalid`) with `handler`, from now on.
///
/// # Panics
/// For any other host: this is for simulations only.
pub fn register(host: &str, handler: Handler) {
    assert!(
        host.ends_with(".invalid"),
        "only reserved .invalid hosts are answered in process, not {host}"
    );
    HOSTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(host.to_string(), handler);
}

/// The handler registered for `host` (to wrap it in another).
pub fn handler(host: &str) -> Option<Handler> {
    HOSTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()?
        .get(host)
        .cloned()
}

/// Forgets the handler of `host`.
pub fn unregister(host: &str) {
    if let Some(hosts) = HOSTS.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        hosts.remove(host);
    }
}

/// The answer to `request` (with the client's `defaults` headers) when its host is registered;
/// `None` sends it to the network.
pub(crate) fn route(request: &reqwest::Request, defaults: &http::HeaderMap) -> Option<Answer> {
    let host = request.url().host_str()?;
    if !host.ends_with(".invalid") {
        return None;
    }
    let handler = HOSTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()?
        .get(host)?
        .clone();
    let mut builder = http::Request::builder()
        .method(request.method().clone())
        .uri(request.url().as_str());
    for (name, value) in defaults.iter().chain(request.headers()) {
        builder = builder.header(name, value);
    }
    let asked = builder.body(()).ok()?;
    Some(handler(asked))
}
