//! PagerDuty collector: account-wide log entries → on-call events.
//!
//! **Reads** `GET {PAGERDUTY_API_URL}/log_entries` with `since`/`until` (the engine's closed
//! window, sent in UTC with an explicit `Z`), `time_zone=UTC`, `is_overview=false` (the overview
//! hides notify/assign/escalate), `include[]=channels` (puts the contact method in
//! `channel.notification`), `include[]=incidents` (puts `urgency` on the incident), `limit=100`,
//! `total=true` on the first page, and follows `offset` while `more` is true, asking for the
//! next page while it maps the current one (only when `more` says it will be asked for, so no
//! request is wasted; a catch-up is then paced by parsing, not by round trips). The window asked
//! for is one second wider on each side, and entries are filtered to the exact window here. The
//! part of a window that earlier reads already covered is first counted (`total=true&limit=1`)
//! and read again only when entries arrived there late ([`recent`]); the new part is always
//! read. It
//! also reads `GET /users` (kept in the shared [`Directory`]: at start, hourly, and at most
//! every ten minutes when an entry names a user it does not know) for e-mail addresses and each person's own `time_zone`.
//!
//! **Emits** (through the schema):
//! | log entry | event |
//! |---|---|
//! | `trigger_log_entry` | `Triggered` (service name, incident urgency or `none`) |
//! | `notify_log_entry` | `Notified` for `user`, channel from `channel.notification.type` |
//! | `acknowledge_log_entry` | `Acknowledged`, by the agent when it is a user (else nobody's) |
//! | `assign_log_entry` | `Assigned` for each of `assignees` |
//! | `escalate_log_entry` | `Escalated` for each of `assignees` |
//! | `resolve_log_entry` | `Resolved`, by the agent when it is a user (else automatic) |
//! Every event carries the entry's incident (id, `created_at`, `title`, service, urgency, from
//! the full incident object `include[]=incidents` puts there). Other types, and unknown
//! fields, are skipped quietly (debug log). Pages are parsed entry by entry from raw JSON, so
//! one malformed entry is skipped without losing its page.
//!
//! **Config**: `PDTOKEN` / `PDTOKEN_FILE`, `PAGERDUTY_API_URL` (default https://api.pagerduty.com),
//! `PTSD_PAGERDUTY_TEAMS` (team ids sent as `team_ids[]`: only entries related to those teams).
//!
//! **Quirks** handled: `offset + limit` may not pass 10,000 (HTTP 400,
//! code 2002) → [`CollectError::WindowTooLarge`] so the engine splits the window; timestamps may
//! carry any offset; pages come newest first and may shift, so entries can repeat (the engine
//! dedupes by id); Rails time-zone names are translated to IANA ones ([`zones`]);
//! `acknowledgement_log_entry` and `*_reference` type spellings are accepted;
//! a 401 may mean an EU key sent to the US host, and the error says so.

use std::collections::HashMap;
use std::path::PathBuf;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::directory::Directory;
use super::http::{base_url, HttpClient, RetryPolicy};
use super::{CollectError, Collected, Collector, CollectorSettings, Object, RequestStats};
use crate::secret::Secret;

mod recent;
pub mod zones;
use crate::config::{Config, ConfigError};
use crate::event::{Channel, Event, EventKind, Incident, Person, Window};

/// The registry name and `provider` tag.
pub const NAME: &str = "pagerduty";
/// How much wider than the engine's window a read asks for, on each side.
const MARGIN: jiff::SignedDuration = jiff::SignedDuration::from_secs(1);
/// Largest page PagerDuty serves.
pub const PAGE_LIMIT: u64 = 100;
/// `offset + limit` may not exceed this.
pub const OFFSET_CAP: u64 = 10_000;
const UNAUTHORIZED_HINT: &str =
    "; check PDTOKEN, and for an EU account set PAGERDUTY_API_URL=https://api.eu.pagerduty.com";

/// The PagerDuty collector's options.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "PagerDuty")]
pub struct PagerDutySettings {
    /// PagerDuty REST API key; when set, the PagerDuty collector runs (environment only: a flag would show it in the process list).
    #[arg(long, env = "PDTOKEN", hide_env_values = true, value_parser = crate::secret::parse)]
    pub pdtoken: Option<Secret>,

    /// File holding the PagerDuty REST API key (Docker and Kubernetes secrets).
    #[arg(long, env = "PDTOKEN_FILE")]
    pub pdtoken_file: Option<PathBuf>,

    /// PagerDuty API base URL (EU accounts: https://api.eu.pagerduty.com).
    #[arg(
        long,
        env = "PAGERDUTY_API_URL",
        default_value = "https://api.pagerduty.com"
    )]
    pub pagerduty_api_url: String,

    /// Comma list of PagerDuty team ids: count only log entries related to these teams (one team of a large account runs its own ptsd); unset = the whole account.
    #[arg(long, env = "PTSD_PAGERDUTY_TEAMS")]
    pub pagerduty_teams: Option<String>,
}

impl CollectorSettings for PagerDutySettings {
    const NAME: &'static str = NAME;
    const ENABLE: &'static str = "set PDTOKEN (or PDTOKEN_FILE)";
    const TEAMS: bool = true;

    /// `ptsd report --team`: the same `team_ids[]` path as `PTSD_PAGERDUTY_TEAMS`, which it
    /// replaces.
    fn with_teams(mut self, teams: &[String]) -> Self {
        self.pagerduty_teams = Some(teams.join(","));
        self
    }

    fn build(self, config: &Config) -> Result<Option<Box<dyn Collector>>, ConfigError> {
        let base = base_url(
            "PAGERDUTY_API_URL",
            &self.pagerduty_api_url,
            "https://api.pagerduty.com or https://api.eu.pagerduty.com",
        )?;
        let Some(token) = crate::secret::read("PDTOKEN", self.pdtoken, self.pdtoken_file)? else {
            return Ok(None);
        };
        let teams: Vec<String> = self
            .pagerduty_teams
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if let Some(bad) = teams
            .iter()
            .find(|t| !t.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(ConfigError(format!(
                "PTSD_PAGERDUTY_TEAMS holds {bad:?}, which is not a team id; set it to a comma list of ids such as PT4KHLK,P2XY9ZQ"
            )));
        }
        let auth = Secret::new(format!("Token token={}", token.expose()));
        let http = HttpClient::new(
            NAME,
            &auth,
            "application/vnd.pagerduty+json;version=2",
            RetryPolicy::from_config(config),
        )?;
        Ok(Some(Box::new(PagerDutyCollector {
            base,
            http,
            users: Directory::default(),
            teams,
            recent: recent::Recent::default(),
            malformed: Default::default(),
        })))
    }
}

/// Reads PagerDuty log entries.
pub struct PagerDutyCollector {
    base: String,
    http: HttpClient,
    /// User id → what `GET /users` said of them.
    users: Directory<UserInfo>,
    /// `PTSD_PAGERDUTY_TEAMS`: sent as `team_ids[]`; empty for the whole account.
    teams: Vec<String>,
    /// What was read lately, to count before re-reading ([`recent`]).
    recent: recent::Recent,
    /// Ids of the malformed entries skipped already: a lateness re-read of one neither warns
    /// nor counts it in `entries_skipped` again.
    malformed: super::skipped::SkippedOnce,
}

/// What `GET /users` tells about a person that a log entry's reference does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub email: Option<String>,
    pub time_zone: Option<String>,
}

#[derive(Deserialize)]
struct LogEntryPage {
    log_entries: Vec<Box<RawValue>>,
    #[serde(default)]
    more: Option<bool>,
    #[serde(default)]
    total: Option<u64>,
}

#[derive(Deserialize)]
struct UserPage {
    users: Vec<Box<RawValue>>,
    #[serde(default)]
    more: Option<bool>,
}

/// What every entry has, whatever its type.
#[derive(Deserialize)]
struct EntryId {
    id: String,
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
    #[serde(default)]
    time_zone: Option<String>,
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
    id: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    service: Option<Reference>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
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

/// The log entry types that are counted (after [`entry_type`]).
const COUNTED_TYPES: [&str; 6] = [
    "trigger_log_entry",
    "notify_log_entry",
    "acknowledge_log_entry",
    "resolve_log_entry",
    "assign_log_entry",
    "escalate_log_entry",
];

/// The event kind of a log entry's `type`, tolerant of the spec's spellings.
fn entry_type(raw: &str) -> &str {
    let t = raw.strip_suffix("_reference").unwrap_or(raw);
    match t {
        "acknowledgement_log_entry" => "acknowledge_log_entry",
        other => other,
    }
}

/// One log entry, mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub id: String,
    pub at: Timestamp,
    pub incident: Option<Incident>,
    pub kinds: Vec<EventKind>,
}

/// The incident an entry is about: its `incident` (full with `include[]=incidents`, else a
/// reference whose summary is `[#1234] title`), with the entry's own `service` as fallback.
fn incident_of(entry: &LogEntry) -> Option<Incident> {
    let inc = entry.incident.as_ref()?;
    let id = inc.id.clone().filter(|id| !id.is_empty())?;
    let title = inc.title.clone().or_else(|| {
        inc.summary.as_deref().map(|s| match s.split_once("] ") {
            Some((num, rest)) if num.starts_with("[#") => rest.to_string(),
            _ => s.to_string(),
        })
    });
    let service = entry
        .service
        .as_ref()
        .or(inc.service.as_ref())
        .map(|s| s.display().unwrap_or_else(|| s.id.clone()));
    Some(Incident {
        id,
        created_at: inc.created_at.as_deref().and_then(|t| t.parse().ok()),
        title,
        service,
        urgency: inc.urgency.clone(),
    })
}

/// Maps one log entry (raw JSON) to events; `users` fills in e-mails and time zones.
///
/// # Errors
/// A [`Skip`] saying whether the entry was malformed or just not counted.
pub fn map_entry(raw: &str, users: &HashMap<String, UserInfo>) -> Result<Mapped, Skip> {
    let entry: LogEntry = serde_json::from_str(raw).map_err(|e| {
        // An entry of a type that is not counted may have fields shaped unlike the counted
        // types' (the spec is open-ended): that is no fault of the data, so skip it quietly.
        #[derive(Deserialize)]
        struct TypeOnly {
            #[serde(rename = "type")]
            kind: String,
        }
        match serde_json::from_str::<TypeOnly>(raw) {
            Ok(t) if !COUNTED_TYPES.contains(&entry_type(&t.kind)) => Skip::NotCounted,
            _ => Skip::Malformed(format!("log entry: {e}")),
        }
    })?;
    let at: Timestamp = entry.created_at.parse().map_err(|e| {
        Skip::Malformed(format!(
            "log entry {}: created_at {:?}: {e}",
            entry.id, entry.created_at
        ))
    })?;
    let person = |r: &Reference| {
        let known = users.get(&r.id);
        Person {
            id: r.id.clone(),
            name: r.display(),
            email: r
                .email
                .clone()
                .or_else(|| known.and_then(|u| u.email.clone())),
            time_zone: r
                .time_zone
                .as_deref()
                .map(zones::iana)
                .or_else(|| known.and_then(|u| u.time_zone.clone())),
        }
    };
    let incident = incident_of(&entry);
    let kinds = match entry_type(&entry.kind) {
        "trigger_log_entry" => {
            let service = incident
                .as_ref()
                .and_then(|i| i.service.clone())
                .or_else(|| {
                    entry
                        .service
                        .as_ref()
                        .map(|s| s.display().unwrap_or_else(|| s.id.clone()))
                })
                .unwrap_or_else(|| "unknown".into());
            let urgency = incident
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
            // An integration's, the API's or a timeout's ack or resolve is nobody's load, but
            // it still ends the wait for time to acknowledge and resolve.
            let user = entry.agent.as_ref().filter(|a| a.is_user()).map(person);
            if user.is_none() && incident.is_none() {
                return Err(Skip::NotCounted);
            }
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
    Ok(Mapped {
        id: entry.id,
        at,
        incident,
        kinds,
    })
}

impl PagerDutyCollector {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Reads the whole user directory (e-mails, time zones).
    async fn read_users(&self) -> Result<HashMap<String, UserInfo>, CollectError> {
        let mut users = HashMap::new();
        let mut offset = 0u64;
        loop {
            let Object(page): Object<UserPage> = self
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
                if let Ok(r) = serde_json::from_str::<Reference>(u.get()) {
                    let info = UserInfo {
                        email: r.email,
                        time_zone: r
                            .time_zone
                            .filter(|z| !z.trim().is_empty())
                            .map(|z| zones::iana(&z)),
                    };
                    users.insert(r.id, info);
                }
            }
            offset += n;
            if page.more != Some(true) || n == 0 || offset + PAGE_LIMIT > OFFSET_CAP {
                return Ok(users);
            }
        }
    }

    /// Reads the directory again; a failure keeps the old one (and is returned).
    async fn refresh_users(&mut self) -> Result<(), CollectError> {
        let began = crate::clock::now();
        let read = self.read_users().await;
        self.users.store(began, read)
    }

    /// One page of `GET /log_entries` for `asked` at `offset` (`total=true` on the first).
    async fn page(&self, asked: &Window, offset: u64) -> Result<LogEntryPage, CollectError> {
        self.http
            .get_json::<Object<LogEntryPage>>(
                &self.url("/log_entries"),
                &self.query(asked, offset, offset == 0),
                UNAUTHORIZED_HINT,
            )
            .await
            .map(|p| p.0)
    }

    /// Reads every page of `to_read` (asked one second wider on each side: whether
    /// PagerDuty's `since` and `until` are inclusive, and whether it truncates them to whole
    /// seconds, is not documented, and this way neither reading loses or doubles an entry at a
    /// boundary), adds the events inside `window` to `out`, and remembers every entry read.
    async fn read_pages(
        &mut self,
        to_read: Window,
        window: &Window,
        out: &mut Collected,
        unknown_user: &mut bool,
    ) -> Result<(), CollectError> {
        let asked = Window::new(to_read.since - MARGIN, to_read.until + MARGIN);
        let mut read: Vec<String> = Vec::new();
        let mut offset = 0u64;
        // The next page, when it was asked for while this one was being mapped.
        let mut prefetched: Option<Result<LogEntryPage, CollectError>> = None;
        // What the first page said the window holds (`total=true`).
        let mut announced: Option<u64> = None;
        // The ids of the page before, to see a listing that serves the same page again.
        let mut previous_ids: Vec<String> = Vec::new();
        loop {
            if offset + PAGE_LIMIT > OFFSET_CAP {
                return Err(CollectError::WindowTooLarge {
                    provider: NAME,
                    total: None,
                });
            }
            let result = match prefetched.take() {
                Some(r) => r,
                None => self.page(&asked, offset).await,
            };
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
                announced = page.total;
                if let Some(total) = page.total.filter(|t| *t > OFFSET_CAP) {
                    return Err(CollectError::WindowTooLarge {
                        provider: NAME,
                        total: Some(total),
                    });
                }
            }
            let n = page.log_entries.len() as u64;
            let next = offset + n;
            let more = page.more == Some(true);
            // A listing that ends short of the total its first page announced would count the
            // window short. (Entries that arrive while it is read only shift pages forward, so
            // they make the positions read more, never fewer.) Fail it: it is read again.
            if let Some(total) = announced.filter(|t| !more && next < *t) {
                tracing::warn!(provider = NAME, read = next, total, "The listing ended before the total its first page announced; the window is read again.");
                return Err(CollectError::Malformed {
                    provider: NAME,
                    what: format!(
                        "the listing ended after {next} of the {total} entries its first page announced"
                    ),
                });
            }
            // A listing that does not progress (a proxy or an API answering `more` for ever,
            // the same page again) would hold the poll for ever: fail the window instead.
            let ids: Vec<String> = page
                .log_entries
                .iter()
                .filter_map(|raw| serde_json::from_str::<EntryId>(raw.get()).ok())
                .map(|e| e.id)
                .collect();
            let stuck = if more && n > 0 && ids == previous_ids {
                Some(format!(
                    "the page at offset {offset} repeats the page before it"
                ))
            } else {
                announced.filter(|t| more && next >= *t + PAGE_LIMIT).map(|total| {
                    format!("offset {next} is past the {total} entries the first page announced, and the listing says more follow")
                })
            };
            if let Some(what) = stuck {
                tracing::warn!(provider = NAME, since = %to_read.since, until = %to_read.until, error = %what, "The listing does not progress; the window fails and is read again next poll.");
                return Err(CollectError::Malformed {
                    provider: NAME,
                    what: format!(
                        "the listing of {} to {} does not progress: {what}",
                        to_read.since, to_read.until
                    ),
                });
            }
            previous_ids = ids;
            if more && n == 0 {
                // A page that says `more` but holds nothing: paging cannot go on, and
                // stopping here could skip what the rest of the window holds. Fail the
                // window so the engine reads it again next poll (the cursor stays).
                return Err(CollectError::Malformed {
                    provider: NAME,
                    what: format!("an empty page at offset {offset} says more entries follow"),
                });
            }
            let users = self.users.entries();
            let events = &mut *out;
            let unknown = &mut *unknown_user;
            let stamps = &mut read;
            let malformed = &self.malformed;
            let map_page = async move {
                for raw in page.log_entries {
                    map_into(raw.get(), users, window, events, unknown, stamps, malformed);
                }
            };
            if more && next + PAGE_LIMIT <= OFFSET_CAP {
                // `more` says the next page will be asked for anyway: ask now, and map this
                // page while PagerDuty answers (the request goes out before the mapping
                // starts; the mapping is synchronous). No request is made that would not be.
                let (r, ()) = tokio::join!(self.page(&asked, next), map_page);
                prefetched = Some(r);
            } else {
                map_page.await;
            }
            offset = next;
            if !more {
                break;
            }
        }
        self.recent.note(asked, read);
        Ok(())
    }

    /// How many entries PagerDuty lists in `asked` (`total=true&limit=1`, one request);
    /// `None` when the answer carries no total.
    async fn count(&self, asked: &Window) -> Result<Option<u64>, CollectError> {
        let mut q = self.query(asked, 0, true);
        q.retain(|(k, _)| *k != "limit");
        q.push(("limit", "1".into()));
        let Object(page): Object<LogEntryPage> = self
            .http
            .get_json(&self.url("/log_entries"), &q, UNAUTHORIZED_HINT)
            .await?;
        Ok(page.total)
    }

    fn query(&self, window: &Window, offset: u64, first: bool) -> Vec<(&'static str, String)> {
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
        q.extend(self.teams.iter().map(|t| ("team_ids[]", t.clone())));
        q
    }
}

/// Maps one raw entry and adds its events to `out` when it falls inside `window`; notes in
/// `unknown_user` whether it names someone `users` does not know.
fn map_into(
    raw: &str,
    users: &HashMap<String, UserInfo>,
    window: &Window,
    out: &mut Collected,
    unknown_user: &mut bool,
    read: &mut Vec<String>,
    malformed: &super::skipped::SkippedOnce,
) {
    /// What every entry has, whatever its type: what [`recent`] remembers.
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let id = serde_json::from_str::<Id>(raw).ok().map(|e| e.id);
    if let Some(id) = &id {
        read.push(id.clone());
    }
    match map_entry(raw, users) {
        Ok(m) => {
            if !window.contains(m.at) {
                tracing::debug!(provider = NAME, id = %m.id, at = %m.at, "Entry outside the window asked for; ignored.");
                return;
            }
            for mut kind in m.kinds {
                *unknown_user |= kind
                    .person_mut()
                    .is_some_and(|p| !users.contains_key(&p.id));
                out.events.push(Event {
                    record_id: m.id.clone(),
                    at: m.at,
                    kind,
                    incident: m.incident.clone(),
                });
            }
        }
        Err(Skip::NotCounted) => {}
        Err(Skip::Malformed(what)) => {
            if !malformed.first(id) {
                // Skipped, warned and counted when it was first read.
                return;
            }
            out.skipped += 1;
            tracing::warn!(provider = NAME, error = %what, "Skipped a malformed log entry.");
        }
    }
}

#[async_trait]
impl Collector for PagerDutyCollector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn check(&mut self) -> Result<(), CollectError> {
        let now = crate::clock::now();
        let window = Window::new(now - jiff::SignedDuration::from_secs(60), now);
        let mut q = self.query(&window, 0, false);
        q.retain(|(k, _)| *k != "limit");
        q.push(("limit", "1".into()));
        let _: Object<LogEntryPage> = self
            .http
            .get_json(&self.url("/log_entries"), &q, UNAUTHORIZED_HINT)
            .await?;
        // The directory only adds e-mails and time zones: a token that may read log entries
        // but not users (or a /users outage) is worth a warning, not a refusal to start.
        if let Err(e) = self.refresh_users().await {
            tracing::warn!(provider = NAME, error = %e, "Could not read GET /users; e-mails and time zones are unknown until it can be read.");
        }
        Ok(())
    }

    fn take_stats(&mut self) -> RequestStats {
        self.http.take_stats()
    }

    fn delivered(&mut self, until: Timestamp) {
        self.recent.delivered(until);
    }

    async fn collect(&mut self, window: Window) -> Result<Collected, CollectError> {
        let mut out = Collected::default();
        let mut unknown_user = false;
        self.recent.begin();
        self.recent.forget_before(window.since - MARGIN - MARGIN);
        let mut to_read = window;
        // With a team filter the count proves nothing: an entry can leave the filtered set
        // (a service moved to another team) while a late one arrives, and the count stays.
        let expect = self
            .teams
            .is_empty()
            .then(|| self.recent.expect(&window))
            .flatten();
        if let Some(expect) = expect {
            // Read lately: count what earlier reads returned there (one request), and read
            // that part again only when the count says entries arrived late ([`recent`]). A
            // count that fails is uncertain: the part is read again.
            let total = match self.count(&expect.asked).await {
                Ok(total) => total,
                Err(e) => {
                    tracing::debug!(provider = NAME, error = %e, "The count failed; reading the part already read again.");
                    None
                }
            };
            if total == Some(expect.entries) {
                to_read = Window::new(expect.old.until, window.until);
            } else {
                tracing::debug!(
                    provider = NAME,
                    ?total,
                    expected = expect.entries,
                    "Entries arrived late in the part already read; reading it again."
                );
            }
        }
        self.read_pages(to_read, &window, &mut out, &mut unknown_user)
            .await?;
        if self.users.due(unknown_user) {
            // A user the directory does not know (new since it was read): read it again, at
            // most every ten minutes (see `Directory`), and fill in e-mails and time zones. A failure here is
            // not the poll's: the events are counted with what is known.
            match self.refresh_users().await {
                Ok(()) => {
                    for user in out.events.iter_mut().filter_map(|e| e.kind.person_mut()) {
                        if let Some(info) = self.users.get(&user.id) {
                            user.email = user.email.take().or_else(|| info.email.clone());
                            user.time_zone =
                                user.time_zone.take().or_else(|| info.time_zone.clone());
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(provider = NAME, error = %e, "Could not read GET /users; e-mails and time zones may be missing this poll.")
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
        map_entry(&v.to_string(), &HashMap::new()).map(|m| m.kinds)
    }

    fn user(id: &str, name: &str) -> serde_json::Value {
        json!({"id": id, "type": "user_reference", "summary": name})
    }

    fn ada() -> Person {
        Person {
            id: "PUSR001".into(),
            name: Some("Ada Lovelace".into()),
            ..Person::default()
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
                Ok(vec![EventKind::Acknowledged { user: Some(ada()) }]),
            ),
            (
                with(
                    "acknowledgement_log_entry",
                    json!({"agent": user("PUSR001", "Ada Lovelace")}),
                ),
                Ok(vec![EventKind::Acknowledged { user: Some(ada()) }]),
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
                Ok(vec![EventKind::Resolved { user: Some(ada()) }]),
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
                            ..Person::default()
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
        // Odd shapes in a type that is not counted are nobody's business: quiet.
        for odd in [
            json!({"id": "R2", "type": "annotate_log_entry", "created_at": "2026-03-02T03:14:07Z",
                   "channel": "a note", "agent": 7}),
            json!({"id": "R3", "type": "snooze_log_entry", "created_at": 12, "assignees": {}}),
        ] {
            assert_eq!(map(odd), Err(Skip::NotCounted));
        }
    }

    #[test]
    fn a_malformed_entry_is_counted_and_warned_once_however_often_it_is_read() {
        let raw = json!({"id": "RBAD", "type": "notify_log_entry",
                          "created_at": "2026-03-02T03:14:07Z"})
        .to_string();
        let window = Window::new(
            "2026-03-02T03:00:00Z".parse().unwrap(),
            "2026-03-02T04:00:00Z".parse().unwrap(),
        );
        let known = super::super::skipped::SkippedOnce::default();
        let mut out = Collected::default();
        for _ in 0..3 {
            // A lateness re-read reads it again.
            map_into(
                &raw,
                &HashMap::new(),
                &window,
                &mut out,
                &mut false,
                &mut Vec::new(),
                &known,
            );
        }
        assert_eq!(out.skipped, 1);
    }

    #[test]
    fn a_page_must_be_an_object_with_its_listing() {
        let page = |body: &str| serde_json::from_str::<Object<LogEntryPage>>(body).map(|p| p.0);
        assert!(page("[[[]]]").is_err(), "a top-level array is no page");
        assert!(page(r#"{"more": false}"#).is_err(), "no log_entries");
        let ok = page(r#"{"log_entries": [], "more": false, "total": 0}"#).unwrap();
        assert_eq!((ok.log_entries.len(), ok.total), (0, Some(0)));
    }

    #[test]
    fn incident_facts_and_automatic_resolves() {
        let v = json!({"id": "R9", "type": "resolve_log_entry", "created_at": "2026-03-02T03:20:00Z",
            "agent": {"id": "PSVC1", "type": "service_reference", "summary": "Checkout API"},
            "incident": {"id": "PINC1", "type": "incident", "title": "disk 91% on db-17",
                "created_at": "2026-03-01T22:14:07-05:00", "urgency": "high",
                "service": {"id": "PSVC1", "type": "service_reference", "summary": "Checkout API"}}});
        let m = map_entry(&v.to_string(), &HashMap::new()).unwrap();
        assert_eq!(m.kinds, vec![EventKind::Resolved { user: None }]);
        let inc = m.incident.unwrap();
        assert_eq!(inc.id, "PINC1");
        assert_eq!(inc.title.as_deref(), Some("disk 91% on db-17"));
        assert_eq!(
            inc.created_at,
            Some("2026-03-02T03:14:07Z".parse().unwrap())
        );
        assert_eq!(inc.service.as_deref(), Some("Checkout API"));
        assert_eq!(inc.urgency.as_deref(), Some("high"));
        // A reference only: the title comes from the summary, without the number.
        let v = json!({"id": "R10", "type": "acknowledge_log_entry", "created_at": "2026-03-02T03:20:00Z",
            "agent": {"id": "PUSR001", "type": "user_reference", "summary": "Ada Lovelace"},
            "incident": {"id": "PINC2", "type": "incident_reference", "summary": "[#1234] CPU high"}});
        let users = HashMap::from([(
            "PUSR001".to_string(),
            UserInfo {
                email: Some("ada@example.com".into()),
                time_zone: Some("Europe/London".into()),
            },
        )]);
        let m = map_entry(&v.to_string(), &users).unwrap();
        assert_eq!(m.incident.unwrap().title.as_deref(), Some("CPU high"));
        let EventKind::Acknowledged { user: Some(p) } = &m.kinds[0] else {
            panic!("{:?}", m.kinds)
        };
        assert_eq!(p.time_zone.as_deref(), Some("Europe/London"));
        assert_eq!(p.email.as_deref(), Some("ada@example.com"));
    }

    #[test]
    fn offsets_are_honoured() {
        let v = json!({"id": "R1", "type": "trigger_log_entry", "created_at": "2026-03-02T22:14:07-05:00"});
        let at = map_entry(&v.to_string(), &HashMap::new()).unwrap().at;
        assert_eq!(at, "2026-03-03T03:14:07Z".parse::<Timestamp>().unwrap());
    }
}
