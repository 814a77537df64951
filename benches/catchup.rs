//! Catch-up benchmark (not a timed test): feeds ~100,000 PagerDuty log entries through the
//! in-process fake API (`tests/support`) to the release `ptsd --once`, run as a child process so
//! the fake's own memory and CPU are not counted, and reports per scenario: HTTP requests
//! against the floor `ceil(entries / 100)`, splitting probes (first pages of windows holding more
//! than 10,000 entries), entries per second end to end, the child's CPU seconds (`wait4`) and
//! peak RSS (`VmHWM`), what the sink received, and PASS/FAIL for the on-call counts received
//! against the counts the generator says are right.
//!
//! Three sinks: StatsD (a UDP socket the bench drains; `|c` lines summed by name), Graphite
//! (a TCP listener that parses carbon's plaintext lines `path value slot\n`; the last value
//! written per (path, slot) is what whisper would keep, and those are summed over the slots), and
//! DogStatsD, live or timestamped (`PTSD_STATSD_TIMESTAMPS=on`: the last value per (series,
//! `|T` timestamp) is what Datadog's intake keeps, summed over the timestamps; checked by metric
//! name against the generator's totals).
//! With `PTSD_STATE_DIR`, the bench also reads `state.json` each time ptsd saves it and reports
//! the size of the Graphite outputter's table of open slots: the largest seen and the last.
//!
//! Why: the targets (requests within 10% of the floor plus the probes, at least 50,000
//! entries/s, peak RSS under 40 MB; through Graphite, entries/s within 10% of the StatsD path and
//! the slot table bounded by the lateness window) depend on the machine, so they are measured
//! and recorded in BENCHMARKS.md, not asserted. Run with `cargo bench --bench catchup` (about 12
//! minutes, 8 of them the run with the default request budget; `-- "(b)" "(g"` runs only the
//! scenarios whose label contains one of the arguments). Scenarios that share entries run
//! interleaved (round by round), so that a change in the machine's load hits them alike.
//! `cargo test` runs this target without `--bench`: `main` then returns at once.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use support::{
    expected_plain, oncall, ptsd_command, synthetic_incidents, ExpectedCounts, FakePagerDuty,
};

const TOKEN: &str = "bench-catchup-token";
const WANT_ENTRIES: usize = 100_000;
/// Without ptsd's own request budget (default 120 a minute), which would otherwise set the pace.
const NO_BUDGET: (&str, &str) = ("PTSD_MAX_REQUESTS_PER_MINUTE", "0");
const W1H: (&str, &str) = ("PTSD_MAX_WINDOW", "1h");
/// Slots one source's table may hold: `PTSD_LATENESS` (default 5m) over the resolution (1m),
/// plus the slot that holds the oldest instant a later batch may still add to.
const SLOT_BOUND: f64 = 6.0;
/// The spread whose density a `minutes: 0` scenario keeps: that of the 10 h scenarios.
const DENSITY_MINUTES: i64 = 595;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sink {
    Statsd,
    Graphite,
    /// `PTSD_STATSD_FLAVOR=dogstatsd`, untimestamped.
    Dogstatsd,
    /// `PTSD_STATSD_FLAVOR=dogstatsd PTSD_STATSD_TIMESTAMPS=on`.
    DogstatsdTimestamped,
}

/// One scenario. Consecutive scenarios with the same entries (`minutes`, `share`) share one fake
/// and run interleaved.
struct Scenario {
    label: &'static str,
    /// The entries are spread over the `minutes` before 5 minutes ago; 0: over the span that
    /// gives them the density of all the entries over `DENSITY_MINUTES`.
    minutes: i64,
    /// 1: all ~100,000 entries; 10: the first tenth of the same incidents (~10,000 entries).
    share: usize,
    sink: Sink,
    /// Run with a fresh `PTSD_STATE_DIR` (the cursor and the Graphite slot table are saved).
    state: bool,
    /// Extra environment of the child.
    env: &'static [(&'static str, &'static str)],
    reps: usize,
    /// The StatsD scenario whose median entries/s this one is compared with.
    baseline: Option<&'static str>,
}

static SCENARIOS: [Scenario; 10] = [
    Scenario {
        label: "(a) 10 h, 1h windows, no budget",
        minutes: 595,
        share: 1,
        sink: Sink::Statsd,
        state: false,
        env: &[W1H, NO_BUDGET],
        reps: 5,
        baseline: None,
    },
    Scenario {
        label: "(a-s) 10 h, 1h windows, no budget, state dir",
        minutes: 595,
        share: 1,
        sink: Sink::Statsd,
        state: true,
        env: &[W1H, NO_BUDGET],
        reps: 5,
        baseline: None,
    },
    Scenario {
        label: "(g) 10 h, 1h windows, no budget, graphite",
        minutes: 595,
        share: 1,
        sink: Sink::Graphite,
        state: false,
        env: &[W1H, NO_BUDGET],
        reps: 5,
        baseline: Some("(a) 10 h, 1h windows, no budget"),
    },
    Scenario {
        label: "(g-s) 10 h, 1h windows, no budget, graphite, state dir",
        minutes: 595,
        share: 1,
        sink: Sink::Graphite,
        state: true,
        env: &[W1H, NO_BUDGET],
        reps: 5,
        baseline: Some("(a-s) 10 h, 1h windows, no budget, state dir"),
    },
    Scenario {
        label: "(d-s) 10 h, 1h windows, no budget, dogstatsd, state dir",
        minutes: 595,
        share: 1,
        sink: Sink::Dogstatsd,
        state: true,
        env: &[W1H, NO_BUDGET],
        reps: 5,
        baseline: None,
    },
    Scenario {
        label: "(dt-s) 10 h, 1h windows, no budget, dogstatsd timestamped, state dir",
        minutes: 595,
        share: 1,
        sink: Sink::DogstatsdTimestamped,
        state: true,
        env: &[W1H, NO_BUDGET],
        reps: 5,
        baseline: Some("(d-s) 10 h, 1h windows, no budget, dogstatsd, state dir"),
    },
    Scenario {
        label: "(a') 10 h, 30m windows, no budget",
        minutes: 595,
        share: 1,
        sink: Sink::Statsd,
        state: false,
        env: &[("PTSD_MAX_WINDOW", "30m"), NO_BUDGET],
        reps: 3,
        baseline: None,
    },
    Scenario {
        label: "(a'') 10 h, defaults: 1h windows, 120 requests/min",
        minutes: 595,
        share: 1,
        sink: Sink::Statsd,
        state: false,
        env: &[],
        reps: 1,
        baseline: None,
    },
    Scenario {
        label: "(b) 30 min, 1h windows, no budget",
        minutes: 30,
        share: 1,
        sink: Sink::Statsd,
        state: false,
        env: &[W1H, NO_BUDGET],
        reps: 3,
        baseline: None,
    },
    Scenario {
        label: "(g-s-short) a tenth of the entries, same density as 10 h, 1h windows, no budget, graphite, state dir",
        minutes: 0,
        share: 10,
        sink: Sink::Graphite,
        state: true,
        env: &[W1H, NO_BUDGET],
        reps: 3,
        baseline: None,
    },
];

// Columns of a run's measurements.
const WALL: usize = 0;
const USER: usize = 1;
const SYS: usize = 2;
const RSS_KIB: usize = 3;
const BENCH_CPU: usize = 4;
const REQUESTS: usize = 5;
const CHECKS: usize = 6;
const PROBES: usize = 7;
const NEEDED: usize = 8;
const SERVED: usize = 9;
/// StatsD: datagrams; Graphite: lines.
const DATAGRAMS: usize = 10;
const BYTES: usize = 11;
const CPU: usize = 12;
/// The 1-minute load average before the run.
const LOAD: usize = 13;
/// Graphite: distinct (path, slot) pairs received.
const PAIRS: usize = 14;
/// Graphite with a state dir: the most slots one source held in any saved state.json, and
/// the most cells (path, slot) over all sources; the same in the last state.json; its bytes.
const SLOTS_MAX: usize = 15;
const CELLS_MAX: usize = 16;
const SLOTS_END: usize = 17;
const CELLS_END: usize = 18;
const STATE_BYTES: usize = 19;
const SAVES: usize = 20;
const COLUMNS: usize = 21;

/// One run: the columns above, and whether ptsd exited 0 with exactly the expected counts.
struct Run([f64; COLUMNS], bool);

/// One set of entries and what a correct poller counts in it: by plain name, and by DogStatsD
/// metric name (all tags and slots summed).
struct EntrySet {
    entries: Vec<Value>,
    expected: ExpectedCounts,
    want: BTreeMap<String, f64>,
    want_tagged: BTreeMap<String, f64>,
}

fn generate(n_incidents: usize, start: Timestamp) -> EntrySet {
    let (entries, expected) = synthetic_incidents(n_incidents, start, Duration::from_secs(2), 7);
    let want = expected_plain(&expected);
    fn sum<K>(m: &BTreeMap<K, u64>) -> f64 {
        m.values().sum::<u64>() as f64
    }
    let want_tagged = BTreeMap::from([
        ("ptsd.incidents".into(), sum(&expected.incidents_by_urgency)),
        ("ptsd.notifications".into(), sum(&expected.notifications)),
        ("ptsd.acknowledgements".into(), sum(&expected.acks)),
        ("ptsd.assignments".into(), sum(&expected.assignments)),
        ("ptsd.escalations".into(), sum(&expected.escalations)),
        ("ptsd.resolves".into(), sum(&expected.resolves)),
    ]);
    EntrySet {
        entries,
        expected,
        want,
        want_tagged,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("catchup: skipped (run it with `cargo bench --bench catchup`)");
        return;
    }
    print_machine();
    let t = Instant::now();
    let start = Timestamp::now() - SignedDuration::from_hours(24);
    let mut n = WANT_ENTRIES / 7;
    let full = loop {
        let set = generate(n, start);
        if set.expected.entries >= WANT_ENTRIES {
            break set;
        }
        n += (WANT_ENTRIES - set.expected.entries) / 7 + 1;
    };
    let bytes: usize = full.entries.iter().map(|e| e.to_string().len()).sum();
    println!(
        "generated {} entries ({n} incidents, {} bytes of JSON each on average) in {:.1} s",
        full.expected.entries,
        bytes / full.entries.len(),
        t.elapsed().as_secs_f64()
    );

    // `cargo bench --bench catchup -- "(b)" "(g"` runs only the scenarios whose label contains
    // one of the arguments.
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let selected: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.label.contains(f.as_str())))
        .collect();
    let tenth = selected.iter().any(|s| s.share == 10).then(|| {
        let set = generate(n / 10, start);
        println!(
            "generated {} entries ({} incidents) for the scenarios with a tenth",
            set.expected.entries,
            n / 10
        );
        set
    });
    let mut medians: HashMap<&str, f64> = HashMap::new();
    let mut i = 0;
    while i < selected.len() {
        // The group of consecutive scenarios with the same entries.
        let key = (selected[i].minutes, selected[i].share);
        let group: Vec<&Scenario> = selected[i..]
            .iter()
            .take_while(|s| (s.minutes, s.share) == key)
            .copied()
            .collect();
        i += group.len();
        let set = if key.1 == 1 {
            &full
        } else {
            tenth.as_ref().expect("generated above")
        };
        let minutes = if key.0 > 0 {
            key.0
        } else {
            // The same minutes per hour of generated time as all the entries over (a)'s span.
            let span = |e: &[Value]| created_at(&e[e.len() - 1]).duration_since(created_at(&e[0]));
            let ratio = span(&set.entries).as_secs_f64() / span(&full.entries).as_secs_f64();
            (DENSITY_MINUTES as f64 * ratio).round() as i64
        };
        let t = Instant::now();
        let end = Timestamp::now() - SignedDuration::from_mins(5);
        let placed = place(&set.entries, end - SignedDuration::from_mins(minutes), end);
        let mut times: Vec<Timestamp> = placed.iter().map(created_at).collect();
        times.sort();
        let fake = FakePagerDuty::start_blocking(TOKEN);
        fake.add_entries(placed);
        println!(
            "\nfake loaded with {} entries over {minutes} min ending 5 min ago in {:.1} s",
            set.expected.entries,
            t.elapsed().as_secs_f64()
        );
        let mut runs: Vec<Vec<Run>> = group.iter().map(|_| Vec::new()).collect();
        let rounds = group.iter().map(|s| s.reps).max().unwrap_or(0);
        for round in 0..rounds {
            for (s, runs) in group.iter().zip(runs.iter_mut()) {
                if round < s.reps {
                    let want = match s.sink {
                        Sink::Dogstatsd | Sink::DogstatsdTimestamped => &set.want_tagged,
                        Sink::Statsd | Sink::Graphite => &set.want,
                    };
                    let r = run_once(&fake, s, &times, want);
                    println!(
                        "  {} run {}: {:.2} s (load {:.2})",
                        s.label,
                        round + 1,
                        r.0[WALL],
                        r.0[LOAD]
                    );
                    runs.push(r);
                }
            }
        }
        for (s, runs) in group.iter().zip(&runs) {
            println!("\n## {}", s.label);
            let rate = report(s, runs, set.expected.entries, &medians);
            medians.insert(s.label, rate);
        }
        drop(fake); // before the next one is loaded: it holds gigabytes
    }
}

fn created_at(v: &Value) -> Timestamp {
    v["created_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("created_at")
}

/// The entries (in time order) with `created_at` mapped linearly onto `[lo, hi]`.
fn place(entries: &[Value], lo: Timestamp, hi: Timestamp) -> Vec<Value> {
    let first = created_at(&entries[0]);
    let span = created_at(&entries[entries.len() - 1])
        .duration_since(first)
        .as_nanos()
        .max(1);
    let target = hi.duration_since(lo).as_nanos();
    entries
        .iter()
        .map(|e| {
            let off = created_at(e).duration_since(first).as_nanos() * target / span;
            let mut e = e.clone();
            e["created_at"] = json!((lo + SignedDuration::from_nanos(off as i64)).to_string());
            e
        })
        .collect()
}

/// What a sink received: datagrams or lines, bytes, distinct (path, slot) pairs (Graphite
/// only), and the totals by name: StatsD `|c` lines summed; Graphite the last value per (path,
/// slot) summed over the slots. Unparsable lines count under `ptsd.unparsable`.
struct Received {
    messages: u64,
    bytes: u64,
    pairs: usize,
    totals: BTreeMap<String, f64>,
}

/// A UDP socket on 127.0.0.1 and the thread that drains it until `stop` and the buffer is empty.
/// Untimestamped `|c` lines are summed by name (a DogStatsD line's name without its tags);
/// timestamped ones (`|T`) keep the last value per (series, timestamp), and those are summed by
/// name over the series and timestamps.
fn start_udp_sink(stop: Arc<AtomicBool>) -> (u16, JoinHandle<Received>) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind the UDP sink");
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("read timeout");
    large_receive_buffer(&sock);
    let port = sock.local_addr().expect("sink address").port();
    let handle = std::thread::spawn(move || {
        let (mut datagrams, mut bytes, mut counters) = (0, 0, BTreeMap::new());
        let mut stamped: HashMap<String, HashMap<i64, f64>> = HashMap::new();
        let mut buf = vec![0u8; 65_536];
        loop {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    datagrams += 1;
                    bytes += n as u64;
                    for line in String::from_utf8_lossy(&buf[..n]).lines() {
                        let Some((name, rest)) = line.split_once(':') else {
                            *counters.entry("ptsd.unparsable".into()).or_insert(0.0) += 1.0;
                            continue;
                        };
                        let mut fields = rest.split('|');
                        let (value, ty) = (fields.next(), fields.next());
                        let (mut tags, mut at) = ("", None);
                        for f in fields {
                            if let Some(t) = f.strip_prefix('T') {
                                at = t.parse::<i64>().ok();
                            } else if f.starts_with('#') {
                                tags = f;
                            }
                        }
                        let Some(Ok(v)) = value.map(str::parse::<f64>) else {
                            *counters.entry("ptsd.unparsable".into()).or_insert(0.0) += 1.0;
                            continue;
                        };
                        match (at, ty) {
                            (Some(t), _) => {
                                stamped
                                    .entry(format!("{name}|{tags}"))
                                    .or_default()
                                    .insert(t, v);
                            }
                            // Gauges and timers are ptsd's own health, not checked here.
                            (None, Some("c")) => {
                                *counters.entry(name.to_string()).or_insert(0.0) += v;
                            }
                            _ => {}
                        }
                    }
                }
                Err(_) if stop.load(Ordering::SeqCst) => {
                    let pairs = stamped.values().map(HashMap::len).sum();
                    for (series, slots) in stamped {
                        let name = series.split('|').next().unwrap_or_default().to_string();
                        *counters.entry(name).or_insert(0.0) += slots.values().sum::<f64>();
                    }
                    return Received {
                        messages: datagrams,
                        bytes,
                        pairs,
                        totals: counters,
                    };
                }
                Err(_) => {}
            }
        }
    });
    (port, handle)
}

/// Asks for a 64 MB receive buffer (forced: the bench runs as root), so a burst of datagrams
/// is not dropped while the sink thread is busy.
fn large_receive_buffer(sock: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 64 << 20;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: setsockopt on an open socket with a c_int option of the right size.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return;
        }
    }
}

/// What one carbon connection sent: lines, bytes, unparsable lines, last value per path and slot.
type Connection = (u64, u64, u64, HashMap<String, HashMap<i64, f64>>);

/// Reads carbon plaintext lines from one connection until it closes.
fn read_carbon(stream: TcpStream) -> Connection {
    let (mut lines, mut bytes, mut bad) = (0, 0, 0);
    let mut last: HashMap<String, HashMap<i64, f64>> = HashMap::new();
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return (lines, bytes, bad, last),
            Ok(n) => {
                lines += 1;
                bytes += n as u64;
                let mut parts = line.trim_end_matches('\n').split(' ');
                let parsed = match (parts.next(), parts.next(), parts.next(), parts.next()) {
                    (Some(path), Some(v), Some(ts), None) => v
                        .parse::<f64>()
                        .ok()
                        .zip(ts.parse::<i64>().ok())
                        .map(|p| (path, p)),
                    _ => None,
                };
                let Some((path, (value, slot))) = parsed else {
                    bad += 1;
                    continue;
                };
                match last.get_mut(path) {
                    Some(slots) => {
                        slots.insert(slot, value);
                    }
                    None => {
                        last.insert(path.to_string(), HashMap::from([(slot, value)]));
                    }
                }
            }
        }
    }
}

/// A TCP listener on 127.0.0.1 standing in for carbon-cache, and the thread that accepts until
/// `stop` (and the backlog is empty) and reads every connection to its end. ptsd opens a new
/// connection only after giving up the one before, so later connections' writes win.
fn start_tcp_sink(stop: Arc<AtomicBool>) -> (u16, JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the TCP sink");
    listener.set_nonblocking(true).expect("non-blocking accept");
    let port = listener.local_addr().expect("sink address").port();
    let handle = std::thread::spawn(move || {
        let mut conns = Vec::new();
        loop {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).expect("blocking reads");
                    conns.push(std::thread::spawn(move || read_carbon(s)));
                }
                Err(_) if stop.load(Ordering::SeqCst) => break,
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        let (mut lines, mut bytes, mut bad) = (0, 0, 0);
        let mut last: HashMap<String, HashMap<i64, f64>> = HashMap::new();
        for c in conns {
            let (l, b, u, got) = c.join().expect("connection reader");
            (lines, bytes, bad) = (lines + l, bytes + b, bad + u);
            for (path, slots) in got {
                last.entry(path).or_default().extend(slots);
            }
        }
        let pairs = last.values().map(HashMap::len).sum();
        let mut totals: BTreeMap<String, f64> = last
            .into_iter()
            .map(|(path, slots)| (path, slots.values().sum()))
            .collect();
        if bad > 0 {
            totals.insert("ptsd.unparsable".into(), bad as f64);
        }
        Received {
            messages: lines,
            bytes,
            pairs,
            totals,
        }
    });
    (port, handle)
}

/// The slot table (Graphite's or timestamped DogStatsD's) in a saved state: the most slots one
/// source holds, and the cells ((path, slot) totals) of all sources. `None` if the file cannot
/// be read (yet) or holds no table.
fn slot_table(file: &Path) -> Option<(usize, usize)> {
    let state: Value = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    let table = &state["outputters"];
    let table = if table["graphite"].is_null() {
        &table["statsd"]
    } else {
        &table["graphite"]
    };
    let sources = table["slots"].as_object()?;
    let slots = sources
        .values()
        .filter_map(Value::as_object)
        .map(|s| s.len())
        .max()
        .unwrap_or(0);
    let cells = sources
        .values()
        .filter_map(Value::as_object)
        .flat_map(|s| s.values())
        .filter_map(Value::as_object)
        .map(|paths| paths.len())
        .sum();
    Some((slots, cells))
}

fn secs(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6
}

/// User + system CPU seconds of this process (the fake and the sink), not of its children.
fn self_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

fn load_average() -> f64 {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace()
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(f64::NAN)
}

/// A fresh, empty state directory for one run.
fn state_dir() -> PathBuf {
    let nanos = Timestamp::now().as_nanosecond();
    let dir = std::env::temp_dir().join(format!("ptsd-catchup-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the state dir");
    dir
}

fn run_once(
    fake: &FakePagerDuty,
    s: &Scenario,
    times: &[Timestamp],
    want: &BTreeMap<String, f64>,
) -> Run {
    fake.clear_requests();
    let load = load_average();
    let stop = Arc::new(AtomicBool::new(false));
    let (port, sink) = match s.sink {
        Sink::Graphite => start_tcp_sink(stop.clone()),
        _ => start_udp_sink(stop.clone()),
    };
    // With Graphite, the StatsD port is never used.
    let mut cmd = ptsd_command(fake, TOKEN, if s.sink == Sink::Graphite { 9 } else { port });
    match s.sink {
        Sink::Statsd => cmd.env("PTSD_OUTPUTS", "statsd"),
        Sink::Dogstatsd => cmd
            .env("PTSD_OUTPUTS", "statsd")
            .env("PTSD_STATSD_FLAVOR", "dogstatsd"),
        Sink::DogstatsdTimestamped => cmd
            .env("PTSD_OUTPUTS", "statsd")
            .env("PTSD_STATSD_FLAVOR", "dogstatsd")
            .env("PTSD_STATSD_TIMESTAMPS", "on")
            .env("PTSD_STATSD_TIMESTAMP_RESOLUTION", "1m"),
        Sink::Graphite => cmd
            .env("PTSD_OUTPUTS", "graphite")
            .env("GRAPHITE_HOST", "127.0.0.1")
            .env("GRAPHITE_PORT", port.to_string())
            .env("PTSD_GRAPHITE_RESOLUTION", "1m"),
    };
    let dir = s.state.then(state_dir);
    if let Some(d) = &dir {
        cmd.env("PTSD_STATE_DIR", d);
    }
    let state_file = dir.as_ref().map(|d| d.join("state.json"));
    cmd.env("PTSD_BACKFILL", "11h").env("RUST_LOG", "warn");
    cmd.envs(s.env.iter().copied())
        .arg("--once")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let cpu0 = self_cpu();
    let started = Instant::now();
    // Reaped with wait4 below (for its rusage), not with Child::wait.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd.spawn().expect("start the ptsd binary");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // Polled with WNOHANG: until it is reaped, the child's /proc status has its peak RSS (VmHWM).
    // wait4's ru_maxrss cannot be used: Linux carries the parent's high-water mark across the
    // spawn's exec, so it reports this multi-GB process, not ptsd.
    let pid = child.id() as libc::pid_t;
    let (mut status, mut hwm_kib) = (0, 0.0);
    // Each save renames a new file over state.json: a new inode is a new save, read once.
    let (mut inode, mut saves, mut slots_max, mut cells_max) = (0, 0, 0, 0);
    // SAFETY: an all-zero rusage is valid; wait4 reaps our own child and writes what we own.
    let mut ru = unsafe { std::mem::zeroed::<libc::rusage>() };
    loop {
        match unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) } {
            r if r == pid => break,
            0 => {}
            _ => {
                let e = std::io::Error::last_os_error();
                assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "wait4: {e}");
            }
        }
        let proc = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let hwm = proc.lines().find_map(|l| l.strip_prefix("VmHWM:"));
        if let Some(Ok(k)) = hwm.map(|v| v.trim().trim_end_matches("kB").trim().parse()) {
            hwm_kib = k;
        }
        if let Some(f) = &state_file {
            if let Ok(meta) = std::fs::metadata(f) {
                if meta.ino() != inode {
                    inode = meta.ino();
                    saves += 1;
                    if let Some((slots, cells)) = slot_table(f) {
                        (slots_max, cells_max) = (slots_max.max(slots), cells_max.max(cells));
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let wall = started.elapsed().as_secs_f64();
    let bench_cpu = self_cpu() - cpu0;
    stop.store(true, Ordering::SeqCst);
    let got = sink.join().expect("sink thread");
    let log = log.join().unwrap_or_default();
    let exited_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !exited_ok {
        println!("ptsd failed (wait status {status}):\n{log}");
    }
    let (mut slots_end, mut cells_end, mut state_bytes) = (0, 0, 0);
    if let Some(f) = &state_file {
        if let Some((slots, cells)) = slot_table(f) {
            (slots_end, cells_end) = (slots, cells);
            (slots_max, cells_max) = (slots_max.max(slots), cells_max.max(cells));
        }
        state_bytes = std::fs::metadata(f).map_or(0, |m| m.len());
    }
    if let Some(d) = &dir {
        let _ = std::fs::remove_dir_all(d);
    }
    let counted = match s.sink {
        // Exactly the on-call counters, nothing missing and nothing extra.
        Sink::Statsd => oncall(got.totals) == *want,
        // Every plain on-call name the StatsD check uses has its total (the timer summaries
        // and the analysis series Graphite also gets are not checked here); DogStatsD: every
        // on-call metric's total over its tags.
        Sink::Graphite | Sink::Dogstatsd | Sink::DogstatsdTimestamped => {
            !got.totals.contains_key("ptsd.unparsable")
                && want
                    .iter()
                    .all(|(k, v)| got.totals.get(k).is_some_and(|g| (g - v).abs() < 1e-9))
        }
    };

    // The startup check asks limit=1. A probe is a first page whose window holds more than
    // 10,000 entries: the collector gives it up and the engine splits the window.
    let reqs = fake.requests();
    let checks = reqs
        .iter()
        .filter(|r| r.param("limit") == Some("1"))
        .count();
    let in_window = |r: &support::RecordedRequest| {
        let at = |k| {
            r.param(k)
                .and_then(|v| v.parse::<Timestamp>().ok())
                .expect(k)
        };
        let (since, until) = (at("since"), at("until"));
        times.partition_point(|t| *t < until) - times.partition_point(|t| *t < since)
    };
    let firsts: Vec<usize> = reqs
        .iter()
        .filter(|r| r.path == "/log_entries" && r.param("limit") != Some("1"))
        .filter(|r| r.param("offset") == Some("0"))
        .map(in_window)
        .collect();
    let leaves = || firsts.iter().filter(|n| **n <= 10_000);
    let mut m = [0.0; COLUMNS];
    m[WALL] = wall;
    m[USER] = secs(ru.ru_utime);
    m[SYS] = secs(ru.ru_stime);
    m[RSS_KIB] = hwm_kib;
    m[BENCH_CPU] = bench_cpu;
    m[REQUESTS] = reqs.len() as f64;
    m[CHECKS] = checks as f64;
    m[PROBES] = (firsts.len() - leaves().count()) as f64;
    m[NEEDED] = leaves().map(|n| n.div_ceil(100).max(1)).sum::<usize>() as f64;
    m[SERVED] = leaves().sum::<usize>() as f64;
    m[DATAGRAMS] = got.messages as f64;
    m[BYTES] = got.bytes as f64;
    m[CPU] = m[USER] + m[SYS];
    m[LOAD] = load;
    m[PAIRS] = got.pairs as f64;
    m[SLOTS_MAX] = slots_max as f64;
    m[CELLS_MAX] = cells_max as f64;
    m[SLOTS_END] = slots_end as f64;
    m[CELLS_END] = cells_end as f64;
    m[STATE_BYTES] = state_bytes as f64;
    m[SAVES] = saves as f64;
    Run(m, exited_ok && counted)
}

/// Prints the runs, their medians and the targets; returns the median entries/s.
fn report(s: &Scenario, runs: &[Run], entries: usize, medians: &HashMap<&str, f64>) -> f64 {
    let (n, floor) = (entries as f64, entries.div_ceil(100) as f64);
    let graphite = s.sink == Sink::Graphite;
    let slotted = graphite || s.sink == Sink::DogstatsdTimestamped;
    let table = slotted && s.state;
    let received = if graphite {
        "lines / bytes / (path, slot) pairs"
    } else if slotted {
        "datagrams / bytes / (series, slot) pairs"
    } else {
        "datagrams / bytes"
    };
    let extra = if table {
        " table slots max / end | table cells max / end | state saves / bytes |"
    } else {
        ""
    };
    println!("| run | load | wall s | entries/s | CPU s (user+sys) | peak RSS MB | requests total / check / data | floor | probes | pages needed | entries served | {received} | bench CPU s | counts |{extra}");
    println!(
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|{}",
        if table { "---|---|---|" } else { "" }
    );
    let row = |label: &str, r: &Run| {
        let m = &r.0;
        let got = if slotted {
            format!("{:.0} / {:.0} / {:.0}", m[DATAGRAMS], m[BYTES], m[PAIRS])
        } else {
            format!("{:.0} / {:.0}", m[DATAGRAMS], m[BYTES])
        };
        let extra = if table {
            format!(
                " {:.0} / {:.0} | {:.0} / {:.0} | {:.0} / {:.0} |",
                m[SLOTS_MAX], m[SLOTS_END], m[CELLS_MAX], m[CELLS_END], m[SAVES], m[STATE_BYTES]
            )
        } else {
            String::new()
        };
        println!(
            "| {label} | {:.2} | {:.2} | {:.0} | {:.2} ({:.2}+{:.2}) | {:.1} | {:.0} / {:.0} / {:.0} | {floor:.0} | {:.0} | {:.0} | {:.0} | {got} | {:.2} | {} |{extra}",
            m[LOAD], m[WALL], n / m[WALL], m[CPU], m[USER], m[SYS], m[RSS_KIB] * 1024.0 / 1e6,
            m[REQUESTS], m[CHECKS], m[REQUESTS] - m[CHECKS], m[PROBES], m[NEEDED], m[SERVED],
            m[BENCH_CPU], if r.1 { "PASS" } else { "FAIL" }
        );
    };
    for (i, r) in runs.iter().enumerate() {
        row(&(i + 1).to_string(), r);
    }
    // The median row is each column's own median (entries/s follows the wall time's).
    let mut med = [0.0; COLUMNS];
    for (c, slot) in med.iter_mut().enumerate() {
        let mut v: Vec<f64> = runs.iter().map(|r| r.0[c]).collect();
        v.sort_by(f64::total_cmp);
        *slot = v[v.len() / 2];
    }
    // The table's bound holds for every run, not only the median.
    let slots_max = runs.iter().map(|r| r.0[SLOTS_MAX]).fold(0.0, f64::max);
    let m = Run(med, runs.iter().all(|r| r.1));
    row("median", &m);
    let (data, limit) = (
        m.0[REQUESTS] - m.0[CHECKS],
        (1.1 * floor).floor() + m.0[PROBES],
    );
    let (rate, mb) = (n / m.0[WALL], m.0[RSS_KIB] * 1024.0 / 1e6);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let mut targets = format!(
        "targets: data requests {data:.0} <= 1.1 x floor + probes = {limit:.0}: {}; {rate:.0} entries/s >= 50,000: {}; peak RSS {mb:.1} MB < 40 MB: {}; counts {}",
        verdict(data <= limit), verdict(rate >= 50_000.0), verdict(mb < 40.0), if m.1 { "PASS" } else { "FAIL" }
    );
    if let Some(base) = s.baseline.and_then(|b| medians.get(b).map(|r| (b, *r))) {
        let change = 100.0 * (rate / base.1 - 1.0);
        targets += &format!(
            "; {rate:.0} entries/s vs {:.0} of {}: {change:+.1}%, within 10%: {}",
            base.1,
            base.0.split(' ').next().unwrap_or(base.0),
            verdict(rate >= 0.9 * base.1)
        );
    }
    if table {
        targets += &format!(
            "; table at most {slots_max:.0} slots per source in every saved state <= {SLOT_BOUND:.0}: {}",
            verdict(slots_max <= SLOT_BOUND)
        );
    }
    println!("{targets}");
    rate
}

fn print_machine() {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let field = |text: &str, key: &str| {
        let line = text.lines().find(|l| l.starts_with(key)).unwrap_or("");
        line.split_once(':')
            .map_or("?", |(_, v)| v.trim())
            .to_string()
    };
    let rustc = std::process::Command::new("rustc").arg("-V").output();
    let rustc = rustc.map_or("?".into(), |o| {
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    });
    println!("# ptsd catch-up benchmark");
    println!(
        "machine: {} CPUs ({}), {} RAM, Linux {}; {rustc}; ptsd binary {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        field(&read("/proc/cpuinfo"), "model name"),
        field(&read("/proc/meminfo"), "MemTotal"),
        read("/proc/sys/kernel/osrelease").trim(),
        env!("CARGO_BIN_EXE_ptsd")
    );
}
