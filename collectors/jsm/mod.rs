//! Jira Service Management (JSM) Operations collector, Opsgenie's successor: alerts and their
//! activity logs → on-call events, with `provider=jsm`.
//!
//! JSM Operations is Opsgenie's alert model behind another host, auth and envelope, so this
//! collector is the Opsgenie collector's [`AlertCollector`] with another [`AlertSource`]
//! ([`Jsm`]: this API and these people). Everything the alert model implies is shared: the
//! alert and row objects, the log rules (`PTSD_LOG_RULES`) and unmatched shapes
//! (`log_rows_unmatched`, the hourly log, `ptsd logs`), the report's safety net, the memory
//! that reads only new rows and paces changing alerts, and the skip of an alert whose log
//! stays refused. This folder holds only what is JSM's own.
//!
//! **Reads** (base `{JSM_API_URL}/jsm/ops/api/{JSM_CLOUD_ID}`, HTTP basic auth with
//! `JSM_EMAIL` and `JSM_API_TOKEN`)
//! - `GET /v1/alerts` with `query=createdAt<{until} AND updatedAt>={since}` (epoch ms, the
//!   end rounded up; Opsgenie's search syntax), `sort=createdAt`, `order=asc`, `size=100`, `offset`; results in
//!   `values`, total in `count`, more in `links.next`. Restarted from the newest `createdAt`
//!   before `offset + size` reaches 20,000 (the shared `opsgenie::listing`).
//! - `GET /v1/alerts` with `query=status:open AND createdAt>=…`, newest 50 (one request, paced
//!   by the shared memory): young unacknowledged alerts are looked at, as Opsgenie's are.
//! - `GET /v1/alerts/{id}/logs?size=100&after={cursor}`: when the shared memory says it is due
//!   (the alert changed and is quiet, or may be re-notifying), from the last row older than the
//!   window that read it before.
//! - `GET /rest/api/3/user/bulk?accountId=…` (Jira's user API, on the site or the gateway):
//!   names, e-mails and time zones of the account ids rows name ([`users`]).
//!
//! **Emits**: as the Opsgenie collector: an alert created in the window → `Triggered`
//! (service = integration name, urgency = priority); classified log rows → notifications,
//! acknowledgements, assignments, escalations, closes; the alert's `report` and `owner`, when
//! JSM sends them, as the safety net. Record ids `{alert id}/created`, `{alert id}/{row key}`
//! and the report's.
//!
//! **Config**: `JSM_API_TOKEN` / `JSM_API_TOKEN_FILE` (turns it on), `JSM_EMAIL`,
//! `JSM_CLOUD_ID`, `JSM_API_URL` (default `https://api.atlassian.com`), `JSM_SITE_URL` (optional:
//! the site, for user look-ups with a classic token).
//!
//! **Quirks**: the log row form and the paging fields are not fully documented; [`api`] accepts
//! both readings of each. A 404 at the start-up check means the cloud id is wrong and stops ptsd.

use std::path::PathBuf;

use async_trait::async_trait;
use jiff::Timestamp;
use regex::Regex;

use super::alerts::{log_rules, AlertCollector, AlertSource};
use super::http::{base_url, HttpClient, RetryPolicy};
use super::{CollectError, Collector, CollectorSettings, RequestStats};
use crate::config::{Config, ConfigError};
use crate::event::Person;
use crate::secret::Secret;

pub mod api;
pub mod users;

use api::Api;
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
        // The alert model's log rules (`PTSD_LOG_RULES`), as Opsgenie's: one table of row
        // wordings.
        let rules = log_rules(config)?;
        let source = Jsm {
            api: Api {
                base: format!("{gateway}/jsm/ops/api/{cloud}"),
                http,
            },
            people: People::new(hosts),
        };
        Ok(Some(Box::new(AlertCollector::new(source, rules, config))))
    }
}

/// JSM's side of the alert collector: its API, and the people behind account ids.
pub struct Jsm {
    api: Api,
    people: People,
}

#[async_trait]
impl AlertSource for Jsm {
    const NAME: &'static str = NAME;
    type Api = Api;

    fn api(&self) -> &Api {
        &self.api
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

    async fn people(&mut self, names: &[(String, Timestamp)]) -> Vec<Option<Person>> {
        let ids: Vec<String> = names.iter().map(|(who, _)| who.clone()).collect();
        self.people.prepare(&self.api.http, &ids).await;
        names
            .iter()
            .map(|(who, _)| self.people.person(who))
            .collect()
    }

    fn name_mask(&self) -> Option<&Regex> {
        self.people.name_mask()
    }

    fn take_stats(&mut self) -> RequestStats {
        self.api.http.take_stats()
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
