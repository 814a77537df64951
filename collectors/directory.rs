//! The user directory a collector keeps beside its events: who a person is (name, e-mail,
//! time zone), read from the provider's user list and cached, written once for every provider.
//!
//! When to read it again is the same everywhere: at start, then at least hourly
//! ([`MAX_AGE`], so a changed time zone or name shows up), and sooner when an event names
//! someone it does not know (someone new), but at most every ten minutes ([`REFRESH`]), and
//! never within a minute of a failed read ([`RETRY`]), so an outage of the user list does not
//! double the requests of every poll. A failed read keeps the directory read before.
//! The provider reads the list its own way; this module only decides when and keeps the result.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

/// Least time between two reads prompted by someone unknown.
pub const REFRESH: Duration = Duration::from_secs(600);
/// The directory is read again at least this often.
pub const MAX_AGE: Duration = Duration::from_secs(3600);
/// Least time between a failed read and the next try.
pub const RETRY: Duration = Duration::from_secs(60);
/// Clock skew allowed between ptsd and the provider when asking whether a read was made after
/// an event (so that a name missing from it is really not a user).
const SKEW: SignedDuration = SignedDuration::from_secs(60);

/// A cached user directory, by a key of the provider's choosing (an id, a lowercased username).
#[derive(Debug)]
pub struct Directory<V> {
    entries: HashMap<String, V>,
    /// When the last successful read finished (monotonic).
    read: Option<Instant>,
    /// When the last successful read began (wall clock).
    read_began: Option<Timestamp>,
    /// When the last read failed.
    failed: Option<Instant>,
}

impl<V> Default for Directory<V> {
    fn default() -> Self {
        Directory {
            entries: HashMap::new(),
            read: None,
            read_began: None,
            failed: None,
        }
    }
}

impl<V> Directory<V> {
    /// What the directory says of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.entries.get(key)
    }

    /// Everything the directory holds.
    pub fn entries(&self) -> &HashMap<String, V> {
        &self.entries
    }

    /// Whether to read the directory now: never read, read more than [`MAX_AGE`] ago, or, when
    /// an event names someone it does not know (`unknown`), more than [`REFRESH`] ago; never
    /// within [`RETRY`] of a failure.
    pub fn due(&self, unknown: bool) -> bool {
        self.due_at(Instant::now(), unknown)
    }

    fn due_at(&self, now: Instant, unknown: bool) -> bool {
        if self
            .failed
            .is_some_and(|f| now.saturating_duration_since(f) < RETRY)
        {
            return false;
        }
        self.read.is_none_or(|r| {
            let age = now.saturating_duration_since(r);
            age >= MAX_AGE || (unknown && age >= REFRESH)
        })
    }

    /// Whether the directory was read after `at` (with room for clock skew): someone it lacks
    /// then was not a user at `at`.
    pub fn read_after(&self, at: Timestamp) -> bool {
        self.read_began.is_some_and(|r| at + SKEW < r)
    }

    /// Keeps the outcome of a read that began at `began`: the new directory, or on failure the
    /// old one (and the time of the failure).
    ///
    /// # Errors
    /// The read's own error, passed on.
    pub fn store<E>(
        &mut self,
        began: Timestamp,
        read: Result<HashMap<String, V>, E>,
    ) -> Result<(), E> {
        match read {
            Ok(entries) => {
                self.entries = entries;
                self.read = Some(Instant::now());
                self.read_began = Some(began);
                self.failed = None;
                Ok(())
            }
            Err(e) => {
                self.failed = Some(Instant::now());
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_the_directory_is_read() {
        let now = Instant::now();
        let mut d: Directory<()> = Directory::default();
        assert!(d.due_at(now, false), "never read");
        d.read = Some(now);
        assert!(
            !d.due_at(now + REFRESH, false),
            "fresh enough without a stranger"
        );
        assert!(d.due_at(now + REFRESH, true), "a stranger after REFRESH");
        assert!(!d.due_at(now + REFRESH - Duration::from_secs(1), true));
        assert!(d.due_at(now + MAX_AGE, false), "hourly");
        d.failed = Some(now + MAX_AGE);
        assert!(
            !d.due_at(now + MAX_AGE + RETRY / 2, true),
            "not again right after a failure"
        );
        assert!(d.due_at(now + MAX_AGE + RETRY, false));
    }

    #[test]
    fn a_failed_read_keeps_the_old_directory() {
        let mut d: Directory<u8> = Directory::default();
        let t: Timestamp = "2026-03-02T00:00:00Z".parse().unwrap();
        d.store::<()>(t, Ok(HashMap::from([("a".to_string(), 1)])))
            .unwrap();
        assert!(d.store(t, Err("down")).is_err());
        assert_eq!(d.get("a"), Some(&1));
        assert!(d.read_after(t - SignedDuration::from_secs(61)));
        assert!(!d.read_after(t));
    }
}
