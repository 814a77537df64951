//! An Opsgenie-model alert and its log rows → named events: what the rows say happened, plus a
//! safety net from the alert's documented fields (`report.ackTime` / `acknowledgedBy`,
//! `report.closeTime` / `closedBy`, `owner`), so that an acknowledgement, a close or an owner
//! cannot vanish when Opsgenie words its log rows differently from the rules.
//!
//! Provider-neutral within the Opsgenie family: the entry points take alerts and rows already
//! parsed ([`super::model`]) and a classifier ([`super::rules`]), and do no HTTP, so the Jira
//! Service Management Operations collector (the same alert and log objects) calls them with its
//! own API client. People stay names here ([`Named::who`]); the caller turns names into
//! people ([`Named::into_event`]) with its own directory.
//!
//! **The safety-net rule (nothing counted twice, through restarts and windows).** A record's
//! id is a function of the thing it counts, never of when or how its log was read. Every
//! recognised row counts under its own id `{alert}/{offset}`, whatever the report says. The
//! report describes one action of each kind: the first acknowledgement at `created + ackTime`,
//! the close at `created + closeTime`, and the owner. Each becomes an event with an id that
//! depends only on the alert and the report (`{alert}/report-ack/{ackTime}`,
//! `{alert}/report-close/{closeTime}`, `{alert}/report-owner/{ms}`), and only when no
//! recognised row read so far is that action ([`AlertSeen`]: a row of the same kind within
//! [`SAME_ACTION`] of the report's time; for the owner, an assignment row naming them). So a row
//! and the report never both count one action, and a row keeps its id when the alert changes
//! again after its log was read (acknowledged, then closed minutes later: issue 19). An
//! alert acknowledged, unacknowledged and acknowledged again counts two; an API that moves
//! `ackTime` to the latest acknowledgement gives each unrecognised one a new report id, each
//! counted once.
//!
//! What this rule cannot see: a log row that becomes visible only after a read that was current
//! (the alert's `updatedAt` had not moved, yet its log lacked the row) while the report already
//! named that action; the report would count it, then the row. Opsgenie's log is written with
//! the change that moves `updatedAt`, so this needs a log that lags its alert.
//!
//! The report speaks only for an alert whose log was read after its last change: while the
//! reading of a changed alert's log waits (the collector does not chase busy alerts), its newer
//! report is not used, so the report never counts an action whose row is only read later.
//!
//! The owner has no documented time: the safety net counts it at the owner's acknowledgement
//! (Opsgenie makes the acknowledger the owner) or else at the owner's close, and only when no
//! recognised row of the alert's log (as read so far, [`AlertSeen`]) assigned it to the owner.
//! An owner who neither acknowledged nor closed is not counted by the safety net.

use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};

use super::model::{after, Alert, LogRow};
use super::rules::{Action, Activity};
use crate::event::{Event, EventKind, Incident, Person, Window};

/// A recognised row and the report's action are the same action when their times differ by at
/// most this (the report is written from the same action; a row's time and the report's may
/// differ by rounding).
pub(crate) const SAME_ACTION: SignedDuration = SignedDuration::from_secs(2);

/// An event whose person is still the provider's name for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    pub(crate) record_id: String,
    pub(crate) at: Timestamp,
    pub(crate) action: Action,
    /// The username (or `System`, an integration) named; `None` when the row names nobody.
    pub(crate) who: Option<String>,
}

impl Named {
    /// The event, with `person` the one behind [`Named::who`]: an acknowledgement or close by
    /// nobody still ends the wait for time to acknowledge and resolve; a notification,
    /// assignment or escalation of nobody is no event.
    pub(crate) fn into_event(self, incident: &Incident, person: Option<Person>) -> Option<Event> {
        let kind = match (self.action, person) {
            (Action::Acknowledged, user) => EventKind::Acknowledged { user },
            (Action::Closed, user) => EventKind::Resolved { user },
            (Action::Notified(channel), Some(user)) => EventKind::Notified { user, channel },
            (Action::Assigned, Some(user)) => EventKind::Assigned { user },
            (Action::Escalated, Some(user)) => EventKind::Escalated { user },
            _ => return None,
        };
        Some(Event {
            record_id: self.record_id,
            at: self.at,
            kind,
            incident: Some(incident.clone()),
        })
    }
}

/// What the rows of one alert read so far established, kept between reads of its log (rows
/// are read from where the last read stopped).
#[derive(Debug, Clone, Default)]
pub(crate) struct AlertSeen {
    /// Usernames (lowercased) a recognised assignment row named.
    pub(crate) assigned: HashSet<String>,
    /// The times of the recognised acknowledgement rows.
    pub(crate) acknowledged: Vec<Timestamp>,
    /// The times of the recognised close rows.
    pub(crate) closed: Vec<Timestamp>,
}

impl AlertSeen {
    /// Takes in what `rows` establish (a row read again adds nothing new).
    fn learn(&mut self, rows: &[Classified<'_>]) {
        for r in rows {
            let Some(a) = &r.activity else { continue };
            match a.action {
                Action::Assigned => self
                    .assigned
                    .extend(a.people.iter().map(|p| p.to_ascii_lowercase())),
                Action::Acknowledged if !self.acknowledged.contains(&r.at) => {
                    self.acknowledged.push(r.at);
                }
                Action::Closed if !self.closed.contains(&r.at) => self.closed.push(r.at),
                _ => {}
            }
        }
    }
}

/// One row with its parsed time and what the rules made of it.
pub(crate) struct Classified<'r> {
    pub(crate) at: Timestamp,
    pub(crate) row: &'r LogRow,
    pub(crate) activity: Option<Activity>,
}

/// The report's actions of one alert, with their record ids and times.
struct ReportAction {
    id: String,
    at: Timestamp,
    action: Action,
    who: Option<String>,
}

fn report_actions(
    alert: &Alert,
    created: Timestamp,
) -> (Option<ReportAction>, Option<ReportAction>) {
    let report = alert.report.clone().unwrap_or_default();
    let name = |n: &Option<String>| {
        n.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let ack = report.ack_ms().and_then(|ms| {
        Some(ReportAction {
            id: format!("{}/report-ack/{ms}", alert.id),
            at: after(created, ms)?,
            action: Action::Acknowledged,
            who: name(&report.acknowledged_by),
        })
    });
    let close = report.close_ms().and_then(|ms| {
        Some(ReportAction {
            id: format!("{}/report-close/{ms}", alert.id),
            at: after(created, ms)?,
            action: Action::Closed,
            who: name(&report.closed_by),
        })
    });
    (ack, close)
}

/// The owner's report action: at the owner's acknowledgement, else at the owner's close.
fn owner_action(
    alert: &Alert,
    created: Timestamp,
    ack: Option<&ReportAction>,
    close: Option<&ReportAction>,
) -> Option<ReportAction> {
    let owner = alert.owner()?;
    let by_owner = |r: Option<&ReportAction>| {
        r.filter(|r| {
            r.who
                .as_deref()
                .is_some_and(|w| w.eq_ignore_ascii_case(owner))
        })
        .map(|r| r.at)
    };
    let at = by_owner(ack).or_else(|| by_owner(close))?;
    let ms = at.duration_since(created).as_millis();
    Some(ReportAction {
        id: format!("{}/report-owner/{ms}", alert.id),
        at,
        action: Action::Assigned,
        who: Some(owner.to_string()),
    })
}

/// Whether a recognised row already read lies within [`SAME_ACTION`] of `report`'s time.
fn covered(rows_at: &[Timestamp], report: &ReportAction) -> bool {
    rows_at
        .iter()
        .any(|at| at.duration_since(report.at).abs() <= SAME_ACTION)
}

/// The named events of `alert` (created at `created`) in `window`: one per person of each
/// recognised row in `rows` (oldest first), each under its own record id
/// `{alert}/{offset}`, then the report's actions that no recognised row read so far is
/// (see the module doc). `seen` is the alert's memory between reads; it is updated with
/// `rows`. `log_current`: the rows were read after the alert's last change; only then does
/// the report speak (a report newer than the rows read would count, from the report, an
/// action whose row is read later).
pub(crate) fn alert_events(
    alert: &Alert,
    created: Timestamp,
    rows: &[Classified<'_>],
    window: &Window,
    seen: &mut AlertSeen,
    log_current: bool,
) -> Vec<Named> {
    seen.learn(rows);
    let mut out = Vec::new();
    for r in rows {
        let Some(activity) = &r.activity else {
            continue;
        };
        if !window.contains(r.at) {
            continue;
        }
        let record_id = format!("{}/{}", alert.id, r.row.offset);
        match activity.action {
            Action::Acknowledged | Action::Closed => out.push(Named {
                record_id,
                at: r.at,
                action: activity.action,
                who: activity.people.first().cloned(),
            }),
            action => out.extend(activity.people.iter().map(|who| Named {
                record_id: record_id.clone(),
                at: r.at,
                action,
                who: Some(who.clone()),
            })),
        }
    }
    if !log_current {
        return out;
    }
    let (ack, close) = report_actions(alert, created);
    let owner = owner_action(alert, created, ack.as_ref(), close.as_ref());
    let owner_assigned = owner
        .as_ref()
        .and_then(|o| o.who.as_deref())
        .is_some_and(|o| seen.assigned.contains(&o.to_ascii_lowercase()));
    for (report, done) in [
        (ack.filter(|a| !covered(&seen.acknowledged, a)), false),
        (close.filter(|c| !covered(&seen.closed, c)), false),
        (owner, owner_assigned),
    ] {
        let Some(report) = report else { continue };
        if done || !window.contains(report.at) {
            continue;
        }
        out.push(Named {
            record_id: report.id,
            at: report.at,
            action: report.action,
            who: report.who,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::alerts::rules::classify;

    const T0: &str = "2026-03-02T03:00:00Z";

    fn t(secs: i64) -> Timestamp {
        T0.parse::<Timestamp>().unwrap() + SignedDuration::from_secs(secs)
    }

    fn alert(report: serde_json::Value, owner: &str) -> Alert {
        serde_json::from_value(serde_json::json!({
            "id": "a1", "createdAt": T0, "updatedAt": T0, "status": "closed",
            "owner": owner, "report": report,
        }))
        .unwrap()
    }

    fn row(secs: i64, log: &str, owner: &str, offset: &str) -> LogRow {
        LogRow {
            log: log.into(),
            kind: "system".into(),
            owner: owner.into(),
            created_at: t(secs).to_string(),
            offset: offset.into(),
        }
    }

    /// `rows` classified by the built-in rules.
    fn classified(rows: &[LogRow]) -> Vec<Classified<'_>> {
        rows.iter()
            .map(|r| Classified {
                at: r.created_at.parse().unwrap(),
                row: r,
                activity: classify(&r.log, &r.kind, &r.owner),
            })
            .collect()
    }

    fn events(
        alert: &Alert,
        rows: &[LogRow],
        seen: &mut AlertSeen,
    ) -> Vec<(String, i64, Action, Option<String>)> {
        let classified = classified(rows);
        let window = Window::new(t(-60), t(3600));
        alert_events(alert, t(0), &classified, &window, seen, true)
            .into_iter()
            .map(|n| {
                (
                    n.record_id,
                    n.at.duration_since(t(0)).as_secs(),
                    n.action,
                    n.who,
                )
            })
            .collect()
    }

    fn report() -> serde_json::Value {
        serde_json::json!({"ackTime": 100_000, "closeTime": 900_000,
            "acknowledgedBy": "grace@example.com", "closedBy": "ada@example.com"})
    }

    #[test]
    fn the_report_counts_what_no_row_was_recognised_as() {
        let a = alert(report(), "grace@example.com");
        let rows = [
            row(
                100,
                "Grace took it in the new app",
                "grace@example.com",
                "1_1",
            ),
            row(900, "Resolved, new wording", "ada@example.com", "1_2"),
        ];
        let got = events(&a, &rows, &mut AlertSeen::default());
        let g = Some("grace@example.com".to_string());
        assert_eq!(
            got,
            [
                (
                    "a1/report-ack/100000".into(),
                    100,
                    Action::Acknowledged,
                    g.clone()
                ),
                (
                    "a1/report-close/900000".into(),
                    900,
                    Action::Closed,
                    Some("ada@example.com".into())
                ),
                ("a1/report-owner/100000".into(), 100, Action::Assigned, g),
            ]
        );
    }

    #[test]
    fn recognised_rows_count_under_their_own_ids_and_silence_the_report() {
        let a = alert(report(), "grace@example.com");
        let rows = [
            row(
                5,
                "Alert owner changed to grace@example.com",
                "System",
                "1_0",
            ),
            row(
                101,
                "Alert acknowledged via web",
                "grace@example.com",
                "1_1",
            ),
            row(
                200,
                "Alert unacknowledged via web",
                "grace@example.com",
                "1_2",
            ),
            row(
                300,
                "Alert acknowledged via web",
                "grace@example.com",
                "1_3",
            ),
            row(900, "Alert closed via web", "ada@example.com", "1_4"),
        ];
        let got = events(&a, &rows, &mut AlertSeen::default());
        let ids: Vec<(&str, i64)> = got.iter().map(|(id, at, ..)| (id.as_str(), *at)).collect();
        // Every recognised row counts under its own id; the report's acknowledgement, close and
        // owner are each a recognised row already, so the report adds nothing.
        assert_eq!(
            ids,
            [
                ("a1/1_0", 5),
                ("a1/1_1", 101),
                ("a1/1_3", 300),
                ("a1/1_4", 900)
            ]
        );
        // Read in two parts (first while the alert was only assigned, its report then empty;
        // then after the acknowledgement): the same ids, nothing from the report.
        let mut seen = AlertSeen::default();
        let before_ack = alert(serde_json::json!({}), "grace@example.com");
        let first = events(&before_ack, &rows[..1], &mut seen);
        let acked = alert(
            serde_json::json!({"ackTime": 100_000, "acknowledgedBy": "grace@example.com"}),
            "grace@example.com",
        );
        let second = events(&acked, &rows[1..2], &mut seen);
        let ids: Vec<&str> = first.iter().chain(&second).map(|e| e.0.as_str()).collect();
        assert_eq!(ids, ["a1/1_0", "a1/1_1"]);
    }

    /// Issue 19: an alert acknowledged, its log read, then changed again (closed minutes
    /// later) before the next read. The later analysis of the same kept rows runs with
    /// `log_current = false`; the acknowledgement must keep the record id it was first counted
    /// under, or the engine counts it twice.
    #[test]
    fn an_acknowledgement_keeps_its_record_id_when_the_alert_changes_again() {
        let a = alert(report(), "grace@example.com");
        let rows = [row(
            100,
            "Alert acknowledged via web",
            "grace@example.com",
            "1_1",
        )];
        let classified = classified(&rows);
        let window = Window::new(t(-60), t(3600));
        let mut seen = AlertSeen::default();
        let mut ids = std::collections::BTreeSet::new();
        for log_current in [true, false, true] {
            for n in alert_events(&a, t(0), &classified, &window, &mut seen, log_current) {
                if n.action == Action::Acknowledged {
                    ids.insert(n.record_id);
                }
            }
        }
        assert_eq!(ids.len(), 1, "one acknowledgement, one record id: {ids:?}");
    }

    #[test]
    fn an_owner_without_a_documented_time_is_left_to_the_rows() {
        // Owner edsger neither acknowledged nor closed: no time to count an assignment at.
        let a = alert(report(), "edsger@example.com");
        let got = events(&a, &[], &mut AlertSeen::default());
        assert!(got.iter().all(|e| e.2 != Action::Assigned), "{got:?}");
        // No report at all, zero times, junk: nothing.
        for r in [
            serde_json::json!({}),
            serde_json::json!({"ackTime": 0, "closeTime": "x"}),
        ] {
            assert!(events(&alert(r, ""), &[], &mut AlertSeen::default()).is_empty());
        }
        // A time sent as a string or float still counts.
        let a = alert(
            serde_json::json!({"ackTime": "60000", "closeTime": 120000.0}),
            "",
        );
        let got = events(&a, &[], &mut AlertSeen::default());
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got[0].3, None,
            "no acknowledgedBy: nobody's, still a time to ack"
        );
    }
}
