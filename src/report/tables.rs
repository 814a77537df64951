//! The sections the Markdown and the HTML report both show, built once from a [`Report`]: each
//! a title and a table (columns with their header and alignment, rows of plain cell text, at
//! most [`SECTION_ROWS`], and the "and N more (M incidents)." tail), or the heatmap. The two
//! formats only write these in their own syntax and escaping, and add their own extras by
//! [`Part`] (Markdown's one-line intros, the HTML charts), so a column, a row or a cell's
//! wording is decided here for both.

use std::cmp::Reverse;

use jiff::tz::TimeZone;

use super::model::{
    CategoryTrend, FlapGroup, PersonLoad, Report, ServiceResponse, ServiceTrend, Stats,
};
use super::text::{human, pct, plural, trend, wall};
use super::SECTION_ROWS;

/// Which part of the report a section shows, for the extras a format adds to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    FixFirst,
    People,
    When,
    Categories,
    Flapping,
    Services,
    Response,
    Shifts,
}

/// One section of the report, in the order both formats show them.
pub(super) struct Section {
    pub(super) part: Part,
    /// The heading.
    pub(super) title: &'static str,
    pub(super) body: Body,
}

/// What a section holds under its heading.
pub(super) enum Body {
    Table(Table),
    /// The weekday by hour heatmap ([`Report::heatmap`]), which each format draws its own way.
    Heatmap,
}

/// A bounded table; an empty one reads "None this period.".
pub(super) struct Table {
    pub(super) columns: Vec<Column>,
    /// Plain cell text (unescaped), one per column.
    pub(super) rows: Vec<Vec<String>>,
    /// What was left out after the first [`SECTION_ROWS`], if anything.
    pub(super) rest: Option<Rest>,
}

/// A column's header text and how its cells align.
#[derive(Debug, Clone, Copy)]
pub(super) struct Column {
    pub(super) header: &'static str,
    pub(super) align: Align,
}

/// Text columns align left, number columns (counts, shares, trends, durations) right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Align {
    Text,
    Number,
}

/// The rows a table left out, and how many `things` (incidents, interruptions, …) they held.
pub(super) struct Rest {
    rows: usize,
    count: u64,
    things: &'static str,
}

/// The columns one format shows beyond those both share.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Columns {
    /// Alert categories: this period's pages, before Example (the HTML, under its pages chart).
    pub(super) category_pages: bool,
}

impl Column {
    const fn text(header: &'static str) -> Column {
        Column {
            header,
            align: Align::Text,
        }
    }

    const fn number(header: &'static str) -> Column {
        Column {
            header,
            align: Align::Number,
        }
    }
}

impl Rest {
    /// The rows of `items` past the first [`SECTION_ROWS`], each counting `count` `things`.
    fn after_top<T>(items: &[T], count: impl Fn(&T) -> u64, things: &'static str) -> Option<Rest> {
        let left = items.get(SECTION_ROWS..).unwrap_or_default();
        (!left.is_empty()).then(|| Rest {
            rows: left.len(),
            count: left.iter().map(count).sum(),
            things,
        })
    }

    /// `and 3 more (12 incidents).`
    pub(super) fn sentence(&self) -> String {
        format!(
            "and {} more ({}).",
            self.rows,
            plural(self.count, self.things)
        )
    }
}

impl Table {
    /// The first [`SECTION_ROWS`] of `items` as rows, the rest counted by `count` in `things`.
    fn top<T>(
        columns: Vec<Column>,
        items: &[T],
        row: impl Fn(&T) -> Vec<String>,
        count: impl Fn(&T) -> u64,
        things: &'static str,
    ) -> Table {
        Table {
            columns,
            rows: items.iter().take(SECTION_ROWS).map(row).collect(),
            rest: Rest::after_top(items, count, things),
        }
    }
}

/// The report's sections, in order; `columns` adds a format's own columns.
pub(super) fn sections(r: &Report, columns: Columns) -> Vec<Section> {
    let zone = TimeZone::get(&r.period.zone).unwrap_or(TimeZone::UTC);
    let table = |part, title, table| Section {
        part,
        title,
        body: Body::Table(table),
    };
    vec![
        table(Part::FixFirst, "What to fix first", fix_first(r)),
        table(Part::People, "People", people(r)),
        Section {
            part: Part::When,
            title: "When",
            body: Body::Heatmap,
        },
        table(
            Part::Categories,
            "Alert categories",
            categories(r, columns.category_pages),
        ),
        table(Part::Flapping, "Flapping", flapping(r)),
        table(Part::Services, "Services", services(r)),
        table(Part::Response, "Response times", response(r)),
        table(Part::Shifts, "Busiest shifts", shifts(r, &zone)),
    ]
}

/// A duration, or `-` when there was nothing to measure.
fn duration(secs: Option<i64>) -> String {
    secs.map(human).unwrap_or_else(|| "-".into())
}

/// Every category of what to fix first (three at most), numbered.
fn fix_first(r: &Report) -> Table {
    let rows = r.fix_first.iter().enumerate().map(|(i, f)| {
        vec![
            (i + 1).to_string(),
            f.shape.clone(),
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
    });
    Table {
        columns: vec![
            Column::number("#"),
            Column::text("Alert"),
            Column::number("Sleep"),
            Column::number("Interruptions"),
            Column::number("Pages"),
            Column::number("Share of pages"),
            Column::number("Trend"),
        ],
        rows: rows.collect(),
        rest: None,
    }
}

fn people(r: &Report) -> Table {
    let columns = vec![
        Column::text("Person"),
        Column::text("Provider"),
        Column::number("Pages"),
        Column::number("Interruptions"),
        Column::number("Sleep"),
        Column::number("Business"),
        Column::number("Off"),
        Column::number("Nights"),
        Column::number("Run"),
        Column::number("Acks"),
        Column::number("Escalations"),
        Column::number("Trend"),
    ];
    let row = |p: &PersonLoad| {
        vec![
            p.person.clone(),
            p.provider.clone(),
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
    };
    let interruptions = |p: &PersonLoad| p.interruptions.total;
    Table::top(columns, &r.people, row, interruptions, "interruption")
}

/// With `pages`, this period's pages per category too.
fn categories(r: &Report, pages: bool) -> Table {
    let mut columns = vec![
        Column::text("Alert"),
        Column::number("Incidents"),
        Column::number("Previous"),
        Column::number("Trend"),
    ];
    columns.extend(pages.then_some(Column::number("Pages")));
    columns.push(Column::text("Example"));
    let row = |c: &CategoryTrend| {
        let mut cells = vec![
            c.shape.clone(),
            c.incidents.to_string(),
            c.previous.to_string(),
            trend(c.incidents, c.previous, c.change),
        ];
        cells.extend(pages.then(|| c.pages.to_string()));
        cells.push(c.example.clone().unwrap_or_default());
        cells
    };
    Table::top(columns, &r.categories, row, |c| c.incidents, "incident")
}

fn flapping(r: &Report) -> Table {
    let columns = vec![
        Column::text("Alert"),
        Column::number("Flapping"),
        Column::number("Of its incidents"),
        Column::number("Median open"),
        Column::text("Example"),
    ];
    let row = |f: &FlapGroup| {
        vec![
            f.shape.clone(),
            f.flaps.to_string(),
            pct(f.share_pct),
            duration(f.median_open_s),
            f.example.clone().unwrap_or_default(),
        ]
    };
    Table::top(
        columns,
        &r.flapping_categories,
        row,
        |f| f.flaps,
        "incident",
    )
}

fn services(r: &Report) -> Table {
    let columns = vec![
        Column::text("Service"),
        Column::number("Incidents"),
        Column::number("Previous"),
        Column::number("Trend"),
    ];
    let row = |s: &ServiceTrend| {
        vec![
            s.service.clone(),
            s.incidents.to_string(),
            s.previous.to_string(),
            trend(s.incidents, s.previous, s.change),
        ]
    };
    Table::top(columns, &r.services, row, |s| s.incidents, "incident")
}

/// All services first, then the busiest (most acknowledged and resolved incidents, ties by
/// name); no rows when nothing was acknowledged or resolved.
fn response(r: &Report) -> Table {
    let resp = &r.response;
    let mut busiest: Vec<&ServiceResponse> = resp.services.iter().collect();
    busiest.sort_by_key(|s| Reverse(s.time_to_ack.count + s.time_to_resolve.count));
    let row = |name: &str, ack: &Stats, res: &Stats, within: Option<u64>| {
        vec![
            name.to_string(),
            ack.count.to_string(),
            duration(ack.median_s),
            duration(ack.p95_s),
            pct(within),
            res.count.to_string(),
            duration(res.median_s),
            duration(res.p95_s),
        ]
    };
    let mut rows = Vec::new();
    if resp.time_to_ack.count + resp.time_to_resolve.count > 0 {
        rows.push(row(
            "All services",
            &resp.time_to_ack,
            &resp.time_to_resolve,
            resp.acked_within_5m_pct,
        ));
        rows.extend(busiest.iter().take(SECTION_ROWS).map(|s| {
            row(
                &s.service,
                &s.time_to_ack,
                &s.time_to_resolve,
                s.acked_within_5m_pct,
            )
        }));
    }
    Table {
        columns: vec![
            Column::text("Service"),
            Column::number("Acknowledged"),
            Column::number("Median to ack"),
            Column::number("p95 to ack"),
            Column::number("Within 5 min"),
            Column::number("Resolved"),
            Column::number("Median to resolve"),
            Column::number("p95 to resolve"),
        ],
        rows,
        rest: Rest::after_top(&busiest, |s| s.time_to_resolve.count, "resolved incident"),
    }
}

/// Every busiest shift (five at most), its bounds as wall-clock times in `zone`.
fn shifts(r: &Report, zone: &TimeZone) -> Table {
    let rows = r.shifts.busiest.iter().map(|s| {
        vec![
            wall(&s.start, zone),
            wall(&s.end, zone),
            human(s.length_s),
            s.incidents.to_string(),
            if s.over_limit { "yes" } else { "no" }.to_string(),
        ]
    });
    Table {
        columns: vec![
            Column::text("Start"),
            Column::text("End"),
            Column::number("Length"),
            Column::number("Incidents"),
            Column::text("Over limit"),
        ],
        rows: rows.collect(),
        rest: None,
    }
}
