//! StatsD outputter: metrics over UDP through cadence, plain or DogStatsD flavor.
//!
//! Wire format: `name:7|c` (plain) or `name:7|c|#provider:pagerduty,user:ada_lovelace`
//! (DogStatsD), one line per series with the poll's summed count (gauges `|g`, timers `|ms`),
//! and one line per timing sample (`|ms` in plain, `|d` distributions in DogStatsD).
//! Lines are packed into datagrams of at most 1432 bytes (cadence's buffered UDP sink; the
//! payload that fits a 1500-byte Ethernet MTU), and the buffer is flushed at the end of every
//! batch.
//!
//! When the agent is away, `write` fails and the engine keeps the poll's events to send again
//! at the next poll, so nothing is lost:
//! - `STATSD_HOST` does not resolve: the error is returned at once; it is resolved again at the
//!   next write (and every minute anyway, so a moved agent is found).
//! - The agent's port is closed: the socket is *connected*, so the kernel reports the ICMP
//!   "port unreachable" that answers our datagrams as `ECONNREFUSED`. After each flush the
//!   outputter waits [`ICMP_GRACE`] for such an answer before calling the batch delivered.
//!
//! UDP gives no receipt beyond that: an agent that receives and then drops datagrams, or a
//! network that loses them, cannot be detected, which is the nature of StatsD.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use cadence::{BufferedUdpMetricSink, Counted, Distributed, Gauged, StatsdClient, Timed};

use super::{OutputError, Outputter, OutputterSettings};
use crate::aggregate::MetricBatch;
use crate::config::{Config, ConfigError};
use crate::schema::{self, Flavor, Kind};

/// The registry name.
pub const NAME: &str = "statsd";
/// Largest datagram payload sent.
pub const MAX_DATAGRAM: usize = 1432;
/// How long to wait after a flush for a "port unreachable" answer from the agent's host.
pub const ICMP_GRACE: Duration = Duration::from_millis(20);
/// How often the agent's address is resolved again even when all is well.
const RESOLVE_EVERY: Duration = Duration::from_secs(60);

/// The StatsD outputter's options.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "StatsD outputter")]
pub struct StatsdSettings {
    /// StatsD agent host.
    #[arg(long, env = "STATSD_HOST", default_value = "127.0.0.1")]
    pub statsd_host: String,

    /// StatsD agent UDP port.
    #[arg(long, env = "STATSD_PORT", default_value_t = 8125)]
    pub statsd_port: u16,

    /// StatsD dialect: plain (everything in dotted names) or dogstatsd (tags).
    #[arg(long, env = "PTSD_STATSD_FLAVOR", value_enum, default_value = "plain")]
    pub statsd_flavor: Flavor,
}

impl OutputterSettings for StatsdSettings {
    const NAME: &'static str = NAME;

    fn build(self, config: &Config) -> Result<Box<dyn Outputter>, ConfigError> {
        let host = self.statsd_host.trim().to_string();
        if host.is_empty() {
            return Err(ConfigError(
                "STATSD_HOST is empty; set it to the StatsD agent's host, e.g. 127.0.0.1".into(),
            ));
        }
        Ok(Box::new(StatsdOutputter {
            host,
            port: self.statsd_port,
            flavor: self.statsd_flavor,
            prefix: config.prefix.clone(),
            conn: None,
        }))
    }
}

/// Sends metrics to a StatsD agent.
pub struct StatsdOutputter {
    host: String,
    port: u16,
    flavor: Flavor,
    prefix: String,
    conn: Option<Connection>,
}

/// A cadence client over a UDP socket connected to one resolved address.
struct Connection {
    client: StatsdClient,
    /// A handle on the same socket, to read errors the kernel queued on it.
    probe: UdpSocket,
    made: Instant,
}

fn io_error(what: impl std::fmt::Display) -> OutputError {
    OutputError::Io {
        sink: NAME,
        source: std::io::Error::other(what.to_string()),
    }
}

impl StatsdOutputter {
    fn connect(&mut self) -> Result<&Connection, OutputError> {
        if self
            .conn
            .as_ref()
            .is_some_and(|c| c.made.elapsed() < RESOLVE_EVERY)
        {
            return Ok(self.conn.as_ref().expect("checked above"));
        }
        self.conn = None;
        let addr: SocketAddr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| io_error(format!("cannot resolve STATSD_HOST {:?}: {e}", self.host)))?
            .next()
            .ok_or_else(|| io_error(format!("STATSD_HOST {:?} has no address", self.host)))?;
        let io = |source| OutputError::Io { sink: NAME, source };
        let local: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(local).map_err(io)?;
        socket.connect(addr).map_err(io)?;
        let probe = socket.try_clone().map_err(io)?;
        let sink = BufferedUdpMetricSink::with_capacity(addr, socket, MAX_DATAGRAM)
            .map_err(|e| io_error(e.to_string()))?;
        self.conn = Some(Connection {
            client: StatsdClient::from_sink("", sink),
            probe,
            made: Instant::now(),
        });
        Ok(self.conn.as_ref().expect("just set"))
    }

    fn send(&mut self, batch: &MetricBatch) -> Result<(), OutputError> {
        let mut lines = schema::render(self.flavor, &self.prefix, &batch.series);
        lines.extend(schema::render_timings(
            self.flavor,
            &self.prefix,
            &batch.samples,
        ));
        let conn = self.connect()?;
        // Errors queued before this batch belong to datagrams already accounted for.
        let _ = conn.probe.take_error();
        let client = &conn.client;
        for line in &lines {
            let result = match line.kind {
                Kind::Counter => {
                    let mut b = client.count_with_tags(&line.name, line.value);
                    for (k, v) in &line.tags {
                        b = b.with_tag(k, v);
                    }
                    b.try_send().map(|_| ())
                }
                Kind::Gauge => {
                    let mut b = client.gauge_with_tags(&line.name, line.value as f64);
                    for (k, v) in &line.tags {
                        b = b.with_tag(k, v);
                    }
                    b.try_send().map(|_| ())
                }
                Kind::Timer => {
                    let mut b = client.time_with_tags(&line.name, line.value.max(0) as u64);
                    for (k, v) in &line.tags {
                        b = b.with_tag(k, v);
                    }
                    b.try_send().map(|_| ())
                }
                Kind::Distribution => {
                    let mut b = client.distribution_with_tags(&line.name, line.value.max(0) as u64);
                    for (k, v) in &line.tags {
                        b = b.with_tag(k, v);
                    }
                    b.try_send().map(|_| ())
                }
            };
            result.map_err(io_error)?;
        }
        client.flush().map_err(io_error)?;
        std::thread::sleep(ICMP_GRACE);
        match conn.probe.take_error() {
            Ok(None) => Ok(()),
            Ok(Some(e)) | Err(e) => Err(OutputError::Io {
                sink: NAME,
                source: e,
            }),
        }
    }
}

impl Outputter for StatsdOutputter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn write(&mut self, batch: &MetricBatch) -> Result<(), OutputError> {
        let result = self.send(batch);
        if result.is_err() {
            // Start over with a fresh socket and a fresh resolution next time.
            self.conn = None;
        }
        result
    }

    fn close(&mut self) -> Result<(), OutputError> {
        match &self.conn {
            Some(c) => c.client.flush().map_err(io_error),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Findings, Timing};
    use crate::event::{Channel, Event, EventKind, Incident, Person};
    use crate::schema::UserKey;

    fn outputter(host: &str, port: u16, flavor: Flavor) -> StatsdOutputter {
        StatsdOutputter {
            host: host.into(),
            port,
            flavor,
            prefix: "ptsd".into(),
            conn: None,
        }
    }

    /// 150 people notified once each (long names, so the lines do not fit one datagram), and
    /// one acknowledgement measured at 150 s.
    fn batch() -> MetricBatch {
        let at = "2026-03-02T03:00:00Z".parse().unwrap();
        let mut b = MetricBatch::new(at);
        for i in 0..150 {
            let user = Person {
                id: format!("P{i}"),
                name: Some(format!("Responder number {i:03} of the platform rotation")),
                ..Person::default()
            };
            let e = Event {
                record_id: format!("R{i}"),
                at,
                kind: EventKind::Notified {
                    user,
                    channel: Channel::Sms,
                },
                incident: None,
            };
            b.add_event(&e, &Findings::default(), "acme", UserKey::Name);
        }
        let ack = Event {
            record_id: "RACK".into(),
            at,
            kind: EventKind::Acknowledged { user: None },
            incident: Some(Incident {
                id: "I1".into(),
                ..Incident::default()
            }),
        };
        let found = Findings {
            time_to_ack: Some(Timing {
                duration: jiff::SignedDuration::from_secs(150),
                service: "Checkout API".into(),
                urgency: "high".into(),
            }),
            ..Findings::default()
        };
        b.add_event(&ack, &found, "acme", UserKey::Name);
        b
    }

    /// Every datagram the socket receives until it has been quiet for 200 ms.
    fn datagrams(socket: &UdpSocket) -> Vec<String> {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = socket.recv(&mut buf) {
            out.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
        out
    }

    #[test]
    fn lines_are_packed_into_datagrams_of_at_most_1432_bytes() {
        for flavor in [Flavor::Plain, Flavor::Dogstatsd] {
            let agent = UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = agent.local_addr().unwrap().port();
            let mut o = outputter("127.0.0.1", port, flavor);
            o.write(&batch()).expect("delivered");
            let grams = datagrams(&agent);
            assert!(grams.len() > 1, "{flavor:?}: more than one datagram");
            for g in &grams {
                assert!(g.len() <= MAX_DATAGRAM, "{flavor:?}: {} bytes", g.len());
                assert!(
                    g.lines().count() > 1,
                    "{flavor:?}: several lines a datagram"
                );
            }
            let lines: Vec<&str> = grams.iter().flat_map(|g| g.lines()).collect();
            let notified = lines.iter().filter(|l| l.contains("notif")).count();
            assert_eq!(notified, 150, "{flavor:?}: one line per series");
            let timings: Vec<&&str> = lines.iter().filter(|l| l.contains("time_to_ack")).collect();
            match flavor {
                Flavor::Plain => {
                    assert!(
                        timings.iter().all(|l| l.ends_with(":150000|ms")),
                        "{timings:?}"
                    );
                    assert_eq!(timings.len(), 2, "by urgency and by service: {timings:?}");
                }
                Flavor::Dogstatsd => assert_eq!(
                    timings,
                    [&"ptsd.time_to_ack:150000|d|#provider:acme,service:checkout_api,urgency:high"]
                ),
            }
        }
    }

    #[test]
    fn an_agent_that_cannot_be_found_or_reached_is_an_error() {
        let mut o = outputter("ptsd-no-such-agent.invalid", 8125, Flavor::Plain);
        let e = o.write(&batch()).expect_err("unresolvable").to_string();
        assert!(e.contains("cannot resolve STATSD_HOST"), "{e}");
        // A port nobody listens on: the kernel's "port unreachable" comes back as an error.
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let mut o = outputter("127.0.0.1", port, Flavor::Plain);
        assert!(o.write(&batch()).is_err(), "closed port");
    }
}
