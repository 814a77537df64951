//! Builders for PagerDuty REST v2 log entries and users in their real JSON shape
//! (PagerDuty's REST API reference: log entries, users, notification types), and the bucket a notification type counts in.
//! The generator of whole incident lifecycles built from them is in [`super::synthetic`].
//!
//! Why: integration tests feed these to [`super::FakePagerDuty`], so the daemon is tested
//! against the shapes PagerDuty really sends (agents with `user_reference` vs
//! `integration_reference`, `channel.notification` on notify entries, `assignees[]`, full
//! incidents that the fake reduces to references) rather than against its own idea of them.
//!
//! Every entry carries the *full* incident object (`type: "incident"`, with `urgency` and
//! `service`); the fake reduces it to an `incident_reference` unless the request has
//! `include[]=incidents`, like the real API. `created_at` is written in UTC (`Z`); the fake
//! re-renders it in the requested `time_zone`.

use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::super::common::fnv1a;

/// Host used in `self` links, as in real responses.
pub const API_BASE: &str = "https://api.pagerduty.com";
/// Host used in `html_url` links.
pub const WEB_BASE: &str = "https://acme.pagerduty.com";

/// The id a service gets from its name: `"PSVC"` + 6 hex digits of a hash of the name.
pub fn service_id(name: &str) -> String {
    format!("PSVC{:06X}", fnv1a(name) & 0x00FF_FFFF)
}

/// `service_reference` for a service named `name` (id from [`service_id`]).
pub fn service_ref(name: &str) -> Value {
    let id = service_id(name);
    json!({
        "id": id, "type": "service_reference", "summary": name,
        "self": format!("{API_BASE}/services/{id}"),
        "html_url": format!("{WEB_BASE}/service-directory/{id}"),
    })
}

/// `user_reference` for a user.
pub fn user_ref(id: &str, name: &str) -> Value {
    json!({
        "id": id, "type": "user_reference", "summary": name,
        "self": format!("{API_BASE}/users/{id}"),
        "html_url": format!("{WEB_BASE}/users/{id}"),
    })
}

/// An `agent` reference of the given type: `user_reference`, `service_reference` or
/// `integration_reference` (any other string is passed through as the type).
pub fn agent_ref(id: &str, name: &str, agent_type: &str) -> Value {
    let collection = match agent_type {
        "user_reference" => "users",
        "service_reference" => "services",
        _ => "integrations",
    };
    json!({
        "id": id, "type": agent_type, "summary": name,
        "self": format!("{API_BASE}/{collection}/{id}"),
        "html_url": null,
    })
}

/// The incident every builder attaches to its entry (as a full `incident` object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: String,
    pub number: u64,
    pub title: String,
    pub service_name: String,
    /// `"high"` or `"low"`.
    pub urgency: String,
    /// First trigger time; rendered as the incident's `created_at` when set.
    pub created_at: Option<Timestamp>,
}

impl Incident {
    /// An incident on service `service_name` with `urgency` (`"high"`/`"low"`). The number and
    /// title are derived from the id; override them with [`Incident::with_number`] /
    /// [`Incident::with_title`].
    pub fn new(id: &str, service_name: &str, urgency: &str) -> Incident {
        Incident {
            id: id.to_string(),
            number: 1000 + u64::from(fnv1a(id) % 9000),
            title: format!("{service_name}: alert {id}"),
            service_name: service_name.to_string(),
            urgency: urgency.to_string(),
            created_at: None,
        }
    }

    pub fn with_number(mut self, number: u64) -> Incident {
        self.number = number;
        self
    }

    pub fn with_title(mut self, title: &str) -> Incident {
        self.title = title.to_string();
        self
    }

    pub fn with_created_at(mut self, at: Timestamp) -> Incident {
        self.created_at = Some(at);
        self
    }

    /// `"[#<number>] <title>"`, PagerDuty's incident summary.
    pub fn summary(&self) -> String {
        format!("[#{}] {}", self.number, self.title)
    }

    /// The `incident_reference` the fake returns without `include[]=incidents`.
    pub fn reference(&self) -> Value {
        json!({
            "id": self.id, "type": "incident_reference", "summary": self.summary(),
            "self": format!("{API_BASE}/incidents/{}", self.id),
            "html_url": format!("{WEB_BASE}/incidents/{}", self.id),
        })
    }

    /// The full `incident` object (what `include[]=incidents` returns).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id, "type": "incident", "summary": self.summary(),
            "self": format!("{API_BASE}/incidents/{}", self.id),
            "html_url": format!("{WEB_BASE}/incidents/{}", self.id),
            "incident_number": self.number,
            "title": self.title,
            "status": "triggered",
            "urgency": self.urgency,
            "incident_key": format!("key-{}", self.id.to_lowercase()),
            "service": service_ref(&self.service_name),
            "escalation_policy": {
                "id": "PEP0001", "type": "escalation_policy_reference",
                "summary": "Default escalation policy",
            },
            "teams": [],
            "assignments": [],
            "acknowledgements": [],
            "assigned_via": "escalation_policy",
            "priority": null,
            "alert_counts": { "all": 1, "triggered": 1, "resolved": 0 },
            "pending_actions": [],
        });
        if let Some(at) = self.created_at {
            v["created_at"] = json!(at.to_string());
        }
        v
    }
}

/// Fields every log entry has (`id`, `type`, `summary`, `self`, `html_url`, `created_at`,
/// `service`, `incident`, `teams`, `contexts`).
fn base(
    id: &str,
    kind: &str,
    summary: String,
    at: Timestamp,
    inc: &Incident,
) -> Map<String, Value> {
    let v = json!({
        "id": id,
        "type": kind,
        "summary": summary,
        "self": format!("{API_BASE}/log_entries/{id}"),
        "html_url": null,
        "created_at": at.to_string(),
        "service": service_ref(&inc.service_name),
        "incident": inc.to_json(),
        "teams": [],
        "contexts": [],
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("json! object literal"),
    }
}

/// The incident's service as an entry's `agent`.
fn service_agent(inc: &Incident) -> Value {
    agent_ref(
        &service_id(&inc.service_name),
        &inc.service_name,
        "service_reference",
    )
}

fn channel_for_agent(agent_type: &str) -> Value {
    if agent_type == "user_reference" {
        json!({ "type": "website" })
    } else {
        json!({ "type": "api" })
    }
}

/// `trigger_log_entry`: triggered through the API by the incident's service.
pub fn trigger(id: &str, at: Timestamp, inc: &Incident) -> Value {
    let mut m = base(
        id,
        "trigger_log_entry",
        "Triggered through the API.".into(),
        at,
        inc,
    );
    m.insert("agent".into(), service_agent(inc));
    m.insert(
        "channel".into(),
        json!({
            "type": "api", "summary": inc.title,
            "incident_key": format!("key-{}", inc.id.to_lowercase()),
        }),
    );
    m.insert("event_details".into(), json!({ "description": inc.title }));
    Value::Object(m)
}

fn notification_label(notification_type: &str) -> &'static str {
    match channel_bucket(notification_type) {
        "sms" => "SMS",
        "phone" => "phone",
        "email" => "email",
        "push" => "push notification",
        _ => "other",
    }
}

/// `notify_log_entry`: `user` is the person notified, the contact method is
/// `channel.notification.type` (e.g. `"sms"`, `"phone"`, `"email"`, `"push_notification"`,
/// `"sms_notification"`; any string is stored as given).
pub fn notify(
    id: &str,
    at: Timestamp,
    inc: &Incident,
    user_id: &str,
    user_name: &str,
    notification_type: &str,
) -> Value {
    let summary = format!(
        "Notified {user_name} by {}",
        notification_label(notification_type)
    );
    let address = match channel_bucket(notification_type) {
        "email" => json!(format!(
            "{}@example.com",
            user_name.to_lowercase().replace(' ', ".")
        )),
        "push" => Value::Null,
        _ => json!(format!("+1555{:07}", fnv1a(user_id) % 10_000_000)),
    };
    let mut m = base(id, "notify_log_entry", summary, at, inc);
    m.insert(
        "channel".into(),
        json!({
            "type": "auto",
            "notification": {
                "type": notification_type, "address": address,
                "status": "success", "started_at": at.to_string(),
            },
        }),
    );
    m.insert("user".into(), user_ref(user_id, user_name));
    Value::Object(m)
}

/// `acknowledge_log_entry` by `agent_type` = `"user_reference"` | `"service_reference"` |
/// `"integration_reference"`.
pub fn acknowledge(
    id: &str,
    at: Timestamp,
    inc: &Incident,
    agent_id: &str,
    agent_name: &str,
    agent_type: &str,
) -> Value {
    let agent = [agent_id, agent_name, agent_type];
    let mut m = by_agent(id, "acknowledge_log_entry", "Acknowledged", at, inc, agent);
    m.insert("acknowledgement_timeout".into(), json!(1800));
    Value::Object(m)
}

/// An entry an agent writes ([`acknowledge`], [`resolve`]), `agent` being `[id, name, type]`:
/// summary "`<verb>` by `<name>`" for a user, "`<verb>` through the API." for anything else.
fn by_agent(
    id: &str,
    kind: &str,
    verb: &str,
    at: Timestamp,
    inc: &Incident,
    agent: [&str; 3],
) -> Map<String, Value> {
    let [agent_id, agent_name, agent_type] = agent;
    let summary = if agent_type == "user_reference" {
        format!("{verb} by {agent_name}")
    } else {
        format!("{verb} through the API.")
    };
    let mut m = base(id, kind, summary, at, inc);
    m.insert("agent".into(), agent_ref(agent_id, agent_name, agent_type));
    m.insert("channel".into(), channel_for_agent(agent_type));
    m
}

fn assignee_list(assignees: &[(&str, &str)]) -> (Value, String) {
    let refs: Vec<Value> = assignees.iter().map(|(i, n)| user_ref(i, n)).collect();
    let names: Vec<&str> = assignees.iter().map(|(_, n)| *n).collect();
    (Value::Array(refs), names.join(", "))
}

/// `assign_log_entry` (by the service, through the escalation policy); `assignees` are
/// `(user_id, user_name)` pairs.
pub fn assign(id: &str, at: Timestamp, inc: &Incident, assignees: &[(&str, &str)]) -> Value {
    let (refs, names) = assignee_list(assignees);
    let summary = format!("Assigned to {names}.");
    by_policy(id, "assign_log_entry", summary, at, inc, refs)
}

/// `escalate_log_entry` by timeout (service agent); `assignees` are `(user_id, user_name)`.
pub fn escalate(id: &str, at: Timestamp, inc: &Incident, assignees: &[(&str, &str)]) -> Value {
    let (refs, names) = assignee_list(assignees);
    let summary = format!("Escalated to {names} by timeout");
    by_policy(id, "escalate_log_entry", summary, at, inc, refs)
}

/// An entry the escalation policy writes ([`assign`], [`escalate`]): the service as agent, an
/// `auto` channel, and the `assignees` references.
fn by_policy(
    id: &str,
    kind: &str,
    summary: String,
    at: Timestamp,
    inc: &Incident,
    assignees: Value,
) -> Value {
    let mut m = base(id, kind, summary, at, inc);
    m.insert("agent".into(), service_agent(inc));
    m.insert("channel".into(), json!({ "type": "auto" }));
    m.insert("assignees".into(), assignees);
    Value::Object(m)
}

/// `resolve_log_entry` by `agent_type` (see [`acknowledge`]).
pub fn resolve(
    id: &str,
    at: Timestamp,
    inc: &Incident,
    agent_id: &str,
    agent_name: &str,
    agent_type: &str,
) -> Value {
    let agent = [agent_id, agent_name, agent_type];
    Value::Object(by_agent(
        id,
        "resolve_log_entry",
        "Resolved",
        at,
        inc,
        agent,
    ))
}

/// A `user` object as `GET /users` returns it. `time_zone: None` is a real case (the account
/// zone applies).
pub fn user(id: &str, name: &str, email: &str, time_zone: Option<&str>) -> Value {
    json!({
        "id": id, "type": "user", "summary": name,
        "self": format!("{API_BASE}/users/{id}"),
        "html_url": format!("{WEB_BASE}/users/{id}"),
        "name": name, "email": email, "time_zone": time_zone,
        "color": "purple", "role": "user", "job_title": "SRE",
        "invitation_sent": false, "teams": [],
        "contact_methods": [], "notification_rules": [],
    })
}

/// The bucket a notification type counts in: `sms`, `phone`, `email`, `push` or `other`.
/// Rule (PagerDuty documents it): strip a `_notification` suffix, anything containing `push` is `push`.
pub fn channel_bucket(notification_type: &str) -> &'static str {
    let t = notification_type.to_ascii_lowercase();
    let t = t.strip_suffix("_notification").unwrap_or(&t);
    if t.contains("push") {
        return "push";
    }
    match t {
        "sms" => "sms",
        "phone" => "phone",
        "email" => "email",
        _ => "other",
    }
}
