//! Opsgenie collector: alerts and their activity logs → on-call events.
//!
//! **Reads**
//! - `GET {OPSGENIE_API_URL}/v2/alerts` with `query=createdAt<{until} AND updatedAt>={since}`
//!   (epoch milliseconds), `sort=createdAt`, `order=asc`, `limit=100`, following `offset`:
//!   every alert that existed before the window ended and changed after it began. Sorting by
//!   the immutable `createdAt` keeps pages stable while alerts keep changing.
//!   After the first listing, `updatedAt>=` starts at the end of the last delivered listing
//!   (less a minute): the alerts updated before it are known already.
//! - `GET /v2/alerts` with `query=status:open AND createdAt>={until - 1h} AND createdAt<{until}`,
//!   `sort=createdAt`, `order=desc`, `limit=50` (one request, paced by [`super::alerts::memory`]): the
//!   newest open alerts, of which the unacknowledged ones are looked at even if unchanged
//!   ([`RENOTIFY_HORIZON`]). Whether a notification row moves an alert's `updatedAt` is
//!   UNCONFIRMED; if it does not, this is what still sees escalation steps and repeats of a
//!   young unacknowledged alert.
//! - `GET /v2/alerts/{id}/logs?identifierType=id&order=asc&direction=next&limit=100`, paged with
//!   the string `offset` cursor, from the last row older than the window that read it, when
//!   [`super::alerts::memory`] says it is due (the alert changed and is quiet, or it may be re-notifying; see
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
//! urgency = priority `p1`..`p5`); log rows in the window, classified by the [`super::alerts::rules`]:
//! notifications by channel, acknowledgements, assignments (owner changes), escalations and
//! closes. A row whose person is not a username (System, an integration, an API key) counts
//! as nobody's action: an ack or close by nobody still ends the wait for time to acknowledge
//! and resolve, a notification, assignment or escalation to nobody is dropped. Every event
//! carries its alert as the [`Incident`] (id, `createdAt`, `message` as title, integration as
//! service, priority as urgency). Record ids are `{alert id}/created` and
//! `{alert id}/{log offset}`. The alert's documented `report` and `owner` fields are a safety
//! net under the rows, with record ids of their own that the matching row shares
//! ([`super::alerts::events`] explains the rule).
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
//! ([`super::alerts::rules`], extended by `PTSD_LOG_RULES`), and rows that match none count for
//! nobody but are counted in `Collected::unmatched_rows` and their shapes kept ([`super::alerts::shapes`],
//! logged hourly, listed by `ptsd logs`); a window is read in one call, so one call can hold every alert of a bulk
//! change (memory grows with it). Opsgenie reaches end of support on 2027-04-05 (Atlassian moves
//! customers to Jira Service Management Operations), whose collector (`../jsm/`) is this
//! collector with another base URL, auth header and envelope.
//!
//! Files: this file (the settings, and [`Opsgenie`]: the API and the people behind usernames,
//! as an [`AlertSource`]) and [`api`] (HTTP and paging). The rest is the alert model's, in
//! `../alerts/`, shared with the JSM Operations collector (`../jsm/`, another [`AlertSource`] of
//! the same [`AlertCollector`]).

use std::collections::HashSet;
use std::path::PathBuf;

use async_trait::async_trait;
use jiff::Timestamp;
use regex::Regex;

use super::directory::Directory;
use super::http::{base_url, HttpClient, RetryPolicy};
use super::{CollectError, Collector, CollectorSettings, RequestStats};
use crate::config::{Config, ConfigError};
use crate::event::Person;
use crate::secret::Secret;

pub mod api;

use super::alerts::{log_rules, AlertCollector, AlertSource};
use api::Api;
pub use api::OFFSET_CAP;
// The alert model's public names, where they were before it moved to `../alerts/`.
pub use super::alerts::{
    classify, Action, Activity, LogRules, POISON_AFTER, RENOTIFY_HORIZON, RENOTIFY_MAX,
};

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
        let rules = log_rules(config)?;
        let auth = Secret::new(format!("GenieKey {}", key.expose()));
        let http = HttpClient::new(
            NAME,
            &auth,
            "application/json",
            RetryPolicy::from_config(config),
        )?;
        let source = Opsgenie {
            api: Api { base, http },
            names: None,
            users: Directory::default(),
            not_users: HashSet::new(),
        };
        Ok(Some(Box::new(AlertCollector::new(source, rules, config))))
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

/// Opsgenie's side of the alert collector: its API, and the people behind usernames.
pub struct Opsgenie {
    api: Api,
    /// People's full names in the directory, to mask them in shapes.
    names: Option<Regex>,
    /// Username (lowercased) → person.
    users: Directory<Person>,
    /// Names (lowercased) known not to be users: missing from a directory read after the row
    /// that named them.
    not_users: HashSet<String>,
}

impl Opsgenie {
    /// Reads the directory again; a failure keeps the old one (and is returned).
    async fn refresh_users(&mut self) -> Result<(), CollectError> {
        let began = crate::clock::now();
        let read = self.api.read_users().await;
        self.users.store(began, read)?;
        self.names = super::alerts::shapes::names_regex(
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
impl AlertSource for Opsgenie {
    const NAME: &'static str = NAME;
    type Api = Api;

    fn api(&self) -> &Api {
        &self.api
    }

    async fn check(&mut self) -> Result<(), CollectError> {
        self.refresh_users().await
    }

    async fn refresh(&mut self) {
        if self.users.due(false) {
            if let Err(e) = self.refresh_users().await {
                tracing::warn!(provider = NAME, error = %e, "Cannot read the user list; using the one read before.");
            }
        }
    }

    async fn people(&mut self, names: &[(String, Timestamp)]) -> Vec<Option<Person>> {
        let mut out = Vec::with_capacity(names.len());
        for (who, at) in names {
            out.push(self.person(who, *at).await);
        }
        out
    }

    fn name_mask(&self) -> Option<&Regex> {
        self.names.as_ref()
    }

    fn take_stats(&mut self) -> RequestStats {
        self.api.http.take_stats()
    }
}
