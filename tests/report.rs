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
    let fetched: Vec<_> = page
        .select(&sel("[src], [href]"))
        .map(|e| e.value().clone())
        .collect();
    assert!(fetched.is_empty(), "external references: {fetched:?}");
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

/// Every field name of the JSON report is in the field table of docs/oncall-health.md.
#[test]
fn every_json_field_is_documented() {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/oncall-health.md"
    ))
    .unwrap();
    let start = page
        .find("### JSON and CSV fields")
        .expect("the field tables");
    let tables = &page[start..];
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
            "docs/oncall-health.md does not document the JSON field {k:?}"
        );
    }
}

/// Sums a daemon's stdout JSON lines named `name`, keyed by the values of `tags`.
fn daemon_sums(
    lines: &[Value],
    name: &str,
    tags: &[&str],
) -> std::collections::BTreeMap<Vec<String>, u64> {
    let mut out = std::collections::BTreeMap::new();
    for l in lines.iter().filter(|l| l["name"] == name) {
        let key: Vec<String> = tags
            .iter()
            .map(|t| l["tags"][*t].as_str().unwrap_or("").to_string())
            .collect();
        // Timers print one line per sample: count them.
        let v = if l["type"] == "counter" {
            l["value"].as_u64().unwrap()
        } else {
            1
        };
        *out.entry(key).or_insert(0) += v;
    }
    out
}

/// The daemon (stdout outputter, one poll over the whole history) and the report, over the
/// same known history from the fake PagerDuty, say the same numbers.
#[test]
fn the_report_and_the_daemon_agree_on_a_known_history() {
    let fake = FakePagerDuty::start_blocking(TOKEN);
    fake.add_users(synthetic_users());
    let now = Timestamp::now().round(jiff::Unit::Second).unwrap();
    // Every lifecycle (at most ~2 h) ends at least 5 hours before now.
    let (entries, want) = synthetic_incidents(
        30,
        now - SignedDuration::from_hours(12),
        Duration::from_secs(600),
        93,
    );
    fake.add_entries(entries);

    let out = Command::new(env!("CARGO_BIN_EXE_ptsd"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PDTOKEN", TOKEN)
        .env("PAGERDUTY_API_URL", &fake.url)
        .args([
            "--once",
            "--outputs",
            "stdout",
            "--backfill",
            "1d",
            "--max-window",
            "2d",
        ])
        .output()
        .expect("ptsd runs");
    let stdout = stdout_of(&out);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let until = now.to_string();
    let r: Value = serde_json::from_str(&stdout_of(&report(
        Some(&fake),
        &["--since", "1d", "--until", &until, "--format", "json"],
    )))
    .unwrap();
    let user = |p: &Value| ptsd::schema::sanitize(p["person"].as_str().unwrap(), true);
    let one = |m: &std::collections::BTreeMap<Vec<String>, u64>, k: &[&str]| {
        m.get(&k.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .copied()
            .unwrap_or(0)
    };

    // Incidents, overall, by service and by category.
    let incidents = daemon_sums(&lines, "ptsd.incidents", &[]);
    assert_eq!(r["summary"]["incidents"], one(&incidents, &[]));
    assert_eq!(one(&incidents, &[]), want.incidents);
    let by_service = daemon_sums(&lines, "ptsd.incidents", &["service"]);
    for s in r["services"].as_array().unwrap() {
        let key = ptsd::schema::sanitize(s["service"].as_str().unwrap(), true);
        assert_eq!(s["incidents"], one(&by_service, &[&key]), "{key}");
    }
    let by_category = daemon_sums(&lines, "ptsd.incidents", &["category"]);
    for c in r["categories"].as_array().unwrap() {
        let key = ptsd::schema::sanitize(c["category"].as_str().unwrap(), true);
        assert_eq!(c["incidents"], one(&by_category, &[&key]), "{key}");
    }
    assert_eq!(by_category.values().sum::<u64>(), want.incidents);

    // People: pages, interruptions per band, acknowledgements, escalations, assignments, resolves.
    let pages = daemon_sums(&lines, "ptsd.notifications", &["user"]);
    let interruptions = daemon_sums(&lines, "ptsd.interruptions", &["user", "hours"]);
    let people = r["people"].as_array().unwrap();
    assert_eq!(people.len(), pages.len());
    assert_eq!(r["summary"]["pages"], pages.values().sum::<u64>());
    assert_eq!(
        r["summary"]["interruptions"]["total"],
        interruptions.values().sum::<u64>()
    );
    for p in people {
        let u = user(p);
        assert_eq!(p["pages"], one(&pages, &[&u]), "{u}");
        for band in ["sleep", "business", "off"] {
            assert_eq!(
                p["interruptions"][band],
                one(&interruptions, &[&u, band]),
                "{u} {band}"
            );
        }
        for (field, metric) in [
            ("acknowledgements", "ptsd.acknowledgements"),
            ("escalations", "ptsd.escalations"),
            ("assignments", "ptsd.assignments"),
            ("resolves", "ptsd.resolves"),
        ] {
            let m = daemon_sums(&lines, metric, &["user"]);
            assert_eq!(p[field], one(&m, &[&u]), "{u} {field}");
        }
    }
    assert!(interruptions.values().sum::<u64>() > 0);

    // Response: one timing sample per acknowledged and per resolved incident, per service.
    let acks = daemon_sums(&lines, "ptsd.time_to_ack", &["service"]);
    let resolves = daemon_sums(&lines, "ptsd.time_to_resolve", &["service"]);
    assert!(acks.values().sum::<u64>() > 0 && resolves.values().sum::<u64>() > 0);
    assert_eq!(
        r["response"]["time_to_ack"]["count"],
        acks.values().sum::<u64>()
    );
    assert_eq!(
        r["response"]["time_to_resolve"]["count"],
        resolves.values().sum::<u64>()
    );
    for s in r["response"]["services"].as_array().unwrap() {
        let key = ptsd::schema::sanitize(s["service"].as_str().unwrap(), true);
        assert_eq!(s["time_to_ack"]["count"], one(&acks, &[&key]), "{key}");
        assert_eq!(
            s["time_to_resolve"]["count"],
            one(&resolves, &[&key]),
            "{key}"
        );
    }
}
