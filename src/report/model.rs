//! The report's data types: the [`Scope`] it covers, and the [`Report`] that `build` produces
//! and `render` prints (serialised as is for JSON), with what each field means.

use jiff::tz::TimeZone;
use serde::Serialize;

use crate::event::Window;

/// How [`render`](super::render) prints a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Markdown,
    Json,
    Csv,
}

/// Everything the report needs besides the events.
pub struct Scope {
    /// The reported period `[since, until)`.
    pub current: Window,
    /// The period before it, same length, for trends.
    pub previous: Window,
    /// The account zone: shift boundaries and the timestamps shown.
    pub zone: TimeZone,
    /// How people are named (as in the metrics).
    pub user_key: crate::schema::UserKey,
}

/// The handoff report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub period: Period,
    pub summary: Summary,
    /// The top categories by incidents in the period.
    pub noisiest: Vec<Noisy>,
    /// Per person, most interrupted first.
    pub people: Vec<PersonLoad>,
    /// Per service, most incidents first, with the trend.
    pub services: Vec<ServiceTrend>,
    /// Per alert category, most incidents first, with the trend.
    pub categories: Vec<CategoryTrend>,
    /// Automatic resolves within 5 minutes, in time order.
    pub flapping: Vec<Flap>,
    pub response: Response,
    pub shifts: Shifts,
}

/// The reported period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    /// First instant inside, RFC 3339 UTC.
    pub since: String,
    /// First instant after, RFC 3339 UTC.
    pub until: String,
    /// The account zone's IANA name.
    pub zone: String,
}

/// The headline numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub incidents: u64,
    pub previous_incidents: u64,
    /// Signed percentage change of incidents; `None` when the previous period had none.
    pub change: Option<i64>,
    pub pages: u64,
    /// Everyone's interruptions together.
    pub interruptions: Interruptions,
}

/// Interruptions by hour band.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Interruptions {
    pub sleep: u64,
    pub business: u64,
    pub off: u64,
    /// All interruptions (also any the analysis gave no band).
    pub total: u64,
}

/// One person's on-call load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonLoad {
    pub provider: String,
    /// The person as the metrics name them (`PTSD_USER_KEY`).
    pub person: String,
    pub pages: u64,
    pub interruptions: Interruptions,
    pub acknowledgements: u64,
    pub escalations: u64,
    pub assignments: u64,
    pub resolves: u64,
}

/// One service's incidents, now and before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceTrend {
    pub service: String,
    pub incidents: u64,
    pub previous: u64,
    /// Signed percentage; `None` when `previous` is 0.
    pub change: Option<i64>,
}

/// One alert category's incidents, now and before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryTrend {
    pub category: String,
    pub incidents: u64,
    pub previous: u64,
    /// Signed percentage; `None` when `previous` is 0.
    pub change: Option<i64>,
    /// The latest incident title in the category (this period, else the previous one).
    pub example: Option<String>,
}

/// One of the noisiest alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Noisy {
    pub category: String,
    pub incidents: u64,
    pub example: Option<String>,
}

/// An incident resolved automatically within 5 minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flap {
    /// When it was resolved, RFC 3339 with the account zone's offset.
    pub resolved_at: String,
    pub provider: String,
    pub incident: String,
    pub title: Option<String>,
    pub service: String,
    pub resolved_after_s: i64,
}

/// Time to acknowledge and to resolve, overall and per service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Response {
    pub time_to_ack: Stats,
    pub time_to_resolve: Stats,
    /// Per service, by name.
    pub services: Vec<ServiceResponse>,
}

/// One service's response times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceResponse {
    pub service: String,
    pub time_to_ack: Stats,
    pub time_to_resolve: Stats,
}

/// A sample's size and nearest-rank median and 95th percentile, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub count: u64,
    pub median_s: Option<i64>,
    pub p95_s: Option<i64>,
}

/// Incidents per 12-hour shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shifts {
    /// How many shifts overlap the period.
    pub total: u64,
    /// How many of them had more than 2 incidents.
    pub over_limit: u64,
    /// The busiest shifts (at least one incident), most incidents first, ties earlier first.
    pub busiest: Vec<Shift>,
    /// Every shift overlapping the period, in time order.
    pub all: Vec<Shift>,
}

/// One shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shift {
    /// RFC 3339 with the account zone's offset.
    pub start: String,
    /// RFC 3339 with the account zone's offset.
    pub end: String,
    /// Its length in seconds (12 hours, 11 or 13 across a daylight-saving change).
    pub length_s: i64,
    /// Incidents opened in it, inside the period.
    pub incidents: u64,
    /// More than 2 incidents.
    pub over_limit: bool,
}
