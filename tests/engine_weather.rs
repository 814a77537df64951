//! The engine in bad weather, with a scripted collector and scripted outputters (the provider
//! and the sinks are beside the point here; their own tests use the fakes and the real peers):
//! a poison window is narrowed down and only its second skipped, a split window is delivered
//! part by part, an outputter that fails after another took the batch gets it later while the
//! other does not get it twice, and a sink that hangs does not hold a shutdown.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use ptsd::aggregate::MetricBatch;
use ptsd::collectors::{CollectError, Collected, Collector};
use ptsd::config::Config;
use ptsd::engine;
use ptsd::event::{Event, EventKind, Incident, Window};
use ptsd::outputters::{OutputError, Outputter, Sink};
use ptsd::schema::{self, Flavor};

/// One incident a second over the last `n` seconds (ending a minute ago), one record each.
fn incidents(n: i64) -> Vec<Event> {
    let end = Timestamp::now() - SignedDuration::from_secs(60);
    (0..n)
        .map(|i| {
            let at = end - SignedDuration::from_secs(n - i);
            Event {
                record_id: format!("R{i}"),
                at,
                kind: EventKind::Triggered {
                    service: "api".into(),
                    urgency: "high".into(),
                },
                incident: Some(Incident {
                    id: format!("I{i}"),
                    created_at: Some(at),
                    ..Incident::default()
                }),
            }
        })
        .collect()
}

/// Serves `events` by window; a window holding `poison` (any window with `everywhere`) is a
/// malformed page every time; a window with more than `cap` events is too large; from read
/// number `fail_from_read` on, every read fails with a 503. The `late` events show up only
/// from read number `late_from` on (entries the provider made visible late).
struct Scripted {
    events: Vec<Event>,
    late: Vec<Event>,
    late_from: usize,
    poison: Option<Timestamp>,
    everywhere: bool,
    cap: usize,
    reads: Arc<Mutex<Vec<Window>>>,
    fail_from_read: Option<usize>,
}

impl Scripted {
    fn new(events: Vec<Event>) -> Scripted {
        Scripted {
            events,
            late: Vec::new(),
            late_from: usize::MAX,
            poison: None,
            everywhere: false,
            cap: usize::MAX,
            reads: Arc::default(),
            fail_from_read: None,
        }
    }
}

#[async_trait]
impl Collector for Scripted {
    fn name(&self) -> &'static str {
        "pagerduty"
    }
    async fn check(&mut self) -> Result<(), CollectError> {
        Ok(())
    }
    async fn collect(&mut self, w: Window) -> Result<Collected, CollectError> {
        let n = {
            let mut reads = self.reads.lock().unwrap();
            reads.push(w);
            reads.len()
        };
        if self.fail_from_read.is_some_and(|f| n >= f) {
            return Err(CollectError::Server {
                provider: "pagerduty",
                status: 503,
                tries: 4,
            });
        }
        if self.everywhere || self.poison.is_some_and(|p| w.contains(p)) {
            return Err(CollectError::Malformed {
                provider: "pagerduty",
                what: "a page that is not JSON".into(),
            });
        }
        let late = if n >= self.late_from {
            &self.late[..]
        } else {
            &[]
        };
        let mut events: Vec<Event> = self
            .events
            .iter()
            .chain(late)
            .filter(|e| w.contains(e.at))
            .cloned()
            .collect();
        events.sort_by_key(|e| e.at);
        if events.len() > self.cap {
            return Err(CollectError::WindowTooLarge {
                provider: "pagerduty",
                total: Some(events.len() as u64),
            });
        }
        Ok(Collected {
            events,
            ..Collected::default()
        })
    }
}

/// Keeps every batch it takes; fails its first `fail_first` writes; may hang.
#[derive(Clone)]
struct Capture {
    name: &'static str,
    batches: Arc<Mutex<Vec<MetricBatch>>>,
    fail_first: Arc<AtomicUsize>,
    hang: Option<Duration>,
}

impl Capture {
    fn new(name: &'static str) -> Capture {
        Capture {
            name,
            batches: Arc::default(),
            fail_first: Arc::default(),
            hang: None,
        }
    }

    /// The summed plain on-call counters it took (ptsd's own metrics left out).
    fn incidents(&self) -> i64 {
        let mut total = 0;
        for b in self.batches.lock().unwrap().iter() {
            for r in schema::render(Flavor::Plain, "ptsd", &b.series) {
                if r.name == "ptsd.pagerduty.incidents.high" {
                    total += r.value;
                }
            }
        }
        total
    }

    /// The summed plain on-call counters whose name holds `part`.
    fn total_of(&self, part: &str) -> i64 {
        let mut total = 0;
        for b in self.batches.lock().unwrap().iter() {
            for r in schema::render(Flavor::Plain, "ptsd", &b.series) {
                if r.name.contains(part) && !r.name.starts_with("ptsd.ptsd.") {
                    total += r.value;
                }
            }
        }
        total
    }

    /// How many batches of on-call metrics it took.
    fn oncall_batches(&self) -> usize {
        let batches = self.batches.lock().unwrap();
        batches.iter().filter(|b| !b.source.is_empty()).count()
    }
}

impl Outputter for Capture {
    fn name(&self) -> &'static str {
        self.name
    }
    fn write(&mut self, batch: &MetricBatch) -> Result<(), OutputError> {
        if let Some(d) = self.hang {
            std::thread::sleep(d);
        }
        if !batch.source.is_empty()
            && self
                .fail_first
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(OutputError::Io {
                sink: self.name,
                source: std::io::Error::other("agent away"),
            });
        }
        self.batches.lock().unwrap().push(batch.clone());
        Ok(())
    }
}

fn out_total(c: &Capture) -> i64 {
    c.incidents()
}

fn config(extra: &[&str]) -> Config {
    let mut argv = vec![
        "ptsd",
        "--interval",
        "1s",
        "--backfill",
        "20m",
        "--lateness",
        "5m",
        "--max-window",
        "30m",
    ];
    argv.extend_from_slice(extra);
    ptsd::cli::parse_from(argv).expect("config")
}

/// Runs the engine until `done` holds (polled every 20 ms), or panics after `limit`.
async fn run_until(
    config: &Config,
    collector: Scripted,
    outputters: Vec<impl Into<Sink>>,
    limit: Duration,
    done: impl Fn() -> bool + Send + 'static,
) {
    let settings = engine::Settings::from_config(config).expect("settings");
    let stop = async move {
        let deadline = tokio::time::Instant::now() + limit;
        while !done() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition not reached"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    engine::run(settings, vec![Box::new(collector)], outputters, stop)
        .await
        .expect("engine runs");
}

#[tokio::test]
async fn a_poison_window_is_narrowed_to_its_second_and_the_rest_is_counted() {
    let events = incidents(600);
    let poison_at = events[300].at;
    let mut collector = Scripted::new(events);
    collector.poison = Some(poison_at);
    let reads = collector.reads.clone();
    let out = Capture::new("statsd");
    let seen = out.clone();
    let reads_out = out.clone();
    run_until(
        &config(&[]),
        collector,
        vec![Box::new(out)],
        Duration::from_secs(30),
        move || seen.incidents() >= 599,
    )
    .await;
    // Everything but the poison second's one incident, once.
    assert_eq!(out_total(&reads_out), 599);
    let reads = reads.lock().unwrap().clone();
    let failing_polls = reads.iter().filter(|w| w.contains(poison_at)).count();
    assert!(
        failing_polls >= engine::POISON_AFTER as usize,
        "{failing_polls}"
    );
    let skipped: Vec<&Window> = reads
        .iter()
        .filter(|w| w.contains(poison_at) && w.length() <= SignedDuration::from_secs(1))
        .collect();
    assert!(!skipped.is_empty(), "narrowed down to a second: {reads:?}");
}

#[tokio::test]
async fn the_poison_count_and_skip_appear_in_the_own_metrics() {
    let events = incidents(120);
    let poison_at = events[10].at;
    let mut collector = Scripted::new(events);
    collector.poison = Some(poison_at);
    let out = Capture::new("statsd");
    let seen = out.clone();
    // ptsd's own metrics go out at the end of the poll, after its incidents: wait for both.
    run_until(
        &config(&[]),
        collector,
        vec![Box::new(out.clone())],
        Duration::from_secs(30),
        move || seen.incidents() >= 119 && own_totals(&seen).contains_key(SKIPPED),
    )
    .await;
    assert_eq!(out.incidents(), 119, "each other incident once");
    assert_eq!(own_totals(&out).get(SKIPPED), Some(&1));
}

const SKIPPED: &str = "ptsd.ptsd.pagerduty.windows_skipped";

/// Every series `out` took, summed, by its plain StatsD name.
fn own_totals(out: &Capture) -> BTreeMap<String, i64> {
    let mut own = BTreeMap::new();
    for b in out.batches.lock().unwrap().iter() {
        for r in schema::render(Flavor::Plain, "ptsd", &b.series) {
            *own.entry(r.name).or_insert(0) += r.value;
        }
    }
    own
}

#[tokio::test]
async fn a_fault_everywhere_skips_nothing() {
    let events = incidents(60);
    let mut collector = Scripted::new(events);
    // Every window fails persistently: a provider-wide fault, not a poison part.
    collector.everywhere = true;
    let reads = collector.reads.clone();
    let out = Capture::new("statsd");
    let seen_reads = reads.clone();
    run_until(
        &config(&[]),
        collector,
        vec![Box::new(out.clone())],
        Duration::from_secs(30),
        move || seen_reads.lock().unwrap().len() > 200,
    )
    .await;
    assert_eq!(out.incidents(), 0);
}

#[tokio::test]
async fn a_split_window_is_delivered_part_by_part_and_a_failure_keeps_what_was_delivered() {
    let events = incidents(1000);
    let mut collector = Scripted::new(events.clone());
    collector.cap = 300;
    // Read 1 (the chunk) and 2 (its older half) are too large; 3 and 4 (its quarters) are
    // delivered; 5 (the newer half) fails with a 503, and every read after it.
    collector.fail_from_read = Some(5);
    let reads = collector.reads.clone();
    let out = Capture::new("statsd");
    let seen = out.clone();
    let seen_reads = reads.clone();
    run_until(
        &config(&[]),
        collector,
        vec![Box::new(out.clone())],
        Duration::from_secs(30),
        move || seen.oncall_batches() >= 2 && seen_reads.lock().unwrap().len() >= 6,
    )
    .await;
    // Two parts delivered, each as its own batch, oldest first; nothing of the failing part.
    let reads = reads.lock().unwrap().clone();
    assert_eq!(out.oncall_batches(), 2);
    let in_parts = events
        .iter()
        .filter(|e| reads[2].contains(e.at) || reads[3].contains(e.at))
        .count() as i64;
    assert!(in_parts > 0 && in_parts < 1000, "{in_parts}");
    assert_eq!(out.incidents(), in_parts);
    // The next poll starts after what was delivered (less the lateness re-read), not at the
    // start of the chunk.
    assert_eq!(reads[5].since, reads[3].until, "{reads:?}");
}

/// Runs `collector` into a `statsd` capture and a `graphite` capture whose first `fail_first`
/// on-call writes fail, until `done` holds for both; returns (good, flaky).
async fn good_and_flaky(
    collector: Scripted,
    fail_first: usize,
    done: fn(&Capture) -> bool,
) -> (Capture, Capture) {
    let good = Capture::new("statsd");
    let flaky = Capture::new("graphite");
    flaky.fail_first.store(fail_first, Ordering::SeqCst);
    let (g, f) = (good.clone(), flaky.clone());
    run_until(
        &config(&[]),
        collector,
        vec![Box::new(good.clone()), Box::new(flaky.clone())],
        Duration::from_secs(30),
        move || done(&g) && done(&f),
    )
    .await;
    (good, flaky)
}

#[tokio::test]
async fn an_outputter_that_failed_gets_the_batch_later_and_the_other_not_twice() {
    let events = incidents(200);
    let (good, flaky) = good_and_flaky(Scripted::new(events), 3, |c| c.incidents() >= 200).await;
    assert_eq!(good.incidents(), 200, "the one that took it first, once");
    assert_eq!(
        flaky.incidents(),
        200,
        "the one that failed, once it was back"
    );
}

#[test]
fn a_hung_sink_does_not_hold_a_shutdown() {
    // Its own runtime, so the thread left hanging is not waited for when the test ends.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let collector = Scripted::new(incidents(10));
    let mut out = Capture::new("statsd");
    // A resolver or agent that hangs for a minute.
    out.hang = Some(Duration::from_secs(60));
    let reads = collector.reads.clone();
    let settings = engine::Settings::from_config(&config(&[])).expect("settings");
    let stop = async move {
        while reads.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The write is under way now.
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let started = std::time::Instant::now();
    let run = engine::run(
        settings,
        vec![Box::new(collector)],
        vec![Box::new(out)],
        stop,
    );
    runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), run).await })
        .expect("the engine stopped while the sink hung")
        .expect("engine runs");
    assert!(started.elapsed() < Duration::from_secs(2));
    runtime.shutdown_timeout(Duration::from_millis(10));
}

/// Carbon's plaintext port with whisper's rule: the last value written to a (path, slot) wins.
/// (Real carbon is in `tests/graphite_e2e.rs`; here the engine is the point.)
struct LastWriteWins {
    port: u16,
    points: Arc<Mutex<BTreeMap<(String, i64), f64>>>,
}

impl LastWriteWins {
    fn start() -> LastWriteWins {
        use std::io::BufRead;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let points: Arc<Mutex<BTreeMap<(String, i64), f64>>> = Arc::default();
        let shared = points.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let points = shared.clone();
                std::thread::spawn(move || {
                    for line in std::io::BufReader::new(conn).lines() {
                        let Ok(line) = line else { return };
                        let f: Vec<&str> = line.split(' ').collect();
                        let [path, value, at] = f[..] else {
                            panic!("not a plaintext line: {line:?}")
                        };
                        points.lock().unwrap().insert(
                            (path.to_string(), at.parse().unwrap()),
                            value.parse().unwrap(),
                        );
                    }
                });
            }
        });
        LastWriteWins { port, points }
    }

    /// The value stored for `path` at slot `at`, once it equals `want` or 10 s have passed.
    fn wait_for(&self, path: &str, at: i64, want: f64) -> Option<f64> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.points.lock().unwrap().get(&(path.into(), at)).copied();
            if got == Some(want) || std::time::Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Issue 19's slot-table defect: one outputter fails while Graphite takes the part, so the
/// cursor stays; a record that shows up later, older than the lateness by then but still in
/// the ground the next read covers, must join its slot's total, not replace it.
#[tokio::test]
async fn a_late_record_after_a_partial_delivery_keeps_its_slot_total_exact() {
    let now = Timestamp::now();
    let minute = {
        let s = (now - SignedDuration::from_mins(10)).as_second();
        s - s.rem_euclid(60)
    };
    let incident = |i: i64, second: i64| {
        let at = Timestamp::from_second(minute + second).unwrap();
        Event {
            record_id: format!("R{i}"),
            at,
            kind: EventKind::Triggered {
                service: "api".into(),
                urgency: "high".into(),
            },
            incident: Some(Incident {
                id: format!("I{i}"),
                created_at: Some(at),
                ..Incident::default()
            }),
        }
    };
    // Five incidents in one minute ten minutes ago; a sixth in the same minute shows up late,
    // at the second read.
    let mut collector = Scripted::new((0..5).map(|i| incident(i, 10 + i)).collect());
    collector.late = vec![incident(99, 40)];
    collector.late_from = 2;
    let carbon = LastWriteWins::start();
    let port = carbon.port.to_string();
    let config = config(&["--outputs", "graphite", "--graphite-port", &port]);
    let mut outputters = ptsd::outputters::build_all(&config).expect("graphite");
    let flaky = Capture::new("statsd");
    flaky.fail_first.store(3, Ordering::SeqCst);
    outputters.push(Box::new(flaky.clone()).into());
    let f = flaky.clone();
    run_until(
        &config,
        collector,
        outputters,
        Duration::from_secs(30),
        move || f.incidents() >= 6,
    )
    .await;
    assert_eq!(flaky.incidents(), 6, "the flaky one, once it was back");
    assert_eq!(
        carbon.wait_for("ptsd.pagerduty.incidents.high", minute, 6.0),
        Some(6.0),
        "the slot's whole total, the late record included"
    );
}

/// Issue 19: a late notification within 60 s of one an outputter already took changes the
/// interruption finding (a burst counts once). After a partial delivery, every outputter must
/// still get the same numbers: the records some outputter took keep the findings they were
/// delivered with, and the late one is analysed knowing them, as a single outputter would.
#[tokio::test]
async fn a_late_notification_after_a_partial_delivery_gives_every_outputter_the_same_interruptions()
{
    let now = Timestamp::now();
    let base = now - SignedDuration::from_mins(10);
    let page = |id: &str, secs: i64| Event {
        record_id: id.into(),
        at: base + SignedDuration::from_secs(secs),
        kind: EventKind::Notified {
            user: ptsd::event::Person {
                id: "PADA".into(),
                name: Some("Ada Lovelace".into()),
                email: Some("ada@example.com".into()),
                time_zone: Some("Europe/London".into()),
            },
            channel: ptsd::event::Channel::Phone,
        },
        incident: Some(Incident {
            id: "I1".into(),
            created_at: Some(base),
            ..Incident::default()
        }),
    };
    // A page at +30 s is read first; one at +10 s (a burst with it) shows up at the second read.
    let mut collector = Scripted::new(vec![page("N1", 30)]);
    collector.late = vec![page("N0", 10)];
    collector.late_from = 2;
    let (good, flaky) = good_and_flaky(collector, 1, |c| c.total_of(".notifications.") >= 2).await;
    assert_eq!(good.total_of(".notifications."), 2);
    assert_eq!(flaky.total_of(".notifications."), 2);
    assert_eq!(
        (
            good.total_of(".interruptions."),
            flaky.total_of(".interruptions.")
        ),
        (1, 1),
        "one burst, and the same number in every outputter"
    );
}
