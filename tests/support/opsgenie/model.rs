//! The objects the Opsgenie fake serves: alerts ([`OgAlert`], rendered as Opsgenie's
//! `BaseAlert` with the fields derived from its log rows), users ([`og_user`]) and timestamps
//! ([`og_time`]).
//!
//! Why apart: tests build these directly, and the derived fields (`acknowledged`, `report`, …)
//! are a model of Opsgenie of their own, separate from routing and paging.

use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::super::common::fnv1a;
use super::server::StoredAlert;

/// An alert as the fake stores it. Rendered as Opsgenie's `BaseAlert` (see
/// [`FakeOpsgenie`] for the derived fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OgAlert {
    /// UUID-like alert id (`identifierType=id`).
    pub id: String,
    /// The short numeric id shown in the UI (`tinyId`).
    pub tiny_id: String,
    pub message: String,
    /// `"P1"`..`"P5"`.
    pub priority: String,
    /// `integration.name` (and `type`, and `source`).
    pub integration_name: String,
    pub created_at: Timestamp,
    /// Moved forward by [`FakeOpsgenie::add_log`] when a later row arrives (notification rows
    /// excepted in the mode [`FakeOpsgenie::set_notifications_move_updated_at`] `(false)`).
    pub updated_at: Timestamp,
    /// `"open"` or `"closed"`.
    pub status: String,
    /// Username of the owner, `""` for none.
    pub owner: String,
}

impl OgAlert {
    /// An open, unowned alert created (and last updated) at `created_at`.
    pub fn new(
        id: &str,
        tiny_id: &str,
        message: &str,
        priority: &str,
        integration_name: &str,
        created_at: Timestamp,
    ) -> OgAlert {
        OgAlert {
            id: id.to_string(),
            tiny_id: tiny_id.to_string(),
            message: message.to_string(),
            priority: priority.to_string(),
            integration_name: integration_name.to_string(),
            created_at,
            updated_at: created_at,
            status: "open".to_string(),
            owner: String::new(),
        }
    }
}

/// An Opsgenie timestamp: ISO-8601 in UTC with milliseconds, e.g. `2026-03-02T03:14:04.120Z`.
pub fn og_time(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A UUID-shaped id derived from `kind` and `name`.
fn derived_id(kind: &str, name: &str) -> String {
    let h = fnv1a(&format!("{kind}:{name}"));
    format!(
        "{h:08x}-{:04x}-4000-8000-{:012x}",
        h >> 16,
        u64::from(h) * 7
    )
}

/// The `BaseAlert` JSON of a stored alert (derived fields: see [`FakeOpsgenie`]).
pub(super) fn render_alert(stored: &StoredAlert) -> Value {
    let a = &stored.alert;
    let mut acknowledged = false;
    let mut seen = false;
    for row in &stored.logs {
        match row.action() {
            Some("acked" | "acked_by_integration") => {
                acknowledged = true;
                seen = true;
            }
            Some("unacked") => acknowledged = false,
            Some("viewed") => seen = true,
            _ => {}
        }
    }
    let report = og_report(
        a,
        stored
            .logs
            .iter()
            .map(|r| (r.action(), r.log.created_at, r.log.owner.as_str())),
    );
    let integration = &a.integration_name;
    let team_id = derived_id("team", integration);
    json!({
        "id": a.id,
        "tinyId": a.tiny_id,
        "alias": format!("{}-{}", integration.to_lowercase().replace(' ', "-"), a.tiny_id),
        "message": a.message,
        "status": a.status,
        "acknowledged": acknowledged,
        "isSeen": seen,
        "tags": [],
        "snoozed": false,
        "count": 1,
        "lastOccurredAt": og_time(a.created_at),
        "createdAt": og_time(a.created_at),
        "updatedAt": og_time(a.updated_at),
        "source": integration,
        "owner": a.owner,
        "priority": a.priority,
        "responders": [ { "type": "team", "id": team_id } ],
        "integration": {
            "id": derived_id("integration", integration),
            "name": integration,
            "type": integration,
        },
        "report": report,
        "ownerTeamId": team_id,
    })
}

/// The `report` an alert's rows (each as its action, time and owner, oldest first) make:
/// `ackTime` / `acknowledgedBy` from the first acknowledgement, `closeTime` / `closedBy` from
/// the close of a closed alert, times in milliseconds from creation.
pub fn og_report<'r>(
    a: &OgAlert,
    rows: impl Iterator<Item = (Option<&'static str>, Timestamp, &'r str)>,
) -> Map<String, Value> {
    let since_creation =
        |at: Timestamp| (at.as_millisecond() - a.created_at.as_millisecond()).max(0);
    let mut report = Map::new();
    for (action, at, owner) in rows {
        match action {
            Some("acked" | "acked_by_integration") if !report.contains_key("ackTime") => {
                report.insert("ackTime".into(), json!(since_creation(at)));
                report.insert("acknowledgedBy".into(), json!(owner));
            }
            Some("closed" | "closed_by_integration")
                if a.status == "closed" && !report.contains_key("closeTime") =>
            {
                report.insert("closeTime".into(), json!(since_creation(at)));
                report.insert("closedBy".into(), json!(owner));
            }
            _ => {}
        }
    }
    report
}

/// A user object as `GET /v2/users` returns it. `time_zone` `""` leaves `timeZone` out (a real
/// case: the account zone applies).
pub fn og_user(id: &str, username: &str, full_name: &str, time_zone: &str) -> Value {
    let mut u = json!({
        "id": id,
        "username": username,
        "fullName": full_name,
        "role": { "id": "User", "name": "User" },
        "locale": "en_US",
        "userAddress": { "country": "", "state": "", "city": "", "line": "", "zipCode": "" },
        "tags": [],
        "details": {},
        "blocked": false,
        "verified": true,
        "createdAt": "2021-06-01T09:00:00.000Z",
    });
    if !time_zone.is_empty() {
        u["timeZone"] = json!(time_zone);
    }
    u
}
