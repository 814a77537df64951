//! The Markdown report stays short however busy the period: a synthetic week ten times the
//! demo's volume, with far more people, services and alert categories than fit on a page.

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::analysis::hours::Band;
use crate::analysis::{Analysed, Findings, Timing};
use crate::event::{Channel, Event, EventKind, Incident, Person, Window};

const PROVIDER: &str = "acme";

fn event(at: Timestamp, kind: EventKind, incident: &Incident, found: Findings) -> Analysed {
    Analysed {
        provider: PROVIDER.into(),
        event: Event {
            record_id: format!("{}-{at}-{kind:?}", incident.id),
            at,
            kind,
            incident: Some(incident.clone()),
        },
        found,
    }
}

/// `incidents` incidents over the two weeks before `until`, spread over 60 people, 40 services
/// and 300 categories; every third resolves itself within 3 minutes.
fn busy(until: Timestamp, incidents: i64) -> Vec<Analysed> {
    let span = SignedDuration::from_hours(14 * 24);
    let mut v = Vec::new();
    for i in 0..incidents {
        let at = until - span + SignedDuration::from_secs(span.as_secs() * i / incidents);
        let service = format!("service-{}", i % 40);
        let category = format!("alert kind {}", (i * 7) % 300);
        let inc = Incident {
            id: format!("I{i}"),
            created_at: Some(at),
            title: Some(format!("Alert kind {} on host-{i}", (i * 7) % 300)),
            service: Some(service.clone()),
            urgency: Some("high".into()),
        };
        v.push(event(
            at,
            EventKind::Triggered {
                service: service.clone(),
                urgency: "high".into(),
            },
            &inc,
            Findings {
                category: Some(category.clone()),
                shape: Some(format!("Alert kind {} on host-<n>", (i * 7) % 300)),
                ..Findings::default()
            },
        ));
        for k in 0..2 {
            let user = Person {
                id: format!("P{}", (i + k) % 60),
                name: Some(format!("Person {}", (i + k) % 60)),
                ..Person::default()
            };
            let band = [Band::Sleep, Band::Business, Band::Off][(i % 3) as usize];
            v.push(event(
                at + SignedDuration::from_secs(30 + k * 90),
                EventKind::Notified {
                    user,
                    channel: Channel::Push,
                },
                &inc,
                Findings {
                    band: Some(band),
                    interruption: true,
                    night: (band == Band::Sleep)
                        .then(|| at.to_zoned(jiff::tz::TimeZone::UTC).date()),
                    ..Findings::default()
                },
            ));
        }
        let open = SignedDuration::from_secs(if i % 3 == 0 { 170 } else { 1_800 });
        v.push(event(
            at + open,
            EventKind::Resolved { user: None },
            &inc,
            Findings {
                time_to_resolve: Some(Timing {
                    duration: open,
                    service,
                    urgency: "high".into(),
                }),
                ..Findings::default()
            },
        ));
    }
    v.sort_by_key(|a| a.event.at);
    v
}

#[test]
fn a_busy_week_fits_in_two_hundred_lines() {
    let until: Timestamp = "2026-03-09T00:00:00Z".parse().unwrap();
    let week = SignedDuration::from_hours(7 * 24);
    let scope = Scope {
        current: Window::new(until - week, until),
        previous: Window::new(until - week - week, until - week),
        zone: jiff::tz::TimeZone::UTC,
        user_key: crate::schema::UserKey::Name,
        teams: Vec::new(),
        provider: None,
    };
    // The demo has about 100 incidents a week: ten times that, in each period.
    let r = build(&scope, &busy(until, 2_000));
    assert_eq!(r.summary.incidents, 1_000);
    assert_eq!(r.people.len(), 60);
    assert_eq!(r.services.len(), 40);
    assert!(r.categories.len() >= 250, "{}", r.categories.len());
    let md = render(&r, Format::Markdown);
    let lines = md.lines().count();
    assert!(lines <= 200, "{lines} lines:\n{md}");
    // Every section is there, cut at ten rows with one line for the rest.
    for heading in [
        "## What to fix first",
        "## People",
        "## When",
        "## Alert categories",
        "## Flapping",
        "## Services",
        "## Response times",
        "## Busiest shifts",
    ] {
        assert!(md.contains(heading), "{heading} missing:\n{md}");
    }
    let people_left = r.people[SECTION_ROWS..]
        .iter()
        .map(|p| p.interruptions.total)
        .sum::<u64>();
    assert!(
        md.contains(&format!("and 50 more ({people_left} interruptions).")),
        "{md}"
    );
    let categories_left: u64 = r.categories[SECTION_ROWS..]
        .iter()
        .map(|c| c.incidents)
        .sum();
    assert!(
        md.contains(&format!(
            "and {} more ({categories_left} incidents).",
            r.categories.len() - SECTION_ROWS
        )),
        "{md}"
    );
    assert!(md.contains("and 30 more ("), "services:\n{md}");
    // What is left out of the Markdown is still in the JSON, for a notebook.
    let json: serde_json::Value = serde_json::from_str(&render(&r, Format::Json)).unwrap();
    assert_eq!(json["people"].as_array().unwrap().len(), 60);
}
