//! What the engine remembers between polls and across restarts: per collector, the cursor and
//! the ids counted recently.
//!
//! - `cursor`: every record created before `cursor` has been read at least once.
//! - `floor`: nothing before it is ever read (first start minus `PTSD_BACKFILL`).
//! - `settled`: every record created before it was read at a moment at least `PTSD_LATENESS`
//!   after its creation, so it was visible then and need not be read again (a catch-up over
//!   old history re-reads nothing; a live poll re-reads its last `PTSD_LATENESS`).
//! - `seen`: ids counted with their creation time, kept while they may still be re-read, so a
//!   late re-read never counts them twice: twice `PTSD_LATENESS` before the cursor (a read
//!   starts at most one lateness before it; the second is for a clock that steps back, see
//!   [`CollectorState::rewind_to_clock`]).
//! - `memory`: what the on-call analysis needs from earlier polls ([`crate::analysis::Memory`]).
//! - `partial`: records some outputters took while another failed, with the outputters that
//!   have them, so the next read hands each outputter only what it lacks.
//! - `holes`: parts of the timeline skipped as poison (a part that failed the same persistent
//!   way poll after poll), left out of later reads while they are in the lateness window.
//!
//! Beside the collectors, each outputter that keeps totals (Graphite) saves them here, so the
//! totals and the cursors that cover them are written in one atomic step.
//!
//! With `PTSD_STATE_DIR` the state is saved as `state.json`: written to a temp file, fsynced,
//! renamed over the old file, and the directory fsynced, so a crash leaves either the old or
//! the new state, never half of one. A state file that cannot be read or parsed is an error,
//! never a silent reset.
//!
//! **Write-ahead.** A part is saved twice: before it goes to any outputter, as the state will
//! be once it is delivered, marked `pending` (with the collector's state before it); then, once
//! every outputter took it, without the mark. So nothing is ever sent that the state could
//! not record: when the first save fails (a full disk), nothing is sent. A state loaded with
//! a `pending` part is one whose send may or may not have happened (a crash, a kill, or a disk
//! that filled between the two saves): its part is taken as *not* delivered and read again,
//! which is the one poll in flight that may be counted twice after a crash, never more.
//!
//! One process owns a state directory at a time ([`claim`]): an exclusive lock on
//! `owner.lock`, which the operating system releases when the owner exits, however it exits.
//! A second ptsd on the same directory (a rolling update, a replica on a shared volume) waits
//! as a standby and resumes from the saved state when the owner is gone, so the two never count
//! the same events.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

const FILE: &str = "state.json";
/// The file whose exclusive lock makes one process the owner of a state directory.
const LOCK: &str = "owner.lock";
const VERSION: u32 = 1;
/// How far a saved cursor may be ahead of the clock before it is taken for a clock that
/// stepped back.
pub const CLOCK_TOLERANCE: jiff::SignedDuration = jiff::SignedDuration::from_secs(5);

/// One collector's memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectorState {
    pub cursor: Timestamp,
    pub floor: Timestamp,
    /// Never after `cursor`; unknown in a state file from an older ptsd.
    #[serde(default)]
    pub settled: Option<Timestamp>,
    #[serde(default)]
    pub seen: HashMap<String, Timestamp>,
    /// What the on-call analysis remembers (recent pages, open incidents, categories).
    #[serde(default)]
    pub memory: crate::analysis::Memory,
    /// Records delivered to some outputters only, by id.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub partial: HashMap<String, Partial>,
    /// Parts skipped as poison that a read could still cover.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holes: Vec<crate::event::Window>,
}

/// A part saved before it was sent: the collector it belongs to, its window, and the
/// collector's state before it (what a load goes back to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPart {
    pub collector: String,
    pub window: crate::event::Window,
    pub before: Box<CollectorState>,
}

/// A record some outputters have and others not yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partial {
    pub at: Timestamp,
    pub delivered_to: BTreeSet<String>,
    /// What the analysis found in the record's events (in their order) when those outputters
    /// took it: the others get the same findings, whatever a late record changes meanwhile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<crate::analysis::Findings>,
}

impl CollectorState {
    /// A fresh start at `cursor`.
    pub fn starting_at(cursor: Timestamp) -> Self {
        CollectorState {
            cursor,
            floor: cursor,
            settled: None,
            seen: HashMap::new(),
            memory: crate::analysis::Memory::default(),
            partial: HashMap::new(),
            holes: Vec::new(),
        }
    }

    /// When the cursor is more than [`CLOCK_TOLERANCE`] after `now` (the clock stepped back
    /// after a save: an NTP correction, a VM restored from a snapshot, a host with a slow
    /// clock), moves it back to read again from `now - lateness`, but never from
    /// before what is remembered ([`CollectorState::remembered_from`]): a record counted
    /// before that is forgotten and would count again. The floor and `settled` move with it.
    /// Returns the cursor it was at.
    ///
    /// So a step back of up to the lateness re-reads the clock's last lateness with every id
    /// in it remembered. A longer one reads on from the oldest id remembered (or from `now`),
    /// and what showed up while the clock was that far ahead (read before it existed) is lost;
    /// the engine's warning says so.
    pub fn rewind_to_clock(
        &mut self,
        now: Timestamp,
        lateness: jiff::SignedDuration,
    ) -> Option<Timestamp> {
        if self.cursor <= now + CLOCK_TOLERANCE {
            return None;
        }
        let was = self.cursor;
        let from = (now - lateness).max(self.remembered_from(lateness).min(now));
        self.cursor = from;
        self.floor = self.floor.min(from);
        self.settled = Some(from);
        Some(was)
    }

    /// How far back ptsd remembers what it counted from this collector (ids, the timestamped
    /// sinks' slot totals, records some outputters took): twice `lateness` before the cursor.
    /// A read starts at most one lateness before the cursor; the second lateness lets a clock
    /// that stepped back by up to the lateness read again without counting anything twice.
    ///
    /// It is also the horizon of the timestamped sinks' slot totals: no read after the last
    /// save holds a record created before this instant, so a slot that ends by then is final
    /// and its total may be forgotten. The cursor is the *saved* one: after a partial delivery
    /// (an outputter failed, the cursor stayed) the next read covers the same ground again, and
    /// a record that shows up late there must still find its slot's total.
    pub fn remembered_from(&self, lateness: jiff::SignedDuration) -> Timestamp {
        self.cursor - lateness * 2
    }

    /// Forgets ids (and holes) before `horizon`: they are never read again.
    pub fn prune(&mut self, horizon: Timestamp) {
        self.seen.retain(|_, at| *at >= horizon);
        self.partial.retain(|_, p| p.at >= horizon);
        self.holes.retain(|h| h.until > horizon);
    }
}

/// Every collector's memory, keyed by collector name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub collectors: BTreeMap<String, CollectorState>,
    /// What each outputter keeps across restarts (Graphite's open slot totals), by name,
    /// saved with the cursors so both always agree.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputters: BTreeMap<String, serde_json::Value>,
    /// The part saved but perhaps not sent (write-ahead), until its send is committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingPart>,
}

/// The state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "cannot read the state file {path}: {source}; check PTSD_STATE_DIR and its permissions"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the state file {path} is corrupt ({what}); restore it from a backup, or move it away to start counting afresh from now")]
    Corrupt { path: PathBuf, what: String },
    #[error("cannot write the state file in {dir}: {source}; check PTSD_STATE_DIR, its permissions and free space")]
    Write {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// Where the state lives.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

impl State {
    /// Loads the state from `dir`; `Ok(None)` when there is none yet.
    ///
    /// # Errors
    /// [`StateError::Read`] or [`StateError::Corrupt`].
    pub fn load(dir: &Path) -> Result<Option<State>, StateError> {
        let path = path(dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let state: State = serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            what: e.to_string(),
        })?;
        let mut state = state;
        if state.version != VERSION {
            return Err(StateError::Corrupt {
                path,
                what: format!("version {} is not {VERSION}", state.version),
            });
        }
        for (name, cs) in &state.collectors {
            if cs.floor > cs.cursor {
                return Err(StateError::Corrupt {
                    path,
                    what: format!(
                        "the {name} floor {} is after its cursor {}; nothing between them could ever be read",
                        cs.floor, cs.cursor
                    ),
                });
            }
        }
        if let Some(p) = state.pending.take() {
            tracing::warn!(
                provider = %p.collector,
                since = %p.window.since,
                until = %p.window.until,
                "The last run stopped between saving a part and committing its send; the part is read and sent again (it may be counted twice)."
            );
            state.collectors.insert(p.collector, *p.before);
        }
        Ok(Some(state))
    }

    /// Saves the state into `dir` atomically (temp file, fsync, rename, fsync of the directory).
    ///
    /// # Errors
    /// [`StateError::Write`].
    pub fn save(&mut self, dir: &Path) -> Result<(), StateError> {
        self.version = VERSION;
        let err = |source| StateError::Write {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let tmp = dir.join(format!("{FILE}.tmp"));
        let bytes = serde_json::to_vec(self).map_err(|e| err(std::io::Error::other(e)))?;
        let written = std::fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(&bytes)?;
            f.sync_all()
        });
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path(dir))) {
            // A half-written temp file would hold on to the space a full disk lacks.
            let _ = std::fs::remove_file(&tmp);
            return Err(err(e));
        }
        if let Ok(d) = std::fs::File::open(dir) {
            // Make the rename itself durable; not every platform supports fsync on a directory.
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Who may use a state directory: this process ([`Claim::Owned`], for as long as the
/// [`Owner`] lives) or another one ([`Claim::HeldBy`], with what it wrote of itself).
pub enum Claim {
    Owned(Owner),
    HeldBy(String),
}

/// The exclusive hold on a state directory; dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct Owner {
    _lock: std::fs::File,
}

/// Tries to become the owner of `dir` without waiting.
///
/// # Errors
/// [`StateError::Write`] when the lock file cannot be created or locked.
pub fn claim(dir: &Path) -> Result<Claim, StateError> {
    let err = |source| StateError::Write {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let path = dir.join(LOCK);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(err)?;
    match file.try_lock() {
        Ok(()) => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_default();
            // Who holds it, for the log of a waiting instance; best effort.
            let _ = file
                .set_len(0)
                .and_then(|()| write!(file, "pid {} on {}", std::process::id(), host.trim()));
            Ok(Claim::Owned(Owner { _lock: file }))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            Ok(Claim::HeldBy(holder.trim().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ptsd-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn one_owner_at_a_time() {
        let d = dir("owner");
        let Claim::Owned(first) = claim(&d).unwrap() else {
            panic!("a free directory is claimed");
        };
        match claim(&d).unwrap() {
            Claim::HeldBy(who) => assert!(who.contains(&std::process::id().to_string()), "{who}"),
            Claim::Owned(_) => panic!("two owners"),
        }
        drop(first);
        assert!(matches!(claim(&d).unwrap(), Claim::Owned(_)));
    }

    #[test]
    fn round_trip_and_missing() {
        let d = dir("rt");
        assert_eq!(State::load(&d).unwrap(), None);
        let t: Timestamp = "2026-03-02T03:14:07.5Z".parse().unwrap();
        let mut s = State::default();
        let mut c = CollectorState::starting_at(t);
        c.seen.insert("R1".into(), t);
        s.collectors.insert("pagerduty".into(), c);
        s.save(&d).unwrap();
        assert_eq!(State::load(&d).unwrap(), Some(s));
    }

    #[test]
    fn corrupt_is_an_error_not_a_reset() {
        let d = dir("corrupt");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(path(&d), b"{\"version\":1,\"collectors\":{\"pag").unwrap();
        let e = State::load(&d).unwrap_err().to_string();
        assert!(e.contains("corrupt"), "{e}");
    }

    #[test]
    fn a_pending_part_is_taken_as_not_delivered() {
        let d = dir("pending");
        let t: Timestamp = "2026-03-02T03:00:00Z".parse().unwrap();
        let minute = jiff::SignedDuration::from_secs(60);
        let before = CollectorState::starting_at(t);
        let mut after = before.clone();
        after.cursor = t + minute;
        after.seen.insert("R1".into(), t);
        let mut s = State::default();
        s.collectors.insert("pagerduty".into(), after);
        s.pending = Some(PendingPart {
            collector: "pagerduty".into(),
            window: crate::event::Window::new(t, t + minute),
            before: Box::new(before.clone()),
        });
        s.save(&d).unwrap();
        let loaded = State::load(&d).unwrap().unwrap();
        assert_eq!(loaded.collectors["pagerduty"], before);
        assert_eq!(loaded.pending, None);
    }

    #[test]
    fn a_floor_after_the_cursor_is_refused() {
        let d = dir("floor");
        let t: Timestamp = "2026-03-02T03:00:00Z".parse().unwrap();
        let mut c = CollectorState::starting_at(t);
        c.floor = t + jiff::SignedDuration::from_secs(1);
        let mut s = State::default();
        s.collectors.insert("pagerduty".into(), c);
        s.save(&d).unwrap();
        let e = State::load(&d).unwrap_err().to_string();
        assert!(e.contains("floor") && e.contains("after its cursor"), "{e}");
    }

    #[test]
    fn a_cursor_ahead_of_the_clock_moves_back_to_it() {
        let now: Timestamp = "2026-03-02T03:00:00Z".parse().unwrap();
        let lateness = jiff::SignedDuration::from_secs(300);
        let mut c = CollectorState::starting_at(now + CLOCK_TOLERANCE);
        assert_eq!(
            c.rewind_to_clock(now, lateness),
            None,
            "within the tolerance"
        );
        // Ahead by less than the lateness: read again from the clock less the lateness; every
        // id there is remembered (the cursor less twice the lateness).
        let ahead = now + jiff::SignedDuration::from_secs(100);
        let mut c = CollectorState::starting_at(ahead);
        c.settled = Some(ahead);
        c.seen.insert("R1".into(), now - lateness);
        assert_eq!(c.rewind_to_clock(now, lateness), Some(ahead));
        assert_eq!(c.cursor, now - lateness);
        assert_eq!(c.settled, Some(now - lateness));
        assert_eq!(c.floor, now - lateness);
        assert!(c.remembered_from(lateness) <= now - lateness);
        assert!(
            c.seen.contains_key("R1"),
            "the ids stay, so nothing counts twice"
        );
        // Ahead by between one and two latenesses: from the oldest id remembered, not before
        // (the simulation found ids before it counted twice).
        let ahead = now + jiff::SignedDuration::from_secs(500);
        let mut c = CollectorState::starting_at(ahead);
        assert_eq!(c.rewind_to_clock(now, lateness), Some(ahead));
        assert_eq!(c.settled, Some(ahead - lateness * 2));
        // Ahead by more: nothing before `now` is remembered; read on from it.
        let ahead = now + jiff::SignedDuration::from_secs(3600);
        let mut c = CollectorState::starting_at(ahead);
        c.settled = Some(ahead);
        assert_eq!(c.rewind_to_clock(now, lateness), Some(ahead));
        assert_eq!(c.cursor, now);
        assert_eq!(c.floor, now);
        assert_eq!(c.settled, Some(now));
    }

    #[test]
    fn prune_keeps_the_lateness_window() {
        let t: Timestamp = "2026-03-02T03:00:00Z".parse().unwrap();
        let mut c = CollectorState::starting_at(t);
        c.seen.insert("old".into(), t);
        c.seen
            .insert("new".into(), t + jiff::SignedDuration::from_secs(60));
        c.prune(t + jiff::SignedDuration::from_secs(30));
        assert_eq!(c.seen.keys().collect::<Vec<_>>(), ["new"]);
    }
}
