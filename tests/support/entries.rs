//! Builders for PagerDuty REST v2 log entries and users in their real JSON shape
//! (`/work/shared/api-notes.md` §2, §4, §5), plus a deterministic generator of whole incident
//! lifecycles with the exact counts a correct poller must emit for them.
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

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Map, Value};

/// Host used in `self` links, as in real responses.
pub const API_BASE: &str = "https://api.pagerduty.com";
/// Host used in `html_url` links.
pub const WEB_BASE: &str = "https://acme.pagerduty.com";

/// 32-bit FNV-1a: a stable short hash for ids derived from names.
fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

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
    m.insert(
        "agent".into(),
        agent_ref(
            &service_id(&inc.service_name),
            &inc.service_name,
            "service_reference",
        ),
    );
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
    let summary = if agent_type == "user_reference" {
        format!("Acknowledged by {agent_name}")
    } else {
        "Acknowledged through the API.".to_string()
    };
    let mut m = base(id, "acknowledge_log_entry", summary, at, inc);
    m.insert("agent".into(), agent_ref(agent_id, agent_name, agent_type));
    m.insert("channel".into(), channel_for_agent(agent_type));
    m.insert("acknowledgement_timeout".into(), json!(1800));
    Value::Object(m)
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
    let mut m = base(
        id,
        "assign_log_entry",
        format!("Assigned to {names}."),
        at,
        inc,
    );
    m.insert(
        "agent".into(),
        agent_ref(
            &service_id(&inc.service_name),
            &inc.service_name,
            "service_reference",
        ),
    );
    m.insert("channel".into(), json!({ "type": "auto" }));
    m.insert("assignees".into(), refs);
    Value::Object(m)
}

/// `escalate_log_entry` by timeout (service agent); `assignees` are `(user_id, user_name)`.
pub fn escalate(id: &str, at: Timestamp, inc: &Incident, assignees: &[(&str, &str)]) -> Value {
    let (refs, names) = assignee_list(assignees);
    let mut m = base(
        id,
        "escalate_log_entry",
        format!("Escalated to {names} by timeout"),
        at,
        inc,
    );
    m.insert(
        "agent".into(),
        agent_ref(
            &service_id(&inc.service_name),
            &inc.service_name,
            "service_reference",
        ),
    );
    m.insert("channel".into(), json!({ "type": "auto" }));
    m.insert("assignees".into(), refs);
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
    let summary = if agent_type == "user_reference" {
        format!("Resolved by {agent_name}")
    } else {
        "Resolved through the API.".to_string()
    };
    let mut m = base(id, "resolve_log_entry", summary, at, inc);
    m.insert("agent".into(), agent_ref(agent_id, agent_name, agent_type));
    m.insert("channel".into(), channel_for_agent(agent_type));
    Value::Object(m)
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
/// Rule (api-notes §2): strip a `_notification` suffix, anything containing `push` is `push`.
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

/// The users [`synthetic_incidents`] draws from: `(id, name, email, time_zone)`.
pub const SYNTHETIC_USERS: [SyntheticUser; 4] = [
    (
        "PUSRADA",
        "Ada Lovelace",
        "ada@example.com",
        "Europe/London",
    ),
    (
        "PUSRGRH",
        "Grace Hopper",
        "grace@example.com",
        "America/New_York",
    ),
    (
        "PUSREWD",
        "Edsger Dijkstra",
        "edsger@example.com",
        "Europe/Amsterdam",
    ),
    (
        "PUSRBLI",
        "Barbara Liskov",
        "barbara@example.com",
        "America/Los_Angeles",
    ),
];

/// The services [`synthetic_incidents`] draws from.
pub const SYNTHETIC_SERVICES: [&str; 3] = ["Checkout API", "Search Indexer", "Billing Worker"];

/// The integration that acks/resolves some synthetic incidents (never counted per user).
pub const SYNTHETIC_INTEGRATION: (&str, &str) = ("PINTDD1", "Datadog");

/// Notification types used by the generator: the spellings seen in the wild and in the spec.
const NOTIFICATION_TYPES: [&str; 7] = [
    "sms",
    "phone",
    "email",
    "push_notification",
    "sms_notification",
    "phone_notification",
    "email_notification",
];

/// All [`SYNTHETIC_USERS`] as `GET /users` objects (a superset of those a seed uses).
pub fn synthetic_users() -> Vec<Value> {
    SYNTHETIC_USERS
        .iter()
        .map(|(id, name, email, tz)| user(id, name, email, Some(tz)))
        .collect()
}

/// What a correct poller must count for the entries of [`synthetic_incidents`].
/// Keys are user names, service names, urgencies; notification keys are
/// `(user_name, bucket)` with bucket in `sms|phone|email|push|other`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedCounts {
    /// Number of incidents (= trigger entries).
    pub incidents: u64,
    /// Number of log entries generated.
    pub entries: usize,
    pub incidents_by_urgency: BTreeMap<String, u64>,
    pub incidents_by_service: BTreeMap<String, u64>,
    /// One per notify entry, keyed by the notified user (`user`), not the agent.
    pub notifications: BTreeMap<(String, String), u64>,
    /// Only acks whose agent is a `user_reference`.
    pub acks: BTreeMap<String, u64>,
    /// One per assignee of each `assign_log_entry`.
    pub assignments: BTreeMap<String, u64>,
    /// One per assignee of each `escalate_log_entry`.
    pub escalations: BTreeMap<String, u64>,
    /// Only resolves whose agent is a `user_reference`.
    pub resolves: BTreeMap<String, u64>,
}

fn bump<K: Ord>(map: &mut BTreeMap<K, u64>, key: K) {
    *map.entry(key).or_insert(0) += 1;
}

/// splitmix64: a tiny deterministic PRNG so generated data depends only on the seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn plus(t: Timestamp, secs: u64) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(secs as i64))
        .expect("synthetic timestamp out of range")
}

/// `(id, name, email, time_zone)` of a synthetic user.
pub type SyntheticUser = (&'static str, &'static str, &'static str, &'static str);

/// One round of notifications: each user in `who` gets 1–3 contact methods of distinct
/// buckets (each method pages once per round), rarely plus an unknown `"slack"` type.
#[allow(clippy::too_many_arguments)]
fn notify_round(
    inc: &Incident,
    users: &[SyntheticUser],
    who: &[usize],
    at: Timestamp,
    rng: &mut SplitMix64,
    next_id: &mut dyn FnMut() -> String,
    out: &mut Vec<Value>,
    c: &mut ExpectedCounts,
) {
    let mut t = at;
    for &u in who {
        let n = 1 + rng.below(3) as usize;
        let mut types: Vec<&str> = Vec::new();
        while types.len() < n {
            let ty = NOTIFICATION_TYPES[rng.below(NOTIFICATION_TYPES.len() as u64) as usize];
            if !types
                .iter()
                .any(|x| channel_bucket(x) == channel_bucket(ty))
            {
                types.push(ty);
            }
        }
        if rng.chance(5) {
            types.push("slack");
        }
        for ty in types {
            out.push(notify(&next_id(), t, inc, users[u].0, users[u].1, ty));
            bump(
                &mut c.notifications,
                (users[u].1.to_string(), channel_bucket(ty).to_string()),
            );
            t = plus(t, 1);
        }
    }
}

/// Generates `n_incidents` realistic lifecycles starting at `start`, one every `spacing`:
/// trigger → assign (sometimes 2 assignees) → 1–3 notifications per assignee → optional
/// timeout escalation to another user (+ its notifications) → optional ack by the current
/// responder or by an integration → optional resolve by a user or an integration.
/// Uses 3–4 users and 2–3 services depending on `seed`; each incident spans at most ~2 h.
/// Rarely a notification of an unknown type (`"slack"`) is added: it counts as `other`.
///
/// Entries are returned in chronological order; ids are unique per `(seed & 0xFFFF, index)`.
pub fn synthetic_incidents(
    n_incidents: usize,
    start: Timestamp,
    spacing: Duration,
    seed: u64,
) -> (Vec<Value>, ExpectedCounts) {
    let mut rng = SplitMix64(seed);
    let tag = format!("{:04X}", seed & 0xFFFF);
    let n_users = 3 + rng.below(2) as usize;
    let n_services = 2 + rng.below(2) as usize;
    let users = &SYNTHETIC_USERS[..n_users];
    let services = &SYNTHETIC_SERVICES[..n_services];
    let spacing = SignedDuration::try_from(spacing).expect("spacing fits a SignedDuration");

    let mut out = Vec::new();
    let mut c = ExpectedCounts::default();

    for i in 0..n_incidents {
        let offset = spacing
            .checked_mul(i32::try_from(i).expect("n_incidents fits i32"))
            .expect("spacing * n_incidents overflows");
        let t0 = start
            .checked_add(offset)
            .expect("synthetic timestamp out of range");
        let mut k = 0u32;
        let mut next_id = || {
            k += 1;
            format!("R{tag}{i:05}{k:02}")
        };

        let service = services[rng.below(services.len() as u64) as usize];
        let urgency = if rng.chance(70) { "high" } else { "low" };
        let inc = Incident::new(&format!("PSYN{tag}{i:05}"), service, urgency).with_created_at(t0);
        c.incidents += 1;
        bump(&mut c.incidents_by_urgency, urgency.to_string());
        bump(&mut c.incidents_by_service, service.to_string());
        out.push(trigger(&next_id(), t0, &inc));

        // Assignment through the escalation policy (sometimes two users at level 1).
        let primary = rng.below(users.len() as u64) as usize;
        let mut assigned = vec![primary];
        if rng.chance(15) {
            assigned.push((primary + 1 + rng.below(users.len() as u64 - 1) as usize) % users.len());
        }
        let pairs: Vec<(&str, &str)> = assigned.iter().map(|&u| (users[u].0, users[u].1)).collect();
        out.push(assign(&next_id(), plus(t0, 1), &inc, &pairs));
        for (_, name) in &pairs {
            bump(&mut c.assignments, name.to_string());
        }

        notify_round(
            &inc,
            users,
            &assigned,
            plus(t0, 2),
            &mut rng,
            &mut next_id,
            &mut out,
            &mut c,
        );

        // Optional timeout escalation to a user not yet assigned.
        let mut responder = primary;
        let mut t = plus(t0, 60);
        if rng.chance(30) {
            let candidates: Vec<usize> =
                (0..users.len()).filter(|u| !assigned.contains(u)).collect();
            let esc = candidates[rng.below(candidates.len() as u64) as usize];
            let at = plus(t0, 300);
            out.push(escalate(
                &next_id(),
                at,
                &inc,
                &[(users[esc].0, users[esc].1)],
            ));
            bump(&mut c.escalations, users[esc].1.to_string());
            notify_round(
                &inc,
                users,
                &[esc],
                plus(at, 1),
                &mut rng,
                &mut next_id,
                &mut out,
                &mut c,
            );
            responder = esc;
            t = plus(at, 30);
        }

        // Optional acknowledgement: by the current responder, or by an integration.
        if rng.chance(85) {
            t = plus(t, 10 + rng.below(600));
            if rng.chance(80) {
                let (uid, name, _, _) = users[responder];
                out.push(acknowledge(
                    &next_id(),
                    t,
                    &inc,
                    uid,
                    name,
                    "user_reference",
                ));
                bump(&mut c.acks, name.to_string());
            } else {
                let (iid, iname) = SYNTHETIC_INTEGRATION;
                out.push(acknowledge(
                    &next_id(),
                    t,
                    &inc,
                    iid,
                    iname,
                    "integration_reference",
                ));
            }
        }

        // Optional resolve: by a user (usually the responder) or by an integration.
        if rng.chance(90) {
            t = plus(t, 60 + rng.below(3600));
            if rng.chance(75) {
                let who = if rng.chance(85) {
                    responder
                } else {
                    rng.below(users.len() as u64) as usize
                };
                let (uid, name, _, _) = users[who];
                out.push(resolve(&next_id(), t, &inc, uid, name, "user_reference"));
                bump(&mut c.resolves, name.to_string());
            } else {
                let (iid, iname) = SYNTHETIC_INTEGRATION;
                out.push(resolve(
                    &next_id(),
                    t,
                    &inc,
                    iid,
                    iname,
                    "integration_reference",
                ));
            }
        }
    }

    out.sort_by(|a, b| {
        let ta: Timestamp = a["created_at"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("created_at");
        let tb: Timestamp = b["created_at"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("created_at");
        ta.cmp(&tb)
            .then_with(|| a["id"].as_str().cmp(&b["id"].as_str()))
    });
    c.entries = out.len();
    (out, c)
}
