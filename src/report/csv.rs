//! The CSV rendering: one long `section,key,metric,value` table, a row per number, for
//! notebooks and spreadsheets.

use std::fmt::Write as _;

use super::model::{Interruptions, Report, Stats};

/// One CSV field, quoted per RFC 4180 when it holds `,`, `"`, CR or LF (quotes doubled).
pub(super) fn csv_field(raw: &str) -> String {
    if raw.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", raw.replace('"', "\"\""))
    } else {
        raw.to_string()
    }
}

/// The long table: `section,key,metric,value`, one row per number (missing numbers, such as
/// the median of no samples, and empty heatmap cells have no row). Text (shapes, example
/// titles) is in the JSON only.
pub(super) fn render(r: &Report) -> String {
    let mut out = String::from("section,key,metric,value\n");
    let mut row = |section: &str, key: &str, metric: &str, value: i64| {
        let _ = writeln!(
            out,
            "{},{},{},{value}",
            csv_field(section),
            csv_field(key),
            csv_field(metric)
        );
    };
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);

    let s = &r.summary;
    row("summary", "all", "incidents", n(s.incidents));
    row("summary", "all", "previous", n(s.previous_incidents));
    if let Some(c) = s.change {
        row("summary", "all", "change_pct", c);
    }
    row("summary", "all", "pages", n(s.pages));
    for (metric, v) in interruption_metrics(&s.interruptions) {
        row("summary", "all", metric, n(v));
    }

    for (i, c) in r.noisiest.iter().enumerate() {
        row("noisiest", &c.category, "rank", n(i as u64 + 1));
    }

    for p in &r.people {
        let key = format!("{}/{}", p.provider, p.person);
        row("people", &key, "pages", n(p.pages));
        for (metric, v) in interruption_metrics(&p.interruptions) {
            row("people", &key, metric, n(v));
        }
        row("people", &key, "acknowledgements", n(p.acknowledgements));
        row("people", &key, "escalations", n(p.escalations));
        row("people", &key, "assignments", n(p.assignments));
        row("people", &key, "resolves", n(p.resolves));
        row("people", &key, "sleep_nights", n(p.sleep_nights));
        row("people", &key, "longest_night_run", n(p.longest_night_run));
        for (metric, v) in interruption_metrics(&p.previous_interruptions) {
            row("people", &key, &format!("previous_{metric}"), n(v));
        }
        if let Some(c) = p.change {
            row("people", &key, "change_pct", c);
        }
    }

    for sv in &r.services {
        row("services", &sv.service, "incidents", n(sv.incidents));
        row("services", &sv.service, "previous", n(sv.previous));
        if let Some(c) = sv.change {
            row("services", &sv.service, "change_pct", c);
        }
    }
    for c in &r.categories {
        row("categories", &c.category, "incidents", n(c.incidents));
        row("categories", &c.category, "previous", n(c.previous));
        row("categories", &c.category, "pages", n(c.pages));
        row(
            "categories",
            &c.category,
            "previous_pages",
            n(c.previous_pages),
        );
        if let Some(ch) = c.change {
            row("categories", &c.category, "change_pct", ch);
        }
    }

    for f in &r.flapping {
        row(
            "flapping",
            &f.incident,
            "resolved_after_s",
            f.resolved_after_s,
        );
    }

    let mut response = |key: &str, ack: &Stats, res: &Stats, within: u64, pct: Option<u64>| {
        for (prefix, st) in [("time_to_ack", ack), ("time_to_resolve", res)] {
            row("response", key, &format!("{prefix}_count"), n(st.count));
            if let Some(v) = st.median_s {
                row("response", key, &format!("{prefix}_median_s"), v);
            }
            if let Some(v) = st.p95_s {
                row("response", key, &format!("{prefix}_p95_s"), v);
            }
        }
        row("response", key, "acked_within_5m", n(within));
        if let Some(p) = pct {
            row("response", key, "acked_within_5m_pct", n(p));
        }
    };
    let all = &r.response;
    response(
        "all",
        &all.time_to_ack,
        &all.time_to_resolve,
        all.acked_within_5m,
        all.acked_within_5m_pct,
    );
    for sv in &r.response.services {
        response(
            &sv.service,
            &sv.time_to_ack,
            &sv.time_to_resolve,
            sv.acked_within_5m,
            sv.acked_within_5m_pct,
        );
    }

    for (i, f) in r.fix_first.iter().enumerate() {
        let key = &f.category;
        row("fix_first", key, "rank", n(i as u64 + 1));
        for (metric, v) in interruption_metrics(&f.interruptions) {
            row("fix_first", key, metric, n(v));
        }
        row("fix_first", key, "pages", n(f.pages));
        if let Some(p) = f.share_of_pages_pct {
            row("fix_first", key, "share_of_pages_pct", n(p));
        }
        for (metric, v) in interruption_metrics(&f.previous_interruptions) {
            row("fix_first", key, &format!("previous_{metric}"), n(v));
        }
        if let Some(c) = f.change {
            row("fix_first", key, "change_pct", c);
        }
    }

    for g in &r.flapping_categories {
        row("flapping_categories", &g.category, "flaps", n(g.flaps));
        row(
            "flapping_categories",
            &g.category,
            "incidents",
            n(g.incidents),
        );
        if let Some(p) = g.share_pct {
            row("flapping_categories", &g.category, "share_pct", n(p));
        }
        if let Some(m) = g.median_open_s {
            row("flapping_categories", &g.category, "median_open_s", m);
        }
    }

    for d in &r.heatmap.days {
        for (hour, v) in d.hours.iter().enumerate() {
            if *v > 0 {
                row("heatmap", &d.day, &format!("h{hour:02}"), n(*v));
            }
        }
    }

    row("shifts", "all", "total", n(r.shifts.total));
    row("shifts", "all", "over_limit", n(r.shifts.over_limit));
    for sh in &r.shifts.all {
        row("shifts", &sh.start, "incidents", n(sh.incidents));
        row("shifts", &sh.start, "length_s", sh.length_s);
        row("shifts", &sh.start, "over_limit", i64::from(sh.over_limit));
    }
    out
}

fn interruption_metrics(i: &Interruptions) -> [(&'static str, u64); 4] {
    [
        ("interruptions_total", i.total),
        ("interruptions_sleep", i.sleep),
        ("interruptions_business", i.business),
        ("interruptions_off", i.off),
    ]
}
