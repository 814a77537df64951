//! The on-call handoff report (`ptsd report`): what a team lead brings to the weekly meeting.
//!
//! The command reads the providers over the reported period and the one before it, runs every
//! event through the same on-call analysis as the daemon ([`crate::analysis`]) and hands the
//! result here. [`build`] only counts and ranks what the analysis found (it does not re-decide
//! interruptions, bands, categories or response times) and names people as the metrics do
//! ([`crate::schema::person_value`]), so the report and the dashboards agree. [`render`] prints
//! it as Markdown (for Slack, Confluence, GitHub), JSON, or a long CSV table for notebooks.
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
//!   after it opened.
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

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};
use serde::Serialize;

use crate::event::{EventKind, Window};
use crate::analysis::hours::Band;
use crate::analysis::{Analysed, Timing};
use crate::schema::person_value;

mod request;
pub use request::{ReportArgs, ReportRequest};

/// Google SRE book: at most this many incidents per 12-hour on-call shift.
pub const SRE_SHIFT_LIMIT: u64 = 2;
/// An automatic resolve at most this long after the incident opened marks a flapping alert.
pub const FLAP_WITHIN: SignedDuration = SignedDuration::from_secs(5 * 60);
/// How many noisiest alerts and busiest shifts are listed.
pub const TOP: usize = 5;
/// Shifts start at these local hours.
const SHIFT_STARTS: [i8; 2] = [8, 20];
/// Markdown cells longer than this many characters are cut, ending in `…`.
const CELL_MAX_CHARS: usize = 80;

/// How [`render`] prints a report.
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

// ---------------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------------

/// Incidents of a service or category, now and before, with the latest titles.
#[derive(Default)]
struct Tally {
    now: u64,
    previous: u64,
    latest_now: Option<(Timestamp, String)>,
    latest_previous: Option<(Timestamp, String)>,
}

impl Tally {
    fn count(&mut self, current: bool, at: Timestamp, title: Option<&str>) {
        let (n, latest) = if current {
            (&mut self.now, &mut self.latest_now)
        } else {
            (&mut self.previous, &mut self.latest_previous)
        };
        *n += 1;
        if let Some(title) = title {
            // Later events win ties: the input is in time order.
            if latest.as_ref().is_none_or(|(t, _)| at >= *t) {
                *latest = Some((at, title.to_string()));
            }
        }
    }

    fn example(&self) -> Option<String> {
        self.latest_now
            .as_ref()
            .or(self.latest_previous.as_ref())
            .map(|(_, title)| title.clone())
    }
}

/// Builds the report. `events` cover both windows, sorted by time; events outside both are ignored.
pub fn build(scope: &Scope, events: &[Analysed]) -> Report {
    let mut people: BTreeMap<(String, String), PersonLoad> = BTreeMap::new();
    let mut services: BTreeMap<String, Tally> = BTreeMap::new();
    let mut categories: BTreeMap<String, Tally> = BTreeMap::new();
    let mut flaps: Vec<(Timestamp, Flap)> = Vec::new();
    let mut ack_samples: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut resolve_samples: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut triggers: Vec<Timestamp> = Vec::new();

    for a in events {
        let at = a.event.at;
        let current = scope.current.contains(at);
        if !current && !scope.previous.contains(at) {
            continue;
        }
        let title = a.event.incident.as_ref().and_then(|i| i.title.as_deref());
        if let EventKind::Triggered { service, .. } = &a.event.kind {
            services
                .entry(service.clone())
                .or_default()
                .count(current, at, title);
            if let Some(category) = &a.found.category {
                categories
                    .entry(category.clone())
                    .or_default()
                    .count(current, at, title);
            }
            if current {
                triggers.push(at);
            }
        }
        if !current {
            continue;
        }

        // People.
        let person = match &a.event.kind {
            EventKind::Notified { user, .. }
            | EventKind::Assigned { user }
            | EventKind::Escalated { user } => Some(user),
            EventKind::Acknowledged { user } | EventKind::Resolved { user } => user.as_ref(),
            EventKind::Triggered { .. } => None,
        };
        if let Some(person) = person {
            let name = person_value(person, scope.user_key);
            let load = people
                .entry((a.provider.clone(), name.clone()))
                .or_insert_with(|| PersonLoad {
                    provider: a.provider.clone(),
                    person: name,
                    pages: 0,
                    interruptions: Interruptions::default(),
                    acknowledgements: 0,
                    escalations: 0,
                    assignments: 0,
                    resolves: 0,
                });
            match &a.event.kind {
                EventKind::Notified { .. } => {
                    load.pages += 1;
                    if a.found.interruption {
                        load.interruptions.add(a.found.band);
                    }
                }
                EventKind::Acknowledged { .. } => load.acknowledgements += 1,
                EventKind::Escalated { .. } => load.escalations += 1,
                EventKind::Assigned { .. } => load.assignments += 1,
                EventKind::Resolved { .. } => load.resolves += 1,
                EventKind::Triggered { .. } => {}
            }
        }

        // Response times.
        if let Some(t) = &a.found.time_to_ack {
            ack_samples
                .entry(t.service.clone())
                .or_default()
                .push(seconds(t.duration));
        }
        if let Some(t) = &a.found.time_to_resolve {
            resolve_samples
                .entry(t.service.clone())
                .or_default()
                .push(seconds(t.duration));
        }

        // Flapping.
        if let (EventKind::Resolved { user: None }, Some(t)) =
            (&a.event.kind, &a.found.time_to_resolve)
        {
            if is_flap(t) {
                flaps.push((
                    at,
                    Flap {
                        resolved_at: with_offset(at, &scope.zone),
                        provider: a.provider.clone(),
                        incident: a
                            .event
                            .incident
                            .as_ref()
                            .map(|i| i.id.clone())
                            .unwrap_or_default(),
                        title: title.map(str::to_string),
                        service: t.service.clone(),
                        resolved_after_s: seconds(t.duration),
                    },
                ));
            }
        }
    }

    let mut people: Vec<PersonLoad> = people.into_values().collect();
    people.sort_by(|a, b| {
        (
            Reverse(a.interruptions.total),
            Reverse(a.pages),
            &a.person,
            &a.provider,
        )
            .cmp(&(
                Reverse(b.interruptions.total),
                Reverse(b.pages),
                &b.person,
                &b.provider,
            ))
    });

    let mut service_rows: Vec<ServiceTrend> = services
        .iter()
        .map(|(name, t)| ServiceTrend {
            service: name.clone(),
            incidents: t.now,
            previous: t.previous,
            change: change(t.now, t.previous),
        })
        .collect();
    // The map is in name order and the sort is stable: ties stay by name.
    service_rows.sort_by_key(|s| Reverse(s.incidents));

    let mut category_rows: Vec<CategoryTrend> = categories
        .iter()
        .map(|(name, t)| CategoryTrend {
            category: name.clone(),
            incidents: t.now,
            previous: t.previous,
            change: change(t.now, t.previous),
            example: t.example(),
        })
        .collect();
    category_rows.sort_by_key(|c| Reverse(c.incidents));
    let noisiest = category_rows
        .iter()
        .filter(|c| c.incidents > 0)
        .take(TOP)
        .map(|c| Noisy {
            category: c.category.clone(),
            incidents: c.incidents,
            example: c.example.clone(),
        })
        .collect();

    flaps.sort_by_key(|(at, _)| *at);
    let flapping = flaps.into_iter().map(|(_, f)| f).collect();

    let mut response_services: Vec<String> = ack_samples
        .keys()
        .chain(resolve_samples.keys())
        .cloned()
        .collect();
    response_services.sort();
    response_services.dedup();
    let all_acks: Vec<i64> = ack_samples.values().flatten().copied().collect();
    let all_resolves: Vec<i64> = resolve_samples.values().flatten().copied().collect();
    let response = Response {
        time_to_ack: stats(all_acks),
        time_to_resolve: stats(all_resolves),
        services: response_services
            .into_iter()
            .map(|s| ServiceResponse {
                time_to_ack: stats(ack_samples.get(&s).cloned().unwrap_or_default()),
                time_to_resolve: stats(resolve_samples.get(&s).cloned().unwrap_or_default()),
                service: s,
            })
            .collect(),
    };

    let shifts = shifts(scope, &triggers);

    let incidents = service_rows.iter().map(|s| s.incidents).sum();
    let previous_incidents = service_rows.iter().map(|s| s.previous).sum();
    let mut interruptions = Interruptions::default();
    for p in &people {
        interruptions.sleep += p.interruptions.sleep;
        interruptions.business += p.interruptions.business;
        interruptions.off += p.interruptions.off;
        interruptions.total += p.interruptions.total;
    }
    let summary = Summary {
        incidents,
        previous_incidents,
        change: change(incidents, previous_incidents),
        pages: people.iter().map(|p| p.pages).sum(),
        interruptions,
    };

    Report {
        period: Period {
            since: scope.current.since.to_string(),
            until: scope.current.until.to_string(),
            zone: scope.zone.iana_name().unwrap_or("UTC").to_string(),
        },
        summary,
        noisiest,
        people,
        services: service_rows,
        categories: category_rows,
        flapping,
        response,
        shifts,
    }
}

impl Interruptions {
    fn add(&mut self, band: Option<Band>) {
        self.total += 1;
        match band {
            Some(Band::Sleep) => self.sleep += 1,
            Some(Band::Business) => self.business += 1,
            Some(Band::Off) => self.off += 1,
            None => {}
        }
    }
}

/// Whether an automatic resolve this long after opening is a flapping candidate.
fn is_flap(t: &Timing) -> bool {
    !t.duration.is_negative() && t.duration <= FLAP_WITHIN
}

/// A duration in whole seconds, rounded half up.
fn seconds(d: SignedDuration) -> i64 {
    let ms = d.as_millis();
    i64::try_from((ms + 500).div_euclid(1000)).unwrap_or(i64::MAX)
}

/// `100 * (now - previous) / previous`, rounded half away from zero; `None` when `previous` is 0.
fn change(now: u64, previous: u64) -> Option<i64> {
    if previous == 0 {
        return None;
    }
    let n = 100 * (i128::from(now) - i128::from(previous));
    let d = i128::from(previous);
    let rounded = if n >= 0 {
        (2 * n + d) / (2 * d)
    } else {
        (2 * n - d) / (2 * d)
    };
    Some(i64::try_from(rounded).unwrap_or(i64::MAX))
}

/// The nearest-rank `pct` percentile of sorted `samples`: the value at rank `ceil(pct/100 * n)`.
fn nearest_rank(sorted: &[i64], pct: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

fn stats(mut samples: Vec<i64>) -> Stats {
    samples.sort_unstable();
    Stats {
        count: samples.len() as u64,
        median_s: nearest_rank(&samples, 50),
        p95_s: nearest_rank(&samples, 95),
    }
}

/// `at` in RFC 3339 with `zone`'s offset at that instant, e.g. `2026-03-02T20:00:00-05:00`.
fn with_offset(at: Timestamp, zone: &TimeZone) -> String {
    at.display_with_offset(zone.to_offset(at)).to_string()
}

/// Local `hour`:00 on `date` in `zone` (a time in a gap moves forward, in a fold is the first).
fn local(date: Date, hour: i8, zone: &TimeZone) -> Option<Zoned> {
    date.at(hour, 0, 0, 0).to_zoned(zone.clone()).ok()
}

/// Every shift overlapping the current period, with the incidents opened in it.
fn shifts(scope: &Scope, triggers: &[Timestamp]) -> Shifts {
    let Window { since, until } = scope.current;
    let mut all = Vec::new();
    if since < until {
        // The shift running at `since` may have started the evening before.
        let mut day = since.to_zoned(scope.zone.clone()).date().yesterday().ok();
        'days: while let Some(date) = day {
            for (i, hour) in SHIFT_STARTS.iter().enumerate() {
                let end = match SHIFT_STARTS.get(i + 1) {
                    Some(next) => local(date, *next, &scope.zone),
                    None => date
                        .tomorrow()
                        .ok()
                        .and_then(|d| local(d, SHIFT_STARTS[0], &scope.zone)),
                };
                let (Some(start), Some(end)) = (local(date, *hour, &scope.zone), end) else {
                    break 'days;
                };
                let (start, end) = (start.timestamp(), end.timestamp());
                if start >= until {
                    break 'days;
                }
                if end <= since {
                    continue;
                }
                let incidents = triggers
                    .iter()
                    .filter(|t| start <= **t && **t < end)
                    .count() as u64;
                all.push(Shift {
                    start: with_offset(start, &scope.zone),
                    end: with_offset(end, &scope.zone),
                    length_s: seconds(end.duration_since(start)),
                    incidents,
                    over_limit: incidents > SRE_SHIFT_LIMIT,
                });
            }
            day = date.tomorrow().ok();
        }
    }
    let mut busiest: Vec<Shift> = all.iter().filter(|s| s.incidents > 0).cloned().collect();
    // Stable: ties stay in time order.
    busiest.sort_by_key(|s| Reverse(s.incidents));
    busiest.truncate(TOP);
    Shifts {
        total: all.len() as u64,
        over_limit: all.iter().filter(|s| s.over_limit).count() as u64,
        busiest,
        all,
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

/// Renders it; the output ends with a newline.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Markdown => markdown(report),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report)
                .expect("a report is plain data and always serialises");
            s.push('\n');
            s
        }
        Format::Csv => csv(report),
    }
}

/// `n thing` or `n things`.
fn plural(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("{n} {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// A duration for people: `45s`, `3m 20s`, `1h 05m`, `2d 3h`.
fn human(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let text = if s < 60 {
        format!("{s}s")
    } else if s < 3_600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {:02}m", s / 3_600, s % 3_600 / 60)
    } else {
        format!("{}d {}h", s / 86_400, s % 86_400 / 3_600)
    };
    format!("{sign}{text}")
}

/// A trend for people: `+25%`, `-40%`, `0%`, `new` (none before), `gone` (none now).
fn trend(now: u64, previous: u64, change: Option<i64>) -> String {
    match change {
        _ if previous > 0 && now == 0 => "gone".into(),
        None if now > 0 => "new".into(),
        None => "-".into(),
        Some(0) => "0%".into(),
        Some(c) => format!("{c:+}%"),
    }
}

/// Text made safe for a Markdown table cell: `|` escaped, line breaks and other control
/// characters made spaces, cut at 80 characters with `…`.
fn cell(raw: &str) -> String {
    let flat: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    let cut: String = if flat.chars().count() > CELL_MAX_CHARS {
        let s: String = flat.chars().take(CELL_MAX_CHARS - 1).collect();
        let mut s = s.trim_end().to_string();
        s.push('…');
        s
    } else {
        flat.to_string()
    };
    // `\|` escapes the pipe; backslashes right before a pipe are doubled first, so `\|` in a
    // title stays text (`\\\|`) under every reading of the escape.
    let mut out = String::with_capacity(cut.len() + 8);
    let mut backslashes = 0;
    for c in cut.chars() {
        match c {
            '\\' => backslashes += 1,
            '|' => {
                out.push_str(&"\\".repeat(2 * backslashes + 1));
                out.push('|');
                backslashes = 0;
            }
            _ => {
                out.push_str(&"\\".repeat(backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.push_str(&"\\".repeat(backslashes));
    out
}

/// An RFC 3339 time as a local wall-clock reading in `zone`, e.g. `Sat 2026-03-07 20:00 EST`
/// (the zone's abbreviation shows daylight saving); the text itself when it does not parse.
fn wall(rfc3339: &str, zone: &TimeZone) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(t) => t
            .to_zoned(zone.clone())
            .strftime("%a %Y-%m-%d %H:%M %Z")
            .to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// Column alignment.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Appends a pipe table, or `None this period.` when there are no rows.
fn table(out: &mut String, columns: &[(&str, Align)], rows: &[Vec<String>]) {
    if rows.is_empty() {
        out.push_str("None this period.\n");
        return;
    }
    let line = |cells: &mut dyn Iterator<Item = String>| {
        let cells: Vec<String> = cells.collect();
        format!("| {} |\n", cells.join(" | "))
    };
    out.push_str(&line(&mut columns.iter().map(|(h, _)| (*h).to_string())));
    let seps: Vec<&str> = columns
        .iter()
        .map(|(_, a)| match a {
            Align::Left => "---",
            Align::Right => "---:",
        })
        .collect();
    let _ = writeln!(out, "|{}|", seps.join("|"));
    for row in rows {
        out.push_str(&line(&mut row.iter().cloned()));
    }
}

fn markdown(r: &Report) -> String {
    use Align::{Left as L, Right as R};
    let zone = TimeZone::get(&r.period.zone).unwrap_or(TimeZone::UTC);
    let local_date = |rfc: &str, back: bool| -> String {
        match rfc.parse::<Timestamp>() {
            Ok(t) => {
                // The until bound is exclusive: show the day of the last instant inside.
                let t = if back {
                    t.checked_sub(SignedDuration::from_nanos(1)).unwrap_or(t)
                } else {
                    t
                };
                t.to_zoned(zone.clone()).date().to_string()
            }
            Err(_) => rfc.to_string(),
        }
    };
    let dash = || "-".to_string();
    let text = |v: &Option<String>| v.as_deref().map(cell).unwrap_or_default();
    let dur = |v: Option<i64>| v.map(human).unwrap_or_else(dash);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# On-call handoff: {} to {} ({})",
        local_date(&r.period.since, false),
        local_date(&r.period.until, true),
        cell(&r.period.zone)
    );
    out.push('\n');
    let s = &r.summary;
    let previous = match s.change {
        Some(_) => format!(
            "previous period: {}, {}",
            s.previous_incidents,
            trend(s.incidents, s.previous_incidents, s.change)
        ),
        None => format!("previous period: {}", s.previous_incidents),
    };
    let _ = writeln!(
        out,
        "{} ({previous}). {}, {} of them in sleep hours. {} of {} over the SRE limit of {} incidents per 12-hour shift.",
        plural(s.incidents, "incident"),
        plural(s.interruptions.total, "interruption"),
        s.interruptions.sleep,
        r.shifts.over_limit,
        plural(r.shifts.total, "shift"),
        SRE_SHIFT_LIMIT,
    );

    out.push_str("\n## Noisiest alerts\n\n");
    let rows: Vec<Vec<String>> = r
        .noisiest
        .iter()
        .enumerate()
        .map(|(i, n)| {
            vec![
                (i + 1).to_string(),
                cell(&n.category),
                n.incidents.to_string(),
                text(&n.example),
            ]
        })
        .collect();
    table(
        &mut out,
        &[("#", R), ("Category", L), ("Incidents", R), ("Example", L)],
        &rows,
    );

    out.push_str("\n## People\n\n");
    let rows: Vec<Vec<String>> = r
        .people
        .iter()
        .map(|p| {
            vec![
                cell(&p.person),
                cell(&p.provider),
                p.pages.to_string(),
                p.interruptions.total.to_string(),
                p.interruptions.sleep.to_string(),
                p.interruptions.business.to_string(),
                p.interruptions.off.to_string(),
                p.acknowledgements.to_string(),
                p.escalations.to_string(),
                p.assignments.to_string(),
                p.resolves.to_string(),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            ("Person", L),
            ("Provider", L),
            ("Pages", R),
            ("Interruptions", R),
            ("Sleep", R),
            ("Business", R),
            ("Off", R),
            ("Acks", R),
            ("Escalations", R),
            ("Assignments", R),
            ("Resolves", R),
        ],
        &rows,
    );

    out.push_str("\n## Services\n\n");
    let rows: Vec<Vec<String>> = r
        .services
        .iter()
        .map(|s| {
            vec![
                cell(&s.service),
                s.incidents.to_string(),
                s.previous.to_string(),
                trend(s.incidents, s.previous, s.change),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            ("Service", L),
            ("Incidents", R),
            ("Previous", R),
            ("Trend", R),
        ],
        &rows,
    );

    out.push_str("\n## Categories\n\n");
    let rows: Vec<Vec<String>> = r
        .categories
        .iter()
        .map(|c| {
            vec![
                cell(&c.category),
                c.incidents.to_string(),
                c.previous.to_string(),
                trend(c.incidents, c.previous, c.change),
                text(&c.example),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            ("Category", L),
            ("Incidents", R),
            ("Previous", R),
            ("Trend", R),
            ("Example", L),
        ],
        &rows,
    );

    out.push_str("\n## Flapping candidates\n\n");
    if !r.flapping.is_empty() {
        out.push_str("Resolved automatically within 5 minutes of opening.\n\n");
    }
    let rows: Vec<Vec<String>> = r
        .flapping
        .iter()
        .map(|f| {
            vec![
                cell(&wall(&f.resolved_at, &zone)),
                cell(&f.incident),
                text(&f.title),
                cell(&f.service),
                human(f.resolved_after_s),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            ("Resolved at", L),
            ("Incident", L),
            ("Title", L),
            ("Service", L),
            ("After", R),
        ],
        &rows,
    );

    out.push_str("\n## Response times\n\n");
    let resp = &r.response;
    let mut rows: Vec<Vec<String>> = Vec::new();
    if resp.time_to_ack.count + resp.time_to_resolve.count > 0 {
        let row = |name: String, ack: &Stats, res: &Stats| {
            vec![
                name,
                ack.count.to_string(),
                dur(ack.median_s),
                dur(ack.p95_s),
                res.count.to_string(),
                dur(res.median_s),
                dur(res.p95_s),
            ]
        };
        rows.push(row(
            "All services".into(),
            &resp.time_to_ack,
            &resp.time_to_resolve,
        ));
        for s in &resp.services {
            rows.push(row(cell(&s.service), &s.time_to_ack, &s.time_to_resolve));
        }
    }
    table(
        &mut out,
        &[
            ("Service", L),
            ("Acknowledged", R),
            ("Median to ack", R),
            ("p95 to ack", R),
            ("Resolved", R),
            ("Median to resolve", R),
            ("p95 to resolve", R),
        ],
        &rows,
    );

    out.push_str("\n## Busiest shifts\n\n");
    if !r.shifts.busiest.is_empty() {
        let _ = writeln!(
            out,
            "Shifts start at 08:00 and 20:00 {}; more than {} incidents is over the SRE limit.\n",
            cell(&r.period.zone),
            SRE_SHIFT_LIMIT
        );
    }
    let rows: Vec<Vec<String>> = r
        .shifts
        .busiest
        .iter()
        .map(|s| {
            vec![
                cell(&wall(&s.start, &zone)),
                cell(&wall(&s.end, &zone)),
                human(s.length_s),
                s.incidents.to_string(),
                if s.over_limit { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            ("Start", L),
            ("End", L),
            ("Length", R),
            ("Incidents", R),
            ("Over limit", L),
        ],
        &rows,
    );
    out
}

/// One CSV field, quoted per RFC 4180 when it holds `,`, `"`, CR or LF (quotes doubled).
fn csv_field(raw: &str) -> String {
    if raw.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", raw.replace('"', "\"\""))
    } else {
        raw.to_string()
    }
}

/// The long table: `section,key,metric,value`, one row per number (missing numbers, such as
/// the median of no samples, have no row).
fn csv(r: &Report) -> String {
    let mut out = String::from("section,key,metric,value\n");
    let mut row = |section: &str, key: &str, metric: &str, value: i64| {
        let _ = writeln!(
            out,
            "{},{},{},{value}",
            csv_field(section),
            csv_field(key),
            csv_field(metric)
        );
    };
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);

    let s = &r.summary;
    row("summary", "all", "incidents", n(s.incidents));
    row("summary", "all", "previous", n(s.previous_incidents));
    if let Some(c) = s.change {
        row("summary", "all", "change_pct", c);
    }
    row("summary", "all", "pages", n(s.pages));
    for (metric, v) in interruption_metrics(&s.interruptions) {
        row("summary", "all", metric, n(v));
    }

    for (i, c) in r.noisiest.iter().enumerate() {
        row("noisiest", &c.category, "rank", n(i as u64 + 1));
    }

    for p in &r.people {
        let key = format!("{}/{}", p.provider, p.person);
        row("people", &key, "pages", n(p.pages));
        for (metric, v) in interruption_metrics(&p.interruptions) {
            row("people", &key, metric, n(v));
        }
        row("people", &key, "acknowledgements", n(p.acknowledgements));
        row("people", &key, "escalations", n(p.escalations));
        row("people", &key, "assignments", n(p.assignments));
        row("people", &key, "resolves", n(p.resolves));
    }

    for sv in &r.services {
        row("services", &sv.service, "incidents", n(sv.incidents));
        row("services", &sv.service, "previous", n(sv.previous));
        if let Some(c) = sv.change {
            row("services", &sv.service, "change_pct", c);
        }
    }
    for c in &r.categories {
        row("categories", &c.category, "incidents", n(c.incidents));
        row("categories", &c.category, "previous", n(c.previous));
        if let Some(ch) = c.change {
            row("categories", &c.category, "change_pct", ch);
        }
    }

    for f in &r.flapping {
        row(
            "flapping",
            &f.incident,
            "resolved_after_s",
            f.resolved_after_s,
        );
    }

    let mut response = |key: &str, ack: &Stats, res: &Stats| {
        for (prefix, st) in [("time_to_ack", ack), ("time_to_resolve", res)] {
            row("response", key, &format!("{prefix}_count"), n(st.count));
            if let Some(v) = st.median_s {
                row("response", key, &format!("{prefix}_median_s"), v);
            }
            if let Some(v) = st.p95_s {
                row("response", key, &format!("{prefix}_p95_s"), v);
            }
        }
    };
    response("all", &r.response.time_to_ack, &r.response.time_to_resolve);
    for sv in &r.response.services {
        response(&sv.service, &sv.time_to_ack, &sv.time_to_resolve);
    }

    row("shifts", "all", "total", n(r.shifts.total));
    row("shifts", "all", "over_limit", n(r.shifts.over_limit));
    for sh in &r.shifts.all {
        row("shifts", &sh.start, "incidents", n(sh.incidents));
        row("shifts", &sh.start, "length_s", sh.length_s);
        row("shifts", &sh.start, "over_limit", i64::from(sh.over_limit));
    }
    out
}

fn interruption_metrics(i: &Interruptions) -> [(&'static str, u64); 4] {
    [
        ("interruptions_total", i.total),
        ("interruptions_sleep", i.sleep),
        ("interruptions_business", i.business),
        ("interruptions_off", i.off),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Channel, Incident, Person};
    use crate::schema::UserKey;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn ny() -> TimeZone {
        TimeZone::get("America/New_York").unwrap()
    }

    fn person(id: &str, name: &str) -> Person {
        Person {
            id: id.into(),
            name: Some(name.into()),
            email: None,
            time_zone: Some("America/New_York".into()),
        }
    }

    fn ada() -> Person {
        person("PADA", "Ada Lovelace")
    }
    fn grace() -> Person {
        person("PGRACE", "Grace Hopper")
    }

    fn inc(id: &str, title: &str, service: &str) -> Incident {
        Incident {
            id: id.into(),
            created_at: None,
            title: Some(title.into()),
            service: Some(service.into()),
            urgency: Some("high".into()),
        }
    }

    fn ev(
        provider: &str,
        at: &str,
        kind: EventKind,
        incident: Option<Incident>,
        found: Findings,
    ) -> Analysed {
        Analysed {
            provider: provider.into(),
            event: Event {
                record_id: format!("{provider}-{at}-{kind:?}"),
                at: t(at),
                kind,
                incident,
            },
            found,
        }
    }

    fn trig(at: &str, id: &str, service: &str, title: &str, category: &str) -> Analysed {
        ev(
            "pagerduty",
            at,
            EventKind::Triggered {
                service: service.into(),
                urgency: "high".into(),
            },
            Some(inc(id, title, service)),
            Findings {
                category: Some(category.into()),
                ..Findings::default()
            },
        )
    }

    fn notify(
        provider: &str,
        at: &str,
        who: Person,
        channel: Channel,
        band: Band,
        interruption: bool,
    ) -> Analysed {
        ev(
            provider,
            at,
            EventKind::Notified { user: who, channel },
            None,
            Findings {
                band: Some(band),
                interruption,
                ..Findings::default()
            },
        )
    }

    fn timing(service: &str, secs: i64) -> Option<Timing> {
        Some(Timing {
            duration: SignedDuration::from_secs(secs),
            service: service.into(),
            urgency: "high".into(),
        })
    }

    fn ack(at: &str, id: &str, who: Option<Person>, service: &str, secs: i64) -> Analysed {
        ev(
            "pagerduty",
            at,
            EventKind::Acknowledged { user: who },
            Some(inc(id, "", service)),
            Findings {
                time_to_ack: timing(service, secs),
                ..Findings::default()
            },
        )
    }

    fn resolve(
        at: &str,
        id: &str,
        title: &str,
        who: Option<Person>,
        service: &str,
        secs: i64,
    ) -> Analysed {
        ev(
            "pagerduty",
            at,
            EventKind::Resolved { user: who },
            Some(inc(id, title, service)),
            Findings {
                time_to_resolve: timing(service, secs),
                ..Findings::default()
            },
        )
    }

    /// The week of Monday 2026-03-02 00:00 EST to Monday 2026-03-09 00:00 EDT (167 hours: the
    /// clocks go forward on Sunday 2026-03-08 at 02:00), and the 167 hours before it.
    fn scope() -> Scope {
        Scope {
            current: Window::new(t("2026-03-02T05:00:00Z"), t("2026-03-09T04:00:00Z")),
            previous: Window::new(t("2026-02-23T06:00:00Z"), t("2026-03-02T05:00:00Z")),
            zone: ny(),
            user_key: UserKey::Name,
        }
    }

    const LONG_TITLE: &str = "Search latency high on search-api-9: p99 above 2 seconds for 15 minutes across every region and replica";
    const HOSTILE_TITLE: &str = "HTTP 5xx | checkout\nfrontend";
    const LEGACY: &str = "Legacy \"v1\", batch";

    /// The known week. Local times are New York's.
    fn week() -> Vec<Analysed> {
        use Band::*;
        use Channel::*;
        let linus = person("PLINUS", "Linus Torvalds");
        let barbara = person("PBARBARA", "Barbara Liskov");
        let mut v = vec![
            // Outside both windows: ignored.
            trig(
                "2026-02-20T12:00:00Z",
                "OLD",
                LEGACY,
                "Legacy cron failed",
                "legacy cron failed",
            ),
            trig(
                "2026-03-09T04:00:00Z",
                "LATE",
                "Checkout API",
                "Disk 99% on db-1",
                "disk on db",
            ),
            // The previous period: Search 5, Checkout API 2, Legacy 1.
            trig(
                "2026-02-23T06:00:00Z",
                "QS1",
                "Search",
                "Search latency high on search-api-1",
                "search latency high",
            ),
            trig(
                "2026-02-24T10:00:00Z",
                "QS2",
                "Search",
                "Search latency high on search-api-2",
                "search latency high",
            ),
            trig(
                "2026-02-25T10:00:00Z",
                "QS3",
                "Search",
                "Search latency high on search-api-3",
                "search latency high",
            ),
            trig(
                "2026-02-26T10:00:00Z",
                "QS4",
                "Search",
                "Search latency high on search-api-4",
                "search latency high",
            ),
            trig(
                "2026-02-28T10:00:00Z",
                "QS5",
                "Search",
                "Search latency high on search-api-5",
                "search latency high",
            ),
            trig(
                "2026-02-25T12:00:00Z",
                "QC1",
                "Checkout API",
                "Disk 90% on db-2",
                "disk on db",
            ),
            trig(
                "2026-02-28T12:00:00Z",
                "QC2",
                "Checkout API",
                "Disk 92% on db-3",
                "disk on db",
            ),
            trig(
                "2026-03-01T12:00:00Z",
                "QL1",
                LEGACY,
                "Legacy cron failed: nightly export",
                "legacy cron failed",
            ),
            notify(
                "pagerduty",
                "2026-02-25T12:01:00Z",
                ada(),
                Push,
                Business,
                true,
            ),
            ack(
                "2026-02-25T12:05:00Z",
                "QC1",
                Some(ada()),
                "Checkout API",
                300,
            ),
            // The current period. Mon 10:00.
            trig(
                "2026-03-02T15:00:00Z",
                "S1",
                "Search",
                "Search latency high on search-api-3",
                "search latency high",
            ),
            notify(
                "pagerduty",
                "2026-03-02T15:01:00Z",
                ada(),
                Push,
                Business,
                true,
            ),
            ack("2026-03-02T15:02:00Z", "S1", Some(ada()), "Search", 120),
            // QS5, opened 51 hours before (Mon 08:00).
            resolve(
                "2026-03-02T13:00:00Z",
                "QS5",
                "Search latency high on search-api-5",
                None,
                "Search",
                183_600,
            ),
            // Mon 22:00 and 23:00: two in one shift, at the limit, not over it.
            trig(
                "2026-03-03T03:00:00Z",
                "S2",
                "Search",
                "Search latency high on search-api-7",
                "search latency high",
            ),
            notify(
                "pagerduty",
                "2026-03-03T03:01:00Z",
                ada(),
                Email,
                Sleep,
                false,
            ),
            notify(
                "pagerduty",
                "2026-03-03T03:01:00Z",
                grace(),
                Phone,
                Sleep,
                true,
            ),
            ev(
                "pagerduty",
                "2026-03-03T03:02:00Z",
                EventKind::Escalated { user: grace() },
                Some(inc("S2", "", "Search")),
                Findings::default(),
            ),
            ack("2026-03-03T03:03:00Z", "S2", None, "Search", 180),
            // Resolved automatically after 6 minutes: not flapping.
            resolve(
                "2026-03-03T03:06:00Z",
                "S2",
                "Search latency high on search-api-7",
                None,
                "Search",
                360,
            ),
            trig(
                "2026-03-03T04:00:00Z",
                "S3",
                "Search",
                LONG_TITLE,
                "search latency high",
            ),
            // Wed 08:00 sharp: the day shift.
            trig(
                "2026-03-04T13:00:00Z",
                "PAY1",
                "Payments",
                "Payment gateway timeout",
                "payment gateway timeout",
            ),
            notify(
                "pagerduty",
                "2026-03-04T13:01:00Z",
                grace(),
                Push,
                Business,
                true,
            ),
            // Resolved automatically after 4 minutes: flapping.
            resolve(
                "2026-03-04T13:04:00Z",
                "PAY1",
                "Payment gateway timeout",
                None,
                "Payments",
                240,
            ),
            ev(
                "pagerduty",
                "2026-03-05T14:59:00Z",
                EventKind::Assigned {
                    user: linus.clone(),
                },
                Some(inc("PAY1", "", "Payments")),
                Findings::default(),
            ),
            notify(
                "pagerduty",
                "2026-03-05T15:00:00Z",
                linus,
                Email,
                Business,
                false,
            ),
            notify(
                "pagerduty",
                "2026-03-05T15:00:00Z",
                barbara,
                Email,
                Business,
                false,
            ),
            // Another provider's Ada is another person.
            notify("opsgenie", "2026-03-06T23:30:00Z", ada(), Push, Off, true),
            notify(
                "pagerduty",
                "2026-03-07T22:00:00Z",
                grace(),
                Push,
                Off,
                true,
            ),
            // Sat 20:00 EST to Sun 08:00 EDT: three incidents, over the limit.
            trig(
                "2026-03-08T02:30:00Z",
                "C1",
                "Checkout API",
                "Disk 91% on db-17",
                "disk on db",
            ),
            ack(
                "2026-03-08T02:31:00Z",
                "C1",
                Some(ada()),
                "Checkout API",
                60,
            ),
            // Resolved by a person after 2 minutes: not flapping.
            resolve(
                "2026-03-08T02:32:00Z",
                "C1",
                "Disk 91% on db-17",
                Some(ada()),
                "Checkout API",
                120,
            ),
            notify(
                "pagerduty",
                "2026-03-08T03:05:00Z",
                ada(),
                Push,
                Sleep,
                true,
            ),
            notify(
                "pagerduty",
                "2026-03-08T03:05:30Z",
                ada(),
                Sms,
                Sleep,
                false,
            ),
            trig(
                "2026-03-08T06:30:00Z",
                "C2",
                "Checkout API",
                HOSTILE_TITLE,
                "http 5xx",
            ),
            notify(
                "pagerduty",
                "2026-03-08T06:31:00Z",
                ada(),
                Push,
                Sleep,
                true,
            ),
            ack(
                "2026-03-08T06:34:00Z",
                "C2",
                Some(grace()),
                "Checkout API",
                240,
            ),
            // Resolved automatically after exactly 5 minutes: flapping.
            resolve(
                "2026-03-08T06:35:00Z",
                "C2",
                HOSTILE_TITLE,
                None,
                "Checkout API",
                300,
            ),
            trig(
                "2026-03-08T08:00:00Z",
                "C3",
                "Checkout API",
                "Disk 93% on db-4",
                "disk on db",
            ),
            ack("2026-03-08T09:00:00Z", "C3", None, "Checkout API", 3_600),
        ];
        v.sort_by_key(|a| a.event.at);
        v
    }

    fn report() -> Report {
        build(&scope(), &week())
    }

    #[test]
    fn people_order_and_counts() {
        let r = report();
        let got: Vec<_> = r
            .people
            .iter()
            .map(|p| {
                (
                    p.provider.as_str(),
                    p.person.as_str(),
                    p.pages,
                    p.interruptions.total,
                    p.interruptions.sleep,
                    p.interruptions.business,
                    p.interruptions.off,
                    p.acknowledgements,
                    p.escalations,
                    p.assignments,
                    p.resolves,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                // 3 interruptions, 5 pages (an e-mail and a burst's second page interrupt no one).
                ("pagerduty", "ada_lovelace", 5, 3, 2, 1, 0, 2, 0, 0, 1),
                // 3 interruptions, 3 pages: after Ada on pages.
                ("pagerduty", "grace_hopper", 3, 3, 1, 1, 1, 1, 1, 0, 0),
                ("opsgenie", "ada_lovelace", 1, 1, 0, 0, 1, 0, 0, 0, 0),
                // Ties on everything: by name.
                ("pagerduty", "barbara_liskov", 1, 0, 0, 0, 0, 0, 0, 0, 0),
                ("pagerduty", "linus_torvalds", 1, 0, 0, 0, 0, 0, 0, 1, 0),
            ]
        );
        assert_eq!(r.summary.pages, 11);
        assert_eq!(
            r.summary.interruptions,
            Interruptions {
                sleep: 3,
                business: 2,
                off: 2,
                total: 7
            }
        );
    }

    #[test]
    fn people_use_the_metric_name() {
        let mut s = scope();
        s.user_key = UserKey::Id;
        let r = build(&s, &week());
        assert_eq!(r.people[0].person, "PADA");
    }

    #[test]
    fn service_and_category_trends() {
        let r = report();
        let got: Vec<(&str, u64, u64, Option<i64>)> = r
            .services
            .iter()
            .map(|s| (s.service.as_str(), s.incidents, s.previous, s.change))
            .collect();
        assert_eq!(
            got,
            [
                ("Checkout API", 3, 2, Some(50)),
                ("Search", 3, 5, Some(-40)),
                ("Payments", 1, 0, None),
                (LEGACY, 0, 1, Some(-100)),
            ]
        );
        let labels: Vec<String> = r
            .services
            .iter()
            .map(|s| trend(s.incidents, s.previous, s.change))
            .collect();
        assert_eq!(labels, ["+50%", "-40%", "new", "gone"]);
        assert_eq!(
            (
                r.summary.incidents,
                r.summary.previous_incidents,
                r.summary.change
            ),
            (7, 8, Some(-13))
        );

        let got: Vec<_> = r
            .categories
            .iter()
            .map(|c| {
                (
                    c.category.as_str(),
                    c.incidents,
                    c.previous,
                    c.change,
                    c.example.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("search latency high", 3, 5, Some(-40), Some(LONG_TITLE)),
                ("disk on db", 2, 2, Some(0), Some("Disk 93% on db-4")),
                ("http 5xx", 1, 0, None, Some(HOSTILE_TITLE)),
                (
                    "payment gateway timeout",
                    1,
                    0,
                    None,
                    Some("Payment gateway timeout")
                ),
                // Nothing this period: the previous period's latest title.
                (
                    "legacy cron failed",
                    0,
                    1,
                    Some(-100),
                    Some("Legacy cron failed: nightly export")
                ),
            ]
        );
        let noisy: Vec<(&str, u64)> = r
            .noisiest
            .iter()
            .map(|n| (n.category.as_str(), n.incidents))
            .collect();
        assert_eq!(
            noisy,
            [
                ("search latency high", 3),
                ("disk on db", 2),
                ("http 5xx", 1),
                ("payment gateway timeout", 1)
            ]
        );
    }

    #[test]
    fn change_rounds_half_away_from_zero() {
        assert_eq!(change(5, 4), Some(25));
        assert_eq!(change(3, 5), Some(-40));
        assert_eq!(change(7, 8), Some(-13)); // -12.5
        assert_eq!(change(9, 8), Some(13)); // +12.5
        assert_eq!(change(1, 3), Some(-67)); // -66.7
        assert_eq!(change(2, 3), Some(-33)); // -33.3
        assert_eq!(change(0, 3), Some(-100));
        assert_eq!(change(4, 0), None);
        assert_eq!(trend(0, 3, Some(-100)), "gone");
        assert_eq!(trend(4, 0, None), "new");
        assert_eq!(trend(4, 4, Some(0)), "0%");
        assert_eq!(trend(5, 4, Some(25)), "+25%");
    }

    #[test]
    fn nearest_rank_percentiles() {
        let s = stats(vec![3600, 60, 240, 120, 180]);
        assert_eq!(
            s,
            Stats {
                count: 5,
                median_s: Some(180),
                p95_s: Some(3600)
            }
        );
        assert_eq!(stats(vec![]), Stats::default());
        let one = stats(vec![42]);
        assert_eq!((one.median_s, one.p95_s), (Some(42), Some(42)));
        // Two samples: median at rank ceil(1.0) = 1, p95 at rank ceil(1.9) = 2.
        let two = stats(vec![20, 10]);
        assert_eq!((two.median_s, two.p95_s), (Some(10), Some(20)));
        // Twenty samples 1..=20: median rank 10, p95 rank 19.
        let twenty = stats((1..=20).collect());
        assert_eq!((twenty.median_s, twenty.p95_s), (Some(10), Some(19)));

        let r = report();
        assert_eq!(r.response.time_to_ack, s);
        assert_eq!(
            r.response.time_to_resolve,
            Stats {
                count: 5,
                median_s: Some(300),
                p95_s: Some(183_600)
            }
        );
        let by: Vec<_> = r
            .response
            .services
            .iter()
            .map(|s| {
                (
                    s.service.as_str(),
                    s.time_to_ack.count,
                    s.time_to_ack.median_s,
                    s.time_to_ack.p95_s,
                    s.time_to_resolve.count,
                    s.time_to_resolve.median_s,
                    s.time_to_resolve.p95_s,
                )
            })
            .collect();
        assert_eq!(
            by,
            [
                (
                    "Checkout API",
                    3,
                    Some(240),
                    Some(3600),
                    2,
                    Some(120),
                    Some(300)
                ),
                ("Payments", 0, None, None, 1, Some(240), Some(240)),
                (
                    "Search",
                    2,
                    Some(120),
                    Some(180),
                    2,
                    Some(360),
                    Some(183_600)
                ),
            ]
        );
    }

    #[test]
    fn seconds_round_half_up() {
        assert_eq!(seconds(SignedDuration::from_millis(150_499)), 150);
        assert_eq!(seconds(SignedDuration::from_millis(150_500)), 151);
        assert_eq!(seconds(SignedDuration::ZERO), 0);
    }

    #[test]
    fn flapping_candidates() {
        let r = report();
        let got: Vec<(&str, &str, &str, Option<&str>, i64)> = r
            .flapping
            .iter()
            .map(|f| {
                (
                    f.resolved_at.as_str(),
                    f.incident.as_str(),
                    f.service.as_str(),
                    f.title.as_deref(),
                    f.resolved_after_s,
                )
            })
            .collect();
        // Not S2 (automatic, 6 minutes) nor C1 (Ada, 2 minutes) nor QS5 (51 hours).
        assert_eq!(
            got,
            [
                (
                    "2026-03-04T08:04:00-05:00",
                    "PAY1",
                    "Payments",
                    Some("Payment gateway timeout"),
                    240
                ),
                (
                    "2026-03-08T01:35:00-05:00",
                    "C2",
                    "Checkout API",
                    Some(HOSTILE_TITLE),
                    300
                ),
            ]
        );
        assert!(r.flapping.iter().all(|f| f.provider == "pagerduty"));
        // One millisecond over five minutes is not flapping.
        let mut events = week();
        for a in &mut events {
            if a.event.incident.as_ref().is_some_and(|i| i.id == "C2") {
                if let Some(t) = &mut a.found.time_to_resolve {
                    t.duration = SignedDuration::from_millis(300_001);
                }
            }
        }
        let r = build(&scope(), &events);
        assert_eq!(r.flapping.len(), 1);
        assert_eq!(r.flapping[0].incident, "PAY1");
    }

    #[test]
    fn shifts_across_spring_forward() {
        let r = report();
        let s = &r.shifts;
        // Sun 1st 20:00 (running at Monday 00:00) to Sun 8th 20:00: 15 shifts.
        assert_eq!(s.total, 15);
        assert_eq!(s.all.len(), 15);
        assert_eq!(s.all[0].start, "2026-03-01T20:00:00-05:00");
        assert_eq!(s.all[0].end, "2026-03-02T08:00:00-05:00");
        assert_eq!(s.all[14].start, "2026-03-08T20:00:00-04:00");
        assert_eq!(s.all[14].end, "2026-03-09T08:00:00-04:00");
        for w in s.all.windows(2) {
            assert_eq!(w[0].end, w[1].start, "shifts abut");
        }
        let dst = &s.all[12];
        assert_eq!(dst.start, "2026-03-07T20:00:00-05:00");
        assert_eq!(dst.end, "2026-03-08T08:00:00-04:00");
        assert_eq!(dst.length_s, 11 * 3600);
        assert_eq!(s.all[13].length_s, 12 * 3600);
        assert_eq!(s.all[11].length_s, 12 * 3600);
        assert_eq!((dst.incidents, dst.over_limit), (3, true));
        assert_eq!(s.over_limit, 1);

        let busiest: Vec<(&str, u64, bool)> = s
            .busiest
            .iter()
            .map(|b| (b.start.as_str(), b.incidents, b.over_limit))
            .collect();
        assert_eq!(
            busiest,
            [
                ("2026-03-07T20:00:00-05:00", 3, true),
                // Two: at the limit, not over it.
                ("2026-03-02T20:00:00-05:00", 2, false),
                // Ties: earlier first. 08:00 sharp belongs to the shift it starts.
                ("2026-03-02T08:00:00-05:00", 1, false),
                ("2026-03-04T08:00:00-05:00", 1, false),
            ]
        );
    }

    #[test]
    fn shifts_across_fall_back_and_top_five() {
        // Sat 2026-10-31 12:00 EDT to Sun 2026-11-01 20:00 EST; clocks go back at 02:00 on Sunday.
        let s = Scope {
            current: Window::new(t("2026-10-31T16:00:00Z"), t("2026-11-02T01:00:00Z")),
            previous: Window::new(t("2026-10-30T07:00:00Z"), t("2026-10-31T16:00:00Z")),
            zone: ny(),
            user_key: UserKey::Name,
        };
        let events: Vec<Analysed> = (0..7)
            .map(|h| {
                trig(
                    &format!("2026-11-01T{:02}:00:00Z", 13 + h),
                    &format!("I{h}"),
                    "S",
                    "t",
                    "c",
                )
            })
            .chain([trig("2026-10-31T17:00:00Z", "E", "S", "t", "c")])
            .collect();
        let r = build(&s, &events);
        let all: Vec<(&str, &str, i64, u64)> = r
            .shifts
            .all
            .iter()
            .map(|x| (x.start.as_str(), x.end.as_str(), x.length_s, x.incidents))
            .collect();
        assert_eq!(
            all,
            [
                (
                    "2026-10-31T08:00:00-04:00",
                    "2026-10-31T20:00:00-04:00",
                    12 * 3600,
                    1
                ),
                (
                    "2026-10-31T20:00:00-04:00",
                    "2026-11-01T08:00:00-05:00",
                    13 * 3600,
                    0
                ),
                (
                    "2026-11-01T08:00:00-05:00",
                    "2026-11-01T20:00:00-05:00",
                    12 * 3600,
                    7
                ),
            ]
        );
        assert_eq!(r.shifts.busiest.len(), 2, "empty shifts are not busy");
        assert_eq!(r.shifts.over_limit, 1);

        // Seven busy shifts: five listed, most first, ties earlier first.
        let events: Vec<Analysed> = [
            ("2026-03-02T14:00:00Z", "a"),
            ("2026-03-03T02:00:00Z", "b"),
            ("2026-03-03T14:00:00Z", "c"),
            ("2026-03-04T02:00:00Z", "d"),
            ("2026-03-04T14:00:00Z", "e"),
            ("2026-03-04T14:30:00Z", "e2"),
            ("2026-03-05T02:00:00Z", "f"),
            ("2026-03-05T14:00:00Z", "g"),
        ]
        .iter()
        .map(|(at, id)| trig(at, id, "S", "t", "c"))
        .collect();
        let r = build(&scope(), &events);
        let starts: Vec<&str> = r.shifts.busiest.iter().map(|b| b.start.as_str()).collect();
        assert_eq!(
            starts,
            [
                "2026-03-04T08:00:00-05:00",
                "2026-03-02T08:00:00-05:00",
                "2026-03-02T20:00:00-05:00",
                "2026-03-03T08:00:00-05:00",
                "2026-03-03T20:00:00-05:00",
            ]
        );
    }

    #[test]
    fn empty_period_has_no_shifts() {
        let mut s = scope();
        s.current.until = s.current.since;
        let r = build(&s, &week());
        assert_eq!(r.shifts.total, 0);
        assert!(r.people.is_empty());
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(45), "45s");
        assert_eq!(human(60), "1m 00s");
        assert_eq!(human(200), "3m 20s");
        assert_eq!(human(3_599), "59m 59s");
        assert_eq!(human(3_900), "1h 05m");
        assert_eq!(human(86_399), "23h 59m");
        assert_eq!(human(183_600), "2d 3h");
    }

    /// The number of cell separators in a table line: pipes not escaped by a backslash.
    fn pipes(line: &str) -> usize {
        let mut n = 0;
        let mut escaped = false;
        for c in line.chars() {
            if c == '|' && !escaped {
                n += 1;
            }
            escaped = c == '\\' && !escaped;
        }
        n
    }

    /// Every table keeps its header's column count.
    fn assert_tables_hold(md: &str) {
        let mut want = None;
        for line in md.lines() {
            if line.starts_with('|') {
                let n = pipes(line);
                let w = *want.get_or_insert(n);
                assert_eq!(n, w, "{line}");
            } else {
                want = None;
            }
        }
    }

    #[test]
    fn markdown_known_week() {
        let got = render(&report(), Format::Markdown);
        let want = r#"# On-call handoff: 2026-03-02 to 2026-03-08 (America/New_York)

7 incidents (previous period: 8, -13%). 7 interruptions, 3 of them in sleep hours. 1 of 15 shifts over the SRE limit of 2 incidents per 12-hour shift.

## Noisiest alerts

| # | Category | Incidents | Example |
|---:|---|---:|---|
| 1 | search latency high | 3 | Search latency high on search-api-9: p99 above 2 seconds for 15 minutes across… |
| 2 | disk on db | 2 | Disk 93% on db-4 |
| 3 | http 5xx | 1 | HTTP 5xx \| checkout frontend |
| 4 | payment gateway timeout | 1 | Payment gateway timeout |

## People

| Person | Provider | Pages | Interruptions | Sleep | Business | Off | Acks | Escalations | Assignments | Resolves |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| ada_lovelace | pagerduty | 5 | 3 | 2 | 1 | 0 | 2 | 0 | 0 | 1 |
| grace_hopper | pagerduty | 3 | 3 | 1 | 1 | 1 | 1 | 1 | 0 | 0 |
| ada_lovelace | opsgenie | 1 | 1 | 0 | 0 | 1 | 0 | 0 | 0 | 0 |
| barbara_liskov | pagerduty | 1 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |
| linus_torvalds | pagerduty | 1 | 0 | 0 | 0 | 0 | 0 | 0 | 1 | 0 |

## Services

| Service | Incidents | Previous | Trend |
|---|---:|---:|---:|
| Checkout API | 3 | 2 | +50% |
| Search | 3 | 5 | -40% |
| Payments | 1 | 0 | new |
| Legacy "v1", batch | 0 | 1 | gone |

## Categories

| Category | Incidents | Previous | Trend | Example |
|---|---:|---:|---:|---|
| search latency high | 3 | 5 | -40% | Search latency high on search-api-9: p99 above 2 seconds for 15 minutes across… |
| disk on db | 2 | 2 | 0% | Disk 93% on db-4 |
| http 5xx | 1 | 0 | new | HTTP 5xx \| checkout frontend |
| payment gateway timeout | 1 | 0 | new | Payment gateway timeout |
| legacy cron failed | 0 | 1 | gone | Legacy cron failed: nightly export |

## Flapping candidates

Resolved automatically within 5 minutes of opening.

| Resolved at | Incident | Title | Service | After |
|---|---|---|---|---:|
| Wed 2026-03-04 08:04 EST | PAY1 | Payment gateway timeout | Payments | 4m 00s |
| Sun 2026-03-08 01:35 EST | C2 | HTTP 5xx \| checkout frontend | Checkout API | 5m 00s |

## Response times

| Service | Acknowledged | Median to ack | p95 to ack | Resolved | Median to resolve | p95 to resolve |
|---|---:|---:|---:|---:|---:|---:|
| All services | 5 | 3m 00s | 1h 00m | 5 | 5m 00s | 2d 3h |
| Checkout API | 3 | 4m 00s | 1h 00m | 2 | 2m 00s | 5m 00s |
| Payments | 0 | - | - | 1 | 4m 00s | 4m 00s |
| Search | 2 | 2m 00s | 3m 00s | 2 | 6m 00s | 2d 3h |

## Busiest shifts

Shifts start at 08:00 and 20:00 America/New_York; more than 2 incidents is over the SRE limit.

| Start | End | Length | Incidents | Over limit |
|---|---|---:|---:|---|
| Sat 2026-03-07 20:00 EST | Sun 2026-03-08 08:00 EDT | 11h 00m | 3 | yes |
| Mon 2026-03-02 20:00 EST | Tue 2026-03-03 08:00 EST | 12h 00m | 2 | no |
| Mon 2026-03-02 08:00 EST | Mon 2026-03-02 20:00 EST | 12h 00m | 1 | no |
| Wed 2026-03-04 08:00 EST | Wed 2026-03-04 20:00 EST | 12h 00m | 1 | no |
"#;
        let got_lines: Vec<&str> = got.lines().collect();
        let want_lines: Vec<&str> = want.lines().collect();
        for (i, (g, w)) in got_lines.iter().zip(&want_lines).enumerate() {
            assert_eq!(g, w, "line {}", i + 1);
        }
        assert_eq!(got_lines.len(), want_lines.len(), "{got}");
        assert_eq!(got, want);
        assert!(got.ends_with("|\n") && !got.ends_with("\n\n"));
        assert_tables_hold(&got);
    }

    #[test]
    fn markdown_empty_sections() {
        let r = build(&scope(), &[]);
        let got = render(&r, Format::Markdown);
        assert!(got.starts_with(
            "# On-call handoff: 2026-03-02 to 2026-03-08 (America/New_York)\n\n\
             0 incidents (previous period: 0). 0 interruptions, 0 of them in sleep hours. \
             0 of 15 shifts over the SRE limit of 2 incidents per 12-hour shift.\n"
        ));
        assert_eq!(got.matches("None this period.\n").count(), 7, "{got}");
        assert!(!got.contains('|'), "{got}");
        assert!(got.ends_with("## Busiest shifts\n\nNone this period.\n"));
    }

    #[test]
    fn hostile_names_and_titles_do_not_break_tables() {
        let nasty = "a | b\n| c \\| d\r\n|";
        let mut events = vec![
            trig("2026-03-02T15:00:00Z", "X|1", nasty, nasty, nasty),
            resolve("2026-03-02T15:01:00Z", "X|1", nasty, None, nasty, 60),
            notify(
                "pager|duty",
                "2026-03-02T15:00:30Z",
                person("P|9", "!!!"),
                Channel::Push,
                Band::Business,
                true,
            ),
        ];
        events.push(trig(
            "2026-03-02T16:00:00Z",
            "X2",
            "S",
            &format!("{}|tail", "é".repeat(100)),
            "c",
        ));
        let md = render(&build(&scope(), &events), Format::Markdown);
        assert_tables_hold(&md);
        assert!(md.contains(r"| a \| b \| c \\\| d  \| |"), "{md}");
        // Cut at 80 characters, the ellipsis included, before the pipe.
        let cut = format!("{}…", "é".repeat(79));
        assert!(md.contains(&format!("| {cut} |")), "{md}");
        assert!(!md.contains("tail"));
        for line in md.lines().filter(|l| l.starts_with('|')) {
            assert!(!line.contains('\r'));
        }
    }

    #[test]
    fn csv_long_table() {
        let got = render(&report(), Format::Csv);
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines[0], "section,key,metric,value");
        for want in [
            "summary,all,incidents,7",
            "summary,all,previous,8",
            "summary,all,change_pct,-13",
            "summary,all,interruptions_sleep,3",
            "noisiest,search latency high,rank,1",
            "people,pagerduty/ada_lovelace,pages,5",
            "people,pagerduty/ada_lovelace,interruptions_sleep,2",
            "people,opsgenie/ada_lovelace,interruptions_off,1",
            "services,Checkout API,incidents,3",
            "services,Checkout API,previous,2",
            "services,Checkout API,change_pct,50",
            "services,Search,change_pct,-40",
            "services,\"Legacy \"\"v1\"\", batch\",incidents,0",
            "services,\"Legacy \"\"v1\"\", batch\",previous,1",
            "categories,disk on db,change_pct,0",
            "flapping,PAY1,resolved_after_s,240",
            "flapping,C2,resolved_after_s,300",
            "response,all,time_to_ack_count,5",
            "response,all,time_to_ack_median_s,180",
            "response,all,time_to_ack_p95_s,3600",
            "response,Search,time_to_resolve_p95_s,183600",
            "response,Payments,time_to_ack_count,0",
            "shifts,all,total,15",
            "shifts,all,over_limit,1",
            "shifts,2026-03-07T20:00:00-05:00,incidents,3",
            "shifts,2026-03-07T20:00:00-05:00,length_s,39600",
            "shifts,2026-03-07T20:00:00-05:00,over_limit,1",
            "shifts,2026-03-02T20:00:00-05:00,incidents,2",
        ] {
            assert!(lines.contains(&want), "missing {want:?} in\n{got}");
        }
        // No number, no row; a new service has no change.
        assert!(!got.contains("response,Payments,time_to_ack_median_s"));
        assert!(!got.contains("services,Payments,change_pct"));
        // Every unquoted row has four fields; the output ends with one newline.
        for line in &lines {
            if !line.contains('"') {
                assert_eq!(line.split(',').count(), 4, "{line}");
            }
        }
        assert!(got.ends_with('\n') && !got.ends_with("\n\n"));

        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\r"), "\"cr\r\"");
    }

    #[test]
    fn json_parses_back() {
        let got = render(&report(), Format::Json);
        assert!(got.ends_with("}\n"));
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = [
            "period",
            "summary",
            "noisiest",
            "people",
            "services",
            "categories",
            "flapping",
            "response",
            "shifts",
        ];
        want.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(v["period"]["since"], "2026-03-02T05:00:00Z");
        assert_eq!(v["period"]["until"], "2026-03-09T04:00:00Z");
        assert_eq!(v["period"]["zone"], "America/New_York");
        assert_eq!(v["people"][0]["provider"], "pagerduty");
        assert_eq!(v["people"][0]["interruptions"]["sleep"], 2);
        assert_eq!(v["services"][2]["change"], serde_json::Value::Null);
        assert_eq!(v["response"]["time_to_ack"]["median_s"], 180);
        assert_eq!(v["response"]["time_to_ack"]["p95_s"], 3600);
        assert_eq!(
            v["shifts"]["busiest"][0]["start"],
            "2026-03-07T20:00:00-05:00"
        );
        assert_eq!(
            v["shifts"]["busiest"][0]["end"],
            "2026-03-08T08:00:00-04:00"
        );
        assert_eq!(v["shifts"]["busiest"][0]["over_limit"], true);
        assert_eq!(v["flapping"][1]["title"], HOSTILE_TITLE);
    }
}
