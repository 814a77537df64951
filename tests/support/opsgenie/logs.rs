//! Opsgenie alert log rows: [`OgLog`], the table of every text the builders write
//! ([`OG_LOG_TEXTS`], UNCONFIRMED beyond two doc samples), the `og_log_*` builders, the matcher
//! that reads a text back ([`og_match_log`]) and the channel a notification method counts in
//! ([`og_channel`]).
//!
//! Why apart: these texts are the guessed part of the Opsgenie model; keeping them in one table
//! and one file lets a collector mirror them and a live account check them.

use jiff::Timestamp;

/// One row of an alert's activity log. Its `offset` cursor is assigned by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OgLog {
    /// Free text (`log`); see [`OG_LOG_TEXTS`].
    pub log: String,
    /// The row's `type`: `"system"`, `"alertRecipient"`, …
    pub kind: String,
    /// A username (e-mail), `"System"`, or an integration name.
    pub owner: String,
    pub created_at: Timestamp,
}

/// One kind of log row the builders write: its text template, `type` and `owner`.
/// Placeholders: `{user}` (a username), `{method}` (a notification method, see
/// [`OG_NOTIFICATION_METHODS`]), `{escalation}` (an escalation name), `{integration}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OgLogText {
    /// Name of the builder's action (`"acked"`, …).
    pub action: &'static str,
    /// The `log` text with placeholders.
    pub template: &'static str,
    /// The row's `type`.
    pub kind: &'static str,
    /// The row's `owner`: a placeholder or a literal.
    pub owner: &'static str,
}

/// Every log text the builders write — the patterns a collector should mirror.
///
/// UNCONFIRMED: only "Alert acknowledged via web" (type `system`, owner = the acker) and
/// "Viewed on [web]" (type `alertRecipient`) are Opsgenie doc samples; the other texts, their
/// `type` (all `system` here) and owners are plausible guesses to verify against a live account.
/// Order matters for [`og_match_log`]: a literal text comes before a template it also matches.
///
/// | action | `log` | `type` | `owner` | counts as |
/// |---|---|---|---|---|
/// | created | `Alert created via {integration}` | system | `System` | — (the alert is the incident) |
/// | notified | `Sent [{method}] notification to {user}` | system | `{user}` | notification of `{user}` |
/// | viewed | `Viewed on [web]` | alertRecipient | `{user}` | nothing |
/// | assigned | `Alert owner changed to {user}` | system | `System` | assignment of `{user}` |
/// | escalated | `Escalation [{escalation}] is triggered and notified {user}` | system | `System` | escalation to `{user}` |
/// | acked | `Alert acknowledged via web` | system | `{user}` | ack by the owner |
/// | unacked | `Alert unacknowledged via web` | system | `{user}` | nothing |
/// | acked_by_integration | `Alert acknowledged via {integration}` | system | `{integration}` | nothing (not a user) |
/// | closed | `Alert closed via web` | system | `{user}` | resolve by the owner |
/// | closed_by_integration | `Alert closed via {integration}` | system | `{integration}` | nothing (not a user) |
pub const OG_LOG_TEXTS: [OgLogText; 10] = [
    OgLogText {
        action: "created",
        template: "Alert created via {integration}",
        kind: "system",
        owner: "System",
    },
    OgLogText {
        action: "notified",
        template: "Sent [{method}] notification to {user}",
        kind: "system",
        owner: "{user}",
    },
    OgLogText {
        action: "viewed",
        template: "Viewed on [web]",
        kind: "alertRecipient",
        owner: "{user}",
    },
    OgLogText {
        action: "assigned",
        template: "Alert owner changed to {user}",
        kind: "system",
        owner: "System",
    },
    OgLogText {
        action: "escalated",
        template: "Escalation [{escalation}] is triggered and notified {user}",
        kind: "system",
        owner: "System",
    },
    OgLogText {
        action: "acked",
        template: "Alert acknowledged via web",
        kind: "system",
        owner: "{user}",
    },
    OgLogText {
        action: "unacked",
        template: "Alert unacknowledged via web",
        kind: "system",
        owner: "{user}",
    },
    OgLogText {
        action: "acked_by_integration",
        template: "Alert acknowledged via {integration}",
        kind: "system",
        owner: "{integration}",
    },
    OgLogText {
        action: "closed",
        template: "Alert closed via web",
        kind: "system",
        owner: "{user}",
    },
    OgLogText {
        action: "closed_by_integration",
        template: "Alert closed via {integration}",
        kind: "system",
        owner: "{integration}",
    },
];

/// Notification methods as written inside `Sent [..]` (UNCONFIRMED spellings).
pub const OG_NOTIFICATION_METHODS: [&str; 4] = ["SMS", "Voice", "Email", "Mobile"];

/// The channel bucket of a notification method: `SMS`→`sms`, `Voice`→`phone`, `Email`→`email`,
/// `Mobile` (or anything containing "push")→`push`, anything else→`other` (case-insensitive).
pub fn og_channel(method: &str) -> &'static str {
    let m = method.to_ascii_lowercase();
    match m.as_str() {
        "sms" => "sms",
        "voice" | "phone" => "phone",
        "email" => "email",
        "mobile" => "push",
        _ if m.contains("push") => "push",
        _ => "other",
    }
}

fn log_text(action: &str) -> &'static OgLogText {
    OG_LOG_TEXTS
        .iter()
        .find(|t| t.action == action)
        .unwrap_or_else(|| panic!("no log text for action {action}"))
}

/// Fills `{name}` placeholders of `template`.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

fn build_log(action: &str, at: Timestamp, values: &[(&str, &str)]) -> OgLog {
    let t = log_text(action);
    OgLog {
        log: fill(t.template, values),
        kind: t.kind.to_string(),
        owner: fill(t.owner, values),
        created_at: at,
    }
}

/// The [`OG_LOG_TEXTS`] entry `text` matches and the placeholder values it carries
/// (e.g. `[("method","SMS"),("user","ada@example.com")]`), first match in table order.
pub fn og_match_log(text: &str) -> Option<(&'static OgLogText, Vec<(String, String)>)> {
    OG_LOG_TEXTS
        .iter()
        .find_map(|t| match_template(t.template, text).map(|vals| (t, vals)))
}

fn match_template(template: &str, text: &str) -> Option<Vec<(String, String)>> {
    // Split into literal, name, literal, name, …, literal.
    let mut literals = Vec::new();
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}')? + open;
        literals.push(&rest[..open]);
        names.push(&rest[open + 1..close]);
        rest = &rest[close + 1..];
    }
    literals.push(rest);

    let mut remaining = text.strip_prefix(literals[0])?;
    let mut values = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let next = literals[i + 1];
        let value = if next.is_empty() && i + 1 == names.len() {
            std::mem::take(&mut remaining)
        } else {
            let at = remaining.find(next)?;
            let v = &remaining[..at];
            remaining = &remaining[at + next.len()..];
            v
        };
        if value.is_empty() {
            return None;
        }
        values.push((name.to_string(), value.to_string()));
    }
    (remaining.is_empty()).then_some(values)
}

/// "Alert created via Prometheus" (`system`, owner `System`).
pub fn og_log_created(at: Timestamp) -> OgLog {
    og_log_created_via(at, "Prometheus")
}

/// "Alert created via {integration}" (`system`, owner `System`).
pub fn og_log_created_via(at: Timestamp, integration: &str) -> OgLog {
    build_log("created", at, &[("integration", integration)])
}

/// "Sent [{method}] notification to {username}" (`system`, owner = `username`); `method` is one
/// of [`OG_NOTIFICATION_METHODS`] or any other string (which counts as `other`).
pub fn og_log_notified(at: Timestamp, username: &str, method: &str) -> OgLog {
    build_log("notified", at, &[("method", method), ("user", username)])
}

/// "Viewed on [web]" (`alertRecipient`, owner = `username`): counts as nothing.
pub fn og_log_viewed(at: Timestamp, username: &str) -> OgLog {
    build_log("viewed", at, &[("user", username)])
}

/// "Alert acknowledged via web" (`system`, owner = `username`).
pub fn og_log_acked(at: Timestamp, username: &str) -> OgLog {
    build_log("acked", at, &[("user", username)])
}

/// "Alert unacknowledged via web" (`system`, owner = `username`): counts as nothing.
pub fn og_log_unacked(at: Timestamp, username: &str) -> OgLog {
    build_log("unacked", at, &[("user", username)])
}

/// "Alert acknowledged via {integration}" (`system`, owner = `integration`): not a user's ack.
pub fn og_log_acked_by_integration(at: Timestamp, integration: &str) -> OgLog {
    build_log("acked_by_integration", at, &[("integration", integration)])
}

/// "Alert owner changed to {username}" (`system`, owner `System`).
pub fn og_log_assigned(at: Timestamp, username: &str) -> OgLog {
    build_log("assigned", at, &[("user", username)])
}

/// "Escalation [{escalation_name}] is triggered and notified {username}" (`system`, owner
/// `System`).
pub fn og_log_escalated(at: Timestamp, escalation_name: &str, username: &str) -> OgLog {
    build_log(
        "escalated",
        at,
        &[("escalation", escalation_name), ("user", username)],
    )
}

/// "Escalation [{escalation_name}] is triggered and notified a, b and c" (`system`, owner
/// `System`): one escalation notifying several users. UNCONFIRMED: how Opsgenie lists several
/// people in this text (here ", " and a final " and ").
pub fn og_log_escalated_to(at: Timestamp, escalation_name: &str, usernames: &[&str]) -> OgLog {
    let list = match usernames {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    build_log(
        "escalated",
        at,
        &[("escalation", escalation_name), ("user", &list)],
    )
}

/// "Alert closed via web" (`system`, owner = `username`).
pub fn og_log_closed(at: Timestamp, username: &str) -> OgLog {
    build_log("closed", at, &[("user", username)])
}

/// "Alert closed via Prometheus" (`system`, owner `Prometheus`): not a user's close.
pub fn og_log_closed_by_integration(at: Timestamp) -> OgLog {
    og_log_closed_via_integration(at, "Prometheus")
}

/// "Alert closed via {integration}" (`system`, owner = `integration`): not a user's close.
pub fn og_log_closed_via_integration(at: Timestamp, integration: &str) -> OgLog {
    build_log("closed_by_integration", at, &[("integration", integration)])
}
