//! ptsd, the Pager Trauma Statistics Daemon: polls on-call providers and emits per-user
//! on-call load as metrics.
//!
//! # Architecture
//!
//! Three rooms, and data flows one way through them:
//!
//! ```text
//!  collectors/              src/ (the engine)                        outputters/
//!  one per provider ─┐ events ┌─ engine: windows, cursor, lateness, ─┐ batch ┌─ one per sink
//!  (registry) ───────┼──────▶ │  dedupe, splitting, state, shutdown  │─────▶ ├─ (registry)
//!                    ┘        └─ analysis → schema: named series ────┘       ┘
//! ```
//!
//! - A [`collectors::Collector`] turns one provider's API into normalised [`event::Event`]s for
//!   a closed time window. It knows HTTP and JSON and nothing of metrics.
//! - The [`engine`] owns time: which window to read, what was already counted
//!   ([`state`]), when to split a window, when to stop. The on-call [`analysis`] (interruptions,
//!   hour bands, categories, response times) reads the events; through [`schema`], the only
//!   module that knows metric names and tags, they become an [`aggregate::MetricBatch`].
//!   [`self_metrics`] adds ptsd's own, [`status`] keeps the liveness file of `ptsd health`.
//! - An [`outputters::Sink`] delivers one batch per poll in its wire format: as it is
//!   ([`outputters::Outputter`]) or as whole slot totals at the events' own time
//!   ([`outputters::slots`]). It knows nothing of providers.
//! - The [`report`] sits above the engine: `ptsd report` reads history through
//!   [`engine::history`] and prints the handoff digest; [`logs`] (`ptsd logs`) reads it the same
//!   way and prints the activity-log row shapes the collectors saw, with the rule of each;
//!   [`progress`] draws their progress bar on a terminal.
//!
//! Layers, lowest first (each uses only those below it): [`event`], [`secret`], [`config`]
//! (the engine's own settings) → [`analysis`], [`schema`], [`collectors`], [`outputters`] →
//! [`state`], [`aggregate`], [`engine`] → [`report`], [`logs`], [`progress`] → [`cli`] (joins every component's options
//! into one command line) → the binary.
//!
//! Adding a provider: one file or folder in `collectors/` and one registry line in
//! `collectors/mod.rs`; the provider declares its own options. Adding a sink: the same in
//! `outputters/`.
//!
//! The `collectors/` and `outputters/` folders sit beside `src/` (the project's required top
//! level) and are compiled into this one crate through the two `#[path]` attributes below, so
//! the whole daemon is one package with one `Cargo.toml` and one test command.
//! `tests/rooms.rs` checks the boundaries the compiler cannot: a collector never uses an
//! outputter, the engine's state or the schema; an outputter never names a provider; `src/`
//! names no provider.

pub mod aggregate;
pub mod analysis;
pub mod cli;
pub mod clock;
pub mod config;
pub mod engine;
pub mod event;
pub mod logs;
pub mod progress;
pub mod report;
pub mod schema;
pub mod secret;
pub mod self_metrics;
pub mod state;
pub mod status;

#[path = "../collectors/mod.rs"]
pub mod collectors;
#[path = "../outputters/mod.rs"]
pub mod outputters;
