//! Jira Service Management (JSM) Operations collector, Opsgenie's successor: alerts and their
//! activity logs → on-call events, with `provider=jsm`.
//!
//! JSM Operations is Opsgenie's alert model behind another host, auth and envelope, so this
//! collector shares Opsgenie's alert model (`Alert`, wrapped by `api::JsmAlert` for JSM's
//! flat integration fields) and log classification ([`classify`]); every call into them is in
//! this file (`events_of`, `named`), so the shared model can be re-pointed in one place.
//!
//! **Reads** (base `{JSM_API_URL}/jsm/ops/api/{JSM_CLOUD_ID}`, HTTP basic auth with
//! `JSM_EMAIL` and `JSM_API_TOKEN`)
//! - `GET /v1/alerts` with `query=createdAt<{until} AND updatedAt>={since}` (epoch ms, the
//!   end rounded up; Opsgenie's search syntax), `sort=createdAt`, `order=asc`, `size=100`, `offset`; results in
//!   `values`, total in `count`, more in `links.next`. Restarted from the newest `createdAt`
//!   before `offset + size` reaches 20,000 (`api::Api::alerts`).
//! - `GET /v1/alerts` with `query=status:open AND createdAt>=…`, newest 50 (one request): young
//!   unacknowledged alerts are read as if changed, as the Opsgenie collector does.
//! - `GET /v1/alerts/{id}/logs?size=100&after={cursor}`: only for alerts that changed since
//!   their logs were read and delivered, from the last row older than the window read before.
//! - `GET /rest/api/3/user/bulk?accountId=…` (Jira's user API, on the site or the gateway):
//!   names, e-mails and time zones of the account ids rows name ([`users`]).
//!
//! **Emits**: as the Opsgenie collector: an alert created in the window → `Triggered`
//! (service = integration name, urgency = priority); classified log rows → notifications,
//! acknowledgements, assignments, escalations, closes. Record ids `{alert id}/created` and
//! `{alert id}/{row key}`.
//!
//! **Config**: `JSM_API_TOKEN` / `JSM_API_TOKEN_FILE` (turns it on), `JSM_EMAIL`,
//! `JSM_CLOUD_ID`, `JSM_API_URL` (default `https://api.atlassian.com`), `JSM_SITE_URL` (optional:
//! the site, for user look-ups with a classic token).
//!
//! **Quirks**: the log row form and the paging fields are not fully documented; [`api`] accepts
//! both readings of each. A 404 at the start-up check means the cloud id is wrong and stops ptsd.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use super::http::{base_url, HttpClient, RetryPolicy};
use super::opsgenie::model::Alert;
use super::opsgenie::{Action, Activity, LogRules, OpsgenieSettings};
use super::{CollectError, Collected, Collector, CollectorSettings, RequestStats};
use crate::config::{Config, ConfigError};
use crate::event::{Event, EventKind, Incident, Window};
use crate::secret::Secret;

pub mod api;
pub mod users;

use api::{Api, LogRow};
use users::People;

/// The registry name and `provider` tag.
pub const NAME: &str = "jsm";
const DEFAULT_API_URL: &str = "https://api.atlassian.com";

/// The JSM Operations collector's options.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Jira Service Management Operations")]
pub struct JsmSettings {
    /// Atlassian API token of JSM_EMAIL's account; when set, the JSM collector runs (environment only: a flag would show it in the process list).
    #[arg(long, env = "JSM_API_TOKEN", hide_env_values = true, value_parser = crate::secret::parse)]
    pub jsm_api_token: Option<Secret>,

    /// File holding the JSM API token (Docker and Kubernetes secrets).
    #[arg(long, env = "JSM_API_TOKEN_FILE")]
    pub jsm_api_token_file: Option<PathBuf>,

    /// E-mail address of the Atlassian account the API token belongs to.
    #[arg(long, env = "JSM_EMAIL")]
    pub jsm_email: Option<String>,

    /// The site's cloud id (JSON `cloudId` of https://<site>.atlassian.net/_edge/tenant_info).
    #[arg(long, env = "JSM_CLOUD_ID")]
    pub jsm_cloud_id: Option<String>,

    /// Atlassian API gateway URL.
    #[arg(long, env = "JSM_API_URL", default_value = DEFAULT_API_URL)]
    pub jsm_api_url: String,

    /// The site URL (https://<site>.atlassian.net), tried first for user look-ups (a classic API token works only there).
    #[arg(long, env = "JSM_SITE_URL")]
    pub jsm_site_url: Option<String>,
}

/// A cloud id goes into URL paths: letters, digits and dashes only (it is a UUID).
fn cloud_id(raw: Option<String>) -> Result<String, ConfigError> {
    let id = raw.unwrap_or_default().trim().to_string();
    if id.is_empty() {
        return Err(ConfigError(
            "JSM_API_TOKEN is set but JSM_CLOUD_ID is not; set it to the cloudId of https://<site>.atlassian.net/_edge/tenant_info".into(),
        ));
    }
    if id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ConfigError(
            "JSM_CLOUD_ID is not a cloud id (letters, digits and dashes); set it to the cloudId of https://<site>.atlassian.net/_edge/tenant_info".into(),
        ));
    }
    Ok(id)
}

fn email(raw: Option<String>) -> Result<String, ConfigError> {
    let e = raw.unwrap_or_default().trim().to_string();
    if e.is_empty() {
        return Err(ConfigError(
            "JSM_API_TOKEN is set but JSM_EMAIL is not; set it to the e-mail address of the Atlassian account the token belongs to".into(),
        ));
    }
    if !e.contains('@') || e.contains(':') || e.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ConfigError(
            "JSM_EMAIL is not an e-mail address; set it to the login e-mail of the Atlassian account the token belongs to".into(),
        ));
    }
    Ok(e)
}

/// Whether JSM may still be notifying people about `alert` without a state change: open, not
/// acknowledged, created less than [`RENOTIFY_HORIZON`] before `window` ends.
fn may_renotify(alert: &Alert, created: Timestamp, window: &Window) -> bool {
    !alert.is_closed()
        && alert.acknowledged != Some(true)
        && created >= window.until - super::opsgenie::RENOTIFY_HORIZON
}

/// Standard base64 (RFC 4648, with padding), for the basic auth header: the `base64` crate,
/// already in the tree through reqwest.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl CollectorSettings for JsmSettings {
    const NAME: &'static str = NAME;
    const ENABLE: &'static str =
        "set JSM_API_TOKEN (or JSM_API_TOKEN_FILE) with JSM_EMAIL and JSM_CLOUD_ID";

    fn build(self, config: &Config) -> Result<Option<Box<dyn Collector>>, ConfigError> {
        let gateway = base_url("JSM_API_URL", &self.jsm_api_url, DEFAULT_API_URL)?;
        let site = self
            .jsm_site_url
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| base_url("JSM_SITE_URL", s, "https://<site>.atlassian.net"))
            .transpose()?;
        let Some(token) =
            crate::secret::read("JSM_API_TOKEN", self.jsm_api_token, self.jsm_api_token_file)?
        else {
            return Ok(None);
        };
        let cloud = cloud_id(self.jsm_cloud_id)?;
        let email = email(self.jsm_email)?;
        let auth = Secret::new(format!(
            "Basic {}",
            base64(format!("{email}:{}", token.expose()).as_bytes())
        ));
        let http = HttpClient::new(
            NAME,
            &auth,
            "application/json",
            RetryPolicy::from_config(config),
        )?;
        let mut hosts: Vec<String> = site.into_iter().collect();
        hosts.push(format!("{gateway}/ex/jira/{cloud}"));
        // The same log rules as the Opsgenie collector (`PTSD_OPSGENIE_LOG_RULES`): one alert
        // model, one table of row wordings.
        let rules = match crate::config::component_options::<OpsgenieSettings>(config, "opsgenie")?
            .opsgenie_log_rules
        {
            Some(path) => LogRules::from_file(&path)
                .map_err(|e| ConfigError(format!("PTSD_OPSGENIE_LOG_RULES {e}")))?,
            None => LogRules::built_in(),
        };
        Ok(Some(Box::new(JsmCollector {
            rules,
            api: Api {
                base: format!("{gateway}/jsm/ops/api/{cloud}"),
                http,
            },
            people: People::new(hosts),
            read: HashMap::new(),
        })))
    }
}

/// Reads JSM Operations alerts and their activity.
pub struct JsmCollector {
    /// The Opsgenie log rules (built-in, or as `PTSD_OPSGENIE_LOG_RULES` makes them).
    rules: LogRules,
    api: Api,
    people: People,
    /// What was read of each alert listed by the last window.
    read: HashMap<String, LogsRead>,
}

/// How far an alert's logs were read (as in the Opsgenie collector).
struct LogsRead {
    updated_at: String,
    until: Timestamp,
    /// The key of the last row older than that window's start, when rows came oldest first.
    settled: Option<String>,
    delivered: bool,
}

/// Glue to the Opsgenie model: one alert's incident and its rows inside `window` → events.
/// `person` turns a name from a row into a person (`None` = nobody). Rows with no `type` are
/// tried as `system`, then as `alertRecipient` (JSM's row form is not documented).
fn events_of(
    alert: &Alert,
    service: &str,
    rows: &[LogRow],
    window: &Window,
    (rules, unmatched): (&LogRules, &mut u64),
    person: &dyn Fn(&str) -> Option<crate::event::Person>,
) -> Vec<Event> {
    let mut out = Vec::new();
    let Ok(created) = alert.created_at.parse::<Timestamp>() else {
        return out;
    };
    let incident = Incident {
        id: alert.id.clone(),
        created_at: Some(created),
        title: alert.message.clone(),
        service: Some(service.to_string()),
        urgency: alert.priority.clone(),
    };
    if window.contains(created) {
        out.push(Event {
            record_id: format!("{}/created", alert.id),
            at: created,
            kind: EventKind::Triggered {
                service: service.to_string(),
                urgency: alert.priority.clone().unwrap_or_else(|| "none".into()),
            },
            incident: Some(incident.clone()),
        });
    }
    for row in rows.iter().filter(|r| window.contains(r.at)) {
        let Some(matched) = classify(rules, row) else {
            *unmatched += 1;
            tracing::debug!(provider = NAME, alert = %alert.id, log = %row.log, "Log row matched no rule; not counted.");
            continue;
        };
        // A rule for a row that counts nothing (viewed, a note, …).
        let Some(activity) = matched else {
            continue;
        };
        let event = |kind| Event {
            record_id: format!("{}/{}", alert.id, row.cursor),
            at: row.at,
            kind,
            incident: Some(incident.clone()),
        };
        match activity.action {
            Action::Acknowledged | Action::Closed => {
                let user = activity.people.first().and_then(|w| person(w));
                out.push(event(if activity.action == Action::Acknowledged {
                    EventKind::Acknowledged { user }
                } else {
                    EventKind::Resolved { user }
                }));
            }
            action => {
                for who in &activity.people {
                    let Some(user) = person(who) else { continue };
                    out.push(event(match action {
                        Action::Notified(channel) => EventKind::Notified { user, channel },
                        Action::Assigned => EventKind::Assigned { user },
                        _ => EventKind::Escalated { user },
                    }));
                }
            }
        }
    }
    out
}

/// What the log rules make of `row`: `None` when no rule matches, `Some(None)` for a rule that
/// counts nothing. Rows with no `type` are tried as `system`, then as `alertRecipient` (JSM's row
/// form is not documented).
fn classify(rules: &LogRules, row: &LogRow) -> Option<Option<Activity>> {
    let kinds: &[&str] = match row.kind.as_deref() {
        Some(kind) => &[kind][..],
        None => &["system", "alertRecipient"],
    };
    kinds
        .iter()
        .find_map(|kind| rules.classify(&row.log, kind, &row.owner))
        .map(|m| m.activity)
}

/// The names a row may count for (for look-ups before counting).
fn named(rules: &LogRules, rows: &[LogRow]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| classify(rules, r).flatten())
        .flat_map(|a| a.people)
        .collect()
}

#[async_trait]
impl Collector for JsmCollector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn check(&mut self) -> Result<(), CollectError> {
        match self.api.check().await {
            Err(CollectError::Refused { status: 404, .. }) => Err(CollectError::Unauthorized {
                provider: NAME,
                status: 404,
                hint: "; no JSM Operations site has this JSM_CLOUD_ID: check it at https://<site>.atlassian.net/_edge/tenant_info",
            }),
            other => other,
        }
    }

    async fn collect(&mut self, window: Window) -> Result<Collected, CollectError> {
        let (mut alerts, skipped) = self.api.alerts(&window).await?;
        let listed: HashSet<String> = alerts.iter().map(|a| a.alert.id.clone()).collect();
        for a in self.api.renotifiable(&window).await? {
            if !listed.contains(&a.alert.id) {
                alerts.push(a);
            }
        }
        let mut out = Collected {
            skipped,
            ..Collected::default()
        };
        let mut next_read = HashMap::new();
        let mut read: Vec<(usize, Vec<LogRow>)> = Vec::new();
        for (i, a) in alerts.iter().enumerate() {
            let alert = &a.alert;
            let (Ok(created), Ok(updated)) = (
                alert.created_at.parse::<Timestamp>(),
                alert.updated_at.parse::<Timestamp>(),
            ) else {
                out.skipped += 1;
                tracing::warn!(provider = NAME, alert = %alert.id, "Skipped an alert with a bad timestamp.");
                continue;
            };
            let known = self.read.remove(&alert.id).filter(|k| k.delivered);
            if let Some(k) = known.as_ref() {
                // Unchanged since its logs were read for a window that ended after its last
                // change (by more than the millisecond the API rounds `updatedAt` down to).
                if k.updated_at == alert.updated_at
                    && updated + SignedDuration::from_millis(1) < k.until
                    && !may_renotify(alert, created, &window)
                {
                    next_read.insert(alert.id.clone(), known.expect("matched above"));
                    read.push((i, Vec::new()));
                    continue;
                }
            }
            let from = known.and_then(|k| k.settled);
            let (rows, malformed) = self.api.logs(&alert.id, from.as_deref()).await?;
            out.skipped += malformed;
            let ascending = rows.windows(2).all(|w| w[0].at <= w[1].at);
            let settled = if ascending {
                rows.iter()
                    .rev()
                    .find(|r| r.at < window.since)
                    .map(|r| r.cursor.clone())
                    .or(from)
            } else {
                None
            };
            next_read.insert(
                alert.id.clone(),
                LogsRead {
                    updated_at: alert.updated_at.clone(),
                    until: window.until,
                    settled,
                    delivered: false,
                },
            );
            read.push((i, rows));
        }
        let rules = &self.rules;
        let names: Vec<String> = read
            .iter()
            .flat_map(|(_, rows)| named(rules, rows))
            .collect();
        self.people.prepare(&self.api.http, &names).await;
        let people = &self.people;
        for (i, rows) in &read {
            let a = &alerts[*i];
            let classifier = (rules, &mut out.unmatched_rows);
            out.events.extend(events_of(
                &a.alert,
                &a.service(),
                rows,
                &window,
                classifier,
                &|w| people.person(w),
            ));
        }
        self.read = next_read;
        Ok(out)
    }

    fn take_stats(&mut self) -> RequestStats {
        self.api.http.take_stats()
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

    #[test]
    fn basic_auth_is_email_colon_token_in_base64() {
        assert_eq!(
            base64(b"ada@example.com:t0k"),
            "YWRhQGV4YW1wbGUuY29tOnQwaw=="
        );
    }

    #[test]
    fn settings_say_what_to_set() {
        assert!(cloud_id(None).unwrap_err().0.contains("JSM_CLOUD_ID"));
        assert!(cloud_id(Some("../../v2".into()))
            .unwrap_err()
            .0
            .contains("JSM_CLOUD_ID is not"));
        assert_eq!(
            cloud_id(Some(" 0c5a7c2e-1234-4f00-9a00-0123456789ab ".into())).unwrap(),
            "0c5a7c2e-1234-4f00-9a00-0123456789ab"
        );
        assert!(email(None).unwrap_err().0.contains("JSM_EMAIL"));
        assert!(email(Some("ada".into()))
            .unwrap_err()
            .0
            .contains("JSM_EMAIL is not"));
        assert!(email(Some("a:b@example.com".into())).is_err());
        assert_eq!(
            email(Some("ada@example.com".into())).unwrap(),
            "ada@example.com"
        );
    }
}
