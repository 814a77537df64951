//! [`build`]: counts and ranks the analysed events of both periods into a [`Report`]; the
//! analysis has already decided interruptions, bands, categories and response times.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use jiff::Timestamp;

use super::model::{
    CategoryTrend, Flap, Interruptions, Noisy, Period, PersonLoad, Report, Response, Scope,
    ServiceResponse, ServiceTrend, Summary,
};
use super::shifts::{shifts, with_offset};
use super::stats::{change, is_flap, seconds, stats};
use super::TOP;
use crate::analysis::hours::Band;
use crate::analysis::Analysed;
use crate::event::EventKind;
use crate::schema::person_value;

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
    /// Counts one interruption, in `band` when the analysis found one.
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
