//! Opsgenie's alert log rows → what happened and to whom, by a table of rules a user can see,
//! test (`ptsd logs`) and extend.
//!
//! The texts of `GET /v2/alerts/{id}/logs` are not documented. The built-in table
//! ([`BUILT_IN`]) holds the forms that could be found (`../shared/opsgenie-jsm.md`): any row
//! `type` (a real acknowledgement is `alertAction`, the docs' sample `system`), bracketed
//! suffixes (`Alert acknowledged via web[Default API-Acknowledge Alert]`), the policy close
//! (`Alert closed via system using policy/policies[…]`), the `Rule[..][..][..] -> Sent …`
//! notification form with lowercase, possibly bracketed `email`/`sms`/`voice`, and the row's
//! `owner` as the person where the text names nobody. Rows known to count nothing (created,
//! viewed, unacknowledged, delivery receipts) match a rule that counts nothing, so only truly
//! unknown rows are "unmatched" ([`LogRules::classify`] → `None`).
//!
//! `PTSD_LOG_RULES` names a TOML file in the style of the category rules
//! ([`LogRules::with_text`] documents it): a regex on the row text, an optional row type, what
//! it counts, and which capture group is the person or channel; its rules come before the
//! built-in ones (`mode = "extend"`, the default) or replace them (`mode = "replace"`).
//!
//! Provider-neutral within the Opsgenie family (JSM Operations serves the same rows): plain
//! text in, [`Activity`] out, no HTTP.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

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

/// What a rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    Notification,
    Acknowledgement,
    Close,
    Assignment,
    Escalation,
    /// A known row that counts nothing (it is not "unmatched").
    Nothing,
}

impl Counts {
    const NAMES: &'static str =
        "notification, acknowledgement, close, assignment, escalation or nothing";

    fn parse(s: &str) -> Option<Counts> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "notification" => Counts::Notification,
            "acknowledgement" | "acknowledgment" => Counts::Acknowledgement,
            "close" => Counts::Close,
            "assignment" => Counts::Assignment,
            "escalation" => Counts::Escalation,
            "nothing" => Counts::Nothing,
            _ => return None,
        })
    }
}

/// Where a rule finds its person or channel.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// The row's `owner`.
    Owner,
    /// A capture group of the rule's regex, by name or number.
    Group(String),
    /// A fixed channel.
    Fixed(Channel),
}

/// One rule: rows whose (normalised) text its regex matches, and whose type it accepts, count
/// as it says.
#[derive(Debug, Clone)]
pub struct LogRule {
    /// Shown by `ptsd logs`: `built-in:<name>` or the file's `name` (else `rule <n>`).
    pub name: String,
    regex: Regex,
    /// Only rows of this type (case-insensitive); any type when `None`. A row with no type
    /// (JSM Operations may send none) is matched by rules of any type.
    kind: Option<String>,
    counts: Counts,
    person: Source,
    channel: Option<Source>,
}

/// The rules in force, first match wins.
#[derive(Debug, Clone)]
pub struct LogRules {
    rules: Vec<LogRule>,
}

/// What the rules made of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowMatch<'r> {
    /// The rule that matched.
    pub rule: &'r str,
    /// What it counts; `None` for a rule that counts nothing.
    pub activity: Option<Activity>,
}

/// The built-in rules: `(name, regex, counts, person, channel)`. Texts are matched after runs
/// of white space become one space and a final `.` is dropped; every regex is anchored and
/// case-insensitive. Only "Alert acknowledged via web" (`system`), "Alert acknowledged via
/// web[Default API-Acknowledge Alert]" (`alertAction`) and "Viewed on [web]" were seen in real
/// responses; the rest are UNCONFIRMED forms (docs/providers.md, Opsgenie log rules).
pub const BUILT_IN: &[(&str, &str, &str, &str, &str)] = &[
    (
        "sent-notification",
        r"^Sent \[(?P<channel>[^\[\]]+)\] notification to (?P<person>\S+)$",
        "notification",
        "person",
        "channel",
    ),
    (
        "rule-sent",
        r"^Rule\s*(?:\[[^\]]*\]\s*)+->\s*Sent\b.*?\[?\b(?P<channel>e-?mail|sms|voice|phone|mobile|push)\b\]?",
        "notification",
        "owner",
        "channel",
    ),
    (
        "rule-receipt",
        r"^Rule\s*(?:\[[^\]]*\]\s*)+->\s*(?:Received|An aggregated)\b",
        "nothing",
        "",
        "",
    ),
    (
        "escalation",
        r"^Escalation \[[^\]]*\] is triggered and notified (?P<person>.+)$",
        "escalation",
        "person",
        "",
    ),
    (
        "owner-changed",
        r"^Alert owner changed to (?P<person>\S+)$",
        "assignment",
        "person",
        "",
    ),
    (
        "acknowledged",
        r"^Alert acknowledged via\b.*$",
        "acknowledgement",
        "owner",
        "",
    ),
    ("closed", r"^Alert closed via\b.*$", "close", "owner", ""),
    (
        "unacknowledged",
        r"^Alert unacknowledged\b",
        "nothing",
        "",
        "",
    ),
    ("created", r"^Alert created\b", "nothing", "", ""),
    ("viewed", r"^Viewed on\b", "nothing", "", ""),
    (
        "auto-close-scheduled",
        r"^Will close alert automatically\b",
        "nothing",
        "",
        "",
    ),
];

static BUILT_IN_RULES: LazyLock<Vec<LogRule>> = LazyLock::new(|| {
    BUILT_IN
        .iter()
        .map(|(name, pattern, counts, person, channel)| {
            let source = |s: &str| match s {
                "" => None,
                "owner" => Some(Source::Owner),
                g => Some(Source::Group(g.to_string())),
            };
            LogRule {
                name: format!("built-in:{name}"),
                regex: Regex::new(&format!("(?i){pattern}")).expect("built-in rule compiles"),
                kind: None,
                counts: Counts::parse(counts).expect("built-in counts"),
                person: source(person).unwrap_or(Source::Owner),
                channel: source(channel),
            }
        })
        .collect()
});

impl Default for LogRules {
    fn default() -> Self {
        LogRules {
            rules: BUILT_IN_RULES.clone(),
        }
    }
}

/// Characters trimmed off a username named in a text.
fn trim_name(s: &str) -> &str {
    s.trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | '"' | '\'' | ',' | ';' | '.'))
}

/// The usernames in `list`, separated by `,`, `;`, white space or `and`, each once.
fn people_in(list: &str, out: &mut Vec<String>) {
    for piece in list.split(|c: char| c == ',' || c == ';' || c.is_whitespace()) {
        let piece = trim_name(piece);
        if piece.is_empty()
            || piece.eq_ignore_ascii_case("and")
            || out.iter().any(|p| p.eq_ignore_ascii_case(piece))
        {
            continue;
        }
        out.push(piece.to_string());
    }
}

/// The channel of a notification method as a row writes it (`SMS`, `voice`, `[email]`,
/// `Mobile`): `voice` is a phone call, `mobile` a push; see [`Channel::from_provider`].
fn channel_of(method: &str) -> Channel {
    let m = trim_name(method.trim());
    if m.eq_ignore_ascii_case("voice") {
        Channel::Phone
    } else {
        Channel::from_provider(m)
    }
}

/// A row text as the rules see it: runs of white space as one space, trimmed, a final `.`
/// dropped.
pub fn normalise(text: &str) -> String {
    let norm = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match norm.strip_suffix('.') {
        Some(s) => s.to_string(),
        None => norm,
    }
}

impl LogRule {
    /// What this rule makes of a row, or `None` when it does not match.
    fn apply(&self, text: &str, kind: &str, owner: &str) -> Option<Option<Activity>> {
        if let Some(k) = &self.kind {
            if !kind.trim().is_empty() && !k.eq_ignore_ascii_case(kind.trim()) {
                return None;
            }
        }
        let caps = self.regex.captures(text)?;
        let group = |g: &str| match g.parse::<usize>() {
            Ok(n) => caps.get(n),
            Err(_) => caps.name(g),
        };
        let action = match self.counts {
            Counts::Nothing => return Some(None),
            Counts::Notification => Action::Notified(match &self.channel {
                Some(Source::Group(g)) => channel_of(group(g).map_or("", |m| m.as_str())),
                Some(Source::Fixed(c)) => *c,
                _ => Channel::Other,
            }),
            Counts::Acknowledgement => Action::Acknowledged,
            Counts::Close => Action::Closed,
            Counts::Assignment => Action::Assigned,
            Counts::Escalation => Action::Escalated,
        };
        let mut people = Vec::new();
        match &self.person {
            Source::Owner => {
                let o = owner.trim();
                if !o.is_empty() {
                    people.push(o.to_string());
                }
            }
            Source::Group(g) => people_in(group(g).map_or("", |m| m.as_str()), &mut people),
            Source::Fixed(_) => {}
        }
        Some(Some(Activity { action, people }))
    }
}

impl LogRules {
    /// The built-in rules only.
    pub fn built_in() -> Self {
        LogRules::default()
    }

    /// What the first matching rule makes of a row (`log`, `type`, `owner`); `None` when no
    /// rule matches (an unmatched row).
    pub fn classify(&self, text: &str, kind: &str, owner: &str) -> Option<RowMatch<'_>> {
        let norm = normalise(text);
        self.rules.iter().find_map(|r| {
            r.apply(&norm, kind, owner).map(|activity| RowMatch {
                rule: &r.name,
                activity,
            })
        })
    }
}

/// Classifies one row by the built-in rules: what it counts, or `None` for a row that counts
/// nothing or that no rule matches.
pub fn classify(text: &str, kind: &str, owner: &str) -> Option<Activity> {
    static RULES: LazyLock<LogRules> = LazyLock::new(LogRules::built_in);
    RULES.classify(text, kind, owner)?.activity
}

impl LogRules {
    /// The rules of a rules file's text, added before the built-in ones or replacing them.
    /// Format (the category rules' style):
    ///
    /// ```toml
    /// mode = "extend"                # or "replace": drop the built-in rules
    ///
    /// [[rule]]
    /// name = "paged by the new app"  # optional; what `ptsd logs` shows
    /// match = '(?i)^Paged (?P<who>\S+) by (?P<how>sms|voice|email)$'
    /// type = "alertRecipient"        # optional: only rows of this type
    /// counts = "notification"        # notification, acknowledgement, close, assignment,
    ///                                # escalation or nothing
    /// person = "who"                 # a capture group (name or number), or "owner" (default)
    /// channel = "how"                # notifications: a capture group, or sms, phone, email,
    ///                                # push, other
    /// ```
    ///
    /// `match` is a [`regex`](https://docs.rs/regex) searched in the row text after runs of
    /// white space became one space and a final `.` was dropped (anchor with `^…$`, add `(?i)`
    /// for any case). A group naming people may name several (`a, b and c`). First match
    /// wins, the file's rules first. An error is one line naming `origin`, the rule (number,
    /// and name when it has one) and the fault.
    ///
    /// # Errors
    /// The first fault found, as one line.
    pub fn with_text(origin: &str, text: &str) -> Result<Self, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let line = text
                        .get(..span.start)
                        .map_or(0, |before| before.matches('\n').count());
                    format!(" at line {}", line + 1)
                })
                .unwrap_or_default();
            format!("{origin}: not valid TOML{at}: {}", one_line(e.message()))
        })?;
        if let Some(key) = table.keys().find(|k| *k != "rule" && *k != "mode") {
            return Err(format!(
                "{origin}: unknown key {key:?}; the file holds mode and [[rule]] tables"
            ));
        }
        let replace = match table.get("mode") {
            None => false,
            Some(toml::Value::String(m)) if m == "extend" => false,
            Some(toml::Value::String(m)) if m == "replace" => true,
            Some(other) => {
                return Err(format!(
                    "{origin}: mode is {other}; write mode = \"extend\" (the default: before the built-in rules) or mode = \"replace\""
                ))
            }
        };
        let rules = match table.get("rule") {
            None => &Vec::new(),
            Some(toml::Value::Array(rules)) => rules,
            Some(other) => {
                return Err(format!(
                    "{origin}: rule is a {}, not a list of [[rule]] tables",
                    other.type_str()
                ))
            }
        };
        let mut out = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            out.push(parse_rule(origin, i + 1, rule)?);
        }
        if !replace {
            out.extend(BUILT_IN_RULES.iter().cloned());
        }
        Ok(LogRules { rules: out })
    }

    /// Reads the rules file at `path`, then as [`LogRules::with_text`] with the path as origin.
    ///
    /// # Errors
    /// An unreadable file, or a fault in it, as one line naming the file.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{origin}: cannot read the log rules file: {e}"))?;
        LogRules::with_text(&origin, &text)
    }

    /// The names of the rules in force, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }
}

const RULE_KEYS: &[&str] = &["name", "match", "type", "counts", "person", "channel"];

fn parse_rule(origin: &str, n: usize, rule: &toml::Value) -> Result<LogRule, String> {
    let toml::Value::Table(rule) = rule else {
        return Err(format!(
            "{origin}: rule {n}: is a {}, not a [[rule]] table",
            rule.type_str()
        ));
    };
    let name = match rule.get("name") {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    };
    let at = match &name {
        Some(name) => format!("{origin}: rule {n} ({name:?})"),
        None => format!("{origin}: rule {n}"),
    };
    if let Some(key) = rule.keys().find(|k| !RULE_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "{at}: unknown key {key:?}; a rule has {}",
            RULE_KEYS.join(", ")
        ));
    }
    let field = |key: &str, required: bool| -> Result<Option<String>, String> {
        match rule.get(key) {
            None if required => Err(format!(
                "{at}: no {key} key; each [[rule]] needs match = '<regex>' and counts = \"<what>\""
            )),
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(other) => Err(format!(
                "{at}: {key} is a {}, not a string",
                other.type_str()
            )),
        }
    };
    field("name", false)?;
    let pattern = field("match", true)?.unwrap_or_default();
    if pattern.is_empty() {
        return Err(format!(
            "{at}: match is empty; it would match every row (write '.*' if that is meant)"
        ));
    }
    let regex = Regex::new(&pattern).map_err(|e| {
        let message = e.to_string();
        let gist = message
            .lines()
            .find_map(|l| l.trim().strip_prefix("error:"))
            .map_or_else(|| one_line(&message), one_line);
        format!("{at}: match {pattern:?} is not a valid regex: {gist}")
    })?;
    let counts_text = field("counts", true)?.unwrap_or_default();
    let counts = Counts::parse(&counts_text).ok_or_else(|| {
        format!(
            "{at}: counts = {counts_text:?} is not one of {}",
            Counts::NAMES
        )
    })?;
    let group_exists = |g: &str| match g.parse::<usize>() {
        Ok(i) => i >= 1 && i < regex.captures_len(),
        Err(_) => regex.capture_names().flatten().any(|n| n == g),
    };
    let person = match field("person", false)?.as_deref() {
        None | Some("owner") => Source::Owner,
        Some(g) if group_exists(g) => Source::Group(g.to_string()),
        Some(g) => {
            return Err(format!(
                "{at}: person = {g:?} is no capture group of match; name a group (e.g. (?P<{g}>\\S+)) or write person = \"owner\""
            ))
        }
    };
    let channel = match field("channel", false)?.as_deref() {
        None if counts == Counts::Notification => {
            return Err(format!(
                "{at}: a notification rule needs channel = a capture group or one of sms, phone, email, push, other"
            ))
        }
        None => None,
        Some(g) if group_exists(g) => Some(Source::Group(g.to_string())),
        Some(c) => match c.to_ascii_lowercase().as_str() {
            "sms" | "phone" | "voice" | "email" | "push" | "mobile" | "other" => {
                Some(Source::Fixed(channel_of(c)))
            }
            _ => {
                return Err(format!(
                    "{at}: channel = {c:?} is neither a capture group of match nor one of sms, phone, email, push, other"
                ))
            }
        },
    };
    Ok(LogRule {
        name: name.unwrap_or_else(|| format!("rule {n}")),
        regex,
        kind: field("type", false)?.filter(|k| !k.is_empty()),
        counts,
        person,
        channel,
    })
}

/// A possibly multi-line message on one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
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
            ("ada@example.com acknowledged it on the phone", "system"),
            ("Alert unacknowledged via web", "system"),
            ("Alert acknowledged", "system"),
            ("Alert owner changed to Platform team", "system"),
            ("Escalation [Platform] is triggered and notified", "system"),
            ("Alert created via Prometheus", "system"),
            ("Viewed on [web]", "alertRecipient"),
            ("", "system"),
            (
                "Rule[Default][schedule][ada] -> Received sms",
                "alertRecipient",
            ),
        ] {
            assert_eq!(classify(text, kind, ADA), None, "{text:?} ({kind:?})");
        }
    }

    #[test]
    fn the_forms_found_in_real_responses() {
        for (text, kind, owner, want) in [
            (
                "Alert acknowledged via web[Default API-Acknowledge Alert]",
                "alertAction",
                ADA,
                act(Action::Acknowledged, &[ADA]),
            ),
            (
                "Alert closed via system using policy/policies[autoclose and no-notify tags]",
                "system",
                "System",
                act(Action::Closed, &["System"]),
            ),
            (
                "Rule[Default][schedule][ada@example.com] -> Sent sms to +4917****12",
                "alertRecipient",
                ADA,
                act(Action::Notified(Channel::Sms), &[ADA]),
            ),
            (
                "Rule[Night][Platform][1] -> Sent [voice] call",
                "alertRecipient",
                ADA,
                act(Action::Notified(Channel::Phone), &[ADA]),
            ),
            (
                "Rule[a][b][c] -> Sent email to ada@example.com",
                "",
                ADA,
                act(Action::Notified(Channel::Email), &[ADA]),
            ),
            // Any row type, for every built-in form.
            (
                "Alert owner changed to ada@example.com",
                "note",
                "System",
                act(Action::Assigned, &[ADA]),
            ),
        ] {
            assert_eq!(classify(text, kind, owner), want, "{text}");
        }
        // Known rows that count nothing match a rule: they are not "unmatched".
        let rules = LogRules::built_in();
        for text in [
            "Viewed on [web]",
            "Alert created via Prometheus",
            "Alert unacknowledged via web",
            "Rule[a][b][c] -> Received sms",
            "Will close alert automatically in 2h (Auto-Close out-of-rotation time)",
        ] {
            let m = rules.classify(text, "system", ADA).expect(text);
            assert_eq!(m.activity, None, "{text}");
            assert!(m.rule.starts_with("built-in:"), "{}", m.rule);
        }
        assert_eq!(
            rules.classify("Alert snoozed until 10:00", "system", ADA),
            None
        );
    }

    const FILE: &str = r#"
[[rule]]
name = "new app page"
match = '(?i)^Paged (?P<who>\S+) by (?P<how>sms|voice)$'
counts = "notification"
person = "who"
channel = "how"

[[rule]]
match = '^Took it$'
type = "alertAction"
counts = "acknowledgement"

[[rule]]
match = '^Handed to (\S+)$'
counts = "assignment"
person = "1"

[[rule]]
match = '^Pinged by chat$'
counts = "notification"
channel = "push"
"#;

    #[test]
    fn a_rules_file_extends_or_replaces_the_table() {
        let rules = LogRules::with_text("r.toml", FILE).unwrap();
        let got = |text: &str, kind: &str| rules.classify(text, kind, ADA).and_then(|m| m.activity);
        assert_eq!(
            got("Paged grace@example.com by voice", "system"),
            act(Action::Notified(Channel::Phone), &["grace@example.com"])
        );
        assert_eq!(
            got("Took it", "alertAction"),
            act(Action::Acknowledged, &[ADA])
        );
        assert_eq!(got("Took it", "system"), None, "type restricts");
        assert_eq!(
            got("Took it", ""),
            act(Action::Acknowledged, &[ADA]),
            "a row with no type is matched by a rule of any type"
        );
        assert_eq!(
            got("Handed to grace@example.com", "x"),
            act(Action::Assigned, &["grace@example.com"])
        );
        assert_eq!(
            got("Pinged by chat", "x"),
            act(Action::Notified(Channel::Push), &[ADA])
        );
        assert_eq!(
            rules.classify("Paged a@b.c by sms", "x", ADA).unwrap().rule,
            "new app page"
        );
        assert_eq!(
            rules.classify("Took it", "alertAction", ADA).unwrap().rule,
            "rule 2"
        );
        // Extend keeps the built-in rules after the file's.
        assert!(got("Alert acknowledged via web", "system").is_some());
        let replaced =
            LogRules::with_text("r.toml", &format!("mode = \"replace\"\n{FILE}")).unwrap();
        assert_eq!(
            replaced.classify("Alert acknowledged via web", "system", ADA),
            None
        );
        assert_eq!(replaced.names().count(), 4);
    }

    #[test]
    fn a_bad_rules_file_is_one_line_naming_file_rule_and_fault() {
        for (text, want) in [
            ("mode = \"merge\"", "r.toml: mode is \"merge\"; write mode"),
            ("[[rule]]\nmatch = 'x'\n", "r.toml: rule 1: no counts key"),
            (
                "[[rule]]\nname = \"n\"\nmatch = '('\ncounts = \"close\"\n",
                "r.toml: rule 1 (\"n\"): match \"(\" is not a valid regex: ",
            ),
            (
                "[[rule]]\nmatch = 'x'\ncounts = \"acks\"\n",
                "r.toml: rule 1: counts = \"acks\" is not one of notification",
            ),
            (
                "[[rule]]\nmatch = 'x (?P<u>\\S+)'\ncounts = \"assignment\"\nperson = \"who\"\n",
                "r.toml: rule 1: person = \"who\" is no capture group of match",
            ),
            (
                "[[rule]]\nmatch = 'x'\ncounts = \"notification\"\n",
                "r.toml: rule 1: a notification rule needs channel",
            ),
            (
                "[[rule]]\nmatch = 'x'\ncounts = \"notification\"\nchannel = \"pigeon\"\n",
                "r.toml: rule 1: channel = \"pigeon\" is neither",
            ),
            (
                "[[rule]]\nmatch = 'x'\ncounts = \"close\"\nwho = \"owner\"\n",
                "r.toml: rule 1: unknown key \"who\"",
            ),
            (
                "[[rule]]\nmatch = ''\ncounts = \"close\"\n",
                "r.toml: rule 1: match is empty",
            ),
            (
                "[[rule]]\nmatch = 'x\n",
                "r.toml: not valid TOML at line 2: ",
            ),
            ("rules = 1", "r.toml: unknown key \"rules\""),
        ] {
            let e = LogRules::with_text("r.toml", text).unwrap_err();
            assert!(e.starts_with(want), "{e}\n  wanted: {want}");
            assert!(!e.contains('\n'), "{e}");
        }
        let missing = std::env::temp_dir().join("ptsd-no-such-log-rules.toml");
        let e = LogRules::from_file(&missing).unwrap_err();
        assert!(e.contains("cannot read the log rules file"), "{e}");
    }
}
