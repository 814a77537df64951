//! The engine: owns time. It decides which window each collector reads, counts every record
//! once, hands each batch to the outputters, saves state, and stops cleanly.
//!
//! Each poll, for each collector:
//! 1. `until = now - SETTLE`; the part not yet read is `[cursor, until)`, cut into chunks of at
//!    most `PTSD_MAX_WINDOW` (a long downtime is caught up chunk by chunk, with progress logged).
//! 2. For a chunk `[a, b)` the collector reads `[max(a - PTSD_LATENESS, floor, settled), b)`:
//!    the extra `PTSD_LATENESS` re-reads records that showed up late, but not those already read
//!    at least `PTSD_LATENESS` after they were created (`settled`: they were visible then), so
//!    catching up on old history reads each record once. A window the provider cannot page
//!    through ([`CollectError::WindowTooLarge`]) is split until every part fits.
//! 3. Records whose id was already counted are dropped; the rest, in time order, go through
//!    the on-call analysis ([`crate::analysis`]: interruptions, hour bands, time to acknowledge
//!    and resolve, categories), are aggregated into one [`MetricBatch`] and written to every
//!    outputter.
//! 4. Only when every outputter took the batch: the ids join `seen`, the analysis memory is
//!    kept, the cursor moves to `b`, ids older than `b - PTSD_LATENESS` are forgotten, and the
//!    state is saved. Steps 3-4 have no await point, so shutdown never lands between a write
//!    and its save.
//!
//! A chunk that fails (API down, StatsD unresolvable) leaves the cursor where it was: the next
//! poll covers the same ground, so nothing is lost and nothing doubled.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

use crate::aggregate::MetricBatch;
use crate::analysis::{Analyst, BURST, OPEN_INCIDENT_MEMORY};
use crate::collectors::{CollectError, Collected, Collector, RequestStats};
use crate::config::{Config, ConfigError};
use crate::event::{Event, Window};
use crate::outputters::Outputter;
use crate::schema::UserKey;
use crate::state::{CollectorState, State, StateError};

/// How far behind now a window ends, so records still being written are left for the next poll.
pub const SETTLE: SignedDuration = SignedDuration::from_secs(1);

/// The engine's own settings, taken from [`Config`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub interval: Duration,
    pub lateness: SignedDuration,
    pub backfill: SignedDuration,
    pub max_window: SignedDuration,
    pub state_dir: Option<PathBuf>,
    pub user_key: UserKey,
    pub once: bool,
    pub analyst: Analyst,
}

impl Settings {
    /// The engine settings of `config`, with the on-call analysis it asks for.
    ///
    /// # Errors
    /// A [`ConfigError`] from the analysis' options (hours, zone, category rules).
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let sd = |d: Duration| SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
        let mut backfill = sd(config.backfill);
        if config.once && backfill.is_zero() {
            // A single poll with nothing saved would read an empty window: read one interval.
            backfill = sd(config.interval);
        }
        Ok(Settings {
            interval: config.interval,
            lateness: sd(config.lateness),
            backfill,
            max_window: sd(config.max_window),
            state_dir: config.state_dir.clone(),
            user_key: config.user_key,
            once: config.once,
            analyst: Analyst::from_config(config)?,
        })
    }
}

/// Why the engine stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    State(#[from] StateError),
    /// An outputter could not take back what it saved in the state file.
    #[error("{0}; move the state file away to start counting afresh")]
    Restore(String),
    /// `--once` could not complete its poll.
    #[error("the poll did not complete: {0}")]
    PollFailed(String),
}

/// The outcome of one chunk, for the log.
struct ChunkReport {
    read: Window,
    /// Events the collector returned (re-reads included).
    entries: usize,
    /// Records skipped as malformed, and log rows no rule matched.
    records: crate::self_metrics::Records,
    /// Events counted (new records).
    counted: usize,
}

/// Runs the engine until `shutdown` resolves (or after one poll with `once`).
///
/// # Errors
/// A state file that cannot be read or written; with `once`, a poll that failed.
pub async fn run(
    settings: Settings,
    mut collectors: Vec<Box<dyn Collector>>,
    mut outputters: Vec<Box<dyn Outputter>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), EngineError> {
    tokio::pin!(shutdown);
    // One owner per state directory: wait (as a standby) while another ptsd holds it.
    let _owner = match &settings.state_dir {
        Some(dir) => match wait_for_ownership(dir, &mut shutdown).await? {
            Some(owner) => Some(owner),
            None => {
                tracing::info!("Stopped.");
                return Ok(());
            }
        },
        None => None,
    };
    let start = Timestamp::now();
    let mut state = match &settings.state_dir {
        Some(dir) => State::load(dir)?.unwrap_or_default(),
        None => {
            tracing::warn!("PTSD_STATE_DIR is not set: a restart will not know what was counted, and the events during the gap will be lost.");
            State::default()
        }
    };
    for o in &mut outputters {
        if let Some(saved) = state.outputters.get(o.name()) {
            o.restore(saved.clone())
                .map_err(|e| EngineError::Restore(e.to_string()))?;
        }
    }
    for c in &collectors {
        state
            .collectors
            .entry(c.name().to_string())
            .or_insert_with(|| CollectorState::starting_at(start - settings.backfill));
    }

    let status_path = crate::status::status_path(settings.state_dir.as_deref());
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut result = Ok(());
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        let poll = poll_all(&settings, &mut collectors, &mut outputters, &mut state);
        let outcome = tokio::select! {
            biased;
            () = &mut shutdown => {
                tracing::info!("Shutdown during a poll; the unfinished window is left for the next start.");
                break;
            }
            outcome = poll => outcome,
        };
        crate::status::record(&status_path, outcome.is_ok());
        match outcome {
            Ok(()) => {}
            Err(PollError::State(e)) => {
                result = Err(e.into());
                break;
            }
            Err(PollError::Incomplete(what)) if settings.once => {
                result = Err(EngineError::PollFailed(what));
            }
            Err(PollError::Incomplete(_)) => {}
        }
        if settings.once {
            break;
        }
    }
    for o in &mut outputters {
        if let Err(e) = o.close() {
            tracing::warn!(sink = o.name(), error = %e, "Final flush failed.");
        }
    }
    tracing::info!("Stopped.");
    result
}

/// How often a standby tries to take the state directory over, and says that it waits.
const STANDBY_RETRY: Duration = Duration::from_secs(1);
const STANDBY_LOG: Duration = Duration::from_secs(60);

/// Waits until this process owns `dir`: `Ok(None)` when `shutdown` came first.
async fn wait_for_ownership(
    dir: &std::path::Path,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<Option<crate::state::Owner>, EngineError> {
    let since = Timestamp::now();
    let mut logged: Option<Instant> = None;
    loop {
        // The lock is tried without blocking; the wait between tries is a tokio sleep.
        let claim = {
            let dir = dir.to_path_buf();
            tokio::task::spawn_blocking(move || crate::state::claim(&dir))
                .await
                .map_err(|e| EngineError::PollFailed(e.to_string()))??
        };
        match claim {
            crate::state::Claim::Owned(owner) => {
                if logged.is_some() {
                    tracing::info!(
                        "The state directory is free; taking over from the saved state."
                    );
                }
                crate::status::clear_standby();
                return Ok(Some(owner));
            }
            crate::state::Claim::HeldBy(holder) => {
                if logged.is_none_or(|t| t.elapsed() >= STANDBY_LOG) {
                    tracing::warn!(dir = %dir.display(), holder = %holder, "The state directory is held by another ptsd; waiting as a standby.");
                    logged = Some(Instant::now());
                }
                crate::status::record_standby(&holder, since);
            }
        }
        tokio::select! {
            biased;
            () = shutdown.as_mut() => {
                crate::status::clear_standby();
                return Ok(None);
            }
            () = tokio::time::sleep(STANDBY_RETRY) => {}
        }
    }
}

enum PollError {
    State(StateError),
    Incomplete(String),
}

/// One poll: every collector catches up to `now - SETTLE`; then ptsd's own metrics are sent.
async fn poll_all(
    settings: &Settings,
    collectors: &mut [Box<dyn Collector>],
    outputters: &mut [Box<dyn Outputter>],
    state: &mut State,
) -> Result<(), PollError> {
    let mut failures = Vec::new();
    let mut own = MetricBatch::new(Timestamp::now());
    let status_path = crate::status::status_path(settings.state_dir.as_deref());
    for c in collectors.iter_mut() {
        let name = c.name();
        let started = Instant::now();
        let mut stats = RequestStats::default();
        let mut records = crate::self_metrics::Records::default();
        let mut ok = true;
        loop {
            let until = Timestamp::now() - SETTLE;
            let cursor = state.collectors[name].cursor;
            if cursor >= until {
                break;
            }
            let chunk_end = (cursor + settings.max_window).min(until);
            let behind = until.duration_since(chunk_end);
            let chunk_started = Instant::now();
            let result = poll_chunk(settings, c.as_mut(), outputters, state, chunk_end).await;
            let chunk_stats = c.take_stats();
            match result {
                Ok(report) => {
                    if !behind.is_zero() {
                        // Catching up: a long poll, but a healthy one.
                        crate::status::record_progress(&status_path);
                    }
                    records.skipped += report.records.skipped;
                    records.unmatched_rows += report.records.unmatched_rows;
                    tracing::info!(
                        provider = name,
                        since = %report.read.since,
                        until = %report.read.until,
                        entries = report.entries,
                        counted = report.counted,
                        skipped = report.records.skipped,
                        unmatched_rows = report.records.unmatched_rows,
                        requests = chunk_stats.requests(),
                        duration_ms = chunk_started.elapsed().as_millis() as u64,
                        behind_s = behind.as_secs(),
                        "Polled."
                    );
                }
                Err(ChunkError::State(e)) => return Err(PollError::State(e)),
                Err(ChunkError::Failed(what)) => {
                    tracing::error!(provider = name, error = %what, requests = chunk_stats.requests(), "Poll failed; the same window is read again next time.");
                    failures.push(format!("{name}: {what}"));
                    ok = false;
                }
            }
            stats.retries += chunk_stats.retries;
            stats.rate_limit_waits += chunk_stats.rate_limit_waits;
            for (class, n) in chunk_stats.by_status {
                *stats.by_status.entry(class).or_default() += n;
            }
            if !ok || behind.is_zero() {
                break;
            }
        }
        crate::self_metrics::record(&mut own, name, ok, &stats, records, started, state);
    }
    // ptsd's own metrics are best effort: they never hold back the cursor. They happen at the
    // poll, so earlier polls are final.
    own.final_before = Some(own.at);
    for o in outputters.iter_mut() {
        match o.write(&own) {
            Ok(()) => commit(o.as_mut(), state),
            Err(e) => {
                tracing::warn!(sink = o.name(), error = %e, "Could not send ptsd's own metrics.")
            }
        }
    }
    if let Some(dir) = &settings.state_dir {
        state.save(dir).map_err(PollError::State)?;
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(PollError::Incomplete(failures.join("; ")))
    }
}

enum ChunkError {
    State(StateError),
    Failed(String),
}

/// Reads, counts, writes and commits the chunk ending at `chunk_end`.
async fn poll_chunk(
    settings: &Settings,
    collector: &mut dyn Collector,
    outputters: &mut [Box<dyn Outputter>],
    state: &mut State,
    chunk_end: Timestamp,
) -> Result<ChunkReport, ChunkError> {
    let name = collector.name();
    let cs = &state.collectors[name];
    let since = (cs.cursor - settings.lateness).max(cs.floor);
    let since = cs.settled.map_or(since, |s| since.max(s.min(cs.cursor)));
    let read = Window::new(since, chunk_end);
    // Records created `PTSD_LATENESS` before the read began were visible throughout it.
    let read_started = Timestamp::now();
    // Each part of a split window is counted as it arrives and then dropped, so memory holds
    // one part's events (for PagerDuty at most ~10,000 records; Opsgenie reads a window in one
    // call), not the whole chunk's.
    let mut fresh: HashMap<String, Timestamp> = HashMap::new();
    let mut analysis = settings.analyst.session(&cs.memory);
    let mut batch = MetricBatch::new(Timestamp::now());
    batch.source = name.to_string();
    // Once this chunk is committed, the next read starts no earlier than this.
    batch.final_before = Some(chunk_end - settings.lateness);
    let (mut entries, mut counted) = (0, 0);
    let mut records = crate::self_metrics::Records::default();
    collect_split(collector, read, &mut |part| {
        entries += part.events.len();
        records.skipped += part.skipped;
        records.unmatched_rows += part.unmatched_rows;
        for e in new_records(part.events, &cs.seen, &mut fresh) {
            let found = analysis.analyse(&e);
            batch.add_event(&e, &found, name, settings.user_key);
            counted += 1;
        }
    })
    .await
    .map_err(|e| ChunkError::Failed(e.to_string()))?;
    let memory = analysis.into_memory();

    // From here to the save there is no await: shutdown cannot split a write from its commit.
    if !batch.is_empty() {
        for o in outputters.iter_mut() {
            o.write(&batch)
                .map_err(|e| ChunkError::Failed(format!("output {}: {e}", o.name())))?;
        }
        for o in outputters.iter_mut() {
            commit(o.as_mut(), state);
        }
    }
    let cs = state.collectors.get_mut(name).expect("state entry exists");
    cs.seen.extend(fresh);
    cs.memory = memory;
    cs.memory.prune(
        chunk_end - settings.lateness - BURST,
        chunk_end - OPEN_INCIDENT_MEMORY,
    );
    cs.cursor = chunk_end;
    let settled = chunk_end.min(read_started - settings.lateness);
    cs.settled = Some(cs.settled.map_or(settled, |s| s.max(settled)));
    cs.prune(chunk_end - settings.lateness);
    if let Some(dir) = &settings.state_dir {
        state.save(dir).map_err(ChunkError::State)?;
    }
    collector.delivered(chunk_end);
    Ok(ChunkReport {
        read,
        entries,
        records,
        counted,
    })
}

/// Tells `o` its last batch is committed and keeps what it saves in `state`.
fn commit(o: &mut dyn Outputter, state: &mut State) {
    o.commit();
    if let Some(saved) = o.save() {
        state.outputters.insert(o.name().to_string(), saved);
    }
}

/// The events of records in neither `seen` nor `fresh`, each record once, oldest first; their
/// ids join `fresh`. All the events of one record are adjacent, so a record is taken or
/// dropped as a whole. A record can also come back twice in one read (a newest-first page
/// shifts while it is read, and the last entry of one page is the first of the next): then the
/// copy sits right after the original with the same id, and is told apart by repeating an
/// event the record already had (a record never yields the same event twice). Oldest first is
/// what the on-call analysis needs (the 60 s rule, trigger before acknowledgement); the sort
/// is stable, so one record's events keep their order. Parts of a split window come oldest
/// first and do not overlap, so part by part is still time order.
fn new_records(
    events: Vec<Event>,
    seen: &HashMap<String, Timestamp>,
    fresh: &mut HashMap<String, Timestamp>,
) -> Vec<Event> {
    let mut keep = Vec::with_capacity(events.len());
    // The current record: where its events start, and whether it is taken.
    let mut start = 0;
    let mut accept = false;
    for (i, e) in events.iter().enumerate() {
        let same_record = i > 0
            && events[start].record_id == e.record_id
            && !events[start..i].iter().any(|p| p.kind == e.kind);
        if !same_record {
            start = i;
            accept = !seen.contains_key(&e.record_id)
                && fresh.insert(e.record_id.clone(), e.at).is_none();
        }
        keep.push(accept);
    }
    let mut accepted: Vec<Event> = events
        .into_iter()
        .zip(keep)
        .filter_map(|(e, k)| k.then_some(e))
        .collect();
    accepted.sort_by_key(|e| e.at);
    accepted
}

/// Reads `window` once from every collector, chunk by chunk as a poll would (splitting what
/// is too large, each record once), and runs it through the on-call analysis from a blank
/// memory (but the daemon's known alert categories, when `PTSD_STATE_DIR` holds them, so both
/// send the same titles to `other`): what `ptsd report` reports on. Nothing is saved and the
/// cursor is not touched.
///
/// # Errors
/// The first collector error: a report from part of the data would mislead.
pub async fn history(
    settings: &Settings,
    collectors: &mut [Box<dyn Collector>],
    window: Window,
) -> Result<Vec<crate::analysis::Analysed>, Box<dyn std::error::Error>> {
    let saved = match &settings.state_dir {
        Some(dir) => State::load(dir)?.unwrap_or_default(),
        None => State::default(),
    };
    let mut out = Vec::new();
    for c in collectors.iter_mut() {
        let name = c.name();
        let memory = crate::analysis::Memory {
            categories: saved
                .collectors
                .get(c.name())
                .map(|cs| cs.memory.categories.clone())
                .unwrap_or_default(),
            ..crate::analysis::Memory::default()
        };
        let mut analysis = settings.analyst.session(&memory);
        let (none, mut fresh) = (HashMap::new(), HashMap::new());
        let mut since = window.since;
        while since < window.until {
            let until = (since + settings.max_window).min(window.until);
            let mut entries = 0;
            collect_split(c.as_mut(), Window::new(since, until), &mut |part| {
                entries += part.events.len();
                for event in new_records(part.events, &none, &mut fresh) {
                    out.push(crate::analysis::Analysed {
                        provider: name.to_string(),
                        found: analysis.analyse(&event),
                        event,
                    });
                }
            })
            .await?;
            tracing::info!(provider = name, since = %since, until = %until, entries, "Read.");
            since = until;
        }
    }
    out.sort_by_key(|a| a.event.at);
    Ok(out)
}

/// Largest number of records one query is trusted to page through when deciding how many
/// parts to split a window into (below PagerDuty's 10,000, leaving room for late arrivals).
const SPLIT_TARGET: u64 = 8_000;

/// Collects `window`, splitting it whenever the collector says it is too large, and hands
/// each part to `sink` as it is read, oldest part first.
async fn collect_split(
    collector: &mut dyn Collector,
    window: Window,
    sink: &mut (dyn FnMut(Collected) + Send),
) -> Result<(), CollectError> {
    let mut pending = vec![window];
    while let Some(w) = pending.pop() {
        match collector.collect(w).await {
            Ok(part) => sink(part),
            Err(CollectError::WindowTooLarge { provider, total }) => {
                let parts = total.map_or(2, |t| t.div_ceil(SPLIT_TARGET).max(2));
                let pieces =
                    split(w, parts).ok_or(CollectError::WindowTooLarge { provider, total })?;
                tracing::debug!(provider, parts = pieces.len(), "Window too large; split.");
                // Newest part last, so the oldest part is read first.
                pending.extend(pieces.into_iter().rev());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
    use crate::event::{EventKind, Person};

    fn event(id: &str, user: &str) -> Event {
        Event {
            record_id: id.into(),
            at: "2026-03-02T00:00:00Z".parse().unwrap(),
            kind: EventKind::Assigned {
                user: Person {
                    id: user.into(),
                    ..Person::default()
                },
            },
            incident: None,
        }
    }

    #[test]
    fn a_record_repeated_across_a_page_boundary_counts_once() {
        // R2 names two people; a shifted page repeats R2 (both events) right after itself,
        // and R3 (one event) likewise.
        let events = vec![
            event("R1", "a"),
            event("R2", "a"),
            event("R2", "b"),
            event("R2", "a"),
            event("R2", "b"),
            event("R3", "c"),
            event("R3", "c"),
        ];
        let seen = HashMap::from([("R1".to_string(), events[0].at)]);
        let mut fresh = HashMap::new();
        let got = new_records(events, &seen, &mut fresh);
        let ids: Vec<(&str, &str)> = got
            .iter()
            .map(|e| match &e.kind {
                EventKind::Assigned { user } => (e.record_id.as_str(), user.id.as_str()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, [("R2", "a"), ("R2", "b"), ("R3", "c")]);
        assert_eq!(fresh.len(), 2);
    }

    #[test]
    fn split_is_exact() {
        let a: Timestamp = "2026-03-02T00:00:00Z".parse().unwrap();
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
