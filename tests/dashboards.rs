//! The dashboards in `dashboards/` against what ptsd really writes.
//!
//! - **Grafana over Graphite** (`grafana-graphite.json`): the real `ptsd` binary reads a known
//!   day of history from the fake PagerDuty into a real carbon-cache (direct Graphite output),
//!   and every target of the dashboard, with its variables substituted (`root=ptsd`,
//!   `provider=pagerduty` and `*`), is evaluated by graphite-web's own render API, as Grafana
//!   would send it. Each answer is checked against what the history holds, computed here from
//!   the log entries themselves (their type, times, people, channels), and against the two
//!   failed requests and the failed poll this test causes on purpose. The same history through
//!   Etsy StatsD's Graphite backend (`root=stats_counts.ptsd`) is checked for the targets the
//!   StatsD variant uses: totals over the range equal the history's.
//!   A target with no checker, or that returns no series, fails.
//! - **Datadog** (`datadog.json`, and `datadog-timestamped.json` for `PTSD_STATSD_TIMESTAMPS=on`):
//!   every metric, tag key, group-by and template variable in its queries must be one ptsd emits
//!   in the DogStatsD flavor (in that mode), read from `ptsd::schema` itself (the series of every
//!   event kind with every finding, rendered tagged), with the aggregation its kind allows
//!   (percentiles on distributions, `.as_count()` on counts only). Both also load into
//!   Datadog's own API client models (`datadog-api-client`'s v1 `Dashboard`, run from
//!   `.test-deps/datadog` by `tests/support/datadog_models.py`) with nothing unparsed.
//!
//! Which targets belong to which variant is read from the panels' descriptions:
//! "Graphite output only" and "Etsy StatsD only" (every other target uses `$root` and is
//! evaluated in both).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use ptsd::schema::sanitize;
use serde_json::Value;
use support::*;

const TOKEN: &str = "u+dashboardsToken42";
/// How long Graphite may take to hold everything (carbon and statsd write asynchronously).
const WAIT: Duration = Duration::from_secs(40);
const GRAPHITE_ONLY: &str = "Graphite output only";
const STATSD_ONLY: &str = "Etsy StatsD only";

// ---------------------------------------------------------------------------------------------
// The dashboards

fn dashboard(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dashboards")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Both,
    GraphiteOnly,
    StatsdOnly,
}

/// One Graphite query of a panel.
#[derive(Debug, Clone)]
struct Target {
    panel: String,
    ref_id: String,
    expr: String,
    variant: Variant,
}

impl Target {
    fn key(&self) -> String {
        format!("{} / {}", self.panel, self.ref_id)
    }
}

/// Every target of every panel, rows' nested panels included.
fn grafana_targets(dash: &Value) -> Vec<Target> {
    fn walk(panels: &Value, out: &mut Vec<Target>) {
        for p in panels.as_array().into_iter().flatten() {
            walk(&p["panels"], out);
            let desc = p["description"].as_str().unwrap_or_default();
            let variant = if desc.starts_with(GRAPHITE_ONLY) {
                Variant::GraphiteOnly
            } else if desc.starts_with(STATSD_ONLY) {
                Variant::StatsdOnly
            } else {
                Variant::Both
            };
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push(Target {
                    panel: p["title"].as_str().unwrap_or_default().to_string(),
                    ref_id: t["refId"].as_str().unwrap_or_default().to_string(),
                    expr: t["target"].as_str().unwrap_or_default().to_string(),
                    variant,
                });
            }
        }
    }
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    out
}

/// `expr` with the dashboard variables replaced; panics on any variable left over.
fn substitute(expr: &str, root: &str, provider: &str) -> String {
    let out = expr
        .replace("${root}", root)
        .replace("$root", root)
        .replace("${provider}", provider)
        .replace("$provider", provider);
    let bytes = out.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'$'
            && bytes
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'{')
        {
            panic!("a variable is left in {out:?} (from {expr:?})");
        }
    }
    out
}

#[test]
fn the_grafana_dashboard_is_an_export_for_sharing() {
    let dash = dashboard("grafana-graphite.json");
    let inputs = dash["__inputs"].as_array().expect("__inputs");
    assert!(inputs
        .iter()
        .any(|i| i["name"] == "DS_GRAPHITE" && i["pluginId"] == "graphite"));
    assert!(dash["__requires"]
        .as_array()
        .expect("__requires")
        .iter()
        .any(|r| r["id"] == "graphite"));
    let vars: BTreeMap<&str, &Value> = dash["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .map(|v| (v["name"].as_str().unwrap_or_default(), v))
        .collect();
    assert_eq!(vars["root"]["type"], "custom");
    assert_eq!(vars["root"]["query"], "ptsd,stats_counts.ptsd");
    assert_eq!(vars["provider"]["query"], "$root.*");
    assert_eq!(vars["provider"]["allValue"], "*");
    // Every panel with queries uses the shared data source, every query has a refId.
    fn walk(panels: &Value, n: &mut usize) {
        for p in panels.as_array().into_iter().flatten() {
            walk(&p["panels"], n);
            if p["type"] == "row" {
                continue;
            }
            *n += 1;
            assert_eq!(p["datasource"]["uid"], "${DS_GRAPHITE}", "{}", p["title"]);
            assert_eq!(p["datasource"]["type"], "graphite", "{}", p["title"]);
            let targets = p["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{}", p["title"]);
            for t in targets {
                assert!(t["refId"].is_string() && t["target"].is_string(), "{t}");
            }
        }
    }
    let mut n = 0;
    walk(&dash["panels"], &mut n);
    assert!(n >= 12, "{n} panels");
    for t in grafana_targets(&dash) {
        match t.variant {
            Variant::StatsdOnly => assert!(!t.expr.contains("$root"), "{}", t.key()),
            _ => assert!(t.expr.contains("$root"), "{}", t.key()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The history and what it holds

fn ts(v: &Value) -> Timestamp {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a timestamp: {v}"))
}

fn s(v: &Value) -> String {
    sanitize(v.as_str().unwrap_or("unknown"), true)
}

/// One time-to-ack or time-to-resolve sample: when it was taken, its urgency, milliseconds.
#[derive(Debug, Clone)]
struct Sample {
    at: i64,
    urgency: String,
    ms: f64,
}

/// What the history holds, per name as the dashboard's targets alias them.
#[derive(Debug, Default)]
struct Truth {
    /// `user.channel` → pages.
    pages: BTreeMap<String, f64>,
    /// `user.metric` (assignments, acknowledgements, escalations, resolves) → count.
    actions: BTreeMap<String, f64>,
    by_service: BTreeMap<String, f64>,
    by_urgency: BTreeMap<String, f64>,
    incidents: f64,
    /// user → push, phone and SMS pages (the most interruptions there can be).
    disruptive: BTreeMap<String, f64>,
    /// user → bursts of such pages more than 60 s apart (the fewest there can be).
    bursts: BTreeMap<String, f64>,
    acks: Vec<Sample>,
    resolves: Vec<Sample>,
    /// ptsd's own, from the fake's request log and the runs.
    requests_by_class: BTreeMap<String, f64>,
    polls: BTreeMap<String, f64>,
    waits_and_retries: BTreeMap<String, f64>,
}

fn truth(entries: &[Value]) -> Truth {
    let mut t = Truth::default();
    let add = |m: &mut BTreeMap<String, f64>, k: String| *m.entry(k).or_default() += 1.0;
    let mut disruptive_at: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for e in entries {
        let at = ts(&e["created_at"]);
        // What the entry counts, by its plain name below `ptsd.pagerduty.`.
        for name in plain_counts(e) {
            let parts: Vec<&str> = name.split('.').collect();
            match parts.as_slice() {
                ["incidents", urgency] => {
                    t.incidents += 1.0;
                    add(&mut t.by_urgency, urgency.to_string());
                }
                ["services", service, "incidents"] => add(&mut t.by_service, service.to_string()),
                ["users", user, "notifications", channel] => {
                    add(&mut t.pages, format!("{user}.{channel}"));
                    if ["push", "sms", "phone"].contains(channel) {
                        add(&mut t.disruptive, user.to_string());
                        disruptive_at
                            .entry(user.to_string())
                            .or_default()
                            .push(at.as_second());
                    }
                }
                ["users", user, metric] => add(&mut t.actions, format!("{user}.{metric}")),
                other => panic!("an entry counts an unexpected name {other:?}"),
            }
        }
        // Every synthetic incident is acknowledged and resolved at most once: each is a first.
        let sample = || Sample {
            at: at.as_second(),
            urgency: s(&e["incident"]["urgency"]),
            ms: at
                .duration_since(ts(&e["incident"]["created_at"]))
                .as_millis() as f64,
        };
        match e["type"].as_str().unwrap_or_default() {
            "acknowledge_log_entry" => t.acks.push(sample()),
            "resolve_log_entry" => t.resolves.push(sample()),
            _ => {}
        }
    }
    for (user, mut times) in disruptive_at {
        times.sort_unstable();
        let bursts = 1 + times.windows(2).filter(|w| w[1] - w[0] > 60).count();
        t.bursts.insert(user, bursts as f64);
    }
    t
}

// ---------------------------------------------------------------------------------------------
// Checking one target's answer

/// A render answer: series name → points.
type Answer = BTreeMap<String, Vec<(i64, Option<f64>)>>;

fn answer(peer: &GraphitePeer, target: &str, from: i64, until: i64) -> Answer {
    let mut out = Answer::new();
    for series in peer.render_series(target, from, until) {
        let dup = out.insert(series.target.clone(), series.datapoints);
        assert!(
            dup.is_none(),
            "{target}: two series named {}",
            series.target
        );
    }
    out
}

fn totals(a: &Answer) -> BTreeMap<String, f64> {
    a.iter()
        .map(|(k, pts)| (k.clone(), pts.iter().filter_map(|p| p.1).sum()))
        .collect()
}

fn points(a: &Answer) -> BTreeMap<(String, i64), f64> {
    a.iter()
        .flat_map(|(k, pts)| {
            pts.iter()
                .filter_map(move |(t, v)| Some(((k.clone(), *t), (*v)?)))
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn same_totals(got: &BTreeMap<String, f64>, want: &BTreeMap<String, f64>) -> Result<(), String> {
    let ok = got.len() == want.len()
        && got
            .iter()
            .all(|(k, v)| want.get(k).is_some_and(|w| close(*v, *w)));
    if ok {
        Ok(())
    } else {
        Err(format!("totals\n  got  {got:?}\n  want {want:?}"))
    }
}

fn same_points(
    got: &BTreeMap<(String, i64), f64>,
    want: &BTreeMap<(String, i64), f64>,
) -> Result<(), String> {
    let ok = got.len() == want.len()
        && got
            .iter()
            .all(|(k, v)| want.get(k).is_some_and(|w| close(*v, *w)));
    if ok {
        Ok(())
    } else {
        Err(format!("points\n  got  {got:?}\n  want {want:?}"))
    }
}

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

/// Everything a checker may need besides the answer itself.
struct Ctx<'a> {
    peer: &'a GraphitePeer,
    truth: &'a Truth,
    variant: Variant,
    root: &'a str,
    provider: &'a str,
    from: i64,
    until: i64,
}

impl Ctx<'_> {
    /// Totals of a raw (undashboarded) wildcard, grouped by the node `node` counted from the end.
    fn raw_totals(&self, tail: &str, node: i64) -> BTreeMap<String, f64> {
        let target = format!(
            "groupByNode({}.{}.{tail}, {node}, 'sum')",
            self.root, self.provider
        );
        totals(&answer(self.peer, &target, self.from, self.until))
    }

    fn direct(&self) -> bool {
        self.variant == Variant::GraphiteOnly
    }
}

fn bucket(at: i64, step: i64) -> i64 {
    at - at.rem_euclid(step)
}

/// Per urgency and hour (or day): `f` of the samples, named `{urgency}{suffix}`.
fn per_bucket(
    samples: &[Sample],
    step: i64,
    by_urgency: bool,
    name: &str,
    f: impl Fn(&[&Sample]) -> f64,
) -> BTreeMap<(String, i64), f64> {
    let mut groups: BTreeMap<(String, i64), Vec<&Sample>> = BTreeMap::new();
    for smp in samples {
        let key = if by_urgency {
            format!("{}{name}", smp.urgency)
        } else {
            name.to_string()
        };
        groups
            .entry((key, bucket(smp.at, step)))
            .or_default()
            .push(smp);
    }
    groups.into_iter().map(|(k, v)| (k, f(&v))).collect()
}

fn share(limit_ms: f64) -> impl Fn(&[&Sample]) -> f64 {
    move |v: &[&Sample]| v.iter().filter(|x| x.ms <= limit_ms).count() as f64 / v.len() as f64
}

fn mean(v: &[&Sample]) -> f64 {
    v.iter().map(|x| x.ms).sum::<f64>() / v.len() as f64
}

fn worst(v: &[&Sample]) -> f64 {
    v.iter().map(|x| x.ms).fold(f64::MIN, f64::max)
}

fn last_value(a: &Answer, name: &str) -> Option<f64> {
    a.get(name)?.iter().rev().find_map(|p| p.1)
}

/// Interruptions, by `user.band` or (for the sleep panel) by `user`: between the bursts and
/// the push/phone/SMS pages of each person, and equal to the raw files' totals.
fn check_interruptions(ctx: &Ctx, got: &BTreeMap<String, f64>, sleep: bool) -> Result<(), String> {
    let raw = ctx.raw_totals("users.*.interruptions.*", -3);
    let mut per_user: BTreeMap<String, f64> = BTreeMap::new();
    for (k, v) in got {
        let (user, band) = if sleep {
            (k.as_str(), "sleep")
        } else {
            k.split_once('.')
                .ok_or_else(|| format!("name {k:?} is not user.band"))?
        };
        ensure(["business", "off", "sleep"].contains(&band), || {
            format!("unknown band in {k}")
        })?;
        *per_user.entry(user.to_string()).or_default() += v;
    }
    if sleep {
        let raw_sleep = ctx.raw_totals("users.*.interruptions.sleep", -3);
        same_totals(got, &raw_sleep)?;
    } else {
        same_totals(&per_user, &raw)?;
        let want_users: BTreeSet<&String> = ctx.truth.disruptive.keys().collect();
        let got_users: BTreeSet<&String> = per_user.keys().collect();
        ensure(got_users == want_users, || {
            format!("interrupted people {got_users:?}, paged by push/phone/SMS {want_users:?}")
        })?;
    }
    for (user, n) in &per_user {
        let most = ctx.truth.disruptive.get(user).copied().unwrap_or(0.0);
        let fewest = if sleep {
            0.0
        } else {
            ctx.truth.bursts.get(user).copied().unwrap_or(0.0)
        };
        ensure(*n <= most && *n >= fewest && *n > 0.0, || {
            format!("{user}: {n} interruptions, not within {fewest}..={most}")
        })?;
    }
    Ok(())
}

/// Checks one target's answer; `Err` says what is wrong.
fn check(t: &Target, ctx: &Ctx, a: &Answer) -> Result<(), String> {
    ensure(!a.is_empty(), || "no series".into())?;
    let truth = ctx.truth;
    let got = totals(a);
    match (t.panel.as_str(), t.ref_id.as_str()) {
        ("Pages per person, by channel (per hour)", "A") => same_totals(&got, &truth.pages),
        ("Interruptions by hour band (per hour)", "A") => check_interruptions(ctx, &got, false),
        ("Sleep interruptions per day", "A") => {
            if ctx.direct() {
                let days_aligned = a
                    .values()
                    .flatten()
                    .filter(|p| p.1.is_some())
                    .all(|p| p.0 % 86_400 == 0);
                ensure(days_aligned, || format!("not per UTC day: {a:?}"))?;
            }
            check_interruptions(ctx, &got, true)
        }
        ("Assignments, acknowledgements, escalations, resolves per person (per hour)", "A") => {
            same_totals(&got, &truth.actions)
        }
        ("Incidents by service (per hour)", "A") => same_totals(&got, &truth.by_service),
        ("Incidents by urgency (per hour)", "A") => same_totals(&got, &truth.by_urgency),
        ("Noisiest alert categories (top 10)", "A") => {
            let raw = ctx.raw_totals("categories.*.incidents", -2);
            ensure(close(raw.values().sum(), truth.incidents), || {
                format!(
                    "categories {raw:?} do not add up to {} incidents",
                    truth.incidents
                )
            })?;
            let mut top: Vec<f64> = raw.values().copied().collect();
            top.sort_by(|x, y| y.total_cmp(x));
            top.truncate(10);
            let mut shown: Vec<f64> = got.values().copied().collect();
            shown.sort_by(|x, y| y.total_cmp(x));
            ensure(
                shown == top && got.iter().all(|(k, v)| raw.get(k) == Some(v)),
                || format!("top 10 {got:?} of {raw:?}"),
            )
        }
        ("Acknowledged within 5 min / resolved within 1 h", refid) => {
            let (name, samples, limit) = match refid {
                "A" => ("acked within 5 min", &truth.acks, 300_000.0),
                _ => ("resolved within 1 h", &truth.resolves, 3_600_000.0),
            };
            let all: Vec<&Sample> = samples.iter().collect();
            let want = share(limit)(&all);
            let last = last_value(a, name);
            ensure(a.len() == 1 && last.is_some_and(|v| close(v, want)), || {
                format!("share over the range {last:?}, want {want} ({a:?})")
            })
        }
        ("Acknowledged within 5 min / resolved within 1 h, per day", refid) => {
            let (name, samples, limit) = match refid {
                "A" => ("acked within 5 min", &truth.acks, 300_000.0),
                _ => ("resolved within 1 h", &truth.resolves, 3_600_000.0),
            };
            same_points(
                &points(a),
                &per_bucket(samples, 86_400, false, name, share(limit)),
            )
        }
        (panel, refid) if panel.ends_with("per hour, by urgency: mean and worst") => {
            let samples = if panel.starts_with("Time to acknowledge") {
                &truth.acks
            } else {
                &truth.resolves
            };
            let want = match refid {
                "A" => per_bucket(samples, 3600, true, " mean", mean),
                _ => per_bucket(samples, 3600, true, " worst", worst),
            };
            same_points(&points(a), &want)
        }
        (panel, "A") if panel.contains("(StatsD timers): mean and upper") => {
            let samples = if panel.starts_with("Time to acknowledge") {
                &truth.acks
            } else {
                &truth.resolves
            };
            let mut by_urgency: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
            for x in samples {
                by_urgency.entry(&x.urgency).or_default().push(x.ms);
            }
            let names: BTreeSet<String> = by_urgency
                .keys()
                .flat_map(|u| [format!("{u}.mean"), format!("{u}.upper")])
                .collect();
            ensure(a.keys().cloned().collect::<BTreeSet<_>>() == names, || {
                format!("series {:?}, want {names:?}", a.keys())
            })?;
            for (u, v) in &by_urgency {
                let (lo, hi) = v
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
                let upper = a[&format!("{u}.upper")]
                    .iter()
                    .filter_map(|p| p.1)
                    .fold(f64::MIN, f64::max);
                ensure(close(upper, hi), || {
                    format!("{u}: upper {upper}, want {hi}")
                })?;
                let means: Vec<f64> = a[&format!("{u}.mean")].iter().filter_map(|p| p.1).collect();
                ensure(
                    !means.is_empty() && means.iter().all(|m| *m >= lo && *m <= hi),
                    || format!("{u}: means {means:?} outside {lo}..={hi}"),
                )?;
            }
            Ok(())
        }
        (panel, "A") if panel.starts_with("Cursor lag") => {
            let values: Vec<f64> = a.values().flatten().filter_map(|p| p.1).collect();
            ensure(
                a.keys().all(|k| k == "pagerduty")
                    && !values.is_empty()
                    && values.iter().all(|v| *v >= 0.0)
                    && values.last().is_some_and(|v| *v < 3600.0),
                || format!("cursor lag {a:?}"),
            )
        }
        ("Polls by outcome (per hour)", "A") => same_totals(&got, &truth.polls),
        ("API requests by status (per hour)", "A") => same_totals(&got, &truth.requests_by_class),
        ("Rate-limit waits (429), retries, skipped records (per hour)", "A") => {
            same_totals(&got, &truth.waits_and_retries)
        }
        _ => Err("no checker for this target: add one to tests/dashboards.rs".into()),
    }
}

/// Renders every target of `variant` (and of both) with `root` and each provider value, and
/// checks it, again and again until all pass or [`WAIT`] is over; then panics with the failures.
fn check_all(peer: &GraphitePeer, truth: &Truth, variant: Variant, root: &str, from: i64) {
    let targets: Vec<Target> = grafana_targets(&dashboard("grafana-graphite.json"))
        .into_iter()
        .filter(|t| t.variant == Variant::Both || t.variant == variant)
        .collect();
    assert!(targets.len() >= 10, "{targets:?}");
    let deadline = Instant::now() + WAIT;
    loop {
        let until = Timestamp::now().as_second() + 60;
        let mut failures = Vec::new();
        for provider in ["pagerduty", "*"] {
            let ctx = Ctx {
                peer,
                truth,
                variant,
                root,
                provider,
                from,
                until,
            };
            for t in &targets {
                let expr = substitute(&t.expr, root, provider);
                let a = answer(peer, &expr, from, until);
                if let Err(e) = check(t, &ctx, &a) {
                    failures.push(format!(
                        "{} [provider={provider}]\n  {expr}\n  {e}",
                        t.key()
                    ));
                }
            }
        }
        if failures.is_empty() {
            eprintln!("{} targets checked ({root})", targets.len());
            return;
        }
        if Instant::now() > deadline {
            let log = peer.log();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            panic!(
                "{} of {} target evaluations failed:\n{}\ncarbon log (last lines):\n{}",
                failures.len(),
                2 * targets.len(),
                failures.join("\n"),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

// ---------------------------------------------------------------------------------------------
// Running ptsd

fn state_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ptsd-dashboards-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A day and a bit of history (so everyone's sleep hours are in it), all of it in the past.
fn history(fake: &FakePagerDuty, n: usize) -> (Vec<Value>, i64) {
    let start = Timestamp::now() - SignedDuration::from_hours(30);
    let (entries, _) = synthetic_incidents(n, start, Duration::from_secs(240), 23);
    let now = Timestamp::now();
    assert!(entries.iter().all(|e| ts(&e["created_at"]) < now));
    fake.add_entries(entries.clone());
    (entries, start.as_second() - 120)
}

/// Two runs over `fake`: the first one's poll fails (a 401), the second meets a 429 and a 500
/// and catches up. Returns ptsd's own numbers the dashboard must show.
///
/// The two runs usually share a minute, so ptsd's own counts of both meet in one Graphite
/// slot: the second run must continue the first one's saved totals (this test found a first
/// run that saved them with resolution 0, which the second then discarded: 56 shown, 58 sent).
fn run_twice(fake: &FakePagerDuty, name: &str, configure: impl Fn(&mut Command)) -> Truth {
    let dir = state_dir(name);
    let run = |expect_ok: bool| {
        let mut cmd = ptsd_command(fake, TOKEN, 9);
        cmd.env("PTSD_STATE_DIR", &dir)
            .env("PTSD_BACKFILL", "31h")
            .env("PTSD_MAX_REQUESTS_PER_MINUTE", "0")
            .env("RUST_LOG", "info");
        configure(&mut cmd);
        let out = cmd.arg("--once").output().expect("ptsd runs");
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), expect_ok, "ptsd:\n{log}");
        assert!(!log.contains(TOKEN), "the token leaked");
    };
    // The start-up check must pass (a 401 there stops ptsd before any poll); the poll's first
    // request is then refused.
    fake.inject("/log_entries", Fault::Delay(Duration::ZERO));
    fake.inject("/log_entries", Fault::Status401);
    run(false);
    fake.inject("/log_entries", Fault::Status429 { reset_secs: 1 });
    fake.inject("/log_entries", Fault::Status500);
    run(true);
    let _ = std::fs::remove_dir_all(&dir);

    let mut own = Truth::default();
    for r in fake.requests() {
        let class = match r.status {
            429 => "429".to_string(),
            s => format!("{}xx", s / 100),
        };
        *own.requests_by_class.entry(class).or_default() += 1.0;
    }
    own.polls = BTreeMap::from([("ok".into(), 1.0), ("failed".into(), 1.0)]);
    own.waits_and_retries =
        BTreeMap::from([("rate_limit_waits".into(), 1.0), ("retries".into(), 1.0)]);
    own
}

fn with_own(mut t: Truth, own: Truth) -> Truth {
    t.requests_by_class = own.requests_by_class;
    t.polls = own.polls;
    t.waits_and_retries = own.waits_and_retries;
    t
}

#[test]
fn every_graphite_target_shows_the_history_written_by_the_graphite_output() {
    let peer = GraphitePeer::start("60s:3d");
    let fake = FakePagerDuty::start_blocking(TOKEN);
    fake.add_users(synthetic_users());
    let (entries, from) = history(&fake, 420);
    let port = peer.line_port.to_string();
    let own = run_twice(&fake, "graphite", |cmd| {
        cmd.env("PTSD_OUTPUTS", "graphite")
            .env("GRAPHITE_HOST", "127.0.0.1")
            .env("GRAPHITE_PORT", &port)
            .env("PTSD_GRAPHITE_RESOLUTION", "1m");
    });
    let truth = with_own(truth(&entries), own);
    assert!(truth.acks.iter().any(|x| x.ms <= 300_000.0));
    assert!(truth.acks.iter().any(|x| x.ms > 300_000.0));
    check_all(&peer, &truth, Variant::GraphiteOnly, "ptsd", from);
}

#[test]
fn the_statsd_variant_shows_the_same_totals_through_etsy_statsd() {
    // 1 s slots: each statsd flush has its own slot, so none overwrites another.
    let peer = GraphitePeer::start("1s:1h");
    let statsd = StatsdPeer::start_with_graphite(peer.line_port);
    let fake = FakePagerDuty::start_blocking(TOKEN);
    fake.add_users(synthetic_users());
    let (entries, _) = history(&fake, 420);
    let from = Timestamp::now().as_second() - 60;
    let own = run_twice(&fake, "statsd", |cmd| {
        cmd.env("PTSD_OUTPUTS", "statsd")
            .env("STATSD_HOST", "127.0.0.1")
            .env("STATSD_PORT", statsd.udp_port.to_string());
    });
    let truth = with_own(truth(&entries), own);
    check_all(
        &peer,
        &truth,
        Variant::StatsdOnly,
        "stats_counts.ptsd",
        from,
    );
    drop(statsd);
}

// ---------------------------------------------------------------------------------------------
// Datadog

/// What ptsd emits in the DogStatsD flavor: metric name → (tag keys, kind), read from
/// `ptsd::schema` by rendering the series of every event kind with every finding. With
/// `timestamped` (`PTSD_STATSD_TIMESTAMPS=on`) timings are slot summaries instead of
/// distributions.
fn dogstatsd_schema(
    timestamped: bool,
) -> BTreeMap<String, (BTreeSet<&'static str>, ptsd::schema::Kind)> {
    use ptsd::analysis::hours::Band;
    use ptsd::analysis::{Findings, Timing};
    use ptsd::event::{Channel, Event, EventKind, Person};
    use ptsd::schema::{self, Flavor, Metric, UserKey, CATALOGUE};

    let ada = Person {
        id: "P1".into(),
        name: Some("Ada Lovelace".into()),
        email: Some("ada@example.com".into()),
        time_zone: None,
    };
    let timing = || Timing {
        duration: SignedDuration::from_secs(90),
        service: "Checkout".into(),
        urgency: "high".into(),
    };
    let found = Findings {
        band: Some(Band::Sleep),
        interruption: true,
        category: Some("disk full".into()),
        time_to_ack: Some(timing()),
        time_to_resolve: Some(timing()),
        ..Findings::default()
    };
    let kinds = [
        EventKind::Triggered {
            service: "Checkout".into(),
            urgency: "high".into(),
        },
        EventKind::Notified {
            user: ada.clone(),
            channel: Channel::Push,
        },
        EventKind::Acknowledged {
            user: Some(ada.clone()),
        },
        EventKind::Assigned { user: ada.clone() },
        EventKind::Escalated { user: ada.clone() },
        EventKind::Resolved {
            user: Some(ada.clone()),
        },
    ];
    let mut counters = BTreeMap::new();
    let mut samples: BTreeMap<_, Vec<i64>> = BTreeMap::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let e = Event {
            record_id: i.to_string(),
            at: Timestamp::UNIX_EPOCH,
            kind,
            incident: None,
        };
        let c = schema::series_for(&e, &found, "pagerduty", UserKey::Name);
        for s in c.counters {
            counters.insert(s, 1);
        }
        for (s, ms) in c.timings {
            samples.entry(s).or_default().push(ms);
        }
    }
    for m in Metric::ALL.into_iter().filter(|m| m.is_self()) {
        let detail = match m {
            Metric::Polls => Some("ok"),
            Metric::ApiRequests => Some("2xx"),
            _ => None,
        };
        counters.insert(schema::self_series(m, "pagerduty", detail), 1);
    }
    let mut out: BTreeMap<String, (BTreeSet<&'static str>, ptsd::schema::Kind)> = BTreeMap::new();
    let timings = if timestamped {
        samples
            .iter()
            .flat_map(|(s, values)| {
                values
                    .iter()
                    .flat_map(|ms| schema::render_timer_summary_tagged("ptsd", s, *ms))
            })
            .map(|(r, _)| r)
            .collect()
    } else {
        schema::render_timings(Flavor::Dogstatsd, "ptsd", &samples)
    };
    let rendered = schema::render_tagged("ptsd", &counters)
        .into_iter()
        .chain(timings);
    for r in rendered {
        let entry = out.entry(r.name).or_insert((BTreeSet::new(), r.kind));
        assert_eq!(entry.1, r.kind);
        entry.0.extend(r.tags.iter().map(|(k, _)| *k));
    }
    // Every metric was found, and each is documented in the catalogue.
    for m in Metric::ALL {
        let name = format!("ptsd.{}", m.name());
        let summary = format!("{name}.count");
        assert!(
            out.contains_key(&name) || timestamped && out.contains_key(&summary),
            "{name} not derived"
        );
        assert!(CATALOGUE.contains(&format!("{{prefix}}.{}", m.name()).as_str()));
    }
    // Timestamped: two timers, each as count, sum, max and five buckets.
    let extra = if timestamped { 2 * (8 - 1) } else { 0 };
    assert_eq!(out.len(), Metric::ALL.len() + extra, "{out:?}");
    out
}

/// One Datadog metric query: `agg:metric{filters} by {keys}[.as_count()]`.
#[derive(Debug)]
struct DdQuery {
    aggregator: String,
    metric: String,
    filters: Vec<String>,
    group_by: Vec<String>,
    as_count: bool,
}

fn parse_dd(q: &str) -> Result<DdQuery, String> {
    let q = q.trim();
    let (head, rest) = q.split_once('{').ok_or("no {scope}")?;
    let (aggregator, metric) = head.split_once(':').ok_or("no aggregator")?;
    let (scope, mut rest) = rest.split_once('}').ok_or("unclosed {scope}")?;
    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    };
    let mut group_by = Vec::new();
    rest = rest.trim_start();
    if let Some(after) = rest.strip_prefix("by") {
        let after = after.trim_start().strip_prefix('{').ok_or("by without {")?;
        let (keys, after) = after.split_once('}').ok_or("unclosed by {")?;
        group_by = list(keys);
        rest = after;
    }
    let as_count = match rest.trim() {
        "" => false,
        ".as_count()" => true,
        other => return Err(format!("unexpected {other:?} after the scope")),
    };
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    };
    if !name_ok(metric) || !name_ok(aggregator) {
        return Err(format!(
            "bad metric {metric:?} or aggregator {aggregator:?}"
        ));
    }
    Ok(DdQuery {
        aggregator: aggregator.to_string(),
        metric: metric.to_string(),
        filters: list(scope),
        group_by,
        as_count,
    })
}

/// The Agent's names for a DogStatsD `|ms` timer (a histogram), by suffix.
const HISTOGRAM_SUFFIXES: [&str; 5] = ["avg", "count", "median", "max", "95percentile"];

/// Checks one query against `schema` and the template variables (name → tag key).
fn check_dd(
    q: &str,
    schema: &BTreeMap<String, (BTreeSet<&'static str>, ptsd::schema::Kind)>,
    vars: &BTreeMap<String, String>,
) -> Result<(), String> {
    use ptsd::schema::Kind;
    let p = parse_dd(q)?;
    // The emitted name and kind: the name itself, or a timer's histogram sub-metric.
    let (tags, kind, histogram_part) = match schema.get(&p.metric) {
        Some((tags, Kind::Timer)) => {
            return Err(format!(
                "{} is a |ms timer: Datadog stores it as {}.avg/.max/…, never bare ({tags:?})",
                p.metric, p.metric
            ))
        }
        Some((tags, kind)) => (tags, *kind, None),
        None => {
            let (base, suffix) = p
                .metric
                .rsplit_once('.')
                .ok_or_else(|| format!("unknown metric {}", p.metric))?;
            match schema.get(base) {
                Some((tags, Kind::Timer)) if HISTOGRAM_SUFFIXES.contains(&suffix) => {
                    (tags, Kind::Timer, Some(suffix))
                }
                _ => return Err(format!("unknown metric {}", p.metric)),
            }
        }
    };
    let percentile = ["p50", "p75", "p90", "p95", "p99"].contains(&p.aggregator.as_str());
    let plain = ["sum", "avg", "min", "max"].contains(&p.aggregator.as_str());
    match kind {
        Kind::Distribution => ensure(percentile || plain, || {
            format!("aggregator {} on a distribution", p.aggregator)
        })?,
        _ => ensure(plain, || {
            format!(
                "aggregator {} on {:?} (percentiles need a distribution)",
                p.aggregator, kind
            )
        })?,
    }
    let countable = kind == Kind::Counter || histogram_part == Some("count");
    ensure(p.as_count == countable, || {
        if countable {
            format!("{} is a count: add .as_count()", p.metric)
        } else {
            format!("{} is not a count: no .as_count()", p.metric)
        }
    })?;
    for f in &p.filters {
        let key = if f == "*" {
            continue;
        } else if let Some(var) = f.strip_prefix('$') {
            vars.get(var)
                .ok_or_else(|| format!("unknown template variable ${var}"))?
                .clone()
        } else {
            f.split_once(':')
                .map(|(k, _)| k.trim_start_matches('!').to_string())
                .ok_or_else(|| format!("filter {f:?} is not tag:value"))?
        };
        ensure(tags.contains(key.as_str()), || {
            format!(
                "{} has no tag {key:?} (filter {f}); it has {tags:?}",
                p.metric
            )
        })?;
    }
    for key in &p.group_by {
        ensure(tags.contains(key.as_str()), || {
            format!(
                "{} has no tag {key:?} to group by; it has {tags:?}",
                p.metric
            )
        })?;
    }
    Ok(())
}

/// Every query string of the dashboard, with where it is; plus formulas' references checked.
fn datadog_queries(dash: &Value) -> Vec<(String, String)> {
    fn walk(widgets: &Value, out: &mut Vec<(String, String)>) {
        for w in widgets.as_array().into_iter().flatten() {
            let d = &w["definition"];
            let title = d["title"].as_str().unwrap_or_default().to_string();
            let ty = d["type"].as_str().unwrap_or_default();
            assert!(
                ["group", "timeseries", "toplist", "query_value"].contains(&ty),
                "{title}: widget type {ty:?}"
            );
            walk(&d["widgets"], out);
            for r in d["requests"].as_array().into_iter().flatten() {
                if let Some(q) = r["q"].as_str() {
                    out.push((title.clone(), q.to_string()));
                }
                let names: BTreeSet<&str> = r["queries"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|q| {
                        assert_eq!(q["data_source"], "metrics", "{title}");
                        out.push((title.clone(), q["query"].as_str().unwrap().to_string()));
                        q["name"].as_str().unwrap()
                    })
                    .collect();
                for f in r["formulas"].as_array().into_iter().flatten() {
                    let f = f["formula"].as_str().unwrap();
                    let used: Vec<&str> = f
                        .split(|c: char| !c.is_ascii_alphanumeric())
                        .filter(|w| w.starts_with("query"))
                        .collect();
                    assert!(!used.is_empty(), "{title}: formula {f} uses no query");
                    for u in used {
                        assert!(names.contains(u), "{title}: formula {f} names {u}");
                    }
                }
            }
            if ty != "group" {
                assert!(
                    d["requests"].as_array().is_some_and(|r| !r.is_empty()),
                    "{title}: no requests"
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(&dash["widgets"], &mut out);
    out
}

#[test]
fn every_datadog_query_uses_metrics_and_tags_ptsd_emits() {
    check_datadog_dashboard("datadog.json", false);
}

#[test]
fn every_timestamped_datadog_query_uses_metrics_and_tags_ptsd_emits_in_that_mode() {
    check_datadog_dashboard("datadog-timestamped.json", true);
    // The default dashboard's percentiles need distributions, which that mode does not send.
    let schema = dogstatsd_schema(true);
    let vars = BTreeMap::from([("service".to_string(), "service".to_string())]);
    let default_mode = datadog_queries(&dashboard("datadog.json"));
    assert!(default_mode
        .iter()
        .any(|(_, q)| check_dd(q, &schema, &vars).is_err()));
}

fn check_datadog_dashboard(file: &str, timestamped: bool) {
    let dash = dashboard(file);
    assert_eq!(dash["layout_type"], "ordered");
    assert!(dash["title"].is_string());
    let schema = dogstatsd_schema(timestamped);
    let all_tags: BTreeSet<&str> = schema
        .values()
        .flat_map(|(t, _)| t.iter().copied())
        .collect();
    let vars: BTreeMap<String, String> = dash["template_variables"]
        .as_array()
        .expect("template_variables")
        .iter()
        .map(|v| {
            let name = v["name"].as_str().unwrap().to_string();
            let prefix = v["prefix"].as_str().unwrap().to_string();
            assert!(
                all_tags.contains(prefix.as_str()),
                "template variable {name}: no tag {prefix}"
            );
            (name, prefix)
        })
        .collect();
    for want in ["provider", "user", "service"] {
        assert!(vars.contains_key(want), "template variable {want} missing");
    }
    let queries = datadog_queries(&dash);
    assert!(queries.len() >= 15, "{queries:?}");
    let mut failures = Vec::new();
    let mut used = BTreeSet::new();
    for (title, q) in &queries {
        match check_dd(q, &schema, &vars) {
            Ok(()) => {
                used.insert(
                    parse_dd(q)
                        .unwrap()
                        .metric
                        .split('.')
                        .take(3)
                        .collect::<Vec<_>>()
                        .join("."),
                );
            }
            Err(e) => failures.push(format!("{title}: {q}\n  {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The on-call story is all there.
    for m in [
        "ptsd.notifications",
        "ptsd.interruptions",
        "ptsd.incidents",
        "ptsd.time_to_ack",
    ] {
        assert!(used.iter().any(|u| u.starts_with(m)), "{m} is on no widget");
    }
}

/// The checker itself rejects what it must: unknown names and tags, and wrong aggregations.
#[test]
fn the_datadog_checker_rejects_unknown_metrics_tags_and_aggregations() {
    let schema = dogstatsd_schema(false);
    let vars = BTreeMap::from([("user".to_string(), "user".to_string())]);
    let ok = "sum:ptsd.notifications{$user} by {channel}.as_count()";
    assert_eq!(check_dd(ok, &schema, &vars), Ok(()));
    for bad in [
        "sum:ptsd.notification{$user}.as_count()",
        "sum:ptsd.incidents{$user}.as_count()",
        "sum:ptsd.notifications{*} by {team}.as_count()",
        "sum:ptsd.notifications{$team}.as_count()",
        "sum:ptsd.notifications{*}",
        "p95:ptsd.notifications{*}.as_count()",
        "avg:ptsd.time_to_ack{*}.as_count()",
        "max:ptsd.ptsd.poll_duration{*}",
        "max:ptsd.ptsd.poll_duration.p99{*}",
        "max:ptsd.ptsd.cursor_lag{*} by {service}",
    ] {
        assert!(check_dd(bad, &schema, &vars).is_err(), "{bad} passed");
    }
}

/// Datadog's own API client, installed by `scripts/test.sh` (`scripts/datadog-requirements.txt`).
const DATADOG_VENV: &str = ".test-deps/datadog";

/// What Datadog's client models make of each file: (widgets, paths of the unparsed parts).
fn datadog_models(files: &[&Path]) -> Vec<(usize, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(DATADOG_VENV).join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run the tests with scripts/test.sh, which installs Datadog's API client \
         from PyPI into .test-deps/datadog (no root)",
        python.display()
    );
    let out = Command::new(&python)
        .arg(root.join("tests/support/datadog_models.py"))
        .args(files)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "datadog_models.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("one JSON line per file");
            let unparsed = v["unparsed"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect();
            (v["widgets"].as_u64().unwrap() as usize, unparsed)
        })
        .collect()
}

/// Both Datadog dashboards load into Datadog's own API client models (`Dashboard`, v1) with
/// nothing unparsed, as the API and Terraform read them; a widget of a type Datadog does not
/// know is caught (the check can fail).
#[test]
fn the_datadog_dashboards_load_into_datadogs_client_models() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files =
        ["datadog.json", "datadog-timestamped.json"].map(|f| root.join("dashboards").join(f));
    let mut broken = dashboard("datadog.json");
    broken["widgets"][0]["definition"]["type"] = Value::from("timeseriez");
    let broken_file =
        std::env::temp_dir().join(format!("ptsd-broken-dashboard-{}.json", std::process::id()));
    std::fs::write(&broken_file, broken.to_string()).unwrap();
    let got = datadog_models(&[&files[0], &files[1], &broken_file]);
    let _ = std::fs::remove_file(&broken_file);
    assert_eq!(got.len(), 3);
    for (file, (widgets, unparsed)) in files.iter().zip(&got) {
        let want = dashboard(file.file_name().unwrap().to_str().unwrap())["widgets"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(*widgets, want, "{}: every widget read", file.display());
        assert!(
            unparsed.is_empty(),
            "{}: unparsed {unparsed:?}",
            file.display()
        );
    }
    assert!(
        got[2]
            .1
            .iter()
            .any(|p| p == "dashboard.widgets[0].definition"),
        "the unknown widget type is reported: {:?}",
        got[2].1
    );
}
