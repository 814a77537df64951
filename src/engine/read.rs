//! Reading a chunk: which parts of a read window the engine asks a collector for, in what
//! order, and what it may leave out.
//!
//! A [`Reader`] hands out the parts of one read window one at a time, oldest first, so the
//! engine can deliver each part (and move the cursor) before the next is read:
//! - **Too large**: a part the provider cannot page through ([`CollectError::WindowTooLarge`])
//!   is split into as many parts as its announced total needs, and those are read in turn.
//! - **Holes**: seconds skipped as poison before (kept in the state until they fall out of the
//!   lateness window) are left out of every later read.
//! - **Narrowing a poison part**: when a chunk has failed the same persistent way
//!   ([`CollectError::is_persistent`]: a page that stays malformed, a 4xx) poll after poll, the
//!   engine reads it with `narrow` on. A failing part is then halved until it is at most
//!   [`NARROWEST`] long; such a part is skipped ([`Step::Skip`]) only once some other part of the
//!   same read succeeded (the fault is local, not the whole provider), and at most
//!   [`MAX_SKIPS`] times per read. A fault that is everywhere, and bad weather (5xx, 429,
//!   timeouts, an agent away), never skip anything: the read fails and is tried again.

use crate::collectors::{CollectError, Collected, Collector};
use crate::event::Window;
use jiff::SignedDuration;

/// Largest number of records one query is trusted to page through when deciding how many
/// parts to split a window into (below PagerDuty's 10,000, leaving room for late arrivals).
const SPLIT_TARGET: u64 = 8_000;
/// The shortest part narrowing goes down to: the part that is skipped.
pub const NARROWEST: SignedDuration = SignedDuration::from_secs(1);
/// Most parts one read may skip; more means the fault is not one poison part.
pub const MAX_SKIPS: usize = 10;

/// What a read yields next.
#[derive(Debug)]
pub enum Step {
    /// A part that was read, with its events.
    Part(Window, Collected),
    /// A part that keeps failing and is left out, with the error it failed with.
    Skip(Window, String),
}

/// The parts of one read window, oldest first.
pub struct Reader {
    /// Parts still to read, the oldest last.
    pending: Vec<Window>,
    narrow: bool,
    /// Narrowest failing parts waiting for proof that the fault is local.
    deferred: Vec<(Window, CollectError)>,
    succeeded: bool,
    skips: usize,
    ready: std::collections::VecDeque<Step>,
}

impl Reader {
    /// Reads `window` without the `holes` in it; `narrow` narrows a persistent failure down
    /// and skips it.
    pub fn new(window: Window, holes: &[Window], narrow: bool) -> Reader {
        let mut parts = vec![window];
        for hole in holes {
            parts = parts.into_iter().flat_map(|p| without(p, *hole)).collect();
        }
        parts.reverse();
        Reader {
            pending: parts,
            narrow,
            deferred: Vec::new(),
            succeeded: false,
            skips: 0,
            ready: std::collections::VecDeque::new(),
        }
    }

    /// The next step, `Ok(None)` when the window has been read.
    ///
    /// # Errors
    /// The collector's error when the read cannot go on (the parts already handed out stand).
    pub async fn next(
        &mut self,
        collector: &mut dyn Collector,
    ) -> Result<Option<Step>, CollectError> {
        loop {
            if let Some(step) = self.ready.pop_front() {
                return Ok(Some(step));
            }
            let Some(w) = self.pending.pop() else {
                return match self.deferred.pop() {
                    // Every narrowest part failed and nothing else was read: not local.
                    Some((_, e)) => Err(e),
                    None => Ok(None),
                };
            };
            match collector.collect(w).await {
                Ok(part) => {
                    self.succeeded = true;
                    for (d, e) in std::mem::take(&mut self.deferred) {
                        self.skip(d, e)?;
                    }
                    self.ready.push_back(Step::Part(w, part));
                }
                Err(CollectError::WindowTooLarge { provider, total }) => {
                    let parts = total.map_or(2, |t| t.div_ceil(SPLIT_TARGET).max(2));
                    let pieces =
                        split(w, parts).ok_or(CollectError::WindowTooLarge { provider, total })?;
                    tracing::debug!(provider, parts = pieces.len(), "Window too large; split.");
                    self.pending.extend(pieces.into_iter().rev());
                }
                Err(e) if self.narrow && e.is_persistent() => match w.halves() {
                    Some((older, newer)) if w.length() > NARROWEST => {
                        self.pending.push(newer);
                        self.pending.push(older);
                    }
                    _ if self.succeeded => self.skip(w, e)?,
                    _ => {
                        self.deferred.push((w, e));
                        if self.deferred.len() > MAX_SKIPS {
                            return Err(self.deferred.pop().expect("just pushed").1);
                        }
                    }
                },
                Err(e) => return Err(e),
            }
        }
    }

    fn skip(&mut self, w: Window, e: CollectError) -> Result<(), CollectError> {
        self.skips += 1;
        if self.skips > MAX_SKIPS {
            return Err(e);
        }
        self.ready.push_back(Step::Skip(w, e.to_string()));
        Ok(())
    }
}

/// `part` without `hole`: zero, one or two windows, oldest first.
fn without(part: Window, hole: Window) -> Vec<Window> {
    if hole.until <= part.since || hole.since >= part.until {
        return vec![part];
    }
    [
        Window::new(part.since, hole.since),
        Window::new(hole.until, part.until),
    ]
    .into_iter()
    .filter(|w| w.since < w.until)
    .collect()
}

/// Cuts `w` into `parts` consecutive windows (fewer if it is too short), or `None` when it
/// cannot be cut at all.
fn split(w: Window, parts: u64) -> Option<Vec<Window>> {
    let len_ms = w.length().as_millis();
    let parts = (parts as i128).min(len_ms).max(0);
    if parts < 2 {
        return None;
    }
    let mut out = Vec::with_capacity(parts as usize);
    let mut since = w.since;
    for i in 1..=parts {
        let until = if i == parts {
            w.until
        } else {
            w.since + SignedDuration::from_millis((len_ms * i / parts) as i64)
        };
        out.push(Window::new(since, until));
        since = until;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::RequestStats;
    use async_trait::async_trait;
    use jiff::Timestamp;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_772_409_600 + s).unwrap()
    }

    /// A collector that fails persistently for any window touching `poison` (seconds), or
    /// everywhere with `everywhere`, and counts the reads.
    struct Poisoned {
        poison: Vec<i64>,
        everywhere: bool,
        reads: usize,
    }

    #[async_trait]
    impl Collector for Poisoned {
        fn name(&self) -> &'static str {
            "test"
        }
        async fn check(&mut self) -> Result<(), CollectError> {
            Ok(())
        }
        async fn collect(&mut self, w: Window) -> Result<Collected, CollectError> {
            self.reads += 1;
            let bad = self.everywhere || self.poison.iter().any(|p| w.contains(at(*p)));
            if bad {
                return Err(CollectError::Malformed {
                    provider: "test",
                    what: "bad".into(),
                });
            }
            Ok(Collected::default())
        }
        fn take_stats(&mut self) -> RequestStats {
            RequestStats::default()
        }
    }

    async fn steps(
        c: &mut Poisoned,
        w: Window,
        holes: &[Window],
        narrow: bool,
    ) -> (Vec<(Window, bool)>, Option<CollectError>) {
        let mut reader = Reader::new(w, holes, narrow);
        let mut out = Vec::new();
        loop {
            match reader.next(c).await {
                Ok(Some(Step::Part(w, _))) => out.push((w, true)),
                Ok(Some(Step::Skip(w, _))) => out.push((w, false)),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[tokio::test]
    async fn narrowing_skips_only_the_poison_second_and_keeps_time_order() {
        let mut c = Poisoned {
            poison: vec![700],
            everywhere: false,
            reads: 0,
        };
        let w = Window::new(at(0), at(1800));
        // Without narrowing the read fails as a whole.
        let (got, err) = steps(&mut c, w, &[], false).await;
        assert!(got.is_empty() && err.is_some());
        let (got, err) = steps(&mut c, w, &[], true).await;
        assert!(err.is_none(), "{err:?}");
        let skipped: Vec<_> = got.iter().filter(|(_, ok)| !ok).map(|(w, _)| *w).collect();
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].contains(at(700)) && skipped[0].length() <= NARROWEST);
        // The parts cover the window exactly, in order.
        assert_eq!(got.first().unwrap().0.since, w.since);
        assert_eq!(got.last().unwrap().0.until, w.until);
        for pair in got.windows(2) {
            assert_eq!(pair[0].0.until, pair[1].0.since);
        }
        assert!(c.reads < 40, "{} reads", c.reads);
    }

    #[tokio::test]
    async fn a_poison_first_second_is_skipped_once_a_later_part_reads() {
        let mut c = Poisoned {
            poison: vec![0],
            everywhere: false,
            reads: 0,
        };
        let (got, err) = steps(&mut c, Window::new(at(0), at(64)), &[], true).await;
        assert!(err.is_none());
        assert!(!got[0].1 && got[0].0.since == at(0));
        assert!(got[1..].iter().all(|(_, ok)| *ok));
    }

    #[tokio::test]
    async fn a_fault_everywhere_skips_nothing() {
        let mut c = Poisoned {
            poison: vec![],
            everywhere: true,
            reads: 0,
        };
        let (got, err) = steps(&mut c, Window::new(at(0), at(1800)), &[], true).await;
        assert!(got.is_empty(), "{got:?}");
        assert!(err.is_some());
        assert!(c.reads < 40, "{} reads", c.reads);
    }

    #[tokio::test]
    async fn holes_are_left_out() {
        let mut c = Poisoned {
            poison: vec![10],
            everywhere: false,
            reads: 0,
        };
        let hole = Window::new(at(10), at(11));
        let (got, err) = steps(&mut c, Window::new(at(0), at(60)), &[hole], false).await;
        assert!(err.is_none());
        let parts: Vec<Window> = got.iter().map(|(w, _)| *w).collect();
        assert_eq!(
            parts,
            [Window::new(at(0), at(10)), Window::new(at(11), at(60))]
        );
    }

    #[test]
    fn split_is_exact() {
        let a = at(0);
        let w = Window::new(a, a + SignedDuration::from_secs(10));
        let parts = split(w, 3).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].since, w.since);
        assert_eq!(parts[2].until, w.until);
        for p in parts.windows(2) {
            assert_eq!(p[0].until, p[1].since);
        }
        assert!(split(Window::new(a, a + SignedDuration::from_millis(1)), 2).is_none());
    }
}
