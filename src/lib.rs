//! ptsd, the Pager Trauma Statistics Daemon: polls on-call providers and emits per-user
//! on-call load as StatsD counters.
//!
//! # Architecture
//!
//! Three rooms, and data flows one way through them:
//!
//! ```text
//!  collectors/           src/ (the engine)                         outputters/
//!  pagerduty ─┐   events  ┌─ engine: windows, cursor, lateness, ─┐  batch  ┌─ statsd
//!  demo ──────┼─────────▶ │  dedupe, splitting, state, shutdown  │───────▶ ├─ stdout
//!  (opsgenie) ┘          └─ schema: events → named series ──────┘          ┘
//! ```
//!
//! - A [`collectors::Collector`] turns one provider's API into normalised [`event::Event`]s for
//!   a closed time window. It knows HTTP and JSON and nothing of StatsD.
//! - The [`engine`] owns time: which window to read, what was already counted
//!   ([`state`]), when to split a window, when to stop. Through [`schema`], the only module that
//!   knows metric names and tags, it turns events into an [`aggregate::MetricBatch`].
//! - An [`outputters::Outputter`] delivers one batch per poll in its wire format. It knows
//!   nothing of providers.
//!
//! Adding a provider: one file in `collectors/` and one line in `collectors/mod.rs`.
//! Adding a sink: one file in `outputters/` and one line in `outputters/mod.rs`.
//!
//! The `collectors/` and `outputters/` folders sit beside `src/` (the project's required top
//! level) and are compiled into this one crate through the two `#[path]` attributes below, so
//! the whole daemon is one package with one `Cargo.toml` and one test command.
//! `tests/rooms.rs` checks that a collector never uses an outputter and vice versa.

pub mod aggregate;
pub mod analysis;
pub mod cli;
pub mod config;
pub mod engine;
pub mod event;
pub mod report;
pub mod schema;
pub mod secret;
pub mod state;
pub mod status;

#[path = "../collectors/mod.rs"]
pub mod collectors;
#[path = "../outputters/mod.rs"]
pub mod outputters;
