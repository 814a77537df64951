//! Malformed records, each warned about and counted in `entries_skipped` once.
//!
//! Every poll reads `PTSD_LATENESS` again (and an alert listing overlaps the one before), so a
//! malformed record stays in view for many polls. Without a memory its warning and its
//! `entries_skipped` count would repeat on every re-read, and the self-metric would say many
//! records were lost where one was (issue 22). Every collector keeps one [`SkippedOnce`] and
//! asks it before it warns.

use std::collections::HashSet;
use std::sync::Mutex;

/// Most keys remembered (forgotten all at once past it: a warning may then repeat once).
const KEPT: usize = 10_000;

/// The keys of the malformed records warned about already.
#[derive(Default)]
pub(crate) struct SkippedOnce {
    known: Mutex<HashSet<String>>,
}

impl SkippedOnce {
    /// Whether the malformed record `key` is met for the first time: warn about it and count it
    /// then, not again. A record with nothing to know it by (`None`) is always new.
    pub(crate) fn first(&self, key: Option<String>) -> bool {
        let Some(key) = key else { return true };
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= KEPT {
            known.clear();
        }
        known.insert(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_new_once_and_a_keyless_record_every_time() {
        let s = SkippedOnce::default();
        assert!(s.first(Some("a".into())));
        assert!(!s.first(Some("a".into())));
        assert!(s.first(Some("b".into())));
        assert!(s.first(None));
        assert!(s.first(None));
    }

    #[test]
    fn past_the_limit_the_memory_starts_again() {
        let s = SkippedOnce::default();
        for i in 0..KEPT {
            assert!(s.first(Some(i.to_string())));
        }
        assert!(s.first(Some("one more".into())));
        assert!(s.first(Some("0".into())), "forgotten at the limit");
    }
}
