//! How a category reads: [`shape`] keeps an incident title as written but puts a placeholder
//! where [`super::normalise`] drops a variable part, so "CPU load 79 on 10.0.3.3" reads
//! `CPU load <n> on <ip>` in the report while its metric tag stays the short `cpu load on`.
//!
//! Placeholders: `<n>` a number (its unit kept: `<n>%`, `<n>ms`), `<ip>` an IPv4, IPv6 or MAC
//! address (with any `/prefix` or `:port`), `<time>` a date or time, `<version>` a version,
//! `<id>` a UUID, hex or generated id, `<pod>` a Kubernetes pod suffix. Host numbers keep
//! their name (`web17` → `web<n>`, `db-17` → `db-<n>`).

use std::sync::LazyLock;

use regex::Regex;

use super::{
    capped, is_edge, is_mixed_id, strip_pod_suffix, EMBEDDED, HEX_ID, JOINERS, KEEP_DIGITS, NUMBER,
    SPLITTERS, VARIABLE,
};

/// Addresses: IPv4 (with `/prefix`, `:port`), IPv6, MAC.
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        "^(?:",
        r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?:/[0-9]{1,2})?(?::[0-9]{1,5})?",
        r"|[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3})?",
        r"(?:%[0-9a-z]+)?(?:/[0-9]{1,3})?",
        r"|[0-9a-f]{2}(?:-[0-9a-f]{2}){5}",
        ")$",
    ))
    .expect("the address pattern is valid")
});

/// Dates and times (as in [`VARIABLE`]).
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        "^(?:",
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:t[0-9:.,]+(?:z|[+-][0-9:]+)?)?",
        r"|[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}",
        r"|[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2,4}",
        r"|[0-9]{8}t[0-9]{4,6}z?",
        r"|[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?(?:[.,][0-9]+)?(?:z|am|pm)?",
        ")$",
    ))
    .expect("the time pattern is valid")
});

static VERSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^v[0-9]+(?:\.[0-9]+)+(?:-[0-9a-z.]+)?$").expect("the version pattern is valid")
});

/// A run of digits with decimals or an exponent: what `<n>` replaces inside a number.
static DIGITS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[0-9]+(?:[.,][0-9]+)*(?:e[+-]?[0-9]+)?").expect("the digits pattern is valid")
});

/// The title with a placeholder for each variable part, as written otherwise (case, symbols
/// and spacing kept; runs of whitespace become one space). A title with nothing but
/// variable parts keeps its placeholders (`12345` → `<n>`); an empty one is `untitled`.
pub fn shape(title: &str) -> String {
    let title = capped(title);
    let mut out = String::with_capacity(title.len());
    let mut word = String::new();
    for c in title.chars() {
        if c.is_whitespace() || SPLITTERS.contains(&c) {
            out.push_str(&shape_word(&word));
            word.clear();
            if c.is_whitespace() {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            } else {
                out.push(c);
            }
        } else {
            word.push(c);
        }
    }
    out.push_str(&shape_word(&word));
    let out = out.trim();
    if out.is_empty() {
        super::UNTITLED.to_string()
    } else {
        out.to_string()
    }
}

/// One word with its variable parts replaced; its edge symbols kept.
fn shape_word(raw: &str) -> String {
    let core = raw.trim_matches(is_edge);
    if core.is_empty() {
        return raw.to_string();
    }
    let start = raw.len() - raw.trim_start_matches(is_edge).len();
    let (lead, trail) = (&raw[..start], &raw[start + core.len()..]);
    let lower = core.to_lowercase();
    // Times first: `03:14:07` would also read as an IPv6 address.
    let whole = if TIME.is_match(&lower) {
        Some("<time>".to_string())
    } else if ADDRESS.is_match(&lower) {
        Some("<ip>".to_string())
    } else if VERSION.is_match(&lower) {
        Some("<version>".to_string())
    } else if lower.len() == core.len()
        && EMBEDDED.find(&lower).is_some_and(|m| m.len() == core.len())
    {
        Some(if lower.contains('t') && lower.contains(':') {
            "<time>".to_string()
        } else {
            "<id>".to_string()
        })
    } else if VARIABLE.is_match(&lower) {
        Some(DIGITS.replace_all(core, "<n>").into_owned())
    } else {
        None
    };
    let middle = whole.unwrap_or_else(|| shape_parts(core));
    format!("{lead}{middle}{trail}")
}

/// A word's parts between joiners, each variable one replaced; a pod suffix becomes `<pod>`.
fn shape_parts(core: &str) -> String {
    if core.is_ascii() {
        let lower = core.to_ascii_lowercase();
        let name = strip_pod_suffix(&lower);
        if name.len() < lower.len() {
            return format!("{}-<pod>", shape_parts(&core[..name.len()]));
        }
    }
    let mut out = String::with_capacity(core.len());
    let mut part = String::new();
    for c in core.chars() {
        if JOINERS.contains(&c) {
            out.push_str(&shape_part(&part));
            part.clear();
            out.push(c);
        } else {
            part.push(c);
        }
    }
    out.push_str(&shape_part(&part));
    out
}

/// One part of a word: a number, a host number or an id replaced, else as written.
fn shape_part(part: &str) -> String {
    if part.is_empty() {
        return String::new();
    }
    let lower = part.to_lowercase();
    if NUMBER.is_match(&lower) {
        return DIGITS.replace_all(part, "<n>").into_owned();
    }
    let letters = part.trim_end_matches(|c: char| c.is_ascii_digit());
    if letters.len() < part.len()
        && letters.chars().count() >= 2
        && letters.chars().all(char::is_alphabetic)
    {
        return if KEEP_DIGITS.contains(&lower.as_str()) {
            part.to_string()
        } else {
            format!("{letters}<n>")
        };
    }
    let hex = HEX_ID.is_match(&lower)
        && (lower.starts_with("0x") || lower.chars().any(|c| c.is_ascii_digit()));
    if hex || is_mixed_id(&lower) {
        return "<id>".to_string();
    }
    part.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_read_as_their_shape() {
        for (title, want) in [
            ("CPU load 79 on 10.0.3.3", "CPU load <n> on <ip>"),
            ("disk 91% on db-17", "disk <n>% on db-<n>"),
            (
                "[FIRING:1] HighLatency api-7 p99 1250ms",
                "[FIRING:<n>] HighLatency api-<n> p99 <n>ms",
            ),
            (
                "Job 5f2c9a1e-7b3d-4c1a-9e2f-0a1b2c3d4e5f failed at 2026-11-22T03:14:07Z",
                "Job <id> failed at <time>",
            ),
            (
                "Pod checkout-7d9f8c6b5-x2k4q CrashLoopBackOff",
                "Pod checkout-<pod> CrashLoopBackOff",
            ),
            (
                "Replication lag 35s on pg-replica-2",
                "Replication lag <n>s on pg-replica-<n>",
            ),
            ("0xdeadbeef panic in worker 3", "<id> panic in worker <n>"),
            ("12345", "<n>"),
            (
                "Health check failed on web17",
                "Health check failed on web<n>",
            ),
            (
                "Link down on [2001:db8::1]:443 (eth0)",
                "Link down on [<ip>]:<n> (eth<n>)",
            ),
            (
                "High 5xx rate on lb v1.2.3",
                "High 5xx rate on lb <version>",
            ),
            (
                "Backup failed 2026-11-22 03:14:07",
                "Backup failed <time> <time>",
            ),
            ("Request a8Kd9xQ2 failed", "Request <id> failed"),
            ("  ", "untitled"),
            (
                "TLS for auth.example.com expires in 3 days",
                "TLS for auth.example.com expires in <n> days",
            ),
        ] {
            assert_eq!(shape(title), want, "title {title:?}");
        }
    }

    #[test]
    fn titles_of_one_category_share_a_shape() {
        for (a, b) in [
            ("CPU load 4.5 on 10.0.3.17", "CPU load 12.1 on 10.0.9.201"),
            ("disk 91% on db-17", "disk 93% on db-4"),
            (
                "Pod checkout-7d9f8c6b5-x2k4q CrashLoopBackOff",
                "Pod checkout-5c4b3a291-abcde CrashLoopBackOff",
            ),
            (
                "0xdeadbeef panic in worker 3",
                "0xcafebabe panic in worker 9",
            ),
        ] {
            assert_eq!(shape(a), shape(b), "{a:?} vs {b:?}");
            assert_eq!(super::super::normalise(a), super::super::normalise(b));
        }
    }

    #[test]
    fn odd_titles_never_panic() {
        let long = "é💥1 ".repeat(5_000);
        for t in [
            "",
            "💥",
            "-",
            "0x",
            "::::",
            "İİİ",
            "a-b-c-12345",
            long.as_str(),
            "\u{feff}x",
        ] {
            assert!(!shape(t).is_empty(), "{t:?}");
        }
    }
}
