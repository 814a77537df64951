//! Incident categories: titles such as "disk 91% on db-17" and "disk 93% on db-4" fall together
//! as "disk on db", for a counter per category and the weekly report's noisiest alerts.
//! [`normalise`] strips the variable parts of a title (numbers, ids, addresses, times, host and
//! pod suffixes). An optional rules file overrides it; first match wins, on the raw title:
//! `[[rule]]` tables, each `match = '<regex>'` and `category = "<name>"`. At most `max`
//! distinct categories ([`DEFAULT_MAX`]) are ever known; past the cap a new one is [`OTHER`].
//! The known set is exported and imported so that a title maps the same after a restart.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

mod shape;
pub use shape::shape;

/// The category of every title once the cap is reached; never counted towards the cap.
pub const OTHER: &str = "other";
/// The default cap on distinct categories.
pub const DEFAULT_MAX: usize = 100;

/// Titles are cut to this many chars before any work (rules and normalising).
const MAX_TITLE_CHARS: usize = 1_000;
/// What [`normalise`] gives for a title that had nothing but variable parts.
const UNTITLED: &str = "untitled";

/// Characters that end a word outright; they never survive normalising.
const SPLITTERS: &[char] = &[
    '(', ')', '[', ']', '{', '}', '<', '>', ',', ';', '=', '"', '\'', '`', '|', '\\',
];
/// Characters that join the parts of a word (`db-17.prod`, `pg_replica`, `firing:1`, paths).
const JOINERS: &[char] = &['-', '_', '.', ':', '/'];
/// The alphabet of Kubernetes' generated name suffixes (no vowels, no 0, 1 or 3).
const KUBE_ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";
/// Words of two or more letters whose trailing digits are part of the name, not a host number.
const KEEP_DIGITS: &[&str] = &[
    "amd64", "arm64", "base64", "ec2", "http2", "http3", "ipv4", "ipv6", "md5", "oauth2", "sha1",
    "sha256", "sha512", "utf16", "utf8",
];
/// Date and time words, dropped when they sit next to a dropped number, date or time.
const DATE_WORDS: &[&str] = &[
    "jan",
    "january",
    "feb",
    "february",
    "mar",
    "march",
    "apr",
    "april",
    "may",
    "jun",
    "june",
    "jul",
    "july",
    "aug",
    "august",
    "sep",
    "sept",
    "september",
    "oct",
    "october",
    "nov",
    "november",
    "dec",
    "december",
    "mon",
    "monday",
    "tue",
    "tues",
    "tuesday",
    "wed",
    "wednesday",
    "thu",
    "thur",
    "thurs",
    "thursday",
    "fri",
    "friday",
    "sat",
    "saturday",
    "sun",
    "sunday",
    "am",
    "pm",
    "utc",
    "gmt",
    "z",
];

/// Units that may follow a number (`91%`, `500ms`, `3.5gb`, `1h30m`), lowercase.
macro_rules! units {
    () => {
        r"(?:%|x|k|[kmgtpe]i?b|b|bytes?|[kmgt]?bps|[kmgt]?b/s|ns|us|µs|μs|ms|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?|rps|qps|rpm|tps|iops|ops|[kmg]?hz|°c|°f)"
    };
}

/// UUIDs and ISO-8601 timestamps, wherever they are in the (lowercased) title.
static EMBEDDED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        r"|[0-9]{4}-[0-9]{2}-[0-9]{2}t[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?",
        r"(?:z|[+-][0-9]{2}(?::?[0-9]{2})?)?",
    ))
    .expect("the embedded-id pattern is valid")
});

/// A whole word that is variable: a date, a time, an address, a version or a number.
static VARIABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        "^(?:",
        // Dates and timestamps: 2026-11-22, 2026-11-22t03:14, 2026/11/22, 22/11/2026, 22.11.26,
        // 20261122t031407z, 03:14, 03:14:07.123, 3:14pm.
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:t[0-9:.,]+(?:z|[+-][0-9:]+)?)?",
        r"|[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}",
        r"|[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2,4}",
        r"|[0-9]{8}t[0-9]{4,6}z?",
        r"|[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?(?:[.,][0-9]+)?(?:z|am|pm)?",
        // IPv4 with optional /prefix and :port.
        r"|[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?:/[0-9]{1,2})?(?::[0-9]{1,5})?",
        // IPv6 (also v4-mapped, zone, /prefix) and colon MAC addresses; dash MAC addresses.
        r"|[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3})?",
        r"(?:%[0-9a-z]+)?(?:/[0-9]{1,3})?",
        r"|[0-9a-f]{2}(?:-[0-9a-f]{2}){5}",
        // Versions: v1.2.3, v1.2.3-rc.1.
        r"|v[0-9]+(?:\.[0-9]+)+(?:-[0-9a-z.]+)?",
        // Numbers with decimals, exponents, units and compound durations: 91%, 3.5gb, 1h30m.
        r"|[+-]?(?:[0-9]+(?:[.,][0-9]+)*(?:e[+-]?[0-9]+)?",
        units!(),
        "?)+",
        ")$",
    ))
    .expect("the variable-word pattern is valid")
});

/// One part of a word (between joiners) that is a number, optionally with a unit.
static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(r"^(?:[0-9]+", units!(), "?)+$")).expect("the number pattern is valid")
});

/// A hex id: 0x-prefixed, or 8+ hex digits (the caller checks for at least one digit).
static HEX_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:0x[0-9a-f]+|[0-9a-f]{8,})$").expect("the hex-id pattern is valid")
});

/// A spaced unit word after a number ("3 hours", "500 ms"); single letters are kept.
static UNIT_WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!("^", units!(), "$")).expect("the unit-word pattern is valid")
});

/// Cuts `title` to at most [`MAX_TITLE_CHARS`] chars, on a char boundary.
fn capped(title: &str) -> &str {
    match title.char_indices().nth(MAX_TITLE_CHARS) {
        Some((end, _)) => &title[..end],
        None => title,
    }
}

/// Strips the variable parts of an incident title, giving a short readable phrase that titles
/// of the same alert share. The title is first cut to 1,000 chars and lowercased; then, per
/// word (words split at whitespace and at `()[]{}<>,;="'|\` and backquotes):
///
/// - dropped outright: UUIDs, ISO-8601 timestamps and dates (`2026-11-22T03:14:07Z`,
///   `2026-11-22`, `22/11/2026`), times (`03:14:07`, `03:14`, `3:14pm`), IPv4 and IPv6
///   addresses with an optional `/prefix` or `:port`, MAC addresses, versions (`v1.2.3`),
///   numbers with decimals and attached units (`91%`, `500ms`, `3.5GB`, `1h30m`), hex ids
///   (8+ hex chars with at least one digit, or `0x`-prefixed), and mixed letter-digit ids of
///   6+ chars with 2+ digits and 4+ letter/digit changes (`a8kd9xq2`);
/// - within a word, parts between `-` `_` `.` `:` `/` that are numbers or ids go
///   (`db-17` → `db`, `pg-replica-2` → `pg-replica`, `firing:1` → `firing`), and a part of 2+
///   letters followed by digits loses the digits (`web17` → `web`), except a few names
///   such as `ipv6`, `ec2`, `sha256`; a single letter keeps them (`p99`, `s3`, `v2`);
/// - Kubernetes pod suffixes go: `-<hash>-<5 alnum>` where the hash is 8-10 lowercase
///   letters and digits with a digit (or only Kubernetes' vowel-less alphabet), and a lone
///   `-<5 alnum>` with a digit or in that alphabet (`checkout-7d9f8c6b5-x2k4q` → `checkout`);
/// - a URL's `scheme://` goes; month and day names, `am`/`pm`/`utc`/`gmt` go when next to a
///   dropped date, time or number; a unit word of 2+ chars right after a dropped number goes
///   (`3 hours`, `500 ms`);
/// - symbols and punctuation at the edges of words go (`[firing:1]` → `firing`; `💥` goes).
///
/// The words left are joined by single spaces. A title with nothing left is `untitled`.
///
/// | title                                             | category                          |
/// |---------------------------------------------------|-----------------------------------|
/// | `disk 91% on db-17`                               | `disk on db`                      |
/// | `[FIRING:1] HighLatency api-7 p99 1250ms`         | `firing highlatency api p99`      |
/// | `CPU load 4.5 on 10.0.3.17`                       | `cpu load on`                     |
/// | `Job 5f2c9a1e-…-0a1b2c3d4e5f failed at 2026-11-22T03:14:07Z` | `job failed at`        |
/// | `Pod checkout-7d9f8c6b5-x2k4q CrashLoopBackOff`   | `pod checkout crashloopbackoff`   |
/// | `Replication lag 35s on pg-replica-2`             | `replication lag on pg-replica`   |
/// | `0xdeadbeef panic in worker 3`                    | `panic in worker`                 |
/// | `12345`                                           | `untitled`                        |
pub fn normalise(title: &str) -> String {
    let lower = capped(title).to_lowercase();
    let lower = EMBEDDED.replace_all(&lower, " ");
    let words: Vec<Word> = lower
        .split(|c: char| c.is_whitespace() || SPLITTERS.contains(&c))
        .filter_map(word)
        .collect();

    let is_variable = |i: usize| matches!(words[i], Word::Variable);
    let is_date = |i: usize| matches!(&words[i], Word::Kept(w) if DATE_WORDS.contains(&w.as_str()));
    let mut dropped = vec![false; words.len()];
    // Date words go when a run of date words and variables holds at least one variable.
    let mut i = 0;
    while i < words.len() {
        let start = i;
        let mut has_variable = false;
        while i < words.len() && (is_variable(i) || is_date(i)) {
            has_variable |= is_variable(i);
            i += 1;
        }
        if has_variable {
            (start..i)
                .filter(|&j| is_date(j))
                .for_each(|j| dropped[j] = true);
        }
        if i == start {
            i += 1;
        }
    }
    // Unit words go right after a variable ("3 hours").
    for j in 1..words.len() {
        if is_variable(j - 1) {
            if let Word::Kept(w) = &words[j] {
                if w.chars().count() >= 2 && UNIT_WORD.is_match(w) {
                    dropped[j] = true;
                }
            }
        }
    }

    let kept: Vec<&str> = words
        .iter()
        .zip(&dropped)
        .filter_map(|(w, &gone)| match w {
            Word::Kept(w) if !gone => Some(w.as_str()),
            _ => None,
        })
        .collect();
    if kept.is_empty() {
        UNTITLED.to_string()
    } else {
        kept.join(" ")
    }
}

/// One word of a title after normalising.
enum Word {
    /// What is left of the word.
    Kept(String),
    /// The word was a variable part (a number, an id, an address, a time) and is gone.
    Variable,
}

fn is_edge(c: char) -> bool {
    !c.is_alphanumeric()
}

/// Normalises one word; `None` for a word of only symbols and punctuation.
fn word(raw: &str) -> Option<Word> {
    let core = raw.trim_matches(is_edge);
    if core.is_empty() {
        return None;
    }
    if VARIABLE.is_match(raw) || VARIABLE.is_match(core) {
        return Some(Word::Variable);
    }
    let core = match core.split_once("://") {
        Some((scheme, rest)) if scheme.chars().all(|c| c.is_ascii_alphanumeric()) => rest,
        _ => core,
    };
    let core = strip_pod_suffix(core);
    let kept = parts(core);
    Some(if kept.is_empty() {
        Word::Variable
    } else {
        Word::Kept(kept)
    })
}

fn has_digit(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit())
}

fn is_lower_alnum(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn in_kube_alphabet(s: &str) -> bool {
    s.chars().all(|c| KUBE_ALPHABET.contains(c))
}

/// `checkout-7d9f8c6b5-x2k4q` → `checkout`, `fluentd-x2k4q` → `fluentd`.
fn strip_pod_suffix(word: &str) -> &str {
    let Some((rest, suffix)) = word.rsplit_once('-') else {
        return word;
    };
    if rest.is_empty() || suffix.len() != 5 || !is_lower_alnum(suffix) {
        return word;
    }
    if let Some((name, hash)) = rest.rsplit_once('-') {
        if !name.is_empty()
            && (8..=10).contains(&hash.len())
            && is_lower_alnum(hash)
            && (has_digit(hash) || in_kube_alphabet(hash))
        {
            return name;
        }
    }
    if has_digit(suffix) || in_kube_alphabet(suffix) {
        rest
    } else {
        word
    }
}

/// The parts of a word between joiners, variable ones dropped, rejoined: each kept part is
/// preceded by the joiner just before it (`db-17.prod` → `db.prod`, `a--b` → `a-b`).
fn parts(word: &str) -> String {
    let joiners: Vec<char> = word.chars().filter(|c| JOINERS.contains(c)).collect();
    let mut out = String::new();
    for (k, part) in word.split(JOINERS).enumerate() {
        let Some(part) = part_kept(part) else {
            continue;
        };
        if !out.is_empty() {
            // `out` is non-empty only after an earlier part, so k >= 1.
            if let Some(&joiner) = joiners.get(k.wrapping_sub(1)) {
                out.push(joiner);
            }
        }
        out.push_str(part);
    }
    out
}

/// What is kept of one part of a word, if anything.
fn part_kept(part: &str) -> Option<&str> {
    let part = part.trim_matches(is_edge);
    if part.is_empty() || NUMBER.is_match(part) {
        return None;
    }
    // Host numbers: web17 → web (but p99, s3, ipv6, ec2 stay).
    let letters = part.trim_end_matches(|c: char| c.is_ascii_digit());
    if letters.len() < part.len()
        && letters.chars().count() >= 2
        && letters.chars().all(char::is_alphabetic)
    {
        return Some(if KEEP_DIGITS.contains(&part) {
            part
        } else {
            letters
        });
    }
    if HEX_ID.is_match(part) && (part.starts_with("0x") || has_digit(part)) {
        return None;
    }
    if is_mixed_id(part) {
        return None;
    }
    Some(part)
}

/// A generated id such as `a8kd9xq2`: 6+ ASCII letters and digits, 2+ of them digits, with at
/// least 4 changes between letters and digits.
fn is_mixed_id(part: &str) -> bool {
    if part.len() < 6 || !part.chars().all(|c| c.is_ascii_alphanumeric()) {
        return false;
    }
    let digits = part.chars().filter(char::is_ascii_digit).count();
    let changes = part
        .as_bytes()
        .windows(2)
        .filter(|w| w[0].is_ascii_digit() != w[1].is_ascii_digit())
        .count();
    digits >= 2 && digits < part.len() && changes >= 4
}

/// One user rule: titles its regex matches fall in its category.
#[derive(Debug, Clone)]
pub struct Rule {
    regex: Regex,
    category: String,
}

/// The categoriser: user rules, the cap, and the categories seen so far.
#[derive(Debug, Clone)]
pub struct Categorizer {
    rules: Vec<Rule>,
    max: usize,
    known: BTreeSet<String>,
}

impl Categorizer {
    /// No rules; at most `max` distinct categories. `max` should be at least 1 (the config
    /// validates it): with 0, every title is [`OTHER`].
    pub fn new(max: usize) -> Self {
        Self {
            rules: Vec::new(),
            max,
            known: BTreeSet::new(),
        }
    }

    /// Adds the rules in a rules file's text, after any rules already added. Format:
    ///
    /// ```toml
    /// [[rule]]
    /// match = '(?i)disk .* (full|\d+%)'
    /// category = "disk full"
    /// ```
    ///
    /// `match` is a [`regex`](https://docs.rs/regex) pattern, searched for anywhere in the raw
    /// title (add `(?i)` for any case, `^`/`$` to anchor); `category` is used as is, trimmed.
    /// An empty text has no rules. An error is one line naming `origin`, the rule's number
    /// (1-based) and what is wrong, e.g.
    /// `/etc/ptsd/rules.toml: rule 2: match "(" is not a valid regex: unclosed group`.
    pub fn with_rules_text(mut self, origin: &str, text: &str) -> Result<Self, String> {
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
        if let Some(key) = table.keys().find(|k| *k != "rule") {
            return Err(format!(
                "{origin}: unknown key {}; the file holds only [[rule]] tables with match and category",
                quoted(key)
            ));
        }
        let rules = match table.get("rule") {
            None => return Ok(self),
            Some(toml::Value::Array(rules)) => rules,
            Some(other) => {
                return Err(format!(
                    "{origin}: rule is {}, not a list of [[rule]] tables",
                    a(other.type_str())
                ))
            }
        };
        for (i, rule) in rules.iter().enumerate() {
            let n = i + 1;
            let toml::Value::Table(rule) = rule else {
                return Err(format!(
                    "{origin}: rule {n}: is {}, not a [[rule]] table",
                    a(rule.type_str())
                ));
            };
            if let Some(key) = rule.keys().find(|k| *k != "match" && *k != "category") {
                return Err(format!(
                    "{origin}: rule {n}: unknown key {}; a rule has only match and category",
                    quoted(key)
                ));
            }
            let field = |key: &str| {
                match rule.get(key) {
                None => Err(format!(
                    "{origin}: rule {n}: no {key} key; each [[rule]] needs match = '<regex>' and category = \"<name>\""
                )),
                Some(toml::Value::String(s)) => Ok(s.as_str()),
                Some(other) => Err(format!(
                    "{origin}: rule {n}: {key} is {}, not a string",
                    a(other.type_str())
                )),
            }
            };
            let pattern = field("match")?;
            let category = field("category")?.trim();
            if pattern.is_empty() {
                return Err(format!(
                    "{origin}: rule {n}: match is empty; it would match every title (write '.*' if that is meant)"
                ));
            }
            if category.is_empty() {
                return Err(format!("{origin}: rule {n}: category is empty"));
            }
            let regex = Regex::new(pattern).map_err(|e| {
                format!(
                    "{origin}: rule {n}: match {} is not a valid regex: {}",
                    quoted(pattern),
                    regex_message(&e)
                )
            })?;
            self.rules.push(Rule {
                regex,
                category: category.to_string(),
            });
        }
        Ok(self)
    }

    /// Reads the rules file at `path`, then as [`Categorizer::with_rules_text`] with the path as
    /// origin. An unreadable file is an error naming it.
    pub fn with_rules_file(self, path: &Path) -> Result<Self, String> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{origin}: cannot read the category rules file: {e}"))?;
        self.with_rules_text(&origin, &text)
    }

    /// Adds categories known before (from saved state). [`OTHER`] and empty names are ignored.
    /// All are kept even past the cap, so that saved titles keep their category after the cap
    /// is lowered; no new category is added until fewer than `max` are known.
    pub fn with_known(mut self, known: impl IntoIterator<Item = String>) -> Self {
        self.known
            .extend(known.into_iter().filter(|c| !c.is_empty() && c != OTHER));
        self
    }

    /// The category of `title` (cut to 1,000 chars): the category of the first rule whose
    /// regex matches the raw title, else [`normalise`]`(title)`. A category already known is
    /// returned as is; a new one is added to the known set while fewer than `max` are known,
    /// else [`OTHER`] is returned. Rule categories count towards the cap; [`OTHER`] never does.
    pub fn categorize(&mut self, title: &str) -> String {
        let title = capped(title);
        let category = self
            .rules
            .iter()
            .find(|rule| rule.regex.is_match(title))
            .map(|rule| rule.category.clone())
            .unwrap_or_else(|| normalise(title));
        if category == OTHER || self.known.contains(&category) {
            return category;
        }
        if self.known.len() < self.max {
            self.known.insert(category.clone());
            category
        } else {
            OTHER.to_string()
        }
    }

    /// [`Categorizer::categorize`], with how the category reads in the report: the matching
    /// rule's category, [`OTHER`] past the cap, else the title's [`shape`]
    /// (`CPU load <n> on <ip>`).
    pub fn categorize_shaped(&mut self, title: &str) -> (String, String) {
        let category = self.categorize(title);
        let title = capped(title);
        let shaped = if category == OTHER {
            OTHER.to_string()
        } else if let Some(rule) = self.rules.iter().find(|r| r.regex.is_match(title)) {
            rule.category.clone()
        } else {
            shape(title)
        };
        (category, shaped)
    }

    /// Whether the cap is reached: a new category would be [`OTHER`].
    pub fn is_full(&self) -> bool {
        self.known.len() >= self.max
    }

    /// Forgets a known category, freeing its place under the cap.
    pub fn forget(&mut self, category: &str) {
        self.known.remove(category);
    }

    /// The categories known now (to save).
    pub fn known(&self) -> &BTreeSet<String> {
        &self.known
    }
}

/// `s` in double quotes on one line: control characters escaped, the rest as written.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// A TOML type name with its article: "a string", "an integer".
fn a(type_name: &str) -> String {
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {type_name}")
}

/// A possibly multi-line message on one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The gist of a regex error: its `error: ...` line, or the whole message on one line.
fn regex_message(e: &regex::Error) -> String {
    let message = e.to_string();
    message
        .lines()
        .find_map(|line| line.trim().strip_prefix("error:"))
        .map(one_line)
        .unwrap_or_else(|| one_line(&message))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented examples: these outputs are the contract.
    const EXACT: &[(&str, &str)] = &[
        ("disk 91% on db-17", "disk on db"),
        (
            "[FIRING:1] HighLatency api-7 p99 1250ms",
            "firing highlatency api p99",
        ),
        ("CPU load 4.5 on 10.0.3.17", "cpu load on"),
        (
            "Job 5f2c9a1e-7b3d-4c1a-9e2f-0a1b2c3d4e5f failed at 2026-11-22T03:14:07Z",
            "job failed at",
        ),
        (
            "Pod checkout-7d9f8c6b5-x2k4q CrashLoopBackOff",
            "pod checkout crashloopbackoff",
        ),
        (
            "Replication lag 35s on pg-replica-2",
            "replication lag on pg-replica",
        ),
        ("0xdeadbeef panic in worker 3", "panic in worker"),
        ("12345", "untitled"),
        (
            "Sat, 22 Nov 2026 03:14:07 +0000: backup failed on web17",
            "backup failed on web",
        ),
        (
            "GET https://api.example.com/v1/users/12345 returned 503 after 2.5 seconds",
            "get api.example.com/v1/users returned after",
        ),
        ("Link down on [2001:db8::1]:443 (eth0)", "link down on eth"),
        (
            "ip-10-0-3-17.ec2.internal unreachable since 03:14",
            "ip.ec2.internal unreachable since",
        ),
        (
            "Disk may fill in 3 hours on s3 mirror",
            "disk may fill in on s3 mirror",
        ),
        ("High 5xx rate on lb v1.2.3", "high 5xx rate on lb"),
    ];

    #[test]
    fn exact_outputs() {
        for (title, want) in EXACT {
            assert_eq!(normalise(title), *want, "title {title:?}");
        }
    }

    #[test]
    fn normalising_is_idempotent_on_the_examples() {
        for (title, _) in EXACT {
            let once = normalise(title);
            assert_eq!(normalise(&once), once, "title {title:?}");
        }
    }

    #[test]
    fn same_alert_falls_together() {
        let pairs = [
            ("disk 91% on db-17", "disk 93% on db-4"),
            (
                "[FIRING:1] HighLatency api-7 p99 1250ms",
                "[FIRING:3] HighLatency api-12 p99 980ms",
            ),
            ("CPU load 4.5 on 10.0.3.17", "CPU load 12.1 on 10.0.9.201"),
            (
                "Job 5f2c9a1e-7b3d-4c1a-9e2f-0a1b2c3d4e5f failed at 2026-11-22T03:14:07Z",
                "Job 0e1d2c3b-aaaa-4bbb-8ccc-123456789abc failed at 2026-11-21T23:59:59Z",
            ),
            (
                "Pod checkout-7d9f8c6b5-x2k4q CrashLoopBackOff",
                "Pod checkout-5c4b3a291-abcde CrashLoopBackOff",
            ),
            (
                "Pod checkout-6d4cf56db6-xk2jq CrashLoopBackOff",
                "Pod checkout-bcdfghjk-zzzzz CrashLoopBackOff",
            ),
            (
                "Replication lag 35s on pg-replica-2",
                "Replication lag 120s on pg-replica-3",
            ),
            (
                "0xdeadbeef panic in worker 3",
                "0xcafebabe panic in worker 9",
            ),
            ("web17 unreachable", "web3 unreachable"),
            (
                "Backup failed 2026-11-22 03:14:07",
                "Backup failed 2026-11-23 12:00:01",
            ),
            ("Link down on fe80::1%eth0", "Link down on fe80::2%eth0"),
            ("Request a8Kd9xQ2 failed", "Request Zk3p7Qm2 failed"),
            ("Disk fills in 3 hours", "Disk fills in 45 minutes"),
            ("Nov 22 03:14:07 cron died", "Dec 1 00:00 cron died"),
        ];
        for (a, b) in pairs {
            assert_eq!(normalise(a), normalise(b), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn different_alerts_stay_apart() {
        let pairs = [
            ("disk full on db-1", "memory full on db-1"),
            ("HighLatency api", "HighErrorRate api"),
            ("High 5xx rate", "High 4xx rate"),
            ("p99 latency high", "p50 latency high"),
            ("ipv4 route missing", "ipv6 route missing"),
            ("redis-cache down", "redis-queue down"),
        ];
        for (a, b) in pairs {
            assert_ne!(normalise(a), normalise(b), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn odd_inputs_never_panic_and_are_never_empty() {
        let long = "a1 ".repeat(100_000);
        let long_unicode = "é💥\u{200b}".repeat(50_000);
        let inputs = [
            "",
            "   ",
            "12345",
            "💥💥",
            long.as_str(),
            long_unicode.as_str(),
            "\0\t\n\r",
            "::::",
            "-",
            "0x",
            "İİİ",
            "ǅ",
            "a-b-c-d-e-f-g",
            "-----abcde",
            "x-12345678-abcde",
            "https://",
            "://x",
            "1.2.3.4.5.6.7.8.9",
            "9999999999999999999999999999999999999",
            "[][][]{}",
            "\u{feff}title",
        ];
        for input in inputs {
            let out = normalise(input);
            assert!(!out.is_empty(), "input {input:?}");
            assert!(
                out.chars().count() <= 3 * MAX_TITLE_CHARS,
                "input {input:?}"
            );
            let mut c = Categorizer::new(2);
            assert!(!c.categorize(input).is_empty());
        }
        assert_eq!(normalise(""), "untitled");
        assert_eq!(normalise("   "), "untitled");
        assert_eq!(normalise("💥💥"), "untitled");
    }

    #[test]
    fn the_title_is_capped_on_a_char_boundary() {
        let title = "é".repeat(2 * MAX_TITLE_CHARS);
        assert_eq!(capped(&title).chars().count(), MAX_TITLE_CHARS);
        assert_eq!(normalise(&title).chars().count(), MAX_TITLE_CHARS);
    }

    const RULES: &str = r#"
# Disk alerts, whatever the host.
[[rule]]
match = '(?i)disk .* (full|\d+%)'
category = "disk full"

[[rule]]
match = 'disk'
category = "disk other"

[[rule]]
match = 'CrashLoopBackOff'
category = "  crash loop  "
"#;

    #[test]
    fn first_matching_rule_wins_over_later_rules_and_normalising() {
        let mut c = Categorizer::new(DEFAULT_MAX)
            .with_rules_text("rules.toml", RULES)
            .unwrap();
        assert_eq!(c.categorize("disk usage 91% on db-17"), "disk full");
        assert_eq!(c.categorize("disk on db-4 is full"), "disk full");
        // "disk 91%" has no word between: rule 1 does not match, rule 2 does.
        assert_eq!(c.categorize("disk 91% on db-17"), "disk other");
        assert_eq!(c.categorize("disk io slow"), "disk other");
        assert_eq!(
            c.categorize("Pod x-7d9f8c6b5-x2k4q CrashLoopBackOff"),
            "crash loop"
        );
        assert_eq!(c.categorize("memory 91% on db-17"), "memory on db");
    }

    #[test]
    fn case_insensitive_flag_works() {
        let mut c = Categorizer::new(DEFAULT_MAX)
            .with_rules_text("rules.toml", RULES)
            .unwrap();
        assert_eq!(c.categorize("DISK /var FULL on db-1"), "disk full");
        // Without (?i), case matters: 'disk' does not match "DISK".
        assert_eq!(c.categorize("DISK io slow"), "disk io slow");
    }

    #[test]
    fn rules_match_the_raw_title() {
        let text = "[[rule]]\nmatch = 'db-17$'\ncategory = \"db seventeen\"\n";
        let mut c = Categorizer::new(DEFAULT_MAX)
            .with_rules_text("r", text)
            .unwrap();
        assert_eq!(c.categorize("disk 91% on db-17"), "db seventeen");
        assert_eq!(c.categorize("disk 91% on db-4"), "disk on db");
    }

    #[test]
    fn bad_regex_names_origin_and_rule_number() {
        let text = "[[rule]]\nmatch = 'ok'\ncategory = \"ok\"\n\n[[rule]]\nmatch = '('\ncategory = \"broken\"\n";
        let e = Categorizer::new(DEFAULT_MAX)
            .with_rules_text("PTSD_CATEGORY_RULES /etc/ptsd/rules.toml", text)
            .unwrap_err();
        assert!(
            e.starts_with(
                "PTSD_CATEGORY_RULES /etc/ptsd/rules.toml: rule 2: match \"(\" is not a valid regex: "
            ),
            "{e}"
        );
        assert!(e.contains("unclosed group"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn rule_errors_are_one_line_and_name_the_problem() {
        let cases = [
            ("[[rule]]\nmatch = 'x'\n", "r.toml: rule 1: no category key"),
            ("[[rule]]\ncategory = \"x\"\n", "r.toml: rule 1: no match key"),
            (
                "[[rule]]\nmatch = 'x'\ncategory = \"x\"\n[[rule]]\nmatch = 'y'\ncategory = \"  \"\n",
                "r.toml: rule 2: category is empty",
            ),
            (
                "[[rule]]\nmatch = ''\ncategory = \"x\"\n",
                "r.toml: rule 1: match is empty",
            ),
            (
                "[[rule]]\nmatch = 'x'\ncategory = 3\n",
                "r.toml: rule 1: category is an integer",
            ),
            (
                "[[rule]]\nmatch = 'x'\ncatgory = \"x\"\n",
                "r.toml: rule 1: unknown key \"catgory\"",
            ),
            (
                "[[rules]]\nmatch = 'x'\ncategory = \"x\"\n",
                "r.toml: unknown key \"rules\"",
            ),
            ("rule = 'x'\n", "r.toml: rule is a string"),
            ("[[rule]]\nmatch = 'x\n", "r.toml: not valid TOML at line 2: "),
        ];
        for (text, want) in cases {
            let e = Categorizer::new(DEFAULT_MAX)
                .with_rules_text("r.toml", text)
                .unwrap_err();
            assert!(e.starts_with(want), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{text:?}: {e}");
        }
    }

    #[test]
    fn empty_rules_file_has_no_rules() {
        for text in ["", "\n\n", "# no rules yet\n"] {
            let mut c = Categorizer::new(DEFAULT_MAX)
                .with_rules_text("r.toml", text)
                .unwrap();
            assert!(c.rules.is_empty());
            assert_eq!(c.categorize("disk 91% on db-17"), "disk on db");
        }
    }

    #[test]
    fn rules_file_is_read_and_an_unreadable_one_is_named() {
        let dir = std::env::temp_dir().join(format!("ptsd-category-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rules.toml");
        std::fs::write(&path, RULES).unwrap();
        let mut c = Categorizer::new(DEFAULT_MAX)
            .with_rules_file(&path)
            .unwrap();
        assert_eq!(c.categorize("disk usage 99% on db-1"), "disk full");

        std::fs::write(&path, "[[rule]]\nmatch = '('\ncategory = \"x\"\n").unwrap();
        let e = Categorizer::new(DEFAULT_MAX)
            .with_rules_file(&path)
            .unwrap_err();
        assert!(
            e.starts_with(&format!("{}: rule 1: match", path.display())),
            "{e}"
        );

        let missing = dir.join("missing.toml");
        let e = Categorizer::new(DEFAULT_MAX)
            .with_rules_file(&missing)
            .unwrap_err();
        assert!(
            e.starts_with(&format!(
                "{}: cannot read the category rules file: ",
                missing.display()
            )),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_cap_turns_new_categories_into_other() {
        let mut c = Categorizer::new(2);
        assert_eq!(c.categorize("disk 91% on db-17"), "disk on db");
        assert_eq!(c.categorize("memory full on db-1"), "memory full on db");
        assert_eq!(c.categorize("cpu hot on web-3"), OTHER);
        // A known one still maps to itself.
        assert_eq!(c.categorize("disk 93% on db-4"), "disk on db");
        assert_eq!(c.categorize("memory full on db-9"), "memory full on db");
        assert_eq!(
            c.known().iter().map(String::as_str).collect::<Vec<_>>(),
            ["disk on db", "memory full on db"]
        );
    }

    #[test]
    fn other_is_never_counted() {
        let text = "[[rule]]\nmatch = 'noise'\ncategory = \"other\"\n";
        let mut c = Categorizer::new(1).with_rules_text("r", text).unwrap();
        assert_eq!(c.categorize("noise 1"), OTHER);
        assert_eq!(c.categorize("Other"), OTHER);
        assert!(c.known().is_empty());
        assert_eq!(c.categorize("disk 91% on db-17"), "disk on db");
        assert_eq!(c.categorize("cpu hot"), OTHER);
        assert_eq!(c.known().len(), 1);
    }

    #[test]
    fn rule_categories_count_towards_the_cap() {
        let text = "[[rule]]\nmatch = 'disk'\ncategory = \"disk\"\n";
        let mut c = Categorizer::new(1).with_rules_text("r", text).unwrap();
        assert_eq!(c.categorize("disk 91% on db-17"), "disk");
        assert_eq!(c.categorize("cpu hot"), OTHER);
    }

    #[test]
    fn with_known_restores_the_saved_set() {
        let mut first = Categorizer::new(2);
        first.categorize("disk 91% on db-17");
        first.categorize("memory full on db-1");
        let saved: Vec<String> = first.known().iter().cloned().collect();

        let mut again = Categorizer::new(2).with_known(saved.clone());
        assert_eq!(again.categorize("cpu hot on web-3"), OTHER);
        assert_eq!(again.categorize("disk 93% on db-4"), "disk on db");
        assert_eq!(again.known(), first.known());

        // OTHER and empty names in saved state are ignored; a lowered cap forgets nothing.
        let mut lowered = Categorizer::new(1)
            .with_known(saved.into_iter().chain([OTHER.to_string(), String::new()]));
        assert_eq!(lowered.known().len(), 2);
        assert_eq!(
            lowered.categorize("memory full on db-2"),
            "memory full on db"
        );
        assert_eq!(lowered.categorize("cpu hot"), OTHER);
    }

    #[test]
    fn zero_cap_makes_everything_other() {
        let mut c = Categorizer::new(0);
        assert_eq!(c.categorize("disk 91% on db-17"), OTHER);
        assert!(c.known().is_empty());
    }
}
