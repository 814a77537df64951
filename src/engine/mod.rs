//! The engine: owns time. It decides which window each collector reads, counts every record
//! once, hands each batch to the outputters, saves state, and stops cleanly.
//!
//! Each poll, for each collector:
//! 1. `until = now - SETTLE`; the part not yet read is `[cursor, until)`, cut into chunks of at
//!    most `PTSD_MAX_WINDOW` (a long downtime is caught up chunk by chunk, with progress logged).
//! 2. For a chunk `[a, b)` the collector reads `[max(a - PTSD_LATENESS, floor, settled), b)`:
//!    the extra `PTSD_LATENESS` re-reads records that showed up late, but not those already read
//!    at least `PTSD_LATENESS` after they were created (`settled`: they were visible then), so
//!    catching up on old history reads each record once. The read is handed out part by part
//!    by a [`read::Reader`]: a window the provider cannot page through is split, holes skipped
//!    before are left out, and a window that failed the same persistent way [`POISON_AFTER`]
//!    polls in a row is narrowed down to the second that fails, which alone is skipped.
//! 3. Each part, as soon as it is read: records whose id was already counted are dropped; the
//!    rest, in time order, go through the on-call analysis ([`crate::analysis`]: interruptions,
//!    hour bands, time to acknowledge and resolve, categories) into a [`MetricBatch`], written
//!    to every outputter that lacks them ([`deliver`]).
//! 4. Only when every outputter took the part: the ids join `seen`, the analysis memory is
//!    kept, the cursor moves to the part's end, ids older than `cursor - PTSD_LATENESS` are
//!    forgotten, and the state is saved. Steps 3-4 run as one step on tokio's blocking pool
//!    (a hung resolver or fsync never holds the runtime or a shutdown); a shutdown abandons the
//!    step, and what it did not save is read again at the next start.
//!
//! A part that fails (API down, StatsD unresolvable) leaves the cursor after the parts before
//! it: the next poll covers the rest, so nothing is lost and nothing doubled. A read that goes
//! on logs its progress every 30 s.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

use crate::aggregate::MetricBatch;
use crate::analysis::Analyst;
use crate::collectors::{Collected, Collector, RequestStats};
use crate::config::{Config, ConfigError};
use crate::event::{Event, Window};
use crate::outputters::Sink;
use crate::schema::UserKey;
use crate::self_metrics::PollOutcome;
use crate::state::{CollectorState, State, StateError};

mod deliver;
pub mod read;

use deliver::{off_runtime, Batches, DeliverError, Desk, Part};
use read::{Reader, Step};

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

/// After this many polls in a row in which a collector's chunk failed the same persistent way
/// (a malformed page, a 4xx), the chunk is read narrowing the failure down ([`read`]).
pub const POISON_AFTER: u32 = 5;
/// How often a read that goes on logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// What one chunk did, for the log and ptsd's own metrics (kept when the chunk fails midway:
/// the parts delivered before stand).
#[derive(Default)]
struct Tally {
    /// Events the collector returned (re-reads included).
    entries: usize,
    /// Records skipped as malformed.
    skipped: u64,
    /// Log rows no rule matched.
    unmatched_rows: u64,
    /// Events counted (new records).
    counted: usize,
    /// Parts delivered.
    parts: usize,
    /// Parts skipped as poison.
    windows_skipped: u64,
}

/// Runs the engine until `shutdown` resolves (or after one poll with `once`).
///
/// # Errors
/// A state file that cannot be read or written; with `once`, a poll that failed.
pub async fn run(
    settings: Settings,
    mut collectors: Vec<Box<dyn Collector>>,
    outputters: Vec<impl Into<Sink>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), EngineError> {
    let mut outputters: Vec<Sink> = outputters.into_iter().map(Into::into).collect();
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
    let start = crate::clock::now();
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
    let mut desk = Some(Desk {
        outputters,
        state,
        dir: settings.state_dir.clone(),
        status: crate::status::status_path(settings.state_dir.as_deref()),
        _instance: crate::status::InstanceStatus::guard(settings.state_dir.as_deref()),
    });
    let mut streaks: HashMap<&'static str, u32> = HashMap::new();
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut result = Ok(());
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        let poll = poll_all(&settings, &mut collectors, &mut desk, &mut streaks);
        let outcome = tokio::select! {
            biased;
            () = &mut shutdown => {
                tracing::info!("Shutdown during a poll; the unfinished window is left for the next start.");
                break;
            }
            outcome = poll => outcome,
        };
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
    if desk.is_some() {
        let close = off_runtime(&mut desk, |d| {
            for o in &mut d.outputters {
                if let Err(e) = o.close() {
                    tracing::warn!(sink = o.name(), error = %e, "Final flush failed.");
                }
            }
        });
        if tokio::time::timeout(CLOSE_WITHIN, close).await.is_err() {
            tracing::warn!("The final flush did not end in time; leaving it.");
        }
    }
    tracing::info!("Stopped.");
    result
}

/// How long the final flush may take at shutdown.
const CLOSE_WITHIN: Duration = Duration::from_secs(1);

/// How often a standby tries to take the state directory over, and says that it waits.
const STANDBY_RETRY: Duration = Duration::from_secs(1);
const STANDBY_LOG: Duration = Duration::from_secs(60);

/// Waits until this process owns `dir`: `Ok(None)` when `shutdown` came first.
async fn wait_for_ownership(
    dir: &std::path::Path,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<Option<crate::state::Owner>, EngineError> {
    let since = crate::clock::now();
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
                // The file first: whoever reads the log line can ask `ptsd health` at once.
                crate::status::record_standby(dir, &holder, since);
                if logged.is_none_or(|t| t.elapsed() >= STANDBY_LOG) {
                    tracing::warn!(dir = %dir.display(), holder = %holder, "The state directory is held by another ptsd; waiting as a standby.");
                    logged = Some(Instant::now());
                }
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
    desk: &mut Option<Desk>,
    streaks: &mut HashMap<&'static str, u32>,
) -> Result<(), PollError> {
    let mut failures = Vec::new();
    let mut own = MetricBatch::new(crate::clock::now());
    for c in collectors.iter_mut() {
        let name = c.name();
        let started = Instant::now();
        let mut stats = RequestStats::default();
        let mut poll = PollOutcome {
            ok: true,
            ..PollOutcome::default()
        };
        loop {
            let until = crate::clock::now() - SETTLE;
            follow_clock(desk, name, until, settings.lateness);
            let cursor = desk_state(desk).collectors[name].cursor;
            if cursor >= until {
                break;
            }
            let chunk_end = (cursor + settings.max_window).min(until);
            let behind = until.duration_since(chunk_end);
            let chunk_started = Instant::now();
            let streak = streaks.entry(name).or_default();
            let narrow = *streak >= POISON_AFTER;
            let mut tally = Tally::default();
            let result =
                poll_chunk(settings, c.as_mut(), desk, chunk_end, narrow, &mut tally).await;
            let chunk_stats = c.take_stats();
            poll.skipped += tally.skipped;
            poll.windows_skipped += tally.windows_skipped;
            poll.unmatched_rows += tally.unmatched_rows;
            let ok = match result {
                Ok(read) => {
                    *streak = 0;
                    tracing::info!(
                        provider = name,
                        since = %read.since,
                        until = %read.until,
                        entries = tally.entries,
                        counted = tally.counted,
                        skipped = tally.skipped,
                        unmatched_rows = tally.unmatched_rows,
                        parts = tally.parts,
                        requests = chunk_stats.requests(),
                        duration_ms = chunk_started.elapsed().as_millis() as u64,
                        behind_s = behind.as_secs(),
                        "Polled."
                    );
                    true
                }
                Err(ChunkError::State(e)) => return Err(PollError::State(e)),
                Err(ChunkError::Failed { what, persistent }) => {
                    *streak = if persistent { *streak + 1 } else { *streak };
                    tracing::error!(provider = name, error = %what, requests = chunk_stats.requests(), parts_delivered = tally.parts, "Poll failed; the rest of the window is read again next time.");
                    if persistent && *streak == POISON_AFTER {
                        tracing::warn!(provider = name, "The same window failed {POISON_AFTER} polls in a row; the next polls narrow it down to the part that fails and skip only that part.");
                    }
                    failures.push(format!("{name}: {what}"));
                    false
                }
            };
            poll.ok &= ok;
            stats.retries += chunk_stats.retries;
            stats.rate_limit_waits += chunk_stats.rate_limit_waits;
            for (class, n) in chunk_stats.by_status {
                *stats.by_status.entry(class).or_default() += n;
            }
            if !ok || behind.is_zero() {
                break;
            }
        }
        crate::self_metrics::record(
            &mut own,
            name,
            &poll,
            &stats,
            started,
            &desk_state(desk).collectors[name],
        );
    }
    // ptsd's own metrics are best effort: they never hold back the cursor. They happen at the
    // poll, so earlier polls are final.
    let own_final_before = own.at;
    let all_ok = failures.is_empty();
    off_runtime(desk, move |d| {
        for o in d.outputters.iter_mut() {
            match o.write(&own) {
                Ok(()) => commit(o, &mut d.state, own_final_before),
                Err(e) => {
                    tracing::warn!(sink = o.name(), error = %e, "Could not send ptsd's own metrics.")
                }
            }
        }
        // A state that cannot be saved here fails no poll: nothing was sent on it, and the
        // next part's write-ahead save stops what it cannot record.
        if let Err(e) = d.save() {
            tracing::error!(error = %e, "Cannot save the state.");
            crate::status::note_problem(e.to_string());
        }
        crate::status::record(&d.status, all_ok);
    })
    .await;
    if all_ok {
        Ok(())
    } else {
        Err(PollError::Incomplete(failures.join("; ")))
    }
}

/// Moves `name`'s cursor back to the clock when the clock is behind it (stepped back after a
/// save), with a warning naming both times that `ptsd health` reports too.
fn follow_clock(desk: &mut Option<Desk>, name: &str, now: Timestamp, lateness: SignedDuration) {
    let desk = desk.as_mut().expect("the desk is back between steps");
    let Some(cs) = desk.state.collectors.get_mut(name) else {
        return;
    };
    if let Some(was) = cs.rewind_to_clock(now, lateness) {
        let from = cs.settled.unwrap_or(cs.cursor);
        if was.duration_since(now) > lateness {
            tracing::warn!(provider = name, cursor = %was, clock = %now, from = %from, "The clock is behind the saved cursor by more than PTSD_LATENESS (it stepped back after a save); reading goes on from the oldest id remembered, so nothing counts twice. Entries that showed up while the clock was that far ahead were read before they existed and are not counted.");
        } else {
            tracing::warn!(provider = name, cursor = %was, clock = %now, from = %from, "The clock is behind the saved cursor (it stepped back after a save); reading again from the clock's present less PTSD_LATENESS. The ids remembered keep what was counted from counting twice.");
        }
        crate::status::note_problem(format!(
            "the {name} cursor {was} was ahead of the clock {now}; reading went on from {from}"
        ));
    }
}

/// The state, between steps (the desk is always back then).
fn desk_state(desk: &Option<Desk>) -> &State {
    &desk.as_ref().expect("the desk is back between steps").state
}

enum ChunkError {
    State(StateError),
    Failed { what: String, persistent: bool },
}

/// Reads, counts, writes and commits the chunk ending at `chunk_end`, part by part, oldest
/// first: each part is delivered (and the cursor moved) before the next is read. Returns the
/// window read.
async fn poll_chunk(
    settings: &Settings,
    collector: &mut dyn Collector,
    desk: &mut Option<Desk>,
    chunk_end: Timestamp,
    narrow: bool,
    tally: &mut Tally,
) -> Result<Window, ChunkError> {
    let name = collector.name();
    let (read, holes) = {
        let cs = &desk_state(desk).collectors[name];
        let since = (cs.cursor - settings.lateness).max(cs.floor);
        let since = cs.settled.map_or(since, |s| since.max(s.min(cs.cursor)));
        (Window::new(since, chunk_end), cs.holes.clone())
    };
    // Records created `PTSD_LATENESS` before the read began were visible throughout it.
    let read_started = crate::clock::now();
    let requests_before = crate::collectors::http::requests_made();
    let mut reader = Reader::new(read, &holes, narrow);
    let mut progress =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    loop {
        let step = {
            let next = reader.next(collector);
            tokio::pin!(next);
            loop {
                tokio::select! {
                    step = &mut next => break step,
                    _ = progress.tick() => tracing::info!(
                        provider = name,
                        since = %read.since,
                        until = %read.until,
                        reached = %desk_state(desk).collectors[name].cursor,
                        entries = tally.entries,
                        counted = tally.counted,
                        parts = tally.parts,
                        requests = crate::collectors::http::requests_made() - requests_before,
                        "Still reading."
                    ),
                }
            }
        };
        let step = step.map_err(|e| ChunkError::Failed {
            persistent: e.is_persistent(),
            what: e.to_string(),
        })?;
        match step {
            None => return Ok(read),
            Some(Step::Part(window, part)) => {
                tally.entries += part.events.len();
                tally.skipped += part.skipped;
                tally.unmatched_rows += part.unmatched_rows;
                tally.windows_skipped += part.parts_skipped;
                let part = analyse(settings, desk, name, window, part, read_started, tally);
                let delivered = off_runtime(desk, move |d| d.deliver(part)).await;
                match delivered {
                    Ok(cursor) => {
                        tally.parts += 1;
                        collector.delivered(cursor);
                    }
                    Err(DeliverError::Unrecorded(e)) => {
                        return Err(ChunkError::Failed {
                            what: format!("{e}; nothing was sent"),
                            persistent: false,
                        })
                    }
                    Err(DeliverError::Uncommitted { cursor, error }) => {
                        tally.parts += 1;
                        collector.delivered(cursor);
                        return Err(ChunkError::Failed {
                            what: format!("{error} (after the part was sent)"),
                            persistent: false,
                        });
                    }
                    Err(DeliverError::Output(what)) => {
                        return Err(ChunkError::Failed {
                            what,
                            persistent: false,
                        })
                    }
                }
            }
            Some(Step::Skip(window, why)) => {
                tracing::error!(provider = name, since = %window.since, until = %window.until, error = %why, "Skipped a part of the timeline that failed {POISON_AFTER} polls in a row and again when narrowed down; its records are not counted.");
                tally.windows_skipped += 1;
                let lateness = settings.lateness;
                off_runtime(desk, move |d| d.skip(name, window, lateness))
                    .await
                    .map_err(ChunkError::State)?;
            }
        }
    }
}

/// Runs the new records of `part` through the on-call analysis into the batches to deliver:
/// one batch for every outputter, or one per outputter when some already have some records.
fn analyse(
    settings: &Settings,
    desk: &Option<Desk>,
    name: &'static str,
    window: Window,
    part: Collected,
    read_started: Timestamp,
    tally: &mut Tally,
) -> Part {
    let d = desk.as_ref().expect("the desk is back between steps");
    let cs = &d.state.collectors[name];
    let mut fresh = HashMap::new();
    let mut analysis = settings.analyst.session(&cs.memory);
    let new_batch = || {
        let mut b = MetricBatch::new(crate::clock::now());
        b.source = name.to_string();
        b
    };
    let mut batches = if cs.partial.is_empty() {
        Batches::Shared(new_batch())
    } else {
        Batches::Each(d.outputters.iter().map(|_| new_batch()).collect())
    };
    // Records some outputter took already are analysed first, each event with the findings it
    // was taken with: the analysis then sees them as an outputter that took them did (before
    // the records that showed up since), and every outputter gets the same numbers (issue 19:
    // a late page within 60 s of a page taken would otherwise be an interruption for one
    // outputter and not for another). Both groups stay in time order.
    let (taken, rest): (Vec<Event>, Vec<Event>) = new_records(part.events, &cs.seen, &mut fresh)
        .into_iter()
        .partition(|e| cs.partial.contains_key(&e.record_id));
    let mut findings: HashMap<String, Vec<crate::analysis::Findings>> = HashMap::new();
    for e in taken.into_iter().chain(rest) {
        let of_record = findings.entry(e.record_id.clone()).or_default();
        let mut found = analysis.analyse(&e);
        if let Some(kept) = cs
            .partial
            .get(&e.record_id)
            .and_then(|p| p.findings.get(of_record.len()))
        {
            found = kept.clone();
        }
        match &mut batches {
            Batches::Shared(b) => b.add_event(&e, &found, name, settings.user_key),
            Batches::Each(all) => {
                let have = d.delivered_to(name, &e.record_id);
                for (o, b) in d.outputters.iter().zip(all.iter_mut()) {
                    if !have.is_some_and(|h| h.contains(o.name())) {
                        b.add_event(&e, &found, name, settings.user_key);
                    }
                }
            }
        }
        of_record.push(found);
        tally.counted += 1;
    }
    Part {
        collector: name,
        window,
        batches,
        fresh,
        findings,
        memory: analysis.into_memory(),
        read_started,
        lateness: settings.lateness,
    }
}

/// Tells `o` its last batch is committed (slots ending by `final_before` are final) and keeps
/// what it saves in `state`.
fn commit(o: &mut Sink, state: &mut State, final_before: Timestamp) {
    o.commit(final_before);
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
    history_with_progress(settings, collectors, window, &mut |_| {}).await
}

/// How far [`history_with_progress`] has read: after each window of each collector.
#[derive(Debug, Clone)]
pub struct Reached {
    /// The collector reading, and its place in the list (they read one after another).
    pub provider: &'static str,
    pub collector: usize,
    /// The end of the last window read.
    pub until: Timestamp,
    /// Requests made and entries read by this collector so far.
    pub requests: u64,
    pub entries: u64,
}

/// [`history`], telling `on_read` after each window (for a progress bar).
///
/// # Errors
/// As [`history`].
pub async fn history_with_progress(
    settings: &Settings,
    collectors: &mut [Box<dyn Collector>],
    window: Window,
    on_read: &mut dyn FnMut(&Reached),
) -> Result<Vec<crate::analysis::Analysed>, Box<dyn std::error::Error>> {
    let saved = match &settings.state_dir {
        Some(dir) => State::load(dir)?.unwrap_or_default(),
        None => State::default(),
    };
    let mut out = Vec::new();
    for (index, c) in collectors.iter_mut().enumerate() {
        let name = c.name();
        let (mut requests, mut read) = (0, 0);
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
            let mut reader = Reader::new(Window::new(since, until), &[], false);
            while let Some(step) = reader.next(c.as_mut()).await? {
                let Step::Part(_, part) = step else { continue };
                entries += part.events.len();
                for event in new_records(part.events, &none, &mut fresh) {
                    out.push(crate::analysis::Analysed {
                        provider: name.to_string(),
                        found: analysis.analyse(&event),
                        event,
                    });
                }
            }
            requests += c.take_stats().requests();
            read += entries as u64;
            tracing::info!(provider = name, since = %since, until = %until, entries, "Read.");
            on_read(&Reached {
                provider: name,
                collector: index,
                until,
                requests,
                entries: read,
            });
            since = until;
        }
    }
    out.sort_by_key(|a| a.event.at);
    Ok(out)
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
}
