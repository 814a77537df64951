//! Demo collector: a small, plausible on-call rotation, synthesised in real time.
//!
//! **Reads** nothing: wall-clock time is cut into 20-second slots, and a seeded hash of each
//! slot decides whether an incident starts in it, on which service, at what urgency, who is on
//! call (the rotation hands over every hour), how fast they acknowledge, whether it escalates
//! after 90 s to the next person, and whether a person or the monitoring integration resolves it.
//! People live in four time zones and alert titles carry changing numbers, as real ones do, so
//! hour bands and alert categories have something to show.
//! The same seed and window always give the same events, so the feed is deterministic and needs
//! no state; it goes through the same engine, schema and outputters as PagerDuty.
//!
//! **Emits** every event kind: `Triggered`, `Assigned`, `Notified` (push, SMS, phone, e-mail),
//! `Acknowledged`, `Escalated`, `Resolved`.
//!
//! **Config**: `--demo` (or `PTSD_DEMO=true`), `PTSD_DEMO_SEED` (default 1).

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use super::{CollectError, Collected, Collector, CollectorSettings};
use crate::config::{Config, ConfigError};
use crate::event::{Channel, Event, EventKind, Incident, Person, Window};

/// The registry name and `provider` tag.
pub const NAME: &str = "demo";
const SLOT_SECS: i64 = 20;
/// Longest incident lifecycle; a window looks this far back for incidents still unfolding.
const LONGEST_INCIDENT_SECS: i64 = 20 * 60;
const USERS: [(&str, &str, &str); 4] = [
    ("PDEMO01", "Ada Lovelace", "Europe/London"),
    ("PDEMO02", "Grace Hopper", "America/New_York"),
    ("PDEMO03", "Alan Turing", "Asia/Kolkata"),
    ("PDEMO04", "Katherine Johnson", "Australia/Sydney"),
];
const SERVICES: [&str; 3] = ["Checkout API", "Search", "Payments DB"];
/// Alert titles; `{n}` becomes a number, as in real alerts.
const TITLES: [&str; 4] = [
    "disk {n}% full on db-{n}",
    "p99 latency {n}ms on api-{n}",
    "CPU load {n} on 10.0.3.{n}",
    "Replication lag {n}s on pg-replica-{n}",
];

/// The demo feed's options (`--demo` itself is the engine's, since it changes its defaults).
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Demo feed")]
pub struct DemoSettings {
    /// Seed of the demo feed (same seed, same events).
    #[arg(long, env = "PTSD_DEMO_SEED", default_value_t = 1)]
    pub demo_seed: u64,
}

impl CollectorSettings for DemoSettings {
    const NAME: &'static str = NAME;
    const ENABLE: &'static str = "run with --demo";

    /// Always available; `build_all` uses it only with `--demo`.
    fn build(self, _config: &Config) -> Result<Option<Box<dyn Collector>>, ConfigError> {
        Ok(Some(Box::new(DemoCollector {
            seed: self.demo_seed,
        })))
    }
}

/// The demo feed.
pub struct DemoCollector {
    seed: u64,
}

/// SplitMix64: a tiny, well-known mixing function; enough for a demo.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn person(i: usize) -> Person {
    let (id, name, zone) = USERS[i % USERS.len()];
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

/// The events of the incident that starts in `slot`, if one does.
pub fn incident_events(seed: u64, slot: i64) -> Vec<Event> {
    let h = mix(seed ^ mix(slot as u64));
    if h % 100 >= 35 {
        return Vec::new();
    }
    let r = |shift: u32, modulo: u64| (h >> shift) % modulo;
    let t0 = Timestamp::from_second(slot * SLOT_SECS + r(8, SLOT_SECS as u64) as i64)
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let at = |secs: i64| t0 + SignedDuration::from_secs(secs);
    let shift = (slot * SLOT_SECS / 3600).rem_euclid(USERS.len() as i64) as usize;
    let (primary, secondary) = (person(shift), person(shift + 1));
    let high = r(16, 10) < 7;
    let ack_after = 10 + r(20, 200) as i64;
    let auto_resolved = r(28, 100) < 15;
    let service = SERVICES[r(12, SERVICES.len() as u64) as usize];
    let urgency = if high { "high" } else { "low" };
    let title = TITLES[r(40, TITLES.len() as u64) as usize]
        .replacen("{n}", &(50 + r(44, 50)).to_string(), 1)
        .replacen("{n}", &(1 + r(50, 20)).to_string(), 1);
    let incident = Incident {
        id: format!("demo-{slot}"),
        created_at: Some(t0),
        title: Some(title),
        service: Some(service.into()),
        urgency: Some(urgency.into()),
    };
    let mut n = 0;
    let mut events = Vec::new();
    let mut push = |secs: i64, kind: EventKind| {
        n += 1;
        events.push(Event {
            record_id: format!("demo-{slot}-{n}"),
            at: at(secs),
            kind,
            incident: Some(incident.clone()),
        });
    };
    push(
        0,
        EventKind::Triggered {
            service: service.into(),
            urgency: urgency.into(),
        },
    );
    push(
        0,
        EventKind::Assigned {
            user: primary.clone(),
        },
    );
    let first_channel = if high { Channel::Push } else { Channel::Email };
    push(
        1,
        EventKind::Notified {
            user: primary.clone(),
            channel: first_channel,
        },
    );
    if high {
        push(
            2,
            EventKind::Notified {
                user: primary.clone(),
                channel: Channel::Sms,
            },
        );
    }
    if auto_resolved {
        // Resolved by the monitoring integration before anyone acted: nobody's resolve.
        push(30 + r(56, 240) as i64, EventKind::Resolved { user: None });
        return events;
    }
    let acker = if ack_after > 90 {
        if high {
            push(
                60,
                EventKind::Notified {
                    user: primary.clone(),
                    channel: Channel::Phone,
                },
            );
        }
        push(
            90,
            EventKind::Escalated {
                user: secondary.clone(),
            },
        );
        push(
            91,
            EventKind::Notified {
                user: secondary.clone(),
                channel: Channel::Push,
            },
        );
        secondary
    } else {
        primary
    };
    push(
        ack_after,
        EventKind::Acknowledged {
            user: Some(acker.clone()),
        },
    );
    push(
        ack_after + 60 + r(36, 600) as i64,
        EventKind::Resolved { user: Some(acker) },
    );
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
        let first = (window.since.as_second() - LONGEST_INCIDENT_SECS).div_euclid(SLOT_SECS);
        let last = window.until.as_second().div_euclid(SLOT_SECS);
        let events = (first..=last)
            .flat_map(|slot| incident_events(self.seed, slot))
            .filter(|e| window.contains(e.at))
            .collect();
        Ok(Collected {
            events,
            ..Collected::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(secs: i64) -> Window {
        let a = Timestamp::from_second(1_780_000_000).unwrap();
        Window::new(a, a + SignedDuration::from_secs(secs))
    }

    #[tokio::test]
    async fn deterministic_and_split_invariant() {
        let mut c = DemoCollector { seed: 7 };
        let whole = c.collect(window(3600)).await.unwrap().events;
        assert!(whole.len() > 100, "an hour of demo has plenty of events");
        assert_eq!(whole, c.collect(window(3600)).await.unwrap().events);
        // Two halves give exactly the whole.
        let (l, r) = window(3600).halves().unwrap();
        let mut parts = c.collect(l).await.unwrap().events;
        parts.extend(c.collect(r).await.unwrap().events);
        let key = |e: &Event| (e.at, e.record_id.clone());
        let (mut parts, mut whole_sorted) = (parts, whole.clone());
        parts.sort_by_key(key);
        whole_sorted.sort_by_key(key);
        assert_eq!(parts, whole_sorted);
        let other = DemoCollector { seed: 8 }
            .collect(window(3600))
            .await
            .unwrap()
            .events;
        assert_ne!(other, whole);
    }

    #[tokio::test]
    async fn every_kind_shows_up() {
        let events = DemoCollector { seed: 1 }
            .collect(window(4 * 3600))
            .await
            .unwrap()
            .events;
        let has = |f: fn(&EventKind) -> bool| events.iter().any(|e| f(&e.kind));
        assert!(has(|k| matches!(k, EventKind::Triggered { .. })));
        assert!(has(|k| matches!(k, EventKind::Escalated { .. })));
        assert!(has(|k| matches!(k, EventKind::Resolved { .. })));
        assert!(has(|k| matches!(
            k,
            EventKind::Notified {
                channel: Channel::Phone,
                ..
            }
        )));
    }
}
