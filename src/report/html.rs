//! The HTML rendering: one self-contained page for a wiki or an e-mail (no scripts, no
//! external assets, inline CSS and SVG). Three charts (interruptions per person stacked by hour
//! band, the weekday by hour heatmap, pages per alert category beside the previous period) and
//! the same bounded tables as the Markdown ([`tables`](super::tables)), plus each category's
//! pages. Every chart shape carries its number twice: a `data-value` attribute (with `data-*`
//! keys saying what it counts) and a `<title>` tooltip.

use std::fmt::Write as _;

use jiff::tz::TimeZone;

use super::heatmap::DAYS;
use super::model::Report;
use super::tables::{self, Align, Body, Columns, Part, Table};
use super::text::{local_date, plural, trend};
use super::{SECTION_ROWS, SRE_SHIFT_LIMIT};

/// Band colours: sleep, business, off.
const BANDS: [(&str, &str); 3] = [
    ("sleep", "#4b3f9e"),
    ("business", "#f2b134"),
    ("off", "#3a9ad9"),
];

/// Beyond the Markdown's columns: each alert category's pages, under the chart of them.
const COLUMNS: Columns = Columns {
    category_pages: true,
};

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:60em;color:#222;padding:0 1em}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}th,td{padding:.25em .6em;border-bottom:1px solid #eee;text-align:left}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.more{color:#666;font-size:.9em}\
svg text{font-size:11px;fill:#333}.legend span{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 1em}";

/// Text made safe for HTML text and attribute values.
pub(super) fn esc(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Appends a `<table>` (numbers right-aligned, every text escaped), or `None this period.`
/// when there are no rows, then the line for the rows left out.
fn table(out: &mut String, table: &Table) {
    if table.rows.is_empty() {
        out.push_str("<p>None this period.</p>\n");
    } else {
        let cell = |tag: &str, align: Align, text: &str| match align {
            Align::Text => format!("<{tag}>{}</{tag}>", esc(text)),
            Align::Number => format!("<{tag} class=\"n\">{}</{tag}>", esc(text)),
        };
        out.push_str("<table>\n<tr>");
        for c in &table.columns {
            out.push_str(&cell("th", c.align, c.header));
        }
        out.push_str("</tr>\n");
        for row in &table.rows {
            out.push_str("<tr>");
            for (c, text) in table.columns.iter().zip(row) {
                out.push_str(&cell("td", c.align, text));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    if let Some(rest) = &table.rest {
        let _ = writeln!(out, "<p class=\"more\">{}</p>", esc(&rest.sentence()));
    }
}

/// Interruptions per person (the first ten), one bar each, stacked sleep, business, off.
fn people_chart(r: &Report) -> String {
    let people: Vec<_> = r.people.iter().take(SECTION_ROWS).collect();
    let max = people
        .iter()
        .map(|p| p.interruptions.sleep + p.interruptions.business + p.interruptions.off)
        .max()
        .unwrap_or(0)
        .max(1);
    let (label, width, row) = (180.0, 440.0, 24.0);
    let height = row * people.len() as f64 + 10.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"chart-people\" role=\"img\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\">\n<title>Interruptions per person by hour band</title>\n",
        label + width + 50.0,
        label + width + 50.0
    );
    for (i, p) in people.iter().enumerate() {
        let y = row * i as f64 + 4.0;
        let who = format!("{} ({})", p.person, p.provider);
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label - 6.0,
            y + 13.0,
            esc(&who)
        );
        let mut x = label;
        for ((band, colour), v) in BANDS.iter().zip([
            p.interruptions.sleep,
            p.interruptions.business,
            p.interruptions.off,
        ]) {
            let w = width * v as f64 / max as f64;
            let _ = writeln!(
                svg,
                "<rect data-chart=\"people\" data-person=\"{}\" data-provider=\"{}\" data-band=\"{band}\" data-value=\"{v}\" x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{colour}\"><title>{}: {v} {band}</title></rect>",
                esc(&p.person),
                esc(&p.provider),
                row - 6.0,
                esc(&who)
            );
            x += w;
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\">{}</text>",
            x + 4.0,
            y + 13.0,
            p.interruptions.total
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The weekday by hour grid: one square per cell, darker for more.
fn heatmap_chart(r: &Report) -> String {
    let max = r.heatmap.max().max(1);
    let (left, top, size) = (40.0, 16.0, 22.0);
    let width = left + 24.0 * size + 10.0;
    let height = top + 7.0 * size + 10.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"chart-heatmap\" role=\"img\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n<title>Interruptions by weekday and hour ({})</title>\n",
        esc(&r.heatmap.zone)
    );
    for h in (0..24).step_by(3) {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\">{h:02}</text>",
            left + h as f64 * size + 3.0,
            top - 4.0
        );
    }
    for (d, day) in r.heatmap.days.iter().enumerate() {
        let y = top + d as f64 * size;
        let name = DAYS.get(d).copied().unwrap_or("?");
        let _ = writeln!(svg, "<text x=\"0\" y=\"{:.1}\">{name}</text>", y + 15.0);
        for (hour, v) in day.hours.iter().enumerate() {
            let opacity = if *v == 0 {
                0.06
            } else {
                0.2 + 0.8 * *v as f64 / max as f64
            };
            let _ = writeln!(
                svg,
                "<rect data-chart=\"heatmap\" data-day=\"{}\" data-hour=\"{hour}\" data-value=\"{v}\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{}\" height=\"{}\" fill=\"#b2182b\" fill-opacity=\"{opacity:.2}\"><title>{} {hour:02}:00: {}</title></rect>",
                esc(&day.day),
                left + hour as f64 * size,
                size - 2.0,
                size - 2.0,
                esc(&day.day),
                plural(*v, "interruption")
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// Pages per alert category (the first ten categories), this period beside the previous one.
fn categories_chart(r: &Report) -> String {
    let rows: Vec<_> = r.categories.iter().take(SECTION_ROWS).collect();
    let max = rows
        .iter()
        .map(|c| c.pages.max(c.previous_pages))
        .max()
        .unwrap_or(0)
        .max(1);
    let (label, width, row) = (300.0, 320.0, 30.0);
    let height = row * rows.len() as f64 + 10.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"chart-categories\" role=\"img\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\">\n<title>Pages per alert category, this period and the previous one</title>\n",
        label + width + 50.0,
        label + width + 50.0
    );
    for (i, c) in rows.iter().enumerate() {
        let y = row * i as f64 + 4.0;
        let shape: String = c.shape.chars().take(48).collect();
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label - 6.0,
            y + 15.0,
            esc(&shape)
        );
        for (k, (period, v, colour)) in [
            ("current", c.pages, "#d6604d"),
            ("previous", c.previous_pages, "#bbbbbb"),
        ]
        .into_iter()
        .enumerate()
        {
            let w = width * v as f64 / max as f64;
            let by = y + k as f64 * 11.0;
            let _ = writeln!(
                svg,
                "<rect data-chart=\"categories\" data-category=\"{}\" data-period=\"{period}\" data-value=\"{v}\" x=\"{label}\" y=\"{by}\" width=\"{w:.1}\" height=\"10\" fill=\"{colour}\"><title>{}: {} ({period} period)</title></rect>",
                esc(&c.category),
                esc(&c.shape),
                plural(v, "page")
            );
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\">{v}</text>",
                label + w + 4.0,
                by + 9.0
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn legend(items: &[(&str, &str)]) -> String {
    let mut s = String::from("<p class=\"legend\">");
    for (name, colour) in items {
        let _ = write!(
            s,
            "<span style=\"background:{colour}\"></span>{}",
            esc(name)
        );
    }
    s.push_str("</p>\n");
    s
}

/// The chart (with its legend) above a section's table, when it has rows.
fn chart(part: Part, r: &Report) -> Option<String> {
    match part {
        Part::People => Some(legend(&BANDS) + &people_chart(r)),
        Part::Categories => Some(
            legend(&[("this period", "#d6604d"), ("previous period", "#bbbbbb")])
                + &categories_chart(r),
        ),
        Part::FixFirst
        | Part::When
        | Part::Flapping
        | Part::Services
        | Part::Response
        | Part::Shifts => None,
    }
}

/// The report as one HTML page; the output ends with a newline.
pub(super) fn render(r: &Report) -> String {
    let zone = TimeZone::get(&r.period.zone).unwrap_or(TimeZone::UTC);
    let title = format!(
        "On-call handoff: {} to {} ({})",
        local_date(&r.period.since, &zone, false),
        local_date(&r.period.until, &zone, true),
        r.period.zone
    );
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    if !r.period.teams.is_empty() || r.period.provider.is_some() {
        let mut parts = Vec::new();
        if !r.period.teams.is_empty() {
            parts.push(format!("team {}", r.period.teams.join(", ")));
        }
        if let Some(p) = &r.period.provider {
            parts.push(format!("provider {p}"));
        }
        let _ = writeln!(out, "<p>Only {}.</p>", esc(&parts.join("; ")));
    }
    let s = &r.summary;
    let _ = writeln!(
        out,
        "<p id=\"summary\">{} (previous period: {}, {}). {}, {}, {} of them in sleep hours. {} of {} over the SRE limit of {} incidents per 12-hour shift.</p>",
        esc(&plural(s.incidents, "incident")),
        s.previous_incidents,
        esc(&trend(s.incidents, s.previous_incidents, s.change)),
        esc(&plural(s.pages, "page")),
        esc(&plural(s.interruptions.total, "interruption")),
        s.interruptions.sleep,
        r.shifts.over_limit,
        esc(&plural(r.shifts.total, "shift")),
        SRE_SHIFT_LIMIT
    );

    for section in tables::sections(r, COLUMNS) {
        let _ = writeln!(out, "<h2>{}</h2>", esc(section.title));
        match &section.body {
            Body::Heatmap => {
                let _ = writeln!(
                    out,
                    "<p>Interruptions by weekday and hour ({}); darker is more, the busiest hour had {}.</p>",
                    esc(&r.heatmap.zone),
                    r.heatmap.max()
                );
                out.push_str(&heatmap_chart(r));
            }
            Body::Table(t) => {
                if let Some(chart) = chart(section.part, r).filter(|_| !t.rows.is_empty()) {
                    out.push_str(&chart);
                }
                table(&mut out, t);
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use jiff::{SignedDuration, Timestamp};

    use super::super::{build, render, Format, Scope};
    use crate::analysis::hours::Band;
    use crate::analysis::{Analysed, Findings};
    use crate::event::{Channel, Event, EventKind, Incident, Person, Window};

    #[test]
    fn every_text_is_escaped() {
        let evil = "<script>alert(1)</script> & \"quoted\" 'x'";
        let at: Timestamp = "2026-03-02T15:00:00Z".parse().unwrap();
        let inc = Incident {
            id: evil.into(),
            created_at: Some(at),
            title: Some(evil.into()),
            service: Some(evil.into()),
            urgency: Some("high".into()),
        };
        let event = |kind, found| Analysed {
            provider: "acme".into(),
            event: Event {
                record_id: format!("{kind:?}"),
                at,
                kind,
                incident: Some(inc.clone()),
            },
            found,
        };
        let events = vec![
            event(
                EventKind::Triggered {
                    service: evil.into(),
                    urgency: "high".into(),
                },
                Findings {
                    category: Some(evil.into()),
                    shape: Some(evil.into()),
                    ..Findings::default()
                },
            ),
            event(
                EventKind::Notified {
                    user: Person {
                        id: "P9".into(),
                        ..Person::default()
                    },
                    channel: Channel::Push,
                },
                Findings {
                    band: Some(Band::Business),
                    interruption: true,
                    ..Findings::default()
                },
            ),
        ];
        let week = SignedDuration::from_hours(7 * 24);
        let scope = Scope {
            current: Window::new(at - SignedDuration::from_hours(1), at + week),
            previous: Window::new(at - week, at - SignedDuration::from_hours(1)),
            zone: jiff::tz::TimeZone::UTC,
            user_key: crate::schema::UserKey::Name,
            teams: vec![evil.into()],
            provider: Some(evil.into()),
        };
        let html = render(&build(&scope, &events), Format::Html);
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot; &#39;x&#39;"
        ));
        assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    }
}
