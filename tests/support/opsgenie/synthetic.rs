//! A deterministic generator of Opsgenie alert lifecycles ([`og_synthetic`]) built from the
//! [`super::logs`] builders, with the counts a correct poller must emit for them
//! ([`OgExpected`]), and the users, integrations and escalations it draws from.
//!
//! Why: tests need many realistic alerts whose right answer is known without running the
//! daemon; everything here depends only on the seed.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::super::common::{bump, SplitMix64};
use super::logs::{
    og_channel, og_log_acked, og_log_acked_by_integration, og_log_assigned, og_log_closed,
    og_log_closed_via_integration, og_log_created_via, og_log_escalated, og_log_notified,
    og_log_unacked, og_log_viewed, OgLog, OG_NOTIFICATION_METHODS,
};
use super::model::{og_user, OgAlert};

/// `(id, username, full_name, time_zone)` of the users [`og_synthetic`] draws from.
pub const OG_SYNTHETIC_USERS: [(&str, &str, &str, &str); 3] = [
    (
        "4f6a1c2e-0000-4000-8000-00000000ada1",
        "ada@example.com",
        "Ada Lovelace",
        "Europe/London",
    ),
    (
        "4f6a1c2e-0000-4000-8000-00000000c0b0",
        "grace@example.com",
        "Grace Hopper",
        "America/New_York",
    ),
    (
        "4f6a1c2e-0000-4000-8000-00000000d1e5",
        "edsger@example.com",
        "Edsger Dijkstra",
        "Europe/Amsterdam",
    ),
];

/// Integrations (= services) [`og_synthetic`] draws from.
pub const OG_SYNTHETIC_INTEGRATIONS: [&str; 3] = ["Prometheus", "Datadog", "CloudWatch"];

/// Escalation names [`og_synthetic`] draws from.
pub const OG_SYNTHETIC_ESCALATIONS: [&str; 2] = ["Platform_escalation", "Payments_escalation"];

const SYNTHETIC_MESSAGES: [&str; 5] = [
    "p99 latency high on checkout",
    "Disk usage above 90% on db-2",
    "Error rate above 5% on search",
    "Queue depth growing on billing",
    "Certificate expires in 7 days",
];

/// All [`OG_SYNTHETIC_USERS`] as `GET /v2/users` objects.
pub fn og_synthetic_users() -> Vec<Value> {
    OG_SYNTHETIC_USERS
        .iter()
        .map(|(id, username, full_name, tz)| og_user(id, username, full_name, tz))
        .collect()
}

/// What a correct poller must count for the alerts of [`og_synthetic`]. People are keyed by
/// **full name** (usernames in logs resolve through `/v2/users`); notification keys are
/// `(full_name, channel)` with channel in `sms|phone|email|push|other`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OgExpected {
    /// Number of alerts.
    pub incidents: u64,
    /// Number of log rows generated.
    pub logs: usize,
    /// By lowercase priority `p1`..`p5`.
    pub incidents_by_priority: BTreeMap<String, u64>,
    /// By integration name.
    pub incidents_by_service: BTreeMap<String, u64>,
    /// One per "Sent [..] notification to" row.
    pub notifications: BTreeMap<(String, String), u64>,
    /// One per "Alert acknowledged via web" row (integration acks excluded).
    pub acks: BTreeMap<String, u64>,
    /// One per "Alert owner changed to" row, plus one for an owner who became owner by
    /// acknowledging (no such row names them; the alert's `owner` does).
    pub assignments: BTreeMap<String, u64>,
    /// Of `assignments`, those only the alert's `owner` field tells (owner by acknowledging):
    /// what a poller without the report's safety net cannot count.
    pub owners_by_ack: BTreeMap<String, u64>,
    /// One per escalation row (each names one user).
    pub escalations: BTreeMap<String, u64>,
    /// One per "Alert closed via web" row (closes by an integration excluded).
    pub resolves: BTreeMap<String, u64>,
}

impl OgExpected {
    /// The plain-flavor keys and totals a correct run sends for these counts under `provider`
    /// (`opsgenie`, `jsm`): on-call counters only, as [`crate::support::Capture::counts`] reads them.
    pub fn plain(&self, provider: &str) -> BTreeMap<String, f64> {
        let s = |v: &str| ptsd::schema::sanitize(v, true);
        let mut out = BTreeMap::new();
        let mut add = |k: String, n: u64| *out.entry(k).or_insert(0.0) += n as f64;
        let base = format!("ptsd.{provider}");
        for (p, n) in &self.incidents_by_priority {
            add(format!("{base}.incidents.{}", s(p)), *n);
        }
        for (svc, n) in &self.incidents_by_service {
            add(format!("{base}.services.{}.incidents", s(svc)), *n);
        }
        for ((user, ch), n) in &self.notifications {
            add(format!("{base}.users.{}.notifications.{ch}", s(user)), *n);
        }
        for (metric, map) in [
            ("acknowledgements", &self.acks),
            ("assignments", &self.assignments),
            ("escalations", &self.escalations),
            ("resolves", &self.resolves),
        ] {
            for (user, n) in map {
                add(format!("{base}.users.{}.{metric}", s(user)), *n);
            }
        }
        out
    }
}

/// Row times of one alert: whole seconds after creation plus a random millisecond part, so
/// millisecond precision matters and rows stay strictly increasing.
struct Clock<'a> {
    t0: Timestamp,
    rng: &'a mut SplitMix64,
}

impl Clock<'_> {
    fn at(&mut self, secs: u64) -> Timestamp {
        let ms = secs as i64 * 1000 + self.rng.below(1000) as i64;
        self.t0
            .checked_add(SignedDuration::from_millis(ms))
            .expect("synthetic timestamp out of range")
    }
}

/// Generates `n_alerts` alert lifecycles, the first created at `start` and one every `spacing`:
/// created → owner set to a user (assignment) → 1–3 notifications of distinct channels (rarely
/// plus an unknown `Slack` method, counted as `other`) → sometimes "Viewed on [web]" → optional
/// escalation naming another user (+ their notifications) → optional ack by the current
/// responder (sometimes unacked and acked again: two acks) or by the integration → optional
/// close by a user (usually the responder) or by the integration. Each alert spans at most ~2 h;
/// `updated_at` is its last row's time and `status` is `closed` iff a close row exists.
///
/// Rows are chronological per alert; ids are unique per `(seed & 0xFFFF_FFFF, index)`.
pub fn og_synthetic(
    n_alerts: usize,
    start: Timestamp,
    spacing: Duration,
    seed: u64,
) -> (Vec<(OgAlert, Vec<OgLog>)>, OgExpected) {
    let mut rng = SplitMix64(seed);
    let tag = seed & 0xFFFF_FFFF;
    let spacing = SignedDuration::try_from(spacing).expect("spacing fits a SignedDuration");
    let users = &OG_SYNTHETIC_USERS;
    let mut out = Vec::with_capacity(n_alerts);
    let mut c = OgExpected::default();

    for i in 0..n_alerts {
        let t0 = spacing
            .checked_mul(i32::try_from(i).expect("n_alerts fits i32"))
            .and_then(|d| start.checked_add(d).ok())
            .expect("synthetic timestamp out of range");
        let integration =
            OG_SYNTHETIC_INTEGRATIONS[rng.below(OG_SYNTHETIC_INTEGRATIONS.len() as u64) as usize];
        let priority = match rng.below(100) {
            0..=9 => "P1",
            10..=29 => "P2",
            30..=69 => "P3",
            70..=89 => "P4",
            _ => "P5",
        };
        let message = SYNTHETIC_MESSAGES[rng.below(SYNTHETIC_MESSAGES.len() as u64) as usize];
        let mut alert = OgAlert::new(
            &format!("{tag:08x}-0000-4000-8000-{i:012x}"),
            &(i + 1).to_string(),
            message,
            priority,
            integration,
            t0,
        );
        c.incidents += 1;
        bump(&mut c.incidents_by_priority, priority.to_lowercase());
        bump(&mut c.incidents_by_service, integration.to_string());

        let mut rows = vec![og_log_created_via(t0, integration)];
        let mut clock = Clock { t0, rng: &mut rng };
        let primary = clock.rng.below(users.len() as u64) as usize;
        rows.push(og_log_assigned(clock.at(1), users[primary].1));
        bump(&mut c.assignments, users[primary].2.to_string());
        alert.owner = users[primary].1.to_string();

        let mut notify_round = |clock: &mut Clock, who: usize, from: u64, rows: &mut Vec<OgLog>| {
            let n = 1 + clock.rng.below(3) as usize;
            let mut methods: Vec<&str> = Vec::new();
            while methods.len() < n {
                let m = OG_NOTIFICATION_METHODS
                    [clock.rng.below(OG_NOTIFICATION_METHODS.len() as u64) as usize];
                if !methods.contains(&m) {
                    methods.push(m);
                }
            }
            if clock.rng.chance(5) {
                methods.push("Slack");
            }
            for (k, m) in methods.into_iter().enumerate() {
                rows.push(og_log_notified(clock.at(from + k as u64), users[who].1, m));
                bump(
                    &mut c.notifications,
                    (users[who].2.to_string(), og_channel(m).to_string()),
                );
            }
        };
        notify_round(&mut clock, primary, 2, &mut rows);
        if clock.rng.chance(40) {
            rows.push(og_log_viewed(clock.at(30), users[primary].1));
        }

        let mut responder = primary;
        let mut t = 60;
        if clock.rng.chance(30) {
            let esc =
                (primary + 1 + clock.rng.below(users.len() as u64 - 1) as usize) % users.len();
            let name = OG_SYNTHETIC_ESCALATIONS
                [clock.rng.below(OG_SYNTHETIC_ESCALATIONS.len() as u64) as usize];
            rows.push(og_log_escalated(clock.at(300), name, users[esc].1));
            bump(&mut c.escalations, users[esc].2.to_string());
            notify_round(&mut clock, esc, 301, &mut rows);
            responder = esc;
            t = 330;
        }

        if clock.rng.chance(85) {
            t += 10 + clock.rng.below(600);
            if clock.rng.chance(80) {
                let (_, username, full_name, _) = users[responder];
                rows.push(og_log_acked(clock.at(t), username));
                bump(&mut c.acks, full_name.to_string());
                if responder != primary {
                    // Acknowledging makes the escalation's responder the owner with no
                    // "owner changed" row: the alert's `owner` field says so, and a poller
                    // counts that assignment once (at the acknowledgement).
                    bump(&mut c.assignments, full_name.to_string());
                    bump(&mut c.owners_by_ack, full_name.to_string());
                }
                alert.owner = username.to_string();
                if clock.rng.chance(10) {
                    rows.push(og_log_unacked(clock.at(t + 60), username));
                    rows.push(og_log_acked(clock.at(t + 120), username));
                    bump(&mut c.acks, full_name.to_string());
                    t += 120;
                }
            } else {
                rows.push(og_log_acked_by_integration(clock.at(t), integration));
            }
        }

        if clock.rng.chance(90) {
            t += 60 + clock.rng.below(3600);
            if clock.rng.chance(75) {
                let who = if clock.rng.chance(85) {
                    responder
                } else {
                    clock.rng.below(users.len() as u64) as usize
                };
                rows.push(og_log_closed(clock.at(t), users[who].1));
                bump(&mut c.resolves, users[who].2.to_string());
            } else {
                rows.push(og_log_closed_via_integration(clock.at(t), integration));
            }
            alert.status = "closed".to_string();
        }

        debug_assert!(rows.windows(2).all(|w| w[0].created_at < w[1].created_at));
        alert.updated_at = rows.last().map_or(t0, |r| r.created_at);
        c.logs += rows.len();
        out.push((alert, rows));
    }
    (out, c)
}
