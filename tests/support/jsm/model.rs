//! What the JSM fake serves: alerts rendered in JSM's shape (the Opsgenie fake's [`OgAlert`]
//! with JSM's flat integration fields), Jira users ([`jsm_user`]), and the Opsgenie generator's
//! lifecycles with people named by Atlassian account id ([`jsm_synthetic`]).

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{json, Value};

use super::super::opsgenie::{
    og_match_log, og_report, og_synthetic, og_time, OgAlert, OgExpected, OgLog, OG_SYNTHETIC_USERS,
};
use super::server::StoredAlert;

/// The account ids standing in for [`OG_SYNTHETIC_USERS`], in the same order: both documented
/// forms (24 hex digits, and `<digits>:<uuid>`).
pub const JSM_ACCOUNT_IDS: [&str; 3] = [
    "5b10ac8d82e05b22cc7d4ada",
    "557058:f58131cb-b67d-43c7-b30d-6b58d40bc0b0",
    "712020:0e3b1f2c-1111-4a2b-9c3d-00000000d1e5",
];

/// A user as Jira's user API returns it; `time_zone` `""` leaves `timeZone` out.
pub fn jsm_user(account_id: &str, display_name: &str, email: &str, time_zone: &str) -> Value {
    let mut u = json!({
        "self": format!("https://example.atlassian.net/rest/api/3/user?accountId={account_id}"),
        "accountId": account_id,
        "accountType": "atlassian",
        "emailAddress": email,
        "displayName": display_name,
        "active": true,
        "locale": "en_US",
    });
    if !time_zone.is_empty() {
        u["timeZone"] = json!(time_zone);
    }
    u
}

/// The users of [`jsm_synthetic`]: [`OG_SYNTHETIC_USERS`] under [`JSM_ACCOUNT_IDS`].
pub fn jsm_synthetic_users() -> Vec<Value> {
    OG_SYNTHETIC_USERS
        .iter()
        .zip(JSM_ACCOUNT_IDS)
        .map(|((_, email, name, tz), id)| jsm_user(id, name, email, tz))
        .collect()
}

/// `text` with every synthetic username replaced by its account id.
pub fn jsm_named(text: &str) -> String {
    OG_SYNTHETIC_USERS
        .iter()
        .zip(JSM_ACCOUNT_IDS)
        .fold(text.to_string(), |t, ((_, email, _, _), id)| {
            t.replace(email, id)
        })
}

/// A row of the Opsgenie builders with its people named by account id.
pub fn jsm_row(log: OgLog) -> OgLog {
    OgLog {
        log: jsm_named(&log.log),
        owner: jsm_named(&log.owner),
        ..log
    }
}

/// [`og_synthetic`] with people named by account id: the same lifecycles and the same expected
/// counts (keyed by display name). Without `report` (the fake's default, as JSM's documented
/// sample), less the owners only the alert's `report` and `owner` fields tell together: the
/// safety net counts them only when the alert carries a report.
pub fn jsm_synthetic(
    n: usize,
    start: Timestamp,
    spacing: Duration,
    seed: u64,
    report: bool,
) -> (Vec<(OgAlert, Vec<OgLog>)>, OgExpected) {
    let (items, mut expected) = og_synthetic(n, start, spacing, seed);
    let owners_by_ack = std::mem::take(&mut expected.owners_by_ack);
    for (who, n) in owners_by_ack.iter().filter(|_| !report) {
        if let Some(a) = expected.assignments.get_mut(who) {
            *a -= n;
            if *a == 0 {
                expected.assignments.remove(who);
            }
        }
    }
    let items = items
        .into_iter()
        .map(|(mut a, rows)| {
            a.owner = jsm_named(&a.owner);
            (a, rows.into_iter().map(jsm_row).collect())
        })
        .collect();
    (items, expected)
}

/// An alert as `GET /v1/alerts` lists it (fields as in the documented sample: flat
/// `integrationName` / `integrationType`, `acknowledged` from the latest ack/unack row).
/// With `report`, Opsgenie's `report` object too ([`og_report`]; the other reading).
pub(super) fn render_alert(stored: &StoredAlert, report: bool) -> Value {
    let a = &stored.alert;
    let mut acknowledged = false;
    for r in &stored.rows {
        if r.log.log.starts_with("Alert acknowledged") {
            acknowledged = true;
        } else if r.log.log.starts_with("Alert unacknowledged") {
            acknowledged = false;
        }
    }
    let mut alert = json!({
        "id": a.id,
        "tinyId": a.tiny_id,
        "createdAt": og_time(a.created_at),
        "updatedAt": og_time(a.updated_at),
        "message": a.message,
        "entity": "",
        "source": a.integration_name,
        "status": a.status,
        "alias": format!("{}-{}", a.integration_name.to_lowercase(), a.tiny_id),
        "tags": [],
        "acknowledged": acknowledged,
        "count": 1,
        "owner": a.owner,
        "snoozed": false,
        "lastOccuredAt": og_time(a.created_at),
        "integrationType": a.integration_name,
        "integrationName": format!("{}", a.integration_name),
        "priority": a.priority,
        "responders": [],
        "actions": [],
        "seen": acknowledged,
    });
    if report {
        let rows = stored.rows.iter().map(|r| {
            let action = og_match_log(&r.log.log).map(|(text, _)| text.action);
            (action, r.log.created_at, r.log.owner.as_str())
        });
        alert["report"] = Value::Object(og_report(a, rows));
    }
    alert
}
