//! Opsgenie's alert log rows → what happened and to whom.
//!
//! The texts of `GET /v2/alerts/{id}/logs` are not documented; the patterns live in one
//! anchored table ([`LOG_TEXTS`]) so that what ptsd counts is written down in one place.

use crate::event::Channel;

/// What a log row says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Notified(Channel),
    Acknowledged,
    Assigned,
    Escalated,
    Closed,
}

/// What a log row says happened, and to whom: usernames (from the text, or the row's owner),
/// each once, in the order named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub action: Action,
    pub people: Vec<String>,
}

/// What a pattern's action is, before the row fills in the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Does {
    Notify,
    Acknowledge,
    Assign,
    Escalate,
    Close,
}

/// Whose action a pattern's row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// The usernames in the text's `{user}` or `{users}`.
    Named,
    /// The row's `owner`.
    Owner,
}

/// One row of the log-text table.
struct Pattern {
    /// The whole `log` text. Literals match case-insensitively, runs of white space as one
    /// space, a final `.` is ignored. `{user}`: one username (no white space); `{users}`: one
    /// or more, separated by `,`, `;` or `and`; `{method}`: the notification method, inside
    /// `[…]`; `{name}`, `{via}`: any text.
    text: &'static str,
    /// The row `type`s it may carry (case-insensitive); any other type is not this pattern.
    types: &'static [&'static str],
    does: Does,
    who: Who,
}

/// The row type of state changes (Opsgenie's doc sample "Alert acknowledged via web" is
/// `system`; recipient activity such as "Viewed on [web]" is `alertRecipient`).
const SYSTEM: &[&str] = &["system"];

/// The one table of log texts ptsd counts. Only "Alert acknowledged via web" (`system`, owner =
/// the acker) is an Opsgenie doc sample; the rest are UNCONFIRMED guesses at Opsgenie's wording
/// that no real account has checked (see the README's Opsgenie section). A notification is a recipient's business as much as the
/// system's, so both types are accepted for it; everything else is a state change (`system`).
const LOG_TEXTS: &[Pattern] = &[
    Pattern {
        text: "Sent [{method}] notification to {user}",
        types: &["system", "alertRecipient"],
        does: Does::Notify,
        who: Who::Named,
    },
    Pattern {
        text: "Escalation [{name}] is triggered and notified {users}",
        types: SYSTEM,
        does: Does::Escalate,
        who: Who::Named,
    },
    Pattern {
        text: "Alert owner changed to {user}",
        types: SYSTEM,
        does: Does::Assign,
        who: Who::Named,
    },
    Pattern {
        text: "Alert acknowledged via {via}",
        types: SYSTEM,
        does: Does::Acknowledge,
        who: Who::Owner,
    },
    Pattern {
        text: "Alert closed via {via}",
        types: SYSTEM,
        does: Does::Close,
        who: Who::Owner,
    },
];

/// Characters trimmed off a username named in a text.
fn trim_name(s: &str) -> &str {
    s.trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | '"' | '\'' | ',' | ';' | '.'))
}

/// The placeholder values of `template` in `text` (which must match it as a whole), or `None`.
/// Literals match case-insensitively; each placeholder takes the text up to the next literal
/// (the last one up to the final literal, or the end).
fn match_text<'t>(template: &'static str, text: &'t str) -> Option<Vec<(&'static str, &'t str)>> {
    // ASCII lowercasing keeps byte offsets, so positions in `lower` are positions in `text`.
    let lower = text.to_ascii_lowercase();
    let mut literals: Vec<String> = Vec::new();
    let mut names: Vec<&'static str> = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = open + rest[open..].find('}')?;
        literals.push(rest[..open].to_ascii_lowercase());
        names.push(&rest[open + 1..close]);
        rest = &rest[close + 1..];
    }
    literals.push(rest.to_ascii_lowercase());
    if !lower.starts_with(literals[0].as_str()) {
        return None;
    }
    let mut pos = literals[0].len();
    let mut values = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let next = literals[i + 1].as_str();
        let last = i + 1 == names.len();
        let end = if last {
            if !lower.ends_with(next) || lower.len() < pos + next.len() {
                return None;
            }
            lower.len() - next.len()
        } else if next.is_empty() {
            return None; // two placeholders in a row: not a pattern of the table
        } else {
            pos + lower[pos..].find(next)?
        };
        let value = text[pos..end].trim();
        if value.is_empty() {
            return None;
        }
        values.push((*name, value));
        pos = end + next.len();
    }
    (pos == lower.len()).then_some(values)
}

/// The channel of a notification method as written inside `Sent [..]`: `Voice` is a phone
/// call, `Mobile` a push; see [`Channel::from_provider`].
fn channel_of(method: &str) -> Channel {
    if method.trim().eq_ignore_ascii_case("voice") {
        Channel::Phone
    } else {
        Channel::from_provider(method)
    }
}

/// Classifies one log row (`log`, `type`, `owner`) by [`LOG_TEXTS`], first match wins:
///
/// | `log` (whole text) | `type` | activity | people |
/// |---|---|---|---|
/// | `Sent [{method}] notification to {user}` | system, alertRecipient | notified (SMS, Voice → phone, Email, Mobile → push, else other) | `{user}` |
/// | `Escalation [{name}] is triggered and notified {users}` | system | escalated | each of `{users}` |
/// | `Alert owner changed to {user}` | system | assigned | `{user}` |
/// | `Alert acknowledged via {via}` | system | acknowledged | the row's owner |
/// | `Alert closed via {via}` | system | closed | the row's owner |
///
/// Anything else is `None` (the caller logs it at debug level and counts nothing): "Could not
/// send [SMS] notification to …", "Alert unacknowledged via web", a note that mentions
/// "closed", a known text with another row type, a `{user}` with white space in it.
pub fn classify(text: &str, kind: &str, owner: &str) -> Option<Activity> {
    let norm = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let norm = norm.strip_suffix('.').unwrap_or(&norm);
    LOG_TEXTS.iter().find_map(|p| {
        if !p.types.iter().any(|t| t.eq_ignore_ascii_case(kind.trim())) {
            return None;
        }
        let values = match_text(p.text, norm)?;
        let value = |n: &str| values.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        let mut people: Vec<String> = Vec::new();
        match p.who {
            Who::Owner => {
                let o = owner.trim();
                if !o.is_empty() {
                    people.push(o.to_string());
                }
            }
            Who::Named => {
                if let Some(u) = value("user") {
                    let u = trim_name(u);
                    if u.is_empty() || u.contains(char::is_whitespace) {
                        return None;
                    }
                    people.push(u.to_string());
                }
                if let Some(list) = value("users") {
                    for piece in list.split(|c: char| c == ',' || c == ';' || c.is_whitespace()) {
                        let piece = trim_name(piece);
                        if piece.is_empty()
                            || piece.eq_ignore_ascii_case("and")
                            || people.iter().any(|p| p.eq_ignore_ascii_case(piece))
                        {
                            continue;
                        }
                        people.push(piece.to_string());
                    }
                }
                if people.is_empty() {
                    return None;
                }
            }
        }
        let action = match p.does {
            Does::Notify => {
                let method = value("method")?;
                if method.contains(['[', ']']) {
                    return None;
                }
                Action::Notified(channel_of(method))
            }
            Does::Acknowledge => Action::Acknowledged,
            Does::Assign => Action::Assigned,
            Does::Escalate => Action::Escalated,
            Does::Close => Action::Closed,
        };
        Some(Activity { action, people })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADA: &str = "ada@example.com";

    fn act(action: Action, people: &[&str]) -> Option<Activity> {
        Some(Activity {
            action,
            people: people.iter().map(|p| p.to_string()).collect(),
        })
    }

    #[test]
    fn notifications_by_method() {
        for (text, kind, want) in [
            (
                "Sent [SMS] notification to ada@example.com",
                "system",
                Channel::Sms,
            ),
            (
                "Sent [Voice] notification to ada@example.com",
                "system",
                Channel::Phone,
            ),
            (
                "Sent [Email] notification to ada@example.com",
                "system",
                Channel::Email,
            ),
            (
                "Sent [Mobile] notification to ada@example.com",
                "system",
                Channel::Push,
            ),
            (
                "Sent [Carrier pigeon] notification to ada@example.com",
                "system",
                Channel::Other,
            ),
            // Recipient activity may carry it too; case, spacing and a final dot do not matter.
            (
                "Sent [SMS] notification to ada@example.com",
                "alertRecipient",
                Channel::Sms,
            ),
            (
                "sent  [sms] NOTIFICATION to ada@example.com.",
                "System",
                Channel::Sms,
            ),
        ] {
            assert_eq!(
                classify(text, kind, "System"),
                act(Action::Notified(want), &[ADA]),
                "{text}"
            );
        }
    }

    #[test]
    fn state_changes() {
        let grace = "grace@example.com";
        for (text, owner, want) in [
            (
                "Alert acknowledged via web",
                ADA,
                act(Action::Acknowledged, &[ADA]),
            ),
            (
                "Alert acknowledged via Prometheus",
                "Prometheus",
                act(Action::Acknowledged, &["Prometheus"]),
            ),
            (
                "Alert acknowledged via web",
                "",
                act(Action::Acknowledged, &[]),
            ),
            ("Alert closed via web", ADA, act(Action::Closed, &[ADA])),
            (
                "Alert closed via API",
                "System",
                act(Action::Closed, &["System"]),
            ),
            (
                "Alert owner changed to ada@example.com",
                "System",
                act(Action::Assigned, &[ADA]),
            ),
            (
                "Escalation [Platform_escalation] is triggered and notified ada@example.com",
                "System",
                act(Action::Escalated, &[ADA]),
            ),
        ] {
            assert_eq!(classify(text, "system", owner), want, "{text}");
        }
        // Several people notified by one escalation: each counts, each once.
        assert_eq!(
            classify(
                "Escalation [Payments] is triggered and notified ada@example.com, grace@example.com and Ada@example.com",
                "system",
                "System"
            ),
            act(Action::Escalated, &[ADA, grace])
        );
        assert_eq!(
            classify(
                "Escalation [Payments] is triggered and notified ada@example.com; grace@example.com",
                "system",
                "System"
            ),
            act(Action::Escalated, &[ADA, grace])
        );
    }

    #[test]
    fn nothing_unsure_counts() {
        for (text, kind) in [
            // Failures and look-alikes of the notification text.
            (
                "Could not send [SMS] notification to ada@example.com",
                "system",
            ),
            (
                "Sent [SMS] notification to ada@example.com failed",
                "system",
            ),
            ("Sent notification to ada@example.com", "system"),
            (
                "Sent [SMS] [retry] notification to ada@example.com",
                "system",
            ),
            ("Resent [SMS] notification to ada@example.com", "system"),
            // Notes and other texts that merely mention an action.
            ("Note added: closed the ticket after the rollback", "system"),
            (
                "[ada@example.com] added note: Alert closed via web",
                "system",
            ),
            ("Alert closed via web? No, still broken", "note"),
            ("ada@example.com acknowledged it on the phone", "system"),
            ("Alert unacknowledged via web", "system"),
            ("Alert acknowledged", "system"),
            ("Alert owner changed to Platform team", "system"),
            ("Escalation [Platform] is triggered and notified", "system"),
            ("Alert created via Prometheus", "system"),
            ("Viewed on [web]", "alertRecipient"),
            ("", "system"),
            // Known texts with a row type they are not known to have.
            ("Alert acknowledged via web", "alertRecipient"),
            ("Alert closed via web", "note"),
            ("Alert owner changed to ada@example.com", ""),
            ("Sent [SMS] notification to ada@example.com", "note"),
        ] {
            assert_eq!(classify(text, kind, ADA), None, "{text:?} ({kind:?})");
        }
    }
}
