//! Deterministic simulation: the real engine, collectors, analysis and outputters, on a virtual
//! clock, against the fake PagerDuty, Opsgenie and JSM APIs answered in process, into sinks
//! with the real semantics. One seed chooses one schedule; the property is that, once the
//! schedule settles, every sink holds exactly what the generator says happened.
//!
//! What a seed chooses ([`Knobs`], [`generate`]):
//! - which providers (PagerDuty, Opsgenie, JSM with or without Opsgenie's `report`), the
//!   lateness, the poll interval, and on some seeds a `PTSD_MAX_WINDOW` below the lateness;
//! - incident and alert lifecycles from seconds to hours: assignment, notifications on every
//!   channel, escalation (with a new owner for alerts), acknowledgement by a person or an
//!   integration, unacknowledge and acknowledge again, close or resolve;
//! - entries, and alert rows with their change, that become visible late (within half the
//!   lateness), and, on some seeds, PagerDuty entries later than the lateness, often into a
//!   sink's outage (which may be counted or not, but never twice and never at the expense of
//!   another count in their slot);
//! - provider faults at any moment: 5xx, 429, a cut-off body, a PagerDuty page that says more
//!   but is empty or a listing that ends before its total, an alert or its log refused (404)
//!   for a while;
//! - restarts at any request (the state as last saved, the read in flight lost), some with
//!   minutes of downtime (a catch-up, the collectors' memory empty);
//! - one sink away for a while: the in-memory StatsD-like sink (sums increments) or the
//!   Graphite outputter's carbon (keeps the last write per slot); the timestamped DogStatsD
//!   sink (last value per series and timestamp) on some seeds;
//! - a wrong clock corrected by one step at any moment (ptsd's clock only; the providers'
//!   stays right): ahead by less than half the lateness and stepped back, or behind by up to
//!   half an hour and stepped forward;
//! - a full state disk for a while;
//! - with PagerDuty, a team filter while one service moves between teams, often just as a
//!   late entry of the watched team shows up.
//!
//! The property ([`check`]): the StatsD-like sink's totals and the carbon's per-slot values
//! equal the generator's, series by series (incidents by urgency and service, notifications by
//! person and channel, acknowledgements, assignments, escalations, resolves), and no part was
//! skipped. A failing seed prints the command that replays it.
//!
//! Run: `cargo test --test simulation` runs [`CI_SEEDS`] seeds; `PTSD_SIM_SEEDS=100000` runs
//! more, `PTSD_SIM_SEED=1234` replays one (with `RUST_LOG=info` for the engine's lines, and
//! `PTSD_SIM_SCHEDULE=1` for the schedule's happenings and every series that differs), and
//! `PTSD_SIM_KNOBS=1` prints each seed's knobs without running it (to find the seeds of a
//! combination, e.g. the team filter's).

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use ptsd::aggregate::MetricBatch;
use ptsd::collectors::in_process;
use ptsd::outputters::{OutputError, Outputter, Sink};
use ptsd::schema::{self, Flavor};
use serde_json::Value;
use support::common::SplitMix64;
use support::*;

/// Seeds `cargo test` runs (every knob takes each of its values many times over).
const CI_SEEDS: u64 = 80;

const PD_TOKEN: &str = "sim-pd-token-0000";
const OG_KEY: &str = "sim-og-key-0000";
const JSM_TOKEN: &str = "sim-jsm-token-0000";
const JSM_EMAIL: &str = "sim@example.com";
const JSM_CLOUD: &str = "0d7a5a4e-5f7e-4f5e-9a5e-000000000000";

// ---------------------------------------------------------------------------------------------
// The schedule.

#[derive(Debug, Clone)]
struct Knobs {
    pagerduty: bool,
    opsgenie: bool,
    jsm: bool,
    jsm_report: bool,
    lateness: i64,
    interval: i64,
    /// How long the generated history runs.
    span: i64,
    per_provider: usize,
    faults: usize,
    restarts: usize,
    /// PagerDuty entries later than the lateness.
    beyond_lateness: bool,
    /// The Graphite outputter is a sink too.
    graphite: bool,
    /// The StatsD outputter in timestamped DogStatsD mode is a sink too, into a receiver with
    /// the intake's rule (last value per series and timestamp); its slot in seconds, else 0.
    dogstatsd: i64,
    /// One sink away for a stretch: 0 none, 1 the StatsD-like sink, 2 carbon.
    away: u8,
    /// `PTSD_GRAPHITE_RESOLUTION` in seconds: longer slots hold more events each.
    resolution: i64,
    /// How wrong ptsd's clock is at first, in seconds (ahead when positive), corrected in one
    /// step during the schedule (NTP): ahead by less than half the lateness, or behind by up
    /// to half an hour; 0: right throughout.
    clock_step: i64,
    /// Whether the state's filesystem is full for a while (every save fails, as `ENOSPC`
    /// makes it).
    disk_full: bool,
    /// `PTSD_PAGERDUTY_TEAMS`: ptsd counts team A's services only ([`TEAMS`]), and one
    /// service moves back and forth between the teams during the schedule (its entries may
    /// be counted or not, never twice; the others' exactly).
    teams: bool,
    /// Which service moves: [`TEAMS`]'s index.
    team_move: usize,
    /// `PTSD_MAX_WINDOW` in seconds, else 0 (the default hour). Shorter than the lateness on
    /// some seeds: every read is then split into parts, and the next poll starts before the
    /// last part did (as holes and a narrowed poison window make it too).
    max_window: i64,
    /// Restarts that keep ptsd down for a while (a crash, a drained node): it comes back to a
    /// catch-up, its collectors' memory empty.
    downtime: bool,
}

/// The simulated PagerDuty services and their teams at first (PagerDuty relates an entry to
/// its service's team when asked); ptsd counts [`TEAM_A`].
const TEAMS: [(&str, &str); 3] = [
    ("Checkout", TEAM_A),
    ("Search", TEAM_A),
    ("Payments", TEAM_B),
];
const TEAM_A: &str = "PTEAMA1";
const TEAM_B: &str = "PTEAMB1";

impl Knobs {
    fn of(rng: &mut SplitMix64) -> Knobs {
        let mut k = Knobs {
            pagerduty: rng.chance(60),
            opsgenie: rng.chance(60),
            jsm: rng.chance(50),
            jsm_report: rng.chance(50),
            lateness: [120, 300, 600][rng.below(3) as usize],
            interval: [15, 30, 60][rng.below(3) as usize],
            span: [1800, 3 * 3600, 6 * 3600][rng.below(3) as usize],
            per_provider: 4 + rng.below(14) as usize,
            faults: rng.below(8) as usize,
            restarts: rng.below(5) as usize,
            beyond_lateness: rng.chance(40),
            graphite: rng.chance(60),
            dogstatsd: [0, 60, 300, 3600][rng.below(4) as usize],
            away: rng.below(3) as u8,
            resolution: [60, 600, 3600][rng.below(3) as usize],
            clock_step: 0,
            disk_full: rng.chance(30),
            teams: false,
            team_move: 0,
            max_window: 0,
            downtime: false,
        };
        k.clock_step = match rng.below(4) {
            0 => 10 + rng.below((k.lateness / 2 - 10) as u64) as i64,
            1 => -(60 + rng.below(1800) as i64),
            _ => 0,
        };
        if !(k.pagerduty || k.opsgenie || k.jsm) {
            k.opsgenie = true;
        }
        if !k.graphite && k.away == 2 {
            k.away = 1;
        }
        k.teams = k.pagerduty && rng.chance(35);
        k.team_move = 1 + rng.below(2) as usize;
        k.max_window = match rng.below(10) {
            0 => k.lateness * 3 / 5,
            1 => k.lateness / 4,
            _ => 0,
        };
        k.downtime = rng.chance(40);
        k
    }
}

/// Something that happens to the world at a virtual moment.
#[derive(Debug, Clone)]
enum Happening {
    PdEntry(Value),
    OgAlert(OgAlert),
    /// A row and the change it records, written together; `written` when that write lands
    /// after the row's own time (its `createdAt`): the alert's `updatedAt` is then the write's.
    OgRow {
        alert: String,
        log: OgLog,
        owner: Option<String>,
        close: bool,
        written: Option<Timestamp>,
    },
    JsmAlert(OgAlert),
    JsmRow {
        alert: String,
        log: OgLog,
        owner: Option<String>,
        close: bool,
        written: Option<Timestamp>,
    },
    Fault(&'static str, u8),
    /// ptsd stops at its next provider request and comes back this many seconds later.
    Restart(i64),
    /// ptsd's clock steps by this many seconds (back when negative), as NTP or a restored VM
    /// make it; the providers' time goes on.
    ClockStep(i64),
    SinkAway(u8),
    SinkBack(u8),
    /// A PagerDuty service moves to another team.
    TeamMove(&'static str, &'static str),
    /// The state's filesystem fills up: every save fails until [`Happening::DiskFree`].
    DiskFull,
    DiskFree,
}

struct Schedule {
    knobs: Knobs,
    epoch: Timestamp,
    /// (when it happens, what), in time order.
    happenings: Vec<(Timestamp, Happening)>,
    /// Plain name → count: what must be counted exactly.
    expected: BTreeMap<String, i64>,
    /// (plain name, event second): each counted event, for the per-slot check.
    expected_events: Vec<(String, i64)>,
    /// Names that also got events later than the lateness: counted at most once each.
    maybe: BTreeMap<String, i64>,
    /// (plain name, event second) of each of those.
    maybe_events: Vec<(String, i64)>,
    end: Timestamp,
    /// When a sink is away and back, if one is.
    outage: Option<(Timestamp, Timestamp)>,
    /// When team A's entries that show up late become visible (a service may move then).
    late_for_team_a: Vec<Timestamp>,
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

/// A lifecycle step: from 10 s to about 3 h, log-uniform.
fn step(rng: &mut SplitMix64) -> i64 {
    let base = 10i64 << rng.below(11);
    base + rng.below(base as u64) as i64
}

const PD_CHANNELS: [&str; 4] = [
    "sms_notification",
    "phone_notification",
    "email_notification",
    "push_notification",
];
const OG_METHODS: [&str; 4] = ["SMS", "Voice", "Email", "Mobile"];

fn generate(seed: u64) -> Schedule {
    let mut rng = SplitMix64(seed ^ 0x005E_ED0F_5EED);
    let knobs = Knobs::of(&mut rng);
    let epoch: Timestamp = "2026-03-02T00:00:00Z".parse().unwrap();
    let epoch = epoch + secs(rng.below(7 * 24) as i64 * 3600);
    let start = epoch + secs(60);
    let end = start + secs(knobs.span);
    let mut s = Schedule {
        knobs: knobs.clone(),
        epoch,
        happenings: Vec::new(),
        expected: BTreeMap::new(),
        expected_events: Vec::new(),
        maybe: BTreeMap::new(),
        maybe_events: Vec::new(),
        end,
        outage: None,
        late_for_team_a: Vec::new(),
    };
    let moment = |rng: &mut SplitMix64| start + secs(rng.below(knobs.span as u64) as i64);
    // The outage is chosen first: PagerDuty's history makes some entries late into it.
    if knobs.away != 0 {
        let at = moment(&mut rng);
        let back = at + secs(60 + rng.below(1800) as i64);
        s.happenings.push((at, Happening::SinkAway(knobs.away)));
        s.happenings.push((back, Happening::SinkBack(knobs.away)));
        s.outage = Some((at, back));
    }
    if knobs.pagerduty {
        pagerduty_history(&mut s, &mut rng, seed, start);
    }
    if knobs.opsgenie {
        alert_history(&mut s, &mut rng, seed, start, false);
    }
    if knobs.jsm {
        alert_history(&mut s, &mut rng, seed, start, true);
    }
    let providers: Vec<&'static str> = [
        (knobs.pagerduty, "pagerduty"),
        (knobs.opsgenie, "opsgenie"),
        (knobs.jsm, "jsm"),
    ]
    .into_iter()
    .filter_map(|(on, p)| on.then_some(p))
    .collect();
    for _ in 0..knobs.faults {
        let p = providers[rng.below(providers.len() as u64) as usize];
        let at = moment(&mut rng);
        s.happenings
            .push((at, Happening::Fault(p, rng.below(5) as u8)));
    }
    for _ in 0..knobs.restarts {
        let at = moment(&mut rng);
        let down = if knobs.downtime && rng.chance(50) {
            60 + rng.below(1200) as i64
        } else {
            0
        };
        s.happenings.push((at, Happening::Restart(down)));
    }
    if knobs.clock_step != 0 {
        let at = moment(&mut rng);
        s.happenings
            .push((at, Happening::ClockStep(-knobs.clock_step)));
    }
    if knobs.teams {
        // The service goes back and forth every few minutes, and on most of the moments a
        // late entry of team A shows up: a move takes the service's entries out of (or into)
        // the filtered set just as another arrives, which a count cannot tell apart.
        let (service, mut team) = TEAMS[knobs.team_move];
        let mut moves = s.late_for_team_a.clone();
        moves.retain(|_| rng.chance(70));
        let mut at = moment(&mut rng);
        while at < end {
            moves.push(at);
            at += secs(60 + rng.below(540) as i64);
        }
        moves.sort();
        for at in moves {
            team = if team == TEAM_A { TEAM_B } else { TEAM_A };
            s.happenings.push((at, Happening::TeamMove(service, team)));
        }
    }
    if knobs.disk_full {
        let at = moment(&mut rng);
        let free = at + secs(60 + rng.below(1800) as i64);
        s.happenings.push((at, Happening::DiskFull));
        s.happenings.push((free, Happening::DiskFree));
    }
    s.happenings.sort_by_key(|(at, _)| *at);
    s
}

impl Schedule {
    /// An event at `at` counting `names` (below `ptsd.{provider}.`), visible `delay` later.
    fn count(&mut self, provider: &str, at: Timestamp, delay: i64, names: &[String]) {
        for n in names {
            let name = format!("ptsd.{provider}.{n}");
            if delay > self.knobs.lateness {
                *self.maybe.entry(name.clone()).or_default() += 1;
                self.maybe_events.push((name, at.as_second()));
            } else {
                *self.expected.entry(name.clone()).or_default() += 1;
                self.expected_events.push((name, at.as_second()));
            }
        }
    }

    /// How late a row made `at` becomes visible: mostly at once, sometimes within half the
    /// lateness; with `beyond`, sometimes later than the lateness, and then often during a
    /// sink's outage (read again while the cursor waits for that sink, after the other sinks
    /// took the slot it falls in).
    fn delay(&self, rng: &mut SplitMix64, beyond: bool, at: Timestamp) -> i64 {
        if beyond {
            if let Some((away, back)) = self.outage {
                let room = back.duration_since(at).as_secs() - self.knobs.lateness - 1;
                if at >= away && room > 0 && rng.chance(50) {
                    return self.knobs.lateness + 1 + rng.below(room as u64) as i64;
                }
            }
            if rng.chance(10) {
                return self.knobs.lateness + 1 + rng.below(900) as i64;
            }
        }
        if rng.chance(15) {
            return rng.below((self.knobs.lateness / 2) as u64) as i64;
        }
        rng.below(3) as i64
    }
}

fn pagerduty_history(s: &mut Schedule, rng: &mut SplitMix64, seed: u64, start: Timestamp) {
    let users = &SYNTHETIC_USERS;
    let services = TEAMS.map(|(n, _)| n);
    if s.knobs.teams {
        // The moving service's steady trickle: a lone trigger about once a lateness, so a
        // move often takes exactly one entry out of the part already read, as one late entry
        // of team A comes in (the count stays the same).
        let service = TEAMS[s.knobs.team_move].0;
        let mut t = start + secs(rng.below(s.knobs.lateness as u64) as i64);
        let mut i = 0;
        while t < s.end {
            let inc = Incident::new(&format!("P{seed:X}H{i}"), service, "high").with_created_at(t);
            let e = trigger(&format!("Q{seed:X}H{i}"), t, &inc);
            s.count("pagerduty", t, i64::MAX, &plain_counts(&e));
            s.happenings.push((t, Happening::PdEntry(e)));
            t += secs(
                s.knobs.lateness * 7 / 10 + rng.below((s.knobs.lateness * 6 / 10) as u64) as i64,
            );
            i += 1;
        }
    }
    let mut n = 0;
    let mut next_id = || {
        n += 1;
        format!("Q{seed:X}E{n}")
    };
    for i in 0..s.knobs.per_provider {
        // Two incidents fall in a sink's outage, if there is one: their entries are read
        // while the cursor waits for that sink, and some show up later than the lateness.
        let t0 = match s.outage {
            Some((away, back)) if i < 2 => {
                away + secs(rng.below(back.duration_since(away).as_secs() as u64) as i64)
            }
            _ => start + secs(rng.below(s.knobs.span as u64) as i64),
        };
        let inc = Incident::new(
            &format!("P{seed:X}I{i}"),
            services[rng.below(3) as usize],
            if rng.chance(70) { "high" } else { "low" },
        )
        .with_created_at(t0);
        let mut entries = vec![trigger(&next_id(), t0, &inc)];
        let mut who = rng.below(users.len() as u64) as usize;
        let mut t = t0 + secs(1);
        entries.push(assign(&next_id(), t, &inc, &[(users[who].0, users[who].1)]));
        let notify_all = |t: &mut Timestamp,
                          who: usize,
                          rng: &mut SplitMix64,
                          entries: &mut Vec<Value>,
                          id: &mut dyn FnMut() -> String| {
            for ch in PD_CHANNELS {
                if !rng.chance(50) {
                    continue;
                }
                *t += secs(1 + rng.below(20) as i64);
                entries.push(notify(&id(), *t, &inc, users[who].0, users[who].1, ch));
            }
        };
        notify_all(&mut t, who, rng, &mut entries, &mut next_id);
        if rng.chance(35) {
            t += secs(step(rng));
            who = (who + 1 + rng.below(users.len() as u64 - 1) as usize) % users.len();
            entries.push(escalate(
                &next_id(),
                t,
                &inc,
                &[(users[who].0, users[who].1)],
            ));
            notify_all(&mut t, who, rng, &mut entries, &mut next_id);
        }
        if rng.chance(75) {
            t += secs(step(rng));
            entries.push(if rng.chance(85) {
                acknowledge(
                    &next_id(),
                    t,
                    &inc,
                    users[who].0,
                    users[who].1,
                    "user_reference",
                )
            } else {
                acknowledge(
                    &next_id(),
                    t,
                    &inc,
                    "PINTEG1",
                    "Monitoring",
                    "service_reference",
                )
            });
            if rng.chance(65) {
                t += secs(step(rng));
                entries.push(if rng.chance(80) {
                    resolve(
                        &next_id(),
                        t,
                        &inc,
                        users[who].0,
                        users[who].1,
                        "user_reference",
                    )
                } else {
                    resolve(
                        &next_id(),
                        t,
                        &inc,
                        "PINTEG1",
                        "Monitoring",
                        "service_reference",
                    )
                });
            }
        }
        for e in entries {
            let at: Timestamp = e["created_at"].as_str().unwrap().parse().unwrap();
            if at >= s.end {
                continue;
            }
            let delay = s.delay(rng, s.knobs.beyond_lateness, at);
            let service = TEAMS.iter().position(|(n, _)| inc.service_name == *n);
            let team = service.map_or(TEAM_A, |i| TEAMS[i].1);
            if !s.knobs.teams {
                s.count("pagerduty", at, delay, &plain_counts(&e));
            } else if service == Some(s.knobs.team_move) {
                // Counted or not, by when it was read; never twice.
                s.count("pagerduty", at, i64::MAX, &plain_counts(&e));
            } else if team == TEAM_A {
                s.count("pagerduty", at, delay, &plain_counts(&e));
                if delay > 2 {
                    s.late_for_team_a.push(at + secs(delay));
                }
            }
            s.happenings.push((at + secs(delay), Happening::PdEntry(e)));
        }
    }
}

/// Opsgenie's or JSM's alerts (the same model; JSM names people by account id).
fn alert_history(s: &mut Schedule, rng: &mut SplitMix64, seed: u64, start: Timestamp, jsm: bool) {
    let provider = if jsm { "jsm" } else { "opsgenie" };
    let users = &OG_SYNTHETIC_USERS;
    let name = |u: usize| ptsd::schema::sanitize(users[u].2, true);
    let named = |log: OgLog| if jsm { jsm_row(log) } else { log };
    let username = |u: usize| {
        if jsm {
            jsm_named(users[u].1)
        } else {
            users[u].1.to_string()
        }
    };
    let integrations = ["Datadog", "Prometheus", "Pingdom"];
    for i in 0..s.knobs.per_provider {
        let id = format!("{provider}-{seed:x}-{i}");
        let t0 = start + secs(rng.below(s.knobs.span as u64) as i64);
        let t0 = t0 + SignedDuration::from_millis(rng.below(1000) as i64);
        let priority = format!("P{}", 1 + rng.below(5));
        let integration = integrations[rng.below(3) as usize];
        let alert = OgAlert::new(
            &id,
            &i.to_string(),
            &format!("Alert {i}"),
            &priority,
            integration,
            t0,
        );
        s.happenings.push((
            t0,
            if jsm {
                Happening::JsmAlert(alert)
            } else {
                Happening::OgAlert(alert)
            },
        ));
        s.count(
            provider,
            t0,
            0,
            &[
                format!("incidents.{}", priority.to_lowercase()),
                format!(
                    "services.{}.incidents",
                    ptsd::schema::sanitize(integration, true)
                ),
            ],
        );
        // (row, counts, new owner, closes)
        let mut rows: Vec<(OgLog, Vec<String>, Option<usize>, bool)> = Vec::new();
        let mut t = t0 + SignedDuration::from_millis(700);
        rows.push((og_log_created_via(t, integration), vec![], None, false));
        let mut who = rng.below(3) as usize;
        t += secs(1);
        rows.push((
            og_log_assigned(t, users[who].1),
            vec![format!("users.{}.assignments", name(who))],
            Some(who),
            false,
        ));
        let notify_all =
            |t: &mut Timestamp,
             who: usize,
             rng: &mut SplitMix64,
             rows: &mut Vec<(OgLog, Vec<String>, Option<usize>, bool)>| {
                for m in OG_METHODS {
                    if !rng.chance(50) {
                        continue;
                    }
                    *t += secs(1 + rng.below(20) as i64);
                    rows.push((
                        og_log_notified(*t, users[who].1, m),
                        vec![format!(
                            "users.{}.notifications.{}",
                            name(who),
                            og_channel(m)
                        )],
                        None,
                        false,
                    ));
                }
            };
        notify_all(&mut t, who, rng, &mut rows);
        if rng.chance(35) {
            t += secs(step(rng));
            who = (who + 1 + rng.below(2) as usize) % 3;
            rows.push((
                og_log_escalated(t, "Ops escalation", users[who].1),
                vec![format!("users.{}.escalations", name(who))],
                None,
                false,
            ));
            t += secs(1);
            rows.push((
                og_log_assigned(t, users[who].1),
                vec![format!("users.{}.assignments", name(who))],
                Some(who),
                false,
            ));
            notify_all(&mut t, who, rng, &mut rows);
        }
        if rng.chance(75) {
            t += secs(step(rng));
            if rng.chance(85) {
                rows.push((
                    og_log_acked(t, users[who].1),
                    vec![format!("users.{}.acknowledgements", name(who))],
                    None,
                    false,
                ));
                if rng.chance(20) {
                    t += secs(step(rng));
                    rows.push((og_log_unacked(t, users[who].1), vec![], None, false));
                    t += secs(step(rng));
                    rows.push((
                        og_log_acked(t, users[who].1),
                        vec![format!("users.{}.acknowledgements", name(who))],
                        None,
                        false,
                    ));
                }
            } else {
                rows.push((
                    og_log_acked_by_integration(t, integration),
                    vec![],
                    None,
                    false,
                ));
            }
            if rng.chance(70) {
                t += secs(step(rng));
                if rng.chance(80) {
                    rows.push((
                        og_log_closed(t, users[who].1),
                        vec![format!("users.{}.resolves", name(who))],
                        None,
                        true,
                    ));
                } else {
                    rows.push((
                        og_log_closed_via_integration(t, integration),
                        vec![],
                        None,
                        true,
                    ));
                }
            }
        }
        for (log, counts, owner, close) in rows {
            if log.created_at >= s.end {
                break;
            }
            let at = log.created_at;
            // A row is written with the change it records (the log never lags its alert: see
            // the module doc of collectors/alerts/events.rs for why the safety net needs
            // that), but the write may land late, within half the lateness: the row keeps its
            // time and sorts before rows already read; the alert's `updatedAt` moves then.
            let delay = s.delay(rng, false, at);
            s.count(provider, at, delay, &counts);
            let written = (delay > 0).then(|| at + secs(delay));
            let row = Happening::JsmRow {
                alert: id.clone(),
                log: named(log),
                owner: owner.map(username),
                close,
                written,
            };
            let row = match (jsm, row) {
                (
                    false,
                    Happening::JsmRow {
                        alert,
                        log,
                        owner,
                        close,
                        written,
                    },
                ) => Happening::OgRow {
                    alert,
                    log,
                    owner,
                    close,
                    written,
                },
                (_, row) => row,
            };
            s.happenings.push((written.unwrap_or(at), row));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The world: fakes, sinks, and the engine's lives.

/// A StatsD-like sink in memory: it sums every increment it takes, and can be away (its
/// writes fail, as an unresolvable agent's do).
#[derive(Clone, Default)]
struct Sums {
    totals: Arc<Mutex<BTreeMap<String, i64>>>,
    /// (plain name, second) → count, from the batches' timelines (for a failure's report).
    seconds: Arc<Mutex<BTreeMap<(String, i64), i64>>>,
    away: Arc<AtomicBool>,
}

impl Outputter for Sums {
    fn name(&self) -> &'static str {
        "sums"
    }
    fn write(&mut self, batch: &MetricBatch) -> Result<(), OutputError> {
        if self.away.load(Ordering::SeqCst) {
            return Err(OutputError::Io {
                sink: "sums",
                source: std::io::Error::other("away (simulated)"),
            });
        }
        let mut t = self.totals.lock().unwrap();
        for r in schema::render(Flavor::Plain, "ptsd", &batch.series) {
            *t.entry(r.name).or_default() += r.value;
        }
        let mut at = self.seconds.lock().unwrap();
        for (second, moment) in &batch.timeline {
            for r in schema::render(Flavor::Plain, "ptsd", &moment.counts) {
                *at.entry((folded(&r.name), *second)).or_default() += r.value;
            }
        }
        Ok(())
    }
}

/// Whether a plain name (tags folded) is one the generator counts.
fn checked(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        ["ptsd", "pagerduty" | "opsgenie" | "jsm", rest @ ..] => matches!(
            rest,
            ["incidents", _]
                | ["services", _, "incidents"]
                | ["users", _, "notifications", _]
                | [
                    "users",
                    _,
                    "acknowledgements" | "assignments" | "escalations" | "resolves"
                ]
        ),
        _ => false,
    }
}

/// `name` without its `;hours=…` / `;category=…` tags.
fn folded(name: &str) -> String {
    name.split(';')
        .filter(|p| !p.starts_with("hours=") && !p.starts_with("category="))
        .collect::<Vec<_>>()
        .join(";")
}

struct World {
    pd: Option<FakePagerDuty>,
    og: Option<FakeOpsgenie>,
    jsm: Option<FakeJsm>,
    sums: Sums,
    carbon: Option<Arc<FakeCarbon>>,
    /// The DogStatsD receiver's port, when it is a sink.
    intake: Option<u16>,
    /// Set by the schedule; the next request to a provider then stops the engine.
    restart: Arc<AtomicBool>,
    /// Sink changes due, made at the next request to a provider: the engine awaits that
    /// answer, so no delivery is in flight (a change in the middle of one would lose what
    /// carbon had not read yet, which is TCP's fault, not ptsd's).
    sink_changes: Arc<Mutex<Vec<Happening>>>,
    stop: Arc<tokio::sync::Notify>,
    /// How long the restart due keeps ptsd down, in seconds.
    downtime: Arc<std::sync::atomic::AtomicI64>,
    hosts: Vec<String>,
    /// `PTSD_STATE_DIR`.
    state_dir: std::path::PathBuf,
}

impl World {
    fn new(seed: u64, k: &Knobs, state_dir: &std::path::Path, intake: Option<u16>) -> World {
        let host = |p: &str| format!("{p}-{seed:x}.sim.invalid");
        let pd = k.pagerduty.then(|| {
            let f = FakePagerDuty::start_in_process(PD_TOKEN, &host("pd"));
            f.add_users(synthetic_users());
            if k.teams {
                for (service, team) in TEAMS {
                    f.set_service_team(&service_id(service), team);
                }
            }
            f
        });
        let og = k.opsgenie.then(|| {
            let f = FakeOpsgenie::start_in_process(OG_KEY, &host("og"));
            f.add_users(og_synthetic_users());
            f
        });
        let jsm = k.jsm.then(|| {
            let f = FakeJsm::start_in_process(JSM_CLOUD, JSM_EMAIL, JSM_TOKEN, &host("jsm"));
            f.add_users(jsm_synthetic_users());
            f.set_serve_report(k.jsm_report);
            f
        });
        let mut w = World {
            pd,
            og,
            jsm,
            sums: Sums::default(),
            carbon: k.graphite.then(|| Arc::new(FakeCarbon::start())),
            intake,
            restart: Arc::new(AtomicBool::new(false)),
            sink_changes: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(tokio::sync::Notify::new()),
            downtime: Arc::default(),
            hosts: Vec::new(),
            state_dir: state_dir.to_path_buf(),
        };
        for (on, p) in [(k.pagerduty, "pd"), (k.opsgenie, "og"), (k.jsm, "jsm")] {
            if on {
                w.arm(&host(p));
            }
        }
        w
    }

    /// Wraps `host`'s handler: a request while a restart is due stops the engine there (it
    /// awaits this answer, so no delivery is in flight) and is never answered.
    fn arm(&mut self, host: &str) {
        let inner = in_process::handler(host).expect("registered");
        let restart = self.restart.clone();
        let stop = self.stop.clone();
        let changes = self.sink_changes.clone();
        let sums = self.sums.clone();
        let carbon = self.carbon.clone();
        in_process::register(
            host,
            Arc::new(move |req| {
                for change in changes.lock().unwrap().drain(..) {
                    match change {
                        Happening::SinkAway(1) => sums.away.store(true, Ordering::SeqCst),
                        Happening::SinkBack(1) => sums.away.store(false, Ordering::SeqCst),
                        Happening::SinkAway(_) => carbon.as_ref().unwrap().away(),
                        _ => carbon.as_ref().unwrap().back(),
                    }
                }
                if restart.swap(false, Ordering::SeqCst) {
                    stop.notify_one();
                    let never: Pin<Box<dyn Future<Output = _> + Send>> =
                        Box::pin(std::future::pending());
                    return never;
                }
                inner(req)
            }),
        );
        self.hosts.push(host.to_string());
    }

    fn apply(&self, h: &Happening) {
        match h {
            Happening::PdEntry(e) => self.pd.as_ref().unwrap().add_entries(vec![e.clone()]),
            Happening::OgAlert(a) => self.og.as_ref().unwrap().add_alert(a.clone()),
            Happening::JsmAlert(a) => self.jsm.as_ref().unwrap().add_alert(a.clone()),
            Happening::OgRow {
                alert,
                log,
                owner,
                close,
                written,
            } => {
                let f = self.og.as_ref().unwrap();
                f.add_log(alert, log.clone());
                change(|c| f.update_alert(alert, c), owner, *close, *written);
            }
            Happening::JsmRow {
                alert,
                log,
                owner,
                close,
                written,
            } => {
                let f = self.jsm.as_ref().unwrap();
                f.add_log(alert, log.clone());
                change(|c| f.update_alert(alert, c), owner, *close, *written);
            }
            Happening::Fault(p, kind) => match *p {
                // A page that says more but is empty, a listing that ends before the total
                // it announced; an alert (or its log) refused for a while (404).
                "pagerduty" => self.pd.as_ref().unwrap().inject(
                    "/log_entries",
                    [
                        Fault::Status500,
                        Fault::Status429 { reset_secs: 5 },
                        Fault::Truncated,
                        Fault::EmptyButMore,
                        Fault::EndsEarly,
                    ][*kind as usize]
                        .clone(),
                ),
                "opsgenie" => self.og.as_ref().unwrap().inject(
                    if *kind >= 3 {
                        "/v2/alerts/"
                    } else {
                        "/v2/alerts"
                    },
                    [
                        OgFault::Status500,
                        OgFault::Status429,
                        OgFault::Truncated,
                        OgFault::Status404,
                    ][(*kind).min(3) as usize],
                ),
                _ => self.jsm.as_ref().unwrap().inject(
                    "/jsm/ops/api",
                    [
                        JsmFault::Status500,
                        JsmFault::Status429,
                        JsmFault::Truncated,
                        JsmFault::Status404,
                    ][(*kind).min(3) as usize],
                ),
            },
            Happening::Restart(down) => {
                self.downtime.store(*down, Ordering::SeqCst);
                self.restart.store(true, Ordering::SeqCst);
            }
            Happening::ClockStep(by) => ptsd::clock::step(SignedDuration::from_secs(*by)),
            // A full disk, made real: a directory where the state's temp file is written,
            // so creating it fails and nothing else changes (a full filesystem fails the
            // same way: at the write-ahead save, before anything is sent).
            Happening::DiskFull => {
                std::fs::create_dir_all(self.state_dir.join("state.json.tmp").join("full"))
                    .unwrap();
            }
            Happening::DiskFree => {
                std::fs::remove_dir_all(self.state_dir.join("state.json.tmp")).unwrap();
            }
            Happening::TeamMove(service, team) => self
                .pd
                .as_ref()
                .unwrap()
                .set_service_team(&service_id(service), team),
            Happening::SinkAway(_) | Happening::SinkBack(_) => {
                self.sink_changes.lock().unwrap().push(h.clone())
            }
        }
    }

    fn argv(&self, k: &Knobs, dir: &std::path::Path, files: &mut Vec<String>) -> Vec<String> {
        let mut a: Vec<String> = vec!["ptsd".into()];
        let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
        // Each provider: its secret file's flag and secret, then its other flags.
        let providers: [(Option<&str>, &str, &str, &[&str]); 3] = [
            (
                self.pd.as_ref().map(|f| f.url.as_str()),
                "--pdtoken-file",
                PD_TOKEN,
                if k.teams {
                    &["--pagerduty-teams", TEAM_A, "--pagerduty-api-url"]
                } else {
                    &["--pagerduty-api-url"]
                },
            ),
            (
                self.og.as_ref().map(|f| f.url.as_str()),
                "--opsgenie-api-key-file",
                OG_KEY,
                &["--opsgenie-api-url"],
            ),
            (
                self.jsm.as_ref().map(|f| f.url.as_str()),
                "--jsm-api-token-file",
                JSM_TOKEN,
                &[
                    "--jsm-email",
                    JSM_EMAIL,
                    "--jsm-cloud-id",
                    JSM_CLOUD,
                    "--jsm-api-url",
                ],
            ),
        ];
        for (url, secret_flag, secret, flags) in providers {
            let Some(url) = url else { continue };
            files.push(secret_file(secret));
            push(&[secret_flag, files.last().unwrap()]);
            push(flags);
            push(&[url]);
        }
        let mut outputs: Vec<&str> = Vec::new();
        if self.carbon.is_some() {
            outputs.push("graphite");
        }
        if let Some(port) = self.intake {
            outputs.push("statsd");
            push(&[
                "--statsd-port",
                &port.to_string(),
                "--statsd-flavor",
                "dogstatsd",
                "--statsd-timestamps",
                "on",
                "--statsd-timestamp-resolution",
                &format!("{}s", k.dogstatsd),
                // Thousands of flushes: no real-time wait after each (the receiver never
                // refuses).
                "--statsd-icmp-grace",
                "0s",
            ]);
        }
        if outputs.is_empty() {
            outputs.push("stdout");
        }
        let outputs = outputs.join(",");
        let port = self.carbon.as_ref().map_or(0, |c| c.port).to_string();
        let lateness = format!("{}s", k.lateness);
        let interval = format!("{}s", k.interval);
        let resolution = format!("{}s", k.resolution);
        // A clock ahead at the first start puts the floor (start less the backfill) in the
        // future: the backfill reaches back to the schedule's true start.
        let backfill = format!("{}s", k.clock_step.max(0));
        if k.max_window > 0 {
            push(&["--max-window", &format!("{}s", k.max_window)]);
        }
        push(&[
            "--backfill",
            &backfill,
            "--graphite-resolution",
            &resolution,
            "--outputs",
            &outputs,
            "--graphite-port",
            &port,
            "--lateness",
            &lateness,
            "--interval",
            &interval,
            "--state-dir",
            dir.to_str().unwrap(),
        ]);
        a
    }
}

/// Moves an alert's owner and status as the row that changed them says.
/// A write that landed late (`written`) moves `updatedAt` to its own time.
fn change(
    update: impl FnOnce(Box<dyn FnOnce(&mut OgAlert)>),
    owner: &Option<String>,
    close: bool,
    written: Option<Timestamp>,
) {
    let owner = owner.clone();
    update(Box::new(move |a: &mut OgAlert| {
        if let Some(o) = owner {
            a.owner = o;
        }
        if close {
            a.status = "closed".into();
        }
        if let Some(w) = written {
            a.updated_at = a.updated_at.max(w);
        }
    }));
}

/// What the sinks hold once the schedule settled.
struct Outcome {
    sums: BTreeMap<String, i64>,
    sum_seconds: BTreeMap<(String, i64), i64>,
    /// (plain name, slot second) → last value.
    slots: BTreeMap<(String, i64), i64>,
    resolution: i64,
    /// The DogStatsD receiver's points: (plain name, slot second) → last value.
    points: BTreeMap<(String, i64), i64>,
    skipped: i64,
}

fn run(seed: u64) -> (Schedule, Outcome) {
    let s = generate(seed);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    // The state is saved (and fsynced) after every part: on a tmpfs when there is one, so the
    // simulation's speed is not the disk's.
    let shm = std::path::Path::new("/dev/shm");
    let tmp = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = tmp.join(format!("ptsd-sim-{seed}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let intake = (s.knobs.dogstatsd != 0).then(FakeIntake::start);
    let mut outcome = rt.block_on(async {
        ptsd::clock::install_virtual(s.epoch);
        ptsd::clock::step(SignedDuration::from_secs(s.knobs.clock_step));
        let world = Arc::new(World::new(
            seed,
            &s.knobs,
            &dir,
            intake.as_ref().map(|i| i.port),
        ));
        let base = tokio::time::Instant::now();
        let at = move |t: Timestamp| {
            base + Duration::from_secs(t.duration_since(s.epoch).as_secs().max(0) as u64)
        };
        let last = s.happenings.last().map_or(s.end, |(t, _)| (*t).max(s.end));
        let settle = last
            + secs(s.knobs.lateness * 2 + s.knobs.interval * 4 + 120 + s.knobs.clock_step.abs())
            + secs(if s.knobs.downtime { 1260 } else { 0 });
        // The schedule, applied at its moments; then, once settled, one last stop.
        let driver = {
            let world = world.clone();
            let happenings = s.happenings.clone();
            tokio::spawn(async move {
                for (t, h) in happenings {
                    tokio::time::sleep_until(at(t)).await;
                    world.apply(&h);
                }
                tokio::time::sleep_until(at(settle)).await;
                world.restart.store(true, Ordering::SeqCst);
            })
        };
        let mut files = Vec::new();
        let argv = world.argv(&s.knobs, &dir, &mut files);
        loop {
            let config = ptsd::cli::parse_from(argv.iter().map(String::as_str).collect::<Vec<_>>())
                .expect("config");
            let collectors = ptsd::collectors::build_all(&config).expect("collectors");
            let mut outputters: Vec<Sink> = vec![Sink::from(Box::new(world.sums.clone()))];
            if world.carbon.is_some() || world.intake.is_some() {
                outputters.extend(ptsd::outputters::build_all(&config).expect("outputters"));
            }
            let stop = world.stop.clone();
            ptsd::engine::run(
                ptsd::engine::Settings::from_config(&config).expect("settings"),
                collectors,
                outputters,
                async move { stop.notified().await },
            )
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: the engine stopped: {e}"));
            if driver.is_finished() {
                break;
            }
            let down = world.downtime.swap(0, Ordering::SeqCst);
            if down > 0 {
                tokio::time::sleep(Duration::from_secs(down as u64)).await;
            }
        }
        let sums = world.sums.totals.lock().unwrap().clone();
        let sum_seconds = world.sums.seconds.lock().unwrap().clone();
        let whisper = world
            .carbon
            .as_ref()
            .map(|c| c.whisper())
            .unwrap_or_default();
        for h in &world.hosts {
            in_process::unregister(h);
        }
        ptsd::clock::uninstall_virtual();
        for f in files {
            let _ = std::fs::remove_file(f);
        }
        let mut slots = BTreeMap::new();
        for ((path, ts), v) in whisper {
            *slots.entry((folded(&path), ts)).or_default() += v as i64;
        }
        let skipped = sums
            .iter()
            .filter(|(k, _)| k.contains("windows_skipped"))
            .map(|(_, v)| *v)
            .sum();
        Outcome {
            sums,
            sum_seconds,
            slots,
            resolution: s.knobs.resolution,
            points: BTreeMap::new(),
            skipped,
        }
    });
    if let Some(intake) = intake {
        outcome.points = plain_points(&intake.drained());
    }
    let _ = std::fs::remove_dir_all(&dir);
    (s, outcome)
}

/// The intake's on-call points under the plain names the generator counts (a tagged series
/// renders as `render_plain` would name it): (name, timestamp) → last value.
fn plain_points(intake: &Intake) -> BTreeMap<(String, i64), i64> {
    let mut out = BTreeMap::new();
    for ((name, tags), points) in &intake.points {
        let tag = |k: &str| {
            tags.iter()
                .find(|(t, _)| t == k)
                .map_or("unknown", |(_, v)| v.as_str())
        };
        let base = format!("ptsd.{}", tag("provider"));
        let names = match name.strip_prefix("ptsd.").unwrap_or(name) {
            "incidents" => vec![
                format!("{base}.incidents.{}", tag("urgency")),
                format!("{base}.services.{}.incidents", tag("service")),
            ],
            "notifications" => vec![format!(
                "{base}.users.{}.notifications.{}",
                tag("user"),
                tag("channel")
            )],
            m @ ("acknowledgements" | "assignments" | "escalations" | "resolves") => {
                vec![format!("{base}.users.{}.{m}", tag("user"))]
            }
            "interruptions" => vec![format!(
                "{base}.users.{}.interruptions.{}",
                tag("user"),
                tag("hours")
            )],
            _ => continue,
        };
        for n in names {
            for (ts, v) in points {
                *out.entry((n.clone(), *ts)).or_default() += *v as i64;
            }
        }
    }
    out
}

/// The first way the outcome differs from the schedule's truth.
fn check(s: &Schedule, o: &Outcome) -> Result<(), String> {
    if o.skipped != 0 {
        return Err(format!("{} parts skipped as poison", o.skipped));
    }
    let mut got: BTreeMap<String, i64> = BTreeMap::new();
    for (k, v) in &o.sums {
        let k = folded(k);
        if checked(&k) {
            *got.entry(k).or_default() += v;
        }
    }
    let names: std::collections::BTreeSet<&String> = got
        .keys()
        .chain(s.expected.keys())
        .chain(s.maybe.keys())
        .collect();
    for name in names {
        let want = s.expected.get(name).copied().unwrap_or(0);
        let extra = s.maybe.get(name).copied().unwrap_or(0);
        let have = got.get(name).copied().unwrap_or(0);
        if have < want || have > want + extra {
            if std::env::var_os("PTSD_SIM_SCHEDULE").is_some() {
                for n in got.keys().chain(s.expected.keys()) {
                    let (h, w) = (got.get(n).copied(), s.expected.get(n).copied());
                    if h.unwrap_or(0) != w.unwrap_or(0) {
                        eprintln!("differs: {n}: counted {h:?}, happened {w:?}");
                    }
                }
            }
            let happened: Vec<String> = s
                .expected_events
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, t)| Timestamp::from_second(*t).unwrap().to_string())
                .collect();
            let counted: Vec<String> = o
                .sum_seconds
                .iter()
                .filter(|((n, _), _)| n == name)
                .map(|((_, t), c)| format!("{}×{c}", Timestamp::from_second(*t).unwrap()))
                .collect();
            return Err(format!(
                "sums: {name}: counted {have}, happened {want} (+{extra} later than the lateness)\n  happened at {happened:?}\n  counted at {counted:?}"
            ));
        }
    }
    if s.knobs.graphite {
        check_slots("carbon", s, &o.slots, o.resolution)?;
        if !s.knobs.teams {
            same_interruptions("carbon", &o.sums, &o.slots)?;
        }
    }
    if s.knobs.dogstatsd != 0 {
        check_slots("dogstatsd", s, &o.points, s.knobs.dogstatsd)?;
        if !s.knobs.teams {
            same_interruptions("dogstatsd", &o.sums, &o.points)?;
        }
    }
    Ok(())
}

/// Every outputter gets the same numbers, the analysis' too: a slotted sink's interruptions
/// (slot totals, summed) equal the summing sink's, person by person and hour band by band.
/// (The generator does not say which pages interrupt; the 60 s rule is the analysis' own
/// tests' to check. What is checked here is that a late page never makes the sinks disagree.
/// Not with a team filter: an entry that leaves the filtered set after one sink took it is
/// never read again, so the sinks may differ by it, as by any entry PagerDuty withdraws.)
fn same_interruptions(
    sink: &str,
    sums: &BTreeMap<String, i64>,
    slots: &BTreeMap<(String, i64), i64>,
) -> Result<(), String> {
    let interruptions = |n: &str| n.contains(".interruptions") && !n.starts_with("ptsd.ptsd.");
    let mut a: BTreeMap<String, i64> = BTreeMap::new();
    for (n, v) in sums {
        if interruptions(n) {
            *a.entry(n.clone()).or_default() += v;
        }
    }
    let mut b: BTreeMap<String, i64> = BTreeMap::new();
    for ((n, _), v) in slots {
        if interruptions(n) {
            *b.entry(n.clone()).or_default() += v;
        }
    }
    a.retain(|_, v| *v != 0);
    b.retain(|_, v| *v != 0);
    if a != b {
        return Err(format!(
            "{sink}: interruptions differ from the summing sink's: sums {a:?}, {sink} {b:?}"
        ));
    }
    Ok(())
}

/// A sink that keeps the last write per slot of `resolution` seconds (`slots`: plain name and
/// slot start → value) holds exactly each slot's events.
fn check_slots(
    sink: &str,
    s: &Schedule,
    slots: &BTreeMap<(String, i64), i64>,
    resolution: i64,
) -> Result<(), String> {
    let slot = |second: i64| second - second.rem_euclid(resolution);
    let mut want: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for (name, second) in &s.expected_events {
        *want.entry((name.clone(), slot(*second))).or_default() += 1;
    }
    // An event later than the lateness may be counted or not, so its slot may hold one
    // more; every other count in that slot must still be there.
    let mut extra: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for (name, second) in &s.maybe_events {
        *extra.entry((name.clone(), slot(*second))).or_default() += 1;
    }
    let have: BTreeMap<&(String, i64), &i64> =
        slots.iter().filter(|((n, _), _)| checked(n)).collect();
    for key in want
        .keys()
        .chain(have.keys().copied())
        .chain(extra.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let w = want.get(key).copied().unwrap_or(0);
        let h = have.get(key).map_or(0, |v| **v);
        let e = extra.get(key).copied().unwrap_or(0);
        if h >= w && h <= w + e {
            continue;
        }
        let at = Timestamp::from_second(key.1).unwrap();
        let near: Vec<String> = slots
            .iter()
            .filter(|((n, t), _)| *n == key.0 && (t - key.1).abs() <= 600)
            .map(|((_, t), v)| format!("{}={v}", Timestamp::from_second(*t).unwrap()))
            .collect();
        return Err(format!(
            "{sink}: {} at {at}: last write {h}, happened {w} (+{e} later than the lateness)\n  slots written near it: {near:?}",
            key.0
        ));
    }
    Ok(())
}

fn describe(s: &Schedule) -> String {
    let count = |f: fn(&Happening) -> bool| s.happenings.iter().filter(|(_, h)| f(h)).count();
    format!(
        "{:?}\n  {} happenings from {} to {}: {} restarts, {} faults; {} series expected",
        s.knobs,
        s.happenings.len(),
        s.epoch,
        s.end,
        count(|h| matches!(h, Happening::Restart(_))),
        count(|h| matches!(h, Happening::Fault(..))),
        s.expected.len(),
    )
}

fn seeds() -> Vec<u64> {
    if let Ok(one) = std::env::var("PTSD_SIM_SEED") {
        return vec![one.parse().expect("PTSD_SIM_SEED is a number")];
    }
    let n = std::env::var("PTSD_SIM_SEEDS")
        .map_or(CI_SEEDS, |v| v.parse().expect("PTSD_SIM_SEEDS is a number"));
    (1..=n).collect()
}

#[test]
fn every_sink_counts_every_event_exactly_once_on_every_seed() {
    if std::env::var("RUST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    }
    let mut failures = Vec::new();
    let all = seeds();
    for &seed in &all {
        if std::env::var_os("PTSD_SIM_PROGRESS").is_some() {
            eprintln!("seed {seed}");
        }
        if std::env::var_os("PTSD_SIM_KNOBS").is_some() {
            // Only what each seed would run (to find the seeds of a combination).
            eprintln!(
                "seed {seed}: {}",
                describe(&generate(seed)).replace('\n', " ")
            );
            continue;
        }
        let (s, o) = run(seed);
        if std::env::var_os("PTSD_SIM_SCHEDULE").is_some() {
            for (at, h) in &s.happenings {
                eprintln!("{at} {h:?}");
            }
        }
        if let Err(why) = check(&s, &o) {
            eprintln!(
                "seed {seed} FAILED: {why}\n  {}\n  replay: PTSD_SIM_SEED={seed} cargo test --test simulation",
                describe(&s)
            );
            failures.push(seed);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed: {failures:?}",
        failures.len(),
        all.len()
    );
}
