//! The Opsgenie REST API as the collector reads it, as an [`AlertApi`]: the wire types, one
//! page of `/v2/alerts` (the walk past the offset cap and the newest open alerts are
//! [`super::listing`]'s), an alert's `/logs` with their string cursor, and the user list. No
//! counting happens here.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::Deserialize;

use super::super::alerts::listing::{AlertApi, BadRow, ListedPage, LogPage, PageRules};
use super::super::alerts::model::LogRow;
use super::super::http::HttpClient;
use super::super::CollectError;
use super::NAME;
use crate::event::Person;

const PAGE_LIMIT: u64 = 100;
/// `offset + limit` may not exceed this on `/v2/alerts`.
pub const OFFSET_CAP: u64 = 20_000;
const UNAUTHORIZED_HINT: &str =
    "; check OPSGENIE_API_KEY, and for an EU account set OPSGENIE_API_URL=https://api.eu.opsgenie.com";

/// The API of one Opsgenie account.
pub(crate) struct Api {
    /// Base URL, without its trailing slash.
    pub(super) base: String,
    pub(super) http: HttpClient,
}

#[derive(Deserialize)]
pub(super) struct Page {
    pub(super) data: Vec<serde_json::Value>,
    #[serde(default)]
    pub(super) paging: Option<Paging>,
}

#[derive(Deserialize, Default)]
pub(super) struct Paging {
    #[serde(default)]
    pub(super) next: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct User {
    pub(super) id: String,
    pub(super) username: String,
    #[serde(default)]
    pub(super) full_name: Option<String>,
    #[serde(default)]
    pub(super) time_zone: Option<String>,
}

impl Api {
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The whole user directory: username (lowercased) → person.
    pub(super) async fn read_users(&self) -> Result<HashMap<String, Person>, CollectError> {
        let mut users = HashMap::new();
        let mut offset = 0u64;
        loop {
            let super::super::Object(page): super::super::Object<Page> = self
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

    /// One page of `GET /v2/alerts` matching `query`, sorted by `createdAt` in `order`.
    async fn page(
        &self,
        query: String,
        order: &str,
        limit: u64,
        offset: u64,
    ) -> Result<Page, CollectError> {
        self.http
            .get_json::<super::super::Object<Page>>(
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
            .map(|p| p.0)
    }
}

#[async_trait]
impl AlertApi for Api {
    const PAGING: PageRules = PageRules {
        provider: NAME,
        size: PAGE_LIMIT,
        max_end: OFFSET_CAP,
    };

    async fn alerts_page(
        &self,
        query: String,
        order: &str,
        size: u64,
        offset: u64,
    ) -> Result<ListedPage, CollectError> {
        let page = self.page(query, order, size, offset).await?;
        Ok(ListedPage {
            more: page.paging.and_then(|p| p.next).is_some(),
            values: page.data,
            total: None,
        })
    }

    async fn log_page(
        &self,
        alert_id: &str,
        cursor: Option<&str>,
    ) -> Result<LogPage, CollectError> {
        let mut q = vec![
            ("identifierType", "id".to_string()),
            ("order", "asc".to_string()),
            ("direction", "next".to_string()),
            ("limit", PAGE_LIMIT.to_string()),
        ];
        if let Some(c) = cursor {
            q.push(("offset", c.to_string()));
        }
        let super::super::Object(page): super::super::Object<Page> = self
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
        let more = page.paging.and_then(|p| p.next).is_some();
        Ok(LogPage {
            rows: page
                .data
                .into_iter()
                .map(|r| {
                    serde_json::from_value::<LogRow>(r)
                        .map_err(|e| BadRow::Malformed(e.to_string()))
                })
                .collect(),
            next: last.filter(|_| more),
        })
    }
}
