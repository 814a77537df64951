//! StatsD outputter: counters over UDP through cadence, plain or DogStatsD flavor.
//!
//! Wire format: `name:7|c` (plain) or `name:7|c|#provider:pagerduty,user:ada_lovelace`
//! (DogStatsD), one line per series with the poll's summed count. Lines are packed into
//! datagrams of at most 1432 bytes (cadence's buffered UDP sink; the payload that fits a 1500
//! byte Ethernet MTU), and the buffer is flushed at the end of every batch.
//!
//! The agent's address is resolved at start and again every minute, so a restarted or moved
//! agent is found. When it cannot be resolved, or a send fails, `write` returns an error and
//! the engine keeps the poll's events to send again next time. UDP gives no delivery receipt:
//! a datagram the agent never reads (it is down, the port is closed) is lost without an error,
//! which is the nature of StatsD.

use std::net::UdpSocket;
use std::time::Duration;

use cadence::{BufferedUdpMetricSink, Counted, StatsdClient};

use super::{OutputError, Outputter};
use crate::aggregate::MetricBatch;
use crate::config::{Config, ConfigError};
use crate::schema::{self, Flavor};

const NAME: &str = "statsd";
/// Largest datagram payload sent.
pub const MAX_DATAGRAM: usize = 1432;

/// The registry constructor.
pub fn build(config: &Config) -> Result<Box<dyn Outputter>, ConfigError> {
    if config.statsd_host.is_empty() {
        return Err(ConfigError(
            "STATSD_HOST is empty; set it to the StatsD agent's host, e.g. 127.0.0.1".into(),
        ));
    }
    let mut o = StatsdOutputter {
        host: config.statsd_host.clone(),
        port: config.statsd_port,
        flavor: config.statsd_flavor,
        prefix: config.prefix.clone(),
        client: None,
    };
    if let Err(e) = o.connect() {
        tracing::warn!(sink = NAME, error = %e, "StatsD agent not reachable yet; will retry at every poll.");
    }
    Ok(Box::new(o))
}

/// Sends counters to a StatsD agent.
pub struct StatsdOutputter {
    host: String,
    port: u16,
    flavor: Flavor,
    prefix: String,
    client: Option<StatsdClient>,
}

impl StatsdOutputter {
    fn connect(&mut self) -> Result<&StatsdClient, OutputError> {
        if self.client.is_none() {
            let io = |source| OutputError::Io { sink: NAME, source };
            let socket = UdpSocket::bind(("0.0.0.0", 0)).map_err(io)?;
            let sink = BufferedUdpMetricSink::builder()
                .with_capacity(MAX_DATAGRAM)
                .with_resolver_period(Duration::from_secs(60))
                .with_resolver_error_handler(|e| {
                    tracing::warn!(sink = NAME, error = %e, "Cannot re-resolve STATSD_HOST; keeping the last address.")
                })
                .build((self.host.clone(), self.port), socket)
                .map_err(|e| {
                    io(std::io::Error::other(format!(
                        "cannot resolve STATSD_HOST {}:{} ({e})",
                        self.host, self.port
                    )))
                })?;
            self.client = Some(StatsdClient::from_sink("", sink));
        }
        Ok(self.client.as_ref().expect("client was just set"))
    }
}

impl Outputter for StatsdOutputter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn write(&mut self, batch: &MetricBatch) -> Result<(), OutputError> {
        let lines = schema::render(self.flavor, &self.prefix, &batch.series);
        let client = self.connect()?;
        let io = |e: cadence::MetricError| OutputError::Io {
            sink: NAME,
            source: std::io::Error::other(e.to_string()),
        };
        let result = (|| {
            for line in &lines {
                let mut b = client.count_with_tags(&line.name, line.value);
                for (k, v) in &line.tags {
                    b = b.with_tag(k, v);
                }
                b.try_send().map_err(io)?;
            }
            client.flush().map_err(io)
        })();
        if result.is_err() {
            // Start over with a fresh socket and a fresh resolution next time.
            self.client = None;
        }
        result
    }

    fn close(&mut self) -> Result<(), OutputError> {
        match &self.client {
            Some(c) => c.flush().map_err(|e| OutputError::Io {
                sink: NAME,
                source: std::io::Error::other(e.to_string()),
            }),
            None => Ok(()),
        }
    }
}
