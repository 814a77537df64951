//! Opsgenie collector: alerts and their activity logs → on-call events.
//!
//! **Reads**
//! - `GET {OPSGENIE_API_URL}/v2/alerts` with `query=createdAt<{until} AND updatedAt>={since}`
//!   (epoch milliseconds), `sort=createdAt`, `order=asc`, `limit=100`, following `offset`:
//!   every alert that existed before the window ended and changed after it began. Sorting by
//!   the immutable `createdAt` keeps pages stable while alerts keep changing.
//!   After the first listing, `updatedAt>=` starts at the end of the last delivered listing
//!   (less [`LIST_OVERLAP`]): the alerts updated before it are known already.
//! - `GET /v2/alerts` with `query=status:open AND createdAt>={until - 1h} AND createdAt<{until}`,
//!   `sort=createdAt`, `order=desc`, `limit=50` (one request, at most every 2 minutes): the
//!   newest open alerts, of which the unacknowledged ones are looked at even if unchanged
//!   ([`RENOTIFY_HORIZON`]). Whether a notification row moves an alert's `updatedAt` is
//!   UNCONFIRMED; if it does not, this is what still sees escalation steps and repeats of a
//!   young unacknowledged alert.
//! - `GET /v2/alerts/{id}/logs?identifierType=id&order=asc&direction=next&limit=100`, paged with
//!   the string `offset` cursor, from the cursor after the last row already read, when
//!   [`memory`] says it is due (the alert changed and is quiet, or it may be re-notifying; see
//!   there for the pacing and the request budget). Rows read are kept until no window to come
//!   can hold them; after a restart logs are read again and the engine's dedupe drops what was
//!   counted.
//! - `GET /v2/users` to turn the usernames in logs into user ids, full names and time zones
//!   (`timeZone`), kept in the shared [`Directory`] (read at start, hourly, and when a log row
//!   names someone new at most every ten minutes). A
//!   name missing from a directory read after its row was written (System, an integration, an
//!   API key, a removed user) is remembered as not a user and never causes a read by itself.
//!   A username the directory does not hold counts under the username itself
//!   ([`unknown_user`]), so no event is dropped while the directory is stale or unreadable.
//!
//! **Emits**: an alert created in the window → `Triggered` (service = integration name,
//! urgency = priority `p1`..`p5`); log rows in the window, classified by the [`rules`]:
//! notifications by channel, acknowledgements, assignments (owner changes), escalations and
//! closes. A row whose person is not a username (System, an integration, an API key) counts
//! as nobody's action: an ack or close by nobody still ends the wait for time to acknowledge
//! and resolve, a notification, assignment or escalation to nobody is dropped. Every event
//! carries its alert as the [`Incident`] (id, `createdAt`, `message` as title, integration as
//! service, priority as urgency). Record ids are `{alert id}/created` and
//! `{alert id}/{log offset}`. The alert's documented `report` and `owner` fields are a safety
//! net under the rows, with record ids of their own that the matching row shares
//! ([`events`] explains the rule).
//!
//! **Config**: `OPSGENIE_API_KEY` / `OPSGENIE_API_KEY_FILE` (`Authorization: GenieKey …`),
//! `OPSGENIE_API_URL` (default https://api.opsgenie.com; EU: https://api.eu.opsgenie.com).
//!
//! **Quirks**: `offset + limit` may not pass 20,000 → before
//! that the listing starts again from offset 0 with `AND createdAt>={newest createdAt read}`
//! (alerts read twice dropped by id), so a window of any size is read in one call; only a single
//! millisecond holding more than 20,000 alerts is [`CollectError::WindowTooLarge`]; 429 carries
//! `X-RateLimit-Period-In-Sec`, and any answer may say `X-RateLimit-State: THROTTLED` (both
//! handled in `http.rs`); log texts are not documented, so the rules live in one table
//! ([`rules`], extended by `PTSD_OPSGENIE_LOG_RULES`), and rows that match none count for
//! nobody but are counted in `Collected::unmatched_rows` and their shapes kept ([`shapes`],
//! logged hourly, listed by `ptsd logs`); a window is read in one call, so one call can hold every alert of a bulk
//! change (memory grows with it). Opsgenie reaches end of support on 2027-04-05 (Atlassian moves
//! customers to Jira Service Management Operations): this file only knows the three endpoints
//! above, so a JSM Operations variant is a new base URL, auth header and envelope, not a new
//! design.
//!
//! Files: [`api`] (HTTP and paging), [`model`] (the alert and log-row objects), [`events`]
//! (an alert and its rows → events, with the report's safety net), [`rules`] (the log
//! rules and their file), this file (the collector: which alerts to read, the people behind
//! usernames). `model`, `events` and `rules` take parsed objects and do no HTTP, so another
//! collector of the same alert model (JSM Operations) calls them with its own client.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use super::directory::Directory;
use super::http::{base_url, HttpClient, RetryPolicy};
use super::{CollectError, Collected, Collector, CollectorSettings, LogShape, RequestStats};
use crate::config::{Config, ConfigError};
use crate::event::{Event, EventKind, Incident, Person, Window};
use crate::secret::Secret;

pub mod api;
pub(crate) mod events;
pub(crate) mod memory;
pub(crate) mod model;
pub mod rules;
pub(crate) mod shapes;

use api::Api;
pub use api::{OFFSET_CAP, RENOTIFY_HORIZON, RENOTIFY_MAX};
use events::{alert_events, Classified};
use memory::{AlertState, KeptRow, Pace, ReadNow};
pub use rules::{classify, Action, Activity, LogRules};
use shapes::{shape, Shapes};

/// The registry name and `provider` tag.
pub const NAME: &str = "opsgenie";
/// Most names remembered as not users (a bound against junk in log owners).
const NOT_USERS_MAX: usize = 10_000;

/// The Opsgenie collector's options.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Opsgenie")]
pub struct OpsgenieSettings {
    /// Opsgenie API key (an API integration's key); when set, the Opsgenie collector runs (environment only: a flag would show it in the process list).
    #[arg(long, env = "OPSGENIE_API_KEY", hide_env_values = true, value_parser = crate::secret::parse)]
    pub opsgenie_api_key: Option<Secret>,

    /// File holding the Opsgenie API key (Docker and Kubernetes secrets).
    #[arg(long, env = "OPSGENIE_API_KEY_FILE")]
    pub opsgenie_api_key_file: Option<PathBuf>,

    /// Opsgenie API base URL (EU accounts: https://api.eu.opsgenie.com).
    #[arg(
        long,
        env = "OPSGENIE_API_URL",
        default_value = "https://api.opsgenie.com"
    )]
    pub opsgenie_api_url: String,

    /// TOML file of log rules (regex on the log row text, optional row type, what it counts, which group is the person or channel) added before the built-in table, or replacing it with mode = "replace"; see the README, and `ptsd logs` to see which rule matches which row.
    #[arg(long, env = "PTSD_OPSGENIE_LOG_RULES")]
    pub opsgenie_log_rules: Option<PathBuf>,
}

impl CollectorSettings for OpsgenieSettings {
    const NAME: &'static str = NAME;
    const ENABLE: &'static str = "set OPSGENIE_API_KEY (or OPSGENIE_API_KEY_FILE)";

    fn build(self, config: &Config) -> Result<Option<Box<dyn Collector>>, ConfigError> {
        let base = base_url(
            "OPSGENIE_API_URL",
            &self.opsgenie_api_url,
            "https://api.opsgenie.com or https://api.eu.opsgenie.com",
        )?;
        let Some(key) = crate::secret::read(
            "OPSGENIE_API_KEY",
            self.opsgenie_api_key,
            self.opsgenie_api_key_file,
        )?
        else {
            return Ok(None);
        };
        let rules = match &self.opsgenie_log_rules {
            Some(path) => LogRules::from_file(path)
                .map_err(|e| ConfigError(format!("PTSD_OPSGENIE_LOG_RULES {e}")))?,
            None => LogRules::built_in(),
        };
        let auth = Secret::new(format!("GenieKey {}", key.expose()));
        let http = HttpClient::new(
            NAME,
            &auth,
            "application/json",
            RetryPolicy::from_config(config),
        )?;
        Ok(Some(Box::new(OpsgenieCollector {
            api: Api { base, http },
            rules,
            shapes: Shapes::default(),
            names: None,
            users: Directory::default(),
            not_users: HashSet::new(),
            alerts: HashMap::new(),
            pace: Pace::new(
                config.lateness,
                config.max_requests_per_minute,
                config.interval,
                config.once,
            ),
            listed_until: None,
            listing: None,
            renotify_listed: None,
            refused_logs: HashMap::new(),
        })))
    }
}

/// The person behind a name the directory does not hold: a username (Opsgenie usernames are
/// login e-mails, so it has an `@`) counts under the username itself (id, name and e-mail all
/// the username, lowercased for the id), sanitised like any name by the schema, until the
/// directory knows it; anything else (`System`, an integration, an API key) is nobody.
pub(crate) fn unknown_user(who: &str) -> Option<Person> {
    let who = who.trim();
    let (local, domain) = who.split_once('@')?;
    if local.is_empty() || domain.is_empty() || who.contains(char::is_whitespace) {
        return None;
    }
    Some(Person {
        id: who.to_ascii_lowercase(),
        name: Some(who.to_string()),
        email: Some(who.to_string()),
        time_zone: None,
    })
}

/// Reads Opsgenie alerts and logs.
pub struct OpsgenieCollector {
    api: Api,
    /// The log rules in force (built-in, extended or replaced by `PTSD_OPSGENIE_LOG_RULES`).
    rules: LogRules,
    /// The shapes of the rows read, for `log_rows_unmatched`, the hourly log and `ptsd logs`.
    shapes: Shapes,
    /// People's full names in the directory, to mask them in shapes.
    names: Option<regex::Regex>,
    /// Username (lowercased) → person.
    users: Directory<Person>,
    /// Names (lowercased) known not to be users: missing from a directory read after the row
    /// that named them.
    not_users: HashSet<String>,
    /// What is known of each alert listed lately ([`memory`]).
    alerts: HashMap<String, AlertState>,
    /// When to read logs ([`Pace`]).
    pace: Pace,
    /// The end of the last window whose listing was delivered: later listings start there
    /// (less [`LIST_OVERLAP`]).
    listed_until: Option<Timestamp>,
    /// The end of the window listed last (delivered or not).
    listing: Option<Timestamp>,
    /// The end of the window that last listed the young open alerts.
    renotify_listed: Option<Timestamp>,
    /// Alerts whose log was refused (403/404) in consecutive polls, and how many: from
    /// [`POISON_AFTER`] on, their rows are skipped instead of failing the window.
    refused_logs: HashMap<String, u32>,
}

/// After this many polls in a row in which one alert's log was refused (403, 404: an alert
/// deleted or out of the key's reach), its rows are skipped (an error log line naming it, and
/// `windows_skipped`) instead of failing the window for every alert, for ever. Bad weather
/// (5xx, 429, timeouts) never skips anything.
pub const POISON_AFTER: u32 = 5;

/// Whether `e` refuses one alert's log, not the whole key (401) or the weather.
fn refuses_this_alert(e: &CollectError) -> bool {
    match e {
        CollectError::Refused { status, .. } => *status != 429,
        CollectError::Unauthorized { status, .. } => *status == 403,
        _ => false,
    }
}

/// A listing starts this long before the end of the last delivered one: room for clock skew
/// and for an `updatedAt` that becomes visible late.
const LIST_OVERLAP: SignedDuration = SignedDuration::from_secs(60);

impl OpsgenieCollector {
    /// Reads the directory again; a failure keeps the old one (and is returned).
    async fn refresh_users(&mut self) -> Result<(), CollectError> {
        let began = Timestamp::now();
        let read = self.api.read_users().await;
        self.users.store(began, read)?;
        self.names = shapes::names_regex(
            self.users
                .entries()
                .values()
                .filter_map(|p| p.name.as_deref()),
        );
        let users = &self.users;
        self.not_users.retain(|n| users.get(n).is_none());
        Ok(())
    }

    /// The person behind `who`, named by a row written at `at`; `None` for nobody (System, an
    /// integration, an API key: a name that is not a username, see [`unknown_user`]). A username
    /// the directory does not hold (a failed read, someone new) is the username itself.
    async fn person(&mut self, who: &str, at: Timestamp) -> Option<Person> {
        let key = who.trim().to_ascii_lowercase();
        if let Some(p) = self.users.get(&key) {
            return Some(p.clone());
        }
        if self.not_users.contains(&key) {
            return unknown_user(who);
        }
        let read_after_row = self.users.read_after(at);
        if !read_after_row {
            if !self.users.due(true) {
                // Someone new since the last read: looked up again once the directory allows.
                return unknown_user(who);
            }
            if let Err(e) = self.refresh_users().await {
                tracing::warn!(provider = NAME, error = %e, "Cannot read the user list again; rows naming new people count under their username for now.");
                return unknown_user(who);
            }
            if let Some(p) = self.users.get(&key) {
                return Some(p.clone());
            }
        }
        tracing::debug!(provider = NAME, who = %who, "Not in the user directory; counted under the name itself if it is a username.");
        if self.not_users.len() >= NOT_USERS_MAX {
            self.not_users.clear();
        }
        self.not_users.insert(key);
        unknown_user(who)
    }
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
        if self.users.due(false) {
            if let Err(e) = self.refresh_users().await {
                tracing::warn!(provider = NAME, error = %e, "Cannot read the user list; using the one read before.");
            }
        }
        // Forget what no window to come can hold (windows only move forward).
        self.alerts.retain(|_, s| s.prune(window.since));
        // Alerts unchanged since the last delivered listing are known already.
        let list_since = self
            .listed_until
            .map_or(window.since, |l| window.since.max(l - LIST_OVERLAP));
        let (mut listed, skipped) = self.api.alerts(&window, list_since).await?;
        let mut out = Collected {
            skipped,
            ..Collected::default()
        };
        if self
            .renotify_listed
            .is_none_or(|r| r + self.pace.renotify_every <= window.until)
        {
            listed.extend(self.api.renotifiable(&window).await?);
            self.renotify_listed = Some(window.until);
        }
        for alert in listed {
            let (Ok(created), Ok(updated)) = (
                alert.created_at.parse::<Timestamp>(),
                alert.updated_at.parse::<Timestamp>(),
            ) else {
                out.skipped += 1;
                tracing::warn!(provider = NAME, alert = %alert.id, "Skipped an alert with a bad timestamp.");
                continue;
            };
            match self.alerts.get_mut(&alert.id) {
                Some(s) => {
                    s.alert = alert;
                    s.created = created;
                    s.updated = updated;
                }
                None => {
                    self.alerts
                        .insert(alert.id.clone(), AlertState::new(alert, created, updated));
                }
            }
        }
        let mut ids: Vec<(Timestamp, String)> = self
            .alerts
            .iter()
            .map(|(id, s)| (s.created, id.clone()))
            .collect();
        ids.sort();

        // Read the logs that are due ([`memory`]): new rows only.
        let mut renotify_reads = 0;
        for (_, id) in &ids {
            let state = self.alerts.get_mut(id).expect("listed above");
            match state.read_now(window.until, &self.pace) {
                ReadNow::No => continue,
                ReadNow::Renotify if renotify_reads >= self.pace.renotify_per_poll => continue,
                ReadNow::Renotify => renotify_reads += 1,
                ReadNow::Changed => {}
            }
            let (rows, malformed) = match self.api.logs(id, state.offset.as_deref()).await {
                Ok(read) => {
                    self.refused_logs.remove(id);
                    read
                }
                Err(e) if refuses_this_alert(&e) => {
                    let refused = self.refused_logs.entry(id.clone()).or_default();
                    *refused += 1;
                    if *refused < POISON_AFTER {
                        return Err(e);
                    }
                    tracing::error!(provider = NAME, alert = %id, error = %e, polls = *refused, "This alert's log was refused poll after poll; its new rows are skipped (its creation and the report's acknowledgement and close still count).");
                    out.parts_skipped += 1;
                    state.keep(Vec::new(), None, window.until);
                    continue;
                }
                Err(e) => return Err(e),
            };
            out.skipped += malformed;
            let last_offset = rows.last().map(|r| r.offset.clone());
            let mut kept = Vec::with_capacity(rows.len());
            for row in rows {
                let Ok(at) = row.created_at.parse::<Timestamp>() else {
                    out.skipped += 1;
                    tracing::warn!(provider = NAME, alert = %id, offset = %row.offset, created_at = %row.created_at, "Skipped an alert log row with a bad timestamp.");
                    continue;
                };
                let matched = self.rules.classify(&row.log, &row.kind, &row.owner);
                // Each row is read once; its shape counts unless it is older than the window.
                if at >= window.since {
                    if matched.is_none() {
                        out.unmatched_rows += 1;
                        tracing::debug!(provider = NAME, alert = %id, log = %row.log, kind = %row.kind, "Log row matched no rule; not counted.");
                    }
                    let rule = matched.as_ref().map(|m| m.rule);
                    self.shapes.record(
                        shape(&row.log, &row.owner, self.names.as_ref()),
                        &row.kind,
                        rule,
                    );
                }
                let activity = matched.and_then(|m| m.activity);
                kept.push(KeptRow { at, row, activity });
            }
            state.keep(kept, last_offset, window.until);
        }

        // The window's events, from everything known: rows read now or before.
        let mut named = Vec::new();
        for (_, id) in &ids {
            let state = self.alerts.get_mut(id).expect("listed above");
            let alert = &state.alert;
            let service = alert
                .integration
                .as_ref()
                .and_then(|i| i.name.clone())
                .or(alert.source.clone())
                .unwrap_or_else(|| "unknown".into());
            let incident = Incident {
                id: alert.id.clone(),
                created_at: Some(state.created),
                title: alert.message.clone(),
                service: Some(service.clone()),
                urgency: alert.priority.clone(),
            };
            if window.contains(state.created) {
                out.events.push(Event {
                    record_id: format!("{}/created", alert.id),
                    at: state.created,
                    kind: EventKind::Triggered {
                        service,
                        urgency: alert.priority.clone().unwrap_or_else(|| "none".into()),
                    },
                    incident: Some(incident.clone()),
                });
            }
            let classified: Vec<Classified<'_>> = state
                .rows
                .iter()
                .map(|k| Classified {
                    at: k.at,
                    row: &k.row,
                    activity: k.activity.clone(),
                })
                .collect();
            let log_current = state.read_updated_at.as_deref() == Some(alert.updated_at.as_str());
            for n in alert_events(
                alert,
                state.created,
                &classified,
                &window,
                &mut state.seen,
                log_current,
            ) {
                named.push((n, incident.clone()));
            }
        }
        for (n, incident) in named {
            let person = match n.who.as_deref() {
                Some(who) => self.person(who, n.at).await,
                None => None,
            };
            if let Some(event) = n.into_event(&incident, person) {
                out.events.push(event);
            }
        }
        if let Some(top) = self.shapes.report_due(std::time::Instant::now()) {
            let shapes: Vec<String> = top.iter().map(|(s, n)| format!("{n}× {s:?}")).collect();
            tracing::info!(provider = NAME, shapes = %shapes.join("; "), "Log rows no rule matched, most frequent shapes since the last report (counted for nobody; see `ptsd logs` and PTSD_OPSGENIE_LOG_RULES).");
        }
        self.listing = Some(window.until);
        Ok(out)
    }

    fn log_shapes(&self) -> Vec<LogShape> {
        self.shapes.all()
    }

    fn take_stats(&mut self) -> RequestStats {
        self.api.http.take_stats()
    }

    fn delivered(&mut self, until: Timestamp) {
        // Every alert updated before the listing that read this window is known: later
        // listings may start there.
        if self.listing.is_some_and(|l| l <= until) {
            self.listed_until = self.listing;
        }
    }
}
