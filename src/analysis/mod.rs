//! On-call analysis: what events say together that no single event says.
//!
//! - **Interruptions.** A push, phone or SMS notification (e-mail is not one) interrupts its
//!   person, unless another such notification to the same person lies within 60 s of it
//!   (PagerDuty's definition: a burst counts once). Each notification is classed by the hour
//!   band of the instant it was sent, in the person's own time zone ([`crate::hours`]).
//! - **Time to acknowledge and resolve.** From the trigger (or the incident's `created_at`) to
//!   the first acknowledgement, and to the resolve. Log entries are the source: an incident's
//!   own `acknowledgements` are empty once it is resolved. An incident resolved without an
//!   acknowledgement has no time to acknowledge.
//! - **Alert categories.** The trigger's incident title, normalised or matched by the user's
//!   rules ([`crate::category`]), with the number of categories capped.
//!
//! The daemon and `ptsd report` both go through [`Analyst::analyse`], so they agree. What it
//! must remember between polls ([`Memory`]: recent notification times, open incidents, known
//! categories) is saved with the collector's cursor and committed only with it, so a poll that
//! fails leaves no trace and a restart neither repeats nor loses a finding.

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

pub mod category;
pub mod hours;

use self::category::Categorizer;
use self::hours::{Band, HourBands};
use crate::config::{Config, ConfigError};
use crate::event::{Channel, Event, EventKind};

/// Notifications to one person closer together than this count as one interruption.
pub const BURST: SignedDuration = SignedDuration::from_secs(60);
/// How long an incident that was never resolved is remembered.
pub const OPEN_INCIDENT_MEMORY: SignedDuration = SignedDuration::from_hours(30 * 24);

/// What the analysis remembers between polls, per collector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// Person id → when they were recently sent an interrupting notification.
    #[serde(default)]
    pub pages: BTreeMap<String, Vec<Timestamp>>,
    /// Incident id → what is known of it while it is open.
    #[serde(default)]
    pub open: BTreeMap<String, OpenIncident>,
    /// The alert categories met so far (the cap counts these).
    #[serde(default)]
    pub categories: BTreeSet<String>,
    /// When each category last had an incident; one unseen for [`CATEGORY_IDLE`] frees its
    /// place under the cap. (A category from an older state file starts its clock when the
    /// cap is next reached.)
    #[serde(default)]
    pub category_seen: BTreeMap<String, Timestamp>,
}

/// A category with no incident for this long frees its place under `PTSD_MAX_CATEGORIES`,
/// so a new alert type is not `other` for ever once the cap was reached.
pub const CATEGORY_IDLE: SignedDuration = SignedDuration::from_hours(30 * 24);

/// An incident seen triggered or acknowledged and not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIncident {
    /// When it was opened, if known.
    pub opened: Option<Timestamp>,
    /// Whether its first acknowledgement was seen.
    pub acked: bool,
    /// When ptsd first met it (for forgetting).
    pub noted: Timestamp,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub urgency: Option<String>,
}

impl Memory {
    /// Forgets notifications before `pages_horizon` and open incidents first met before
    /// `open_horizon`.
    pub fn prune(&mut self, pages_horizon: Timestamp, open_horizon: Timestamp) {
        self.pages.retain(|_, times| {
            times.retain(|t| *t >= pages_horizon);
            !times.is_empty()
        });
        self.open.retain(|_, o| o.noted >= open_horizon);
    }
}

/// A duration measured on an incident, with the incident's service and urgency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    pub duration: SignedDuration,
    pub service: String,
    pub urgency: String,
}

/// One event with what the analysis found in it, and the provider it came from: what
/// `ptsd report` reads ([`crate::engine::history`]).
#[derive(Debug, Clone)]
pub struct Analysed {
    pub provider: String,
    pub event: Event,
    pub found: Findings,
}

/// What the analysis found in one event. Saved with a record that only some outputters took
/// ([`crate::state::Partial`]), so the others get it with the same findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Findings {
    /// A notification's hour band, in its person's zone.
    pub band: Option<Band>,
    /// The notification interrupted its person (it is not within 60 s of another).
    pub interruption: bool,
    /// A sleep-hours notification's night: the local date (in its person's zone) on which
    /// that stretch of sleep hours began.
    pub night: Option<jiff::civil::Date>,
    /// A trigger's alert category.
    pub category: Option<String>,
    /// How a trigger's category reads in the report: its title's shape with placeholders
    /// (`CPU load <n> on <ip>`), or the rule's category.
    pub shape: Option<String>,
    /// An acknowledgement's time to acknowledge (first acknowledgements only).
    pub time_to_ack: Option<Timing>,
    /// A resolve's time to resolve.
    pub time_to_resolve: Option<Timing>,
}

/// The analysis settings: hour bands, the account zone, the categoriser (rules and cap).
#[derive(Debug, Clone)]
pub struct Analyst {
    pub bands: HourBands,
    /// The zone of people whose provider gave none (`PTSD_TIME_ZONE`).
    pub account_zone: TimeZone,
    /// Rules and cap; its known categories are replaced by a [`Memory`]'s for each use.
    pub categorizer: Categorizer,
}

impl Default for Analyst {
    fn default() -> Self {
        Analyst {
            bands: HourBands::default(),
            account_zone: TimeZone::UTC,
            categorizer: Categorizer::new(crate::analysis::category::DEFAULT_MAX),
        }
    }
}

/// An analysis in progress over one batch of events: the analyst and a working copy of the
/// memory, which the caller keeps (commits) or drops.
pub struct Session<'a> {
    analyst: &'a Analyst,
    categorizer: Categorizer,
    /// Zones resolved so far, by name.
    zones: BTreeMap<String, TimeZone>,
    /// The working copy; its `categories` are the categorizer's, synced by [`Session::into_memory`].
    memory: Memory,
}

impl Analyst {
    /// The analyst the engine's options ask for: hour bands, account zone, category rules
    /// (read from `PTSD_CATEGORY_RULES`) and cap.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable to fix.
    pub fn from_config(config: &Config) -> Result<Analyst, ConfigError> {
        let o = &config.analysis;
        let bands = HourBands::parse(&o.sleep_hours, &o.business_hours, &o.business_days)
            .map_err(ConfigError)?;
        let account_zone =
            hours::parse_zone("PTSD_TIME_ZONE", &o.time_zone).map_err(ConfigError)?;
        if o.max_categories == 0 {
            return Err(ConfigError(
                "PTSD_MAX_CATEGORIES is 0; set it to at least 1 (e.g. 100)".into(),
            ));
        }
        let mut categorizer = Categorizer::new(o.max_categories);
        if let Some(path) = &o.category_rules {
            categorizer = categorizer
                .with_rules_file(path)
                .map_err(|e| ConfigError(format!("PTSD_CATEGORY_RULES {e}")))?;
        }
        Ok(Analyst {
            bands,
            account_zone,
            categorizer,
        })
    }

    /// Starts analysing with a copy of `memory`.
    pub fn session(&self, memory: &Memory) -> Session<'_> {
        let mut memory = memory.clone();
        // Each person's times are kept sorted (a state file from an older ptsd may not be).
        for times in memory.pages.values_mut() {
            times.sort_unstable();
        }
        Session {
            analyst: self,
            categorizer: self
                .categorizer
                .clone()
                .with_known(memory.categories.iter().cloned()),
            zones: BTreeMap::new(),
            memory,
        }
    }
}

/// Whether a channel interrupts (PagerDuty: push, phone and SMS do; e-mail does not).
pub fn interrupts(channel: Channel) -> bool {
    matches!(channel, Channel::Push | Channel::Phone | Channel::Sms)
}

impl Session<'_> {
    /// The memory after the events analysed, for the caller to keep.
    pub fn into_memory(self) -> Memory {
        let mut memory = self.memory;
        memory.categories = self.categorizer.known().clone();
        let known = &memory.categories;
        memory.category_seen.retain(|c, _| known.contains(c));
        memory
    }

    /// Forgets the categories with no incident in the [`CATEGORY_IDLE`] before `at`, so new
    /// ones can take their places; those of unknown age start their clock at `at`.
    fn release_idle_categories(&mut self, at: Timestamp) {
        let horizon = at - CATEGORY_IDLE;
        let mut idle = Vec::new();
        for c in self.categorizer.known() {
            let seen = *self.memory.category_seen.entry(c.clone()).or_insert(at);
            if seen < horizon {
                idle.push(c.clone());
            }
        }
        for c in idle {
            tracing::debug!(category = %c, "Alert category unseen for 30 days; its place is free.");
            self.categorizer.forget(&c);
            self.memory.category_seen.remove(&c);
        }
    }

    /// The zone named `name`, or the account zone.
    fn zone(&mut self, name: Option<&str>) -> TimeZone {
        let Some(name) = name else {
            return self.analyst.account_zone.clone();
        };
        if let Some(z) = self.zones.get(name) {
            return z.clone();
        }
        let z = hours::zone(Some(name), &self.analyst.account_zone);
        self.zones.insert(name.to_string(), z.clone());
        z
    }

    /// Analyses one event. Events must come in time order (ties in any order) for the 60 s
    /// rule to be exact; each event must be analysed once (the engine's dedupe sees to that).
    pub fn analyse(&mut self, event: &Event) -> Findings {
        let mut found = Findings::default();
        match &event.kind {
            EventKind::Notified { user, channel } => {
                let zone = self.zone(user.time_zone.as_deref());
                found.band = Some(self.analyst.bands.classify(event.at, &zone));
                found.night = self.analyst.bands.night_of(event.at, &zone);
                if interrupts(*channel) {
                    // Sorted times: the one neighbour that could be less than BURST away is
                    // the first after `at - BURST`.
                    let times = self.memory.pages.entry(user.id.clone()).or_default();
                    let near = times.partition_point(|t| *t <= event.at - BURST);
                    found.interruption = times.get(near).is_none_or(|t| *t >= event.at + BURST);
                    times.insert(times.partition_point(|t| *t <= event.at), event.at);
                }
            }
            EventKind::Triggered { service, urgency } => {
                let title = event
                    .incident
                    .as_ref()
                    .and_then(|i| i.title.as_deref())
                    .unwrap_or("");
                if self.categorizer.is_full() {
                    self.release_idle_categories(event.at);
                }
                let (category, shaped) = self.categorizer.categorize_shaped(title);
                if self.categorizer.known().contains(&category) {
                    let seen = self
                        .memory
                        .category_seen
                        .entry(category.clone())
                        .or_insert(event.at);
                    *seen = (*seen).max(event.at);
                }
                found.category = Some(category);
                found.shape = Some(shaped);
                if let Some(inc) = &event.incident {
                    let opened = inc.created_at.unwrap_or(event.at).min(event.at);
                    self.memory
                        .open
                        .entry(inc.id.clone())
                        .or_insert_with(|| OpenIncident {
                            opened: Some(opened),
                            acked: false,
                            noted: event.at,
                            service: Some(service.clone()),
                            urgency: Some(urgency.clone()),
                        });
                }
            }
            EventKind::Acknowledged { .. } => {
                let Some(inc) = &event.incident else {
                    return found;
                };
                let entry =
                    self.memory
                        .open
                        .entry(inc.id.clone())
                        .or_insert_with(|| OpenIncident {
                            opened: inc.created_at,
                            acked: false,
                            noted: event.at,
                            service: inc.service.clone(),
                            urgency: inc.urgency.clone(),
                        });
                if !entry.acked {
                    entry.acked = true;
                    found.time_to_ack = timing(entry, inc, event.at);
                }
            }
            EventKind::Resolved { .. } => {
                let Some(inc) = &event.incident else {
                    return found;
                };
                let entry = self
                    .memory
                    .open
                    .remove(&inc.id)
                    .unwrap_or_else(|| OpenIncident {
                        opened: inc.created_at,
                        acked: false,
                        noted: event.at,
                        service: inc.service.clone(),
                        urgency: inc.urgency.clone(),
                    });
                found.time_to_resolve = timing(&entry, inc, event.at);
            }
            EventKind::Assigned { .. } | EventKind::Escalated { .. } => {}
        }
        found
    }
}

/// The time from the incident's opening to `at`, when the opening is known and not after it.
fn timing(open: &OpenIncident, inc: &crate::event::Incident, at: Timestamp) -> Option<Timing> {
    let opened = open.opened.or(inc.created_at)?;
    let duration = at.duration_since(opened);
    if duration.is_negative() {
        return None;
    }
    Some(Timing {
        duration,
        service: open
            .service
            .clone()
            .or_else(|| inc.service.clone())
            .unwrap_or_else(|| "unknown".into()),
        urgency: open
            .urgency
            .clone()
            .or_else(|| inc.urgency.clone())
            .unwrap_or_else(|| "none".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Incident, Person};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn ada(zone: Option<&str>) -> Person {
        Person {
            id: "P1".into(),
            name: Some("Ada".into()),
            time_zone: zone.map(String::from),
            ..Person::default()
        }
    }

    fn inc(id: &str, created: Option<&str>) -> Incident {
        Incident {
            id: id.into(),
            created_at: created.map(t),
            title: Some("disk 91% on db-17".into()),
            service: Some("Checkout API".into()),
            urgency: Some("high".into()),
        }
    }

    fn ev(at: &str, kind: EventKind, incident: Option<Incident>) -> Event {
        Event {
            record_id: at.into(),
            at: t(at),
            kind,
            incident,
        }
    }

    fn triggered(at: &str, title: &str) -> Event {
        let mut i = inc(at, Some(at));
        i.title = Some(title.into());
        ev(
            at,
            EventKind::Triggered {
                service: "Checkout API".into(),
                urgency: "high".into(),
            },
            Some(i),
        )
    }

    #[test]
    fn a_category_unseen_for_30_days_frees_its_place() {
        let analyst = Analyst {
            categorizer: Categorizer::new(2),
            ..Analyst::default()
        };
        let run = |memory: &mut Memory, at: &str, title: &str| {
            let mut s = analyst.session(memory);
            let c = s.analyse(&triggered(at, title)).category.unwrap();
            *memory = s.into_memory();
            c
        };
        let mut m = Memory::default();
        assert_eq!(
            run(&mut m, "2026-01-01T00:00:00Z", "Disk full"),
            "disk full"
        );
        assert_eq!(run(&mut m, "2026-01-20T00:00:00Z", "CPU hot"), "cpu hot");
        // The cap is reached: a new kind of alert is `other` while both are recent.
        assert_eq!(run(&mut m, "2026-01-25T00:00:00Z", "Queue stuck"), "other");
        // Disk was last seen 31 days ago: its place goes to the new one; CPU keeps its own.
        assert_eq!(
            run(&mut m, "2026-02-01T00:00:00Z", "Queue stuck"),
            "queue stuck"
        );
        assert_eq!(run(&mut m, "2026-02-02T00:00:00Z", "CPU hot"), "cpu hot");
        assert_eq!(run(&mut m, "2026-02-03T00:00:00Z", "Disk full"), "other");
        let seen: Vec<&str> = m.category_seen.keys().map(String::as_str).collect();
        assert_eq!(seen, ["cpu hot", "queue stuck"]);
        // A state file from before this field: the clock starts when the cap is next reached.
        m.category_seen.clear();
        assert_eq!(run(&mut m, "2026-06-01T00:00:00Z", "Fan failed"), "other");
        assert_eq!(
            run(&mut m, "2026-07-02T00:00:00Z", "Fan failed"),
            "fan failed"
        );
    }

    fn notify(at: &str, channel: Channel) -> Event {
        ev(
            at,
            EventKind::Notified {
                user: ada(Some("America/New_York")),
                channel,
            },
            None,
        )
    }

    #[test]
    fn sixty_second_rule_and_email() {
        let analyst = Analyst::default();
        let mut s = analyst.session(&Memory::default());
        let got: Vec<bool> = [
            notify("2026-03-02T15:00:00Z", Channel::Push),
            notify("2026-03-02T15:00:30Z", Channel::Sms),
            notify("2026-03-02T15:00:59.999Z", Channel::Phone),
            notify("2026-03-02T15:02:00Z", Channel::Phone),
            notify("2026-03-02T15:05:00Z", Channel::Email),
            notify("2026-03-02T15:05:30Z", Channel::Push),
        ]
        .iter()
        .map(|e| s.analyse(e).interruption)
        .collect();
        // 15:00:59.999 is within 60 s of 15:00:30; 15:02:00 is 60.001 s after it; e-mail
        // never interrupts and does not start a burst.
        assert_eq!(got, [true, false, false, true, false, true]);
    }

    #[test]
    fn sixty_seconds_apart_is_two_and_each_person_has_their_own_bursts() {
        let analyst = Analyst::default();
        let mut s = analyst.session(&Memory::default());
        let grace = |at: &str| {
            let mut e = notify(at, Channel::Push);
            if let EventKind::Notified { user, .. } = &mut e.kind {
                user.id = "P2".into();
            }
            e
        };
        let got: Vec<bool> = [
            notify("2026-03-02T15:00:00Z", Channel::Push),
            grace("2026-03-02T15:00:10Z"),
            notify("2026-03-02T15:01:00Z", Channel::Push),
            grace("2026-03-02T15:01:09.999Z"),
            // Out of order (a late entry): within 60 s of 15:01:00 on either side.
            notify("2026-03-02T15:00:30Z", Channel::Sms),
        ]
        .iter()
        .map(|e| s.analyse(e).interruption)
        .collect();
        // Exactly 60 s is a new interruption (the rule is "within 60 s"); Grace's pages do not
        // fold into Ada's bursts.
        assert_eq!(got, [true, true, true, false, false]);
    }

    #[test]
    fn the_burst_rule_holds_across_polls_through_memory() {
        let analyst = Analyst::default();
        let mut s = analyst.session(&Memory::default());
        assert!(
            s.analyse(&notify("2026-03-02T15:00:00Z", Channel::Push))
                .interruption
        );
        let memory = s.into_memory();
        let mut next = analyst.session(&memory);
        assert!(
            !next
                .analyse(&notify("2026-03-02T15:00:40Z", Channel::Push))
                .interruption
        );
        // A session that is dropped (a failed poll) leaves the memory as it was.
        assert_eq!(memory.pages["P1"].len(), 1);
    }

    #[test]
    fn band_in_the_persons_own_zone() {
        let analyst = Analyst::default();
        let mut s = analyst.session(&Memory::default());
        // 15:00 UTC on a Monday is 10:00 in New York (business) and 15:00 in UTC (business);
        // 03:00 UTC is 22:00 the evening before in New York (sleep) and 03:00 UTC (sleep).
        let f = s.analyse(&notify("2026-03-02T23:30:00Z", Channel::Push));
        assert_eq!(f.band, Some(Band::Off), "18:30 in New York");
        let mut nobody = notify("2026-03-02T23:30:00Z", Channel::Email);
        if let EventKind::Notified { user, .. } = &mut nobody.kind {
            user.time_zone = None;
        }
        assert_eq!(s.analyse(&nobody).band, Some(Band::Sleep), "23:30 UTC");
    }

    #[test]
    fn time_to_ack_only_for_the_first_ack_and_resolve_without_ack() {
        let analyst = Analyst::default();
        let mut s = analyst.session(&Memory::default());
        let trig = |id: &str, at: &str| {
            ev(
                at,
                EventKind::Triggered {
                    service: "Checkout API".into(),
                    urgency: "high".into(),
                },
                Some(inc(id, Some(at))),
            )
        };
        let ack = |id: &str, at: &str| {
            ev(
                at,
                EventKind::Acknowledged {
                    user: Some(ada(None)),
                },
                Some(inc(id, None)),
            )
        };
        let resolve =
            |id: &str, at: &str| ev(at, EventKind::Resolved { user: None }, Some(inc(id, None)));
        assert_eq!(
            s.analyse(&trig("I1", "2026-03-02T03:00:00Z")).category,
            Some(crate::analysis::category::normalise("disk 91% on db-17"))
        );
        let f = s.analyse(&ack("I1", "2026-03-02T03:02:30Z"));
        let tta = f.time_to_ack.unwrap();
        assert_eq!(tta.duration, SignedDuration::from_secs(150));
        assert_eq!(
            (tta.service.as_str(), tta.urgency.as_str()),
            ("Checkout API", "high")
        );
        assert_eq!(
            s.analyse(&ack("I1", "2026-03-02T03:09:00Z")).time_to_ack,
            None
        );
        let f = s.analyse(&resolve("I1", "2026-03-02T03:10:00Z"));
        assert_eq!(
            f.time_to_resolve.unwrap().duration,
            SignedDuration::from_secs(600)
        );
        assert!(s.memory.open.is_empty());

        s.analyse(&trig("I2", "2026-03-02T04:00:00Z"));
        let f = s.analyse(&resolve("I2", "2026-03-02T04:03:00Z"));
        assert_eq!(f.time_to_ack, None);
        assert_eq!(
            f.time_to_resolve.unwrap().duration,
            SignedDuration::from_secs(180)
        );

        // Triggered before ptsd started: the incident's created_at is the start.
        let f = s.analyse(&ev(
            "2026-03-02T05:00:00Z",
            EventKind::Acknowledged { user: None },
            Some(inc("I3", Some("2026-03-02T04:59:00Z"))),
        ));
        assert_eq!(
            f.time_to_ack.unwrap().duration,
            SignedDuration::from_secs(60)
        );
        // Nothing known of the start: no time at all, rather than a wrong one.
        let f = s.analyse(&resolve("I4", "2026-03-02T05:00:00Z"));
        assert_eq!(f.time_to_resolve, None);
    }

    #[test]
    fn prune_forgets_old_pages_and_incidents() {
        let mut m = Memory::default();
        m.pages.insert("P1".into(), vec![t("2026-03-02T03:00:00Z")]);
        m.pages.insert(
            "P2".into(),
            vec![t("2026-03-02T03:00:00Z"), t("2026-03-02T04:00:00Z")],
        );
        m.open.insert(
            "I1".into(),
            OpenIncident {
                opened: None,
                acked: false,
                noted: t("2026-01-01T00:00:00Z"),
                service: None,
                urgency: None,
            },
        );
        m.prune(t("2026-03-02T03:30:00Z"), t("2026-02-01T00:00:00Z"));
        assert_eq!(m.pages.len(), 1);
        assert_eq!(m.pages["P2"], vec![t("2026-03-02T04:00:00Z")]);
        assert!(m.open.is_empty());
    }
}
