//! End-to-end tests of the report: a known week of analysed events through `build` and
//! `render` in every format, with the fixtures they share.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::csv::csv_field;
use super::stats::stats;
use super::text::trend;
use super::*;
use crate::analysis::hours::Band;
use crate::analysis::{Analysed, Findings, Timing};
use crate::event::{Channel, Event, EventKind, Incident, Person, Window};
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
        teams: Vec::new(),
        provider: None,
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
    paged_for_the_latest_incident(v)
}

/// Each notification belongs to the incident triggered last before it (as the analysis would
/// have it, a sleep-hours one also gets its night in New York): what "what to fix first"
/// traces pages through.
fn paged_for_the_latest_incident(mut v: Vec<Analysed>) -> Vec<Analysed> {
    let bands = crate::analysis::hours::HourBands::default();
    let mut latest: Option<Incident> = None;
    for a in &mut v {
        match &a.event.kind {
            EventKind::Triggered { .. } => latest = a.event.incident.clone(),
            EventKind::Notified { .. } => {
                a.event.incident = latest.clone();
                if a.found.band == Some(Band::Sleep) {
                    a.found.night = bands.night_of(a.event.at, &ny());
                }
            }
            _ => {}
        }
    }
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
        teams: Vec::new(),
        provider: None,
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

7 incidents (previous period: 8, -13%). 11 pages, 7 interruptions, 3 of them in sleep hours. 1 of 15 shifts over the SRE limit of 2 incidents per 12-hour shift.

## What to fix first

The alerts whose removal would have saved the most interruptions, sleep hours first.

| # | Alert | Sleep | Interruptions | Pages | Share of pages | Trend |
|---:|---|---:|---:|---:|---:|---:|
| 1 | search latency high | 1 | 2 | 3 | 27% | new |
| 2 | disk on db | 1 | 1 | 2 | 18% | 0% |
| 3 | http 5xx | 1 | 1 | 1 | 9% | new |

## People

Most sleep interruptions first. Nights: nights with a sleep-hours interruption; run: the most in a row.

| Person | Provider | Pages | Interruptions | Sleep | Business | Off | Nights | Run | Acks | Escalations | Trend |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| ada_lovelace | pagerduty | 5 | 3 | 2 | 1 | 0 | 1 | 1 | 2 | 0 | +200% |
| grace_hopper | pagerduty | 3 | 3 | 1 | 1 | 1 | 1 | 1 | 1 | 1 | new |
| ada_lovelace | opsgenie | 1 | 1 | 0 | 0 | 1 | 0 | 0 | 0 | 0 | new |
| barbara_liskov | pagerduty | 1 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | - |
| linus_torvalds | pagerduty | 1 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | - |

## When

Interruptions by hour of day and weekday (America/New_York).

```text
     0     6     12    18
Mon  ··········█···········█·    2
Tue  ························    0
Wed  ········█···············    1
Thu  ························    0
Fri  ··················█·····    1
Sat  ·················█····█·    2
Sun  ·█······················    1
     · 0  █ 1 interruptions an hour
```

## Alert categories

| Alert | Incidents | Previous | Trend | Example |
|---|---:|---:|---:|---|
| search latency high | 3 | 5 | -40% | Search latency high on search-api-9: p99 above 2 seconds for 15 minutes across… |
| disk on db | 2 | 2 | 0% | Disk 93% on db-4 |
| http 5xx | 1 | 0 | new | HTTP 5xx \| checkout frontend |
| payment gateway timeout | 1 | 0 | new | Payment gateway timeout |
| legacy cron failed | 0 | 1 | gone | Legacy cron failed: nightly export |

## Flapping

Incidents resolved automatically within 5 minutes of opening, by alert.

| Alert | Flapping | Of its incidents | Median open | Example |
|---|---:|---:|---:|---|
| http 5xx | 1 | 100% | 5m 00s | HTTP 5xx \| checkout frontend |
| payment gateway timeout | 1 | 100% | 4m 00s | Payment gateway timeout |

## Services

| Service | Incidents | Previous | Trend |
|---|---:|---:|---:|
| Checkout API | 3 | 2 | +50% |
| Search | 3 | 5 | -40% |
| Payments | 1 | 0 | new |
| Legacy "v1", batch | 0 | 1 | gone |

## Response times

Nearest-rank median and 95th percentile from opening; within 5 min: share of acknowledgements.

| Service | Acknowledged | Median to ack | p95 to ack | Within 5 min | Resolved | Median to resolve | p95 to resolve |
|---|---:|---:|---:|---:|---:|---:|---:|
| All services | 5 | 3m 00s | 1h 00m | 80% | 5 | 5m 00s | 2d 3h |
| Checkout API | 3 | 4m 00s | 1h 00m | 67% | 2 | 2m 00s | 5m 00s |
| Search | 2 | 2m 00s | 3m 00s | 100% | 2 | 6m 00s | 2d 3h |
| Payments | 0 | - | - | - | 1 | 4m 00s | 4m 00s |

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
         0 incidents (previous period: 0). 0 pages, 0 interruptions, 0 of them in sleep hours. \
         0 of 15 shifts over the SRE limit of 2 incidents per 12-hour shift.\n"
    ));
    assert_eq!(got.matches("None this period.\n").count(), 8, "{got}");
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
        "people,pagerduty/ada_lovelace,sleep_nights,1",
        "people,pagerduty/ada_lovelace,longest_night_run,1",
        "people,pagerduty/ada_lovelace,previous_interruptions_business,1",
        "people,pagerduty/ada_lovelace,change_pct,200",
        "response,all,acked_within_5m,4",
        "response,all,acked_within_5m_pct,80",
        "fix_first,search latency high,rank,1",
        "fix_first,search latency high,share_of_pages_pct,27",
        "flapping_categories,payment gateway timeout,share_pct,100",
        "flapping_categories,payment gateway timeout,median_open_s,240",
        "heatmap,Mon,h10,1",
        "heatmap,Mon,h22,1",
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
        "flapping_categories",
        "fix_first",
        "heatmap",
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
    assert_eq!(v["fix_first"][0]["category"], "search latency high");
    assert_eq!(v["fix_first"][0]["pages"], 3);
    assert_eq!(v["flapping_categories"][0]["flaps"], 1);
    assert_eq!(v["heatmap"]["days"][0]["day"], "Mon");
    assert_eq!(v["heatmap"]["days"][0]["hours"][22], 1);
    assert_eq!(v["people"][0]["sleep_nights"], 1);
    assert_eq!(v["response"]["acked_within_5m_pct"], 80);
}
