//! Shared support for ptsd's integration tests: a faithful in-process fake of PagerDuty's
//! REST API ([`FakePagerDuty`]), builders for log entries in their real shape plus a
//! deterministic incident generator with the counts a correct poller must emit
//! ([`synthetic_incidents`]), the same for Opsgenie ([`FakeOpsgenie`], [`og_synthetic`]),
//! a real StatsD server to receive the daemon's output ([`StatsdPeer`]), and a real Graphite
//! (carbon-cache, whisper and graphite-web's render API) to store and query it ([`GraphitePeer`]).
//!
//! Why it lives here: every test file does `mod support;`, so each file is its own crate and
//! uses only part of this module; unused items are allowed below instead of in each file.
#![allow(dead_code, unused_imports)]

pub mod daemon;
pub mod entries;
pub mod fake_opsgenie;
pub mod fake_pagerduty;
pub mod graphite_peer;
pub mod statsd_peer;

pub use daemon::*;
pub use entries::*;
pub use fake_opsgenie::*;
pub use fake_pagerduty::*;
pub use graphite_peer::*;
pub use statsd_peer::*;
