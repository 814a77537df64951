//! [`build`]: counts and ranks the analysed events of both periods into a [`Report`]; the
//! analysis has already decided interruptions, bands, nights, categories, their shapes and
//! response times.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use jiff::Timestamp;

use super::causes::{Causes, UNKNOWN};
use super::heatmap::HeatCounter;
use super::model::{
    CategoryTrend, Flap, Interruptions, Noisy, Period, Report, Response, Scope, ServiceResponse,
    ServiceTrend, Stats, Summary,
};
use super::people::People;
use super::shifts::{shifts, with_offset};
use super::stats::{change, is_flap, percent, seconds, stats};
use super::{TOP, WITHIN_5M_S};
use crate::event::EventKind;

/// Incidents of a service or category, now and before, with the latest titles and the shapes
/// their titles took.
#[derive(Default)]
struct Tally {
    now: u64,
    previous: u64,
    latest_now: Option<(Timestamp, String)>,
    latest_previous: Option<(Timestamp, String)>,
    /// Shape → incidents with it, this period and the previous one.
    shapes_now: BTreeMap<String, u64>,
    shapes_previous: BTreeMap<String, u64>,
}

impl Tally {
    fn count(&mut self, current: bool, at: Timestamp, title: Option<&str>, shape: Option<&str>) {
        let (n, latest, shapes) = if current {
            (&mut self.now, &mut self.latest_now, &mut self.shapes_now)
        } else {
            (
                &mut self.previous,
                &mut self.latest_previous,
                &mut self.shapes_previous,
            )
        };
        *n += 1;
        if let Some(title) = title {
            // Later events win ties: the input is in time order.
            if latest.as_ref().is_none_or(|(t, _)| at >= *t) {
                *latest = Some((at, title.to_string()));
            }
        }
        if let Some(shape) = shape {
            *shapes.entry(shape.to_string()).or_default() += 1;
        }
    }

    fn example(&self) -> Option<String> {
        self.latest_now
            .as_ref()
            .or(self.latest_previous.as_ref())
            .map(|(_, title)| title.clone())
    }

    /// The commonest shape this period (else the previous one), ties by text; else `name`.
    fn shape(&self, name: &str) -> String {
        let common = |m: &BTreeMap<String, u64>| {
            m.iter()
                .max_by_key(|(s, n)| (**n, Reverse((*s).clone())))
                .map(|(s, _)| s.clone())
        };
        common(&self.shapes_now)
            .or_else(|| common(&self.shapes_previous))
            .unwrap_or_else(|| name.to_string())
    }
}

/// Time-to-acknowledge and time-to-resolve samples, in whole seconds.
#[derive(Default)]
struct Samples {
    ack: Vec<i64>,
    resolve: Vec<i64>,
}

impl Samples {
    fn acked_within_5m(&self) -> u64 {
        self.ack.iter().filter(|s| **s <= WITHIN_5M_S).count() as u64
    }
}

/// Builds the report. `events` cover both windows, sorted by time; events outside both are ignored.
pub fn build(scope: &Scope, events: &[crate::analysis::Analysed]) -> Report {
    let mut people = People::new(scope.user_key);
    let mut services: BTreeMap<String, Tally> = BTreeMap::new();
    let mut categories: BTreeMap<String, Tally> = BTreeMap::new();
    let mut causes = Causes::default();
    let mut heat = HeatCounter::new(scope.zone.clone());
    let mut flaps: Vec<(Timestamp, Flap)> = Vec::new();
    let mut samples: BTreeMap<String, Samples> = BTreeMap::new();
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
                .count(current, at, title, None);
            if let Some(category) = &a.found.category {
                categories.entry(category.clone()).or_default().count(
                    current,
                    at,
                    title,
                    a.found.shape.as_deref(),
                );
            }
            if current {
                triggers.push(at);
            }
        }
        causes.count(a, current);
        people.count(a, current);
        if !current {
            continue;
        }
        if matches!(a.event.kind, EventKind::Notified { .. }) && a.found.interruption {
            heat.add(at);
        }

        // Response times.
        if let Some(t) = &a.found.time_to_ack {
            samples
                .entry(t.service.clone())
                .or_default()
                .ack
                .push(seconds(t.duration));
        }
        if let Some(t) = &a.found.time_to_resolve {
            samples
                .entry(t.service.clone())
                .or_default()
                .resolve
                .push(seconds(t.duration));
        }

        // Flapping.
        if let (EventKind::Resolved { user: None }, Some(t)) =
            (&a.event.kind, &a.found.time_to_resolve)
        {
            if is_flap(t) {
                causes.flap(a, seconds(t.duration));
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

    let people = people.into_rows();

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
            shape: t.shape(name),
            pages: causes.pages_of(name).0,
            previous_pages: causes.pages_of(name).1,
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
            shape: c.shape.clone(),
        })
        .collect();

    let shape_of = |c: &str| match categories.get(c) {
        Some(t) => t.shape(c),
        None if c == UNKNOWN => "(incidents opened before the periods read)".to_string(),
        None => c.to_string(),
    };
    let incidents_of = |c: &str| categories.get(c).map_or(0, |t| t.now);
    let fix_first = causes.fix_first(&shape_of);
    let flapping_categories = causes.flap_groups(&incidents_of, &shape_of);

    flaps.sort_by_key(|(at, _)| *at);
    let flapping = flaps.into_iter().map(|(_, f)| f).collect();

    let all = Samples {
        ack: samples.values().flat_map(|s| s.ack.clone()).collect(),
        resolve: samples.values().flat_map(|s| s.resolve.clone()).collect(),
    };
    let (time_to_ack, time_to_resolve, acked_within_5m, acked_within_5m_pct) = summarise(&all);
    let response = Response {
        time_to_ack,
        time_to_resolve,
        acked_within_5m,
        acked_within_5m_pct,
        services: samples
            .iter()
            .map(|(service, s)| {
                let (time_to_ack, time_to_resolve, acked_within_5m, acked_within_5m_pct) =
                    summarise(s);
                ServiceResponse {
                    service: service.clone(),
                    time_to_ack,
                    time_to_resolve,
                    acked_within_5m,
                    acked_within_5m_pct,
                }
            })
            .collect(),
    };

    let shifts = shifts(scope, &triggers);

    let incidents = service_rows.iter().map(|s| s.incidents).sum();
    let previous_incidents = service_rows.iter().map(|s| s.previous).sum();
    let mut interruptions = Interruptions::default();
    for p in &people {
        interruptions.absorb(&p.interruptions);
    }
    let summary = Summary {
        incidents,
        previous_incidents,
        change: change(incidents, previous_incidents),
        pages: people.iter().map(|p| p.pages).sum(),
        interruptions,
    };
    let zone = scope.zone.iana_name().unwrap_or("UTC").to_string();

    Report {
        period: Period {
            since: scope.current.since.to_string(),
            until: scope.current.until.to_string(),
            zone: zone.clone(),
            teams: scope.teams.clone(),
            provider: scope.provider.clone(),
        },
        summary,
        noisiest,
        people,
        services: service_rows,
        categories: category_rows,
        flapping,
        response,
        shifts,
        flapping_categories,
        fix_first,
        heatmap: heat.into_heatmap(&zone),
    }
}

/// Median and p95 of both samples, and the acknowledgements within 5 minutes.
fn summarise(s: &Samples) -> (Stats, Stats, u64, Option<u64>) {
    let within = s.acked_within_5m();
    (
        stats(s.ack.clone()),
        stats(s.resolve.clone()),
        within,
        percent(within, s.ack.len() as u64),
    )
}
