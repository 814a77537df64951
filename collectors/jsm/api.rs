//! Jira Service Management Operations' REST API as the collector reads it, as an
//! [`AlertApi`]: the `values` / `count` / `links.next` envelope of one page of `/v1/alerts`
//! (the walk past the 20,000 offset cap and the newest open alerts are the shared
//! `opsgenie::listing`'s), and an alert's activity log with its `after` cursor. No counting and
//! no people here.
//!
//! What the documentation leaves open, and how both readings are accepted:
//! - next alert page: `links.next` (a relative URL in the docs) *or* `count` beyond the rows
//!   read; ptsd pages by its own `offset`, so it never depends on the link's parameters;
//! - log paging: the next cursor is the `after` parameter of `links.next` when it has one, else
//!   a key in the body (`after`, `lastKey`), else the last row's own key (`offset`, else `id`,
//!   else `key`); with no `links` object at all a full page still continues;
//! - a log row's type may be `type` or `logType`, its time an ISO-8601 string or epoch ms.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::super::alerts::listing::{AlertApi, BadRow, ListedPage, LogPage, PageRules};
use super::super::alerts::model::LogRow;
use super::super::http::HttpClient;
use super::super::CollectError;
use super::NAME;

/// Largest `size` of a page.
pub const PAGE_SIZE: u64 = 100;
/// `offset + size` must stay below this on `/v1/alerts` ("lower than 20K").
pub const OFFSET_CAP: u64 = 20_000;
pub(super) const UNAUTHORIZED_HINT: &str = "; check JSM_EMAIL and JSM_API_TOKEN (an API token of that account, which needs Jira Service Management agent access; a token with scopes needs read:ops-alert:jira-service-management)";

/// One page of any JSM Operations listing.
#[derive(Deserialize)]
pub(super) struct Page {
    /// Required: a body without it is not this API's envelope (retried, then malformed).
    pub(super) values: Vec<Value>,
    #[serde(default)]
    pub(super) count: Option<u64>,
    #[serde(default)]
    pub(super) links: Option<Links>,
    /// A next-page key in the body itself (`after`, or `lastKey` as Opsgenie's v1 API had),
    /// the third reading of the log paging; any JSON type.
    #[serde(default)]
    pub(super) after: Option<Value>,
    #[serde(default, rename = "lastKey")]
    pub(super) last_key: Option<Value>,
}

impl Page {
    /// The key a body names for its next page, if any.
    fn body_key(&self) -> Option<String> {
        [&self.after, &self.last_key]
            .into_iter()
            .flatten()
            .find_map(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
    }

    /// Where the next log page starts, or `None` when this was the last: `after` in
    /// `links.next`, else a key in the body, else the last row's key (`last`); without any
    /// `links`, only after a full page.
    fn next_log_cursor(&self, last: Option<String>) -> Option<String> {
        let full = self.values.len() as u64 >= PAGE_SIZE;
        match &self.links {
            Some(Links { next: Some(link) }) => {
                after_param(link).or_else(|| self.body_key()).or(last)
            }
            Some(_) => None,
            None if full => self.body_key().or(last),
            None => None,
        }
    }
}

#[derive(Deserialize, Default)]
pub(super) struct Links {
    #[serde(default)]
    pub(super) next: Option<String>,
}

fn text(v: &Value, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match v.get(*n) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(x)) => Some(x.to_string()),
        _ => None,
    })
}

/// The key of a row, whatever it is called.
fn cursor_of(v: &Value) -> Option<String> {
    text(v, &["offset", "id", "key"]).filter(|c| !c.is_empty())
}

/// An ISO-8601 time or epoch milliseconds.
fn time_of(v: &Value) -> Option<Timestamp> {
    match v.get("createdAt")? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => Timestamp::from_millisecond(n.as_i64()?).ok(),
        _ => None,
    }
}

/// One activity row read tolerantly from its JSON into the shared row: the key is `offset`,
/// else `id`, else `key`; the type `type` or `logType` (`""` for neither); the time an ISO-8601
/// string or epoch ms (kept as ISO-8601).
pub(super) fn log_row(v: &Value) -> Result<LogRow, BadRow> {
    let offset =
        cursor_of(v).ok_or_else(|| BadRow::Malformed("no key (offset, id or key)".into()))?;
    let Some(at) = time_of(v) else {
        let raw = v.get("createdAt").map(Value::to_string).unwrap_or_default();
        return Err(BadRow::BadTime { offset, raw });
    };
    Ok(LogRow {
        log: text(v, &["log", "message"]).unwrap_or_default(),
        kind: text(v, &["type", "logType"]).unwrap_or_default(),
        owner: text(v, &["owner"]).unwrap_or_default(),
        created_at: at.to_string(),
        offset,
    })
}

/// The `after` parameter of a `links.next` URL (relative or absolute), if it has one.
pub(super) fn after_param(next: &str) -> Option<String> {
    let base = reqwest::Url::parse("http://relative.invalid/").ok()?;
    let url = base.join(next).ok()?;
    let after = url.query_pairs().find(|(k, _)| k == "after")?.1;
    (!after.is_empty()).then(|| after.into_owned())
}

/// One site's JSM Operations API.
pub(crate) struct Api {
    /// `{JSM_API_URL}/jsm/ops/api/{cloudId}`, without a trailing slash.
    pub(super) base: String,
    pub(super) http: HttpClient,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// One page of `GET /v1/alerts`.
    async fn page(
        &self,
        query: String,
        order: &str,
        size: u64,
        offset: u64,
    ) -> Result<Page, CollectError> {
        let mut q = vec![
            ("sort", "createdAt".to_string()),
            ("order", order.into()),
            ("size", size.to_string()),
            ("offset", offset.to_string()),
        ];
        if !query.is_empty() {
            q.insert(0, ("query", query));
        }
        self.http
            .get_json::<super::super::Object<Page>>(&self.url("/v1/alerts"), &q, UNAUTHORIZED_HINT)
            .await
            .map(|p| p.0)
    }

    /// The start-up check: one alert of the listing (credentials, cloud id, access).
    pub(super) async fn check(&self) -> Result<(), CollectError> {
        self.page(String::new(), "desc", 1, 0).await.map(|_| ())
    }
}

#[async_trait]
impl AlertApi for Api {
    const PAGING: PageRules = PageRules {
        provider: NAME,
        size: PAGE_SIZE,
        max_end: OFFSET_CAP - 1,
    };

    async fn alerts_page(
        &self,
        query: String,
        order: &str,
        size: u64,
        offset: u64,
    ) -> Result<ListedPage, CollectError> {
        let page = self.page(query, order, size, offset).await?;
        let read = offset + page.values.len() as u64;
        Ok(ListedPage {
            more: page.links.and_then(|l| l.next).is_some() || page.count.is_some_and(|c| read < c),
            values: page.values,
            total: page.count,
        })
    }

    async fn log_page(
        &self,
        alert_id: &str,
        cursor: Option<&str>,
    ) -> Result<LogPage, CollectError> {
        let mut q = vec![("size", PAGE_SIZE.to_string())];
        if let Some(c) = cursor {
            q.push(("after", c.to_string()));
        }
        let url = self.url(&format!("/v1/alerts/{alert_id}/logs"));
        let super::super::Object(page): super::super::Object<Page> =
            self.http.get_json(&url, &q, UNAUTHORIZED_HINT).await?;
        let last = page.values.iter().rev().find_map(cursor_of);
        Ok(LogPage {
            rows: page.values.iter().map(log_row).collect(),
            next: page.next_log_cursor(last),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::alerts::model::Alert;
    use super::*;
    use serde_json::json;

    #[test]
    fn after_from_relative_and_absolute_links() {
        assert_eq!(
            after_param("/v1/alerts/a1/logs?after=abc_12&size=100").as_deref(),
            Some("abc_12")
        );
        assert_eq!(
            after_param(
                "https://api.atlassian.com/jsm/ops/api/c/v1/alerts/a1/logs?size=5&after=x%2By"
            )
            .as_deref(),
            Some("x+y")
        );
        assert_eq!(after_param("/v1/alerts/a1/logs?size=100"), None);
    }

    #[test]
    fn the_next_log_page_under_each_reading() {
        let page = |body: Value| serde_json::from_value::<Page>(body).unwrap();
        let full: Vec<Value> = (0..PAGE_SIZE)
            .map(|i| json!({"offset": i.to_string()}))
            .collect();
        let last = || Some("99".to_string());
        // links.next with `after`, without it, and a last page.
        let p =
            page(json!({"values": [{}], "links": {"next": "/v1/alerts/a/logs?after=k7&size=100"}}));
        assert_eq!(p.next_log_cursor(last()).as_deref(), Some("k7"));
        let p = page(json!({"values": [{}], "links": {"next": "/v1/alerts/a/logs?page=2"}}));
        assert_eq!(p.next_log_cursor(last()).as_deref(), Some("99"));
        let p = page(json!({"values": full, "links": {}}));
        assert_eq!(p.next_log_cursor(last()), None);
        // No links: a full page goes on from a body key, else the last row's; a short one ends.
        let p = page(json!({"values": full, "lastKey": "lk"}));
        assert_eq!(p.next_log_cursor(last()).as_deref(), Some("lk"));
        let p = page(json!({"values": full, "after": 12345}));
        assert_eq!(p.next_log_cursor(last()).as_deref(), Some("12345"));
        let p = page(json!({"values": full}));
        assert_eq!(p.next_log_cursor(last()).as_deref(), Some("99"));
        let p = page(json!({"values": [{}], "lastKey": "lk"}));
        assert_eq!(p.next_log_cursor(last()), None);
    }

    #[test]
    fn rows_are_read_under_either_field_name() {
        let a = log_row(&json!({"offset": "1_2", "log": "Alert acknowledged via web",
            "type": "system", "owner": "5b10ac8d82e05b22cc7d4ef5", "createdAt": "2026-03-02T10:00:00Z"}))
        .ok()
        .unwrap();
        assert_eq!((a.offset.as_str(), a.kind.as_str()), ("1_2", "system"));
        let b = log_row(&json!({"id": "r9", "log": "x", "logType": "alertRecipient",
            "createdAt": 1_772_445_600_000_i64}))
        .ok()
        .unwrap();
        assert_eq!(b.offset, "r9");
        assert_eq!(b.kind, "alertRecipient");
        assert_eq!(
            b.created_at.parse::<Timestamp>().unwrap().as_millisecond(),
            1_772_445_600_000
        );
        let c = log_row(&json!({"key": "k", "createdAt": "2026-03-02T10:00:00Z"}))
            .ok()
            .unwrap();
        assert_eq!(c.kind, "", "no type: rules of any type may match");
        assert!(matches!(
            log_row(&json!({"log": "x", "createdAt": "2026-03-02T10:00:00Z"})),
            Err(BadRow::Malformed(_))
        ));
        assert!(matches!(
            log_row(&json!({"offset": "1", "createdAt": "yesterday"})),
            Err(BadRow::BadTime { .. })
        ));
    }

    #[test]
    fn the_service_is_the_integration_nested_or_flat() {
        let flat: Alert =
            serde_json::from_value(json!({"id": "a", "createdAt": "2026-03-02T10:00:00Z",
            "updatedAt": "2026-03-02T10:00:00Z", "integrationName": "Datadog EU", "source": "dd"}))
            .unwrap();
        assert_eq!(flat.service(), "Datadog EU");
        let nested: Alert =
            serde_json::from_value(json!({"id": "a", "createdAt": "2026-03-02T10:00:00Z",
            "updatedAt": "2026-03-02T10:00:00Z", "integration": {"name": "Prometheus"}}))
            .unwrap();
        assert_eq!(nested.service(), "Prometheus");
        let bare: Alert =
            serde_json::from_value(json!({"id": "a", "createdAt": "2026-03-02T10:00:00Z",
            "updatedAt": "2026-03-02T10:00:00Z"}))
            .unwrap();
        assert_eq!(bare.service(), "unknown");
    }
}
