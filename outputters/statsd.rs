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
//!   outputter waits [`ICMP_GRACE`] for such an answer before calling the batch delivered
//!   (`PTSD_STATSD_ICMP_GRACE`, left out of `--help`: longer for an agent far away; the
//!   simulation sets 0, as its thousands of flushes would otherwise sleep for minutes).
//!
//! UDP gives no receipt beyond that: an agent that receives and then drops datagrams, or a
//! network that loses them, cannot be detected, which is the nature of StatsD.
//!
//! With `PTSD_STATSD_TIMESTAMPS=on` (DogStatsD only) the on-call metrics are written at their
//! own time instead, as whole slot totals ([`timestamped`]).

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use cadence::{
    BufferedUdpMetricSink, Counted, Distributed, Gauged, Metric, MetricBuilder, StatsdClient, Timed,
};

use super::slots::Slotted;
use super::{OutputError, Outputter, OutputterSettings, Sink};
use crate::aggregate::MetricBatch;
use crate::config::{Config, ConfigError};
use crate::schema::{self, Flavor, Kind, Rendered};

pub mod timestamped;

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

    /// `on` or `off`. DogStatsD only (protocol v1.3, Agent 6.40/7.40 or newer): write each
    /// on-call metric as its slot's whole total at the slot's start (`|T`), so history lands
    /// at its own time.
    #[arg(
        long,
        env = "PTSD_STATSD_TIMESTAMPS",
        default_value = "off",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::Set,
        hide_possible_values = true,
    )]
    pub statsd_timestamps: bool,

    /// Slot length of the timestamped points.
    #[arg(long, env = "PTSD_STATSD_TIMESTAMP_RESOLUTION", default_value = "1m")]
    pub statsd_timestamp_resolution: String,

    /// How long to wait after a flush for the agent's host to refuse it.
    #[arg(
        long,
        env = "PTSD_STATSD_ICMP_GRACE",
        default_value = "20ms",
        hide = true
    )]
    pub statsd_icmp_grace: String,
}

impl OutputterSettings for StatsdSettings {
    const NAME: &'static str = NAME;

    fn build(self, config: &Config) -> Result<Sink, ConfigError> {
        let host = self.statsd_host.trim().to_string();
        if host.is_empty() {
            return Err(ConfigError(
                "STATSD_HOST is empty; set it to the StatsD agent's host, e.g. 127.0.0.1".into(),
            ));
        }
        let grace = humantime::parse_duration(self.statsd_icmp_grace.trim()).map_err(|e| {
            ConfigError(format!(
                "PTSD_STATSD_ICMP_GRACE={:?} is not a duration ({e}); set it like 20ms",
                self.statsd_icmp_grace
            ))
        })?;
        let agent = Agent::new(host, self.statsd_port).with_grace(grace);
        let var = timestamped::RESOLUTION_VAR;
        let resolution = super::slots::resolution(
            var,
            &self.statsd_timestamp_resolution,
            "a whole number of seconds, e.g. 1m",
        )?;
        if !self.statsd_timestamps {
            return Ok(Sink::Live(Box::new(StatsdOutputter {
                agent,
                flavor: self.statsd_flavor,
                prefix: config.prefix.clone(),
            })));
        }
        if self.statsd_flavor != Flavor::Dogstatsd {
            return Err(ConfigError(
                "PTSD_STATSD_TIMESTAMPS=on needs PTSD_STATSD_FLAVOR=dogstatsd: plain StatsD has no timestamps (for Graphite at its own time use PTSD_OUTPUTS=graphite)".into(),
            ));
        }
        let writer = timestamped::TimestampedStatsd::new(agent, config.prefix.clone());
        Ok(Sink::Slotted(Slotted::new(
            Box::new(writer),
            resolution,
            var,
        )))
    }
}

/// Sends metrics to a StatsD agent.
pub struct StatsdOutputter {
    agent: Agent,
    flavor: Flavor,
    prefix: String,
}

/// The agent's address and a socket to it, connected on demand.
pub struct Agent {
    host: String,
    port: u16,
    conn: Option<Connection>,
    /// How long to wait after a flush for a refusal ([`ICMP_GRACE`] unless set).
    grace: Duration,
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

impl Agent {
    fn new(host: String, port: u16) -> Self {
        Agent {
            host,
            port,
            conn: None,
            grace: ICMP_GRACE,
        }
    }

    fn with_grace(self, grace: Duration) -> Self {
        Agent { grace, ..self }
    }

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

    /// Sends what `emit` writes through the client, flushes, and waits [`ICMP_GRACE`] for the
    /// agent's host to refuse it. After an error the next delivery starts with a fresh socket
    /// and a fresh resolution.
    fn deliver(
        &mut self,
        emit: impl FnOnce(&StatsdClient) -> Result<(), OutputError>,
    ) -> Result<(), OutputError> {
        let result = self.deliver_once(emit);
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn deliver_once(
        &mut self,
        emit: impl FnOnce(&StatsdClient) -> Result<(), OutputError>,
    ) -> Result<(), OutputError> {
        let grace = self.grace;
        let conn = self.connect()?;
        // Errors queued before this batch belong to datagrams already accounted for.
        let _ = conn.probe.take_error();
        emit(&conn.client)?;
        conn.client.flush().map_err(io_error)?;
        if !grace.is_zero() {
            std::thread::sleep(grace);
        }
        match conn.probe.take_error() {
            Ok(None) => Ok(()),
            Ok(Some(e)) | Err(e) => Err(OutputError::Io {
                sink: NAME,
                source: e,
            }),
        }
    }

    fn close(&mut self) -> Result<(), OutputError> {
        match &self.conn {
            Some(c) => c.client.flush().map_err(io_error),
            None => Ok(()),
        }
    }
}

/// Adds `tags` (and `timestamp`, DogStatsD v1.3) to a metric and sends it into the buffer.
fn finish<'m, T: Metric + From<String>>(
    mut b: MetricBuilder<'m, '_, T>,
    tags: impl IntoIterator<Item = (&'m str, &'m str)>,
    timestamp: Option<u64>,
) -> Result<(), OutputError> {
    for (k, v) in tags {
        b = b.with_tag(k, v);
    }
    if let Some(t) = timestamp {
        b = b.with_timestamp(t);
    }
    b.try_send().map(|_| ()).map_err(io_error)
}

/// Sends rendered lines as they are (no timestamp).
fn emit_live(client: &StatsdClient, lines: &[Rendered]) -> Result<(), OutputError> {
    for line in lines {
        let tags = line.tags.iter().map(|(k, v)| (*k, v.as_str()));
        match line.kind {
            Kind::Counter => finish(client.count_with_tags(&line.name, line.value), tags, None)?,
            Kind::Gauge => finish(
                client.gauge_with_tags(&line.name, line.value as f64),
                tags,
                None,
            )?,
            Kind::Timer => finish(
                client.time_with_tags(&line.name, line.value.max(0) as u64),
                tags,
                None,
            )?,
            Kind::Distribution => finish(
                client.distribution_with_tags(&line.name, line.value.max(0) as u64),
                tags,
                None,
            )?,
        }
    }
    Ok(())
}

impl Outputter for StatsdOutputter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn write(&mut self, batch: &MetricBatch) -> Result<(), OutputError> {
        let mut lines = schema::render(self.flavor, &self.prefix, &batch.series);
        lines.extend(schema::render_timings(
            self.flavor,
            &self.prefix,
            &batch.samples,
        ));
        self.agent.deliver(|client| emit_live(client, &lines))
    }

    fn close(&mut self) -> Result<(), OutputError> {
        self.agent.close()
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
            agent: Agent::new(host.into(), port),
            flavor,
            prefix: "ptsd".into(),
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
