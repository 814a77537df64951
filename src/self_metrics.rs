//! ptsd's own metrics (`{prefix}.polls`, `api_requests`, `retries`, `rate_limit_waits`,
//! `entries_skipped`, `windows_skipped`, `log_rows_unmatched`, `poll_duration`, `cursor_lag`): how each collector's poll went, sent
//! after every poll beside the on-call metrics, in the spirit of Telegraf's `internal_*`.
//! (Not to be confused with [`crate::status`], the liveness file behind `ptsd health`, nor with
//! [`crate::analysis`], the on-call load of people.)

use std::time::Instant;

use crate::aggregate::MetricBatch;
use crate::collectors::RequestStats;
use crate::schema::{self, Metric};
use crate::state::CollectorState;

/// How one collector's poll went, beside its HTTP traffic.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollOutcome {
    /// Every chunk of the poll was read and delivered.
    pub ok: bool,
    /// Records skipped as malformed.
    pub skipped: u64,
    /// Parts of the timeline skipped as poison.
    pub windows_skipped: u64,
    /// Log rows no rule matched ([`crate::collectors::Collected::unmatched_rows`]).
    pub unmatched_rows: u64,
}

/// Adds one collector's poll to ptsd's own metrics in `own`.
pub fn record(
    own: &mut MetricBatch,
    provider: &str,
    poll: &PollOutcome,
    stats: &RequestStats,
    started: Instant,
    state: &CollectorState,
) {
    let series = |m, detail| schema::self_series(m, provider, detail);
    let outcome = if poll.ok { "ok" } else { "failed" };
    own.record(series(Metric::Polls, Some(outcome)), 1);
    for (class, n) in &stats.by_status {
        own.record(series(Metric::ApiRequests, Some(class)), *n as i64);
    }
    for (metric, n) in [
        (Metric::Retries, stats.retries),
        (Metric::RateLimitWaits, stats.rate_limit_waits),
        (Metric::EntriesSkipped, poll.skipped),
        (Metric::WindowsSkipped, poll.windows_skipped),
        (Metric::LogRowsUnmatched, poll.unmatched_rows),
    ] {
        if n > 0 {
            own.record(series(metric, None), n as i64);
        }
    }
    own.record(
        series(Metric::PollDuration, None),
        started.elapsed().as_millis() as i64,
    );
    let lag = crate::clock::now().duration_since(state.cursor);
    own.record(series(Metric::CursorLag, None), lag.as_secs().max(0));
}
