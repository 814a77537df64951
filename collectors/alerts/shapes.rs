//! The shapes of activity-log rows: a row's text with its variable parts masked (e-mail
//! addresses, the row's owner, people's names, ids, digits, bracketed names), so rows that differ
//! only in who and when fall together. Unmatched shapes are how a mismatch between the log
//! rules and an account's real wording becomes visible: counted (`log_rows_unmatched`), logged
//! at info level at most once an hour ([`Shapes::report_due`]), and listed with the rule that
//! matched each by `ptsd logs`.
//!
//! Provider-neutral within the Opsgenie family (JSM Operations has the same rows): text in,
//! counts out, no HTTP.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use regex::Regex;

use crate::collectors::LogShape;

/// Most distinct shapes kept; rows of further shapes are counted under [`OVERFLOW`].
pub(crate) const MAX_SHAPES: usize = 1_000;
/// The shape of rows past [`MAX_SHAPES`].
pub(crate) const OVERFLOW: &str = "<more shapes than ptsd keeps>";
/// Unmatched shapes are logged at most this often.
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(3600);
/// How many unmatched shapes the hourly log line names.
const REPORT_TOP: usize = 5;
/// Shapes are cut to this many characters.
const MAX_SHAPE_CHARS: usize = 200;

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+").unwrap());
static ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b|\b[0-9a-fA-F]{16,}\b").unwrap()
});
static DIGITS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[0-9]+").unwrap());
/// Bracketed text, e.g. `[Platform_escalation]`, `[Default API-Acknowledge Alert]`.
static BRACKETED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\[([^\[\]]*)\]").unwrap());
/// Bracketed words kept as they are: channels and sources, which tell shapes apart.
const KEPT_IN_BRACKETS: &[&str] = &[
    "sms", "voice", "email", "e-mail", "mobile", "push", "phone", "web", "system", "api",
];

/// One regex matching any of `names` (people's full names from the directory), whole words,
/// any case; `None` without names.
pub(crate) fn names_regex<'n>(names: impl Iterator<Item = &'n str>) -> Option<Regex> {
    let mut alternatives: Vec<String> = names
        .map(str::trim)
        .filter(|n| n.chars().count() > 2)
        .map(regex::escape)
        .collect();
    if alternatives.is_empty() {
        return None;
    }
    // Longest first, so "Ada Lovelace-Byron" wins over "Ada Lovelace".
    alternatives.sort_by_key(|a| std::cmp::Reverse(a.len()));
    alternatives.dedup();
    Regex::new(&format!(r"(?i)\b(?:{})\b", alternatives.join("|"))).ok()
}

/// The shape of `text`, written by `owner`, with the people `names` matches masked.
pub(crate) fn shape(text: &str, owner: &str, names: Option<&Regex>) -> String {
    let mut s = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let owner = owner.trim();
    if owner.len() > 2 && !owner.eq_ignore_ascii_case("system") {
        s = replace_ascii_ci(&s, owner, "<owner>");
    }
    s = EMAIL.replace_all(&s, "<email>").into_owned();
    if let Some(names) = names {
        s = names.replace_all(&s, "<name>").into_owned();
    }
    s = BRACKETED
        .replace_all(&s, |c: &regex::Captures<'_>| {
            let inner = c[1].trim();
            if inner.starts_with('<')
                || KEPT_IN_BRACKETS
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(inner))
            {
                format!("[{inner}]")
            } else {
                "[…]".to_string()
            }
        })
        .into_owned();
    s = ID.replace_all(&s, "<id>").into_owned();
    s = DIGITS.replace_all(&s, "<n>").into_owned();
    s.chars().take(MAX_SHAPE_CHARS).collect()
}

/// `s` with every ASCII-case-insensitive occurrence of `needle` replaced by `with`.
fn replace_ascii_ci(s: &str, needle: &str, with: &str) -> String {
    // ASCII lowercasing keeps byte offsets, so positions in `lower` are positions in `s`.
    let lower = s.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    while let Some(i) = lower[at..].find(&needle) {
        out.push_str(&s[at..at + i]);
        out.push_str(with);
        at += i + needle.len();
    }
    out.push_str(&s[at..]);
    out
}

/// Row shapes seen, by shape, type and matching rule.
#[derive(Debug, Default)]
pub(crate) struct Shapes {
    seen: HashMap<(String, String, Option<String>), u64>,
    /// Unmatched rows since the last report, by shape.
    unmatched: HashMap<String, u64>,
    reported: Option<Instant>,
}

impl Shapes {
    /// Counts one row of `shape` and row type `kind` that `rule` matched (`None`: no rule).
    pub(crate) fn record(&mut self, shape: String, kind: &str, rule: Option<&str>) {
        let kind = kind.trim().to_string();
        let rule = rule.map(String::from);
        if rule.is_none() {
            if self.unmatched.len() < MAX_SHAPES || self.unmatched.contains_key(&shape) {
                *self.unmatched.entry(shape.clone()).or_default() += 1;
            } else {
                *self.unmatched.entry(OVERFLOW.to_string()).or_default() += 1;
            }
        }
        let key = (shape, kind, rule);
        if self.seen.len() < MAX_SHAPES || self.seen.contains_key(&key) {
            *self.seen.entry(key).or_default() += 1;
        } else {
            *self
                .seen
                .entry((OVERFLOW.to_string(), String::new(), key.2))
                .or_default() += 1;
        }
    }

    /// Every shape, most frequent first.
    pub(crate) fn all(&self) -> Vec<LogShape> {
        let mut out: Vec<LogShape> = self
            .seen
            .iter()
            .map(|((shape, kind, rule), rows)| LogShape {
                shape: shape.clone(),
                kind: kind.clone(),
                rule: rule.clone(),
                rows: *rows,
            })
            .collect();
        out.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.shape.cmp(&b.shape)));
        out
    }

    /// The most frequent unmatched shapes since the last report, when there are some and the
    /// last report is [`REPORT_EVERY`] old (or there was none); they are then forgotten.
    pub(crate) fn report_due(&mut self, now: Instant) -> Option<Vec<(String, u64)>> {
        if self.unmatched.is_empty()
            || self
                .reported
                .is_some_and(|r| now.saturating_duration_since(r) < REPORT_EVERY)
        {
            return None;
        }
        self.reported = Some(now);
        let mut top: Vec<(String, u64)> = self.unmatched.drain().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(REPORT_TOP);
        Some(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_mask_people_ids_and_numbers() {
        let names = names_regex(["Grace Hopper", "Al"].into_iter());
        for (text, owner, want) in [
            (
                "Sent [SMS] notification to ada@example.com",
                "System",
                "Sent [SMS] notification to <email>",
            ),
            (
                "Rule[Default][schedule][ada] -> Sent sms to +4917****12",
                "ada@example.com",
                "Rule[…][…][…] -> Sent sms to +<n>****<n>",
            ),
            (
                "Paged Grace Hopper  about alert 1791 (8f1c0d3e-0000-4000-8000-000000000001)",
                "System",
                "Paged <name> about alert <n> (<id>)",
            ),
            (
                "Alert acknowledged via web[Default API-Acknowledge Alert]",
                "ada@example.com",
                "Alert acknowledged via web[…]",
            ),
            ("Taken by grace.h", "grace.h", "Taken by <owner>"),
        ] {
            assert_eq!(shape(text, owner, names.as_ref()), want, "{text}");
        }
    }

    #[test]
    fn unmatched_shapes_are_reported_at_most_hourly() {
        let mut s = Shapes::default();
        let t0 = Instant::now();
        assert_eq!(s.report_due(t0), None, "nothing unmatched: nothing to say");
        s.record("a".into(), "system", None);
        s.record("a".into(), "system", None);
        s.record("b".into(), "system", None);
        s.record("c".into(), "system", Some("built-in:closed"));
        assert_eq!(
            s.report_due(t0),
            Some(vec![("a".to_string(), 2), ("b".to_string(), 1)])
        );
        s.record("d".into(), "system", None);
        assert_eq!(
            s.report_due(t0 + REPORT_EVERY / 2),
            None,
            "not within the hour"
        );
        assert_eq!(
            s.report_due(t0 + REPORT_EVERY),
            Some(vec![("d".to_string(), 1)])
        );
        let all = s.all();
        assert_eq!(all[0].shape, "a");
        assert_eq!(all.iter().map(|x| x.rows).sum::<u64>(), 5);
        assert_eq!(
            all.iter().find(|x| x.shape == "c").unwrap().rule.as_deref(),
            Some("built-in:closed")
        );
    }

    #[test]
    fn shapes_are_bounded() {
        let mut s = Shapes::default();
        for i in 0..MAX_SHAPES + 10 {
            s.record(format!("shape {i}"), "system", None);
        }
        let all = s.all();
        assert_eq!(all.len(), MAX_SHAPES + 1);
        assert_eq!(all.iter().find(|x| x.shape == OVERFLOW).unwrap().rows, 10);
    }
}
