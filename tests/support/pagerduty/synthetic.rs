//! A deterministic generator of PagerDuty incident lifecycles ([`synthetic_incidents`]) built
//! from the [`super::entries`] builders, with the exact counts a correct poller must emit for
//! them ([`ExpectedCounts`]), and the users, services and integration it draws from.
//!
//! Why: tests and the catch-up benchmark need many realistic entries whose right answer is
//! known without running the daemon; everything here depends only on the seed.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::super::common::{bump, SplitMix64};
use super::entries::{
    acknowledge, assign, channel_bucket, escalate, notify, resolve, trigger, user, Incident,
};

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

/// The plain names (below `ptsd.pagerduty.`) that one log entry counts once each, worked out
/// from the entry itself as a correct poller counts it: a trigger by urgency and by service, a
/// notification by user and channel bucket, acks and resolves by a user (not an integration),
/// assignments and escalations per assignee. For tests that place counts in time (Graphite) or
/// add entries one by one, where [`ExpectedCounts`] sums whole incidents.
pub fn plain_counts(e: &Value) -> Vec<String> {
    let s = |v: &Value| ptsd::schema::sanitize(v.as_str().unwrap_or("unknown"), true);
    let by_user = e["agent"]["type"] == "user_reference";
    match e["type"].as_str().unwrap_or_default() {
        "trigger_log_entry" => vec![
            format!("incidents.{}", s(&e["incident"]["urgency"])),
            format!("services.{}.incidents", s(&e["service"]["summary"])),
        ],
        "notify_log_entry" => {
            let ty = e["channel"]["notification"]["type"].as_str().unwrap_or("");
            vec![format!(
                "users.{}.notifications.{}",
                s(&e["user"]["summary"]),
                channel_bucket(ty)
            )]
        }
        "acknowledge_log_entry" if by_user => {
            vec![format!(
                "users.{}.acknowledgements",
                s(&e["agent"]["summary"])
            )]
        }
        "resolve_log_entry" if by_user => {
            vec![format!("users.{}.resolves", s(&e["agent"]["summary"]))]
        }
        kind @ ("assign_log_entry" | "escalate_log_entry") => {
            let metric = if kind == "assign_log_entry" {
                "assignments"
            } else {
                "escalations"
            };
            e["assignees"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| format!("users.{}.{metric}", s(&a["summary"])))
                .collect()
        }
        _ => Vec::new(),
    }
}
