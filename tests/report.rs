//! `ptsd report` end to end: the real binary over the fake PagerDuty API (and the demo feed).
//! The demo week's Markdown stays short; `--team` narrows the report through the PagerDuty
//! collector's own `team_ids[]` path; `--provider` picks one provider.

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use support::*;

const TOKEN: &str = "report+Token-93";

/// `ptsd report` with a clean environment, reading `fake` (or the demo feed with `--demo`).
fn report(fake: Option<&FakePagerDuty>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ptsd"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info");
    if let Some(fake) = fake {
        cmd.env("PDTOKEN", TOKEN)
            .env("PAGERDUTY_API_URL", &fake.url);
    }
    cmd.arg("report")
        .args(args)
        .output()
        .expect("ptsd report runs")
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "report failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("the report is UTF-8")
}

#[test]
fn the_demo_week_fits_in_two_hundred_lines() {
    let md = stdout_of(&report(None, &["--demo", "--since", "7d"]));
    let lines = md.lines().count();
    assert!(lines <= 200, "{lines} lines:\n{md}");
    for heading in [
        "## What to fix first",
        "## People",
        "## When",
        "## Alert categories",
        "## Flapping",
        "## Services",
        "## Response times",
        "## Busiest shifts",
    ] {
        assert!(md.contains(heading), "{heading} missing:\n{md}");
    }
    // Categories read as their shape, with placeholders (escaped for Markdown).
    assert!(md.contains(r"\<n>"), "{md}");
}

fn with_team(entries: Vec<Value>, team: &str) -> Vec<Value> {
    entries
        .into_iter()
        .map(|mut e| {
            e["teams"] = json!([{ "id": team, "type": "team_reference", "summary": team }]);
            e
        })
        .collect()
}

#[test]
fn team_narrows_the_report_to_that_teams_incidents_and_pages() {
    let fake = FakePagerDuty::start_blocking(TOKEN);
    let until = Timestamp::now().round(jiff::Unit::Second).unwrap();
    let start = until - SignedDuration::from_hours(6);
    let (ops, ops_want) = synthetic_incidents(14, start, Duration::from_secs(600), 71);
    let (web, web_want) = synthetic_incidents(9, start, Duration::from_secs(600), 72);
    fake.add_entries(with_team(ops, "PTEAMOPS"));
    fake.add_entries(with_team(web, "PTEAMWEB"));
    let until = until.to_string();
    let json_report = |extra: &[&str]| -> Value {
        let mut args = vec!["--since", "1d", "--until", &until, "--format", "json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&stdout_of(&report(Some(&fake), &args))).expect("JSON")
    };
    let pages = |w: &ExpectedCounts| w.notifications.values().sum::<u64>();

    let all = json_report(&[]);
    assert_eq!(
        all["summary"]["incidents"],
        ops_want.incidents + web_want.incidents
    );

    fake.clear_requests();
    let ops_only = json_report(&["--team", "PTEAMOPS"]);
    assert_eq!(ops_only["summary"]["incidents"], ops_want.incidents);
    assert_eq!(ops_only["summary"]["pages"], pages(&ops_want));
    assert_eq!(ops_only["period"]["teams"], json!(["PTEAMOPS"]));
    // Each person's pages and acknowledgements are those of the team's incidents alone.
    for p in ops_only["people"].as_array().unwrap() {
        let name = p["person"].as_str().unwrap();
        let who = |user: &str| ptsd::schema::sanitize(user, true) == name;
        let want_pages: u64 = ops_want
            .notifications
            .iter()
            .filter(|((u, _), _)| who(u))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(p["pages"], want_pages, "{name}");
        let want_acks: u64 = ops_want
            .acks
            .iter()
            .filter(|(u, _)| who(u))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(p["acknowledgements"], want_acks, "{name}");
    }
    // Through the collector's own path: every log-entry request asked for the team.
    let asked: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/log_entries")
        .collect();
    assert!(!asked.is_empty());
    for r in &asked {
        assert_eq!(r.params("team_ids[]"), ["PTEAMOPS"]);
    }

    let both = json_report(&[
        "--team",
        "PTEAMOPS",
        "--team",
        "PTEAMWEB",
        "--provider",
        "pagerduty",
    ]);
    assert_eq!(
        both["summary"]["incidents"],
        ops_want.incidents + web_want.incidents
    );
    assert_eq!(both["period"]["provider"], "pagerduty");

    // The Markdown says what it was narrowed to.
    let md = stdout_of(&report(
        Some(&fake),
        &["--since", "1d", "--until", &until, "--team", "PTEAMWEB"],
    ));
    assert!(md.contains("Only team PTEAMWEB."), "{md}");
}

#[test]
fn provider_and_team_mistakes_are_one_clear_line() {
    let fake = FakePagerDuty::start_blocking(TOKEN);
    for (args, want) in [
        (
            vec!["--provider", "nosuch"],
            "--provider \"nosuch\" is not a provider; known: ",
        ),
        (
            vec!["--provider", "opsgenie"],
            "--provider opsgenie is not configured; set OPSGENIE_API_KEY",
        ),
        (
            vec!["--provider", "opsgenie", "--team", "PX1"],
            "--team: opsgenie has no teams; teams work with pagerduty",
        ),
        (
            vec!["--team", "ops team"],
            "--team \"ops team\" is not a team id",
        ),
    ] {
        let out = report(Some(&fake), &args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains(TOKEN));
    }
}

/// The number in a shape's `data-value`.
fn value(e: &scraper::ElementRef) -> u64 {
    e.value()
        .attr("data-value")
        .and_then(|v| v.parse().ok())
        .expect("a data-value number")
}

#[test]
fn the_html_page_is_self_contained_and_its_charts_match_the_data() {
    // A fixed end: the demo feed is the same for both runs.
    let until = "2026-11-30T09:00:00Z";
    let args = |format: &str| {
        vec![
            "--demo".to_string(),
            "--since".into(),
            "7d".into(),
            "--until".into(),
            until.into(),
            "--format".into(),
            format.into(),
        ]
    };
    let run = |format: &str| {
        let a = args(format);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        stdout_of(&report(None, &a))
    };
    let data: Value = serde_json::from_str(&run("json")).expect("JSON");
    let html = run("html");
    let page = scraper::Html::parse_document(&html);
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    let sel = |s: &str| scraper::Selector::parse(s).unwrap();

    // Self-contained: no scripts, nothing fetched from elsewhere.
    assert_eq!(
        page.select(&sel("script, link, img, iframe, object"))
            .count(),
        0
    );
    for e in page.select(&sel("[src], [href]")) {
        panic!("external reference: {:?}", e.value());
    }
    assert!(!html.contains("url("), "no CSS fetches");
    assert_eq!(page.select(&sel("svg")).count(), 3);

    // Interruptions per person, stacked by band: the first ten people.
    let people = data["people"].as_array().unwrap();
    assert!(!people.is_empty());
    let bars: Vec<_> = page.select(&sel("#chart-people rect")).collect();
    assert_eq!(bars.len(), 3 * people.len().min(10));
    for bar in &bars {
        let who = bar.value().attr("data-person").unwrap();
        let band = bar.value().attr("data-band").unwrap();
        let p = people
            .iter()
            .find(|p| p["person"] == who)
            .expect("a person of the report");
        assert_eq!(
            value(bar),
            p["interruptions"][band].as_u64().unwrap(),
            "{who} {band}"
        );
        let title = bar.select(&sel("title")).next().unwrap().inner_html();
        assert!(
            title.contains(&format!(": {} {band}", value(bar))),
            "{title}"
        );
    }

    // The heatmap: 7 x 24 cells, each the report's count.
    let cells: Vec<_> = page.select(&sel("#chart-heatmap rect")).collect();
    assert_eq!(cells.len(), 7 * 24);
    let mut total = 0;
    for c in &cells {
        let day = c.value().attr("data-day").unwrap();
        let hour: usize = c.value().attr("data-hour").unwrap().parse().unwrap();
        let row = data["heatmap"]["days"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["day"] == day)
            .unwrap();
        assert_eq!(
            value(c),
            row["hours"][hour].as_u64().unwrap(),
            "{day} {hour}"
        );
        total += value(c);
    }
    assert_eq!(
        total,
        data["summary"]["interruptions"]["total"].as_u64().unwrap()
    );

    // Pages per category, this period beside the previous one.
    let categories = data["categories"].as_array().unwrap();
    let bars: Vec<_> = page.select(&sel("#chart-categories rect")).collect();
    assert_eq!(bars.len(), 2 * categories.len().min(10));
    for bar in &bars {
        let key = bar.value().attr("data-category").unwrap();
        let c = categories.iter().find(|c| c["category"] == key).unwrap();
        let field = match bar.value().attr("data-period").unwrap() {
            "current" => "pages",
            _ => "previous_pages",
        };
        assert_eq!(value(bar), c[field].as_u64().unwrap(), "{key} {field}");
    }
    // The shapes' placeholders are text, not tags.
    assert!(html.contains("&lt;n&gt;"));
}

/// Every field name of the JSON report is in the README's field table.
#[test]
fn every_json_field_is_documented() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("#### JSON and CSV fields")
        .expect("the field tables");
    let tables = &readme[start..];
    let data: Value = serde_json::from_str(&stdout_of(&report(
        None,
        &["--demo", "--since", "7d", "--format", "json"],
    )))
    .unwrap();
    fn keys(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    out.insert(k.clone());
                    keys(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
            _ => {}
        }
    }
    let mut all = std::collections::BTreeSet::new();
    keys(&data, &mut all);
    assert!(all.len() > 40, "{all:?}");
    for k in all {
        assert!(
            tables.contains(&k),
            "README does not document the JSON field {k:?}"
        );
    }
}
