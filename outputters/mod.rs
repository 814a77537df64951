//! Outputters: one file (or folder) per sink, each delivering one aggregated [`MetricBatch`]
//! per poll.
//!
//! An outputter knows its wire format and nothing of providers: it renders the batch through
//! [`crate::schema`] and sends it. `write` is called once per poll with everything that poll
//! counted; `close` once at shutdown. A failed `write` keeps the engine from moving its cursor,
//! so the same events are counted again at the next poll instead of being lost.
//!
//! Adding a sink: write `outputters/<name>.rs` with a settings struct that derives `clap::Args`
//! and implements [`OutputterSettings`] (its options, shown in `--help` under its own heading,
//! and how they build it), then add a `mod` line and one [`Registered::of`] line to
//! [`REGISTRY`]. `PTSD_OUTPUTS`' help and errors list the registry's names.

use crate::aggregate::MetricBatch;
use crate::config::{Config, ConfigError};

pub mod graphite;
pub mod statsd;
pub mod stdout;

/// Every sink, selected by name in `PTSD_OUTPUTS`.
pub const REGISTRY: &[Registered] = &[
    Registered::of::<statsd::StatsdSettings>(),
    Registered::of::<stdout::StdoutSettings>(),
    Registered::of::<graphite::GraphiteSettings>(),
];

/// A sink's own settings: its options (flags and environment variables) and how they build it.
pub trait OutputterSettings: clap::Args {
    /// The registry name, as in `PTSD_OUTPUTS`.
    const NAME: &'static str;

    /// Builds the sink.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the option to fix.
    fn build(self, config: &Config) -> Result<Box<dyn Outputter>, ConfigError>;
}

/// One registry entry: a sink's name, options and constructor.
pub struct Registered {
    pub name: &'static str,
    /// Adds the sink's options to the command line.
    pub augment: fn(clap::Command) -> clap::Command,
    /// Reads the sink's options from [`Config::components`] and builds it.
    pub build: Build,
}

/// A registry constructor.
pub type Build = fn(&Config) -> Result<Box<dyn Outputter>, ConfigError>;

impl Registered {
    /// The entry of the sink whose settings are `S`.
    pub const fn of<S: OutputterSettings>() -> Registered {
        Registered {
            name: S::NAME,
            augment: <S as clap::Args>::augment_args,
            build: build_from_matches::<S>,
        }
    }
}

fn build_from_matches<S: OutputterSettings>(
    config: &Config,
) -> Result<Box<dyn Outputter>, ConfigError> {
    crate::config::component_options::<S>(config, S::NAME)?.build(config)
}

/// Adds every sink's options to `command`.
pub fn augment(command: clap::Command) -> clap::Command {
    REGISTRY.iter().fold(command, |c, r| (r.augment)(c))
}

/// The names of every sink, comma-separated (for help texts and errors).
pub fn names() -> String {
    let names: Vec<&str> = REGISTRY.iter().map(|r| r.name).collect();
    names.join(", ")
}

/// The outputters named in `config.outputs`, in that order.
///
/// # Errors
/// A [`ConfigError`] for an unknown name (listing the known ones) or a sink that cannot start.
pub fn build_all(config: &Config) -> Result<Vec<Box<dyn Outputter>>, ConfigError> {
    let mut out: Vec<Box<dyn Outputter>> = Vec::new();
    for name in &config.outputs {
        let Some(entry) = REGISTRY.iter().find(|r| r.name == name) else {
            return Err(ConfigError(format!(
                "PTSD_OUTPUTS names an unknown outputter {name:?}; set it to a comma list of: {}",
                names()
            )));
        };
        if out.iter().any(|o| o.name() == name) {
            continue;
        }
        out.push((entry.build)(config)?);
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

    /// The batch last written is committed: the engine has everything it needs to save the
    /// cursor that covers it. A sink that keeps running totals (Graphite) makes the totals it
    /// wrote its own here; a batch written and not committed is sent again, so it must not
    /// count twice. Nothing to do by default.
    fn commit(&mut self) {}

    /// What the sink must remember across restarts, saved in the state file together with the
    /// cursor after every [`Outputter::commit`]; `None` (the default) for nothing.
    fn save(&self) -> Option<serde_json::Value> {
        None
    }

    /// Takes back what [`Outputter::save`] returned before a restart.
    ///
    /// # Errors
    /// An [`OutputError`] when it cannot be read.
    fn restore(&mut self, _saved: serde_json::Value) -> Result<(), OutputError> {
        Ok(())
    }

    /// Flushes and releases the sink at shutdown.
    ///
    /// # Errors
    /// An [`OutputError`] when the final flush fails.
    fn close(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}
