//! The people behind JSM activity rows: Atlassian account ids looked up in bulk through Jira's
//! user API (`GET /rest/api/3/user/bulk?accountId=…`: `displayName`, `emailAddress`,
//! `timeZone`), kept in the shared [`Directory`].
//!
//! Which host serves that API for a basic-auth API token depends on the token (Atlassian's
//! "Manage API tokens" page): a token *with scopes* only works through the gateway
//! `{JSM_API_URL}/ex/jira/{cloudId}`, a classic token on the site itself
//! (`https://<site>.atlassian.net`). ptsd tries the site first when `JSM_SITE_URL` is set, then
//! the gateway, and keeps the first that answers. A person is never dropped for want of a
//! look-up: an account id the user API does not return (or cannot be asked about) counts
//! under the id itself until it is known; an e-mail address (if rows name people that way)
//! counts under the person with that address, else under the address. A name that is neither
//! (`System`, an integration) is nobody.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;

use super::super::alerts::shapes::names_regex;
use super::super::directory::{Directory, RETRY};
use super::super::http::HttpClient;
use super::super::CollectError;
use super::api::UNAUTHORIZED_HINT;
use super::NAME;
use crate::event::Person;

/// Account ids per bulk request (each adds about 50 characters to the URL).
const BATCH: usize = 50;
/// Most account ids remembered (a bound against junk in rows).
const KNOWN_MAX: usize = 10_000;

/// Whether `who` looks like an Atlassian account id: 24 hex digits (older accounts) or
/// `<digits>:<uuid>` (e.g. `557058:f58131cb-…`), or another `prefix:rest` of letters, digits
/// and dashes.
pub fn is_account_id(who: &str) -> bool {
    let ok_chars = who
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '-');
    let hex24 = who.len() == 24 && who.chars().all(|c| c.is_ascii_hexdigit());
    let prefixed = who.split_once(':').is_some_and(|(a, b)| {
        !a.is_empty() && b.len() >= 8 && b.chars().any(|c| c.is_ascii_digit())
    });
    ok_chars && who.len() <= 128 && (hex24 || prefixed)
}

/// A user as the Jira user API returns it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JiraUser {
    account_id: String,
    #[serde(default)]
    display_name: Option<String>,
    /// Hidden by the person's privacy settings unless the site allows it.
    #[serde(default)]
    email_address: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
}

/// Who JSM rows name, and where to ask about them.
pub(super) struct People {
    /// Account id → person.
    dir: Directory<Person>,
    /// Every account id seen (re-read hourly).
    known: HashSet<String>,
    /// Ids the user API was asked about and did not return.
    missing: HashSet<String>,
    /// User API bases to try (site, gateway); `host` is the one that last worked.
    hosts: Vec<String>,
    host: usize,
    failed: Option<Instant>,
    /// The display names known, masked in row shapes.
    names: Option<regex::Regex>,
}

impl People {
    pub(super) fn new(hosts: Vec<String>) -> People {
        People {
            dir: Directory::default(),
            known: HashSet::new(),
            missing: HashSet::new(),
            hosts,
            host: 0,
            failed: None,
            names: None,
        }
    }

    /// Looks up what the rows about to be counted need: ids never seen (at once, unless the
    /// user API failed within the last minute) and, hourly, every id seen. A failure is
    /// logged and leaves people counted under their ids.
    pub(super) async fn prepare(&mut self, http: &HttpClient, named: &[String]) {
        let fresh: Vec<String> = named
            .iter()
            .filter(|w| is_account_id(w))
            .filter(|w| self.dir.get(w).is_none() && !self.missing.contains(*w))
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if self.known.len() + fresh.len() > KNOWN_MAX {
            self.known.clear();
            self.missing.clear();
        }
        self.known.extend(fresh.iter().cloned());
        let hourly = self.dir.due(false) && !self.known.is_empty();
        if fresh.is_empty() && !hourly {
            return;
        }
        if self.failed.is_some_and(|f| f.elapsed() < RETRY) {
            return;
        }
        let ask: Vec<String> = if hourly {
            self.known.iter().cloned().collect()
        } else {
            fresh
        };
        let began = crate::clock::now();
        match self.look_up(http, &ask).await {
            Ok(found) => {
                self.failed = None;
                for id in &ask {
                    if !found.contains_key(id) {
                        self.missing.insert(id.clone());
                    }
                }
                let mut all = if hourly {
                    HashMap::new()
                } else {
                    self.dir.entries().clone()
                };
                self.missing.retain(|id| !found.contains_key(id));
                all.extend(found);
                let _ = self.dir.store::<CollectError>(began, Ok(all));
                self.names = names_regex(
                    self.dir
                        .entries()
                        .values()
                        .filter_map(|p| p.name.as_deref()),
                );
            }
            Err(e) => {
                self.failed = Some(Instant::now());
                tracing::warn!(provider = NAME, error = %e, "Cannot look people up in the Jira user API; they count under their account ids for now.");
            }
        }
    }

    /// The display names known, as one regex (for masking row shapes).
    pub(super) fn name_mask(&self) -> Option<&regex::Regex> {
        self.names.as_ref()
    }

    /// The person behind `who` (an account id, an e-mail address), or `None` for nobody.
    pub(super) fn person(&self, who: &str) -> Option<Person> {
        let who = who.trim();
        if is_account_id(who) {
            return Some(self.dir.get(who).cloned().unwrap_or_else(|| Person {
                id: who.to_string(),
                ..Person::default()
            }));
        }
        if who.contains('@') && !who.contains(char::is_whitespace) {
            let found = self.dir.entries().values().find(|p| {
                p.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(who))
            });
            return Some(found.cloned().unwrap_or_else(|| Person {
                id: who.to_ascii_lowercase(),
                email: Some(who.to_ascii_lowercase()),
                ..Person::default()
            }));
        }
        None
    }

    /// The users behind `ids`, asked of the first host that answers.
    async fn look_up(
        &mut self,
        http: &HttpClient,
        ids: &[String],
    ) -> Result<HashMap<String, Person>, CollectError> {
        let mut last_err = None;
        for step in 0..self.hosts.len() {
            let i = (self.host + step) % self.hosts.len();
            match bulk(http, &self.hosts[i], ids).await {
                Ok(found) => {
                    if i != self.host {
                        tracing::info!(provider = NAME, host = %self.hosts[i], "Looking people up through this host.");
                    }
                    self.host = i;
                    return Ok(found);
                }
                // This host does not serve this token: try the next one.
                Err(e @ CollectError::Unauthorized { .. })
                | Err(e @ CollectError::Refused { status: 404, .. }) => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or(CollectError::Malformed {
            provider: NAME,
            what: "no user API host configured".into(),
        }))
    }
}

/// `GET {host}/rest/api/3/user/bulk` for `ids`, in batches, following `isLast` / `startAt`.
async fn bulk(
    http: &HttpClient,
    host: &str,
    ids: &[String],
) -> Result<HashMap<String, Person>, CollectError> {
    let url = format!("{host}/rest/api/3/user/bulk");
    let mut out = HashMap::new();
    for chunk in ids.chunks(BATCH) {
        let mut start = 0usize;
        loop {
            let mut q: Vec<(&str, String)> =
                chunk.iter().map(|id| ("accountId", id.clone())).collect();
            q.push(("startAt", start.to_string()));
            q.push(("maxResults", BATCH.to_string()));
            let page: Value = http.get_json(&url, &q, UNAUTHORIZED_HINT).await?;
            // A page bean (`values`, `isLast`); tolerated: a bare array.
            let (values, last) = match &page {
                Value::Array(a) => (a.clone(), true),
                Value::Object(o) => (
                    o.get("values")
                        .and_then(Value::as_array)
                        .cloned()
                        .ok_or_else(|| CollectError::Malformed {
                            provider: NAME,
                            what: "a user look-up without `values`".into(),
                        })?,
                    o.get("isLast").and_then(Value::as_bool).unwrap_or(true),
                ),
                _ => {
                    return Err(CollectError::Malformed {
                        provider: NAME,
                        what: "a user look-up that is not a page".into(),
                    })
                }
            };
            let n = values.len();
            for v in values {
                let Ok(u) = serde_json::from_value::<JiraUser>(v) else {
                    continue;
                };
                out.insert(
                    u.account_id.clone(),
                    Person {
                        id: u.account_id,
                        name: u.display_name.filter(|n| !n.trim().is_empty()),
                        email: u.email_address.filter(|e| !e.trim().is_empty()),
                        time_zone: u.time_zone.filter(|z| !z.trim().is_empty()),
                    },
                );
            }
            start += n;
            if last || n == 0 || start >= chunk.len() {
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_told_from_other_names() {
        for id in [
            "5b10ac8d82e05b22cc7d4ef5",
            "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077",
            "712020:0e3b1f2c-1111-4a2b-9c3d-000000000001",
        ] {
            assert!(is_account_id(id), "{id}");
        }
        for other in [
            "System",
            "Prometheus",
            "ada@example.com",
            "",
            "Datadog-2",
            "5b10ac8d82e05b22cc7d4ef",
            "a b:12345678",
        ] {
            assert!(!is_account_id(other), "{other}");
        }
    }

    #[test]
    fn nobody_is_dropped_and_names_are_nobody() {
        let mut p = People::new(vec![]);
        let ada = Person {
            id: "5b10ac8d82e05b22cc7d4ef5".into(),
            name: Some("Ada Lovelace".into()),
            email: Some("ada@example.com".into()),
            time_zone: Some("Europe/London".into()),
        };
        p.dir
            .store::<()>(
                crate::clock::now(),
                Ok(HashMap::from([(ada.id.clone(), ada.clone())])),
            )
            .unwrap();
        assert_eq!(p.person("5b10ac8d82e05b22cc7d4ef5"), Some(ada.clone()));
        assert_eq!(p.person("Ada@Example.com"), Some(ada));
        let stranger = p
            .person("557058:f58131cb-b67d-43c7-b30d-6b58d40bd077")
            .unwrap();
        assert_eq!(stranger.id, "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077");
        assert_eq!(stranger.name, None);
        let mail = p.person("grace@example.com").unwrap();
        assert_eq!(mail.email.as_deref(), Some("grace@example.com"));
        assert_eq!(p.person("System"), None);
        assert_eq!(p.person("Prometheus"), None);
    }
}
