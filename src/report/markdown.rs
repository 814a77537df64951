//! The Markdown rendering: a heading, a one-paragraph summary, a pipe table per section (at
//! most ten rows, then one line for the rest) and the text heatmap, with the text helpers that
//! keep titles and names from breaking the tables.

use std::fmt::Write as _;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use std::cmp::Reverse;

use super::heatmap;
use super::model::{Report, ServiceResponse, Stats};
use super::{SECTION_ROWS, SRE_SHIFT_LIMIT};

/// Markdown cells longer than this many characters are cut, ending in `…`.
const CELL_MAX_CHARS: usize = 80;

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

/// Text made safe for a Markdown table cell: `|` and `<` escaped (so `<n>` shows rather than
/// being taken for an HTML tag), line breaks and other control characters made spaces, cut at
/// 80 characters with `…`.
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
            // `<` too: `<n>` would otherwise be an HTML tag that GitHub drops.
            '|' | '<' => {
                out.push_str(&"\\".repeat(2 * backslashes + 1));
                out.push(c);
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

/// Appends "and N more (M things)." when rows were left out.
fn more(out: &mut String, left_out: usize, count: u64, things: &str) {
    if left_out > 0 {
        let _ = writeln!(out, "\nand {left_out} more ({}).", plural(count, things));
    }
}

/// A share for people: `25%`, or `-`.
pub(super) fn pct(v: Option<u64>) -> String {
    v.map(|p| format!("{p}%")).unwrap_or_else(|| "-".into())
}

/// The report as Markdown; the output ends with a newline. Every section shows at most
/// [`SECTION_ROWS`] rows, then one line for the rest, so a busy week stays a page or two.
pub(super) fn render(r: &Report) -> String {
    use Align::{Left as L, Right as R};
    let zone = TimeZone::get(&r.period.zone).unwrap_or(TimeZone::UTC);
    let local_date = |rfc: &str, back: bool| local_date(rfc, &zone, back);
    let dash = || "-".to_string();
    let text = |v: &Option<String>| v.as_deref().map(cell).unwrap_or_default();
    let dur = |v: Option<i64>| v.map(human).unwrap_or_else(dash);
    let top = SECTION_ROWS;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# On-call handoff: {} to {} ({})",
        local_date(&r.period.since, false),
        local_date(&r.period.until, true),
        cell(&r.period.zone)
    );
    out.push('\n');
    let mut narrowed = Vec::new();
    if !r.period.teams.is_empty() {
        let teams: Vec<String> = r.period.teams.iter().map(|t| cell(t)).collect();
        narrowed.push(format!("team {}", teams.join(", ")));
    }
    if let Some(p) = &r.period.provider {
        narrowed.push(format!("provider {}", cell(p)));
    }
    if !narrowed.is_empty() {
        let _ = writeln!(out, "Only {}.\n", narrowed.join("; "));
    }
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
        "{} ({previous}). {}, {}, {} of them in sleep hours. {} of {} over the SRE limit of {} incidents per 12-hour shift.",
        plural(s.incidents, "incident"),
        plural(s.pages, "page"),
        plural(s.interruptions.total, "interruption"),
        s.interruptions.sleep,
        r.shifts.over_limit,
        plural(r.shifts.total, "shift"),
        SRE_SHIFT_LIMIT,
    );

    out.push_str("\n## What to fix first\n\n");
    if !r.fix_first.is_empty() {
        out.push_str(
            "The alerts whose removal would have saved the most interruptions, sleep hours first.\n\n",
        );
    }
    let rows: Vec<Vec<String>> = r
        .fix_first
        .iter()
        .enumerate()
        .map(|(i, f)| {
            vec![
                (i + 1).to_string(),
                cell(&f.shape),
                f.interruptions.sleep.to_string(),
                f.interruptions.total.to_string(),
                f.pages.to_string(),
                pct(f.share_of_pages_pct),
                trend(
                    f.interruptions.total,
                    f.previous_interruptions.total,
                    f.change,
                ),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            ("#", R),
            ("Alert", L),
            ("Sleep", R),
            ("Interruptions", R),
            ("Pages", R),
            ("Share of pages", R),
            ("Trend", R),
        ],
        &rows,
    );

    out.push_str("\n## People\n\n");
    if !r.people.is_empty() {
        out.push_str("Most sleep interruptions first. Nights: nights with a sleep-hours interruption; run: the most in a row.\n\n");
    }
    let rows: Vec<Vec<String>> = r
        .people
        .iter()
        .take(top)
        .map(|p| {
            vec![
                cell(&p.person),
                cell(&p.provider),
                p.pages.to_string(),
                p.interruptions.total.to_string(),
                p.interruptions.sleep.to_string(),
                p.interruptions.business.to_string(),
                p.interruptions.off.to_string(),
                p.sleep_nights.to_string(),
                p.longest_night_run.to_string(),
                p.acknowledgements.to_string(),
                p.escalations.to_string(),
                trend(
                    p.interruptions.total,
                    p.previous_interruptions.total,
                    p.change,
                ),
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
            ("Nights", R),
            ("Run", R),
            ("Acks", R),
            ("Escalations", R),
            ("Trend", R),
        ],
        &rows,
    );
    let rest = r.people.iter().skip(top);
    more(
        &mut out,
        rest.clone().count(),
        rest.map(|p| p.interruptions.total).sum(),
        "interruption",
    );

    out.push_str("\n## When\n\n");
    if r.heatmap.max() == 0 {
        out.push_str("None this period.\n");
    } else {
        let _ = writeln!(
            out,
            "Interruptions by hour of day and weekday ({}).\n",
            cell(&r.heatmap.zone)
        );
        out.push_str("```text\n");
        for line in heatmap::text(&r.heatmap) {
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str("```\n");
    }

    out.push_str("\n## Alert categories\n\n");
    let rows: Vec<Vec<String>> = r
        .categories
        .iter()
        .take(top)
        .map(|c| {
            vec![
                cell(&c.shape),
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
            ("Alert", L),
            ("Incidents", R),
            ("Previous", R),
            ("Trend", R),
            ("Example", L),
        ],
        &rows,
    );
    let rest = r.categories.iter().skip(top);
    more(
        &mut out,
        rest.clone().count(),
        rest.map(|c| c.incidents).sum(),
        "incident",
    );

    out.push_str("\n## Flapping\n\n");
    if !r.flapping_categories.is_empty() {
        out.push_str("Incidents resolved automatically within 5 minutes of opening, by alert.\n\n");
    }
    let rows: Vec<Vec<String>> = r
        .flapping_categories
        .iter()
        .take(top)
        .map(|f| {
            vec![
                cell(&f.shape),
                f.flaps.to_string(),
                pct(f.share_pct),
                dur(f.median_open_s),
                text(&f.example),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            ("Alert", L),
            ("Flapping", R),
            ("Of its incidents", R),
            ("Median open", R),
            ("Example", L),
        ],
        &rows,
    );
    let rest = r.flapping_categories.iter().skip(top);
    more(
        &mut out,
        rest.clone().count(),
        rest.map(|f| f.flaps).sum(),
        "incident",
    );

    out.push_str("\n## Services\n\n");
    let rows: Vec<Vec<String>> = r
        .services
        .iter()
        .take(top)
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
    let rest = r.services.iter().skip(top);
    more(
        &mut out,
        rest.clone().count(),
        rest.map(|s| s.incidents).sum(),
        "incident",
    );

    out.push_str("\n## Response times\n\n");
    let resp = &r.response;
    let mut rows: Vec<Vec<String>> = Vec::new();
    // The busiest services (most acknowledged and resolved incidents), ties by name.
    let mut busiest: Vec<&ServiceResponse> = resp.services.iter().collect();
    busiest.sort_by_key(|s| Reverse(s.time_to_ack.count + s.time_to_resolve.count));
    if resp.time_to_ack.count + resp.time_to_resolve.count > 0 {
        out.push_str("Nearest-rank median and 95th percentile from opening; within 5 min: share of acknowledgements.\n\n");
        let row = |name: String, ack: &Stats, res: &Stats, within: Option<u64>| {
            vec![
                name,
                ack.count.to_string(),
                dur(ack.median_s),
                dur(ack.p95_s),
                pct(within),
                res.count.to_string(),
                dur(res.median_s),
                dur(res.p95_s),
            ]
        };
        rows.push(row(
            "All services".into(),
            &resp.time_to_ack,
            &resp.time_to_resolve,
            resp.acked_within_5m_pct,
        ));
        for s in busiest.iter().take(top) {
            rows.push(row(
                cell(&s.service),
                &s.time_to_ack,
                &s.time_to_resolve,
                s.acked_within_5m_pct,
            ));
        }
    }
    table(
        &mut out,
        &[
            ("Service", L),
            ("Acknowledged", R),
            ("Median to ack", R),
            ("p95 to ack", R),
            ("Within 5 min", R),
            ("Resolved", R),
            ("Median to resolve", R),
            ("p95 to resolve", R),
        ],
        &rows,
    );
    let rest = busiest.iter().skip(top);
    more(
        &mut out,
        rest.clone().count(),
        rest.map(|s| s.time_to_resolve.count).sum(),
        "resolved incident",
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
    fn placeholders_show_in_markdown() {
        assert_eq!(cell("CPU load <n> on <ip>"), r"CPU load \<n> on \<ip>");
        assert_eq!(cell(r"a\<b|c"), r"a\\\<b\|c");
    }

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
