//! Delivering a part: every outputter gets each record exactly once, and the state that says
//! so is saved, all off the async runtime.
//!
//! The [`Desk`] holds what delivery touches (the outputters, the state, where it is saved) and
//! lends itself to a blocking thread for each step ([`off_runtime`]), so a hung resolver
//! (`STATSD_HOST`), the wait for an ICMP answer or an fsync never holds the runtime or a
//! shutdown. A step runs to its end once started (the write and the save that covers it are
//! one step); a shutdown meanwhile abandons it, and the next start reads again what was not
//! saved.
//!
//! **Nothing sent that cannot be recorded.** Before a part goes to any outputter, the state as
//! it will be once the part is delivered is saved, marked pending ([`crate::state`]'s
//! write-ahead). When that save fails (a full disk, a read-only remount) nothing is sent, the
//! poll fails naming the directory and the cause, and `ptsd health` turns unhealthy; the
//! daemon runs on and tries again every poll, so restarts under a full disk never send a
//! count twice. After the send the state is saved again without the mark.
//!
//! **Several outputters, each exactly once.** A part is written to every outputter. When all
//! take it, its records join `seen`, the analysis memory is kept and the cursor moves. When
//! some fail, nothing moves, but the records the others took are remembered per record
//! (`partial`: record id → outputters that have it, and the findings they got) and saved with
//! their totals; the next read of the same ground analyses the records again from the same
//! memory, those some outputter took first and with the findings it got (so every outputter
//! gets the same numbers, even when a record that showed up since changes a finding, such as
//! the 60 s interruption rule's), and hands each outputter only the records it lacks.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};

use crate::aggregate::MetricBatch;
use crate::analysis::{Memory, BURST, OPEN_INCIDENT_MEMORY};
use crate::event::Window;
use crate::outputters::Sink;
use crate::state::{Partial, PendingPart, State, StateError};

/// What delivery touches, lent to a blocking thread step by step.
pub struct Desk {
    pub outputters: Vec<Sink>,
    pub state: State,
    /// `PTSD_STATE_DIR`, where the state is saved after every step.
    pub dir: Option<PathBuf>,
    /// The liveness file behind `ptsd health`.
    pub status: PathBuf,
    /// Removes this process's status file when the desk is dropped: after the last step that
    /// may write it, even a step still running on its thread when a shutdown ended the run
    /// (found by `tests/status_files.rs` on a loaded machine).
    pub _instance: crate::status::InstanceStatus,
}

/// Runs `f` with the desk on a blocking thread and puts the desk back. If this future is
/// dropped (shutdown) the step still runs to its end on its thread, and the desk is gone.
pub async fn off_runtime<T, F>(slot: &mut Option<Desk>, f: F) -> T
where
    F: FnOnce(&mut Desk) -> T + Send + 'static,
    T: Send + 'static,
{
    let mut desk = slot
        .take()
        .expect("the desk comes back after every step that finished");
    let step = tokio::task::spawn_blocking(move || {
        let out = f(&mut desk);
        (desk, out)
    });
    match step.await {
        Ok((desk, out)) => {
            *slot = Some(desk);
            out
        }
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down: nothing more will happen here.
        Err(_) => std::future::pending().await,
    }
}

/// The batches of one part: one for every outputter, or one each when some outputters
/// already have some of its records.
pub enum Batches {
    Shared(MetricBatch),
    Each(Vec<MetricBatch>),
}

impl Batches {
    fn for_outputter(&self, i: usize) -> &MetricBatch {
        match self {
            Batches::Shared(b) => b,
            Batches::Each(all) => &all[i],
        }
    }
}

/// A part read and analysed, ready to be delivered.
pub struct Part {
    pub collector: &'static str,
    pub window: Window,
    pub batches: Batches,
    /// The ids of the records in the batches, with their creation time.
    pub fresh: HashMap<String, Timestamp>,
    /// What the analysis found in each record's events, in their order (kept with the record
    /// when only some outputters take it).
    pub findings: HashMap<String, Vec<crate::analysis::Findings>>,
    /// The analysis memory after the part.
    pub memory: Memory,
    /// When the read that found the part began.
    pub read_started: Timestamp,
    pub lateness: SignedDuration,
}

/// Why a part was not delivered, or not recorded as delivered.
pub enum DeliverError {
    /// The write-ahead save failed (a full disk): nothing was sent, nothing moved.
    Unrecorded(StateError),
    /// Every outputter took the part, but the state saying so could not be saved: the cursor
    /// moved (to `cursor`) in memory; the file still holds the part as pending, so a restart
    /// before the next save reads it again.
    Uncommitted {
        cursor: Timestamp,
        error: StateError,
    },
    /// These outputters failed (the others have the records, remembered in `partial`).
    Output(String),
}

impl Desk {
    /// Which outputters already have record `id` (for a read of `collector`'s ground).
    pub fn delivered_to(&self, collector: &str, id: &str) -> Option<&BTreeSet<String>> {
        self.state.collectors[collector]
            .partial
            .get(id)
            .map(|p| &p.delivered_to)
    }

    /// Writes `part` to every outputter that lacks it and commits what was delivered, with a
    /// write-ahead save first: the state as it will be after the part, marked pending, is
    /// saved before anything is sent, so nothing is sent that the state cannot record.
    ///
    /// # Errors
    /// [`DeliverError::Unrecorded`] when the write-ahead save failed (nothing was sent);
    /// [`DeliverError::Output`] when an outputter failed (nothing moves, but what the others
    /// took is remembered); [`DeliverError::Uncommitted`] when the final save failed.
    pub fn deliver(&mut self, part: Part) -> Result<Timestamp, DeliverError> {
        let name = part.collector;
        let before = self.state.collectors[name].clone();
        let cursor = self.advance(&part);
        if self.dir.is_some() {
            self.state.pending = Some(PendingPart {
                collector: name.to_string(),
                window: part.window,
                before: Box::new(before.clone()),
            });
            if let Err(e) = self.save() {
                self.state.pending = None;
                self.state.collectors.insert(name.to_string(), before);
                crate::status::note_problem(format!("{e}; nothing is sent until it can be"));
                return Err(DeliverError::Unrecorded(e));
            }
            self.state.pending = None;
        }
        let mut failed = Vec::new();
        let mut took = Vec::new();
        for (i, o) in self.outputters.iter_mut().enumerate() {
            let batch = part.batches.for_outputter(i);
            if batch.is_empty() {
                continue;
            }
            match o.write(batch) {
                Ok(()) => took.push(i),
                Err(e) => failed.push(format!("output {}: {e}", o.name())),
            }
        }
        if !failed.is_empty() {
            // Nothing moves: back to the state before the part, with what the others took.
            self.state.collectors.insert(name.to_string(), before);
            let cs = self
                .state
                .collectors
                .get_mut(name)
                .expect("state entry exists");
            let names: Vec<String> = took
                .iter()
                .map(|&i| self.outputters[i].name().to_string())
                .collect();
            let mut findings = part.findings;
            for (id, at) in part.fresh {
                if names.is_empty() {
                    break;
                }
                let found = findings.remove(&id).unwrap_or_default();
                let p = cs.partial.entry(id).or_insert_with(|| Partial {
                    at,
                    delivered_to: BTreeSet::new(),
                    findings: found,
                });
                p.delivered_to.extend(names.iter().cloned());
            }
            self.commit(&took, name, part.lateness);
            if let Err(e) = self.save() {
                crate::status::note_problem(e.to_string());
                failed.push(e.to_string());
            }
            return Err(DeliverError::Output(failed.join("; ")));
        }
        self.commit(&took, name, part.lateness);
        if let Err(error) = self.save() {
            crate::status::note_problem(error.to_string());
            return Err(DeliverError::Uncommitted { cursor, error });
        }
        crate::status::record_progress(&self.status);
        Ok(cursor)
    }

    /// Commits the part the outputters `took` were written, once `collector`'s state says what
    /// it covers: slot totals may be forgotten only below what no later read of the collector
    /// can reach ([`crate::state::CollectorState::remembered_from`]), whether the cursor moved or
    /// not.
    fn commit(&mut self, took: &[usize], collector: &str, lateness: SignedDuration) {
        let final_before = self.state.collectors[collector].remembered_from(lateness);
        for &i in took {
            crate::engine::commit(&mut self.outputters[i], &mut self.state, final_before);
        }
    }

    /// Moves `part`'s collector as if every outputter took the part: its records join
    /// `seen`, the analysis memory is kept and the cursor moves. Returns the cursor.
    fn advance(&mut self, part: &Part) -> Timestamp {
        let cs = self
            .state
            .collectors
            .get_mut(part.collector)
            .expect("state entry exists");
        for id in part.fresh.keys() {
            cs.partial.remove(id);
        }
        cs.seen
            .extend(part.fresh.iter().map(|(id, at)| (id.clone(), *at)));
        let cursor = cs.cursor.max(part.window.until);
        cs.cursor = cursor;
        cs.memory = part.memory.clone();
        cs.memory.prune(
            cs.remembered_from(part.lateness) - BURST,
            cursor - OPEN_INCIDENT_MEMORY,
        );
        let settled = part
            .window
            .until
            .min(part.read_started - part.lateness)
            .min(cursor);
        cs.settled = Some(cs.settled.map_or(settled, |s| s.max(settled)));
        cs.prune(cs.remembered_from(part.lateness));
        cursor
    }

    /// Leaves `hole` out of every later read of `collector` and moves the cursor past it.
    ///
    /// # Errors
    /// The state cannot be saved.
    pub fn skip(
        &mut self,
        collector: &str,
        hole: Window,
        lateness: SignedDuration,
    ) -> Result<Timestamp, StateError> {
        let cs = self
            .state
            .collectors
            .get_mut(collector)
            .expect("state entry exists");
        cs.holes.push(hole);
        cs.cursor = cs.cursor.max(hole.until);
        let cursor = cs.cursor;
        cs.prune(cs.remembered_from(lateness));
        self.save()?;
        Ok(cursor)
    }

    /// Saves the state when there is a state directory.
    ///
    /// # Errors
    /// The state cannot be written.
    pub fn save(&mut self) -> Result<(), StateError> {
        match &self.dir {
            Some(dir) => self.state.save(dir),
            None => Ok(()),
        }
    }
}
