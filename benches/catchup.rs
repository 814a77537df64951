//! Catch-up benchmark (not a timed test): feeds ~100,000 PagerDuty log entries through the
//! in-process fake API (`tests/support`) to the release `ptsd --once`, run as a child process so
//! the fake's own memory and CPU are not counted, and reports per scenario: HTTP requests
//! against the floor `ceil(entries / 100)`, splitting probes (first pages of windows holding more
//! than 10,000 entries), entries per second end to end, the child's CPU seconds (`wait4`) and
//! peak RSS (`VmHWM`), datagrams and bytes a UDP sink received, and PASS/FAIL for the on-call
//! counters received against the counts the generator says are right.
//!
//! Why: the targets (requests within 10% of the floor plus the probes, at least 50,000
//! entries/s, peak RSS under 40 MB) depend on the machine, so they are measured and recorded in
//! BENCHMARKS.md, not asserted. Run with `cargo bench --bench catchup` (about 12 minutes, 8 of
//! them the run with the default request budget; `-- "(b)"` runs only matching scenarios).
//! `cargo test` runs this target without `--bench`: `main` then returns at once.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::UdpSocket;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use support::{expected_plain, oncall, ptsd_command, synthetic_incidents, FakePagerDuty};

const TOKEN: &str = "bench-catchup-token";
const WANT_ENTRIES: usize = 100_000;
/// Without ptsd's own request budget (default 120 a minute), which would otherwise set the pace.
const NO_BUDGET: (&str, &str) = ("PTSD_MAX_REQUESTS_PER_MINUTE", "0");
const W1H: (&str, &str) = ("PTSD_MAX_WINDOW", "1h");

/// A label, the entries spread over the `minutes` before 5 minutes ago, extra environment of
/// the child, repetitions. Consecutive scenarios with the same spread share one fake.
type Scenario = (
    &'static str,
    i64,
    &'static [(&'static str, &'static str)],
    usize,
);
const SCENARIOS: [Scenario; 4] = [
    ("(a) 10 h, 1h windows, no budget", 595, &[W1H, NO_BUDGET], 3),
    (
        "(a') 10 h, 30m windows, no budget",
        595,
        &[("PTSD_MAX_WINDOW", "30m"), NO_BUDGET],
        3,
    ),
    (
        "(a'') 10 h, defaults: 1h windows, 120 requests/min",
        595,
        &[],
        1,
    ),
    (
        "(b) 30 min, 1h windows, no budget",
        30,
        &[W1H, NO_BUDGET],
        3,
    ),
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
const DATAGRAMS: usize = 10;
const BYTES: usize = 11;
const CPU: usize = 12;

/// One run: the columns above, and whether ptsd exited 0 with exactly the expected counters.
struct Run([f64; 13], bool);

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
    let (entries, expected) = loop {
        let (entries, expected) = synthetic_incidents(n, start, Duration::from_secs(2), 7);
        if expected.entries >= WANT_ENTRIES {
            break (entries, expected);
        }
        n += (WANT_ENTRIES - expected.entries) / 7 + 1;
    };
    let want = expected_plain(&expected);
    let bytes: usize = entries.iter().map(|e| e.to_string().len()).sum();
    println!(
        "generated {} entries ({n} incidents, {} bytes of JSON each on average) in {:.1} s",
        expected.entries,
        bytes / entries.len(),
        t.elapsed().as_secs_f64()
    );

    // `cargo bench --bench catchup -- "(b)"` runs only the scenarios whose label has "(b)".
    let filter = args.iter().find(|a| !a.starts_with("--"));
    let mut loaded: Option<(i64, FakePagerDuty, Vec<Timestamp>)> = None;
    for (label, minutes, env, reps) in SCENARIOS {
        if filter.is_some_and(|f| !label.contains(f.as_str())) {
            continue;
        }
        if loaded.as_ref().map(|l| l.0) != Some(minutes) {
            drop(loaded.take()); // the previous fake first: it holds gigabytes
            let t = Instant::now();
            let end = Timestamp::now() - SignedDuration::from_mins(5);
            let placed = place(&entries, end - SignedDuration::from_mins(minutes), end);
            let mut times: Vec<Timestamp> = placed.iter().map(created_at).collect();
            times.sort();
            let fake = FakePagerDuty::start_blocking(TOKEN);
            fake.add_entries(placed);
            let secs = t.elapsed().as_secs_f64();
            println!("\nfake loaded with {minutes} min of entries ending 5 min ago in {secs:.1} s");
            loaded = Some((minutes, fake, times));
        }
        let (_, fake, times) = loaded.as_ref().expect("loaded above");
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!("\n## {label}\nload average before: {}", load.trim());
        let runs: Vec<Run> = (0..reps)
            .map(|_| run_once(fake, env, times, &want))
            .collect();
        report(&runs, expected.entries);
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

/// Datagrams, bytes, and the `|c` lines summed by name (unparsable lines as `ptsd.unparsable`).
type Received = (u64, u64, BTreeMap<String, f64>);

/// A UDP socket on 127.0.0.1 and the thread that drains it until `stop` and the buffer is empty.
fn start_sink(stop: Arc<AtomicBool>) -> (u16, JoinHandle<Received>) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind the UDP sink");
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("read timeout");
    let port = sock.local_addr().expect("sink address").port();
    let handle = std::thread::spawn(move || {
        let (mut datagrams, mut bytes, mut counters) = (0, 0, BTreeMap::new());
        let mut buf = vec![0u8; 65_536];
        loop {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    datagrams += 1;
                    bytes += n as u64;
                    for line in String::from_utf8_lossy(&buf[..n]).lines() {
                        let Some((name, value)) = line.split_once(':') else {
                            *counters.entry("ptsd.unparsable".into()).or_insert(0.0) += 1.0;
                            continue;
                        };
                        // Gauges and timers are ptsd's own health, not checked here.
                        if let Some(Ok(v)) = value.strip_suffix("|c").map(str::parse::<f64>) {
                            *counters.entry(name.to_string()).or_insert(0.0) += v;
                        }
                    }
                }
                Err(_) if stop.load(Ordering::SeqCst) => return (datagrams, bytes, counters),
                Err(_) => {}
            }
        }
    });
    (port, handle)
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

fn run_once(
    fake: &FakePagerDuty,
    env: &[(&str, &str)],
    times: &[Timestamp],
    want: &BTreeMap<String, f64>,
) -> Run {
    fake.clear_requests();
    let stop = Arc::new(AtomicBool::new(false));
    let (port, sink) = start_sink(stop.clone());
    let mut cmd = ptsd_command(fake, TOKEN, port);
    cmd.env("PTSD_OUTPUTS", "statsd")
        .env("PTSD_BACKFILL", "11h")
        .env("RUST_LOG", "warn");
    cmd.envs(env.iter().copied())
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
        std::thread::sleep(Duration::from_millis(2));
    }
    let wall = started.elapsed().as_secs_f64();
    let bench_cpu = self_cpu() - cpu0;
    stop.store(true, Ordering::SeqCst);
    let (datagrams, bytes, got) = sink.join().expect("sink thread");
    let log = log.join().unwrap_or_default();
    let exited_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !exited_ok {
        println!("ptsd failed (wait status {status}):\n{log}");
    }

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
    let mut m = [0.0; 13];
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
    m[DATAGRAMS] = datagrams as f64;
    m[BYTES] = bytes as f64;
    m[CPU] = m[USER] + m[SYS];
    Run(m, exited_ok && oncall(got) == *want)
}

fn report(runs: &[Run], entries: usize) {
    let (n, floor) = (entries as f64, entries.div_ceil(100) as f64);
    println!("| run | wall s | entries/s | CPU s (user+sys) | peak RSS MB | requests total / check / data | floor | probes | pages needed | entries served | datagrams / bytes | bench CPU s | counters |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let row = |label: &str, r: &Run| {
        let m = &r.0;
        println!(
            "| {label} | {:.2} | {:.0} | {:.2} ({:.2}+{:.2}) | {:.1} | {:.0} / {:.0} / {:.0} | {floor:.0} | {:.0} | {:.0} | {:.0} | {:.0} / {:.0} | {:.2} | {} |",
            m[WALL], n / m[WALL], m[CPU], m[USER], m[SYS], m[RSS_KIB] * 1024.0 / 1e6,
            m[REQUESTS], m[CHECKS], m[REQUESTS] - m[CHECKS], m[PROBES], m[NEEDED], m[SERVED],
            m[DATAGRAMS], m[BYTES], m[BENCH_CPU], if r.1 { "PASS" } else { "FAIL" }
        );
    };
    for (i, r) in runs.iter().enumerate() {
        row(&(i + 1).to_string(), r);
    }
    // The median row is each column's own median (entries/s follows the wall time's).
    let mut med = [0.0; 13];
    for (c, slot) in med.iter_mut().enumerate() {
        let mut v: Vec<f64> = runs.iter().map(|r| r.0[c]).collect();
        v.sort_by(f64::total_cmp);
        *slot = v[v.len() / 2];
    }
    let m = Run(med, runs.iter().all(|r| r.1));
    row("median", &m);
    let (data, limit) = (
        m.0[REQUESTS] - m.0[CHECKS],
        (1.1 * floor).floor() + m.0[PROBES],
    );
    let (rate, mb) = (n / m.0[WALL], m.0[RSS_KIB] * 1024.0 / 1e6);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "targets: data requests {data:.0} <= 1.1 x floor + probes = {limit:.0}: {}; {rate:.0} entries/s >= 50,000: {}; peak RSS {mb:.1} MB < 40 MB: {}; counters {}",
        verdict(data <= limit), verdict(rate >= 50_000.0), verdict(mb < 40.0), if m.1 { "PASS" } else { "FAIL" }
    );
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
