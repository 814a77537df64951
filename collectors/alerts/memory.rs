//! What the Opsgenie collector remembers of each alert between windows, and when it reads an
//! alert's log again ([`Pace`]): the point of this file is to keep the request count low on a
//! burst and in a catch-up, while every row is still counted, each once.
//!
//! - **New rows only.** An alert's log is read from a settled cursor: after the last row older
//!   than the window that read it ([`AlertState::settle`]; no window to come can hold such a
//!   row, so a row that shows up late with an earlier key is still read). Every row read is kept
//!   ([`AlertState::rows`]) until it is older than any window still to come (the engine's
//!   windows only move forward), and a row read again is recognised by its key. Rows later than the window that read them
//!   are counted by the windows that hold them, from memory: in a catch-up and in
//!   `ptsd report`, whose one-hour chunks list a long-lived alert again and again, its log is
//!   read once per run, and again only when its `updatedAt` moves.
//! - **No chasing.** An alert that changed is read once it has been quiet for [`Pace::quiet`]
//!   (its `updatedAt` that far before the window's end), or at the latest [`Pace::chase_every`]
//!   after the change was first seen (the values, in user terms: docs/providers.md, "Few log
//!   reads"); both stay under half of `PTSD_LATENESS`, so the rows it
//!   brings still fall in a window that is read (their counts arrive a little later, each once,
//!   the engine dropping what overlapping windows repeat). With `--once` there is no later
//!   window, so nothing waits.
//! - **Re-notification safety net within the budget.** An open, unacknowledged alert created
//!   within [`super::RENOTIFY_HORIZON`] may be notifying people without its `updatedAt`
//!   moving (UNCONFIRMED); its log is read again at most every [`Pace::renotify_every`], and at
//!   most [`Pace::renotify_per_poll`] such reads a window (a quarter of what the request budget
//!   allows per poll interval). The listing that finds such alerts is made at most every
//!   [`Pace::renotify_every`] too.
//!
//! Times are window times (the window's end), not the wall clock, so a catch-up and a test that
//! collects windows back to back pace themselves as a live poll would.

use jiff::{SignedDuration, Timestamp};

use super::events::AlertSeen;
use super::model::{Alert, LogRow};
use super::rules::Activity;

/// How often logs are read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    /// A changed alert is read once unchanged this long.
    pub(crate) quiet: SignedDuration,
    /// … or this long after its change was first seen, quiet or not.
    pub(crate) chase_every: SignedDuration,
    /// An unchanged alert that may be re-notifying is read again at most this often.
    pub(crate) renotify_every: SignedDuration,
    /// Most re-notification reads in one window.
    pub(crate) renotify_per_poll: usize,
    /// `PTSD_LATENESS`: the next window starts this long before the end of this one, so a
    /// read may wait only while every row it would bring is that recent.
    pub(crate) lateness: SignedDuration,
}

impl Pace {
    /// The pace for `lateness` (a deferred row must still fall in a later window), the request
    /// budget `per_minute` (0: none) and poll `interval`; `once`: no later poll, nothing waits.
    pub(crate) fn new(
        lateness: std::time::Duration,
        per_minute: u32,
        interval: std::time::Duration,
        once: bool,
    ) -> Pace {
        let lateness = SignedDuration::try_from(lateness).unwrap_or(SignedDuration::MAX);
        let (quiet, chase_every) = if once {
            (SignedDuration::ZERO, SignedDuration::ZERO)
        } else {
            (
                SignedDuration::from_secs(30).min(lateness / 4),
                SignedDuration::from_secs(60).min(lateness / 2),
            )
        };
        let renotify_per_poll = if per_minute == 0 {
            super::RENOTIFY_MAX as usize
        } else {
            let per_poll = f64::from(per_minute) * interval.as_secs_f64() / 60.0;
            ((per_poll / 4.0) as usize).clamp(1, super::RENOTIFY_MAX as usize)
        };
        Pace {
            quiet,
            chase_every,
            renotify_every: SignedDuration::from_secs(120),
            renotify_per_poll,
            lateness,
        }
    }
}

/// One log row read, with its time and what the rules made of it.
#[derive(Debug, Clone)]
pub(crate) struct KeptRow {
    pub(crate) at: Timestamp,
    pub(crate) row: LogRow,
    pub(crate) activity: Option<Activity>,
}

/// What the collector knows of one alert.
#[derive(Debug)]
pub(crate) struct AlertState {
    /// The alert as last listed.
    pub(crate) alert: Alert,
    pub(crate) created: Timestamp,
    pub(crate) updated: Timestamp,
    /// The alert's `updatedAt` when its log was last read; `None` before the first read.
    pub(crate) read_updated_at: Option<String>,
    /// The end of the window whose collect last read its log.
    pub(crate) read_at: Option<Timestamp>,
    /// The end of the window that first saw the change not yet read.
    pub(crate) change_seen: Option<Timestamp>,
    /// Where the next read of the log starts: the key of the last row older than the window
    /// that read it ([`AlertState::settle`]); `None`: from the start.
    pub(crate) offset: Option<String>,
    /// Rows read and not yet older than every window to come, oldest first.
    pub(crate) rows: Vec<KeptRow>,
    /// What the rows read so far established (for the report's safety net).
    pub(crate) seen: AlertSeen,
}

/// Why a log is read now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadNow {
    /// Not now.
    No,
    /// It changed since its log was last read (or was never read), and may be read now.
    Changed,
    /// It is unchanged but may be re-notifying people, and is due a look.
    Renotify,
}

impl AlertState {
    /// A state for an alert first listed, its log never read.
    pub(crate) fn new(alert: Alert, created: Timestamp, updated: Timestamp) -> AlertState {
        AlertState {
            alert,
            created,
            updated,
            read_updated_at: None,
            read_at: None,
            change_seen: None,
            offset: None,
            rows: Vec::new(),
            seen: AlertSeen::default(),
        }
    }

    /// Whether to read the log in the window ending `until`, read while the clock says `now`
    /// (see the module doc).
    pub(crate) fn read_now(&mut self, until: Timestamp, now: Timestamp, pace: &Pace) -> ReadNow {
        let changed = self.read_updated_at.as_deref() != Some(self.alert.updated_at.as_str());
        if changed {
            let seen = *self.change_seen.get_or_insert(until);
            let quiet = self.updated + pace.quiet <= until;
            // Waiting is safe only while every row not yet read (all after the last read, or
            // after the alert's creation) still falls in the windows to come: the next starts
            // `lateness` before this one ends, or later: in a catch-up, where this window ends
            // long before `now`, the next starts where this one ends (what was read
            // `lateness` after it happened is not read again), so it starts no earlier than
            // `lateness` before the later of the two. The wait lasts up to `chase_every`. An
            // alert first met in a long window (a catch-up, the first poll after a restart or
            // a sink's outage) has older rows: read it now, or they fall behind every window
            // to come (found by the simulation, issue 19; and with `PTSD_MAX_WINDOW` shorter
            // than the lateness, a catch-up of many windows).
            let unread_from = self.read_at.unwrap_or(self.created);
            let next_since = until.max(now) - pace.lateness;
            let may_wait = unread_from >= next_since + pace.chase_every;
            return if quiet || !may_wait || seen + pace.chase_every <= until {
                ReadNow::Changed
            } else {
                ReadNow::No
            };
        }
        let renotify = !self.alert.is_closed()
            && self.alert.acknowledged != Some(true)
            && self.created >= until - super::RENOTIFY_HORIZON;
        if renotify
            && self
                .read_at
                .is_none_or(|r| r + pace.renotify_every <= until)
        {
            ReadNow::Renotify
        } else {
            ReadNow::No
        }
    }

    /// Moves [`AlertState::offset`] after a read of the window starting `since` that returned
    /// `read` (each row's time and key, in the order served): to the last row older than `since`
    /// when the rows came oldest first (no window to come can hold those, so a row that shows up
    /// late, keyed before rows already read, is still read next time); to the start when they
    /// did not (the whole log is read again, the rows kept already dropped by key).
    pub(crate) fn settle<'r>(
        &mut self,
        read: impl Iterator<Item = (Timestamp, &'r str)> + Clone,
        since: Timestamp,
    ) {
        let mut prev: Option<Timestamp> = None;
        let ascending = read.clone().all(|(at, _)| {
            let ok = prev.is_none_or(|p| p <= at);
            prev = Some(at);
            ok
        });
        if !ascending {
            self.offset = None;
            return;
        }
        if let Some((_, key)) = read.filter(|(at, _)| *at < since).last() {
            self.offset = Some(key.to_string());
        }
    }

    /// The keys of the rows kept, to recognise a row read again from a settled cursor.
    pub(crate) fn kept_keys(&self) -> std::collections::HashSet<String> {
        self.rows.iter().map(|r| r.row.offset.clone()).collect()
    }

    /// Keeps `rows` (read from [`AlertState::offset`], not kept before) as read in the window
    /// ending `until`.
    pub(crate) fn keep(&mut self, rows: Vec<KeptRow>, until: Timestamp) {
        self.rows.extend(rows);
        self.rows.sort_by_key(|r| r.at);
        self.read_updated_at = Some(self.alert.updated_at.clone());
        self.read_at = Some(until);
        self.change_seen = None;
    }

    /// Forgets rows older than `since` (no window to come holds them); `false` when the whole
    /// alert can be forgotten: unchanged since before `since`, nothing kept, nothing that may
    /// still re-notify, its log read (a change brings it back, read afresh).
    pub(crate) fn prune(&mut self, since: Timestamp) -> bool {
        self.rows.retain(|r| r.at >= since);
        let may_renotify = !self.alert.is_closed()
            && self.alert.acknowledged != Some(true)
            && self.created >= since - super::RENOTIFY_HORIZON;
        !(self.updated < since
            && self.rows.is_empty()
            && !may_renotify
            && self.read_updated_at.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        "2026-03-02T03:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_secs(secs)
    }

    fn state(created: i64, updated: i64, acknowledged: bool) -> AlertState {
        let alert: Alert = serde_json::from_value(serde_json::json!({
            "id": "a", "createdAt": t(created).to_string(), "updatedAt": t(updated).to_string(),
            "status": "open", "acknowledged": acknowledged,
        }))
        .unwrap();
        AlertState::new(alert, t(created), t(updated))
    }

    fn relist(s: &mut AlertState, updated: i64) {
        s.alert.updated_at = t(updated).to_string();
        s.updated = t(updated);
    }

    #[test]
    fn a_changing_alert_is_read_once_quiet_or_once_a_minute() {
        let pace = Pace::new(
            std::time::Duration::from_secs(300),
            120,
            std::time::Duration::from_secs(2),
            false,
        );
        assert_eq!(
            (
                pace.quiet.as_secs(),
                pace.chase_every.as_secs(),
                pace.renotify_per_poll
            ),
            (30, 60, 1)
        );
        let mut s = state(0, 1, true);
        // Changing every 2 s: not read until it is quiet for 30 s …
        for now in [2, 4, 6] {
            relist(&mut s, now - 1);
            assert_eq!(s.read_now(t(now), t(now), &pace), ReadNow::No, "at {now}");
        }
        assert_eq!(s.read_now(t(34), t(34), &pace), ReadNow::No);
        assert_eq!(s.read_now(t(35), t(35), &pace), ReadNow::Changed);
        s.keep(Vec::new(), t(35));
        assert_eq!(
            s.read_now(t(37), t(37), &pace),
            ReadNow::No,
            "unchanged, acknowledged"
        );
        // … or a minute after a change was first seen, quiet or not.
        for now in (40..100).step_by(2) {
            relist(&mut s, now - 1);
            assert_eq!(s.read_now(t(now), t(now), &pace), ReadNow::No, "at {now}");
        }
        relist(&mut s, 99);
        assert_eq!(s.read_now(t(100), t(100), &pace), ReadNow::Changed);
    }

    /// In a catch-up the window ends long before the clock's present, and the next window
    /// starts where this one ends (what was read `lateness` after it happened is not read
    /// again): a changing alert's log must be read now, not left for windows that will not
    /// hold its rows (found by the simulation with `PTSD_MAX_WINDOW` below the lateness).
    #[test]
    fn a_changing_alert_in_a_catch_up_window_is_read_at_once() {
        let pace = Pace::new(
            std::time::Duration::from_secs(120),
            120,
            std::time::Duration::from_secs(60),
            false,
        );
        // Created at 50, changing (not quiet) at the end of the window [0, 72] ...
        let mut live = state(50, 70, false);
        // ... read live (the clock at the window's end): it may wait, its rows stay in view.
        assert_eq!(live.read_now(t(72), t(72), &pace), ReadNow::No);
        // ... read in a catch-up, the clock ten minutes later: read now.
        let mut catching_up = state(50, 70, false);
        assert_eq!(catching_up.read_now(t(72), t(672), &pace), ReadNow::Changed);
    }

    #[test]
    fn the_next_read_starts_after_the_last_row_older_than_the_window() {
        let mut s = state(0, 100, true);
        let read = [(t(10), "k10"), (t(50), "k50"), (t(90), "k90")];
        s.settle(read.iter().copied(), t(60));
        assert_eq!(s.offset.as_deref(), Some("k50"));
        // Nothing older than the window in this read: the cursor stays.
        s.settle([(t(95), "k95")].iter().copied(), t(60));
        assert_eq!(s.offset.as_deref(), Some("k50"));
        // Rows not oldest first: read from the start next time.
        s.settle([(t(90), "k90"), (t(10), "k10")].iter().copied(), t(60));
        assert_eq!(s.offset, None);
    }

    #[test]
    fn an_unacknowledged_alert_is_looked_at_every_two_minutes() {
        let pace = Pace::new(
            std::time::Duration::from_secs(300),
            0,
            std::time::Duration::from_secs(2),
            false,
        );
        assert_eq!(pace.renotify_per_poll, 50, "no budget: the listing's 50");
        let mut s = state(0, 0, false);
        assert_eq!(
            s.read_now(t(30), t(30), &pace),
            ReadNow::Changed,
            "never read"
        );
        s.keep(Vec::new(), t(30));
        assert_eq!(s.read_now(t(149), t(149), &pace), ReadNow::No);
        assert_eq!(s.read_now(t(150), t(150), &pace), ReadNow::Renotify);
        // --once: nothing waits.
        let once = Pace::new(
            std::time::Duration::from_secs(300),
            120,
            std::time::Duration::from_secs(60),
            true,
        );
        let mut s = state(0, 100, true);
        assert_eq!(s.read_now(t(100), t(100), &once), ReadNow::Changed);
    }
}
