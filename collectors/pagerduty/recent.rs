//! What the PagerDuty collector read lately, so a live poll counts before it reads again.
//!
//! Each live poll reads its window again from `cursor - PTSD_LATENESS`, to catch entries that
//! showed up late. Most of the time none did, and re-reading that part costs its pages again
//! (with a 1-minute interval and 5 minutes of lateness, every entry would be read six times).
//! So the collector remembers its recent reads: the window each asked for and the ids of the
//! entries PagerDuty returned. Before a read whose start was covered by delivered reads, it
//! asks PagerDuty how many entries the union of those reads' windows holds now
//! (`total=true&limit=1`, one request, same filters) and compares that with the distinct
//! entries those reads returned. Equal: nothing arrived late there, and only the new part is
//! read. Different: the old part is read again.
//!
//! Why the union of the windows asked, not the engine's window: whether PagerDuty's `since` and
//! `until` are inclusive, and whether it truncates them to seconds, is not documented. Asking
//! for exactly the bounds earlier reads asked for makes the comparison hold under any of those
//! readings (the reads overlap by two seconds, so their union has no seam). Log entries are
//! never edited or deleted, so an equal count means the same entries. Anything uncertain (a
//! restart, reads that do not chain, a count that differs for any reason, an answer without a
//! total) means a full re-read: the count can cost one request, never an entry.

use std::collections::{HashSet, VecDeque};

use jiff::Timestamp;

use crate::event::Window;

/// One read: the window asked for and the ids PagerDuty returned in it.
#[derive(Debug)]
struct Read {
    asked: Window,
    ids: Vec<String>,
}

/// Recent reads and how far their events were delivered.
#[derive(Debug, Default)]
pub struct Recent {
    /// Reads whose events were delivered.
    reads: VecDeque<Read>,
    /// Reads whose events were not (yet) delivered: they prove nothing. A read whose delivery
    /// failed (a sink away) returned entries that no sink may have; counting them as read
    /// would skip them for ever (found by the simulation, issue 19).
    unconfirmed: Vec<Read>,
    /// Every entry before this was read by a read whose events were delivered.
    covered_until: Option<Timestamp>,
}

/// What a count must find for the part already read to need no second read.
#[derive(Debug, PartialEq, Eq)]
pub struct Expect {
    /// The window to count: the union of the reads that cover the part already read.
    pub asked: Window,
    /// The distinct entries those reads returned.
    pub entries: u64,
    /// The part already read and delivered: `[window.since, covered_until)`.
    pub old: Window,
}

impl Recent {
    /// What to count before reading `window`, when delivered reads cover its start; `None`
    /// when the whole window must be read.
    pub fn expect(&self, window: &Window) -> Option<Expect> {
        let c = self.covered_until?;
        if c <= window.since || c > window.until {
            return None;
        }
        let old = Window::new(window.since, c);
        // The reads that touch the old part, chained from its start to its end.
        let mut chain: Vec<&Read> = self
            .reads
            .iter()
            .filter(|r| r.asked.until > old.since && r.asked.since < old.until)
            .collect();
        chain.sort_by_key(|r| r.asked.since);
        let first = chain.first()?;
        if first.asked.since > old.since {
            return None;
        }
        let (since, mut until) = (first.asked.since, first.asked.until);
        for r in &chain[1..] {
            if r.asked.since > until {
                return None; // a gap: not read
            }
            until = until.max(r.asked.until);
        }
        if until < old.until {
            return None;
        }
        let ids: HashSet<&str> = chain
            .iter()
            .flat_map(|r| r.ids.iter().map(String::as_str))
            .collect();
        Some(Expect {
            asked: Window::new(since, until),
            entries: ids.len() as u64,
            old,
        })
    }

    /// Remembers a read: the window asked for and the ids returned. It counts once its
    /// events are delivered ([`Recent::delivered`]).
    pub fn note(&mut self, asked: Window, ids: Vec<String>) {
        self.unconfirmed.push(Read { asked, ids });
    }

    /// A new read begins: reads never delivered are forgotten.
    pub fn begin(&mut self) {
        self.unconfirmed.clear();
    }

    /// Forgets reads that end before `horizon`: no later read starts before it.
    pub fn forget_before(&mut self, horizon: Timestamp) {
        self.reads.retain(|r| r.asked.until >= horizon);
    }

    /// Everything before `until` has been delivered, the reads noted since the last delivery
    /// included.
    pub fn delivered(&mut self, until: Timestamp) {
        self.reads.extend(self.unconfirmed.drain(..));
        self.covered_until = Some(self.covered_until.map_or(until, |c| c.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_772_409_600 + s).unwrap()
    }

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn counts_the_union_of_chained_reads() {
        let mut r = Recent::default();
        let w = Window::new(at(10), at(40));
        assert_eq!(r.expect(&w), None, "nothing read yet");
        r.note(Window::new(at(4), at(21)), ids(&["a", "b", "c"]));
        r.note(Window::new(at(19), at(31)), ids(&["c", "d"]));
        assert_eq!(r.expect(&w), None, "nothing delivered yet");
        r.delivered(at(30));
        assert_eq!(
            r.expect(&w),
            Some(Expect {
                asked: Window::new(at(4), at(31)),
                entries: 4,
                old: Window::new(at(10), at(30)),
            })
        );
        // A window that starts where the delivered reads end has nothing to spare.
        assert_eq!(r.expect(&Window::new(at(30), at(40))), None);
        // A gap between reads means the old part was not all read: no count.
        let mut gap = Recent::default();
        gap.begin();
        gap.note(Window::new(at(4), at(15)), ids(&["a"]));
        gap.note(Window::new(at(17), at(31)), ids(&["b"]));
        gap.delivered(at(30));
        assert_eq!(gap.expect(&w), None);
        r.forget_before(at(22));
        assert_eq!(
            r.expect(&w),
            None,
            "the read covering the start is forgotten"
        );
    }

    #[test]
    fn a_read_whose_delivery_failed_proves_nothing() {
        let mut r = Recent::default();
        r.note(Window::new(at(0), at(20)), ids(&["a"]));
        r.delivered(at(20));
        // The next read found a late entry "b" in the old part, but no sink took it.
        r.begin();
        r.note(Window::new(at(10), at(30)), ids(&["a", "b"]));
        r.begin();
        let e = r
            .expect(&Window::new(at(10), at(40)))
            .expect("the delivered read covers");
        assert_eq!(
            e.entries, 1,
            "only the delivered read's entries: a count of 2 re-reads"
        );
    }
}
