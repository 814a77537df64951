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

use super::{OutputError, Outputter};
use crate::aggregate::MetricBatch;
use crate::config::{Config, ConfigError};
use crate::schema::{self, Flavor, Kind};

const NAME: &str = "statsd";
/// Largest datagram payload sent.
pub const MAX_DATAGRAM: usize = 1432;
/// How long to wait after a flush for a "port unreachable" answer from the agent's host.
pub const ICMP_GRACE: Duration = Duration::from_millis(20);
/// How often the agent's address is resolved again even when all is well.
const RESOLVE_EVERY: Duration = Duration::from_secs(60);

/// The registry constructor.
pub fn build(config: &Config) -> Result<Box<dyn Outputter>, ConfigError> {
    if config.statsd_host.is_empty() {
        return Err(ConfigError(
            "STATSD_HOST is empty; set it to the StatsD agent's host, e.g. 127.0.0.1".into(),
        ));
    }
    Ok(Box::new(StatsdOutputter {
        host: config.statsd_host.clone(),
        port: config.statsd_port,
        flavor: config.statsd_flavor,
        prefix: config.prefix.clone(),
        conn: None,
    }))
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
