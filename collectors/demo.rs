//! Demo collector: a believable six-person on-call team, synthesised from the wall clock.
//!
//! **Reads** nothing: the feed is a pure function of the seed and the time. The team's main
//! zone is Europe/London and its services follow London's day. Six people in six zones
//! (London, Amsterdam, New York, Los Angeles, Kolkata, Sydney) rotate weekly, handing over on
//! Monday at 10:00 London time: one primary, and a secondary (next week's primary) whom a
//! high-urgency incident escalates to after 15 minutes without an acknowledgement.
//! Each London day gets a seeded number of incidents per stream, spread over the day's hours
//! by that stream's hourly profile: service traffic alerts (7-12 on weekdays, 4-7 at weekends,
//! times a weekly factor of 0.85-1.15; few at night), nightly batch-job failures (0-2, between
//! 01:00 and 05:00), and a flapping "Health check failed on web-N" check (3-6, day and night)
//! that the monitoring integration resolves within 5 minutes. A normal day has 6 to 22
//! incidents, about a third of them the flapping check. One ISO week in each block of four
//! (which one is seeded) is a bad week: busier, and a two-day incident storm on one service
//! adds 30-44.
//! High urgency pages by push, then SMS after 1 and phone after 5 minutes unacknowledged; low
//! urgency by push and e-mail, acknowledged late or never. People asleep in their own zone are
//! slower and miss more pages. Titles carry changing numbers, hosts and pod names.
//! All of an incident's events come from its key (seed, day, stream, index) and it lives less
//! than 8 hours, so `collect` looks that far back and returns exactly the events inside the
//! window, however the windows are cut; no state is kept.
//!
//! **Emits** every event kind: `Triggered`, `Assigned` (the primary), `Notified` (push, SMS,
//! phone, e-mail), `Acknowledged`, `Escalated` (to the secondary), `Resolved` (by a person, or
//! by nobody when the monitoring integration resolved it).
//!
//! **Config**: `--demo` (or `PTSD_DEMO=true`), `PTSD_DEMO_SEED` (default 1). A hidden test
//! hook, `PTSD_DEMO_START` (`--demo-start`, RFC 3339), plays the feed as if the clock had read
//! that time when ptsd started: each window is read from the feed that much earlier or later,
//! and its events are stamped back onto the real clock, so the engine's windows (which follow
//! the real clock) hold them. Only the feed moves: hour bands and the output's times stay on
//! the real clock. It lets a test see the demo's first output at any hour of the week.

use std::sync::LazyLock;

use async_trait::async_trait;
use jiff::{civil::Date, tz::TimeZone, SignedDuration, Timestamp};

use super::{CollectError, Collected, Collector, CollectorSettings};
use crate::config::{Config, ConfigError};
use crate::event::{Channel, Event, EventKind, Incident, Person, Window};

/// The registry name and `provider` tag.
pub const NAME: &str = "demo";

/// The demo feed's options (`--demo` itself is the engine's, since it changes its defaults).
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Demo feed")]
pub struct DemoSettings {
    /// Seed of the demo feed (same seed, same events).
    #[arg(long, env = "PTSD_DEMO_SEED", default_value_t = 1)]
    pub demo_seed: u64,

    /// Test hook: play the demo feed as if the clock read this time (RFC 3339) at start.
    #[arg(long, env = "PTSD_DEMO_START", hide = true)]
    pub demo_start: Option<String>,
}

impl CollectorSettings for DemoSettings {
    const NAME: &'static str = NAME;
    const ENABLE: &'static str = "run with --demo";

    /// Always available; `build_all` uses it only with `--demo`.
    fn build(self, _config: &Config) -> Result<Option<Box<dyn Collector>>, ConfigError> {
        let shift = match &self.demo_start {
            None => SignedDuration::ZERO,
            Some(raw) => {
                let start: Timestamp = raw.trim().parse().map_err(|_| {
                    ConfigError(format!(
                        "PTSD_DEMO_START={raw:?} is not an RFC 3339 time; set it like 2026-11-30T01:36:00Z"
                    ))
                })?;
                start.duration_since(Timestamp::now())
            }
        };
        Ok(Some(Box::new(DemoCollector {
            seed: self.demo_seed,
            shift,
        })))
    }
}

/// The demo feed.
pub struct DemoCollector {
    seed: u64,
    /// Feed time minus real time (`PTSD_DEMO_START`); zero without it.
    shift: SignedDuration,
}

/// The team's main zone: services follow its day, days and weeks are its days and weeks.
const MAIN_ZONE: &str = "Europe/London";
/// The rotation hands over on Monday at this hour, main-zone time.
const HANDOFF_HOUR: i64 = 10;
/// Longest incident lifecycle; a window looks this far back for incidents still unfolding.
const LONGEST_INCIDENT: SignedDuration = SignedDuration::from_hours(8);
/// High-urgency incidents escalate to the secondary after this long without acknowledgement.
const ESCALATE_AFTER: i64 = 15 * 60;
/// 1970-01-01 was a Thursday: day index 4 (1970-01-05) is the first Monday.
const FIRST_MONDAY: i64 = 4;

/// The rotation, in order: (id, name, time zone). Week `w`'s primary is entry `w + seed`, its
/// secondary the next entry (next week's primary).
const PEOPLE: [(&str, &str, &str); 6] = [
    ("PDEMO01", "Ada Lovelace", "Europe/London"),
    ("PDEMO02", "Grace Hopper", "America/New_York"),
    ("PDEMO03", "Alan Turing", "Asia/Kolkata"),
    ("PDEMO05", "Edsger Dijkstra", "Europe/Amsterdam"),
    ("PDEMO06", "Margaret Hamilton", "America/Los_Angeles"),
    ("PDEMO04", "Katherine Johnson", "Australia/Sydney"),
];

static MAIN: LazyLock<TimeZone> =
    LazyLock::new(|| TimeZone::get(MAIN_ZONE).unwrap_or(TimeZone::UTC));
static ZONES: LazyLock<Vec<TimeZone>> = LazyLock::new(|| {
    PEOPLE
        .iter()
        .map(|(_, _, zone)| TimeZone::get(zone).unwrap_or(TimeZone::UTC))
        .collect()
});

/// One kind of alert: how often it is picked (relative `weight`), its service, its title (`#`
/// becomes a number drawn from the next range of `nums`, `~` a Kubernetes-style pod name part)
/// and how often it is high urgency (percent).
struct Alert {
    weight: u64,
    service: &'static str,
    title: &'static str,
    nums: &'static [(u64, u64)],
    high_percent: u64,
}

const fn alert(
    weight: u64,
    service: &'static str,
    title: &'static str,
    nums: &'static [(u64, u64)],
    high_percent: u64,
) -> Alert {
    Alert {
        weight,
        service,
        title,
        nums,
        high_percent,
    }
}

/// Everyday alerts from the services' traffic.
#[rustfmt::skip]
const TRAFFIC: &[Alert] = &[
    alert(6, "Checkout API", "p99 latency #ms on checkout-api-#", &[(800, 4000), (1, 8)], 70),
    alert(4, "Checkout API", "5xx rate #% on checkout-api-#", &[(2, 30), (1, 8)], 90),
    alert(5, "Payments DB", "Replication lag #s on pg-replica-#", &[(30, 900), (1, 4)], 50),
    alert(5, "Payments DB", "disk #% full on db-#", &[(85, 97), (1, 6)], 30),
    alert(4, "Search", "Index lag #s on search-indexer-#", &[(60, 1800), (1, 3)], 20),
    alert(3, "Search", "Cluster search-# status yellow: # unassigned shards", &[(1, 3), (1, 40)], 10),
    alert(3, "Kubernetes", "Pod payments-worker-~-~ CrashLoopBackOff", &[], 80),
    alert(2, "Kubernetes", "Node ip-10-0-#-# NotReady", &[(1, 9), (2, 250)], 80),
    alert(1, "Auth", "TLS certificate for auth.example.com expires in # days", &[(3, 14)], 0),
];

/// Nightly batch jobs that fail now and then (low urgency, 01:00-05:00).
#[rustfmt::skip]
const BATCH: &[Alert] = &[
    alert(3, "Data pipeline", "Job nightly-export-# failed with exit code #", &[(2800, 2999), (1, 137)], 0),
    alert(2, "Data pipeline", "Backup of db-# took # minutes (limit 60)", &[(1, 6), (61, 180)], 0),
];

/// The flapping check: pages day and night, and clears itself within 5 minutes.
#[rustfmt::skip]
const FLAPPING: &[Alert] = &[
    alert(1, "Web frontend", "Health check failed on web-#", &[(1, 12)], 100),
];

/// A bad week's storm, one list per service that can catch fire: what it pages about then.
#[rustfmt::skip]
const STORMS: [&[Alert]; 3] = [
    &[
        alert(3, "Checkout API", "5xx rate #% on checkout-api-#", &[(5, 60), (1, 8)], 100),
        alert(2, "Checkout API", "p99 latency #ms on checkout-api-#", &[(2000, 9000), (1, 8)], 100),
        alert(2, "Checkout API", "Pod checkout-api-~-~ CrashLoopBackOff", &[], 100),
    ],
    &[
        alert(3, "Payments DB", "Replication lag #s on pg-replica-#", &[(300, 3600), (1, 4)], 100),
        alert(2, "Payments DB", "Connections # of 500 used on pg-primary-#", &[(450, 500), (1, 2)], 100),
        alert(2, "Payments DB", "Slow queries: # over 5s on db-#", &[(20, 400), (1, 6)], 100),
    ],
    &[
        alert(3, "Search", "Cluster search-# status red: # unassigned shards", &[(1, 3), (40, 300)], 100),
        alert(2, "Search", "Query timeouts # per minute on search-#", &[(50, 900), (1, 6)], 100),
        alert(2, "Search", "Index lag #s on search-indexer-#", &[(1800, 7200), (1, 3)], 100),
    ],
];

/// SplitMix64's finaliser.
fn finalise(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64: a tiny, well-known mixing function; enough for a demo.
fn mix(z: u64) -> u64 {
    finalise(z.wrapping_add(GOLDEN))
}

/// A SplitMix64 stream keyed by the seed and a few numbers.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, key: &[u64]) -> Rng {
        Rng(key.iter().fold(mix(seed), |s, k| mix(s ^ k)))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        finalise(self.0)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Whole seconds `lo + span * u^power`: mostly short, now and then long.
    fn skewed(&mut self, lo: i64, span: i64, power: i32) -> i64 {
        lo + (span as f64 * self.unit().powi(power)) as i64
    }
}

/// Salts that keep the hash streams apart.
const DAY_SALT: u64 = 0xD4;
const WEEK_SALT: u64 = 0x3EE4;
const STORM_SALT: u64 = 0x5702;
const INCIDENT_SALT: u64 = 0x1C1D;

/// The incident streams; each day has a seeded number of incidents of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Traffic,
    Batch,
    Flapping,
    Storm,
}

impl Stream {
    const ALL: [Stream; 4] = [
        Stream::Traffic,
        Stream::Batch,
        Stream::Flapping,
        Stream::Storm,
    ];

    /// The letter in incident ids.
    fn tag(self) -> char {
        match self {
            Stream::Traffic => 't',
            Stream::Batch => 'b',
            Stream::Flapping => 'f',
            Stream::Storm => 's',
        }
    }
}

/// Week index (Monday-based, so one per ISO week) of day index `day`.
fn week_of(day: i64) -> i64 {
    (day - FIRST_MONDAY).div_euclid(7)
}

/// 0 = Monday .. 6 = Sunday.
fn weekday_of(day: i64) -> i64 {
    (day - FIRST_MONDAY).rem_euclid(7)
}

/// Whether week `week` is the bad one of its block of four (which one is seeded).
fn bad_week(seed: u64, week: i64) -> bool {
    let block = week.div_euclid(4);
    (mix(seed ^ mix(STORM_SALT ^ block as u64)) % 4) as i64 == week.rem_euclid(4)
}

/// A bad week's storm: (service index into [`STORMS`], first weekday (Tue-Thu), start hour).
fn storm(seed: u64, week: i64) -> (usize, i64, i8) {
    let mut r = Rng::new(seed, &[STORM_SALT, week as u64]);
    let service = r.range(0, STORMS.len() as u64 - 1) as usize;
    let first = r.range(1, 3) as i64;
    let hour = r.range(9, 15) as i8;
    (service, first, hour)
}

/// How busy the week's traffic is: 0.85 to 1.15, at least 1 in a bad week.
fn week_factor(seed: u64, week: i64) -> f64 {
    let u = Rng::new(seed, &[WEEK_SALT, week as u64]).unit();
    if bad_week(seed, week) {
        1.0 + 0.15 * u
    } else {
        0.85 + 0.3 * u
    }
}

/// The rotation week of a moment on day `day` at main-zone hour `hour`: weeks start on Monday
/// at [`HANDOFF_HOUR`].
fn rotation_week(day: i64, hour: i8) -> i64 {
    ((day - FIRST_MONDAY) * 24 + i64::from(hour) - HANDOFF_HOUR).div_euclid(7 * 24)
}

/// (primary, secondary) of rotation week `week`, as indices into [`PEOPLE`].
fn on_call(seed: u64, week: i64) -> (usize, usize) {
    let n = PEOPLE.len() as i64;
    let primary = (week + (seed % PEOPLE.len() as u64) as i64).rem_euclid(n);
    (primary as usize, ((primary + 1) % n) as usize)
}

fn person(i: usize) -> Person {
    let (id, name, zone) = PEOPLE[i % PEOPLE.len()];
    let email = format!(
        "{}@example.com",
        name.split(' ').next().unwrap_or(name).to_lowercase()
    );
    Person {
        id: id.into(),
        name: Some(name.into()),
        email: Some(email),
        time_zone: Some(zone.into()),
    }
}

/// Whether person `i` is in their sleep hours (22:00-08:00 local) at `t`.
fn asleep(i: usize, t: Timestamp) -> bool {
    let hour = t.to_zoned(ZONES[i % ZONES.len()].clone()).hour();
    !(8..22).contains(&hour)
}

/// One main-zone day: its index (days since 1970-01-01), first instant, and the local hour of
/// each of its elapsed hours (23 or 25 of them on daylight-saving days).
struct Day {
    date: Date,
    index: i64,
    start: Timestamp,
    hours: Vec<i8>,
}

impl Day {
    fn of(date: Date) -> Option<Day> {
        let start = date.to_zoned(MAIN.clone()).ok()?.start_of_day().ok()?;
        let end = start.tomorrow().ok()?.start_of_day().ok()?;
        let start = start.timestamp();
        let len = end.timestamp().as_second() - start.as_second();
        let hours = (0..len / 3600)
            .map(|i| {
                (start + SignedDuration::from_hours(i))
                    .to_zoned(MAIN.clone())
                    .hour()
            })
            .collect();
        // The main zone's midnight is within a few hours of UTC's: noon names the day.
        let index = (start.as_second() + 12 * 3600).div_euclid(86_400);
        Some(Day {
            date,
            index,
            start,
            hours,
        })
    }
}

/// The traffic profile: quiet nights, busy office hours, a tail in the evening.
fn traffic_weight(hour: i8) -> f64 {
    match hour {
        0..=5 => 0.2,
        6 => 0.4,
        7 => 0.7,
        8..=9 | 16..=17 => 1.0,
        10..=15 => 1.2,
        18..=20 => 0.8,
        21..=22 => 0.5,
        _ => 0.3,
    }
}

/// How many incidents of each stream day `day` has, and their hourly profile.
fn stream_plan(seed: u64, day: &Day, stream: Stream) -> (u64, Vec<f64>) {
    let week = week_of(day.index);
    let weekday = weekday_of(day.index);
    let mut r = Rng::new(seed, &[DAY_SALT, day.index as u64, stream.tag() as u64]);
    let profile = |f: &dyn Fn(i8) -> f64| day.hours.iter().map(|&h| f(h)).collect();
    match stream {
        Stream::Traffic => {
            let n = if weekday < 5 {
                r.range(7, 12)
            } else {
                r.range(4, 7)
            };
            let n = (n as f64 * week_factor(seed, week)).round() as u64;
            (n, profile(&traffic_weight))
        }
        Stream::Batch => (
            r.range(0, 2),
            profile(&|h| if (1..5).contains(&h) { 1.0 } else { 0.0 }),
        ),
        Stream::Flapping => (
            r.range(3, 6),
            profile(&|h| if (8..22).contains(&h) { 1.0 } else { 0.6 }),
        ),
        Stream::Storm => {
            if !bad_week(seed, week) {
                return (0, Vec::new());
            }
            let (_, first, start_hour) = storm(seed, week);
            if weekday == first {
                (
                    r.range(18, 26),
                    profile(&|h| if h >= start_hour { 1.0 } else { 0.0 }),
                )
            } else if weekday == first + 1 {
                (
                    r.range(12, 18),
                    profile(&|h| match h {
                        0..=7 => 0.6,
                        8..=15 => 1.0,
                        _ => 0.0,
                    }),
                )
            } else {
                (0, Vec::new())
            }
        }
    }
}

/// An incident-to-be: when it starts, and the stream of numbers that decides the rest.
struct Planned {
    id: String,
    stream: Stream,
    start: Timestamp,
    week: i64,
    alerts: &'static [Alert],
    rng: Rng,
}

/// Day `day`'s incidents, in stream order, each stream in time order: the `k`-th of `n` falls
/// at a seeded point of the `k`-th `n`-quantile of the stream's hourly profile.
fn plan_day(seed: u64, day: &Day) -> Vec<Planned> {
    let mut out = Vec::new();
    for stream in Stream::ALL {
        let (n, weights) = stream_plan(seed, day, stream);
        let total: f64 = weights.iter().sum();
        if n == 0 || total <= 0.0 {
            continue;
        }
        for k in 0..n {
            let key = [INCIDENT_SALT, day.index as u64, stream.tag() as u64, k];
            let mut rng = Rng::new(seed, &key);
            let mut target = (k as f64 + rng.unit()) / n as f64 * total;
            let mut hour = weights.len() - 1;
            for (i, &w) in weights.iter().enumerate() {
                if target < w {
                    hour = i;
                    break;
                }
                target -= w;
            }
            let within = if weights[hour] > 0.0 {
                (target / weights[hour] * 3600.0).clamp(0.0, 3599.0) as i64
            } else {
                0
            };
            let start = day.start + SignedDuration::from_secs(hour as i64 * 3600 + within);
            let alerts = match stream {
                Stream::Traffic => TRAFFIC,
                Stream::Batch => BATCH,
                Stream::Flapping => FLAPPING,
                Stream::Storm => STORMS[storm(seed, week_of(day.index)).0],
            };
            out.push(Planned {
                id: format!("demo-{}-{}{k}", day.date, stream.tag()),
                stream,
                start,
                week: rotation_week(day.index, day.hours[hour]),
                alerts,
                rng,
            });
        }
    }
    out
}

/// Fills an alert's title with fresh numbers and pod suffixes.
fn title(alert: &Alert, r: &mut Rng) -> String {
    const KUBE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut nums = alert.nums.iter();
    let mut out = String::with_capacity(alert.title.len() + 8);
    let mut pods = 0;
    for c in alert.title.chars() {
        match c {
            '#' => {
                let (lo, hi) = nums.next().copied().unwrap_or((1, 9));
                out.push_str(&r.range(lo, hi).to_string());
            }
            '~' => {
                // A ReplicaSet hash (9-10 characters), then the pod's own 5.
                let len = if pods == 0 { 9 + r.range(0, 1) } else { 5 };
                pods += 1;
                for _ in 0..len {
                    out.push(KUBE[r.range(0, KUBE.len() as u64 - 1) as usize] as char);
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn pick<'a>(alerts: &'a [Alert], r: &mut Rng) -> &'a Alert {
    let total: u64 = alerts.iter().map(|a| a.weight).sum();
    let mut x = r.range(0, total - 1);
    for a in alerts {
        if x < a.weight {
            return a;
        }
        x -= a.weight;
    }
    &alerts[alerts.len() - 1]
}

/// An incident's events, numbered in the order they are written.
struct Lifecycle {
    incident: Incident,
    start: Timestamp,
    events: Vec<Event>,
}

impl Lifecycle {
    fn push(&mut self, secs: i64, kind: EventKind) {
        self.events.push(Event {
            record_id: format!("{}-{}", self.incident.id, self.events.len() + 1),
            at: self.start + SignedDuration::from_secs(secs),
            kind,
            incident: Some(self.incident.clone()),
        });
    }

    fn notify(&mut self, secs: i64, who: usize, channel: Channel) {
        let user = person(who);
        self.push(secs, EventKind::Notified { user, channel });
    }
}

/// Every event of a planned incident, in time order.
fn incident_events(seed: u64, planned: Planned) -> Vec<Event> {
    let Planned {
        id,
        stream,
        start,
        week,
        alerts,
        mut rng,
    } = planned;
    let r = &mut rng;
    let alert = pick(alerts, r);
    let high = r.range(0, 99) < alert.high_percent;
    let urgency = if high { "high" } else { "low" };
    let (primary, secondary) = on_call(seed, week);
    let mut l = Lifecycle {
        incident: Incident {
            id,
            created_at: Some(start),
            title: Some(title(alert, r)),
            service: Some(alert.service.into()),
            urgency: Some(urgency.into()),
        },
        start,
        events: Vec::with_capacity(12),
    };
    l.push(
        0,
        EventKind::Triggered {
            service: alert.service.into(),
            urgency: urgency.into(),
        },
    );
    l.push(
        0,
        EventKind::Assigned {
            user: person(primary),
        },
    );
    l.notify(1, primary, Channel::Push);
    let sleeping = asleep(primary, start);
    if stream == Stream::Flapping {
        // The check clears itself before anyone could look; now and then someone acks first.
        let resolve = r.skewed(40, 250, 1);
        let ack = r
            .chance(if sleeping { 0.15 } else { 0.35 })
            .then(|| r.skewed(20, resolve - 25, 1));
        if ack.unwrap_or(resolve) > 60 {
            l.notify(60, primary, Channel::Sms);
        }
        if let Some(at) = ack {
            l.push(
                at,
                EventKind::Acknowledged {
                    user: Some(person(primary)),
                },
            );
        }
        l.push(resolve, EventKind::Resolved { user: None });
    } else if high {
        // Push now, SMS after a minute, phone after five; escalate after fifteen.
        let missed = r.chance(if sleeping { 0.12 } else { 0.05 });
        let ack = if sleeping {
            r.skewed(90, 1500, 2)
        } else {
            r.skewed(30, 570, 3)
        };
        let escalates = missed || ack >= ESCALATE_AFTER;
        let stop = if escalates { ESCALATE_AFTER } else { ack };
        if stop > 60 {
            l.notify(60, primary, Channel::Sms);
        }
        if stop > 300 {
            l.notify(300, primary, Channel::Phone);
        }
        let (acker, ack) = if escalates {
            let e = ESCALATE_AFTER;
            l.push(
                e,
                EventKind::Escalated {
                    user: person(secondary),
                },
            );
            l.notify(e + 1, secondary, Channel::Push);
            let ack = e + if asleep(secondary, start + SignedDuration::from_secs(e)) {
                r.skewed(120, 1080, 2)
            } else {
                r.skewed(45, 400, 2)
            };
            if ack > e + 60 {
                l.notify(e + 60, secondary, Channel::Sms);
            }
            if ack > e + 300 {
                l.notify(e + 300, secondary, Channel::Phone);
            }
            (secondary, ack)
        } else {
            (primary, ack)
        };
        l.push(
            ack,
            EventKind::Acknowledged {
                user: Some(person(acker)),
            },
        );
        if r.chance(0.2) {
            // The condition cleared; the integration resolved it.
            l.push(
                ack + r.skewed(300, 2100, 1),
                EventKind::Resolved { user: None },
            );
        } else {
            l.push(
                ack + r.skewed(300, 5100, 2),
                EventKind::Resolved {
                    user: Some(person(acker)),
                },
            );
        }
    } else {
        // Low urgency: push and e-mail, looked at when there is time, if at all.
        l.notify(2, primary, Channel::Email);
        if r.chance(0.55) {
            let ack = r.skewed(300, 10_500, 2);
            l.push(
                ack,
                EventKind::Acknowledged {
                    user: Some(person(primary)),
                },
            );
            l.push(
                ack + r.skewed(600, 4800, 1),
                EventKind::Resolved {
                    user: Some(person(primary)),
                },
            );
        } else if r.chance(0.6) {
            l.push(
                r.skewed(1200, 20_400, 1),
                EventKind::Resolved { user: None },
            );
        } else {
            l.push(
                r.skewed(1800, 12_600, 1),
                EventKind::Resolved {
                    user: Some(person(primary)),
                },
            );
        }
    }
    l.events.sort_by_key(|e| e.at);
    l.events
}

/// Every event of seed `seed` inside `window` moved by `shift` on the feed's clock, stamped
/// back on the real clock (so each one is inside `window`).
fn shifted_events_in(seed: u64, window: Window, shift: SignedDuration) -> Vec<Event> {
    if shift.is_zero() {
        return events_in(seed, window);
    }
    let (Some(since), Some(until)) = (
        window.since.checked_add(shift).ok(),
        window.until.checked_add(shift).ok(),
    ) else {
        return Vec::new();
    };
    let mut events = events_in(seed, Window::new(since, until));
    for e in &mut events {
        e.at = e.at.checked_sub(shift).unwrap_or(e.at);
        if let Some(created) = e.incident.as_mut().and_then(|i| i.created_at.as_mut()) {
            *created = created.checked_sub(shift).unwrap_or(*created);
        }
    }
    events
}

/// Every event of seed `seed` inside `window`.
fn events_in(seed: u64, window: Window) -> Vec<Event> {
    let mut events = Vec::new();
    if window.until <= window.since {
        return events;
    }
    let from = window
        .since
        .checked_sub(LONGEST_INCIDENT)
        .unwrap_or(window.since);
    let mut date = from.to_zoned(MAIN.clone()).date();
    while let Some(day) = Day::of(date) {
        if day.start >= window.until {
            break;
        }
        for planned in plan_day(seed, &day) {
            if planned.start < from || planned.start >= window.until {
                continue;
            }
            events.extend(
                incident_events(seed, planned)
                    .into_iter()
                    .filter(|e| window.contains(e.at)),
            );
        }
        match date.tomorrow() {
            Ok(next) => date = next,
            Err(_) => break,
        }
    }
    events.sort_by_key(|e| e.at);
    events
}

#[async_trait]
impl Collector for DemoCollector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn check(&mut self) -> Result<(), CollectError> {
        Ok(())
    }

    async fn collect(&mut self, window: Window) -> Result<Collected, CollectError> {
        Ok(Collected {
            events: shifted_events_in(self.seed, window, self.shift),
            ..Collected::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashSet};

    use jiff::civil::Weekday;

    use super::*;
    use crate::analysis::category::normalise;

    const SEEDS: [u64; 5] = [1, 2, 3, 7, 42];
    /// A Monday (London midnight is UTC's in winter); ten weeks take in March's clock change.
    const FIRST: &str = "2026-02-02T00:00:00Z";
    const WEEKS: i64 = 10;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn span(since: Timestamp, secs: i64) -> Window {
        Window::new(since, since + SignedDuration::from_secs(secs))
    }

    /// Every event of `WEEKS` whole London weeks from `FIRST`.
    fn weeks(seed: u64) -> Vec<Event> {
        let first = london(ts(FIRST)).date();
        let end = first + SignedDuration::from_hours(WEEKS * 7 * 24);
        events_in(
            seed,
            Window::new(Day::of(first).unwrap().start, Day::of(end).unwrap().start),
        )
    }

    fn london(t: Timestamp) -> jiff::Zoned {
        t.to_zoned(MAIN.clone())
    }

    fn day_index(date: Date) -> i64 {
        Day::of(date).unwrap().index
    }

    fn triggered(events: &[Event]) -> impl Iterator<Item = &Event> {
        events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Triggered { .. }))
    }

    fn title(e: &Event) -> &str {
        e.incident.as_ref().unwrap().title.as_deref().unwrap()
    }

    fn is_flapping(e: &Event) -> bool {
        title(e).starts_with("Health check failed")
    }

    fn pages(events: &[Event]) -> impl Iterator<Item = (&Event, &Person)> {
        events.iter().filter_map(|e| match &e.kind {
            EventKind::Notified { user, .. } => Some((e, user)),
            _ => None,
        })
    }

    /// The Monday 10:00 (London) that starts the rotation week of `t`, worked out afresh.
    fn handoff_monday(t: Timestamp) -> Date {
        let local = london(t).datetime() - SignedDuration::from_hours(HANDOFF_HOUR);
        let date = local.date();
        let back = i64::from(date.weekday().to_monday_zero_offset());
        date - SignedDuration::from_hours(24 * back)
    }

    #[test]
    fn days_have_5_to_25_incidents_but_a_bad_week_has_more() {
        for seed in SEEDS {
            let events = weeks(seed);
            let mut per_day: BTreeMap<Date, u32> = BTreeMap::new();
            let mut date = london(ts(FIRST)).date();
            for _ in 0..WEEKS * 7 {
                per_day.insert(date, 0);
                date = date.tomorrow().unwrap();
            }
            for e in triggered(&events) {
                *per_day.get_mut(&london(e.at).date()).unwrap() += 1;
            }
            let mut per_week: BTreeMap<i64, (bool, u32)> = BTreeMap::new();
            for (&date, &n) in &per_day {
                let week = week_of(day_index(date));
                let bad = bad_week(seed, week);
                if !bad {
                    assert!((5..=25).contains(&n), "seed {seed}, {date}: {n} incidents");
                }
                per_week.entry(week).or_insert((bad, 0)).1 += n;
            }
            let normal: Vec<u32> = per_week.values().filter(|w| !w.0).map(|w| w.1).collect();
            let bad: Vec<u32> = per_week.values().filter(|w| w.0).map(|w| w.1).collect();
            assert!(
                (1..=4).contains(&bad.len()),
                "seed {seed}: bad weeks {bad:?}"
            );
            let mean = normal.iter().sum::<u32>() as f64 / normal.len() as f64;
            for b in bad {
                assert!(b as f64 > 1.2 * mean, "seed {seed}: bad week {b} vs {mean}");
            }
            // Normal weeks differ among themselves too.
            assert!(
                normal.iter().collect::<BTreeSet<_>>().len() > 1,
                "{normal:?}"
            );
        }
    }

    #[test]
    fn one_week_in_four_is_bad() {
        for seed in SEEDS {
            for block in -3..30 {
                let bad = (0..4).filter(|i| bad_week(seed, block * 4 + i)).count();
                assert_eq!(bad, 1, "seed {seed}, block {block}");
            }
        }
    }

    #[test]
    fn the_flapping_check_is_the_noisiest_and_clears_itself_within_5_minutes() {
        for seed in SEEDS {
            let events = weeks(seed);
            let mut categories: BTreeMap<String, u32> = BTreeMap::new();
            for e in triggered(&events) {
                *categories.entry(normalise(title(e))).or_default() += 1;
            }
            let (top, n) = categories.iter().max_by_key(|(_, &n)| n).unwrap();
            assert_eq!(
                top,
                &normalise("Health check failed on web-7"),
                "{categories:?}"
            );
            let incidents = triggered(&events).count();
            let share = f64::from(*n) / incidents as f64;
            assert!(
                (0.2..=0.4).contains(&share),
                "seed {seed}: flapping {share}"
            );
            let flaps: HashSet<&str> = triggered(&events)
                .filter(|e| is_flapping(e))
                .map(|e| e.incident.as_ref().unwrap().id.as_str())
                .collect();
            let mut resolved = 0;
            for e in events.iter().filter(|e| is_flapping(e)) {
                let inc = e.incident.as_ref().unwrap();
                if let EventKind::Resolved { user } = &e.kind {
                    assert_eq!(user, &None, "the integration resolves it");
                    let took = e.at.duration_since(inc.created_at.unwrap());
                    assert!(took <= SignedDuration::from_mins(5), "{took:?}");
                    resolved += usize::from(flaps.contains(inc.id.as_str()));
                }
                assert!(!matches!(e.kind, EventKind::Escalated { .. }));
            }
            assert_eq!(resolved, flaps.len());
        }
    }

    #[test]
    fn one_primary_a_week_escalating_to_the_secondary_and_everyone_gets_pages() {
        for seed in SEEDS {
            let events = weeks(seed);
            let mut primaries: BTreeMap<Date, BTreeSet<String>> = BTreeMap::new();
            let mut escalated: BTreeMap<Date, BTreeSet<String>> = BTreeMap::new();
            for e in &events {
                let inc_start = e.incident.as_ref().unwrap().created_at.unwrap();
                let week = handoff_monday(inc_start);
                match &e.kind {
                    EventKind::Assigned { user } => {
                        primaries.entry(week).or_default().insert(user.id.clone());
                    }
                    EventKind::Escalated { user } => {
                        escalated.entry(week).or_default().insert(user.id.clone());
                    }
                    _ => {}
                }
            }
            assert!(primaries.len() >= WEEKS as usize);
            let mut previous: Option<&String> = None;
            for (monday, who) in &primaries {
                assert_eq!(monday.weekday(), Weekday::Monday);
                assert_eq!(who.len(), 1, "seed {seed}, week of {monday}: {who:?}");
                let primary = who.first().unwrap();
                assert_ne!(Some(primary), previous, "the rotation moves on");
                previous = Some(primary);
            }
            assert!(!escalated.is_empty(), "some incidents escalate");
            for (monday, who) in &escalated {
                let next = *monday + SignedDuration::from_hours(7 * 24);
                assert_eq!(who.len(), 1, "one secondary: {who:?}");
                assert!(!primaries[monday].contains(who.first().unwrap()));
                if let Some(next_primary) = primaries.get(&next) {
                    assert_eq!(who, next_primary, "the secondary is next week's primary");
                }
            }
            let paged: BTreeSet<&str> = pages(&events).map(|(_, p)| p.id.as_str()).collect();
            assert_eq!(paged.len(), PEOPLE.len(), "seed {seed}: {paged:?}");
            let zones: BTreeSet<&str> = pages(&events)
                .filter_map(|(_, p)| p.time_zone.as_deref())
                .collect();
            assert_eq!(zones.len(), PEOPLE.len());
        }
    }

    #[test]
    fn nights_are_quieter_than_days_but_people_are_woken() {
        for seed in SEEDS {
            let events = weeks(seed);
            let hour = |e: &Event| london(e.at).hour();
            let night = triggered(&events).filter(|e| hour(e) < 8).count();
            let day = triggered(&events)
                .filter(|e| (8..16).contains(&hour(e)))
                .count();
            assert!(
                3 * night < 2 * day,
                "seed {seed}: {night} at night, {day} by day"
            );
            let night_pages = pages(&events).filter(|(e, _)| hour(e) < 8).count();
            let day_pages = pages(&events)
                .filter(|(e, _)| (8..16).contains(&hour(e)))
                .count();
            assert!(night_pages < day_pages);
            let sleep_pages = pages(&events)
                .filter(|(e, p)| {
                    let i = PEOPLE.iter().position(|x| x.0 == p.id).unwrap();
                    asleep(i, e.at)
                })
                .count();
            let all = pages(&events).count();
            assert!(
                sleep_pages > 0 && sleep_pages < all,
                "{sleep_pages} of {all}"
            );
        }
    }

    #[test]
    fn channels_urgencies_and_response_times_look_real() {
        let events = weeks(1);
        let mut channels: BTreeMap<&str, usize> = BTreeMap::new();
        for e in &events {
            if let EventKind::Notified { channel, .. } = &e.kind {
                *channels.entry(channel.as_str()).or_default() += 1;
            }
        }
        let push = channels["push"];
        for c in ["sms", "phone", "email"] {
            assert!(
                channels.get(c).is_some_and(|&n| n > 0 && n < push),
                "{channels:?}"
            );
        }
        let services: BTreeSet<_> = triggered(&events)
            .filter_map(|e| e.incident.as_ref().unwrap().service.clone())
            .collect();
        assert!(services.len() >= 5, "{services:?}");
        // Time to first acknowledgement, by urgency.
        let mut first_ack: BTreeMap<&str, (Timestamp, &str)> = BTreeMap::new();
        for e in &events {
            let inc = e.incident.as_ref().unwrap();
            if let EventKind::Acknowledged { .. } = e.kind {
                first_ack
                    .entry(inc.id.as_str())
                    .or_insert((e.at, inc.urgency.as_deref().unwrap()));
            }
        }
        let starts: BTreeMap<&str, Timestamp> = triggered(&events)
            .map(|e| (e.incident.as_ref().unwrap().id.as_str(), e.at))
            .collect();
        let median = |urgency: &str| {
            let mut secs: Vec<i64> = first_ack
                .iter()
                .filter(|(id, (_, u))| *u == urgency && !id.contains("-f"))
                .map(|(id, (at, _))| at.duration_since(starts[id]).as_secs())
                .collect();
            secs.sort_unstable();
            assert!(secs.len() > 20, "{urgency}: {}", secs.len());
            (secs[0], secs[secs.len() / 2], secs[secs.len() - 1])
        };
        let (high_min, high_median, high_max) = median("high");
        let (_, low_median, _) = median("low");
        assert!(
            high_min >= 20 && high_max <= 45 * 60,
            "{high_min} {high_max}"
        );
        assert!((60..=600).contains(&high_median), "{high_median}");
        assert!(
            low_median > 2 * high_median,
            "{low_median} vs {high_median}"
        );
        let auto = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Resolved { user: None }))
            .count();
        let by_people = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Resolved { user: Some(_) }))
            .count();
        assert!(auto > 0 && by_people > 0);
    }

    #[test]
    fn titles_carry_changing_numbers_that_the_categoriser_masks() {
        let events = weeks(3);
        let titles: BTreeSet<&str> = triggered(&events).map(title).collect();
        let categories: BTreeSet<String> = titles.iter().map(|t| normalise(t)).collect();
        assert!(titles.len() > 5 * categories.len(), "{categories:?}");
        assert!(categories.len() <= TRAFFIC.len() + BATCH.len() + 1 + 9);
        assert!(
            categories.contains("pod payments-worker crashloopbackoff"),
            "{categories:?}"
        );
    }

    #[tokio::test]
    async fn windows_cut_anyhow_give_the_same_events() {
        let key = |e: &Event| (e.at, e.record_id.clone());
        for seed in [1, 9] {
            let mut c = DemoCollector {
                seed,
                shift: SignedDuration::ZERO,
            };
            let whole_window = span(ts("2026-03-04T05:17:23Z"), 3 * 86_400);
            let mut whole = c.collect(whole_window).await.unwrap().events;
            assert_eq!(whole, c.collect(whole_window).await.unwrap().events);
            whole.sort_by_key(key);
            let ids: HashSet<&str> = whole.iter().map(|e| e.record_id.as_str()).collect();
            assert_eq!(ids.len(), whole.len(), "record ids are unique");
            // Cut the whole into pieces of 1 s to 10 h, at seeded points.
            let mut r = Rng::new(seed, &[99]);
            let mut parts = Vec::new();
            let mut at = whole_window.since;
            while at < whole_window.until {
                let next = (at + SignedDuration::from_secs(r.skewed(1, 36_000, 3)))
                    .min(whole_window.until);
                parts.extend(c.collect(Window::new(at, next)).await.unwrap().events);
                at = next;
            }
            parts.sort_by_key(key);
            assert_eq!(parts, whole);
            // [a, b) + [b, c) == [a, c), for many a < b < c.
            for _ in 0..200 {
                let a = whole_window.since + SignedDuration::from_secs(r.range(0, 200_000) as i64);
                let b = a + SignedDuration::from_secs(r.skewed(0, 20_000, 2));
                let c2 = b + SignedDuration::from_secs(r.skewed(0, 20_000, 2));
                let mut ab = events_in(seed, Window::new(a, b));
                ab.extend(events_in(seed, Window::new(b, c2)));
                ab.sort_by_key(key);
                let mut ac = events_in(seed, Window::new(a, c2));
                ac.sort_by_key(key);
                assert_eq!(ab, ac, "seed {seed}: {a} {b} {c2}");
            }
            let other = DemoCollector {
                seed: seed + 1,
                shift: SignedDuration::ZERO,
            }
            .collect(whole_window)
            .await
            .unwrap()
            .events;
            assert_ne!(other, whole);
        }
    }

    #[test]
    fn incidents_end_within_the_look_back() {
        for seed in SEEDS {
            let events = weeks(seed);
            for e in &events {
                let start = e.incident.as_ref().unwrap().created_at.unwrap();
                assert!(e.at >= start && e.at.duration_since(start) < LONGEST_INCIDENT);
            }
        }
    }

    #[test]
    fn a_30_day_backfill_is_cheap() {
        let begun = std::time::Instant::now();
        let events = events_in(1, span(ts("2026-01-01T00:00:00Z"), 30 * 86_400));
        assert!(events.len() > 1000);
        assert!(
            begun.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            begun.elapsed()
        );
    }
}
