//! The Markdown rendering: a heading, a one-paragraph summary and a pipe table per section,
//! with the text helpers that keep titles and names from breaking the tables.

use std::fmt::Write as _;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::model::{Report, Stats};
use super::SRE_SHIFT_LIMIT;

/// Markdown cells longer than this many characters are cut, ending in `…`.
const CELL_MAX_CHARS: usize = 80;

/// `n thing` or `n things`.
fn plural(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("{n} {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// A duration for people: `45s`, `3m 20s`, `1h 05m`, `2d 3h`.
fn human(secs: i64) -> String {
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

/// Text made safe for a Markdown table cell: `|` escaped, line breaks and other control
/// characters made spaces, cut at 80 characters with `…`.
fn cell(raw: &str) -> String {
    let flat: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    let cut: String = if flat.chars().count() > CELL_MAX_CHARS {
        let s: String = flat.chars().take(CELL_MAX_CHARS - 1).collect();
        let mut s = s.trim_end().to_string();
        s.push('…');
        s
    } else {
        flat.to_string()
    };
    // `\|` escapes the pipe; backslashes right before a pipe are doubled first, so `\|` in a
    // title stays text (`\\\|`) under every reading of the escape.
    let mut out = String::with_capacity(cut.len() + 8);
    let mut backslashes = 0;
    for c in cut.chars() {
        match c {
            '\\' => backslashes += 1,
            '|' => {
                out.push_str(&"\\".repeat(2 * backslashes + 1));
                out.push('|');
                backslashes = 0;
            }
            _ => {
                out.push_str(&"\\".repeat(backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.push_str(&"\\".repeat(backslashes));
    out
}

/// An RFC 3339 time as a local wall-clock reading in `zone`, e.g. `Sat 2026-03-07 20:00 EST`
/// (the zone's abbreviation shows daylight saving); the text itself when it does not parse.
fn wall(rfc3339: &str, zone: &TimeZone) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(t) => t
            .to_zoned(zone.clone())
            .strftime("%a %Y-%m-%d %H:%M %Z")
            .to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// Column alignment.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Appends a pipe table, or `None this period.` when there are no rows.
fn table(out: &mut String, columns: &[(&str, Align)], rows: &[Vec<String>]) {
    if rows.is_empty() {
        out.push_str("None this period.\n");
        return;
    }
    let line = |cells: &mut dyn Iterator<Item = String>| {
        let cells: Vec<String> = cells.collect();
        format!("| {} |\n", cells.join(" | "))
    };
    out.push_str(&line(&mut columns.iter().map(|(h, _)| (*h).to_string())));
    let seps: Vec<&str> = columns
        .iter()
        .map(|(_, a)| match a {
            Align::Left => "---",
            Align::Right => "---:",
        })
        .collect();
    let _ = writeln!(out, "|{}|", seps.join("|"));
    for row in rows {
        out.push_str(&line(&mut row.iter().cloned()));
    }
}

/// The report as Markdown; the output ends with a newline.
pub(super) fn render(r: &Report) -> String {
    use Align::{Left as L, Right as R};
    let zone = TimeZone::get(&r.period.zone).unwrap_or(TimeZone::UTC);
    let local_date = |rfc: &str, back: bool| -> String {
        match rfc.parse::<Timestamp>() {
            Ok(t) => {
                // The until bound is exclusive: show the day of the last instant inside.
                let t = if back {
                    t.checked_sub(SignedDuration::from_nanos(1)).unwrap_or(t)
                } else {
                    t
                };
                t.to_zoned(zone.clone()).date().to_string()
            }
            Err(_) => rfc.to_string(),
        }
    };
    let dash = || "-".to_string();
    let text = |v: &Option<String>| v.as_deref().map(cell).unwrap_or_default();
    let dur = |v: Option<i64>| v.map(human).unwrap_or_else(dash);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# On-call handoff: {} to {} ({})",
        local_date(&r.period.since, false),
        local_date(&r.period.until, true),
        cell(&r.period.zone)
    );
    out.push('\n');
    let s = &r.summary;
    let previous = match s.change {
        Some(_) => format!(
            "previous period: {}, {}",
            s.previous_incidents,
            trend(s.incidents, s.previous_incidents, s.change)
        ),
        None => format!("previous period: {}", s.previous_incidents),
    };
    let _ = writeln!(
        out,
        "{} ({previous}). {}, {} of them in sleep hours. {} of {} over the SRE limit of {} incidents per 12-hour shift.",
        plural(s.incidents, "incident"),
        plural(s.interruptions.total, "interruption"),
        s.interruptions.sleep,
        r.shifts.over_limit,
        plural(r.shifts.total, "shift"),
        SRE_SHIFT_LIMIT,
    );

    out.push_str("\n## Noisiest alerts\n\n");
    let rows: Vec<Vec<String>> = r
        .noisiest
        .iter()
        .enumerate()
        .map(|(i, n)| {
            vec![
                (i + 1).to_string(),
                cell(&n.category),
                n.incidents.to_string(),
                text(&n.example),
            ]
        })
        .collect();
    table(
        &mut out,
        &[("#", R), ("Category", L), ("Incidents", R), ("Example", L)],
        &rows,
    );

    out.push_str("\n## People\n\n");
    let rows: Vec<Vec<String>> = r
        .people
        .iter()
        .map(|p| {
            vec![
                cell(&p.person),
                cell(&p.provider),
                p.pages.to_string(),
                p.interruptions.total.to_string(),
                p.interruptions.sleep.to_string(),
                p.interruptions.business.to_string(),
                p.interruptions.off.to_string(),
                p.acknowledgements.to_string(),
                p.escalations.to_string(),
                p.assignments.to_string(),
                p.resolves.to_string(),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            ("Person", L),
            ("Provider", L),
            ("Pages", R),
            ("Interruptions", R),
            ("Sleep", R),
            ("Business", R),
            ("Off", R),
            ("Acks", R),
            ("Escalations", R),
            ("Assignments", R),
            ("Resolves", R),
        ],
        &rows,
    );

    out.push_str("\n## Services\n\n");
    let rows: Vec<Vec<String>> = r
        .services
        .iter()
        .map(|s| {
            vec![
                cell(&s.service),
                s.incidents.to_string(),
                s.previous.to_string(),
                trend(s.incidents, s.previous, s.change),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            ("Service", L),
            ("Incidents", R),
            ("Previous", R),
            ("Trend", R),
        ],
        &rows,
    );

    out.push_str("\n## Categories\n\n");
    let rows: Vec<Vec<String>> = r
        .categories
        .iter()
        .map(|c| {
            vec![
                cell(&c.category),
                c.incidents.to_string(),
                c.previous.to_string(),
                trend(c.incidents, c.previous, c.change),
                text(&c.example),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            ("Category", L),
            ("Incidents", R),
            ("Previous", R),
            ("Trend", R),
            ("Example", L),
        ],
        &rows,
    );

    out.push_str("\n## Flapping candidates\n\n");
    if !r.flapping.is_empty() {
        out.push_str("Resolved automatically within 5 minutes of opening.\n\n");
    }
    let rows: Vec<Vec<String>> = r
        .flapping
        .iter()
        .map(|f| {
            vec![
                cell(&wall(&f.resolved_at, &zone)),
                cell(&f.incident),
                text(&f.title),
                cell(&f.service),
                human(f.resolved_after_s),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            ("Resolved at", L),
            ("Incident", L),
            ("Title", L),
            ("Service", L),
            ("After", R),
        ],
        &rows,
    );

    out.push_str("\n## Response times\n\n");
    let resp = &r.response;
    let mut rows: Vec<Vec<String>> = Vec::new();
    if resp.time_to_ack.count + resp.time_to_resolve.count > 0 {
        let row = |name: String, ack: &Stats, res: &Stats| {
            vec![
                name,
                ack.count.to_string(),
                dur(ack.median_s),
                dur(ack.p95_s),
                res.count.to_string(),
                dur(res.median_s),
                dur(res.p95_s),
            ]
        };
        rows.push(row(
            "All services".into(),
            &resp.time_to_ack,
            &resp.time_to_resolve,
        ));
        for s in &resp.services {
            rows.push(row(cell(&s.service), &s.time_to_ack, &s.time_to_resolve));
        }
    }
    table(
        &mut out,
        &[
            ("Service", L),
            ("Acknowledged", R),
            ("Median to ack", R),
            ("p95 to ack", R),
            ("Resolved", R),
            ("Median to resolve", R),
            ("p95 to resolve", R),
        ],
        &rows,
    );

    out.push_str("\n## Busiest shifts\n\n");
    if !r.shifts.busiest.is_empty() {
        let _ = writeln!(
            out,
            "Shifts start at 08:00 and 20:00 {}; more than {} incidents is over the SRE limit.\n",
            cell(&r.period.zone),
            SRE_SHIFT_LIMIT
        );
    }
    let rows: Vec<Vec<String>> = r
        .shifts
        .busiest
        .iter()
        .map(|s| {
            vec![
                cell(&wall(&s.start, &zone)),
                cell(&wall(&s.end, &zone)),
                human(s.length_s),
                s.incidents.to_string(),
                if s.over_limit { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            ("Start", L),
            ("End", L),
            ("Length", R),
            ("Incidents", R),
            ("Over limit", L),
        ],
        &rows,
    );
    out
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
