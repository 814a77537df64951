//! Which alert categories cost the most: each page and interruption is traced to the category
//! of its incident (the category the analysis gave the incident's trigger), for "what to fix
//! first"; and the flapping candidates are grouped by category.
//!
//! A page whose incident's trigger was not read (opened before the previous period) counts
//! under [`UNKNOWN`]: the report never categorises a title itself.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use jiff::Timestamp;

use super::model::{FixFirst, FlapGroup, Interruptions};
use super::stats::{change, percent, stats};
use crate::analysis::Analysed;
use crate::event::EventKind;

/// The category of pages whose incident's trigger was not read.
pub(super) const UNKNOWN: &str = "(unknown)";
/// How many categories "what to fix first" names.
pub(super) const FIX_FIRST: usize = 3;

#[derive(Default)]
struct Cost {
    pages: u64,
    previous_pages: u64,
    interruptions: Interruptions,
    previous: Interruptions,
}

#[derive(Default)]
struct Flaps {
    open_s: Vec<i64>,
    latest: Option<(Timestamp, String)>,
}

/// Traces pages and flaps to categories.
#[derive(Default)]
pub(super) struct Causes {
    /// (provider, incident id) → category.
    incidents: BTreeMap<(String, String), String>,
    costs: BTreeMap<String, Cost>,
    flaps: BTreeMap<String, Flaps>,
    pages: u64,
}

impl Causes {
    fn category_of(&self, a: &Analysed) -> String {
        a.event
            .incident
            .as_ref()
            .and_then(|i| self.incidents.get(&(a.provider.clone(), i.id.clone())))
            .cloned()
            .unwrap_or_else(|| UNKNOWN.to_string())
    }

    /// Reads one event of either period (in time order).
    pub(super) fn count(&mut self, a: &Analysed, current: bool) {
        match &a.event.kind {
            EventKind::Triggered { .. } => {
                if let (Some(inc), Some(category)) = (&a.event.incident, &a.found.category) {
                    self.incidents
                        .insert((a.provider.clone(), inc.id.clone()), category.clone());
                }
            }
            EventKind::Notified { .. } => {
                let category = self.category_of(a);
                let cost = self.costs.entry(category).or_default();
                if current {
                    self.pages += 1;
                    cost.pages += 1;
                    if a.found.interruption {
                        cost.interruptions.add(a.found.band);
                    }
                } else {
                    cost.previous_pages += 1;
                    if a.found.interruption {
                        cost.previous.add(a.found.band);
                    }
                }
            }
            _ => {}
        }
    }

    /// Notes a flapping candidate of the current period, open `open_s` seconds.
    pub(super) fn flap(&mut self, a: &Analysed, open_s: i64) {
        let category = self.category_of(a);
        let f = self.flaps.entry(category).or_default();
        f.open_s.push(open_s);
        if let Some(title) = a.event.incident.as_ref().and_then(|i| i.title.as_ref()) {
            f.latest = Some((a.event.at, title.clone()));
        }
    }

    /// Pages for `category`'s incidents, now and in the previous period.
    pub(super) fn pages_of(&self, category: &str) -> (u64, u64) {
        self.costs
            .get(category)
            .map_or((0, 0), |c| (c.pages, c.previous_pages))
    }

    /// "What to fix first": the [`FIX_FIRST`] categories with the most sleep interruptions,
    /// then the most interruptions (then pages, then name); only those that interrupted.
    /// `shape` names how each category reads.
    pub(super) fn fix_first(&self, shape: &dyn Fn(&str) -> String) -> Vec<FixFirst> {
        let mut rows: Vec<FixFirst> = self
            .costs
            .iter()
            .filter(|(_, c)| c.interruptions.total > 0)
            .map(|(category, c)| FixFirst {
                category: category.clone(),
                shape: shape(category),
                interruptions: c.interruptions.clone(),
                pages: c.pages,
                share_of_pages_pct: percent(c.pages, self.pages),
                previous_interruptions: c.previous.clone(),
                change: change(c.interruptions.total, c.previous.total),
            })
            .collect();
        // The map is in name order and the sort is stable: ties stay by name.
        rows.sort_by_key(|r| {
            (
                Reverse(r.interruptions.sleep),
                Reverse(r.interruptions.total),
                Reverse(r.pages),
            )
        });
        rows.truncate(FIX_FIRST);
        rows
    }

    /// The flapping candidates by category, most first (ties by name); `incidents` gives each
    /// category's incidents in the period, `shape` how it reads.
    pub(super) fn flap_groups(
        &self,
        incidents: &dyn Fn(&str) -> u64,
        shape: &dyn Fn(&str) -> String,
    ) -> Vec<FlapGroup> {
        let mut rows: Vec<FlapGroup> = self
            .flaps
            .iter()
            .map(|(category, f)| {
                let n = incidents(category);
                FlapGroup {
                    category: category.clone(),
                    shape: shape(category),
                    flaps: f.open_s.len() as u64,
                    incidents: n,
                    share_pct: percent(f.open_s.len() as u64, n),
                    median_open_s: stats(f.open_s.clone()).median_s,
                    example: f.latest.as_ref().map(|(_, t)| t.clone()),
                }
            })
            .collect();
        rows.sort_by_key(|r| Reverse(r.flaps));
        rows
    }
}
