//! The alert API of the Opsgenie alert model ([`AlertApi`]), shared by Opsgenie (`/v2/alerts`)
//! and JSM Operations (`/v1/alerts`): the window's query in epoch milliseconds, the walk past
//! the 20,000 `offset + size` cap that both APIs put on their listing, and the young open
//! alerts. Each API says how it fetches one page of its listing and an alert's log; the walk,
//! the dedupe by id and the skipped count are here once.

use std::collections::HashSet;
use std::future::Future;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::super::skipped::SkippedOnce;
use super::super::CollectError;
use super::model::{Alert, LogRow};
use crate::event::Window;

/// Open, unacknowledged alerts created less than this before a window's end may have their logs
/// read again, changed or not: whether a notification row moves `updatedAt` is
/// UNCONFIRMED, and these are the alerts whose escalations and repeats may still notify people.
pub const RENOTIFY_HORIZON: SignedDuration = SignedDuration::from_hours(1);
/// At most this many of them are listed per window, the newest (one request).
pub const RENOTIFY_MAX: u64 = 50;

/// One provider's alert API: a page of its listing and an alert's log; the listings the
/// collector reads are built on them.
#[async_trait]
pub(crate) trait AlertApi: Send + Sync {
    /// How the listing pages.
    const PAGING: PageRules;

    /// One page of the alert listing matching `query` (Opsgenie's search syntax), sorted by
    /// `createdAt` in `order` (`asc`, `desc`).
    async fn alerts_page(
        &self,
        query: String,
        order: &str,
        size: u64,
        offset: u64,
    ) -> Result<ListedPage, CollectError>;

    /// One page of `alert_id`'s log after the key `cursor` (from the start without).
    async fn log_page(&self, alert_id: &str, cursor: Option<&str>)
        -> Result<LogPage, CollectError>;

    /// Every log row of `alert_id` after the key `from` (all without), in the order served, and
    /// how many were malformed and met for the first time in `once` (skipped, each logged
    /// then). A page that does not move the cursor ends the read (logged), so a misbehaving
    /// API cannot hold a poll for ever.
    async fn logs(
        &self,
        alert_id: &str,
        from: Option<&str>,
        once: &SkippedOnce,
    ) -> Result<(Vec<LogRow>, u64), CollectError> {
        let provider = Self::PAGING.provider;
        let mut rows = Vec::new();
        let mut skipped = 0;
        let mut cursor = from.map(String::from);
        let mut cursors: HashSet<String> = cursor.iter().cloned().collect();
        loop {
            let page = self.log_page(alert_id, cursor.as_deref()).await?;
            let n = page.rows.len();
            for row in page.rows {
                match row {
                    Ok(r) => rows.push(r),
                    Err(bad) => {
                        if once.first(bad.key(alert_id)) {
                            skipped += 1;
                            bad.log(provider, alert_id);
                        }
                    }
                }
            }
            match page.next {
                Some(next) if n > 0 => {
                    // A log that serves a page it served before does not progress: fail the
                    // read (its window is read again, and narrowed down if it keeps failing)
                    // rather than page for ever or count a log cut short.
                    if !cursors.insert(next.clone()) {
                        tracing::warn!(provider, alert = %alert_id, cursor = %next, "An alert log page leads back to a page already read; the log does not progress and the window fails.");
                        return Err(CollectError::Malformed {
                            provider,
                            what: format!(
                                "the log of alert {alert_id} does not progress: its cursor {next} came back"
                            ),
                        });
                    }
                    cursor = Some(next);
                }
                _ => return Ok((rows, skipped)),
            }
        }
    }

    /// The alerts created before `window` ended and updated since `updated_since`, each once,
    /// and how many were malformed (first met in `once`); past the offset cap as
    /// [`list_alerts`] says.
    async fn alerts(
        &self,
        window: &Window,
        updated_since: Timestamp,
        once: &SkippedOnce,
    ) -> Result<(Vec<Alert>, u64), CollectError> {
        let size = Self::PAGING.size;
        list_alerts(
            &Self::PAGING,
            window,
            updated_since,
            once,
            |query, offset| self.alerts_page(query, "asc", size, offset),
        )
        .await
    }

    /// Up to [`RENOTIFY_MAX`] open, unacknowledged alerts created within [`RENOTIFY_HORIZON`]
    /// before the window's end, newest first, changed or not (one request).
    async fn renotifiable(&self, window: &Window) -> Result<Vec<Alert>, CollectError> {
        let query = renotify_query(window, RENOTIFY_HORIZON);
        let page = self.alerts_page(query, "desc", RENOTIFY_MAX, 0).await?;
        Ok(unacknowledged(page.values))
    }
}

/// `t` in epoch milliseconds, rounded down (a lower bound: `>=` keeps everything from `t`).
pub(crate) fn millis(t: Timestamp) -> String {
    t.as_millisecond().to_string()
}

/// `t` in epoch milliseconds, rounded up: an exclusive upper bound. Both APIs keep times to the
/// millisecond, so an alert created at `12.3456` s reads as `12.345`, inside a window that ends
/// at `12.3457` s; `createdAt<12345` would leave it out of that window, and the next window
/// (from `12.3457` s) would not take it either.
pub(crate) fn millis_up(t: Timestamp) -> String {
    let ms = t.as_millisecond();
    let floor = Timestamp::from_millisecond(ms).unwrap_or(t);
    (if floor < t { ms + 1 } else { ms }).to_string()
}

/// The query of the young open alerts that may still be notifying people: created within
/// `horizon` before the window's end.
pub(crate) fn renotify_query(window: &Window, horizon: SignedDuration) -> String {
    format!(
        "status:open AND createdAt>={} AND createdAt<{}",
        millis(window.until - horizon),
        millis_up(window.until)
    )
}

/// One page of an alert's log as an API served it.
pub(crate) struct LogPage {
    /// The rows in the order served; a row that cannot be read says why.
    pub(crate) rows: Vec<Result<LogRow, BadRow>>,
    /// Where the next page starts; `None` after the last.
    pub(crate) next: Option<String>,
}

/// Why a log row could not be read (it is skipped, logged and counted in `entries_skipped`).
pub(crate) enum BadRow {
    /// Not a row of this API's shape (no key, a missing field): what is wrong.
    Malformed(String),
    /// A key, but a time ptsd cannot read.
    BadTime { offset: String, raw: String },
}

/// What a skipped log row is known by in [`SkippedOnce`]: its alert and key.
pub(crate) fn skipped_row(alert_id: &str, offset: &str) -> Option<String> {
    Some(format!("{alert_id}/{offset}"))
}

/// What a skipped alert is known by in [`SkippedOnce`]: its id and `updatedAt` (it counts
/// again once it changed).
pub(crate) fn skipped_alert(id: &str, updated_at: &str) -> Option<String> {
    Some(format!("{id}@{updated_at}"))
}

impl BadRow {
    /// What the row is known by in [`SkippedOnce`]: its key when it has one.
    fn key(&self, alert_id: &str) -> Option<String> {
        match self {
            BadRow::Malformed(_) => None,
            BadRow::BadTime { offset, .. } => skipped_row(alert_id, offset),
        }
    }

    fn log(&self, provider: &'static str, alert_id: &str) {
        match self {
            BadRow::Malformed(error) => {
                tracing::warn!(provider, alert = %alert_id, error = %error, "Skipped a malformed alert log row.");
            }
            BadRow::BadTime { offset, raw } => {
                tracing::warn!(provider, alert = %alert_id, offset = %offset, created_at = %raw, "Skipped an alert log row with a bad timestamp.");
            }
        }
    }
}

/// One page of a listing as an API served it.
pub(crate) struct ListedPage {
    /// The alerts, as JSON (each parsed here, so one malformed alert skips only itself).
    pub(crate) values: Vec<Value>,
    /// Whether the API says more pages follow.
    pub(crate) more: bool,
    /// How many alerts the API says the listing holds, when it says.
    pub(crate) total: Option<u64>,
}

/// How one API pages its listing.
pub(crate) struct PageRules {
    /// The `provider` tag of log lines and errors.
    pub(crate) provider: &'static str,
    /// Alerts per page.
    pub(crate) size: u64,
    /// The largest `offset + size` the API accepts (Opsgenie: 20,000; JSM: "lower than 20K").
    pub(crate) max_end: u64,
}

/// Every alert created before `window` ended and updated since `updated_since`, each once, and
/// how many were malformed (skipped; each logged and counted the first time `once` meets it,
/// by id and `updatedAt`, so an overlapping listing does not count it again). `page(query,
/// offset)` fetches one page of
/// the listing sorted by `createdAt` ascending.
///
/// Before `offset + size` would pass the cap, the query starts again at offset 0 with a lower
/// bound `createdAt>={the newest createdAt read}`: the results are sorted by the immutable
/// `createdAt`, so that bound skips what was read, and being inclusive it keeps the alerts that
/// share that millisecond (those read already are dropped by id). So any number of alerts can be
/// read, including old alerts all updated inside the window (a bulk close, a catch-up), which
/// no split of the window would bring under the cap: the window bounds only `updatedAt` from
/// below. [`CollectError::WindowTooLarge`] is left for a single millisecond holding more than
/// the cap, which no query can page through.
pub(crate) async fn list_alerts<F, Fut>(
    paging: &PageRules,
    window: &Window,
    updated_since: Timestamp,
    once: &SkippedOnce,
    mut page: F,
) -> Result<(Vec<Alert>, u64), CollectError>
where
    F: FnMut(String, u64) -> Fut,
    Fut: Future<Output = Result<ListedPage, CollectError>>,
{
    let provider = paging.provider;
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
    let mut previous_ids: Vec<String> = Vec::new();
    loop {
        if offset + paging.size > paging.max_end {
            match span {
                Some((oldest, newest)) if oldest < newest => {
                    tracing::debug!(provider, created_from = newest, read = alerts.len(), "The 20,000 offset cap is near; listing again from the newest createdAt read.");
                    lower = Some(newest);
                    span = None;
                    offset = 0;
                    previous_ids.clear();
                }
                _ => {
                    tracing::error!(provider, created_at = ?span.map(|s| s.0), "More than 20,000 alerts share one createdAt millisecond; the API cannot page through them.");
                    return Err(CollectError::WindowTooLarge {
                        provider,
                        total: None,
                    });
                }
            }
        }
        let query = match lower {
            None => base.clone(),
            Some(ms) => format!("{base} AND createdAt>={ms}"),
        };
        let served = page(query, offset).await?;
        let n = served.values.len() as u64;
        // A listing that does not progress (the same page again, or `more` past the total
        // it announced) would hold the poll for ever: fail the window instead.
        let page_ids: Vec<&str> = served
            .values
            .iter()
            .filter_map(|a| a.get("id").and_then(Value::as_str))
            .collect();
        let stuck = if served.more && n > 0 && page_ids == previous_ids {
            Some(format!(
                "the page at offset {offset} repeats the page before it"
            ))
        } else {
            served
                .total
                .filter(|t| served.more && offset + n >= t + paging.size)
                .map(|t| format!("offset {} is past the {t} alerts the listing announced, and it says more follow", offset + n))
        };
        if let Some(what) = stuck {
            tracing::warn!(provider, since = %window.since, until = %window.until, error = %what, "The alert listing does not progress; the window fails and is read again next poll.");
            return Err(CollectError::Malformed {
                provider,
                what: format!(
                    "the alert listing of {} to {} does not progress: {what}",
                    window.since, window.until
                ),
            });
        }
        previous_ids = page_ids.into_iter().map(String::from).collect();
        for a in served.values {
            let created = a
                .get("createdAt")
                .and_then(Value::as_str)
                .and_then(|c| c.parse::<Timestamp>().ok())
                .map(Timestamp::as_millisecond);
            if let Some(ms) = created {
                span = Some(span.map_or((ms, ms), |(lo, hi)| (lo.min(ms), hi.max(ms))));
            }
            if let Some(id) = a.get("id").and_then(Value::as_str) {
                if !ids.insert(id.to_string()) {
                    // Listed again after a restart (same millisecond) or a shifted page.
                    continue;
                }
            }
            let text = |k: &str| a.get(k).and_then(Value::as_str);
            let key = text("id").and_then(|id| skipped_alert(id, text("updatedAt").unwrap_or("")));
            match serde_json::from_value::<Alert>(a) {
                Ok(a) => alerts.push(a),
                Err(e) => {
                    if once.first(key) {
                        skipped += 1;
                        tracing::warn!(provider, error = %e, "Skipped a malformed alert.");
                    }
                }
            }
        }
        offset += n;
        if n == 0 || !served.more {
            return Ok((alerts, skipped));
        }
    }
}

/// The young open alerts of one page (newest first), unacknowledged ones only. A malformed
/// alert is the main listing's to count as skipped, if it changed.
pub(crate) fn unacknowledged(values: Vec<Value>) -> Vec<Alert> {
    values
        .into_iter()
        .filter_map(|a| serde_json::from_value::<Alert>(a).ok())
        .filter(|a| a.acknowledged != Some(true))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> PageRules {
        PageRules {
            provider: "test",
            size: 2,
            max_end: 20_000,
        }
    }

    fn window() -> Window {
        Window::new(
            "2026-03-02T10:00:00Z".parse().unwrap(),
            "2026-03-02T11:00:00Z".parse().unwrap(),
        )
    }

    fn alert(id: &str) -> Value {
        serde_json::json!({"id": id, "createdAt": "2026-03-02T09:00:00Z"})
    }

    /// Serves `pages` (then the last for ever), counting the requests.
    async fn list(pages: Vec<ListedPage>) -> (Result<usize, CollectError>, usize) {
        let pages = std::sync::Mutex::new(pages);
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let once = SkippedOnce::default();
        let got = list_alerts(&rules(), &window(), window().since, &once, |_, _| {
            asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut p = pages.lock().unwrap();
            let next = if p.len() > 1 {
                p.remove(0)
            } else {
                ListedPage {
                    values: p[0].values.clone(),
                    more: p[0].more,
                    total: p[0].total,
                }
            };
            async move { Ok(next) }
        })
        .await
        .map(|(a, _)| a.len());
        (got, asked.into_inner())
    }

    #[tokio::test]
    async fn a_listing_that_serves_the_same_page_for_ever_fails_its_window() {
        let same = ListedPage {
            values: vec![alert("a1"), alert("a2")],
            more: true,
            total: None,
        };
        let (got, asked) = list(vec![same]).await;
        let e = got.unwrap_err().to_string();
        assert!(
            e.contains("does not progress") && e.contains("repeats"),
            "{e}"
        );
        assert_eq!(asked, 2);
    }

    #[tokio::test]
    async fn a_listing_past_its_announced_total_fails_its_window() {
        let pages: Vec<ListedPage> = (0..50)
            .map(|i| ListedPage {
                values: vec![alert(&format!("a{i}"))],
                more: true,
                total: Some(1),
            })
            .collect();
        let (got, asked) = list(pages).await;
        let e = got.unwrap_err().to_string();
        assert!(e.contains("past the 1 alerts"), "{e}");
        assert_eq!(asked, 3, "one page of slack past the total");
    }

    /// Issue 22: a malformed alert stays in view while listings overlap; it is skipped every
    /// time but counted (and warned about) only the first time, and again when it changes.
    #[tokio::test]
    async fn a_malformed_alert_listed_again_is_counted_once() {
        let good = serde_json::json!({"id": "ok", "createdAt": "2026-03-02T09:00:00Z",
            "updatedAt": "2026-03-02T10:30:00Z"});
        let bad = |updated: &str| {
            serde_json::json!({"id": "bad", "createdAt": 1_772_442_000_000_i64,
                "updatedAt": updated})
        };
        let once = SkippedOnce::default();
        let read = |values: Vec<Value>| {
            let once = &once;
            async move {
                list_alerts(&rules(), &window(), window().since, once, |_, _| {
                    let page = ListedPage {
                        values: values.clone(),
                        more: false,
                        total: None,
                    };
                    async move { Ok(page) }
                })
                .await
                .map(|(alerts, skipped)| (alerts.len(), skipped))
                .unwrap()
            }
        };
        let first = bad("2026-03-02T10:31:00Z");
        assert_eq!(read(vec![good.clone(), first.clone()]).await, (1, 1));
        assert_eq!(
            read(vec![good.clone(), first]).await,
            (1, 0),
            "listed again"
        );
        let changed = bad("2026-03-02T10:40:00Z");
        assert_eq!(read(vec![good, changed]).await, (1, 1), "it changed");
    }

    /// An alert API that serves only a log: the page after each cursor from `.0`.
    struct LogOnly(fn(Option<&str>) -> LogPage);

    #[async_trait]
    impl AlertApi for LogOnly {
        const PAGING: PageRules = PageRules {
            provider: "test",
            size: 2,
            max_end: 20_000,
        };
        async fn alerts_page(
            &self,
            _: String,
            _: &str,
            _: u64,
            _: u64,
        ) -> Result<ListedPage, CollectError> {
            unreachable!("only the log is read")
        }
        async fn log_page(&self, _: &str, cursor: Option<&str>) -> Result<LogPage, CollectError> {
            Ok((self.0)(cursor))
        }
    }

    /// A log of one row with a time ptsd cannot read between two good ones, and one keyless.
    const MISDATED_LOG: LogOnly = LogOnly(|_| {
        let row = |offset: &str| LogRow {
            log: "Alert acknowledged via web".into(),
            kind: "system".into(),
            owner: "ada@example.com".into(),
            created_at: "2026-03-02T10:30:00Z".into(),
            offset: offset.into(),
        };
        LogPage {
            rows: vec![
                Ok(row("k1")),
                Err(BadRow::BadTime {
                    offset: "k2".into(),
                    raw: "last tuesday".into(),
                }),
                Ok(row("k3")),
                Err(BadRow::Malformed("no key".into())),
            ],
            next: None,
        }
    });

    /// A log read again from the start meets the misdated row again: counted once. A row with
    /// no key cannot be known again, so it counts each time (never silently dropped).
    #[tokio::test]
    async fn a_misdated_log_row_read_again_is_counted_once() {
        let once = SkippedOnce::default();
        let (rows, skipped) = MISDATED_LOG.logs("A1", None, &once).await.unwrap();
        assert_eq!((rows.len(), skipped), (2, 2));
        let (rows, skipped) = MISDATED_LOG.logs("A1", None, &once).await.unwrap();
        assert_eq!((rows.len(), skipped), (2, 1), "the keyed bad row is known");
        let (_, skipped) = MISDATED_LOG.logs("A2", None, &once).await.unwrap();
        assert_eq!(skipped, 2, "another alert's row is another row");
    }

    /// A log whose pages lead back to the first page (`k1` → `k2` → `k1`).
    const CYCLING_LOG: LogOnly = LogOnly(|cursor| {
        let next = if cursor == Some("k1") { "k2" } else { "k1" };
        LogPage {
            rows: vec![Err(BadRow::Malformed("test row".into()))],
            next: Some(next.into()),
        }
    });

    #[tokio::test]
    async fn an_alert_log_whose_cursor_comes_back_fails() {
        let Err(e) = CYCLING_LOG.logs("A1", None, &SkippedOnce::default()).await else {
            panic!("a log that cycles was read to an end");
        };
        assert!(e.to_string().contains("does not progress"), "{e}");
    }

    #[test]
    fn an_upper_bound_rounds_up_to_the_millisecond() {
        let t: Timestamp = "2026-03-02T10:00:12.345600Z".parse().unwrap();
        assert_eq!(millis(t), "1772445612345");
        assert_eq!(millis_up(t), "1772445612346");
        let whole: Timestamp = "2026-03-02T10:00:12.345Z".parse().unwrap();
        assert_eq!(millis_up(whole), "1772445612345");
    }
}
