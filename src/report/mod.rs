//! The on-call handoff report (`ptsd report`): what a team lead brings to the weekly meeting.
//!
//! The command reads the providers over the reported period and the one before it, runs every
//! event through the same on-call analysis as the daemon ([`crate::analysis`]) and hands the
//! result here. [`build()`] only counts and ranks what the analysis found (it does not re-decide
//! interruptions, bands, categories or response times) and names people as the metrics do
//! ([`crate::schema::person_value`]), so the report and the dashboards agree. [`render`] prints
//! it as Markdown (for Slack, Confluence, GitHub; every section bounded to [`SECTION_ROWS`]
//! rows and one line for the rest), a self-contained HTML page with SVG charts, JSON, or a long
//! CSV table for notebooks.
//!
//! Definitions (the reported period `[since, until)` unless said otherwise):
//!
//! - **Incident**: a `Triggered` event; its service is the event's `service`, its category the
//!   analysis' `category` (a trigger without a category counts for its service only).
//! - **Page**: a `Notified` event, any channel, e-mail included.
//! - **Interruption**: a page the analysis marked as one (push, phone or SMS, bursts within
//!   60 s once), by the hour band it found (`sleep`, `business`, `off`); `total` counts all.
//! - **Acknowledgements, escalations, assignments, resolves**: events naming the person
//!   (automatic acknowledgements and resolves are nobody's).
//! - **Person**: provider plus the metric value of the person (`PTSD_USER_KEY`).
//! - **Change**: `100 * (now - previous) / previous`, rounded half away from zero; none when
//!   the previous period had no incidents (shown `new`); `gone` when now is 0.
//! - **Example**: the title of the latest incident of a category in the period, else in the
//!   previous one.
//! - **Noisiest alerts**: the 5 categories with the most incidents in the period (ties by name).
//! - **Flapping candidate**: an incident resolved automatically (no person) at most 5 minutes
//!   after it opened; grouped per category with their share of its incidents and median time open.
//! - **Shape**: how a category reads (`CPU load <n> on <ip>`), as the analysis gave it with each
//!   trigger; the commonest in the period.
//! - **Cause**: a page counts for the category of its incident's trigger (`(unknown)` when the
//!   trigger was not read). **What to fix first**: the 3 categories whose pages interrupted
//!   most, sleep hours first.
//! - **Night**: the stretch of sleep hours beginning on a local date in the person's zone, as the
//!   analysis found it; nights with a sleep interruption and the longest run of them in a row.
//! - **Heatmap**: interruptions by local weekday and hour in the account zone.
//! - **Response times**: time to acknowledge (first acknowledgement) and to resolve, as the
//!   analysis measured them, in whole seconds (rounded); median and p95 are nearest-rank
//!   percentiles, the sample at rank `ceil(p * n)` (1-based) of the sorted samples.
//! - **Shift**: 12 hours from 08:00 or 20:00 local time in the account zone. Boundaries are
//!   wall-clock times, so the shift that spans a daylight-saving change lasts 11 hours (clocks
//!   go forward) or 13 (clocks go back). Every shift overlapping the period is listed; incidents
//!   are counted inside the period only, so the first and last shift may be cut short.
//! - **Over the SRE limit**: more than 2 incidents in one shift (Google's SRE book: at most two
//!   incidents per 12-hour shift). Busiest shifts: the 5 with the most incidents (at least
//!   one), ties earlier first.
//!
//! Timestamps are RFC 3339: the period's bounds in UTC, shift bounds and resolve times with the
//! account zone's offset (e.g. `2026-03-02T20:00:00-05:00`).
//!
//! The code, by concern: `model.rs` holds the report's data types; `build.rs` is [`build()`],
//! helped by `people.rs` (per person, nights), `causes.rs` (pages and flaps traced to
//! categories), `heatmap.rs` (the grid and its text) and `shifts.rs` (the shift calendar);
//! `stats.rs` the changes, shares, percentiles and durations; `markdown.rs`, `html.rs` and
//! `csv.rs` the formats [`render`] prints (JSON is serde, here), the first two writing the same
//! sections (`tables.rs`: titles, columns, bounded rows) in the same words (`text.rs`: counts,
//! durations, trends, local times); `request.rs` the `report` subcommand's options; `tests.rs`
//! the end-to-end tests over a known week and `busy_tests.rs` the bound on a busy one.

use jiff::SignedDuration;

mod build;
#[cfg(test)]
mod busy_tests;
mod causes;
mod csv;
mod heatmap;
mod html;
mod markdown;
mod model;
mod people;
mod request;
mod shifts;
mod stats;
mod tables;
#[cfg(test)]
mod tests;
mod text;

pub use build::build;
pub use model::{
    CategoryTrend, FixFirst, Flap, FlapGroup, Format, Heatmap, HeatmapDay, Interruptions, Noisy,
    Period, PersonLoad, Report, Response, Scope, ServiceResponse, ServiceTrend, Shift, Shifts,
    Stats, Summary,
};
pub use request::{ReportArgs, ReportRequest};

/// Google SRE book: at most this many incidents per 12-hour on-call shift.
pub const SRE_SHIFT_LIMIT: u64 = 2;
/// An automatic resolve at most this long after the incident opened marks a flapping alert.
pub const FLAP_WITHIN: SignedDuration = SignedDuration::from_secs(5 * 60);
/// How many noisiest alerts and busiest shifts are listed.
pub const TOP: usize = 5;
/// How many rows a Markdown or HTML section shows before "and N more (M incidents)".
pub const SECTION_ROWS: usize = 10;
/// An acknowledgement at most this many seconds after opening is "acknowledged within 5 minutes".
pub const WITHIN_5M_S: i64 = 5 * 60;

/// Renders it; the output ends with a newline.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Markdown => markdown::render(report),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report)
                .expect("a report is plain data and always serialises");
            s.push('\n');
            s
        }
        Format::Csv => csv::render(report),
        Format::Html => html::render(report),
    }
}
