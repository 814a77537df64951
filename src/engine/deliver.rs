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
//! **Several outputters, each exactly once.** A part is written to every outputter. When all
//! take it, its records join `seen`, the analysis memory is kept and the cursor moves. When
//! some fail, nothing moves, but the records the others took are remembered per record
//! (`partial`: record id → outputters that have it) and saved with their totals; the next read
//! of the same ground analyses the records again from the same memory (so every outputter
//! gets the same numbers) and hands each outputter only the records it lacks.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};

use crate::aggregate::MetricBatch;
use crate::analysis::{Memory, BURST, OPEN_INCIDENT_MEMORY};
use crate::event::Window;
use crate::outputters::Sink;
use crate::state::{Partial, State, StateError};

/// What delivery touches, lent to a blocking thread step by step.
pub struct Desk {
    pub outputters: Vec<Sink>,
    pub state: State,
    /// `PTSD_STATE_DIR`, where the state is saved after every step.
    pub dir: Option<PathBuf>,
    /// The liveness file behind `ptsd health`.
    pub status: PathBuf,
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
    /// The analysis memory after the part.
    pub memory: Memory,
    /// When the read that found the part began.
    pub read_started: Timestamp,
    pub lateness: SignedDuration,
}

/// Why a part was not delivered.
pub enum DeliverError {
    State(StateError),
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

    /// Writes `part` to every outputter that lacks it and commits what was delivered.
    ///
    /// # Errors
    /// [`DeliverError::Output`] when an outputter failed (nothing moves, but what the others
    /// took is remembered); [`DeliverError::State`] when the state cannot be saved.
    pub fn deliver(&mut self, part: Part) -> Result<Timestamp, DeliverError> {
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
        let cs = self
            .state
            .collectors
            .get_mut(part.collector)
            .expect("state entry exists");
        if !failed.is_empty() {
            if !took.is_empty() {
                for (id, at) in part.fresh {
                    let p = cs.partial.entry(id).or_insert_with(|| Partial {
                        at,
                        delivered_to: BTreeSet::new(),
                    });
                    p.delivered_to
                        .extend(took.iter().map(|&i| self.outputters[i].name().to_string()));
                }
                self.commit(&took, part.collector, part.lateness);
                self.save().map_err(DeliverError::State)?;
            }
            return Err(DeliverError::Output(failed.join("; ")));
        }
        for id in part.fresh.keys() {
            cs.partial.remove(id);
        }
        cs.seen.extend(part.fresh);
        let cursor = cs.cursor.max(part.window.until);
        cs.memory = part.memory;
        cs.memory.prune(
            cursor - part.lateness - BURST,
            cursor - OPEN_INCIDENT_MEMORY,
        );
        cs.cursor = cursor;
        let settled = part
            .window
            .until
            .min(part.read_started - part.lateness)
            .min(cursor);
        cs.settled = Some(cs.settled.map_or(settled, |s| s.max(settled)));
        cs.prune(cursor - part.lateness);
        self.commit(&took, part.collector, part.lateness);
        self.save().map_err(DeliverError::State)?;
        crate::status::record_progress(&self.status);
        Ok(cursor)
    }

    /// Commits the part the outputters `took` were written, once `collector`'s state says what
    /// it covers: slot totals may be forgotten only below what no later read of the collector
    /// can reach ([`crate::state::CollectorState::final_before`]), whether the cursor moved or
    /// not.
    fn commit(&mut self, took: &[usize], collector: &str, lateness: SignedDuration) {
        let final_before = self.state.collectors[collector].final_before(lateness);
        for &i in took {
            crate::engine::commit(&mut self.outputters[i], &mut self.state, final_before);
        }
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
        cs.prune(cursor - lateness);
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
