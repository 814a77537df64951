//! Slot totals: how a sink that stores points at their own time (Graphite, timestamped
//! DogStatsD) writes every slot exactly.
//!
//! Both stores keep **one value per series and slot, the last one written** (whisper; Datadog's
//! intake). A sink that sent increments would have a late entry overwrite its slot's count with
//! its own 1, so such a sink always writes a slot's whole total: the [`SlotTable`] keeps the
//! committed totals of every slot that can still change, a batch's contributions join them, and
//! the sums are written. The sums become committed only when the engine commits the batch
//! ([`Slotted::commit`]), and the table is saved in the state file with the cursor that covers
//! it ([`Slotted::save`]): a batch sent again after a failure, or after a crash and a restart,
//! writes the same totals again. Slots that can no longer change (they end by the horizon the
//! engine gives at the commit) are written once and forgotten, so memory is bounded by
//! `PTSD_LATENESS`, not by the length of a backfill.
//!
//! A sink keeps slot totals by implementing [`SlotWriter`] (its names and wire format) and being
//! built as [`super::Sink::Slotted`]; the table, the commit and the state file are here, once.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::OutputError;
use crate::aggregate::MetricBatch;
use crate::config::ConfigError;
use crate::schema::Combine;

/// Reads a slot length option `var`: a whole number of seconds from 1 s to 1 d; `hint` says
/// what to set it to.
///
/// # Errors
/// A [`ConfigError`] naming `var`.
pub fn resolution(var: &str, raw: &str, hint: &str) -> Result<i64, ConfigError> {
    let d = crate::config::duration(var, raw)?;
    if d.as_secs() == 0 || d.subsec_nanos() != 0 || d.as_secs() > 86_400 {
        return Err(ConfigError(format!(
            "{var}={raw:?} is not a whole number of seconds from 1s to 1d; set it to {hint}"
        )));
    }
    Ok(d.as_secs() as i64)
}

/// One slot's value for one series key, and how a new contribution joins it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub value: i64,
    pub how: Combine,
}

impl Cell {
    fn join(&mut self, value: i64) {
        self.value = match self.how {
            Combine::Sum => self.value.saturating_add(value),
            Combine::Max => self.value.max(value),
            Combine::Last => value,
        };
    }
}

/// Values by slot start (Unix seconds) and series key (the sink's own name for a series).
pub type Cells = BTreeMap<i64, BTreeMap<String, Cell>>;

/// What one batch adds to its slots, collected by a [`SlotWriter`].
pub struct Contributions {
    resolution: i64,
    cells: Cells,
}

impl Contributions {
    /// The start of the slot holding Unix second `second`.
    pub fn slot(&self, second: i64) -> i64 {
        second - second.rem_euclid(self.resolution)
    }

    /// Adds `value` to series `key` in the slot of Unix second `second`, joined by `how`.
    pub fn add(&mut self, second: i64, key: String, value: i64, how: Combine) {
        let slot = self.slot(second);
        self.cells
            .entry(slot)
            .or_default()
            .entry(key)
            .or_insert(Cell {
                value: match how {
                    Combine::Sum => 0,
                    Combine::Max | Combine::Last => value,
                },
                how,
            })
            .join(value);
    }
}

/// A sink's side of slot totals: which series a batch adds to which slots, and the wire format.
pub trait SlotWriter: Send {
    /// The sink's name, as in `PTSD_OUTPUTS`.
    fn name(&self) -> &'static str;

    /// Adds what `batch` contributes to its slots, by this sink's series keys.
    fn contributions(&self, batch: &MetricBatch, into: &mut Contributions);

    /// Sends `totals` (whole slot totals, never increments) and whatever of `batch` the sink
    /// sends live, completely (flushed before returning).
    ///
    /// # Errors
    /// An [`OutputError`] when they could not be handed over.
    fn send(&mut self, totals: &Cells, batch: &MetricBatch) -> Result<(), OutputError>;

    /// Releases the sink at shutdown.
    ///
    /// # Errors
    /// An [`OutputError`] when the final flush fails.
    fn close(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

/// The committed totals, as saved in the state file: source → slot → key → cell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Totals {
    /// The resolution the slots were cut with; a change of resolution starts afresh.
    resolution: i64,
    slots: BTreeMap<String, Cells>,
}

/// The totals the last write sent, committed by [`SlotTable::commit`].
struct Pending {
    source: String,
    cells: Cells,
}

/// The committed totals of the slots that may still change, and what the last write sent.
pub struct SlotTable {
    committed: Totals,
    pending: Option<Pending>,
}

impl SlotTable {
    /// An empty table of slots `resolution` seconds long.
    pub fn new(resolution: i64) -> Self {
        SlotTable {
            // The totals carry their resolution from the start, so the first save already
            // says what a restart must check.
            committed: Totals {
                resolution,
                slots: BTreeMap::new(),
            },
            pending: None,
        }
    }

    /// The slot length in seconds.
    pub fn resolution(&self) -> i64 {
        self.committed.resolution
    }

    /// The totals `contributions` from `source` make with the committed ones: what to write.
    /// They are pending until [`SlotTable::commit`]; a stage replaces what an earlier stage
    /// left pending (it was not kept, so it must not count).
    fn stage(&mut self, source: &str, mut cells: Cells) -> &Cells {
        let committed = self.committed.slots.get(source);
        for (slot, keys) in &mut cells {
            let before = committed.and_then(|s| s.get(slot));
            for (key, cell) in keys.iter_mut() {
                if let Some(old) = before.and_then(|b| b.get(key)) {
                    let mut total = *old;
                    total.join(cell.value);
                    *cell = total;
                }
            }
        }
        let p = self.pending.insert(Pending {
            source: source.to_string(),
            cells,
        });
        &p.cells
    }

    /// Makes the pending totals committed and forgets the slots of their source that end at or
    /// before `final_before`: no later batch from that source holds an event before it.
    pub fn commit(&mut self, final_before: Timestamp) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let resolution = self.committed.resolution;
        let slots = self.committed.slots.entry(p.source).or_default();
        for (slot, keys) in p.cells {
            slots.entry(slot).or_default().extend(keys);
        }
        let f = final_before.as_second();
        slots.retain(|slot, _| slot + resolution > f);
    }

    /// How many slots are kept (all sources).
    pub fn open_slots(&self) -> usize {
        self.committed.slots.values().map(BTreeMap::len).sum()
    }

    /// The committed totals, for the state file.
    pub fn save(&self) -> serde_json::Value {
        serde_json::to_value(&self.committed).unwrap_or_default()
    }

    /// Takes back what [`SlotTable::save`] returned before a restart; the open slots of
    /// another resolution are not continued (with a warning naming `setting`).
    ///
    /// # Errors
    /// The saved totals are not readable.
    pub fn restore(
        &mut self,
        sink: &'static str,
        setting: &str,
        saved: serde_json::Value,
    ) -> Result<(), OutputError> {
        let totals: Totals = serde_json::from_value(saved).map_err(|e| OutputError::Encode {
            sink,
            what: format!("the saved slot totals are not readable ({e})"),
        })?;
        let resolution = self.committed.resolution;
        if totals.resolution == resolution {
            self.committed = totals;
        } else if totals.slots.values().any(|s| !s.is_empty()) {
            tracing::warn!(
                sink,
                saved = totals.resolution,
                now = resolution,
                "{setting} changed; the open slots of the old resolution are not continued."
            );
        }
        Ok(())
    }
}

/// A [`SlotWriter`] with its [`SlotTable`]: a sink that writes whole slot totals.
pub struct Slotted {
    writer: Box<dyn SlotWriter>,
    table: SlotTable,
    /// The option that sets the resolution, for the restore warning.
    setting: &'static str,
}

impl Slotted {
    /// `writer` with slots of `resolution` seconds (set by the option `setting`).
    pub fn new(writer: Box<dyn SlotWriter>, resolution: i64, setting: &'static str) -> Self {
        Slotted {
            writer,
            table: SlotTable::new(resolution),
            setting,
        }
    }

    pub fn name(&self) -> &'static str {
        self.writer.name()
    }

    /// Writes the totals of every slot `batch` touches; pending until [`Slotted::commit`].
    ///
    /// # Errors
    /// The writer could not send them (nothing is pending then).
    pub fn write(&mut self, batch: &MetricBatch) -> Result<(), OutputError> {
        let mut into = Contributions {
            resolution: self.table.resolution(),
            cells: Cells::new(),
        };
        self.writer.contributions(batch, &mut into);
        let totals = self.table.stage(&batch.source, into.cells);
        let sent = self.writer.send(totals, batch);
        if sent.is_err() {
            self.table.pending = None;
        }
        sent
    }

    /// The batch last written is committed; see [`SlotTable::commit`].
    pub fn commit(&mut self, final_before: Timestamp) {
        self.table.commit(final_before);
    }

    /// The committed totals, for the state file.
    pub fn save(&self) -> serde_json::Value {
        self.table.save()
    }

    /// Takes back what [`Slotted::save`] returned before a restart.
    ///
    /// # Errors
    /// The saved totals are not readable.
    pub fn restore(&mut self, saved: serde_json::Value) -> Result<(), OutputError> {
        let name = self.writer.name();
        self.table.restore(name, self.setting, saved)
    }

    /// How many slots are kept.
    pub fn open_slots(&self) -> usize {
        self.table.open_slots()
    }

    /// Releases the sink at shutdown.
    ///
    /// # Errors
    /// The final flush failed.
    pub fn close(&mut self) -> Result<(), OutputError> {
        self.writer.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(slot: i64, key: &str, value: i64) -> Cells {
        let mut c = Cells::new();
        c.entry(slot).or_default().insert(
            key.into(),
            Cell {
                value,
                how: Combine::Sum,
            },
        );
        c
    }

    fn t(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    #[test]
    fn a_slot_total_joins_the_committed_one_and_an_uncommitted_stage_does_not_count() {
        let mut table = SlotTable::new(60);
        table.stage("p", cells(600, "k", 2));
        table.commit(t(0));
        // Staged twice (sent, then sent again after another sink failed): counted once.
        table.stage("p", cells(600, "k", 1));
        let again = table.stage("p", cells(600, "k", 1));
        assert_eq!(again[&600]["k"].value, 3);
        table.commit(t(0));
        assert_eq!(table.committed.slots["p"][&600]["k"].value, 3);
        // Another source's slot of the same minute is its own.
        assert_eq!(table.stage("q", cells(600, "k", 1))[&600]["k"].value, 1);
    }

    #[test]
    fn slots_that_end_by_the_horizon_are_forgotten_and_the_rest_survive_a_restart() {
        let mut table = SlotTable::new(60);
        let mut both = cells(600, "k", 1);
        both.extend(cells(660, "k", 1));
        table.stage("p", both);
        // The 600 slot ends at 660: final; the 660 slot is kept.
        table.commit(t(660));
        assert_eq!(table.open_slots(), 1);
        let saved = table.save();
        assert_eq!(saved["resolution"], 60, "{saved}");
        let mut again = SlotTable::new(60);
        again.restore("graphite", "X", saved.clone()).unwrap();
        assert_eq!(again.committed, table.committed);
        // Another resolution does not continue them.
        let mut other = SlotTable::new(10);
        other.restore("graphite", "X", saved).unwrap();
        assert_eq!(other.open_slots(), 0);
        assert_eq!(other.resolution(), 10);
    }
}
