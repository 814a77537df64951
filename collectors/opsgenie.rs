//! Opsgenie collector: alerts and their activity logs → on-call events.
//!
//! **Reads**
//! - `GET {OPSGENIE_API_URL}/v2/alerts` with `query=createdAt<{until} AND updatedAt>={since}`
//!   (epoch milliseconds), `sort=createdAt`, `order=asc`, `limit=100`, following `offset`:
//!   every alert that existed before the window ended and changed after it began. Sorting by
//!   the immutable `createdAt` keeps pages stable while alerts keep changing.
//! - `GET /v2/alerts` with `query=status:open AND createdAt>={until - 1h} AND createdAt<{until}`,
//!   `sort=createdAt`, `order=desc`, `limit=50` (one request): the newest open alerts, of which
//!   the unacknowledged ones are read as if they had changed ([`RENOTIFY_HORIZON`]). Whether a
//!   notification row moves an alert's `updatedAt` is UNCONFIRMED; if it does not, this is
//!   what still sees escalation steps and repeats of a young unacknowledged alert. Older or
//!   acknowledged alerts are seen only when their `updatedAt` moves.
//! - `GET /v2/alerts/{id}/logs?identifierType=id&order=asc&direction=next&limit=100`, paged with
//!   the string `offset` cursor, only for alerts whose `updatedAt` moved since this collector
//!   last read their logs, or that may still be notifying people as above (remembered in
//!   memory; after a restart logs are read again and the engine's dedupe drops what was
//!   counted).
//! - `GET /v2/users` to turn the usernames in logs into user ids, full names and time zones
//!   (`timeZone`): read at start and then hourly ([`USERS_MAX_AGE`], so changed zones and names
//!   show up), and again when a log row names someone new, at most every [`USERS_REFRESH`]. A
//!   name missing from a directory read after its row was written (System, an integration, an
//!   API key, a removed user) is remembered as nobody and never causes a read by itself.
//!
//! **Emits**: an alert created in the window → `Triggered` (service = integration name,
//! urgency = priority `p1`..`p5`); log rows in the window, classified by [`classify`]:
//! notifications by channel, acknowledgements, assignments (owner changes), escalations and
//! closes. A row whose person is not a known user (System, an integration, an API key) counts
//! as nobody's action: an ack or close by nobody still ends the wait for time to acknowledge
//! and resolve, a notification, assignment or escalation to nobody is dropped. Every event
//! carries its alert as the [`Incident`] (id, `createdAt`, `message` as title, integration as
//! service, priority as urgency). Record ids are `{alert id}/created` and
//! `{alert id}/{log offset}`.
//!
//! **Config**: `OPSGENIE_API_KEY` / `OPSGENIE_API_KEY_FILE` (`Authorization: GenieKey …`),
//! `OPSGENIE_API_URL` (default https://api.opsgenie.com; EU: https://api.eu.opsgenie.com).
//!
//! **Quirks** (see ../shared/api-notes.md §9-12): `offset + limit` may not pass 20,000 → before
//! that the listing starts again from offset 0 with `AND createdAt>={newest createdAt read}`
//! (alerts read twice dropped by id), so a window of any size is read in one call; only a single
//! millisecond holding more than 20,000 alerts is [`CollectError::WindowTooLarge`]; 429 carries
//! `X-RateLimit-Period-In-Sec` (handled in `http.rs`); log texts are not documented, so the
//! patterns live in one anchored table ([`classify`]) and rows that match none are logged at debug
//! level and not counted; a window is read in one call, so one call can hold every alert of a bulk
//! change (memory grows with it). Opsgenie reaches end of support on 2027-04-05 (Atlassian moves
//! customers to Jira Service Management Operations): this file only knows the three endpoints
//! above, so a JSM Operations variant is a new base URL, auth header and envelope, not a new
//! design.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::http::{HttpClient, RetryPolicy};
use super::{CollectError, Collected, Collector, RequestStats};
use crate::config::{Config, ConfigError};
use crate::event::{Channel, Event, EventKind, Incident, Person, Window};

const NAME: &str = "opsgenie";
const PAGE_LIMIT: u64 = 100;
/// `offset + limit` may not exceed this on `/v2/alerts`.
pub const OFFSET_CAP: u64 = 20_000;
/// A log row naming someone the directory does not know re-reads it at most this often (as the
/// PagerDuty collector's `USERS_REFRESH`).
pub const USERS_REFRESH: Duration = Duration::from_secs(600);
/// The directory is read again at least this often, so changed time zones and names show up.
pub const USERS_MAX_AGE: Duration = Duration::from_secs(3600);
/// After a failed read of the directory, the next try waits at least this long.
const USERS_RETRY: Duration = Duration::from_secs(60);
/// A row older than a directory read by this much is taken to be older than the read, despite
/// clock skew between Opsgenie and this host.
const USERS_SKEW: SignedDuration = SignedDuration::from_secs(60);
/// Most names remembered as not users (a bound against junk in log owners).
const NOT_USERS_MAX: usize = 10_000;
/// Open, unacknowledged alerts created less than this before a window's end have their logs
/// read every window, changed or not: whether a notification row moves `updatedAt` is
/// UNCONFIRMED, and these are the alerts whose escalations and repeats may still notify people.
pub const RENOTIFY_HORIZON: SignedDuration = SignedDuration::from_hours(1);
/// At most this many of them are listed per window, the newest (one request).
pub const RENOTIFY_MAX: u64 = 50;
const UNAUTHORIZED_HINT: &str =
    "; check OPSGENIE_API_KEY, and for an EU account set OPSGENIE_API_URL=https://api.eu.opsgenie.com";

/// The registry constructor: a collector when `OPSGENIE_API_KEY` is set.
pub fn build(config: &Config) -> Result<Option<Box<dyn Collector>>, ConfigError> {
    let Some(key) = &config.opsgenie_api_key else {
        return Ok(None);
    };
    let auth = crate::secret::Secret::new(format!("GenieKey {}", key.expose()));
    let http = HttpClient::new(
        NAME,
        &auth,
        "application/json",
        RetryPolicy::from_config(config),
    )?;
    Ok(Some(Box::new(OpsgenieCollector {
        base: config.opsgenie_api_url.clone(),
        http,
        users: HashMap::new(),
        users_read: None,
        users_read_wall: None,
        users_failed: None,
        not_users: HashSet::new(),
        read: HashMap::new(),
    })))
}

/// Reads Opsgenie alerts and logs.
pub struct OpsgenieCollector {
    base: String,
    http: HttpClient,
    /// Username (lowercased) → person.
    users: HashMap<String, Person>,
    /// When the directory was last read in full, on the monotonic and on the wall clock.
    users_read: Option<Instant>,
    users_read_wall: Option<Timestamp>,
    /// When the last read of it failed (cleared by a good one).
    users_failed: Option<Instant>,
    /// Names (lowercased) known not to be users: missing from a directory read after the row
    /// that named them.
    not_users: HashSet<String>,
    /// What was read of each alert listed by the last window: see [`LogsRead`].
    read: HashMap<String, LogsRead>,
}

/// How far an alert's logs were read.
struct LogsRead {
    /// The alert's `updatedAt` when its logs were read.
    updated_at: String,
    /// The end of the window they were read for.
    until: Timestamp,
    /// The offset of the last row older than that window's start: later reads start there.
    settled: Option<String>,
    /// The engine delivered everything up to `until` ([`Collector::delivered`]).
    delivered: bool,
}

#[derive(Deserialize)]
struct Page {
    data: Vec<serde_json::Value>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize, Default)]
struct Paging {
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    id: String,
    created_at: String,
    updated_at: String,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    integration: Option<Integration>,
    #[serde(default)]
    source: Option<String>,
    /// `open` or `closed`.
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    acknowledged: Option<bool>,
}

impl Alert {
    /// Whether Opsgenie may still be notifying people about it without a state change: open,
    /// not acknowledged, created less than [`RENOTIFY_HORIZON`] before `window` ends.
    fn may_renotify(&self, created: Timestamp, window: &Window) -> bool {
        !self
            .status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("closed"))
            && self.acknowledged != Some(true)
            && created >= window.until - RENOTIFY_HORIZON
    }
}

#[derive(Deserialize)]
struct Integration {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogRow {
    #[serde(default)]
    log: String,
    /// `system`, `alertRecipient`, … (see [`LOG_TEXTS`]).
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    owner: String,
    created_at: String,
    offset: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    id: String,
    username: String,
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
}

/// What a log row says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Notified(Channel),
    Acknowledged,
    Assigned,
    Escalated,
    Closed,
}

/// What a log row says happened, and to whom: usernames (from the text, or the row's owner),
/// each once, in the order named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub action: Action,
    pub people: Vec<String>,
}

/// What a pattern's action is, before the row fills in the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Does {
    Notify,
    Acknowledge,
    Assign,
    Escalate,
    Close,
}

/// Whose action a pattern's row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// The usernames in the text's `{user}` or `{users}`.
    Named,
    /// The row's `owner`.
    Owner,
}

/// One row of the log-text table.
struct Pattern {
    /// The whole `log` text. Literals match case-insensitively, runs of white space as one
    /// space, a final `.` is ignored. `{user}`: one username (no white space); `{users}`: one
    /// or more, separated by `,`, `;` or `and`; `{method}`: the notification method, inside
    /// `[…]`; `{name}`, `{via}`: any text.
    text: &'static str,
    /// The row `type`s it may carry (case-insensitive); any other type is not this pattern.
    types: &'static [&'static str],
    does: Does,
    who: Who,
}

/// The row type of state changes (api-notes §9: the doc sample "Alert acknowledged via web" is
/// `system`; recipient activity such as "Viewed on [web]" is `alertRecipient`).
const SYSTEM: &[&str] = &["system"];

/// The one table of log texts ptsd counts. Only "Alert acknowledged via web" (`system`, owner =
/// the acker) is an Opsgenie doc sample; the rest mirror the fake's `OG_LOG_TEXTS` and must be
/// checked against a live account. A notification is a recipient's business as much as the
/// system's, so both types are accepted for it; everything else is a state change (`system`).
const LOG_TEXTS: &[Pattern] = &[
    Pattern {
        text: "Sent [{method}] notification to {user}",
        types: &["system", "alertRecipient"],
        does: Does::Notify,
        who: Who::Named,
    },
    Pattern {
        text: "Escalation [{name}] is triggered and notified {users}",
        types: SYSTEM,
        does: Does::Escalate,
        who: Who::Named,
    },
    Pattern {
        text: "Alert owner changed to {user}",
        types: SYSTEM,
        does: Does::Assign,
        who: Who::Named,
    },
    Pattern {
        text: "Alert acknowledged via {via}",
        types: SYSTEM,
        does: Does::Acknowledge,
        who: Who::Owner,
    },
    Pattern {
        text: "Alert closed via {via}",
        types: SYSTEM,
        does: Does::Close,
        who: Who::Owner,
    },
];

/// Characters trimmed off a username named in a text.
fn trim_name(s: &str) -> &str {
    s.trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | '"' | '\'' | ',' | ';' | '.'))
}

/// The placeholder values of `template` in `text` (which must match it as a whole), or `None`.
/// Literals match case-insensitively; each placeholder takes the text up to the next literal
/// (the last one up to the final literal, or the end).
fn match_text<'t>(template: &'static str, text: &'t str) -> Option<Vec<(&'static str, &'t str)>> {
    // ASCII lowercasing keeps byte offsets, so positions in `lower` are positions in `text`.
    let lower = text.to_ascii_lowercase();
    let mut literals: Vec<String> = Vec::new();
    let mut names: Vec<&'static str> = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = open + rest[open..].find('}')?;
        literals.push(rest[..open].to_ascii_lowercase());
        names.push(&rest[open + 1..close]);
        rest = &rest[close + 1..];
    }
    literals.push(rest.to_ascii_lowercase());
    if !lower.starts_with(literals[0].as_str()) {
        return None;
    }
    let mut pos = literals[0].len();
    let mut values = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let next = literals[i + 1].as_str();
        let last = i + 1 == names.len();
        let end = if last {
            if !lower.ends_with(next) || lower.len() < pos + next.len() {
                return None;
            }
            lower.len() - next.len()
        } else if next.is_empty() {
            return None; // two placeholders in a row: not a pattern of the table
        } else {
            pos + lower[pos..].find(next)?
        };
        let value = text[pos..end].trim();
        if value.is_empty() {
            return None;
        }
        values.push((*name, value));
        pos = end + next.len();
    }
    (pos == lower.len()).then_some(values)
}

/// The channel of a notification method as written inside `Sent [..]`: `Voice` is a phone
/// call, `Mobile` a push; see [`Channel::from_provider`].
fn channel_of(method: &str) -> Channel {
    if method.trim().eq_ignore_ascii_case("voice") {
        Channel::Phone
    } else {
        Channel::from_provider(method)
    }
}

/// Classifies one log row (`log`, `type`, `owner`) by [`LOG_TEXTS`], first match wins:
///
/// | `log` (whole text) | `type` | activity | people |
/// |---|---|---|---|
/// | `Sent [{method}] notification to {user}` | system, alertRecipient | notified (SMS, Voice → phone, Email, Mobile → push, else other) | `{user}` |
/// | `Escalation [{name}] is triggered and notified {users}` | system | escalated | each of `{users}` |
/// | `Alert owner changed to {user}` | system | assigned | `{user}` |
/// | `Alert acknowledged via {via}` | system | acknowledged | the row's owner |
/// | `Alert closed via {via}` | system | closed | the row's owner |
///
/// Anything else is `None` (the caller logs it at debug level and counts nothing): "Could not
/// send [SMS] notification to …", "Alert unacknowledged via web", a note that mentions
/// "closed", a known text with another row type, a `{user}` with white space in it.
pub fn classify(text: &str, kind: &str, owner: &str) -> Option<Activity> {
    let norm = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let norm = norm.strip_suffix('.').unwrap_or(&norm);
    LOG_TEXTS.iter().find_map(|p| {
        if !p.types.iter().any(|t| t.eq_ignore_ascii_case(kind.trim())) {
            return None;
        }
        let values = match_text(p.text, norm)?;
        let value = |n: &str| values.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        let mut people: Vec<String> = Vec::new();
        match p.who {
            Who::Owner => {
                let o = owner.trim();
                if !o.is_empty() {
                    people.push(o.to_string());
                }
            }
            Who::Named => {
                if let Some(u) = value("user") {
                    let u = trim_name(u);
                    if u.is_empty() || u.contains(char::is_whitespace) {
                        return None;
                    }
                    people.push(u.to_string());
                }
                if let Some(list) = value("users") {
                    for piece in list.split(|c: char| c == ',' || c == ';' || c.is_whitespace()) {
                        let piece = trim_name(piece);
                        if piece.is_empty()
                            || piece.eq_ignore_ascii_case("and")
                            || people.iter().any(|p| p.eq_ignore_ascii_case(piece))
                        {
                            continue;
                        }
                        people.push(piece.to_string());
                    }
                }
                if people.is_empty() {
                    return None;
                }
            }
        }
        let action = match p.does {
            Does::Notify => {
                let method = value("method")?;
                if method.contains(['[', ']']) {
                    return None;
                }
                Action::Notified(channel_of(method))
            }
            Does::Acknowledge => Action::Acknowledged,
            Does::Assign => Action::Assigned,
            Does::Escalate => Action::Escalated,
            Does::Close => Action::Closed,
        };
        Some(Activity { action, people })
    })
}

fn millis(t: Timestamp) -> String {
    t.as_millisecond().to_string()
}

impl OpsgenieCollector {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The whole user directory: username (lowercased) → person.
    async fn read_users(&self) -> Result<HashMap<String, Person>, CollectError> {
        let mut users = HashMap::new();
        let mut offset = 0u64;
        loop {
            let page: Page = self
                .http
                .get_json(
                    &self.url("/v2/users"),
                    &[
                        ("limit", PAGE_LIMIT.to_string()),
                        ("offset", offset.to_string()),
                    ],
                    UNAUTHORIZED_HINT,
                )
                .await?;
            let n = page.data.len() as u64;
            for u in page.data {
                if let Ok(u) = serde_json::from_value::<User>(u) {
                    let person = Person {
                        id: u.id,
                        name: u.full_name,
                        email: Some(u.username.clone()),
                        time_zone: u.time_zone.filter(|z| !z.is_empty()),
                    };
                    users.insert(u.username.to_ascii_lowercase(), person);
                }
            }
            offset += n;
            if n == 0 || page.paging.and_then(|p| p.next).is_none() || offset >= OFFSET_CAP {
                return Ok(users);
            }
        }
    }

    /// Reads the directory again; a failure keeps the old one (and is returned).
    async fn refresh_users(&mut self) -> Result<(), CollectError> {
        let started = Timestamp::now();
        match self.read_users().await {
            Ok(users) => {
                self.users = users;
                self.users_read = Some(Instant::now());
                self.users_read_wall = Some(started);
                self.users_failed = None;
                let users = &self.users;
                self.not_users.retain(|n| !users.contains_key(n));
                Ok(())
            }
            Err(e) => {
                self.users_failed = Some(Instant::now());
                Err(e)
            }
        }
    }

    /// The alerts created before the window ended and updated after it began, each once.
    ///
    /// Past the 20,000 `offset + limit` cap the query starts again at offset 0 with a lower
    /// bound `createdAt>={the newest createdAt seen}`: the results are sorted by the immutable
    /// `createdAt`, so that bound skips what was read, and being inclusive it keeps the alerts
    /// that share that millisecond (those read already are dropped by id). So any number of
    /// alerts can be read, including old alerts all updated inside the window (a bulk close,
    /// a catch-up), which no split of the window would bring under the cap: the window bounds
    /// only `updatedAt` from below. [`CollectError::WindowTooLarge`] is left for a single
    /// millisecond holding more than the cap, which no query can page through.
    async fn alerts(&self, window: &Window) -> Result<(Vec<Alert>, u64), CollectError> {
        let base = format!(
            "createdAt<{} AND updatedAt>={}",
            millis(window.until),
            millis(window.since)
        );
        let mut alerts = Vec::new();
        let mut ids: HashSet<String> = HashSet::new();
        let mut skipped = 0;
        // The `createdAt` lower bound (epoch ms) after a restart, and the oldest and newest
        // `createdAt` the current query returned.
        let mut lower: Option<i64> = None;
        let mut span: Option<(i64, i64)> = None;
        let mut offset = 0u64;
        loop {
            if offset + PAGE_LIMIT > OFFSET_CAP {
                match span {
                    Some((oldest, newest)) if oldest < newest => {
                        tracing::debug!(provider = NAME, created_from = newest, read = alerts.len(), "The 20,000 offset cap is near; listing again from the newest createdAt read.");
                        lower = Some(newest);
                        span = None;
                        offset = 0;
                    }
                    _ => {
                        tracing::error!(provider = NAME, created_at = ?span.map(|s| s.0), "More than 20,000 alerts share one createdAt millisecond; Opsgenie's API cannot page through them.");
                        return Err(CollectError::WindowTooLarge {
                            provider: NAME,
                            total: None,
                        });
                    }
                }
            }
            let query = match lower {
                None => base.clone(),
                Some(ms) => format!("{base} AND createdAt>={ms}"),
            };
            let page = self.alerts_page(query, "asc", PAGE_LIMIT, offset).await?;
            let n = page.data.len() as u64;
            for a in page.data {
                let created = a
                    .get("createdAt")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|c| c.parse::<Timestamp>().ok())
                    .map(Timestamp::as_millisecond);
                if let Some(ms) = created {
                    span = Some(span.map_or((ms, ms), |(lo, hi)| (lo.min(ms), hi.max(ms))));
                }
                if let Some(id) = a.get("id").and_then(serde_json::Value::as_str) {
                    if !ids.insert(id.to_string()) {
                        // Listed again after a restart (same millisecond) or a shifted page.
                        continue;
                    }
                }
                match serde_json::from_value::<Alert>(a) {
                    Ok(a) => alerts.push(a),
                    Err(e) => {
                        skipped += 1;
                        tracing::warn!(provider = NAME, error = %e, "Skipped a malformed alert.");
                    }
                }
            }
            offset += n;
            if n == 0 || page.paging.and_then(|p| p.next).is_none() {
                return Ok((alerts, skipped));
            }
        }
    }

    /// One page of `GET /v2/alerts` matching `query`, sorted by `createdAt` in `order`.
    async fn alerts_page(
        &self,
        query: String,
        order: &str,
        limit: u64,
        offset: u64,
    ) -> Result<Page, CollectError> {
        self.http
            .get_json(
                &self.url("/v2/alerts"),
                &[
                    ("query", query),
                    ("sort", "createdAt".into()),
                    ("order", order.into()),
                    ("limit", limit.to_string()),
                    ("offset", offset.to_string()),
                ],
                UNAUTHORIZED_HINT,
            )
            .await
    }

    /// Up to [`RENOTIFY_MAX`] open, unacknowledged alerts created within [`RENOTIFY_HORIZON`]
    /// before the window's end, newest first, whether or not they changed in the window.
    async fn renotifiable(&self, window: &Window) -> Result<Vec<Alert>, CollectError> {
        let query = format!(
            "status:open AND createdAt>={} AND createdAt<{}",
            millis(window.until - RENOTIFY_HORIZON),
            millis(window.until)
        );
        let page = self.alerts_page(query, "desc", RENOTIFY_MAX, 0).await?;
        // A malformed alert is the main listing's to count as skipped, if it changed.
        Ok(page
            .data
            .into_iter()
            .filter_map(|a| serde_json::from_value::<Alert>(a).ok())
            .filter(|a| a.acknowledged != Some(true))
            .collect())
    }

    /// Every log row of `alert_id` after `from` (an offset), oldest first, and how many rows
    /// were malformed (skipped, each logged).
    async fn logs(
        &self,
        alert_id: &str,
        from: Option<&str>,
    ) -> Result<(Vec<LogRow>, u64), CollectError> {
        let mut rows = Vec::new();
        let mut skipped = 0;
        let mut cursor = from.map(String::from);
        loop {
            let mut q = vec![
                ("identifierType", "id".to_string()),
                ("order", "asc".to_string()),
                ("direction", "next".to_string()),
                ("limit", PAGE_LIMIT.to_string()),
            ];
            if let Some(c) = &cursor {
                q.push(("offset", c.clone()));
            }
            let page: Page = self
                .http
                .get_json(
                    &self.url(&format!("/v2/alerts/{alert_id}/logs")),
                    &q,
                    UNAUTHORIZED_HINT,
                )
                .await?;
            // The next page starts after the page's last row that has a cursor, even when that
            // row is malformed otherwise.
            let last = page
                .data
                .iter()
                .rev()
                .find_map(|r| r.get("offset").and_then(serde_json::Value::as_str))
                .map(String::from);
            let n = page.data.len();
            for r in page.data {
                match serde_json::from_value::<LogRow>(r) {
                    Ok(r) => rows.push(r),
                    Err(e) => {
                        skipped += 1;
                        tracing::warn!(provider = NAME, alert = %alert_id, error = %e, "Skipped a malformed alert log row.");
                    }
                }
            }
            if n == 0 || page.paging.and_then(|p| p.next).is_none() || last.is_none() {
                return Ok((rows, skipped));
            }
            if last == cursor {
                tracing::warn!(provider = NAME, alert = %alert_id, "Log page did not move the cursor; stopping here.");
                return Ok((rows, skipped));
            }
            cursor = last;
        }
    }

    /// The person behind `who`, named by a row written at `at`; `None` for nobody (System, an
    /// integration, someone the directory does not hold).
    async fn person(&mut self, who: &str, at: Timestamp) -> Option<Person> {
        let key = who.to_ascii_lowercase();
        if let Some(p) = self.users.get(&key) {
            return Some(p.clone());
        }
        if self.not_users.contains(&key) {
            return None;
        }
        let read_after_row = self.users_read_wall.is_some_and(|r| at + USERS_SKEW < r);
        if !read_after_row {
            if !users_due(self.users_read, self.users_failed, Instant::now(), true) {
                // Someone new since the last read: looked up again once USERS_REFRESH has passed.
                return None;
            }
            if let Err(e) = self.refresh_users().await {
                tracing::warn!(provider = NAME, error = %e, "Cannot read the user list again; rows naming new people count as nobody's for now.");
                return None;
            }
            if let Some(p) = self.users.get(&key) {
                return Some(p.clone());
            }
        }
        tracing::debug!(provider = NAME, who = %who, "Not in the user directory; counted as nobody.");
        if self.not_users.len() >= NOT_USERS_MAX {
            self.not_users.clear();
        }
        self.not_users.insert(key);
        None
    }
}

/// Whether to read the user directory now, given when it was last read and last failed:
/// never read, read more than [`USERS_MAX_AGE`] ago, or, for a row naming someone it does not
/// know (`unknown`), more than [`USERS_REFRESH`] ago; never within [`USERS_RETRY`] of a failure.
fn users_due(read: Option<Instant>, failed: Option<Instant>, now: Instant, unknown: bool) -> bool {
    if failed.is_some_and(|f| now.saturating_duration_since(f) < USERS_RETRY) {
        return false;
    }
    read.is_none_or(|r| {
        let age = now.saturating_duration_since(r);
        age >= USERS_MAX_AGE || (unknown && age >= USERS_REFRESH)
    })
}

#[async_trait]
impl Collector for OpsgenieCollector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn check(&mut self) -> Result<(), CollectError> {
        self.refresh_users().await
    }

    async fn collect(&mut self, window: Window) -> Result<Collected, CollectError> {
        if users_due(self.users_read, self.users_failed, Instant::now(), false) {
            if let Err(e) = self.refresh_users().await {
                tracing::warn!(provider = NAME, error = %e, "Cannot read the user list; using the one read before.");
            }
        }
        let (mut alerts, skipped) = self.alerts(&window).await?;
        let listed: HashSet<String> = alerts.iter().map(|a| a.id.clone()).collect();
        for a in self.renotifiable(&window).await? {
            if !listed.contains(&a.id) {
                alerts.push(a);
            }
        }
        let mut out = Collected {
            skipped,
            ..Collected::default()
        };
        let mut next_read = HashMap::new();
        for alert in alerts {
            let (Ok(created), Ok(updated)) = (
                alert.created_at.parse::<Timestamp>(),
                alert.updated_at.parse::<Timestamp>(),
            ) else {
                out.skipped += 1;
                tracing::warn!(provider = NAME, alert = %alert.id, "Skipped an alert with a bad timestamp.");
                continue;
            };
            let service = alert
                .integration
                .as_ref()
                .and_then(|i| i.name.clone())
                .or(alert.source.clone())
                .unwrap_or_else(|| "unknown".into());
            let incident = Incident {
                id: alert.id.clone(),
                created_at: Some(created),
                title: alert.message.clone(),
                service: Some(service.clone()),
                urgency: alert.priority.clone(),
            };
            if window.contains(created) {
                out.events.push(Event {
                    record_id: format!("{}/created", alert.id),
                    at: created,
                    kind: EventKind::Triggered {
                        service,
                        urgency: alert.priority.clone().unwrap_or_else(|| "none".into()),
                    },
                    incident: Some(incident.clone()),
                });
            }
            // Only what the engine delivered may be skipped: a window read again after a failed
            // poll must see every row again.
            let known = self.read.remove(&alert.id).filter(|k| k.delivered);
            if let Some(k) = known.as_ref() {
                // Unchanged since its logs were read for a window that ended after its last
                // change: every row it has was seen then, unless notifications do not move
                // `updatedAt` and it may still be notifying people.
                if k.updated_at == alert.updated_at
                    && updated < k.until
                    && !alert.may_renotify(created, &window)
                {
                    next_read.insert(alert.id.clone(), known.expect("matched above"));
                    continue;
                }
            }
            let from = known.and_then(|k| k.settled);
            let (rows, malformed) = self.logs(&alert.id, from.as_deref()).await?;
            out.skipped += malformed;
            let mut settled = from;
            for row in rows {
                let Ok(at) = row.created_at.parse::<Timestamp>() else {
                    out.skipped += 1;
                    tracing::warn!(provider = NAME, alert = %alert.id, offset = %row.offset, created_at = %row.created_at, "Skipped an alert log row with a bad timestamp.");
                    continue;
                };
                if at < window.since {
                    settled = Some(row.offset.clone());
                }
                if !window.contains(at) {
                    continue;
                }
                let Some(activity) = classify(&row.log, &row.kind, &row.owner) else {
                    tracing::debug!(provider = NAME, alert = %alert.id, log = %row.log, kind = %row.kind, "Log row not classified; not counted.");
                    continue;
                };
                let record_id = format!("{}/{}", alert.id, row.offset);
                let event = |kind| Event {
                    record_id: record_id.clone(),
                    at,
                    kind,
                    incident: Some(incident.clone()),
                };
                match activity.action {
                    // An ack or close by nobody (System, an integration) still ends the wait.
                    Action::Acknowledged | Action::Closed => {
                        let user = match activity.people.first() {
                            Some(who) => self.person(who, at).await,
                            None => None,
                        };
                        out.events
                            .push(event(if activity.action == Action::Acknowledged {
                                EventKind::Acknowledged { user }
                            } else {
                                EventKind::Resolved { user }
                            }));
                    }
                    // One event per person named, all under the row's record id.
                    action => {
                        for who in &activity.people {
                            let Some(user) = self.person(who, at).await else {
                                tracing::debug!(provider = NAME, alert = %alert.id, who = %who, "Log row names no known user; not a person's action.");
                                continue;
                            };
                            out.events.push(event(match action {
                                Action::Notified(channel) => EventKind::Notified { user, channel },
                                Action::Assigned => EventKind::Assigned { user },
                                _ => EventKind::Escalated { user },
                            }));
                        }
                    }
                }
            }
            next_read.insert(
                alert.id.clone(),
                LogsRead {
                    updated_at: alert.updated_at.clone(),
                    until: window.until,
                    settled,
                    delivered: false,
                },
            );
        }
        // Alerts not listed this time did not change since the window began: forgetting them
        // keeps memory bounded; if they change later their logs are read again (and deduped).
        self.read = next_read;
        Ok(out)
    }

    fn take_stats(&mut self) -> RequestStats {
        self.http.take_stats()
    }

    fn delivered(&mut self, until: Timestamp) {
        for k in self.read.values_mut() {
            k.delivered |= k.until <= until;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADA: &str = "ada@example.com";

    fn act(action: Action, people: &[&str]) -> Option<Activity> {
        Some(Activity {
            action,
            people: people.iter().map(|p| p.to_string()).collect(),
        })
    }

    #[test]
    fn when_the_user_directory_is_read() {
        let now = Instant::now() + Duration::from_secs(24 * 3600);
        let ago = |secs: u64| Some(now - Duration::from_secs(secs));
        // Never read: now, whatever else.
        assert!(users_due(None, None, now, false));
        // A new name: only once USERS_REFRESH has passed.
        assert!(!users_due(ago(599), None, now, true));
        assert!(users_due(ago(600), None, now, true));
        // Otherwise hourly.
        assert!(!users_due(ago(3599), None, now, false));
        assert!(users_due(ago(3600), None, now, false));
        // Not within a minute of a failure, then again.
        assert!(!users_due(None, ago(59), now, true));
        assert!(!users_due(ago(7200), ago(30), now, false));
        assert!(users_due(ago(7200), ago(60), now, false));
    }

    #[test]
    fn notifications_by_method() {
        for (text, kind, want) in [
            (
                "Sent [SMS] notification to ada@example.com",
                "system",
                Channel::Sms,
            ),
            (
                "Sent [Voice] notification to ada@example.com",
                "system",
                Channel::Phone,
            ),
            (
                "Sent [Email] notification to ada@example.com",
                "system",
                Channel::Email,
            ),
            (
                "Sent [Mobile] notification to ada@example.com",
                "system",
                Channel::Push,
            ),
            (
                "Sent [Carrier pigeon] notification to ada@example.com",
                "system",
                Channel::Other,
            ),
            // Recipient activity may carry it too; case, spacing and a final dot do not matter.
            (
                "Sent [SMS] notification to ada@example.com",
                "alertRecipient",
                Channel::Sms,
            ),
            (
                "sent  [sms] NOTIFICATION to ada@example.com.",
                "System",
                Channel::Sms,
            ),
        ] {
            assert_eq!(
                classify(text, kind, "System"),
                act(Action::Notified(want), &[ADA]),
                "{text}"
            );
        }
    }

    #[test]
    fn state_changes() {
        let grace = "grace@example.com";
        for (text, owner, want) in [
            (
                "Alert acknowledged via web",
                ADA,
                act(Action::Acknowledged, &[ADA]),
            ),
            (
                "Alert acknowledged via Prometheus",
                "Prometheus",
                act(Action::Acknowledged, &["Prometheus"]),
            ),
            (
                "Alert acknowledged via web",
                "",
                act(Action::Acknowledged, &[]),
            ),
            ("Alert closed via web", ADA, act(Action::Closed, &[ADA])),
            (
                "Alert closed via API",
                "System",
                act(Action::Closed, &["System"]),
            ),
            (
                "Alert owner changed to ada@example.com",
                "System",
                act(Action::Assigned, &[ADA]),
            ),
            (
                "Escalation [Platform_escalation] is triggered and notified ada@example.com",
                "System",
                act(Action::Escalated, &[ADA]),
            ),
        ] {
            assert_eq!(classify(text, "system", owner), want, "{text}");
        }
        // Several people notified by one escalation: each counts, each once.
        assert_eq!(
            classify(
                "Escalation [Payments] is triggered and notified ada@example.com, grace@example.com and Ada@example.com",
                "system",
                "System"
            ),
            act(Action::Escalated, &[ADA, grace])
        );
        assert_eq!(
            classify(
                "Escalation [Payments] is triggered and notified ada@example.com; grace@example.com",
                "system",
                "System"
            ),
            act(Action::Escalated, &[ADA, grace])
        );
    }

    #[test]
    fn nothing_unsure_counts() {
        for (text, kind) in [
            // Failures and look-alikes of the notification text.
            (
                "Could not send [SMS] notification to ada@example.com",
                "system",
            ),
            (
                "Sent [SMS] notification to ada@example.com failed",
                "system",
            ),
            ("Sent notification to ada@example.com", "system"),
            (
                "Sent [SMS] [retry] notification to ada@example.com",
                "system",
            ),
            ("Resent [SMS] notification to ada@example.com", "system"),
            // Notes and other texts that merely mention an action.
            ("Note added: closed the ticket after the rollback", "system"),
            (
                "[ada@example.com] added note: Alert closed via web",
                "system",
            ),
            ("Alert closed via web? No, still broken", "note"),
            ("ada@example.com acknowledged it on the phone", "system"),
            ("Alert unacknowledged via web", "system"),
            ("Alert acknowledged", "system"),
            ("Alert owner changed to Platform team", "system"),
            ("Escalation [Platform] is triggered and notified", "system"),
            ("Alert created via Prometheus", "system"),
            ("Viewed on [web]", "alertRecipient"),
            ("", "system"),
            // Known texts with a row type they are not known to have.
            ("Alert acknowledged via web", "alertRecipient"),
            ("Alert closed via web", "note"),
            ("Alert owner changed to ada@example.com", ""),
            ("Sent [SMS] notification to ada@example.com", "note"),
        ] {
            assert_eq!(classify(text, kind, ADA), None, "{text:?} ({kind:?})");
        }
    }
}
