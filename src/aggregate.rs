//! One poll's metrics, summed per series: what the engine hands every outputter.
//!
//! The engine adds each counted event once; a batch holds one entry per distinct series with
//! the summed count, so an outputter writes one line per series however many events it covers.
//! Timings (time to acknowledge and resolve) cannot be summed: each sample is kept. The same
//! counts and samples are also kept by the second each event happened at ([`MetricBatch::timeline`]),
//! for sinks that store history at its own time (Graphite); StatsD and stdout use the sums.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::analysis::Findings;
use crate::event::Event;
use crate::schema::{self, Kind, Series, UserKey};

/// The aggregated metrics of one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricBatch {
    /// When the poll ran (the stdout outputter's `time`).
    pub at: Timestamp,
    /// Summed count per series (the latest value for gauges and ptsd's own timers).
    pub series: BTreeMap<Series, i64>,
    /// Every timing sample per series, in milliseconds.
    pub samples: BTreeMap<Series, Vec<i64>>,
    /// The events' counts and samples again, by the Unix second each event happened at.
    /// ptsd's own metrics ([`MetricBatch::record`]) are not in it: they happen at `at`.
    pub timeline: BTreeMap<i64, Moment>,
    /// Where the batch comes from (a collector's name; empty for ptsd's own metrics): later
    /// batches from the same source continue it.
    pub source: String,
}

/// What happened in one second: counts per series and timing samples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Moment {
    pub counts: BTreeMap<Series, i64>,
    pub samples: Vec<(Series, i64)>,
}

impl MetricBatch {
    /// An empty batch stamped `at`.
    pub fn new(at: Timestamp) -> Self {
        MetricBatch {
            at,
            series: BTreeMap::new(),
            samples: BTreeMap::new(),
            timeline: BTreeMap::new(),
            source: String::new(),
        }
    }

    /// Counts one event from `provider`, with what the on-call analysis found in it.
    pub fn add_event(&mut self, event: &Event, found: &Findings, provider: &str, key: UserKey) {
        let c = schema::series_for(event, found, provider, key);
        let moment = self.timeline.entry(event.at.as_second()).or_default();
        for series in c.counters {
            *moment.counts.entry(series.clone()).or_default() += 1;
            *self.series.entry(series).or_default() += 1;
        }
        for (series, ms) in c.timings {
            moment.samples.push((series.clone(), ms));
            self.samples.entry(series).or_default().push(ms);
        }
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
        self.series.is_empty() && self.samples.is_empty()
    }
}
