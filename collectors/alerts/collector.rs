//! The collector of the Opsgenie alert model, shared by the Opsgenie and the JSM Operations
//! collectors: which alerts to list, when to read their logs and which rows are new
//! ([`super::memory`]), what the rules make of each row and which shapes no rule matched
//! ([`super::rules`], [`super::shapes`]), the report's safety net ([`super::events`]), and
//! an alert whose log stays refused. What differs between the providers (host, auth,
//! envelope, paging, who is behind a name in a row) is an [`AlertSource`]: a provider is its
//! source plus its settings.

use std::collections::HashMap;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use regex::Regex;

use super::super::skipped::SkippedOnce;
use super::super::{CollectError, Collected, Collector, LogShape, RequestStats};
use super::events::{alert_events, Classified};
use super::listing::{skipped_alert, skipped_row, AlertApi};
use super::memory::{AlertState, KeptRow, Pace, ReadNow};
use super::rules::LogRules;
use super::shapes::{shape, Shapes};
use crate::config::Config;
use crate::event::{Event, EventKind, Incident, Person, Window};

/// One provider of the Opsgenie alert model: its API and its people.
#[async_trait]
pub(crate) trait AlertSource: Send {
    /// The registry name and `provider` tag.
    const NAME: &'static str;
    type Api: AlertApi;

    /// The provider's alert API.
    fn api(&self) -> &Self::Api;

    /// The start-up check: credentials, the account or site, reachability.
    async fn check(&mut self) -> Result<(), CollectError>;

    /// Housekeeping at the start of each read (a directory due again); failures are the
    /// source's to log, and keep what it had.
    async fn refresh(&mut self) {}

    /// The people behind `names` (each with the time of the row naming it), in the same order;
    /// `None` for nobody (`System`, an integration). A person the directory does not know yet
    /// is never `None`: they count under their name or id.
    async fn people(&mut self, names: &[(String, Timestamp)]) -> Vec<Option<Person>>;

    /// People's full names, masked in row shapes.
    fn name_mask(&self) -> Option<&Regex>;

    /// The HTTP traffic since the last call.
    fn take_stats(&mut self) -> RequestStats;
}

/// After this many polls in a row in which one alert's log was refused (403, 404: an alert
/// deleted or out of the key's reach), its rows are skipped (an error log line naming it, and
/// `windows_skipped`) instead of failing the window for every alert, for ever. Bad weather
/// (5xx, 429, timeouts) never skips anything.
pub const POISON_AFTER: u32 = 5;

/// Whether `e` refuses one alert's log, not the whole key (401) or the weather.
fn refuses_this_alert(e: &CollectError) -> bool {
    match e {
        CollectError::Refused { status, .. } => *status != 429,
        CollectError::Unauthorized { status, .. } => *status == 403,
        _ => false,
    }
}

/// A listing starts this long before what the last delivered one is known to have covered:
/// room for an `updatedAt` that becomes visible late.
const LIST_OVERLAP: SignedDuration = SignedDuration::from_secs(60);

/// How far a listing of `window` that returned `listed` is known to reach, in the provider's
/// own time: every alert created before the window's end and updated before the newest
/// `updatedAt` listed was in it (less what shows up late, which [`LIST_OVERLAP`] covers).
/// Never the window's end alone: that is ptsd's clock, and a clock ahead of the provider's
/// by more than the overlap made a later listing start after an alert's change, which was
/// then never read (found by the simulation with a clock step, issue 22). And never past the
/// window's end: an alert created after it (a clock behind) was not asked for. `None` when
/// nothing was listed: nothing is known beyond what was.
fn covered(window: &Window, listed: &[super::model::Alert]) -> Option<Timestamp> {
    listed
        .iter()
        .filter_map(|a| a.updated_at.parse::<Timestamp>().ok())
        .max()
        .map(|newest| newest.min(window.until))
}

/// Reads one provider's alerts and logs.
pub(crate) struct AlertCollector<S: AlertSource> {
    source: S,
    /// The log rules in force (built-in, extended or replaced by `PTSD_LOG_RULES`).
    rules: LogRules,
    /// The shapes of the rows read, for `log_rows_unmatched`, the hourly log and `ptsd logs`.
    shapes: Shapes,
    /// What is known of each alert listed lately ([`super::memory`]).
    alerts: HashMap<String, AlertState>,
    /// When to read logs ([`Pace`]).
    pace: Pace,
    /// Every alert updated before this (in the provider's time) and created before the
    /// windows listed was in a listing that was delivered: later listings start there (less
    /// [`LIST_OVERLAP`]).
    listed_until: Option<Timestamp>,
    /// The last listing (delivered or not): the end of its window, and what it covered
    /// ([`covered`]).
    listing: Option<(Timestamp, Option<Timestamp>)>,
    /// The end of the window that last listed the young open alerts.
    renotify_listed: Option<Timestamp>,
    /// Alerts whose log was refused (403/404) in consecutive polls, and how many: from
    /// [`POISON_AFTER`] on, their rows are skipped instead of failing the window.
    refused_logs: HashMap<String, u32>,
    /// The malformed alerts and rows warned about already (each counted once in
    /// `entries_skipped`, however often a listing or a log read meets it again).
    skipped: SkippedOnce,
}

impl<S: AlertSource> AlertCollector<S> {
    pub(crate) fn new(source: S, rules: LogRules, config: &Config) -> Self {
        AlertCollector {
            source,
            rules,
            shapes: Shapes::default(),
            alerts: HashMap::new(),
            pace: Pace::new(
                config.lateness,
                config.max_requests_per_minute,
                config.interval,
                config.once,
            ),
            listed_until: None,
            listing: None,
            renotify_listed: None,
            refused_logs: HashMap::new(),
            skipped: SkippedOnce::default(),
        }
    }

    /// Lists the window's alerts (and, when due, the young open ones) into the memory.
    async fn list(&mut self, window: &Window, out: &mut Collected) -> Result<(), CollectError> {
        // Alerts unchanged since the last delivered listing are known already.
        let list_since = self
            .listed_until
            .map_or(window.since, |l| window.since.max(l - LIST_OVERLAP));
        let (mut listed, skipped) = self
            .source
            .api()
            .alerts(window, list_since, &self.skipped)
            .await?;
        out.skipped += skipped;
        self.listing = Some((window.until, covered(window, &listed)));
        if self
            .renotify_listed
            .is_none_or(|r| r + self.pace.renotify_every <= window.until)
        {
            listed.extend(self.source.api().renotifiable(window).await?);
            self.renotify_listed = Some(window.until);
        }
        for alert in listed {
            let (Ok(created), Ok(updated)) = (
                alert.created_at.parse::<Timestamp>(),
                alert.updated_at.parse::<Timestamp>(),
            ) else {
                if self
                    .skipped
                    .first(skipped_alert(&alert.id, &alert.updated_at))
                {
                    out.skipped += 1;
                    tracing::warn!(provider = S::NAME, alert = %alert.id, "Skipped an alert with a bad timestamp.");
                }
                continue;
            };
            match self.alerts.get_mut(&alert.id) {
                Some(s) => {
                    s.alert = alert;
                    s.created = created;
                    s.updated = updated;
                }
                None => {
                    self.alerts
                        .insert(alert.id.clone(), AlertState::new(alert, created, updated));
                }
            }
        }
        Ok(())
    }

    /// Reads the new rows of one alert's log into its memory.
    async fn read_log(
        &mut self,
        id: &str,
        window: &Window,
        out: &mut Collected,
    ) -> Result<(), CollectError> {
        let from = self.alerts[id].offset.clone();
        let (rows, malformed) = match self
            .source
            .api()
            .logs(id, from.as_deref(), &self.skipped)
            .await
        {
            Ok(read) => {
                self.refused_logs.remove(id);
                read
            }
            Err(e) if refuses_this_alert(&e) => {
                let refused = self.refused_logs.entry(id.to_string()).or_default();
                *refused += 1;
                if *refused < POISON_AFTER {
                    return Err(e);
                }
                tracing::error!(provider = S::NAME, alert = %id, error = %e, polls = *refused, "This alert's log was refused poll after poll; its new rows are skipped (its creation and the report's acknowledgement and close still count).");
                out.parts_skipped += 1;
                let state = self.alerts.get_mut(id).expect("listed");
                state.keep(Vec::new(), window.until);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        out.skipped += malformed;
        let mut dated = Vec::with_capacity(rows.len());
        for row in rows {
            match row.created_at.parse::<Timestamp>() {
                Ok(at) => dated.push((at, row)),
                Err(_) => {
                    if self.skipped.first(skipped_row(id, &row.offset)) {
                        out.skipped += 1;
                        tracing::warn!(provider = S::NAME, alert = %id, offset = %row.offset, created_at = %row.created_at, "Skipped an alert log row with a bad timestamp.");
                    }
                }
            }
        }
        let state = self.alerts.get_mut(id).expect("listed");
        let kept_before = state.kept_keys();
        // Windows need not only move forward: the next starts `PTSD_LATENESS` before the
        // cursor, which a part of a split window may be ahead of. Settling (and forgetting)
        // only what lies `lateness` before this window keeps every row such a window holds.
        let horizon = window.since - self.pace.lateness;
        state.settle(
            dated.iter().map(|(at, r)| (*at, r.offset.as_str())),
            horizon,
        );
        let mask = self.source.name_mask();
        let mut kept = Vec::with_capacity(dated.len());
        for (at, row) in dated {
            if kept_before.contains(&row.offset) {
                continue;
            }
            let matched = self.rules.classify(&row.log, &row.kind, &row.owner);
            // Each row is read once; its shape counts unless it is older than the window.
            if at >= window.since {
                if matched.is_none() {
                    out.unmatched_rows += 1;
                    tracing::debug!(provider = S::NAME, alert = %id, log = %row.log, kind = %row.kind, "Log row matched no rule; not counted.");
                }
                let rule = matched.as_ref().map(|m| m.rule);
                self.shapes
                    .record(shape(&row.log, &row.owner, mask), &row.kind, rule);
            }
            let activity = matched.and_then(|m| m.activity);
            kept.push(KeptRow { at, row, activity });
        }
        state.keep(kept, window.until);
        Ok(())
    }
}

#[async_trait]
impl<S: AlertSource> Collector for AlertCollector<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }

    async fn check(&mut self) -> Result<(), CollectError> {
        self.source.check().await
    }

    async fn collect(&mut self, window: Window) -> Result<Collected, CollectError> {
        self.source.refresh().await;
        // Forget what no window to come can hold (none starts more than `PTSD_LATENESS`
        // before this one).
        let horizon = window.since - self.pace.lateness;
        self.alerts.retain(|_, s| s.prune(horizon));
        let mut out = Collected::default();
        self.list(&window, &mut out).await?;
        let mut ids: Vec<(Timestamp, String)> = self
            .alerts
            .iter()
            .map(|(id, s)| (s.created, id.clone()))
            .collect();
        ids.sort();

        // Read the logs that are due ([`super::memory`]): new rows only.
        let mut renotify_reads = 0;
        let now = crate::clock::now();
        for (_, id) in &ids {
            let state = self.alerts.get_mut(id).expect("listed above");
            match state.read_now(window.until, now, &self.pace) {
                ReadNow::No => continue,
                ReadNow::Renotify if renotify_reads >= self.pace.renotify_per_poll => continue,
                ReadNow::Renotify => renotify_reads += 1,
                ReadNow::Changed => {}
            }
            self.read_log(id, &window, &mut out).await?;
        }

        // The window's events, from everything known: rows read now or before.
        let mut named = Vec::new();
        for (_, id) in &ids {
            let state = self.alerts.get_mut(id).expect("listed above");
            let alert = &state.alert;
            let service = alert.service();
            let incident = Incident {
                id: alert.id.clone(),
                created_at: Some(state.created),
                title: alert.message.clone(),
                service: Some(service.clone()),
                urgency: alert.priority.clone(),
            };
            if window.contains(state.created) {
                out.events.push(Event {
                    record_id: format!("{}/created", alert.id),
                    at: state.created,
                    kind: EventKind::Triggered {
                        service,
                        urgency: alert.priority.clone().unwrap_or_else(|| "none".into()),
                    },
                    incident: Some(incident.clone()),
                });
            }
            let classified: Vec<Classified<'_>> = state
                .rows
                .iter()
                .map(|k| Classified {
                    at: k.at,
                    row: &k.row,
                    activity: k.activity.clone(),
                })
                .collect();
            let log_current = state.read_updated_at.as_deref() == Some(alert.updated_at.as_str());
            for n in alert_events(
                alert,
                state.created,
                &classified,
                &window,
                &mut state.seen,
                log_current,
            ) {
                named.push((n, incident.clone()));
            }
        }
        // The people behind the names, asked of the source at once (one bulk look-up).
        let asked: Vec<(String, Timestamp)> = named
            .iter()
            .filter_map(|(n, _)| n.who.clone().map(|w| (w, n.at)))
            .collect();
        let mut people = self.source.people(&asked).await.into_iter();
        for (n, incident) in named {
            let person = match n.who {
                Some(_) => people.next().flatten(),
                None => None,
            };
            if let Some(event) = n.into_event(&incident, person) {
                out.events.push(event);
            }
        }
        if let Some(top) = self.shapes.report_due(std::time::Instant::now()) {
            let shapes: Vec<String> = top.iter().map(|(s, n)| format!("{n}× {s:?}")).collect();
            tracing::info!(provider = S::NAME, shapes = %shapes.join("; "), "Log rows no rule matched, most frequent shapes since the last report (counted for nobody; see `ptsd logs` and PTSD_LOG_RULES).");
        }
        Ok(out)
    }

    fn log_shapes(&self) -> Vec<LogShape> {
        self.shapes.all()
    }

    fn take_stats(&mut self) -> RequestStats {
        self.source.take_stats()
    }

    fn delivered(&mut self, until: Timestamp) {
        // The listing that read this window was delivered: later listings may start where it
        // is known to have covered.
        if let Some((listed, Some(covered))) = self.listing {
            if listed <= until {
                self.listed_until = Some(self.listed_until.map_or(covered, |l| l.max(covered)));
            }
        }
    }
}
