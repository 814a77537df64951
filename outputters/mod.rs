//! Outputters: one file per sink, each delivering one aggregated [`MetricBatch`] per poll.
//!
//! An outputter knows its wire format and nothing of providers: it renders the batch through
//! [`crate::schema`] and sends it. `write` is called once per poll with everything that poll
//! counted; `close` once at shutdown. A failed `write` keeps the engine from moving its cursor,
//! so the same events are counted again at the next poll instead of being lost.
//!
//! Adding a sink: write `outputters/<name>.rs` with a constructor of type [`Build`], add a `mod`
//! line and one entry to [`REGISTRY`].

use crate::aggregate::MetricBatch;
use crate::config::{Config, ConfigError};

pub mod statsd;
pub mod stdout;

/// Builds an outputter from the configuration.
pub type Build = fn(&Config) -> Result<Box<dyn Outputter>, ConfigError>;

/// Every sink: (name, constructor), selected by `PTSD_OUTPUTS`.
pub const REGISTRY: &[(&str, Build)] = &[("statsd", statsd::build), ("stdout", stdout::build)];

/// The outputters named in `config.outputs`, in that order.
///
/// # Errors
/// A [`ConfigError`] for an unknown name (listing the known ones) or a sink that cannot start.
pub fn build_all(config: &Config) -> Result<Vec<Box<dyn Outputter>>, ConfigError> {
    let mut out: Vec<Box<dyn Outputter>> = Vec::new();
    for name in &config.outputs {
        let Some((_, build)) = REGISTRY.iter().find(|(n, _)| n == name) else {
            let known: Vec<&str> = REGISTRY.iter().map(|(n, _)| *n).collect();
            return Err(ConfigError(format!(
                "PTSD_OUTPUTS names an unknown outputter {name:?}; set it to a comma list of: {}",
                known.join(", ")
            )));
        };
        if out.iter().any(|o| o.name() == name) {
            continue;
        }
        out.push(build(config)?);
    }
    Ok(out)
}

/// Why a batch could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The transport failed (socket, pipe, DNS).
    #[error("{sink}: {source}")]
    Io {
        sink: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The batch could not be encoded.
    #[error("{sink}: cannot encode the batch: {what}")]
    Encode { sink: &'static str, what: String },
}

/// One sink.
pub trait Outputter: Send {
    /// The sink's name, as in `PTSD_OUTPUTS`.
    fn name(&self) -> &'static str;

    /// Delivers one poll's batch, completely (flushes before returning).
    ///
    /// # Errors
    /// An [`OutputError`] when the batch could not be handed over.
    fn write(&mut self, batch: &MetricBatch) -> Result<(), OutputError>;

    /// Flushes and releases the sink at shutdown.
    ///
    /// # Errors
    /// An [`OutputError`] when the final flush fails.
    fn close(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}
