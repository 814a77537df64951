//! Collectors: one file (or folder) per provider, each turning that provider's API into
//! normalised [`Event`]s for a closed time window.
//!
//! A collector knows HTTP and JSON and nothing of StatsD or of time keeping: the engine decides
//! which window to read, deduplicates, splits windows that are too large, and keeps the cursor.
//! Shared plumbing sits beside the providers: [`http`] (retries, rate limits, base URLs) and
//! [`directory`] (the cached user directory every provider keeps) and `skipped` (each malformed
//! record warned about once).
//!
//! Adding a provider: write `collectors/<name>.rs` (or a folder) with a settings struct that
//! derives `clap::Args` and implements [`CollectorSettings`] (its options, shown in `--help`
//! under its own heading, and how they build it), then add a `mod` line and one
//! [`Registered::of`] line to [`REGISTRY`]. Nothing else names the provider: the command line,
//! `--help` and the "no collector is configured" message come from the registry.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::config::{Config, ConfigError};
use crate::event::{Event, Window};

pub mod alerts;
pub mod demo;
pub mod directory;
pub mod http;
pub mod in_process;
pub mod jsm;
pub mod opsgenie;
pub mod pagerduty;
mod skipped;

/// Every provider, in the order they are polled. The name is also the `provider` tag.
pub const REGISTRY: &[Registered] = &[
    Registered::of::<pagerduty::PagerDutySettings>(),
    Registered::of::<opsgenie::OpsgenieSettings>(),
    Registered::of::<jsm::JsmSettings>(),
    Registered::of::<demo::DemoSettings>(),
];

/// The collector that `--demo` runs instead of every configured provider.
pub const DEMO: &str = demo::NAME;

/// A collector's own settings: its options (flags and environment variables) and how they
/// build the collector.
pub trait CollectorSettings: clap::Args {
    /// The registry name: also the `provider` tag and metric segment.
    const NAME: &'static str;
    /// How a user turns the collector on, for the message shown when none is configured
    /// (e.g. `set PDTOKEN (or PDTOKEN_FILE)`).
    const ENABLE: &'static str;
    /// Whether the provider can narrow what it reads to some teams ([`Self::with_teams`]).
    const TEAMS: bool = false;

    /// The same settings narrowed to `teams` (provider team ids), for `ptsd report --team`;
    /// only called when [`Self::TEAMS`] is true.
    fn with_teams(self, _teams: &[String]) -> Self {
        self
    }

    /// Builds the collector: `Ok(None)` when it is not configured (no token).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the option to fix.
    fn build(self, config: &Config) -> Result<Option<Box<dyn Collector>>, ConfigError>;
}

/// One registry entry: a provider's name, options and constructor.
pub struct Registered {
    pub name: &'static str,
    /// How to turn it on (see [`CollectorSettings::ENABLE`]).
    pub enable: &'static str,
    /// Adds the provider's options to the command line.
    pub augment: fn(clap::Command) -> clap::Command,
    /// Reads the provider's options from [`Config::components`] and builds it.
    pub build: Build,
    /// Whether it can be narrowed to teams.
    pub teams: bool,
    /// Builds it narrowed to the given teams (see [`CollectorSettings::with_teams`]).
    pub build_for_teams: BuildForTeams,
}

/// A registry constructor narrowed to some teams: `Ok(None)` when the provider is not configured.
pub type BuildForTeams = fn(&Config, &[String]) -> Result<Option<Box<dyn Collector>>, ConfigError>;

/// A registry constructor: `Ok(None)` when the provider is not configured.
pub type Build = fn(&Config) -> Result<Option<Box<dyn Collector>>, ConfigError>;

impl Registered {
    /// The entry of the provider whose settings are `S`.
    pub const fn of<S: CollectorSettings>() -> Registered {
        Registered {
            name: S::NAME,
            enable: S::ENABLE,
            augment: <S as clap::Args>::augment_args,
            build: build_from_matches::<S>,
            teams: S::TEAMS,
            build_for_teams: build_for_teams::<S>,
        }
    }
}

fn build_for_teams<S: CollectorSettings>(
    config: &Config,
    teams: &[String],
) -> Result<Option<Box<dyn Collector>>, ConfigError> {
    crate::config::component_options::<S>(config, S::NAME)?
        .with_teams(teams)
        .build(config)
}

fn build_from_matches<S: CollectorSettings>(
    config: &Config,
) -> Result<Option<Box<dyn Collector>>, ConfigError> {
    crate::config::component_options::<S>(config, S::NAME)?.build(config)
}

/// Adds every provider's options to `command`.
pub fn augment(command: clap::Command) -> clap::Command {
    let command = alerts::augment(command);
    REGISTRY.iter().fold(command, |c, r| (r.augment)(c))
}

/// The names of every provider, comma-separated (for help texts).
pub fn names() -> String {
    let names: Vec<&str> = REGISTRY.iter().map(|r| r.name).collect();
    names.join(", ")
}

/// Builds the one provider called `name`: `Ok(None)` when it is not configured.
///
/// # Errors
/// A [`ConfigError`] for an unknown name or a provider configured badly.
pub fn build(name: &str, config: &Config) -> Result<Option<Box<dyn Collector>>, ConfigError> {
    let entry = REGISTRY.iter().find(|r| r.name == name).ok_or_else(|| {
        ConfigError(format!(
            "no collector is called {name:?}; known: {}",
            names()
        ))
    })?;
    (entry.build)(config)
}

/// The collectors that `config` turns on: only the demo feed with `--demo`, otherwise every
/// configured provider.
///
/// # Errors
/// A [`ConfigError`] when a provider is configured badly or none is configured.
pub fn build_all(config: &Config) -> Result<Vec<Box<dyn Collector>>, ConfigError> {
    let mut out = Vec::new();
    for r in REGISTRY {
        if (r.name == DEMO) != config.demo {
            continue;
        }
        if let Some(c) = (r.build)(config)? {
            out.push(c);
        }
    }
    if out.is_empty() {
        let ways: Vec<&str> = REGISTRY.iter().map(|r| r.enable).collect();
        return Err(ConfigError(format!(
            "no collector is configured; {}",
            ways.join(" or ")
        )));
    }
    Ok(out)
}

/// The collectors a report narrowed to one `provider` and to some `teams` reads: as
/// [`build_all`], but only `provider` when given, and with `teams` only the providers that
/// have teams, each reading those teams alone (their own team option replaced).
///
/// # Errors
/// A [`ConfigError`]: an unknown provider, one not configured, one without teams asked for
/// teams, or none left.
pub fn build_narrowed(
    config: &Config,
    provider: Option<&str>,
    teams: &[String],
) -> Result<Vec<Box<dyn Collector>>, ConfigError> {
    if provider.is_none() && teams.is_empty() {
        return build_all(config);
    }
    let with_teams: Vec<&str> = REGISTRY
        .iter()
        .filter(|r| r.teams)
        .map(|r| r.name)
        .collect();
    if let Some(p) = provider {
        let entry = REGISTRY.iter().find(|r| r.name == p).ok_or_else(|| {
            ConfigError(format!(
                "--provider {p:?} is not a provider; known: {}",
                names()
            ))
        })?;
        if (p == DEMO) != config.demo {
            return Err(ConfigError(if config.demo {
                format!("--provider {p} cannot be read with --demo; drop one of them")
            } else {
                format!("--provider {p} reads the demo feed; add --demo")
            }));
        }
        if !teams.is_empty() && !entry.teams {
            return Err(ConfigError(format!(
                "--team: {p} has no teams; teams work with {}",
                with_teams.join(", ")
            )));
        }
    }
    let mut out = Vec::new();
    for r in REGISTRY {
        if (r.name == DEMO) != config.demo || provider.is_some_and(|p| p != r.name) {
            continue;
        }
        let built = if teams.is_empty() {
            (r.build)(config)?
        } else if r.teams {
            (r.build_for_teams)(config, teams)?
        } else {
            tracing::info!(
                provider = r.name,
                "No teams in this provider; left out of a report for --team."
            );
            None
        };
        out.extend(built);
    }
    if out.is_empty() {
        return Err(ConfigError(match provider {
            Some(p) => {
                let enable = REGISTRY
                    .iter()
                    .find(|r| r.name == p)
                    .map_or("", |r| r.enable);
                format!("--provider {p} is not configured; {enable}")
            }
            None => format!(
                "--team: no configured provider has teams; teams work with {}",
                with_teams.join(", ")
            ),
        }));
    }
    Ok(out)
}

/// What one `collect` call returns.
#[derive(Debug, Default)]
pub struct Collected {
    /// The window's events, in no particular order, possibly with duplicates.
    pub events: Vec<Event>,
    /// Provider records that could not be used and were skipped (malformed entries).
    pub skipped: u64,
    /// Activity-log rows of the window that no log rule matched (counted for nobody), each row
    /// once per run of the collector; the engine reports them as `log_rows_unmatched`.
    pub unmatched_rows: u64,
    /// Parts the collector singled out and skipped because they failed the same persistent way
    /// poll after poll (an alert whose log is refused); the engine adds them to
    /// `windows_skipped`.
    pub parts_skipped: u64,
}

/// One distinct shape of activity-log row (digits, e-mails and names masked), how many rows
/// had it, and the rule that matched them (`None`: no rule, counted for nobody). What
/// `ptsd logs` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogShape {
    pub shape: String,
    /// The row `type`.
    pub kind: String,
    pub rule: Option<String>,
    pub rows: u64,
}

/// What a collector's HTTP traffic looked like, for ptsd's own metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RequestStats {
    /// Requests by status class: `2xx`, `3xx`, `4xx`, `429`, `5xx`, `error` (no answer).
    pub by_status: std::collections::BTreeMap<&'static str, u64>,
    /// Tries repeated after a 5xx, a timeout, a connection error or a bad body.
    pub retries: u64,
    /// Waits imposed by a 429 or by the request budget.
    pub rate_limit_waits: u64,
}

impl RequestStats {
    /// All requests made.
    pub fn requests(&self) -> u64 {
        self.by_status.values().sum()
    }
}

/// Why a collector could not read a window.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The provider refused the credentials (401/403).
    #[error("{provider} refused the API token (HTTP {status}){hint}")]
    Unauthorized {
        provider: &'static str,
        status: u16,
        hint: &'static str,
    },
    /// Still rate-limited after the retries allowed for one request.
    #[error("{provider} kept answering 429 (rate limited) after {tries} tries")]
    RateLimited { provider: &'static str, tries: u32 },
    /// A 5xx answer that persisted through the retries.
    #[error("{provider} answered HTTP {status} after {tries} tries")]
    Server {
        provider: &'static str,
        status: u16,
        tries: u32,
    },
    /// Another 4xx: the request was refused; the message is the provider's.
    #[error("{provider} refused the request (HTTP {status}): {message}")]
    Refused {
        provider: &'static str,
        status: u16,
        message: String,
    },
    /// A page that is not what the API documents.
    #[error("{provider} sent a malformed page: {what}")]
    Malformed {
        provider: &'static str,
        what: String,
    },
    /// The network failed (DNS, connect, timeout) through the retries.
    #[error("cannot reach {provider}: {what}")]
    Transport {
        provider: &'static str,
        what: String,
    },
    /// The window holds more records than the API lets one query page through; the engine
    /// splits the window and asks again.
    #[error(
        "{provider} window holds too many records for one query ({total:?}); it must be split"
    )]
    WindowTooLarge {
        provider: &'static str,
        total: Option<u64>,
    },
}

impl CollectError {
    /// Whether this error means the configuration is wrong (stop), not bad weather (retry later).
    pub fn is_fatal(&self) -> bool {
        matches!(self, CollectError::Unauthorized { .. })
    }

    /// Whether asking again the same way is expected to fail again (a page that is not what the
    /// API documents, a request refused with a 4xx other than 401/403/429), so that a part of a
    /// window failing this way poll after poll may be narrowed down and skipped. Bad weather
    /// (5xx, 429, timeouts) and a refused token never are.
    pub fn is_persistent(&self) -> bool {
        matches!(
            self,
            CollectError::Malformed { .. } | CollectError::Refused { .. }
        )
    }
}

/// A page as the APIs document it: a JSON object with the listing's fields. serde's derived
/// structs also take a JSON array (their fields in order), so a body like `[[[]]]` from a
/// proxy or gateway would read as a page with one malformed entry and no `more`: wrapped in
/// `Object`, anything but an object is malformed (retried, never counted as read).
pub struct Object<T>(pub T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OnlyMap<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for OnlyMap<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object (a page)")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(OnlyMap(std::marker::PhantomData))
            .map(Object)
    }
}

/// One provider.
#[async_trait]
pub trait Collector: Send {
    /// The provider's name: registry name, `provider` tag, metric segment.
    fn name(&self) -> &'static str;

    /// Checks credentials and reachability once at start.
    ///
    /// # Errors
    /// [`CollectError::Unauthorized`] for a refused token; other kinds when unreachable.
    async fn check(&mut self) -> Result<(), CollectError>;

    /// The events inside `window` (`since <= at < until`).
    ///
    /// # Errors
    /// Any [`CollectError`]; [`CollectError::WindowTooLarge`] asks the engine to split.
    async fn collect(&mut self, window: Window) -> Result<Collected, CollectError>;

    /// Tells the collector that every event before `until` has been delivered and committed,
    /// so it may skip re-reading what cannot hold anything new. A window that is read again
    /// after a failed poll was never reported here. Nothing to do by default.
    fn delivered(&mut self, _until: Timestamp) {}

    /// The distinct activity-log row shapes read since the collector was built, most frequent
    /// first (for `ptsd logs`); none by default (a provider without free-text logs).
    fn log_shapes(&self) -> Vec<LogShape> {
        Vec::new()
    }

    /// The HTTP traffic since the last call (for ptsd's own metrics); none by default.
    fn take_stats(&mut self) -> RequestStats {
        RequestStats::default()
    }
}
