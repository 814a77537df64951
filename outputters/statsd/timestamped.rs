//! Timestamped DogStatsD (`PTSD_STATSD_TIMESTAMPS=on`): the on-call metrics at their own time.
//!
//! DogStatsD protocol v1.3 (Agent 6.40 / 7.40 and newer) takes a timestamp on counts and gauges,
//! `name:value|c|#tags|T<unix seconds>`. The Agent forwards such a point without aggregating
//! it, and Datadog's intake keeps **one value per series and timestamp, the last submitted**:
//! whisper's rule. So this writer is a [`SlotWriter`], like Graphite: each on-call counter is
//! written as its slot's whole total (`PTSD_STATSD_TIMESTAMP_RESOLUTION`) stamped with the
//! slot's start, a late entry rewrites its slot's total, and the totals of open slots are saved
//! with the cursor ([`crate::outputters::slots`]), so a restart after `kill -9` writes them whole
//! again.
//!
//! Distributions take no timestamp, so a time-to-ack or time-to-resolve sample becomes the
//! summary counts Graphite writes ([`schema::render_timer_summary_tagged`]):
//! `ptsd.time_to_ack.count`, `.sum`, `.le_1m` … `.le_4h` (counts) and `.max` (a gauge), with the
//! sample's tags. ptsd's own metrics are about now: they stay live, untimestamped.
//!
//! Datadog drops points older than an hour unless Historical Metrics Ingestion is enabled for
//! their names; the first batch that reaches further back logs a warning saying so.

use std::collections::BTreeMap;

use cadence::{Counted, Gauged};
use jiff::{SignedDuration, Timestamp};

use super::{emit_live, finish, Agent, NAME};
use crate::aggregate::MetricBatch;
use crate::outputters::slots::{Cells, Contributions, SlotWriter};
use crate::outputters::OutputError;
use crate::schema::{self, Combine, Series};

/// The option that sets the slot length.
pub const RESOLUTION_VAR: &str = "PTSD_STATSD_TIMESTAMP_RESOLUTION";
/// How old a point Datadog's intake takes without Historical Metrics Ingestion.
pub const INTAKE_AGE: SignedDuration = SignedDuration::from_hours(1);

/// Writes slot totals as timestamped DogStatsD counts and gauges.
pub struct TimestampedStatsd {
    agent: Agent,
    prefix: String,
    /// Whether the warning about points older than [`INTAKE_AGE`] was given.
    warned: bool,
}

impl TimestampedStatsd {
    pub fn new(agent: Agent, prefix: String) -> Self {
        TimestampedStatsd {
            agent,
            prefix,
            warned: false,
        }
    }

    /// Warns once when `totals` hold a point older than [`INTAKE_AGE`] at `now`.
    fn warn_if_historical(&mut self, totals: &Cells, now: Timestamp) {
        let Some(oldest) = totals.keys().next() else {
            return;
        };
        let limit = (now - INTAKE_AGE).as_second();
        if self.warned || *oldest >= limit {
            return;
        }
        self.warned = true;
        let oldest = Timestamp::from_second(*oldest).unwrap_or(Timestamp::UNIX_EPOCH);
        tracing::warn!(
            sink = NAME,
            oldest = %oldest,
            "The backfill or catch-up writes points older than an hour: enable Historical Metrics Ingestion for {}.* in Datadog (Metrics Summary), or Datadog drops those points.",
            self.prefix
        );
    }
}

/// The key of one series in the slot table: the name, then `|#` and the tags as sent.
fn key(name: &str, tags: &[(&'static str, String)]) -> String {
    let mut k = name.to_string();
    for (i, (t, v)) in tags.iter().enumerate() {
        k.push_str(if i == 0 { "|#" } else { "," });
        k.push_str(t);
        k.push(':');
        k.push_str(v);
    }
    k
}

/// The name and tags of a [`key`] (tag values are sanitised: no `|`, `,` or `:` in them).
fn split_key(key: &str) -> (&str, Vec<(&str, &str)>) {
    match key.split_once("|#") {
        None => (key, Vec::new()),
        Some((name, tags)) => (
            name,
            tags.split(',')
                .map(|t| t.split_once(':').unwrap_or((t, "")))
                .collect(),
        ),
    }
}

impl SlotWriter for TimestampedStatsd {
    fn name(&self) -> &'static str {
        NAME
    }

    fn contributions(&self, batch: &MetricBatch, into: &mut Contributions) {
        // Counts summed by slot first, so each slot renders once.
        let mut counts: BTreeMap<i64, BTreeMap<Series, i64>> = BTreeMap::new();
        for (second, moment) in &batch.timeline {
            let c = counts.entry(into.slot(*second)).or_default();
            for (series, n) in &moment.counts {
                *c.entry(series.clone()).or_default() += n;
            }
            for (series, ms) in &moment.samples {
                for (r, how) in schema::render_timer_summary_tagged(&self.prefix, series, *ms) {
                    into.add(*second, key(&r.name, &r.tags), r.value, how);
                }
            }
        }
        for (slot, series) in counts {
            for r in schema::render_tagged(&self.prefix, &series) {
                into.add(slot, key(&r.name, &r.tags), r.value, Combine::Sum);
            }
        }
    }

    fn send(&mut self, totals: &Cells, batch: &MetricBatch) -> Result<(), OutputError> {
        self.warn_if_historical(totals, batch.at);
        let own: BTreeMap<Series, i64> = batch
            .series
            .iter()
            .filter(|(s, _)| s.metric.is_self())
            .map(|(s, v)| (s.clone(), *v))
            .collect();
        let live = schema::render_tagged(&self.prefix, &own);
        if live.is_empty() && totals.is_empty() {
            return Ok(());
        }
        self.agent.deliver(|client| {
            emit_live(client, &live)?;
            for (slot, keys) in totals {
                let at = Some(u64::try_from(*slot).unwrap_or(0));
                for (k, cell) in keys {
                    let (name, tags) = split_key(k);
                    match cell.how {
                        Combine::Sum => finish(client.count_with_tags(name, cell.value), tags, at)?,
                        Combine::Max | Combine::Last => {
                            finish(client.gauge_with_tags(name, cell.value as f64), tags, at)?
                        }
                    }
                }
            }
            Ok(())
        })
    }

    fn close(&mut self) -> Result<(), OutputError> {
        self.agent.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Findings, Timing};
    use crate::event::{Event, EventKind, Incident};
    use crate::outputters::slots::Slotted;
    use crate::schema::UserKey;
    use std::net::UdpSocket;
    use std::time::Duration;

    fn acked(id: &str, at: &str, secs: i64) -> (Event, Findings) {
        let e = Event {
            record_id: id.into(),
            at: at.parse().unwrap(),
            kind: EventKind::Acknowledged { user: None },
            incident: Some(Incident {
                id: id.into(),
                ..Incident::default()
            }),
        };
        let found = Findings {
            time_to_ack: Some(Timing {
                duration: SignedDuration::from_secs(secs),
                service: "Checkout API".into(),
                urgency: "high".into(),
            }),
            ..Findings::default()
        };
        (e, found)
    }

    fn lines(socket: &UdpSocket) -> Vec<String> {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8(buf[..n].to_vec()).unwrap();
            out.extend(text.lines().map(str::to_string));
        }
        out
    }

    #[test]
    fn timer_samples_become_timestamped_summary_totals() {
        let agent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = agent.local_addr().unwrap().port();
        let writer = TimestampedStatsd::new(Agent::new("127.0.0.1".into(), port), "ptsd".into());
        let mut o = Slotted::new(Box::new(writer), 60, RESOLUTION_VAR);
        let mut b = MetricBatch::new("2026-03-02T10:00:00Z".parse().unwrap());
        b.source = "p".into();
        for (id, at, secs) in [
            ("a", "2026-03-02T09:00:10Z", 90),
            ("b", "2026-03-02T09:00:40Z", 600),
        ] {
            let (e, found) = acked(id, at, secs);
            b.add_event(&e, &found, "p", UserKey::Name);
        }
        o.write(&b).unwrap();
        let got = lines(&agent);
        let t = "2026-03-02T09:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_second();
        let tags = "#provider:p,service:checkout_api,urgency:high";
        for want in [
            format!("ptsd.time_to_ack.count:2|c|{tags}|T{t}"),
            format!("ptsd.time_to_ack.sum:690000|c|{tags}|T{t}"),
            format!("ptsd.time_to_ack.max:600000|g|{tags}|T{t}"),
            format!("ptsd.time_to_ack.le_5m:1|c|{tags}|T{t}"),
            format!("ptsd.time_to_ack.le_15m:2|c|{tags}|T{t}"),
        ] {
            assert!(got.contains(&want), "{want} not in {got:#?}");
        }
        // No distribution: it cannot carry a timestamp.
        assert!(got.iter().all(|l| l.contains("|T")), "{got:#?}");
    }

    #[test]
    fn keys_round_trip() {
        let tags = vec![("provider", "p".to_string()), ("user", "ada".to_string())];
        let k = key("ptsd.notifications", &tags);
        assert_eq!(k, "ptsd.notifications|#provider:p,user:ada");
        assert_eq!(
            split_key(&k),
            (
                "ptsd.notifications",
                vec![("provider", "p"), ("user", "ada")]
            )
        );
        assert_eq!(split_key("ptsd.x"), ("ptsd.x", vec![]));
    }
}
