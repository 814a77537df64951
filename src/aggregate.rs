//! One poll's metrics, summed per series: what the engine hands every outputter.
//!
//! The engine adds each counted event once; a batch holds one entry per distinct series with
//! the summed count, so an outputter writes one line per series however many events it covers.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::event::Event;
use crate::schema::{self, Kind, Series, UserKey};

/// The aggregated metrics of one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricBatch {
    /// When the poll ran (the stdout outputter's `time`).
    pub at: Timestamp,
    /// Summed count per series.
    pub series: BTreeMap<Series, i64>,
}

impl MetricBatch {
    /// An empty batch stamped `at`.
    pub fn new(at: Timestamp) -> Self {
        MetricBatch {
            at,
            series: BTreeMap::new(),
        }
    }

    /// Counts one event from `provider`.
    pub fn add_event(&mut self, event: &Event, provider: &str, user_key: UserKey) {
        *self
            .series
            .entry(schema::series_for(event, provider, user_key))
            .or_default() += 1;
    }

    /// Adds `value` to a counter series, or sets a gauge or timer series to it.
    pub fn record(&mut self, series: Series, value: i64) {
        let kind = series.metric.kind();
        let slot = self.series.entry(series).or_default();
        *slot = if kind == Kind::Counter {
            *slot + value
        } else {
            value
        };
    }

    /// Whether the batch holds no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The sum over the on-call counters (events counted).
    pub fn total(&self) -> i64 {
        self.series
            .iter()
            .filter(|(s, _)| !s.metric.is_self())
            .map(|(_, v)| v)
            .sum()
    }
}
