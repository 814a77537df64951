//! How the report's numbers and times read in every format: counts with their noun, durations,
//! trends, shares and local times. Plain text, not escaped: each format escapes it for its own
//! syntax, so the Markdown and the HTML say the same words.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// `n thing` or `n things`.
pub(super) fn plural(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("{n} {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// A duration for people: `45s`, `3m 20s`, `1h 05m`, `2d 3h`.
pub(super) fn human(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let text = if s < 60 {
        format!("{s}s")
    } else if s < 3_600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {:02}m", s / 3_600, s % 3_600 / 60)
    } else {
        format!("{}d {}h", s / 86_400, s % 86_400 / 3_600)
    };
    format!("{sign}{text}")
}

/// A trend for people: `+25%`, `-40%`, `0%`, `new` (none before), `gone` (none now).
pub(super) fn trend(now: u64, previous: u64, change: Option<i64>) -> String {
    match change {
        _ if previous > 0 && now == 0 => "gone".into(),
        None if now > 0 => "new".into(),
        None => "-".into(),
        Some(0) => "0%".into(),
        Some(c) => format!("{c:+}%"),
    }
}

/// A share for people: `25%`, or `-`.
pub(super) fn pct(v: Option<u64>) -> String {
    v.map(|p| format!("{p}%")).unwrap_or_else(|| "-".into())
}

/// An RFC 3339 time as a local wall-clock reading in `zone`, e.g. `Sat 2026-03-07 20:00 EST`
/// (the zone's abbreviation shows daylight saving); the text itself when it does not parse.
pub(super) fn wall(rfc3339: &str, zone: &TimeZone) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(t) => t
            .to_zoned(zone.clone())
            .strftime("%a %Y-%m-%d %H:%M %Z")
            .to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// The local date of an RFC 3339 time in `zone`; with `back`, of the instant just before it
/// (for the exclusive end of a period); the text itself when it does not parse.
pub(super) fn local_date(rfc: &str, zone: &TimeZone, back: bool) -> String {
    match rfc.parse::<Timestamp>() {
        Ok(t) => {
            let t = if back {
                t.checked_sub(SignedDuration::from_nanos(1)).unwrap_or(t)
            } else {
                t
            };
            t.to_zoned(zone.clone()).date().to_string()
        }
        Err(_) => rfc.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(45), "45s");
        assert_eq!(human(60), "1m 00s");
        assert_eq!(human(200), "3m 20s");
        assert_eq!(human(3_599), "59m 59s");
        assert_eq!(human(3_900), "1h 05m");
        assert_eq!(human(86_399), "23h 59m");
        assert_eq!(human(183_600), "2d 3h");
    }
}
