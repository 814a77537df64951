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
    /// One self-contained page with inline SVG charts (no scripts, no external assets).
    Html,
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
    /// The teams the report was narrowed to (empty: all).
    pub teams: Vec<String>,
    /// The one provider read, when narrowed to one.
    pub provider: Option<String>,
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
    /// The flapping candidates grouped by alert category, most first.
    pub flapping_categories: Vec<FlapGroup>,
    /// The categories whose removal would have saved the most interruptions (sleep first).
    pub fix_first: Vec<FixFirst>,
    /// Interruptions by local weekday and hour in the report's zone.
    pub heatmap: Heatmap,
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
    /// The team ids it was narrowed to (`--team`); empty for all teams.
    pub teams: Vec<String>,
    /// The one provider read (`--provider`); `null` for all configured.
    pub provider: Option<String>,
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
    /// Nights (in the person's zone) with at least one sleep-hours interruption.
    pub sleep_nights: u64,
    /// The longest run of consecutive such nights.
    pub longest_night_run: u64,
    /// The same person's interruptions in the previous period.
    pub previous_interruptions: Interruptions,
    /// Signed percentage change of all interruptions; `None` when there were none before.
    pub change: Option<i64>,
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
    /// How the category reads: its titles' shape with placeholders (`CPU load <n> on <ip>`).
    pub shape: String,
    /// Pages (notifications, any channel) for the category's incidents, now and before.
    pub pages: u64,
    pub previous_pages: u64,
}

/// One of the noisiest alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Noisy {
    pub category: String,
    pub incidents: u64,
    pub example: Option<String>,
    pub shape: String,
}

/// One alert category's flapping candidates (automatic resolves within 5 minutes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlapGroup {
    pub category: String,
    pub shape: String,
    /// Incidents of the category resolved automatically within 5 minutes.
    pub flaps: u64,
    /// All incidents of the category opened in the period.
    pub incidents: u64,
    /// `100 * flaps / incidents`, rounded; `None` when no incident opened in the period.
    pub share_pct: Option<u64>,
    /// Nearest-rank median of how long those incidents stayed open, seconds.
    pub median_open_s: Option<i64>,
    /// The latest flapping incident's title.
    pub example: Option<String>,
}

/// A category whose removal would have saved interruptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixFirst {
    pub category: String,
    pub shape: String,
    /// Interruptions caused by the category's incidents, by band.
    pub interruptions: Interruptions,
    /// Pages (notifications, any channel) caused by the category's incidents.
    pub pages: u64,
    /// `100 * pages / all pages`, rounded; `None` when there were no pages.
    pub share_of_pages_pct: Option<u64>,
    /// The category's interruptions in the previous period.
    pub previous_interruptions: Interruptions,
    /// Signed percentage change of its interruptions; `None` when there were none before.
    pub change: Option<i64>,
}

/// Interruptions by local weekday and hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heatmap {
    /// The zone the hours are read in (the report's zone).
    pub zone: String,
    /// Seven rows, Monday first.
    pub days: Vec<HeatmapDay>,
}

/// One weekday of the heatmap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeatmapDay {
    /// `Mon` … `Sun`.
    pub day: String,
    /// 24 counts, hour 00 first.
    pub hours: Vec<u64>,
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
    /// Acknowledgements at most 5 minutes after the incident opened.
    pub acked_within_5m: u64,
    /// `100 * acked_within_5m / time_to_ack.count`, rounded; `None` without acknowledgements.
    pub acked_within_5m_pct: Option<u64>,
    /// Per service, by name.
    pub services: Vec<ServiceResponse>,
}

/// One service's response times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceResponse {
    pub service: String,
    pub time_to_ack: Stats,
    pub time_to_resolve: Stats,
    /// As in [`Response`].
    pub acked_within_5m: u64,
    pub acked_within_5m_pct: Option<u64>,
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
