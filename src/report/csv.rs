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
/// the median of no samples, have no row).
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

    let mut response = |key: &str, ack: &Stats, res: &Stats| {
        for (prefix, st) in [("time_to_ack", ack), ("time_to_resolve", res)] {
            row("response", key, &format!("{prefix}_count"), n(st.count));
            if let Some(v) = st.median_s {
                row("response", key, &format!("{prefix}_median_s"), v);
            }
            if let Some(v) = st.p95_s {
                row("response", key, &format!("{prefix}_p95_s"), v);
            }
        }
    };
    response("all", &r.response.time_to_ack, &r.response.time_to_resolve);
    for sv in &r.response.services {
        response(&sv.service, &sv.time_to_ack, &sv.time_to_resolve);
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
