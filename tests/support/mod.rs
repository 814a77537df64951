//! Shared support for ptsd's integration tests: a faithful in-process fake of PagerDuty's
//! REST API ([`FakePagerDuty`]), builders for log entries in their real shape plus a
//! deterministic incident generator with the counts a correct poller must emit
//! ([`synthetic_incidents`]), the same for Opsgenie ([`FakeOpsgenie`], [`og_synthetic`]) and
//! Jira Service Management Operations ([`FakeJsm`], [`jsm_synthetic`]),
//! a real StatsD server to receive the daemon's output ([`StatsdPeer`]), and a real Graphite
//! (carbon-cache, whisper and graphite-web's render API) to store and query it ([`GraphitePeer`]),
//! and a fake DogStatsD v1.3 receiver with the semantics of Datadog's intake ([`FakeIntake`]).
//!
//! Why it lives here: every test file does `mod support;`, so each file is its own crate and
//! uses only part of this module; unused items are allowed below instead of in each file.
#![allow(dead_code, unused_imports)]

pub mod capture;
pub mod carbon;
pub mod common;
pub mod daemon;
pub mod dogstatsd;
pub mod graphite_peer;
pub mod jsm;
pub mod opsgenie;
pub mod pagerduty;
pub mod statsd_peer;

pub use capture::*;
pub use carbon::*;
pub use common::{parse_query, RecordedRequest};
pub use daemon::*;
pub use dogstatsd::*;
pub use graphite_peer::*;
pub use jsm::*;
pub use opsgenie::*;
pub use pagerduty::*;
pub use statsd_peer::*;
