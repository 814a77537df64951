//! Outputters: one file (or folder) per sink, each delivering one aggregated [`MetricBatch`]
//! per poll.
//!
//! An outputter knows its wire format and nothing of providers: it renders the batch through
//! [`crate::schema`] and sends it. `write` is called once per poll with everything that poll
//! counted; `close` once at shutdown. A failed `write` keeps the engine from moving its cursor,
//! so the same events are counted again at the next poll instead of being lost.
//!
//! The engine holds every sink as a [`Sink`]: [`Sink::Live`] for one that sends what each
//! batch holds (StatsD, stdout: an [`Outputter`]), [`Sink::Slotted`] for one that stores points
//! at their own time and so writes whole slot totals (Graphite, timestamped DogStatsD: a
//! [`slots::SlotWriter`] with the shared [`slots::SlotTable`]). The engine's delivery code
//! treats both alike: write, then commit with the horizon it knows, then save.
//!
//! Adding a sink: write `outputters/<name>.rs` with a settings struct that derives `clap::Args`
//! and implements [`OutputterSettings`] (its options, shown in `--help` under its own heading,
//! and how they build it), then add a `mod` line and one [`Registered::of`] line to
//! [`REGISTRY`]. `PTSD_OUTPUTS`' help and errors list the registry's names.

use jiff::Timestamp;

use crate::aggregate::MetricBatch;
use crate::config::{Config, ConfigError};

pub mod graphite;
pub mod slots;
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
    fn build(self, config: &Config) -> Result<Sink, ConfigError>;
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
pub type Build = fn(&Config) -> Result<Sink, ConfigError>;

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

fn build_from_matches<S: OutputterSettings>(config: &Config) -> Result<Sink, ConfigError> {
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
pub fn build_all(config: &Config) -> Result<Vec<Sink>, ConfigError> {
    let mut out: Vec<Sink> = Vec::new();
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

/// A sink that sends what each batch holds.
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

/// Every sink as the engine holds it.
pub enum Sink {
    /// Sends what each batch holds; nothing to commit or remember.
    Live(Box<dyn Outputter>),
    /// Writes whole slot totals at the events' own time, kept with the cursor.
    Slotted(slots::Slotted),
}

impl Sink {
    /// The sink's name, as in `PTSD_OUTPUTS`.
    pub fn name(&self) -> &'static str {
        match self {
            Sink::Live(o) => o.name(),
            Sink::Slotted(s) => s.name(),
        }
    }

    /// Delivers one batch, completely.
    ///
    /// # Errors
    /// An [`OutputError`] when the batch could not be handed over.
    pub fn write(&mut self, batch: &MetricBatch) -> Result<(), OutputError> {
        match self {
            Sink::Live(o) => o.write(batch),
            Sink::Slotted(s) => s.write(batch),
        }
    }

    /// The batch last written is committed: the engine has everything it needs to save the
    /// cursor that covers it, and no later batch from the same source holds an event before
    /// `final_before`. A batch written and not committed is sent again, so it must not count
    /// twice.
    pub fn commit(&mut self, final_before: Timestamp) {
        if let Sink::Slotted(s) = self {
            s.commit(final_before);
        }
    }

    /// What the sink must remember across restarts, saved in the state file together with the
    /// cursor after every [`Sink::commit`]; `None` for nothing.
    pub fn save(&self) -> Option<serde_json::Value> {
        match self {
            Sink::Live(_) => None,
            Sink::Slotted(s) => Some(s.save()),
        }
    }

    /// Takes back what [`Sink::save`] returned before a restart.
    ///
    /// # Errors
    /// An [`OutputError`] when it cannot be read.
    pub fn restore(&mut self, saved: serde_json::Value) -> Result<(), OutputError> {
        match self {
            Sink::Live(_) => Ok(()),
            Sink::Slotted(s) => s.restore(saved),
        }
    }

    /// Flushes and releases the sink at shutdown.
    ///
    /// # Errors
    /// An [`OutputError`] when the final flush fails.
    pub fn close(&mut self) -> Result<(), OutputError> {
        match self {
            Sink::Live(o) => o.close(),
            Sink::Slotted(s) => s.close(),
        }
    }
}

impl<T: Outputter + 'static> From<Box<T>> for Sink {
    fn from(o: Box<T>) -> Sink {
        Sink::Live(o)
    }
}

impl From<Box<dyn Outputter>> for Sink {
    fn from(o: Box<dyn Outputter>) -> Sink {
        Sink::Live(o)
    }
}
