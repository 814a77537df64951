//! The Opsgenie alert model as its API documents it: the alert object (`BaseAlert`, with its
//! `owner` and `report`) and the activity-log row. Provider-neutral within the Opsgenie family:
//! Jira Service Management Operations serves the same alert and log objects under another
//! host, auth and envelope, so a second collector deserialises into these types and hands them
//! to [`super::events`]. No HTTP here.

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

/// One alert (`GET /v2/alerts` item). Only `id`, `createdAt` and `updatedAt` are required.
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Alert {
    pub(crate) id: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    #[serde(default)]
    pub(crate) priority: Option<String>,
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) integration: Option<Integration>,
    /// JSM Operations sends the integration flat (`integrationName`) instead of Opsgenie's
    /// nested `integration.name`.
    #[serde(default)]
    pub(crate) integration_name: Option<String>,
    #[serde(default)]
    pub(crate) source: Option<String>,
    /// `open` or `closed`.
    #[serde(default)]
    pub(crate) status: Option<String>,
    #[serde(default)]
    pub(crate) acknowledged: Option<bool>,
    /// The owner's username (`""` or missing for none).
    #[serde(default)]
    pub(crate) owner: Option<String>,
    /// What Opsgenie itself recorded of the response (documented fields).
    #[serde(default)]
    pub(crate) report: Option<Report>,
}

/// `integration` of an alert.
#[derive(Deserialize, Debug, Clone)]
pub(crate) struct Integration {
    #[serde(default)]
    pub(crate) name: Option<String>,
}

/// `report` of an alert: `ackTime` and `closeTime` in milliseconds from creation (the unit is
/// UNCONFIRMED; milliseconds is what every sample shows), `acknowledgedBy` and `closedBy` as
/// usernames. Numbers are read whether sent as integers, floats or strings.
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Report {
    #[serde(default)]
    pub(crate) ack_time: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) close_time: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) acknowledged_by: Option<String>,
    #[serde(default)]
    pub(crate) closed_by: Option<String>,
}

/// A duration in milliseconds as the report writes it; `None` unless a positive number (0 is
/// what an API that fills every field writes for "not yet").
fn millis(v: &Option<serde_json::Value>) -> Option<i64> {
    let ms = match v.as_ref()? {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()? as i64,
        _ => return None,
    };
    (ms > 0 && ms < 10 * 365 * 86_400_000).then_some(ms)
}

impl Report {
    /// Milliseconds from creation to the first acknowledgement.
    pub(crate) fn ack_ms(&self) -> Option<i64> {
        millis(&self.ack_time)
    }

    /// Milliseconds from creation to the close.
    pub(crate) fn close_ms(&self) -> Option<i64> {
        millis(&self.close_time)
    }
}

impl Alert {
    /// The service an incident counts under: the integration's name (nested or flat), else
    /// the alert's source, else `unknown`.
    pub(crate) fn service(&self) -> String {
        self.integration
            .as_ref()
            .and_then(|i| i.name.clone())
            .or_else(|| self.integration_name.clone())
            .or_else(|| self.source.clone())
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "unknown".into())
    }

    /// The owner's username, if any.
    pub(crate) fn owner(&self) -> Option<&str> {
        self.owner
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
    }

    /// Whether the alert is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("closed"))
    }
}

/// `created + ms`, if it is a time.
pub(crate) fn after(created: Timestamp, ms: i64) -> Option<Timestamp> {
    created.checked_add(SignedDuration::from_millis(ms)).ok()
}

/// One activity-log row (`GET /v2/alerts/{id}/logs` item; JSM's rows are read into it too).
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogRow {
    #[serde(default)]
    pub(crate) log: String,
    /// `system`, `alertRecipient`, `alertAction`, … (a coarse category, not an action); `""`
    /// when the row has none (rules of any type may match it).
    #[serde(default, rename = "type")]
    pub(crate) kind: String,
    /// A username, `System`, or an integration's name.
    #[serde(default)]
    pub(crate) owner: String,
    pub(crate) created_at: String,
    /// The row's cursor (an opaque key; Opsgenie's sort in time order).
    pub(crate) offset: String,
}
