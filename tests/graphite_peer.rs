//! The Graphite test peer itself, before any outputter relies on it: carbon-cache really stores
//! plaintext points in whisper slots (last write wins, other slots untouched), graphite-web
//! really evaluates dashboard functions over them, and Etsy statsd's graphite backend really
//! lands a counter and a timer under the names a dashboard must query.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::*;

/// Generous: carbon writes within tens of ms, statsd flushes every second.
const WAIT: Duration = Duration::from_secs(20);

type Points = Vec<(i64, Option<f64>)>;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// The start of the 60 s slot `minutes` minutes before the current one (safely in the past:
/// whisper reads no slot after the current time).
fn slot_minutes_ago(minutes: i64) -> i64 {
    let now = now();
    now - now % 60 - minutes * 60
}

fn sum(points: &[(i64, Option<f64>)]) -> f64 {
    points.iter().filter_map(|&(_, v)| v).sum()
}

fn values(points: &[(i64, Option<f64>)]) -> Vec<Option<f64>> {
    points.iter().map(|&(_, v)| v).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn last_write_to_a_slot_wins_and_other_slots_stay_separate() {
    let peer = GraphitePeer::start("60s:1d");
    let t = slot_minutes_ago(10);

    peer.send(&format!("a.b 1 {t}\n"));
    // On disk first, so that the next write overwrites a stored slot, not carbon's cache.
    let got = peer.wait_for_points("a.b", t - 1, t + 60, |p| p.contains(&(t, Some(1.0))), WAIT);
    assert!(
        got.contains(&(t, Some(1.0))),
        "first write not stored: {got:?}"
    );

    peer.send(&format!("a.b 5 {t}\na.b 7 {}\na.c 9 {}\n", t + 60, t + 59));
    let want: Points = vec![(t, Some(5.0)), (t + 60, Some(7.0)), (t + 120, None)];
    let got = peer.wait_for_points("a.b", t - 1, t + 120, |p| p == want.as_slice(), WAIT);
    assert_eq!(got, want, "carbon log:\n{}", peer.log());

    // An unaligned timestamp lands in the slot that contains it.
    let got = peer.wait_for_points("a.c", t - 1, t + 60, |p| p.contains(&(t, Some(9.0))), WAIT);
    assert_eq!(got, vec![(t, Some(9.0)), (t + 60, None)]);

    // whisper's range is from < ts <= until: a slot-aligned `from` leaves its own slot out.
    assert_eq!(peer.fetch("a.b", t, t + 60), vec![(t + 60, Some(7.0))]);
    assert_eq!(peer.fetch("a.b", t - 1, t), vec![(t, Some(5.0))]);
    // A name never written reads as nothing.
    assert_eq!(peer.fetch("a.never", t - 1, t + 60), Points::new());
    // Exactly the names written: no carbon self-metrics in the storage.
    assert_eq!(peer.paths(), vec!["a.b".to_string(), "a.c".to_string()]);
}

#[test]
fn tagged_names_are_fetched_through_carbons_own_encoding() {
    let peer = GraphitePeer::start("60s:1d");
    let t = slot_minutes_ago(5);
    // Tags out of order: carbon sorts them before hashing the name into _tagged/.
    peer.send(&format!(
        "t.x;team=ops;env=dev 4 {t}\nodd..double.dot 2 {t}\n"
    ));
    let got = peer.wait_for_points(
        "t.x;env=dev;team=ops",
        t - 1,
        t,
        |p| p == [(t, Some(4.0))],
        WAIT,
    );
    assert_eq!(got, vec![(t, Some(4.0))], "carbon log:\n{}", peer.log());
    assert_eq!(
        peer.fetch("t.x;team=ops;env=dev", t - 1, t),
        vec![(t, Some(4.0))]
    );
    // `..` is collapsed by the file system path: the same file as `odd.double.dot`.
    let got = peer.wait_for_points("odd.double.dot", t - 1, t, |p| !p.is_empty(), WAIT);
    assert_eq!(got, vec![(t, Some(2.0))]);
    let paths = peer.paths();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths.contains(&"odd.double.dot".to_string()), "{paths:?}");
    assert!(
        paths.iter().any(|p| p.starts_with("_tagged.")),
        "tagged series stored by hash: {paths:?}"
    );
}

#[test]
fn render_evaluates_graphite_web_functions_over_the_stored_points() {
    let peer = GraphitePeer::start("60s:1d");
    let t = slot_minutes_ago(10);
    let written = [
        ("x.alice.count", [2.0, 1.0]),
        ("x.bob.count", [3.0, 0.0]),
        ("x.carol.count", [4.0, 5.0]),
    ];
    let mut lines = String::new();
    for (path, [first, second]) in written {
        lines.push_str(&format!("{path} {first} {t}\n{path} {second} {}\n", t + 60));
    }
    peer.send(&lines);
    for (path, [first, second]) in written {
        let want: Points = vec![(t, Some(first)), (t + 60, Some(second))];
        let got = peer.wait_for_points(path, t - 1, t + 60, |p| p == want.as_slice(), WAIT);
        assert_eq!(got, want, "{path}; carbon log:\n{}", peer.log());
    }
    let (from, until) = (t - 1, t + 60);

    let got = peer.render_series("sumSeries(x.*.count)", from, until);
    assert_eq!(
        got,
        vec![RenderedSeries {
            target: "sumSeries(x.*.count)".to_string(),
            datapoints: vec![(t, Some(9.0)), (t + 60, Some(6.0))],
        }]
    );

    // The raw JSON is graphite-web's own /render?format=json answer.
    let json = peer.render("sumSeries(x.*.count)", from, until);
    assert_eq!(json[0]["target"], "sumSeries(x.*.count)");
    assert_eq!(json[0]["datapoints"][0][0], 9.0);
    assert_eq!(json[0]["datapoints"][0][1], t);

    let by_node = peer.render_series("groupByNode(x.*.count, 1, 'sum')", from, until);
    let by_node: Vec<(String, Vec<Option<f64>>)> = by_node
        .iter()
        .map(|s| (s.target.clone(), values(&s.datapoints)))
        .collect();
    assert_eq!(
        by_node,
        vec![
            ("alice".to_string(), vec![Some(2.0), Some(1.0)]),
            ("bob".to_string(), vec![Some(3.0), Some(0.0)]),
            ("carol".to_string(), vec![Some(4.0), Some(5.0)]),
        ]
    );
    let names: Vec<String> = peer
        .render_series("aliasByNode(x.*.count, 1)", from, until)
        .into_iter()
        .map(|s| s.target)
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);

    let ratio = peer.render_series("divideSeries(x.alice.count, x.carol.count)", from, until);
    assert_eq!(values(&ratio[0].datapoints), vec![Some(0.5), Some(0.2)]);

    let share = peer.render_series(
        "asPercent(x.alice.count, sumSeries(x.*.count))",
        from,
        until,
    );
    let share = values(&share[0].datapoints);
    assert!(
        close(share[0].unwrap(), 200.0 / 9.0) && close(share[1].unwrap(), 100.0 / 6.0),
        "{share:?}"
    );

    // Nulls before and after the written slots, made 0.
    let filled = peer.render_series("transformNull(sumSeries(x.*.count), 0)", t - 61, t + 120);
    assert_eq!(
        filled[0].datapoints,
        vec![
            (t - 60, Some(0.0)),
            (t, Some(9.0)),
            (t + 60, Some(6.0)),
            (t + 120, Some(0.0))
        ]
    );

    // Buckets are aligned to the hour, so the two slots may fall in one bucket or two.
    let daily = peer.render_series("summarize(sumSeries(x.*.count), '1h', 'sum')", from, until);
    assert_eq!(sum(&daily[0].datapoints), 15.0, "{daily:?}");
}

#[test]
fn statsd_graphite_backend_lands_counters_and_timers_in_whisper() {
    let graphite = GraphitePeer::start("1s:1h");
    let statsd = StatsdPeer::start_with_graphite(graphite.line_port);
    let from = now() - 5;
    // Until is clamped to the current time by whisper on each read.
    let until = from + 600;

    statsd.send("ptsd.chain.a:3|c");
    statsd.send("ptsd.chain.t:120|ms\nptsd.chain.t:80|ms");
    statsd.send("ptsd.chain.g:7|g");
    statsd.send("ptsd.chain.b:2|c|#env:dev");

    let counts = graphite.wait_for_points(
        "stats_counts.ptsd.chain.a",
        from,
        until,
        |p| sum(p) == 3.0,
        WAIT,
    );
    assert_eq!(
        sum(&counts),
        3.0,
        "{counts:?}\ncarbon log:\n{}",
        graphite.log()
    );
    let rate = graphite.wait_for_points("stats.ptsd.chain.a", from, until, |p| sum(p) == 3.0, WAIT);
    assert_eq!(sum(&rate), 3.0, "per second, flushInterval 1 s: {rate:?}");
    let tagged = graphite.wait_for_points(
        "stats_counts.ptsd.chain.b;env=dev",
        from,
        until,
        |p| sum(p) == 2.0,
        WAIT,
    );
    assert_eq!(sum(&tagged), 2.0, "{tagged:?}");
    let gauge = graphite.wait_for_points(
        "stats.gauges.ptsd.chain.g",
        from,
        until,
        |p| p.iter().any(|&(_, v)| v == Some(7.0)),
        WAIT,
    );
    assert!(gauge.iter().any(|&(_, v)| v == Some(7.0)), "{gauge:?}");

    let timer_names: Vec<String> = [
        "count",
        "count_90",
        "count_ps",
        "lower",
        "mean",
        "mean_90",
        "median",
        "std",
        "sum",
        "sum_90",
        "sum_squares",
        "sum_squares_90",
        "upper",
        "upper_90",
    ]
    .iter()
    .map(|s| format!("stats.timers.ptsd.chain.t.{s}"))
    .collect();
    let timer_paths = |paths: &[String]| -> Vec<String> {
        paths
            .iter()
            .filter(|p| p.starts_with("stats.timers.ptsd.chain.t."))
            .cloned()
            .collect()
    };
    let paths = graphite.wait_for_paths(|p| timer_paths(p) == timer_names, WAIT);
    assert_eq!(timer_paths(&paths), timer_names, "all paths: {paths:?}");
    for (stat, want) in [("count", 2.0), ("sum", 200.0)] {
        let path = format!("stats.timers.ptsd.chain.t.{stat}");
        let got = graphite.wait_for_points(&path, from, until, |p| sum(p) == want, WAIT);
        assert_eq!(sum(&got), want, "{path}: {got:?}");
    }
    for (stat, want) in [("upper", 120.0), ("lower", 80.0), ("mean", 100.0)] {
        let path = format!("stats.timers.ptsd.chain.t.{stat}");
        let got = graphite.wait_for_points(&path, from, until, |p| !p.is_empty(), WAIT);
        assert_eq!(
            got.iter().filter_map(|&(_, v)| v).collect::<Vec<_>>(),
            vec![want],
            "{path}"
        );
    }

    // Later flushes must not overwrite the count (deleteIdleStats: an idle counter is not
    // written again). statsd.numStats is written at every flush: wait for two more.
    let counted_at = counts
        .iter()
        .filter(|&&(_, v)| v == Some(3.0))
        .map(|&(ts, _)| ts)
        .max()
        .expect("a slot with the count");
    let later = graphite.wait_for_points(
        "statsd.numStats",
        from,
        until,
        |p| p.iter().any(|&(ts, v)| ts >= counted_at + 2 && v.is_some()),
        WAIT,
    );
    assert!(
        later
            .iter()
            .any(|&(ts, v)| ts >= counted_at + 2 && v.is_some()),
        "statsd kept flushing: {later:?}"
    );
    let counts = graphite.fetch("stats_counts.ptsd.chain.a", from, until);
    assert_eq!(sum(&counts), 3.0, "after more flushes: {counts:?}");
}
