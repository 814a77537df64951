//! The Opsgenie REST API as the collector reads it: the wire types and the three listings
//! (`/v2/alerts` with its restart past the offset cap, the newest open alerts, an alert's
//! `/logs` with their string cursor) and the user list. No counting happens here.

use std::collections::{HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::super::http::HttpClient;
use super::super::CollectError;
use super::model::{Alert, LogRow};
use super::NAME;
use crate::event::{Person, Window};

const PAGE_LIMIT: u64 = 100;
/// `offset + limit` may not exceed this on `/v2/alerts`.
pub const OFFSET_CAP: u64 = 20_000;
/// Open, unacknowledged alerts created less than this before a window's end have their logs
/// read every window, changed or not: whether a notification row moves `updatedAt` is
/// UNCONFIRMED, and these are the alerts whose escalations and repeats may still notify people.
pub const RENOTIFY_HORIZON: SignedDuration = SignedDuration::from_hours(1);
/// At most this many of them are listed per window, the newest (one request).
pub const RENOTIFY_MAX: u64 = 50;
const UNAUTHORIZED_HINT: &str =
    "; check OPSGENIE_API_KEY, and for an EU account set OPSGENIE_API_URL=https://api.eu.opsgenie.com";

/// The API of one Opsgenie account.
pub(super) struct Api {
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

fn millis(t: Timestamp) -> String {
    t.as_millisecond().to_string()
}

/// `t` in epoch milliseconds, rounded up: an exclusive upper bound. Opsgenie keeps times to the
/// millisecond, so an alert created at `12.3456` s reads as `12.345`, inside a window that ends
/// at `12.3457` s; `createdAt<12345` would leave it out of that window, and the next window
/// (from `12.3457` s) would not take it either.
fn millis_up(t: Timestamp) -> String {
    let ms = t.as_millisecond();
    let floor = Timestamp::from_millisecond(ms).unwrap_or(t);
    (if floor < t { ms + 1 } else { ms }).to_string()
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

    /// The alerts created before the window ended and updated since `updated_since` (the
    /// window's start, or later when the collector knows the alerts updated before), each once.
    ///
    /// Past the 20,000 `offset + limit` cap the query starts again at offset 0 with a lower
    /// bound `createdAt>={the newest createdAt seen}`: the results are sorted by the immutable
    /// `createdAt`, so that bound skips what was read, and being inclusive it keeps the alerts
    /// that share that millisecond (those read already are dropped by id). So any number of
    /// alerts can be read, including old alerts all updated inside the window (a bulk close,
    /// a catch-up), which no split of the window would bring under the cap: the window bounds
    /// only `updatedAt` from below. [`CollectError::WindowTooLarge`] is left for a single
    /// millisecond holding more than the cap, which no query can page through.
    pub(super) async fn alerts(
        &self,
        window: &Window,
        updated_since: Timestamp,
    ) -> Result<(Vec<Alert>, u64), CollectError> {
        let base = format!(
            "createdAt<{} AND updatedAt>={}",
            millis_up(window.until),
            millis(updated_since)
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
    pub(super) async fn alerts_page(
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
    pub(super) async fn renotifiable(&self, window: &Window) -> Result<Vec<Alert>, CollectError> {
        let query = format!(
            "status:open AND createdAt>={} AND createdAt<{}",
            millis(window.until - RENOTIFY_HORIZON),
            millis_up(window.until)
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
    pub(super) async fn logs(
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upper_bound_rounds_up_to_the_millisecond() {
        let t = Timestamp::from_millisecond(12_345).unwrap();
        assert_eq!(millis_up(t), "12345");
        assert_eq!(
            millis_up(t + jiff::SignedDuration::from_micros(100)),
            "12346"
        );
        assert_eq!(millis(t + jiff::SignedDuration::from_micros(100)), "12345");
    }
}
