//! PagerDuty collector: account-wide log entries → on-call events.
//!
//! **Reads** `GET {PAGERDUTY_API_URL}/log_entries` with `since`/`until` (the engine's closed
//! window, sent in UTC with an explicit `Z`), `time_zone=UTC`, `is_overview=false` (the overview
//! hides notify/assign/escalate), `include[]=channels` (puts the contact method in
//! `channel.notification`), `include[]=incidents` (puts `urgency` on the incident), `limit=100`,
//! `total=true` on the first page, and follows `offset` while `more` is true. The window asked
//! for is one second wider on each side, and entries are filtered to the exact window here. With
//! `PTSD_USER_KEY=email` it also reads `GET /users` (cached) to learn e-mail addresses.
//!
//! **Emits** (through the schema):
//! | log entry | event |
//! |---|---|
//! | `trigger_log_entry` | `Triggered` (service name, incident urgency or `none`) |
//! | `notify_log_entry` | `Notified` for `user`, channel from `channel.notification.type` |
//! | `acknowledge_log_entry`, agent a user | `Acknowledged` (integration/API acks are nobody's) |
//! | `assign_log_entry` | `Assigned` for each of `assignees` |
//! | `escalate_log_entry` | `Escalated` for each of `assignees` |
//! | `resolve_log_entry`, agent a user | `Resolved` |
//! Other types, and unknown fields, are skipped quietly (debug log).
//!
//! **Config**: `PDTOKEN` / `PDTOKEN_FILE`, `PAGERDUTY_API_URL` (default https://api.pagerduty.com).
//!
//! **Quirks** handled (see ../shared/api-notes.md): `offset + limit` may not pass 10,000 (HTTP 400,
//! code 2002) → [`CollectError::WindowTooLarge`] so the engine splits the window; timestamps may
//! carry any offset; pages come newest first and may shift, so entries can repeat (the engine
//! dedupes by id); `acknowledgement_log_entry` and `*_reference` type spellings are accepted;
//! a 401 may mean an EU key sent to the US host, and the error says so.

use std::collections::HashMap;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Deserialize;

use super::http::{HttpClient, RetryPolicy};
use super::{CollectError, Collected, Collector, RequestStats};
use crate::config::{Config, ConfigError};
use crate::event::{Channel, Event, EventKind, Person, Window};
use crate::schema::UserKey;

const NAME: &str = "pagerduty";
/// Largest page PagerDuty serves.
pub const PAGE_LIMIT: u64 = 100;
/// `offset + limit` may not exceed this.
pub const OFFSET_CAP: u64 = 10_000;
const UNAUTHORIZED_HINT: &str =
    "; check PDTOKEN, and for an EU account set PAGERDUTY_API_URL=https://api.eu.pagerduty.com";

/// The registry constructor: a collector when `PDTOKEN` is set.
pub fn build(config: &Config) -> Result<Option<Box<dyn Collector>>, ConfigError> {
    let Some(token) = &config.pdtoken else {
        return Ok(None);
    };
    let auth = crate::secret::Secret::new(format!("Token token={}", token.expose()));
    let http = HttpClient::new(
        NAME,
        &auth,
        "application/vnd.pagerduty+json;version=2",
        RetryPolicy {
            max_per_minute: config.max_requests_per_minute,
            ..RetryPolicy::default()
        },
    )?;
    Ok(Some(Box::new(PagerDutyCollector {
        base: config.pagerduty_api_url.clone(),
        http,
        want_emails: config.user_key == UserKey::Email,
        emails: HashMap::new(),
    })))
}

/// Reads PagerDuty log entries.
pub struct PagerDutyCollector {
    base: String,
    http: HttpClient,
    want_emails: bool,
    /// User id → e-mail, from `GET /users`.
    emails: HashMap<String, String>,
}

#[derive(Deserialize)]
struct LogEntryPage {
    log_entries: Vec<serde_json::Value>,
    #[serde(default)]
    more: Option<bool>,
    #[serde(default)]
    total: Option<u64>,
}

#[derive(Deserialize)]
struct UserPage {
    users: Vec<serde_json::Value>,
    #[serde(default)]
    more: Option<bool>,
}

/// A log entry, every field optional but the ones no entry lacks.
#[derive(Deserialize)]
struct LogEntry {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created_at: String,
    #[serde(default)]
    agent: Option<Reference>,
    #[serde(default)]
    user: Option<Reference>,
    #[serde(default)]
    assignees: Option<Vec<Reference>>,
    #[serde(default)]
    channel: Option<ChannelInfo>,
    #[serde(default)]
    service: Option<Reference>,
    #[serde(default)]
    incident: Option<IncidentInfo>,
    #[serde(default)]
    summary: Option<String>,
}

#[derive(Deserialize)]
struct Reference {
    id: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
struct ChannelInfo {
    #[serde(default)]
    notification: Option<NotificationInfo>,
}

#[derive(Deserialize)]
struct NotificationInfo {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct IncidentInfo {
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    service: Option<Reference>,
}

impl Reference {
    fn is_user(&self) -> bool {
        matches!(
            self.kind.as_deref(),
            Some("user_reference") | Some("user") | None
        ) && !self.id.is_empty()
    }

    fn display(&self) -> Option<String> {
        self.name.clone().or_else(|| self.summary.clone())
    }
}

/// Why a log entry was not turned into events.
#[derive(Debug, PartialEq, Eq)]
pub enum Skip {
    /// The entry lacks what its type needs, or is not an object at all: worth a warning.
    Malformed(String),
    /// A type or actor we do not count (annotate, integration ack, …): quiet.
    NotCounted,
}

/// The event kind of a log entry's `type`, tolerant of the spec's spellings.
fn entry_type(raw: &str) -> &str {
    let t = raw.strip_suffix("_reference").unwrap_or(raw);
    match t {
        "acknowledgement_log_entry" => "acknowledge_log_entry",
        other => other,
    }
}

/// Maps one log entry (as JSON) to events.
///
/// # Errors
/// A [`Skip`] saying whether the entry was malformed or just not counted.
pub fn map_entry(
    value: serde_json::Value,
    emails: &HashMap<String, String>,
) -> Result<(String, Timestamp, Vec<EventKind>), Skip> {
    let entry: LogEntry =
        serde_json::from_value(value).map_err(|e| Skip::Malformed(format!("log entry: {e}")))?;
    let at: Timestamp = entry.created_at.parse().map_err(|e| {
        Skip::Malformed(format!(
            "log entry {}: created_at {:?}: {e}",
            entry.id, entry.created_at
        ))
    })?;
    let person = |r: &Reference| Person {
        id: r.id.clone(),
        name: r.display(),
        email: r.email.clone().or_else(|| emails.get(&r.id).cloned()),
    };
    let kinds = match entry_type(&entry.kind) {
        "trigger_log_entry" => {
            let service = entry
                .service
                .as_ref()
                .or(entry.incident.as_ref().and_then(|i| i.service.as_ref()))
                .map(|s| s.display().unwrap_or_else(|| s.id.clone()))
                .unwrap_or_else(|| "unknown".into());
            let urgency = entry
                .incident
                .as_ref()
                .and_then(|i| i.urgency.clone())
                .unwrap_or_else(|| "none".into());
            vec![EventKind::Triggered { service, urgency }]
        }
        "notify_log_entry" => {
            let user = entry
                .user
                .as_ref()
                .filter(|u| !u.id.is_empty())
                .ok_or_else(|| {
                    Skip::Malformed(format!("notify log entry {} has no user", entry.id))
                })?;
            let channel = match entry
                .channel
                .as_ref()
                .and_then(|c| c.notification.as_ref())
                .and_then(|n| n.kind.as_deref())
            {
                Some(kind) => Channel::from_provider(kind),
                // Without `channel.notification`, the summary ("Notified X by SMS") is all we have.
                None => entry
                    .summary
                    .as_deref()
                    .and_then(|s| s.rsplit(" by ").next())
                    .map(Channel::from_provider)
                    .unwrap_or(Channel::Other),
            };
            vec![EventKind::Notified {
                user: person(user),
                channel,
            }]
        }
        "acknowledge_log_entry" | "resolve_log_entry" => {
            let agent = entry.agent.as_ref().filter(|a| a.is_user());
            let Some(agent) = agent else {
                return Err(Skip::NotCounted);
            };
            let user = person(agent);
            if entry_type(&entry.kind) == "acknowledge_log_entry" {
                vec![EventKind::Acknowledged { user }]
            } else {
                vec![EventKind::Resolved { user }]
            }
        }
        "assign_log_entry" | "escalate_log_entry" => {
            let escalate = entry_type(&entry.kind) == "escalate_log_entry";
            let kinds: Vec<EventKind> = entry
                .assignees
                .iter()
                .flatten()
                .filter(|a| a.is_user())
                .map(|a| {
                    let user = person(a);
                    if escalate {
                        EventKind::Escalated { user }
                    } else {
                        EventKind::Assigned { user }
                    }
                })
                .collect();
            if kinds.is_empty() {
                return Err(Skip::NotCounted);
            }
            kinds
        }
        _ => return Err(Skip::NotCounted),
    };
    Ok((entry.id, at, kinds))
}

impl PagerDutyCollector {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn load_users(&mut self) -> Result<(), CollectError> {
        let mut offset = 0u64;
        loop {
            let page: UserPage = self
                .http
                .get_json(
                    &self.url("/users"),
                    &[
                        ("limit", PAGE_LIMIT.to_string()),
                        ("offset", offset.to_string()),
                    ],
                    UNAUTHORIZED_HINT,
                )
                .await?;
            let n = page.users.len() as u64;
            for u in page.users {
                if let Ok(r) = serde_json::from_value::<Reference>(u) {
                    if let Some(email) = r.email {
                        self.emails.insert(r.id, email);
                    }
                }
            }
            offset += n;
            if page.more != Some(true) || n == 0 || offset + PAGE_LIMIT > OFFSET_CAP {
                return Ok(());
            }
        }
    }

    fn query(window: &Window, offset: u64, first: bool) -> Vec<(&'static str, String)> {
        let mut q = vec![
            ("since", window.since.to_string()),
            ("until", window.until.to_string()),
            ("time_zone", "UTC".to_string()),
            ("is_overview", "false".to_string()),
            ("include[]", "channels".to_string()),
            ("include[]", "incidents".to_string()),
            ("limit", PAGE_LIMIT.to_string()),
            ("offset", offset.to_string()),
        ];
        if first {
            q.push(("total", "true".to_string()));
        }
        q
    }
}

#[async_trait]
impl Collector for PagerDutyCollector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn check(&mut self) -> Result<(), CollectError> {
        let now = Timestamp::now();
        let window = Window::new(now - jiff::SignedDuration::from_secs(60), now);
        let mut q = Self::query(&window, 0, false);
        q.retain(|(k, _)| *k != "limit");
        q.push(("limit", "1".into()));
        let _: LogEntryPage = self
            .http
            .get_json(&self.url("/log_entries"), &q, UNAUTHORIZED_HINT)
            .await?;
        if self.want_emails {
            self.load_users().await?;
        }
        Ok(())
    }

    fn take_stats(&mut self) -> RequestStats {
        self.http.take_stats()
    }

    async fn collect(&mut self, window: Window) -> Result<Collected, CollectError> {
        let mut out = Collected::default();
        let mut offset = 0u64;
        let mut unknown_user = false;
        // Ask for a second more on each side and filter here: whether PagerDuty's `since` and
        // `until` are inclusive, and whether it truncates them to whole seconds, is not
        // documented, and this way neither reading loses or doubles an entry at a boundary.
        let margin = jiff::SignedDuration::from_secs(1);
        let asked = Window::new(window.since - margin, window.until + margin);
        loop {
            if offset + PAGE_LIMIT > OFFSET_CAP {
                return Err(CollectError::WindowTooLarge {
                    provider: NAME,
                    total: None,
                });
            }
            let result = self
                .http
                .get_json::<LogEntryPage>(
                    &self.url("/log_entries"),
                    &Self::query(&asked, offset, offset == 0),
                    UNAUTHORIZED_HINT,
                )
                .await;
            let page = match result {
                Ok(p) => p,
                Err(CollectError::Refused {
                    status: 400,
                    message,
                    ..
                }) if message.contains("2002") || message.to_lowercase().contains("offset") => {
                    return Err(CollectError::WindowTooLarge {
                        provider: NAME,
                        total: None,
                    })
                }
                Err(e) => return Err(e),
            };
            if offset == 0 {
                if let Some(total) = page.total.filter(|t| *t > OFFSET_CAP) {
                    return Err(CollectError::WindowTooLarge {
                        provider: NAME,
                        total: Some(total),
                    });
                }
            }
            let n = page.log_entries.len() as u64;
            for value in page.log_entries {
                match map_entry(value, &self.emails) {
                    Ok((id, at, kinds)) => {
                        if !window.contains(at) {
                            tracing::debug!(provider = NAME, id = %id, at = %at, "Entry outside the window asked for; ignored.");
                            continue;
                        }
                        for mut kind in kinds {
                            if self.want_emails {
                                unknown_user |=
                                    kind.person_mut().is_some_and(|p| p.email.is_none());
                            }
                            out.events.push(Event {
                                record_id: id.clone(),
                                at,
                                kind,
                            });
                        }
                    }
                    Err(Skip::NotCounted) => {}
                    Err(Skip::Malformed(what)) => {
                        out.skipped += 1;
                        tracing::warn!(provider = NAME, error = %what, "Skipped a malformed log entry.");
                    }
                }
            }
            offset += n;
            match page.more {
                Some(true) if n == 0 => {
                    tracing::warn!(
                        provider = NAME,
                        offset,
                        "Page says more but is empty; stopping here."
                    );
                    break;
                }
                Some(true) => {}
                _ => break,
            }
        }
        if unknown_user {
            // A user we have no e-mail for: refresh the directory once and fill it in.
            if self.load_users().await.is_ok() {
                for user in out.events.iter_mut().filter_map(|e| e.kind.person_mut()) {
                    if user.email.is_none() {
                        user.email = self.emails.get(&user.id).cloned();
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: serde_json::Value) -> Result<Vec<EventKind>, Skip> {
        map_entry(v, &HashMap::new()).map(|(_, _, k)| k)
    }

    fn user(id: &str, name: &str) -> serde_json::Value {
        json!({"id": id, "type": "user_reference", "summary": name})
    }

    fn ada() -> Person {
        Person {
            id: "PUSR001".into(),
            name: Some("Ada Lovelace".into()),
            email: None,
        }
    }

    #[test]
    fn log_entry_mapping_table() {
        let base = |t: &str| {
            json!({"id": "R1", "type": t, "created_at": "2026-03-02T03:14:07-05:00",
                   "service": {"id": "PSVC1", "type": "service_reference", "summary": "Checkout API"}})
        };
        let with = |t: &str, extra: serde_json::Value| {
            let mut v = base(t);
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            v
        };
        let cases: Vec<(serde_json::Value, Result<Vec<EventKind>, Skip>)> = vec![
            (
                with(
                    "trigger_log_entry",
                    json!({"incident": {"id": "I1", "urgency": "high"}}),
                ),
                Ok(vec![EventKind::Triggered {
                    service: "Checkout API".into(),
                    urgency: "high".into(),
                }]),
            ),
            (
                with(
                    "trigger_log_entry",
                    json!({"incident": {"id": "I1", "type": "incident_reference"}}),
                ),
                Ok(vec![EventKind::Triggered {
                    service: "Checkout API".into(),
                    urgency: "none".into(),
                }]),
            ),
            (
                with(
                    "notify_log_entry",
                    json!({"user": user("PUSR001", "Ada Lovelace"),
                    "channel": {"type": "auto", "notification": {"type": "sms_notification"}}}),
                ),
                Ok(vec![EventKind::Notified {
                    user: ada(),
                    channel: Channel::Sms,
                }]),
            ),
            (
                with(
                    "notify_log_entry",
                    json!({"user": user("PUSR001", "Ada Lovelace"),
                    "channel": {"type": "auto", "notification": {"type": "push_notification"}}}),
                ),
                Ok(vec![EventKind::Notified {
                    user: ada(),
                    channel: Channel::Push,
                }]),
            ),
            (
                with(
                    "notify_log_entry",
                    json!({"user": user("PUSR001", "Ada Lovelace"),
                    "summary": "Notified Ada Lovelace by phone", "channel": {"type": "auto"}}),
                ),
                Ok(vec![EventKind::Notified {
                    user: ada(),
                    channel: Channel::Phone,
                }]),
            ),
            (
                with("notify_log_entry", json!({"channel": {"type": "auto"}})),
                Err(Skip::Malformed("notify log entry R1 has no user".into())),
            ),
            (
                with(
                    "acknowledge_log_entry",
                    json!({"agent": user("PUSR001", "Ada Lovelace")}),
                ),
                Ok(vec![EventKind::Acknowledged { user: ada() }]),
            ),
            (
                with(
                    "acknowledgement_log_entry",
                    json!({"agent": user("PUSR001", "Ada Lovelace")}),
                ),
                Ok(vec![EventKind::Acknowledged { user: ada() }]),
            ),
            (
                with(
                    "acknowledge_log_entry",
                    json!({"agent": {"id": "PINT1", "type": "integration_reference"}}),
                ),
                Err(Skip::NotCounted),
            ),
            (
                with(
                    "resolve_log_entry",
                    json!({"agent": {"id": "PSVC1", "type": "service_reference"}}),
                ),
                Err(Skip::NotCounted),
            ),
            (
                with(
                    "resolve_log_entry",
                    json!({"agent": user("PUSR001", "Ada Lovelace")}),
                ),
                Ok(vec![EventKind::Resolved { user: ada() }]),
            ),
            (
                with(
                    "assign_log_entry",
                    json!({"agent": {"id": "PSVC1", "type": "service_reference"},
                    "assignees": [user("PUSR001", "Ada Lovelace"), user("PUSR002", "Grace Hopper")]}),
                ),
                Ok(vec![
                    EventKind::Assigned { user: ada() },
                    EventKind::Assigned {
                        user: Person {
                            id: "PUSR002".into(),
                            name: Some("Grace Hopper".into()),
                            email: None,
                        },
                    },
                ]),
            ),
            (
                with(
                    "escalate_log_entry",
                    json!({"assignees": [user("PUSR001", "Ada Lovelace")]}),
                ),
                Ok(vec![EventKind::Escalated { user: ada() }]),
            ),
            (with("annotate_log_entry", json!({})), Err(Skip::NotCounted)),
            (
                with("some_future_log_entry", json!({"novel": [1, 2]})),
                Err(Skip::NotCounted),
            ),
        ];
        for (i, (input, want)) in cases.into_iter().enumerate() {
            assert_eq!(map(input), want, "case {i}");
        }
    }

    #[test]
    fn malformed_entries_are_skipped_not_fatal() {
        for bad in [
            json!(null),
            json!("text"),
            json!({"type": "notify_log_entry"}),
            json!({"id": "R1", "type": "trigger_log_entry", "created_at": "yesterday"}),
            json!({"id": 5, "type": "trigger_log_entry", "created_at": "2026-03-02T03:14:07Z"}),
        ] {
            assert!(matches!(map(bad), Err(Skip::Malformed(_))));
        }
    }

    #[test]
    fn offsets_are_honoured() {
        let v = json!({"id": "R1", "type": "trigger_log_entry", "created_at": "2026-03-02T22:14:07-05:00"});
        let (_, at, _) = map_entry(v, &HashMap::new()).unwrap();
        assert_eq!(at, "2026-03-03T03:14:07Z".parse::<Timestamp>().unwrap());
    }
}
