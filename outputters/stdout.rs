//! stdout outputter: one JSON object per line per series per poll.
//!
//! Wire format: `{"time":"2026-03-02T03:15:00Z","name":"ptsd.notifications","value":2,
//! "type":"counter","tags":{"provider":"pagerduty","user":"ada_lovelace","channel":"sms"}}`, always the tagged
//! rendering (tags are fields, so nothing needs folding into names). Ready for `jq` or a
//! notebook. A closed pipe is an error like any other.

use std::io::Write;

use serde::ser::{Serialize, Serializer};

use super::{OutputError, Outputter, OutputterSettings, Sink};
use crate::aggregate::MetricBatch;
use crate::config::{Config, ConfigError};
use crate::schema;

/// The registry name.
pub const NAME: &str = "stdout";

/// The stdout outputter has no options of its own (it uses `PTSD_PREFIX`).
#[derive(clap::Args, Debug)]
pub struct StdoutSettings {}

impl OutputterSettings for StdoutSettings {
    const NAME: &'static str = NAME;

    fn build(self, config: &Config) -> Result<Sink, ConfigError> {
        Ok(Sink::Live(Box::new(StdoutOutputter {
            prefix: config.prefix.clone(),
        })))
    }
}

/// Writes JSON lines to standard output.
pub struct StdoutOutputter {
    prefix: String,
}

/// One output line; fields serialise in this order.
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    time: &'a str,
    name: &'a str,
    value: i64,
    #[serde(rename = "type")]
    kind: &'static str,
    tags: Tags<'a>,
}

/// Tags as a JSON object, keys in the schema's order.
struct Tags<'a>(&'a [(&'static str, String)]);

impl Serialize for Tags<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// Renders a batch as JSON lines, one per series.
pub fn json_lines(prefix: &str, batch: &MetricBatch) -> Vec<String> {
    let time = batch.at.to_string();
    let mut lines = schema::render_tagged(prefix, &batch.series);
    lines.extend(schema::render_timings(
        schema::Flavor::Dogstatsd,
        prefix,
        &batch.samples,
    ));
    lines
        .iter()
        .map(|r| {
            serde_json::to_string(&JsonLine {
                time: &time,
                name: &r.name,
                value: r.value,
                kind: match r.kind {
                    schema::Kind::Counter => "counter",
                    schema::Kind::Gauge => "gauge",
                    schema::Kind::Timer => "timer",
                    schema::Kind::Distribution => "distribution",
                },
                tags: Tags(&r.tags),
            })
            .unwrap_or_default()
        })
        .collect()
}

impl Outputter for StdoutOutputter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn write(&mut self, batch: &MetricBatch) -> Result<(), OutputError> {
        let mut text = String::new();
        for line in json_lines(&self.prefix, batch) {
            text.push_str(&line);
            text.push('\n');
        }
        let io = |source| OutputError::Io { sink: NAME, source };
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).map_err(io)?;
        out.flush().map_err(io)
    }
}
