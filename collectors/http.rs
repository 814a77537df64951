//! Shared HTTP plumbing for collectors: JSON GETs with timeouts, retries and rate-limit waits.
//!
//! Every provider gets the same weather handling from here (like Telegraf's `plugins/common`):
//! - **429**: wait for `ratelimit-reset` (PagerDuty), else `Retry-After`, else
//!   `X-RateLimit-Period-In-Sec` (Opsgenie), else exponential backoff; then try again. Never a
//!   tight loop: every retry waits at least [`RetryPolicy::base_backoff`].
//! - **`X-RateLimit-State: THROTTLED`** (Opsgenie, whose docs say an over-limit request is
//!   "rejected with 429 or delayed"): on an error status it is retried like a 429; on a
//!   success the answer is used, and the next request of this client waits the same time first
//!   (`X-RateLimit-Period-In-Sec`, else [`RetryPolicy::base_backoff`]), counted as a rate-limit
//!   wait.
//! - **5xx, timeouts, connection errors**: exponential backoff with jitter, a bounded number of tries.
//! - **401/403**: no retry; the caller reports a refused token.
//! - **Other 4xx**: no retry; the provider's own error message is passed on.
//! - **A body that is not the JSON expected**: retried like a 5xx (a truncated page is usually a
//!   network fault), then reported as malformed.
//!
//! The authorisation header is marked sensitive and is never logged; URLs carry no secrets.
//! Waiting is plain `tokio::time::sleep`, so dropping the future (shutdown) cancels it at once.

use std::sync::Mutex;
use std::time::Duration;

// tokio's clock (the system's, unless a simulation pauses it): budget and throttle waits are
// tokio sleeps, so they measure time on the same clock.
use tokio::time::Instant;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::{CollectError, RequestStats};
use crate::config::ConfigError;
use crate::secret::Secret;

/// How hard to try one request.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries for a 5xx, a timeout, a connection error or a malformed body.
    pub max_tries: u32,
    /// Tries while rate-limited (429).
    pub max_rate_limited_tries: u32,
    /// First backoff; doubles each try.
    pub base_backoff: Duration,
    /// Longest single wait.
    pub max_backoff: Duration,
    /// Most requests per minute (`PTSD_MAX_REQUESTS_PER_MINUTE`); 0 means no budget.
    pub max_per_minute: u32,
    /// Most retries (not counting 429 waits) between two [`HttpClient::take_stats`] calls,
    /// which the engine makes after every window: a poll over a sick API gives up after this
    /// many instead of trying every page four times.
    pub max_retries_per_poll: u64,
    /// Longest wait for one answer (`PTSD_HTTP_TIMEOUT`); connecting has at most 10 s of it.
    pub timeout: Duration,
    /// Largest answer body read ([`MAX_BODY`]); a larger one is refused, not read into memory.
    pub max_body: usize,
}

/// Largest answer body read: a page of 100 PagerDuty entries is about 170 KB, so a body of
/// 32 MiB is a broken or hostile endpoint, not a page.
pub const MAX_BODY: usize = 32 << 20;

impl RetryPolicy {
    /// The policy `config` asks for: its request budget and timeout, the rest by default.
    pub fn from_config(config: &crate::config::Config) -> Self {
        RetryPolicy {
            max_per_minute: config.max_requests_per_minute,
            timeout: config.http_timeout,
            ..RetryPolicy::default()
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 4,
            max_rate_limited_tries: 8,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            max_per_minute: 120,
            max_retries_per_poll: 16,
            timeout: Duration::from_secs(30),
            max_body: MAX_BODY,
        }
    }
}

/// A base URL, parsed by a real URL parser (the `url` crate, through reqwest), without its
/// trailing slash. Refused: anything but `https://`, except plain `http://` to this machine (a
/// local proxy or a test server), since anywhere else the token would cross the network in
/// clear text; and any user name or password in it (`http://127.0.0.1:1@evil.example` is a
/// request to `evil.example`). The message never repeats a URL that holds user info.
///
/// # Errors
/// A [`ConfigError`] naming `var` and showing `example`.
pub fn base_url(var: &str, raw: &str, example: &str) -> Result<String, ConfigError> {
    let raw = raw.trim();
    let url = reqwest::Url::parse(raw)
        .map_err(|e| ConfigError(format!("{var} is not a URL ({e}); set it to {example}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError(format!(
            "{var} holds a user name or password (user:password@host), which would send the request elsewhere; remove it and set it to e.g. {example}"
        )));
    }
    let text = url.as_str().trim_end_matches('/').to_string();
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError(format!(
            "{var}={text:?} has a query or fragment; set it to the bare base URL, e.g. {example}"
        )));
    }
    match url.scheme() {
        "https" => Ok(text),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(text)
            } else {
                Err(ConfigError(format!(
                    "{var}={text:?} is plain http to another machine, which would send the token in clear text; use https, e.g. {example}"
                )))
            }
        }
        _ => Err(ConfigError(format!(
            "{var}={text:?} is not an http(s) URL; set it to {example}"
        ))),
    }
}

/// Requests made by every client of this process, for the engine's progress log while a long
/// read is under way (a collector's own [`RequestStats`] are taken only after the read).
static REQUESTS_MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many HTTP requests (tries) this process has made so far.
pub fn requests_made() -> u64 {
    REQUESTS_MADE.load(std::sync::atomic::Ordering::Relaxed)
}

/// A JSON HTTP client for one provider.
pub struct HttpClient {
    provider: &'static str,
    client: reqwest::Client,
    /// What the client adds to every request (for an answer in process, which sees them too).
    headers: HeaderMap,
    policy: RetryPolicy,
    stats: Mutex<RequestStats>,
    budget: Mutex<Budget>,
    /// No request before this (set by an answer that said `X-RateLimit-State: THROTTLED`).
    throttled_until: Mutex<Option<Instant>>,
}

/// A token bucket: `per_minute` requests a minute, at most one minute's worth at once.
struct Budget {
    per_minute: f64,
    tokens: f64,
    last: Instant,
}

impl Budget {
    fn new(per_minute: u32) -> Self {
        Budget {
            per_minute: f64::from(per_minute),
            tokens: f64::from(per_minute),
            last: Instant::now(),
        }
    }

    /// Takes one token; returns how long to wait first when there is none.
    fn take(&mut self) -> Option<Duration> {
        if self.per_minute <= 0.0 {
            return None;
        }
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_minute / 60.0;
        self.tokens = (self.tokens + refill).min(self.per_minute);
        self.last = now;
        self.tokens -= 1.0;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens * 60.0 / self.per_minute))
    }
}

/// What went wrong with one attempt.
enum BodyError {
    TooLarge,
    Transport(reqwest::Error),
}

enum Attempt {
    Retry {
        status: Option<u16>,
        wait: Duration,
        rate_limited: bool,
        what: String,
    },
    Fail(CollectError),
}

impl HttpClient {
    /// A client sending `authorization` (e.g. `Token token=…`) and `accept` on every request.
    ///
    /// # Errors
    /// A [`ConfigError`] when the token cannot be put in a header (control characters).
    pub fn new(
        provider: &'static str,
        authorization: &Secret,
        accept: &'static str,
        policy: RetryPolicy,
    ) -> Result<Self, ConfigError> {
        let mut auth = HeaderValue::from_str(authorization.expose()).map_err(|_| {
            ConfigError(format!(
                "the {provider} token contains characters that cannot be sent in a header; set the bare token"
            ))
        })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        let client = reqwest::Client::builder()
            .default_headers(headers.clone())
            .user_agent(concat!("ptsd/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10).min(policy.timeout))
            .timeout(policy.timeout)
            .https_only(false)
            .redirect(same_host_redirects())
            .build()
            .map_err(|e| {
                ConfigError(format!("cannot build the HTTP client for {provider}: {e}"))
            })?;
        Ok(HttpClient {
            provider,
            client,
            headers,
            policy,
            stats: Mutex::new(RequestStats::default()),
            budget: Mutex::new(Budget::new(policy.max_per_minute)),
            throttled_until: Mutex::new(None),
        })
    }

    /// The traffic since the last call (each try counts as a request).
    pub fn take_stats(&self) -> RequestStats {
        std::mem::take(&mut *self.stats.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn count(&self, f: impl FnOnce(&mut RequestStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Counts one request (any outcome) here and in the process-wide [`requests_made`].
    fn count_request(&self, class: &'static str) {
        REQUESTS_MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.count(|s| *s.by_status.entry(class).or_default() += 1);
    }

    /// Waits until the request budget allows one more request, and out any throttling the
    /// last answer announced.
    async fn spend_budget(&self) {
        let throttled = self
            .throttled_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(wait) = throttled.and_then(|t| t.checked_duration_since(Instant::now())) {
            self.count(|s| s.rate_limit_waits += 1);
            tracing::debug!(
                provider = self.provider,
                wait_ms = wait.as_millis() as u64,
                "The provider said it throttles this client; waiting."
            );
            tokio::time::sleep(wait).await;
        }
        let wait = self.budget.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(wait) = wait {
            self.count(|s| s.rate_limit_waits += 1);
            tracing::debug!(
                provider = self.provider,
                wait_ms = wait.as_millis() as u64,
                "Request budget spent; waiting."
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// GETs `url` with `query` and decodes the JSON body as `T`, retrying per the policy.
    ///
    /// # Errors
    /// [`CollectError::Unauthorized`] (401/403, not retried), [`CollectError::Refused`] (other
    /// 4xx), [`CollectError::RateLimited`], [`CollectError::Server`],
    /// [`CollectError::Transport`] or [`CollectError::Malformed`] once the tries are spent.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, String)],
        unauthorized_hint: &'static str,
    ) -> Result<T, CollectError> {
        let mut tries = 0u32;
        let mut rate_limited_tries = 0u32;
        loop {
            match self
                .attempt::<T>(url, query, unauthorized_hint, tries, rate_limited_tries)
                .await
            {
                Ok(v) => return Ok(v),
                Err(Attempt::Fail(e)) => return Err(e),
                Err(Attempt::Retry {
                    status,
                    wait,
                    rate_limited,
                    what,
                }) => {
                    let mut poll_retries = 0;
                    if rate_limited {
                        self.count(|s| s.rate_limit_waits += 1);
                    } else {
                        self.count(|s| {
                            s.retries += 1;
                            poll_retries = s.retries;
                        });
                    }
                    let exhausted = if rate_limited {
                        rate_limited_tries += 1;
                        rate_limited_tries >= self.policy.max_rate_limited_tries
                    } else {
                        tries += 1;
                        tries >= self.policy.max_tries
                            || poll_retries > self.policy.max_retries_per_poll
                    };
                    if exhausted {
                        let provider = self.provider;
                        return Err(match (rate_limited, status) {
                            (true, _) => CollectError::RateLimited {
                                provider,
                                tries: rate_limited_tries,
                            },
                            (false, Some(s)) if s >= 500 => CollectError::Server {
                                provider,
                                status: s,
                                tries,
                            },
                            (false, Some(_)) => CollectError::Malformed { provider, what },
                            (false, None) => CollectError::Transport { provider, what },
                        });
                    }
                    tracing::warn!(
                        provider = self.provider,
                        status = status.unwrap_or(0),
                        wait_ms = wait.as_millis() as u64,
                        error = %what,
                        "Request failed; retrying after a wait."
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, String)],
        unauthorized_hint: &'static str,
        tries: u32,
        rate_limited_tries: u32,
    ) -> Result<T, Attempt> {
        let provider = self.provider;
        self.spend_budget().await;
        let backoff = self.backoff(tries);
        let sent = match self.client.get(url).query(query).build() {
            Ok(request) => match super::in_process::route(&request, &self.headers) {
                Some(answer) => tokio::time::timeout(self.policy.timeout, answer)
                    .await
                    .map(reqwest::Response::from)
                    .map_err(|_| "timed out (in process)".to_string()),
                None => self
                    .client
                    .execute(request)
                    .await
                    .map_err(|e| transport_reason(&e)),
            },
            Err(e) => Err(transport_reason(&e)),
        };
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                self.count_request("error");
                return Err(Attempt::Retry {
                    status: None,
                    wait: backoff,
                    rate_limited: false,
                    what: e,
                });
            }
        };
        let status = resp.status();
        let class = match status.as_u16() {
            429 => "429",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.count_request(class);
        let throttled = is_throttled(resp.headers());
        if throttled && status.is_success() {
            let wait = rate_limit_wait(resp.headers())
                .unwrap_or(self.policy.base_backoff)
                .clamp(self.policy.base_backoff, self.policy.max_backoff);
            tracing::warn!(
                provider,
                wait_ms = wait.as_millis() as u64,
                "The provider says this client is throttled (X-RateLimit-State: THROTTLED); slowing down."
            );
            *self
                .throttled_until
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + wait);
        }
        if status == StatusCode::TOO_MANY_REQUESTS
            || (throttled
                && !status.is_success()
                && status != StatusCode::UNAUTHORIZED
                && status != StatusCode::FORBIDDEN)
        {
            // Without a header that says how long, back off exponentially over the 429s.
            let wait = rate_limit_wait(resp.headers())
                .unwrap_or_else(|| self.backoff(rate_limited_tries))
                .clamp(self.policy.base_backoff, self.policy.max_backoff);
            return Err(Attempt::Retry {
                status: Some(status.as_u16()),
                wait,
                rate_limited: true,
                what: if status == StatusCode::TOO_MANY_REQUESTS {
                    "rate limited (429)".into()
                } else {
                    format!(
                        "throttled (HTTP {}, X-RateLimit-State: THROTTLED)",
                        status.as_u16()
                    )
                },
            });
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Attempt::Fail(CollectError::Unauthorized {
                provider,
                status: status.as_u16(),
                hint: unauthorized_hint,
            }));
        }
        let location = status
            .is_redirection()
            .then(|| resp.headers().get(reqwest::header::LOCATION).cloned())
            .flatten();
        let body = match self.read_body(resp).await {
            Ok(b) => b,
            Err(BodyError::TooLarge) => {
                return Err(Attempt::Fail(CollectError::Malformed {
                    provider,
                    what: format!(
                        "an answer of HTTP {} is larger than {} MiB and was not read; check the API URL",
                        status.as_u16(),
                        self.policy.max_body >> 20
                    ),
                }))
            }
            Err(BodyError::Transport(e)) => {
                return Err(Attempt::Retry {
                    status: Some(status.as_u16()),
                    wait: backoff,
                    rate_limited: false,
                    what: format!("body cut off ({})", transport_reason(&e)),
                })
            }
        };
        if status.is_server_error() {
            return Err(Attempt::Retry {
                status: Some(status.as_u16()),
                wait: backoff,
                rate_limited: false,
                what: format!("HTTP {}: {}", status.as_u16(), error_message(&body)),
            });
        }
        if !status.is_success() {
            let message = match location {
                // Only a redirect to another host comes back here ([`same_host_redirects`]).
                Some(to) => format!(
                    "a redirect to another host ({}) is refused: the token is not sent there and its answer is not counted; set the API URL to the host that answers",
                    redirect_host(&to)
                ),
                None => error_message(&body),
            };
            return Err(Attempt::Fail(CollectError::Refused {
                provider,
                status: status.as_u16(),
                message,
            }));
        }
        serde_json::from_slice(&body).map_err(|e| Attempt::Retry {
            status: Some(status.as_u16()),
            wait: backoff,
            rate_limited: false,
            what: format!("not the JSON expected ({e})"),
        })
    }

    /// The body of `resp`, chunk by chunk, refused as soon as it passes the policy's `max_body`
    /// (or says it will, in `Content-Length`).
    async fn read_body(&self, mut resp: reqwest::Response) -> Result<Vec<u8>, BodyError> {
        let max = self.policy.max_body;
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(BodyError::TooLarge);
        }
        // Sized once when the length is announced (it is at most `max` here): no doubling
        // growth, no copy, no spare capacity held while the page is parsed.
        let announced = resp.content_length().map_or(0, |n| n as usize);
        let mut body = Vec::with_capacity(announced);
        while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
            if body.len() + chunk.len() > max {
                return Err(BodyError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Exponential backoff for try `n` (0-based) with up to 25% jitter.
    fn backoff(&self, n: u32) -> Duration {
        let base = self
            .policy
            .base_backoff
            .saturating_mul(1u32 << n.min(16))
            .min(self.policy.max_backoff);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        base + base.mul_f64(f64::from(nanos % 1000) / 4000.0)
    }
}

/// Redirects are followed only within the host (scheme, host and port) of the request: an
/// answer from another host (a moved API, a proxy's login page) is not the provider's, and
/// the token must not follow it, so it comes back as the 3xx it is and is refused.
fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt.previous().first().is_some_and(|first| {
            let to = attempt.url();
            first.scheme() == to.scheme()
                && first.host_str() == to.host_str()
                && first.port_or_known_default() == to.port_or_known_default()
                && to.username().is_empty()
                && to.password().is_none()
        });
        if !same {
            attempt.stop()
        } else if attempt.previous().len() > 10 {
            attempt.error("more than 10 redirects")
        } else {
            attempt.follow()
        }
    })
}

/// The host a `Location` header points at, for an error line (never its path or query).
fn redirect_host(location: &HeaderValue) -> String {
    location
        .to_str()
        .ok()
        .and_then(|l| reqwest::Url::parse(l).ok())
        .and_then(|u| u.host_str().map(String::from))
        .unwrap_or_else(|| "an unreadable location".into())
}

/// Whether the answer says the client is throttled (`X-RateLimit-State: THROTTLED`, any case).
pub fn is_throttled(headers: &HeaderMap) -> bool {
    headers
        .get("x-ratelimit-state")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("throttled"))
}

/// How long a 429 asks us to wait: `ratelimit-reset` (seconds, or an epoch time),
/// `Retry-After` (seconds), or Opsgenie's `X-RateLimit-Period-In-Sec`.
pub fn rate_limit_wait(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| -> Option<f64> {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let secs = number("ratelimit-reset")
        .or_else(|| number("retry-after"))
        .or_else(|| number("x-ratelimit-period-in-sec"))?;
    // Some APIs send an epoch time instead of a delta: tolerate both readings.
    let secs = if secs > 1_000_000_000.0 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        (secs - now).max(0.0)
    } else {
        secs
    };
    Some(Duration::from_secs_f64(secs.min(3600.0)))
}

/// A short, single-line error message from a provider's error body (PagerDuty's
/// `error.message` + `error.errors`, Opsgenie's `message` + `errors`), or the status text.
pub fn error_message(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => {
            let e = v.get("error").unwrap_or(&v);
            let mut parts = Vec::new();
            if let Some(m) = e.get("message").and_then(|m| m.as_str()) {
                parts.push(m.to_string());
            }
            if let Some(c) = e.get("code").and_then(|c| c.as_i64()) {
                parts.push(format!("code {c}"));
            }
            match e.get("errors") {
                Some(serde_json::Value::Array(a)) => {
                    parts.extend(a.iter().filter_map(|x| x.as_str()).map(String::from))
                }
                Some(serde_json::Value::Object(o)) => parts.extend(
                    o.iter()
                        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or(""))),
                ),
                _ => {}
            }
            parts.join("; ")
        }
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    };
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    if one_line.trim().is_empty() {
        "no error message".into()
    } else {
        one_line
    }
}

fn transport_reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "body cut off"
    } else {
        "request failed"
    };
    // reqwest's Display includes the URL (no secrets in ours) and the cause.
    let mut msg = format!("{kind}: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot HTTP server on a free loopback port answering `head` and then `body_len`
    /// bytes of `x`.
    fn serve_once(head: String, body_len: usize) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/big", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(head.as_bytes());
            let chunk = vec![b'x'; 64 * 1024];
            let mut left = body_len;
            while left > 0 {
                let n = left.min(chunk.len());
                if s.write_all(&chunk[..n]).is_err() {
                    return;
                }
                left -= n;
            }
        });
        url
    }

    #[tokio::test]
    async fn an_answer_larger_than_the_cap_is_refused_not_read() {
        let policy = RetryPolicy {
            max_body: 1 << 20,
            max_tries: 1,
            ..RetryPolicy::default()
        };
        let client =
            HttpClient::new("test", &Secret::new("t"), "application/json", policy).unwrap();
        // Announced in Content-Length, and streamed without one (chunked).
        for head in [
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                4 << 20
            ),
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
                .to_string(),
        ] {
            let url = serve_once(head, 4 << 20);
            let got: Result<serde_json::Value, _> = client.get_json(&url, &[], "").await;
            let e = got.unwrap_err().to_string();
            assert!(e.contains("larger than 1 MiB"), "{e}");
        }
    }

    #[test]
    fn budget_spreads_requests() {
        let mut b = Budget::new(60);
        for _ in 0..60 {
            assert_eq!(b.take(), None, "a minute's worth at once");
        }
        let wait = b.take().expect("then one a second");
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert_eq!(Budget::new(0).take(), None, "0 = no budget");
    }

    #[test]
    fn rate_limit_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(rate_limit_wait(&h), None);
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(rate_limit_wait(&h), Some(Duration::from_secs(3)));
        h.insert("ratelimit-reset", HeaderValue::from_static("7"));
        assert_eq!(rate_limit_wait(&h), Some(Duration::from_secs(7)));
        h.insert("ratelimit-reset", HeaderValue::from_static("soon"));
        assert_eq!(rate_limit_wait(&h), Some(Duration::from_secs(3)));
    }

    #[test]
    fn throttled_state() {
        let mut h = HeaderMap::new();
        assert!(!is_throttled(&h));
        h.insert("x-ratelimit-state", HeaderValue::from_static("OK"));
        assert!(!is_throttled(&h));
        h.insert("x-ratelimit-state", HeaderValue::from_static(" Throttled "));
        assert!(is_throttled(&h));
    }

    #[test]
    fn error_messages() {
        let pd = br#"{"error":{"message":"Arguments Caused Error","code":2002,"errors":["Offset+limit exceeds"]}}"#;
        assert_eq!(
            error_message(pd),
            "Arguments Caused Error; code 2002; Offset+limit exceeds"
        );
        let og = br#"{"message":"Request body is not processable.","errors":{"limit":"too big"}}"#;
        assert_eq!(
            error_message(og),
            "Request body is not processable.; limit: too big"
        );
        assert_eq!(error_message(b"<html>\nbad\n</html>"), "<html> bad </html>");
    }
}
