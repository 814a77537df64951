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
//! outputter always writes a slot's whole total, never an increment: it is a
//! [`super::slots::SlotWriter`], and the shared [`super::slots::SlotTable`] keeps the totals of
//! the slots that can still change, saved in the state file with the cursor. A batch sent again
//! after a failure, or after a crash and a restart, therefore writes the same totals again:
//! what whisper stores is exact.
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

use super::slots::{Cells, Contributions, SlotWriter, Slotted};
use super::{OutputError, OutputterSettings, Sink};
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

    fn build(self, config: &Config) -> Result<Sink, ConfigError> {
        let host = self.graphite_host.trim().to_string();
        if host.is_empty() {
            return Err(ConfigError(
                "GRAPHITE_HOST is empty; set it to carbon's host, e.g. 127.0.0.1".into(),
            ));
        }
        let resolution = super::slots::resolution(
            "PTSD_GRAPHITE_RESOLUTION",
            &self.graphite_resolution,
            "the finest step of the whisper retention, e.g. 1m",
        )?;
        Ok(Sink::Slotted(Slotted::new(
            Box::new(GraphiteOutputter::new(
                host,
                self.graphite_port,
                config.prefix.clone(),
            )),
            resolution,
            "PTSD_GRAPHITE_RESOLUTION",
        )))
    }
}

/// Sends timestamped slot totals to carbon.
pub struct GraphiteOutputter {
    host: String,
    port: u16,
    prefix: String,
    conn: Option<TcpStream>,
}

impl GraphiteOutputter {
    /// An outputter to `host:port`.
    fn new(host: String, port: u16, prefix: String) -> Self {
        GraphiteOutputter {
            host,
            port,
            prefix,
            conn: None,
        }
    }

    /// Sends `payload`, connecting (again) when needed; one fresh connection is tried when the
    /// one held has dropped.
    fn send_payload(&mut self, payload: &[u8]) -> Result<(), OutputError> {
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
/// silently (found by the simulation, issue 19: slots missing after carbon was away).
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

impl SlotWriter for GraphiteOutputter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn contributions(&self, batch: &MetricBatch, into: &mut Contributions) {
        // Events, at their own time: counts summed by slot first, so each slot renders once.
        let mut counts: BTreeMap<i64, BTreeMap<Series, i64>> = BTreeMap::new();
        for (second, moment) in &batch.timeline {
            let c = counts.entry(into.slot(*second)).or_default();
            for (series, n) in &moment.counts {
                *c.entry(series.clone()).or_default() += n;
            }
            for (series, ms) in &moment.samples {
                for (path, value, how) in schema::render_timer_summary(&self.prefix, series, *ms) {
                    into.add(*second, path, value, how);
                }
            }
        }
        for (slot, series) in counts {
            for r in schema::render_plain(&self.prefix, &series) {
                into.add(slot, r.name, r.value, Combine::Sum);
            }
        }
        // ptsd's own metrics, at the poll.
        let own: BTreeMap<Series, i64> = batch
            .series
            .iter()
            .filter(|(s, _)| s.metric.is_self())
            .map(|(s, v)| (s.clone(), *v))
            .collect();
        let at = batch.at.as_second();
        for r in schema::render_plain(&self.prefix, &own) {
            let how = if r.kind == Kind::Counter {
                Combine::Sum
            } else {
                Combine::Last
            };
            into.add(at, r.name, r.value, how);
        }
    }

    fn send(&mut self, totals: &Cells, _batch: &MetricBatch) -> Result<(), OutputError> {
        let mut payload = String::new();
        for (slot, paths) in totals {
            for (path, cell) in paths {
                // Into the one buffer, without a String per line (56,000 lines in a catch-up).
                let _ = writeln!(payload, "{path} {} {slot}", cell.value);
            }
        }
        if payload.is_empty() {
            return Ok(());
        }
        self.send_payload(payload.as_bytes())
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
    use jiff::Timestamp;
    use std::io::Read;
    use std::net::TcpListener;

    fn outputter(port: u16) -> Slotted {
        let writer = GraphiteOutputter::new("127.0.0.1".into(), port, "ptsd".into());
        Slotted::new(Box::new(writer), 60, "PTSD_GRAPHITE_RESOLUTION")
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

    fn batch(events: &[Event]) -> MetricBatch {
        let mut b = MetricBatch::new("2026-03-02T10:00:00Z".parse().unwrap());
        b.source = "p".into();
        for e in events {
            b.add_event(e, &Findings::default(), "p", UserKey::Name);
        }
        b
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
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
        let b = batch(&[
            notified("a", "2026-03-02T09:00:10Z"),
            notified("b", "2026-03-02T09:00:50Z"),
            notified("c", "2026-03-02T09:01:00Z"),
        ]);
        o.write(&b).unwrap();
        o.commit(t("2026-03-02T09:01:00Z"));
        // A late event in 09:01 is written as that slot's new total, 2, not as +1; 09:00 was
        // final and is forgotten.
        o.write(&batch(&[notified("d", "2026-03-02T09:01:30Z")]))
            .unwrap();
        o.commit(t("2026-03-02T09:05:00Z"));
        o.close().unwrap();
        let text = got.join().unwrap();
        let name = "ptsd.p.users.ada.notifications.sms";
        let t0 = t("2026-03-02T09:00:00Z").as_second();
        assert!(text.contains(&format!("{name} 2 {t0}\n")), "{text}");
        assert!(text.contains(&format!("{name} 1 {}\n", t0 + 60)), "{text}");
        assert!(text.ends_with(&format!("{name} 2 {}\n", t0 + 60)), "{text}");
        assert_eq!(o.open_slots(), 0);
    }

    #[test]
    fn an_uncommitted_write_is_not_counted_again() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut o = outputter(listener.local_addr().unwrap().port());
        let got = receive(&listener);
        let b = batch(&[notified("a", "2026-03-02T09:00:10Z")]);
        // Sent, then another sink failed: the engine sends the same batch again.
        o.write(&b).unwrap();
        o.write(&b).unwrap();
        o.commit(t("2026-03-02T08:00:00Z"));
        let saved = o.save();
        o.close().unwrap();
        let text = got.join().unwrap();
        assert_eq!(
            text.lines().filter(|l| l.contains(" 1 ")).count(),
            2,
            "{text}"
        );
        assert!(!text.contains(" 2 "), "{text}");
        // After a restart the saved totals continue.
        let mut again = outputter(1);
        again.restore(saved.clone()).unwrap();
        assert_eq!(again.open_slots(), 1);
        assert_eq!(again.save(), saved);
    }

    #[test]
    fn carbon_away_is_an_error() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut o = outputter(port);
        let b = batch(&[notified("a", "2026-03-02T09:00:10Z")]);
        assert!(o.write(&b).is_err());
        o.commit(t("2026-03-02T08:00:00Z"));
        assert_eq!(o.open_slots(), 0);
    }
}
