//! Per-person load: pages, interruptions by band, nights broken by a sleep-hours interruption
//! and the longest run of them, acknowledgements and escalations, with the previous period's
//! interruptions for the trend. Sorted by sleep interruptions, most first.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;

use super::model::{Interruptions, PersonLoad};
use super::stats::change;
use crate::analysis::hours::Band;
use crate::analysis::Analysed;
use crate::event::{EventKind, Person};
use crate::schema::{person_value, UserKey};

impl Interruptions {
    /// Counts one interruption, in `band` when the analysis found one.
    pub(super) fn add(&mut self, band: Option<Band>) {
        self.total += 1;
        match band {
            Some(Band::Sleep) => self.sleep += 1,
            Some(Band::Business) => self.business += 1,
            Some(Band::Off) => self.off += 1,
            None => {}
        }
    }

    /// Adds another tally to this one.
    pub(super) fn absorb(&mut self, other: &Interruptions) {
        self.sleep += other.sleep;
        self.business += other.business;
        self.off += other.off;
        self.total += other.total;
    }
}

/// The person an event names, if any (automatic acknowledgements and resolves name nobody).
pub(super) fn person_of(a: &Analysed) -> Option<&Person> {
    match &a.event.kind {
        EventKind::Notified { user, .. }
        | EventKind::Assigned { user }
        | EventKind::Escalated { user } => Some(user),
        EventKind::Acknowledged { user } | EventKind::Resolved { user } => user.as_ref(),
        EventKind::Triggered { .. } => None,
    }
}

/// Tallies people over both periods.
pub(super) struct People {
    key: UserKey,
    now: BTreeMap<(String, String), (PersonLoad, BTreeSet<Date>)>,
    previous: BTreeMap<(String, String), Interruptions>,
}

impl People {
    pub(super) fn new(key: UserKey) -> People {
        People {
            key,
            now: BTreeMap::new(),
            previous: BTreeMap::new(),
        }
    }

    /// Counts `a` for the person it names, in the current period or the previous one.
    pub(super) fn count(&mut self, a: &Analysed, current: bool) {
        let Some(person) = person_of(a) else {
            return;
        };
        let name = person_value(person, self.key);
        let key = (a.provider.clone(), name.clone());
        if !current {
            if let EventKind::Notified { .. } = a.event.kind {
                if a.found.interruption {
                    self.previous.entry(key).or_default().add(a.found.band);
                }
            }
            return;
        }
        let (load, nights) = self.now.entry(key).or_insert_with(|| {
            (
                PersonLoad {
                    provider: a.provider.clone(),
                    person: name,
                    pages: 0,
                    interruptions: Interruptions::default(),
                    acknowledgements: 0,
                    escalations: 0,
                    assignments: 0,
                    resolves: 0,
                    sleep_nights: 0,
                    longest_night_run: 0,
                    previous_interruptions: Interruptions::default(),
                    change: None,
                },
                BTreeSet::new(),
            )
        });
        match &a.event.kind {
            EventKind::Notified { .. } => {
                load.pages += 1;
                if a.found.interruption {
                    load.interruptions.add(a.found.band);
                    if a.found.band == Some(Band::Sleep) {
                        nights.extend(a.found.night);
                    }
                }
            }
            EventKind::Acknowledged { .. } => load.acknowledgements += 1,
            EventKind::Escalated { .. } => load.escalations += 1,
            EventKind::Assigned { .. } => load.assignments += 1,
            EventKind::Resolved { .. } => load.resolves += 1,
            EventKind::Triggered { .. } => {}
        }
    }

    /// The people of the current period, most sleep interruptions first (then all
    /// interruptions, pages, name).
    pub(super) fn into_rows(self) -> Vec<PersonLoad> {
        let previous = self.previous;
        let mut rows: Vec<PersonLoad> = self
            .now
            .into_iter()
            .map(|(key, (mut load, nights))| {
                load.sleep_nights = nights.len() as u64;
                load.longest_night_run = longest_run(&nights);
                load.previous_interruptions = previous.get(&key).cloned().unwrap_or_default();
                load.change = change(load.interruptions.total, load.previous_interruptions.total);
                load
            })
            .collect();
        rows.sort_by(|a, b| {
            (
                Reverse(a.interruptions.sleep),
                Reverse(a.interruptions.total),
                Reverse(a.pages),
                &a.person,
                &a.provider,
            )
                .cmp(&(
                    Reverse(b.interruptions.sleep),
                    Reverse(b.interruptions.total),
                    Reverse(b.pages),
                    &b.person,
                    &b.provider,
                ))
        });
        rows
    }
}

/// The longest run of consecutive dates in `nights`.
fn longest_run(nights: &BTreeSet<Date>) -> u64 {
    let (mut best, mut run, mut last): (u64, u64, Option<Date>) = (0, 0, None);
    for d in nights {
        run = match last {
            Some(prev) if prev.tomorrow().ok() == Some(*d) => run + 1,
            _ => 1,
        };
        best = best.max(run);
        last = Some(*d);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn longest_run_of_consecutive_nights() {
        let set = |ds: &[Date]| ds.iter().copied().collect::<BTreeSet<Date>>();
        assert_eq!(longest_run(&set(&[])), 0);
        assert_eq!(longest_run(&set(&[date(2026, 3, 2)])), 1);
        let nights = set(&[
            date(2026, 2, 27),
            date(2026, 2, 28),
            date(2026, 3, 1),
            date(2026, 3, 3),
            date(2026, 3, 4),
        ]);
        // Across the end of February: three in a row.
        assert_eq!(longest_run(&nights), 3);
    }
}
