//! The Markdown rendering: a heading, a one-paragraph summary, then the report's sections
//! ([`tables`](super::tables)) as pipe tables, each with a one-line intro, and the text heatmap;
//! with the cell escaping that keeps titles and names from breaking the tables.

use std::fmt::Write as _;

use jiff::tz::TimeZone;

use super::heatmap;
use super::model::Report;
use super::tables::{self, Align, Body, Columns, Part, Table};
use super::text::{local_date, plural, trend};
use super::SRE_SHIFT_LIMIT;

/// Markdown cells longer than this many characters are cut, ending in `…`.
const CELL_MAX_CHARS: usize = 80;

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

/// Appends a pipe table, or `None this period.` when there are no rows, then the line for the
/// rows left out.
fn table(out: &mut String, table: &Table) {
    if table.rows.is_empty() {
        out.push_str("None this period.\n");
    } else {
        let headers: Vec<&str> = table.columns.iter().map(|c| c.header).collect();
        let _ = writeln!(out, "| {} |", headers.join(" | "));
        let seps: Vec<&str> = table
            .columns
            .iter()
            .map(|c| match c.align {
                Align::Text => "---",
                Align::Number => "---:",
            })
            .collect();
        let _ = writeln!(out, "|{}|", seps.join("|"));
        for row in &table.rows {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }
    if let Some(rest) = &table.rest {
        let _ = writeln!(out, "\n{}", rest.sentence());
    }
}

/// The line that says how to read a section's table, above it when it has rows.
fn intro(part: Part, r: &Report) -> Option<String> {
    match part {
        Part::FixFirst => Some(
            "The alerts whose removal would have saved the most interruptions, sleep hours first."
                .into(),
        ),
        Part::People => Some(
            "Most sleep interruptions first. Nights: nights with a sleep-hours interruption; run: the most in a row."
                .into(),
        ),
        Part::Flapping => Some(
            "Incidents resolved automatically within 5 minutes of opening, by alert.".into(),
        ),
        Part::Response => Some(
            "Nearest-rank median and 95th percentile from opening; within 5 min: share of acknowledgements."
                .into(),
        ),
        Part::Shifts => Some(format!(
            "Shifts start at 08:00 and 20:00 {}; more than {} incidents is over the SRE limit.",
            cell(&r.period.zone),
            SRE_SHIFT_LIMIT
        )),
        Part::When | Part::Categories | Part::Services => None,
    }
}

/// The text heatmap in a code block, or `None this period.`.
fn heatmap(out: &mut String, r: &Report) {
    if r.heatmap.max() == 0 {
        out.push_str("None this period.\n");
        return;
    }
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

/// The report as Markdown; the output ends with a newline. Every section shows at most
/// [`SECTION_ROWS`](super::SECTION_ROWS) rows, then one line for the rest, so a busy week stays
/// a page or two.
pub(super) fn render(r: &Report) -> String {
    let zone = TimeZone::get(&r.period.zone).unwrap_or(TimeZone::UTC);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# On-call handoff: {} to {} ({})",
        local_date(&r.period.since, &zone, false),
        local_date(&r.period.until, &zone, true),
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

    for section in tables::sections(r, Columns::default()) {
        let _ = write!(out, "\n## {}\n\n", section.title);
        match &section.body {
            Body::Heatmap => heatmap(&mut out, r),
            Body::Table(t) => {
                if let Some(intro) = intro(section.part, r).filter(|_| !t.rows.is_empty()) {
                    let _ = writeln!(out, "{intro}\n");
                }
                table(&mut out, t);
            }
        }
    }
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
}
