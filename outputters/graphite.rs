//! Graphite outputter: timestamped points straight to carbon, so history lands at its own time.
//!
//! Wire format: carbon's plaintext protocol over TCP, one line `path value timestamp\n` per
//! point. `path` is the plain flavor's name ([`crate::schema::render_plain`]); `timestamp` is
//! the start of the slot (a multiple of `PTSD_GRAPHITE_RESOLUTION`, Unix seconds) that holds
//! the event's own time: a log entry's `created_at`, an interruption's first notification, a
//! time-to-ack sample at the acknowledgement, a time-to-resolve sample at the resolve. ptsd's
//! own metrics are stamped with the poll. Timers become per-slot summaries
//! ([`crate::schema::render_timer_summary`]: `.count`, `.sum`, `.max`, cumulative `.le_*`).
//!
//! **Exactly once by construction.** Whisper keeps the last value written to a slot, so this
//! outputter always writes a slot's whole total, never an increment: it keeps the committed
//! totals of every slot that can still change (those that end after the oldest instant a later
//! batch from the same source may hold, [`MetricBatch::final_before`]), adds a batch to them,
//! and writes the sums. The sums become committed only when the engine has saved the cursor
//! that covers them ([`Outputter::commit`]); the totals are saved in the state file with that
//! cursor ([`Outputter::save`]). A batch sent again after a failure, or after a crash and a
//! restart, therefore writes the same totals again: what whisper stores is exact. Slots that
//! can no longer change are written once and forgotten, so memory is bounded by
//! `PTSD_LATENESS`, not by the length of a backfill.
//!
//! Points must go to carbon-cache or a relay, not carbon-aggregator (which would add the
//! totals up), and the resolution must be the finest step of the whisper retention.
//!
//! When carbon is away: connecting or writing fails (each within [`TIMEOUT`]), `write` returns
//! the error and the engine keeps the cursor, so the batch is sent again at the next poll. A
//! dropped connection is opened again once, at once, and the whole batch is sent again (the
//! totals make that harmless).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{OutputError, Outputter, OutputterSettings};
use crate::aggregate::MetricBatch;
use crate::config::{Config, ConfigError};
use crate::schema::{self, Combine, Kind, Series};

/// The registry name.
pub const NAME: &str = "graphite";
/// Longest wait to connect, and for each write.
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// The Graphite outputter's options.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Graphite outputter")]
pub struct GraphiteSettings {
    /// carbon-cache (or relay) host, plaintext protocol.
    #[arg(long, env = "GRAPHITE_HOST", default_value = "127.0.0.1")]
    pub graphite_host: String,

    /// carbon plaintext TCP port.
    #[arg(long, env = "GRAPHITE_PORT", default_value_t = 2003)]
    pub graphite_port: u16,

    /// Slot length: the finest step of the whisper retention (e.g. 1m for 60s:30d).
    #[arg(long, env = "PTSD_GRAPHITE_RESOLUTION", default_value = "1m")]
    pub graphite_resolution: String,
}

impl OutputterSettings for GraphiteSettings {
    const NAME: &'static str = NAME;

    fn build(self, config: &Config) -> Result<Box<dyn Outputter>, ConfigError> {
        let host = self.graphite_host.trim().to_string();
        if host.is_empty() {
            return Err(ConfigError(
                "GRAPHITE_HOST is empty; set it to carbon's host, e.g. 127.0.0.1".into(),
            ));
        }
        let raw = &self.graphite_resolution;
        let d = crate::config::duration("PTSD_GRAPHITE_RESOLUTION", raw)?;
        if d.as_secs() == 0 || d.subsec_nanos() != 0 || d.as_secs() > 86_400 {
            return Err(ConfigError(format!(
                "PTSD_GRAPHITE_RESOLUTION={raw:?} is not a whole number of seconds from 1s to 1d; set it to the finest step of the whisper retention, e.g. 1m"
            )));
        }
        Ok(Box::new(GraphiteOutputter::new(
            host,
            self.graphite_port,
            d.as_secs() as i64,
            config.prefix.clone(),
        )))
    }
}

/// Sends timestamped slot totals to carbon.
pub struct GraphiteOutputter {
    host: String,
    port: u16,
    /// Slot length in seconds.
    resolution: i64,
    prefix: String,
    conn: Option<TcpStream>,
    /// The committed totals of the slots that may still change.
    committed: Totals,
    /// What the last `write` sent, to become committed on [`Outputter::commit`].
    pending: Option<Pending>,
}

/// One slot's value and how a new contribution joins it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Cell {
    value: i64,
    how: Combine,
}

impl Cell {
    fn join(&mut self, value: i64) {
        self.value = match self.how {
            Combine::Sum => self.value.saturating_add(value),
            Combine::Max => self.value.max(value),
            Combine::Last => value,
        };
    }
}

/// Slot totals: source (the batch's origin) → slot start → path → cell.
type Slots = BTreeMap<String, BTreeMap<i64, BTreeMap<String, Cell>>>;

/// What is kept between batches and saved with the cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Totals {
    /// The resolution the slots were cut with; a change of resolution starts afresh.
    resolution: i64,
    slots: Slots,
}

/// The totals the last write sent, and what may be forgotten once they are committed.
struct Pending {
    source: String,
    cells: BTreeMap<i64, BTreeMap<String, Cell>>,
    final_before: Option<Timestamp>,
}

impl GraphiteOutputter {
    /// An outputter to `host:port` with slots of `resolution` seconds, nothing committed yet.
    fn new(host: String, port: u16, resolution: i64, prefix: String) -> Self {
        GraphiteOutputter {
            host,
            port,
            resolution,
            prefix,
            conn: None,
            // The totals carry their resolution from the start, so the first save already
            // says what a restart must check.
            committed: Totals {
                resolution,
                slots: Slots::new(),
            },
            pending: None,
        }
    }

    fn slot(&self, second: i64) -> i64 {
        second - second.rem_euclid(self.resolution)
    }

    /// The batch's contributions, by slot and path, before they join the committed totals.
    fn contributions(&self, batch: &MetricBatch) -> BTreeMap<i64, BTreeMap<String, Cell>> {
        let mut out: BTreeMap<i64, BTreeMap<String, Cell>> = BTreeMap::new();
        let mut add = |slot: i64, path: String, value: i64, how: Combine| {
            out.entry(slot)
                .or_default()
                .entry(path)
                .or_insert(Cell {
                    value: match how {
                        Combine::Sum => 0,
                        Combine::Max | Combine::Last => value,
                    },
                    how,
                })
                .join(value);
        };
        // Events, at their own time.
        let mut counts: BTreeMap<i64, BTreeMap<Series, i64>> = BTreeMap::new();
        for (second, moment) in &batch.timeline {
            let slot = self.slot(*second);
            let c = counts.entry(slot).or_default();
            for (series, n) in &moment.counts {
                *c.entry(series.clone()).or_default() += n;
            }
            for (series, ms) in &moment.samples {
                for (path, value, how) in schema::render_timer_summary(&self.prefix, series, *ms) {
                    add(slot, path, value, how);
                }
            }
        }
        for (slot, series) in counts {
            for r in schema::render_plain(&self.prefix, &series) {
                add(slot, r.name, r.value, Combine::Sum);
            }
        }
        // ptsd's own metrics, at the poll.
        let own: BTreeMap<Series, i64> = batch
            .series
            .iter()
            .filter(|(s, _)| s.metric.is_self())
            .map(|(s, v)| (s.clone(), *v))
            .collect();
        let slot = self.slot(batch.at.as_second());
        for r in schema::render_plain(&self.prefix, &own) {
            let how = if r.kind == Kind::Counter {
                Combine::Sum
            } else {
                Combine::Last
            };
            add(slot, r.name, r.value, how);
        }
        out
    }

    /// Sends `payload`, connecting (again) when needed; one fresh connection is tried when the
    /// one held has dropped.
    fn send(&mut self, payload: &[u8]) -> Result<(), OutputError> {
        let io = |source| OutputError::Io { sink: NAME, source };
        for attempt in 0..2 {
            if self.conn.as_ref().is_some_and(|c| !still_open(c)) {
                // Carbon closed it (restarted, or an idle timeout): what were written into it now
                // would be lost without an error, so connect again first.
                self.conn = None;
            }
            if self.conn.is_none() {
                self.conn = Some(self.connect().map_err(io)?);
            }
            let conn = self.conn.as_mut().expect("connected above");
            match conn.write_all(payload).and_then(|()| conn.flush()) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.conn = None;
                    if attempt == 1 {
                        return Err(io(e));
                    }
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                    ) {
                        // carbon is not reading: worth seeing at the default log level.
                        tracing::warn!(sink = NAME, error = %e, "A write to carbon timed out; connecting again.");
                    } else {
                        tracing::debug!(sink = NAME, error = %e, "Connection to carbon dropped; connecting again.");
                    }
                }
            }
        }
        Ok(())
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        let mut last = None;
        for addr in (self.host.as_str(), self.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, TIMEOUT) {
                Ok(s) => {
                    s.set_write_timeout(Some(TIMEOUT))?;
                    s.set_nodelay(true)?;
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("GRAPHITE_HOST {} resolves to no address", self.host),
            )
        }))
    }
}

/// Whether carbon still holds `conn` open. Carbon never writes back, so a readable end of
/// stream (or an error) means it closed the connection, and a write into it would be lost
/// silently (a found by the simulation, issue 19: slots missing after carbon was away).
fn still_open(conn: &TcpStream) -> bool {
    if conn.set_nonblocking(true).is_err() {
        return false;
    }
    let open = match conn.peek(&mut [0u8; 1]) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    };
    open && conn.set_nonblocking(false).is_ok()
}

impl Outputter for GraphiteOutputter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn write(&mut self, batch: &MetricBatch) -> Result<(), OutputError> {
        // Anything written before and not committed was not kept: start from the committed.
        self.pending = None;
        let committed = self.committed.slots.get(&batch.source);
        let mut cells = self.contributions(batch);
        let mut payload = String::new();
        for (slot, paths) in &mut cells {
            let before = committed.and_then(|s| s.get(slot));
            for (path, cell) in paths.iter_mut() {
                if let Some(old) = before.and_then(|b| b.get(path)) {
                    let mut total = *old;
                    total.join(cell.value);
                    *cell = total;
                }
                // Into the one buffer, without a String per line (56,000 lines in a catch-up).
                let _ = writeln!(payload, "{path} {} {slot}", cell.value);
            }
        }
        if !payload.is_empty() {
            self.send(payload.as_bytes())?;
        }
        self.pending = Some(Pending {
            source: batch.source.clone(),
            cells,
            final_before: batch.final_before,
        });
        Ok(())
    }

    fn commit(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let resolution = self.resolution;
        let slots = self.committed.slots.entry(p.source).or_default();
        for (slot, paths) in p.cells {
            slots.entry(slot).or_default().extend(paths);
        }
        if let Some(f) = p.final_before {
            // A slot that ends at or before `f` never gets another event.
            let f = f.as_second();
            slots.retain(|slot, _| slot + resolution > f);
        }
    }

    fn save(&self) -> Option<serde_json::Value> {
        serde_json::to_value(&self.committed).ok()
    }

    fn restore(&mut self, saved: serde_json::Value) -> Result<(), OutputError> {
        let totals: Totals = serde_json::from_value(saved).map_err(|e| OutputError::Encode {
            sink: NAME,
            what: format!("the saved slot totals are not readable ({e})"),
        })?;
        if totals.resolution == self.resolution {
            self.committed = totals;
        } else if !totals.slots.is_empty() {
            tracing::warn!(
                sink = NAME,
                saved = totals.resolution,
                now = self.resolution,
                "PTSD_GRAPHITE_RESOLUTION changed; the open slots of the old resolution are not continued."
            );
        }
        self.committed.resolution = self.resolution;
        Ok(())
    }

    fn close(&mut self) -> Result<(), OutputError> {
        self.conn = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Findings;
    use crate::event::{Channel, Event, EventKind, Person};
    use crate::schema::UserKey;
    use std::io::Read;
    use std::net::TcpListener;

    fn outputter(port: u16) -> GraphiteOutputter {
        GraphiteOutputter::new("127.0.0.1".into(), port, 60, "ptsd".into())
    }

    fn notified(id: &str, at: &str) -> Event {
        Event {
            record_id: id.into(),
            at: at.parse().unwrap(),
            kind: EventKind::Notified {
                user: Person {
                    id: "P1".into(),
                    name: Some("Ada".into()),
                    ..Person::default()
                },
                channel: Channel::Sms,
            },
            incident: None,
        }
    }

    fn batch(events: &[Event], final_before: &str) -> MetricBatch {
        let mut b = MetricBatch::new("2026-03-02T10:00:00Z".parse().unwrap());
        b.source = "p".into();
        b.final_before = Some(final_before.parse().unwrap());
        for e in events {
            b.add_event(e, &Findings::default(), "p", UserKey::Name);
        }
        b
    }

    /// Reads what one connection sent until it closes.
    fn receive(listener: &TcpListener) -> std::thread::JoinHandle<String> {
        let listener = listener.try_clone().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        })
    }

    #[test]
    fn writes_whole_slot_totals_and_forgets_final_slots() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut o = outputter(listener.local_addr().unwrap().port());
        let got = receive(&listener);
        // Two events in the 09:00 slot, one in 09:01.
        let b = batch(
            &[
                notified("a", "2026-03-02T09:00:10Z"),
                notified("b", "2026-03-02T09:00:50Z"),
                notified("c", "2026-03-02T09:01:00Z"),
            ],
            "2026-03-02T09:01:00Z",
        );
        o.write(&b).unwrap();
        o.commit();
        // A late event in 09:01 is written as that slot's new total, 2, not as +1; 09:00 was
        // final and is forgotten.
        o.write(&batch(
            &[notified("d", "2026-03-02T09:01:30Z")],
            "2026-03-02T09:05:00Z",
        ))
        .unwrap();
        o.commit();
        o.close().unwrap();
        let text = got.join().unwrap();
        let name = "ptsd.p.users.ada.notifications.sms";
        let t0 = "2026-03-02T09:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_second();
        assert!(text.contains(&format!("{name} 2 {t0}\n")), "{text}");
        assert!(text.contains(&format!("{name} 1 {}\n", t0 + 60)), "{text}");
        assert!(text.ends_with(&format!("{name} 2 {}\n", t0 + 60)), "{text}");
        assert!(o.committed.slots["p"].is_empty(), "{:?}", o.committed);
    }

    #[test]
    fn an_uncommitted_write_is_not_counted_again() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut o = outputter(listener.local_addr().unwrap().port());
        let got = receive(&listener);
        let b = batch(
            &[notified("a", "2026-03-02T09:00:10Z")],
            "2026-03-02T08:00:00Z",
        );
        // Sent, then another sink failed: the engine sends the same batch again.
        o.write(&b).unwrap();
        o.write(&b).unwrap();
        o.commit();
        let saved = o.save().unwrap();
        o.close().unwrap();
        let text = got.join().unwrap();
        assert_eq!(
            text.lines().filter(|l| l.contains(" 1 ")).count(),
            2,
            "{text}"
        );
        assert!(!text.contains(" 2 "), "{text}");
        // After a restart the saved totals continue (the first save already carries the
        // resolution, so it is not taken for another one's).
        assert_eq!(saved["resolution"], 60, "{saved}");
        let mut again = outputter(1);
        again.restore(saved).unwrap();
        assert!(!again.committed.slots.is_empty());
        assert_eq!(again.committed, o.committed);
    }

    #[test]
    fn carbon_away_is_an_error() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut o = outputter(port);
        let b = batch(
            &[notified("a", "2026-03-02T09:00:10Z")],
            "2026-03-02T08:00:00Z",
        );
        assert!(o.write(&b).is_err());
        o.commit();
        assert!(o.committed.slots.is_empty());
    }
}
