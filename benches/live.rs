//! Live-polling benchmark (not a timed test): the release `ptsd` polls the in-process fake
//! PagerDuty (`tests/support`) every 2 s while a feeder thread adds 2,700 log entries over 60 s,
//! as PagerDuty would show them: `created_at` = the moment each is added, except the late ones,
//! added with a `created_at` 5-20 s in the past (what a late entry is to a poller: it shows up
//! in a window that was already read). ptsd runs as a child (`PTSD_INTERVAL=2s`,
//! `PTSD_LATENESS=30s`, `PTSD_BACKFILL=1m`, the default request budget) and sends StatsD to a
//! UDP socket the bench drains; once every expected counter is in (and a few polls later, to
//! catch a double count) it gets SIGTERM.
//!
//! Reported per scenario: the requests ptsd made, from the fake's request log, per poll and in
//! total (the count `total=true&limit=1` before a re-read, the pages of `limit=100`, the
//! start-up check, `GET /users`), against
//! - the floor: per poll, `max(1, ceil(new / 100)) + 1` (one count, then the pages of the
//!   entries that became visible since the previous poll; the first poll has nothing to count),
//! - the old behaviour (before the count, commit 2b97d17): every poll reads its whole window,
//!   `[cursor - PTSD_LATENESS, now]`, one second wider on each side: `max(1, ceil(n / 100))`
//!   pages where `n` is what that window held when the poll began; worked out from the same log
//!   (`PTSD_BENCH_BIN=<old build>` runs that commit's binary on the same feed instead).
//!
//! And PASS/FAIL that the on-call counters received equal those of the entries fed (every entry
//! once, the late ones included), the child's CPU (`wait4`) and its peak RSS (`VmHWM` from
//! `/proc/{pid}/status`, with `RssAnon` / `RssFile` and the resident KiB by mapping at the end).
//!
//! Why: the targets (a live poll at the floor when nothing arrived late; under 10 MiB
//! peak RSS) depend on the feed and the machine, so they are measured and recorded in
//! BENCHMARKS.md, not asserted. Run with `cargo bench --bench live` (about 80 s a scenario;
//! `-- late` runs only the scenarios whose label contains one of the arguments).
//! `cargo test` runs this target without `--bench`: `main` then returns at once.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use support::common::SplitMix64;
use support::{
    oncall, plain_counts, ptsd_command, synthetic_incidents, synthetic_users, FakePagerDuty,
    RecordedRequest,
};

const TOKEN: &str = "bench-live-token";
const ENTRIES: usize = 2_700;
const FEED: Duration = Duration::from_secs(60);
const INTERVAL_S: i64 = 2;
const LATENESS_S: i64 = 30;
/// The collector asks for one second more on each side of the engine's window.
const MARGIN_S: i64 = 1;
/// How long after the feed ends the counters may take to arrive before the run is a FAIL.
const DRAIN: Duration = Duration::from_secs(60);
/// Polls after the counters are in, to see that nothing is counted twice.
const AFTER: Duration = Duration::from_secs(3 * INTERVAL_S as u64);

/// Which entries are late, and how late.
#[derive(Clone, Copy)]
enum Late {
    None,
    /// This percentage of the entries, spread at random over the feed, 5-20 s late.
    Percent(u64),
    /// One entry every this many seconds of feed, 5-20 s late.
    Every(u64),
}

struct Scenario {
    label: &'static str,
    late: Late,
}

static SCENARIOS: [Scenario; 3] = [
    Scenario {
        label: "(n) steady feed, no late entries",
        late: Late::None,
    },
    Scenario {
        label: "(r) steady feed, a late entry every 10 s",
        late: Late::Every(10),
    },
    Scenario {
        label: "(l) steady feed, 5% late entries, spread",
        late: Late::Percent(5),
    },
];

/// One entry as fed: its `created_at`, when the fake held it, whether it was late.
struct Fed {
    at: Timestamp,
    added: Instant,
    late: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("live: skipped (run it with `cargo bench --bench live`)");
        return;
    }
    print_machine();
    let (entries, want) = generate();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let mut rows = Vec::new();
    for s in SCENARIOS
        .iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.label.contains(f.as_str())))
    {
        println!("\n## {}", s.label);
        rows.push((s.label, run(s, &entries, &want)));
    }
    println!("\n## Summary\n");
    println!("| scenario | load before | polls | requests total (check + users + counts + pages) | per poll (counts + pages) | floor | old: whole window each poll | re-reads | late entries | counters | ptsd CPU s | peak RSS (VmHWM) | RssAnon / RssFile at the end |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (label, r) in rows {
        println!("| {label} | {r} |");
    }
}

/// The first 2,700 entries of the synthetic incidents (in time order), and the plain on-call
/// counters they make: each entry counted once ([`plain_counts`]).
fn generate() -> (Vec<Value>, BTreeMap<String, f64>) {
    let start = Timestamp::now() - SignedDuration::from_hours(24);
    let (mut entries, _) = synthetic_incidents(ENTRIES / 5, start, Duration::from_secs(2), 7);
    assert!(entries.len() >= ENTRIES, "too few entries generated");
    entries.truncate(ENTRIES);
    let mut want = BTreeMap::new();
    for e in &entries {
        for name in plain_counts(e) {
            *want.entry(format!("ptsd.pagerduty.{name}")).or_insert(0.0) += 1.0;
        }
    }
    println!(
        "{} entries, {} on-call counters expected",
        entries.len(),
        want.len()
    );
    (entries, want)
}

/// Feeds `entries` to `fake` evenly over [`FEED`], `created_at` = now, or 5-20 s before now
/// for the late ones; returns what was fed.
fn feed(fake: &FakePagerDuty, entries: &[Value], late: Late) -> Vec<Fed> {
    let mut rng = SplitMix64(12);
    let began = Instant::now();
    let step = FEED / entries.len() as u32;
    let mut next_late = 0u64;
    let mut fed = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let due = began + step * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let is_late = match late {
            Late::None => false,
            Late::Percent(p) => rng.chance(p),
            Late::Every(s) => {
                let now = began.elapsed().as_secs();
                (now >= next_late + s).then(|| next_late = now).is_some()
            }
        };
        let ago = if is_late {
            5_000 + rng.below(15_001)
        } else {
            0
        };
        let at = Timestamp::now() - SignedDuration::from_millis(ago as i64);
        let mut e = e.clone();
        e["created_at"] = json!(at.to_string());
        fake.add_entries(vec![e]);
        fed.push(Fed {
            at,
            added: Instant::now(),
            late: is_late,
        });
    }
    fed
}

/// Counter totals (`|c` lines summed by name) and datagrams, shared with the draining thread.
type Counters = Arc<Mutex<(BTreeMap<String, f64>, u64)>>;

/// A UDP socket on 127.0.0.1 and the thread that drains it until `stop`.
fn start_udp_sink(stop: Arc<AtomicBool>) -> (u16, Counters, JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind the UDP sink");
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("read timeout");
    let port = sock.local_addr().expect("sink address").port();
    let counters: Counters = Arc::default();
    let shared = counters.clone();
    let handle = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        while !stop.load(Ordering::SeqCst) {
            let Ok(n) = sock.recv(&mut buf) else { continue };
            let mut c = shared.lock().expect("sink lock");
            c.1 += 1;
            for line in String::from_utf8_lossy(&buf[..n]).lines() {
                let Some((name, value)) = line.split_once(':') else {
                    *c.0.entry("ptsd.unparsable".into()).or_insert(0.0) += 1.0;
                    continue;
                };
                // Gauges and timers are ptsd's own health, not checked here.
                if let Some(Ok(v)) = value.strip_suffix("|c").map(str::parse::<f64>) {
                    *c.0.entry(name.to_string()).or_insert(0.0) += v;
                }
            }
        }
    });
    (port, counters, handle)
}

/// What one run measured, as a row of the summary table.
struct Row(String);

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn run(s: &Scenario, entries: &[Value], want: &BTreeMap<String, f64>) -> Row {
    let load = load_average();
    let fake = FakePagerDuty::start_blocking(TOKEN);
    fake.add_users(synthetic_users());
    let stop = Arc::new(AtomicBool::new(false));
    let (port, counters, sink) = start_udp_sink(stop.clone());
    let mut cmd = command(&fake, port);
    cmd.env("PTSD_OUTPUTS", "statsd")
        .env("PTSD_INTERVAL", format!("{INTERVAL_S}s"))
        .env("PTSD_LATENESS", format!("{LATENESS_S}s"))
        .env("PTSD_BACKFILL", "1m")
        .env("PTSD_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Reaped with wait4 below (for its rusage), not with Child::wait.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd.spawn().expect("start the ptsd binary");
    let pid = child.id() as libc::pid_t;
    let stderr = child.stderr.take().expect("piped stderr");
    let log = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    // The feed starts once the first poll has read its (empty) window.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fake.requests().iter().any(is_page) {
        assert!(Instant::now() < deadline, "ptsd made no first poll in 30 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    let fed = std::thread::scope(|sc| sc.spawn(|| feed(&fake, entries, s.late)).join())
        .expect("feeder thread");
    let feed_end = Instant::now();
    let counted = || oncall(counters.lock().expect("sink lock").0.clone());
    while counted() != *want && feed_end.elapsed() < DRAIN {
        std::thread::sleep(Duration::from_millis(20));
    }
    let settled_after = feed_end.elapsed();
    std::thread::sleep(AFTER);
    let (hwm_before_stop, rss_anon, rss_file) = proc_status(pid);
    let mappings = smaps(pid);
    // SAFETY: kill sends a signal to our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let (status, cpu, hwm) = reap(pid);
    stop.store(true, Ordering::SeqCst);
    sink.join().expect("sink thread");
    let got = counted();
    let exited_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let log = log.join().unwrap_or_default();
    if !exited_ok {
        println!("ptsd failed (wait status {status}):");
        log.iter().rev().take(20).for_each(|l| println!("  {l}"));
    }
    let pass = exited_ok && got == *want;
    if got != *want {
        report_mismatch(&got, want);
    }
    let datagrams = counters.lock().expect("sink lock").1;
    println!(
        "counters {} {:.1} s after the feed ended; {datagrams} datagrams; ptsd exit status {status}",
        if got == *want {
            "all in"
        } else {
            "NOT all in"
        },
        settled_after.as_secs_f64(),
    );
    let requests = fake.requests();
    let polls = polls(&requests);
    let ptsd_polls = logged_polls(&log);
    let t = tally(&polls, &requests, &fed);
    print_polls(&polls, &fed);
    let late = fed.iter().filter(|f| f.late).count();
    println!(
        "ptsd logged {} polls with {} requests in all (the fake saw {} requests to /log_entries and /users, check and directory included)",
        ptsd_polls.0, ptsd_polls.1, t.total
    );
    let kib = |k: f64| format!("{k:.0} KiB ({:.2} MiB)", k / 1024.0);
    println!(
        "peak RSS (VmHWM) {} (before SIGTERM: {}); RssAnon {} / RssFile {} before SIGTERM; CPU {cpu:.2} s",
        kib(hwm), kib(hwm_before_stop), kib(rss_anon), kib(rss_file)
    );
    println!("resident before SIGTERM, by mapping: {mappings}");
    Row(format!(
        "{load:.2} | {} | {} ({} + {} + {} + {}) | {:.2} ({:.2} + {:.2}) | {} | {} | {} | {late} | {} | {cpu:.2} | {:.2} MiB | {:.2} / {:.2} MiB",
        polls.len(),
        t.total, t.checks, t.users, t.counts, t.pages,
        (t.counts + t.pages) as f64 / polls.len() as f64,
        t.counts as f64 / polls.len() as f64,
        t.pages as f64 / polls.len() as f64,
        t.floor, t.old, t.rereads,
        if pass { "PASS" } else { "FAIL" },
        hwm / 1024.0, rss_anon / 1024.0, rss_file / 1024.0,
    ))
}

fn report_mismatch(got: &BTreeMap<String, f64>, want: &BTreeMap<String, f64>) {
    let mut shown = 0;
    for k in got.keys().chain(want.keys()) {
        let (g, w) = (got.get(k), want.get(k));
        if g != w && shown < 20 {
            println!("  {k}: received {g:?}, expected {w:?}");
            shown += 1;
        }
    }
}

/// [`ptsd_command`] for the binary in `PTSD_BENCH_BIN` (e.g. an older commit's build, to
/// measure it on the same feed), else this build's; `GLIBC_TUNABLES` is passed on when set
/// (malloc experiments).
fn command(fake: &FakePagerDuty, port: u16) -> std::process::Command {
    let mut cmd = match std::env::var("PTSD_BENCH_BIN") {
        Err(_) => ptsd_command(fake, TOKEN, port),
        Ok(bin) => {
            println!("binary: {bin}");
            let mut cmd = std::process::Command::new(bin);
            cmd.env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("PDTOKEN", TOKEN)
                .env("PAGERDUTY_API_URL", &fake.url)
                .env("STATSD_HOST", "127.0.0.1")
                .env("STATSD_PORT", port.to_string());
            cmd
        }
    };
    if let Ok(t) = std::env::var("GLIBC_TUNABLES") {
        cmd.env("GLIBC_TUNABLES", t);
    }
    cmd
}

/// The resident KiB of `pid` by mapping (the binary, each library, `[heap]`, anonymous
/// mappings, stacks), largest first: what the peak is made of.
fn smaps(pid: libc::pid_t) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    let mut name = String::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("Rss:") => {
                let kib: u64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                *by.entry(name.clone()).or_default() += kib;
            }
            Some(first) if first.contains('-') && !first.ends_with(':') => {
                let path = line.split_whitespace().nth(5).unwrap_or("[anonymous]");
                name = path.rsplit('/').next().unwrap_or(path).to_string();
            }
            _ => {}
        }
    }
    let mut v: Vec<(String, u64)> = by.into_iter().filter(|(_, k)| *k > 0).collect();
    v.sort_by_key(|b| std::cmp::Reverse(b.1));
    let parts: Vec<String> = v.iter().map(|(n, k)| format!("{n} {k} KiB")).collect();
    parts.join(", ")
}

/// `VmHWM`, `RssAnon` and `RssFile` of `pid`, in KiB (0 when unreadable).
fn proc_status(pid: libc::pid_t) -> (f64, f64, f64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0)
    };
    (kib("VmHWM:"), kib("RssAnon:"), kib("RssFile:"))
}

/// Waits for `pid` to exit (at most 10 s, then SIGKILL), reading its `VmHWM` until it is
/// reaped: wait4's `ru_maxrss` would carry this process's high-water mark across the exec.
/// Returns the wait status, the child's CPU seconds and its peak RSS in KiB.
fn reap(pid: libc::pid_t) -> (i32, f64, f64) {
    let (mut status, mut hwm) = (0, 0.0);
    // SAFETY: an all-zero rusage is valid; wait4 reaps our own child and writes what we own.
    let mut ru = unsafe { std::mem::zeroed::<libc::rusage>() };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) } {
            r if r == pid => break,
            0 => {}
            _ => {
                let e = std::io::Error::last_os_error();
                assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "wait4: {e}");
            }
        }
        let (h, _, _) = proc_status(pid);
        hwm = f64::max(hwm, h);
        if Instant::now() > deadline {
            println!("ptsd did not exit within 10 s of SIGTERM; killed");
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (status, secs(ru.ru_utime) + secs(ru.ru_stime), hwm)
}

/// How many "Polled." lines ptsd logged and the requests they name.
fn logged_polls(log: &[String]) -> (u64, u64) {
    let mut out = (0, 0);
    for line in log {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["fields"]["message"] == "Polled." {
            out.0 += 1;
            out.1 += v["fields"]["requests"].as_u64().unwrap_or(0);
        }
    }
    out
}

fn is_log_entries(r: &RecordedRequest) -> bool {
    r.path == "/log_entries"
}

/// A page of a read (`limit=100`).
fn is_page(r: &RecordedRequest) -> bool {
    is_log_entries(r) && r.param("limit") == Some("100")
}

/// A count before a re-read (`total=true&limit=1`); the start-up check asks `limit=1` alone.
fn is_count(r: &RecordedRequest) -> bool {
    is_log_entries(r) && r.param("limit") == Some("1") && r.param("total") == Some("true")
}

fn at(r: &RecordedRequest, key: &str) -> Timestamp {
    r.param(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} in {}", r.raw_query))
}

/// One poll as the fake saw it.
struct Poll {
    /// When its first request arrived.
    began: Instant,
    /// Its count, if any: the window counted.
    count: Option<(Timestamp, Timestamp)>,
    /// The window its pages asked for, and how many pages.
    read: (Timestamp, Timestamp),
    pages: u64,
}

impl Poll {
    /// Whether the pages read the part already read again (the count differed).
    fn reread(&self) -> bool {
        self.count
            .is_some_and(|(_, until)| self.read.0 < until - SignedDuration::from_secs(3))
    }
}

/// Groups the request log into polls: a poll begins with a count, or with a first page
/// (`offset=0`) that does not follow its poll's count.
fn polls(requests: &[RecordedRequest]) -> Vec<Poll> {
    let mut out: Vec<Poll> = Vec::new();
    for r in requests {
        if is_count(r) {
            out.push(Poll {
                began: r.received,
                count: Some((at(r, "since"), at(r, "until"))),
                read: (at(r, "since"), at(r, "until")),
                pages: 0,
            });
        } else if is_page(r) {
            let window = (at(r, "since"), at(r, "until"));
            let first = r.param("offset") == Some("0");
            match out.last_mut() {
                Some(p) if p.pages == 0 && p.count.is_some() => {
                    p.read = window;
                    p.pages = 1;
                }
                Some(p) if !first && p.read == window => p.pages += 1,
                _ => out.push(Poll {
                    began: r.received,
                    count: None,
                    read: window,
                    pages: 1,
                }),
            }
        }
    }
    out
}

/// The entries the fake held when `began` and that fall in `[since, until)`.
fn visible(fed: &[Fed], began: Instant, since: Timestamp, until: Timestamp) -> usize {
    fed.iter()
        .filter(|f| f.added < began && f.at >= since && f.at < until)
        .count()
}

struct Tally {
    total: usize,
    checks: usize,
    users: usize,
    counts: u64,
    pages: u64,
    floor: u64,
    old: u64,
    rereads: usize,
}

/// What one poll read and what it would have cost at the floor and the old way.
struct Cost {
    /// Entries the fake held in the window its pages asked for.
    in_read: usize,
    /// Entries that became visible since the previous poll began, and the late ones among them.
    new: usize,
    late: usize,
    floor: u64,
    old: u64,
}

fn pages_for(n: usize) -> u64 {
    n.div_ceil(100).max(1) as u64
}

fn cost(polls: &[Poll], k: usize, fed: &[Fed]) -> Cost {
    let p = &polls[k];
    let prev = k.checked_sub(1).map(|j| polls[j].began);
    let fresh: Vec<&Fed> = fed
        .iter()
        .filter(|f| f.added < p.began && prev.is_none_or(|b| f.added >= b))
        .collect();
    let new = fresh.len();
    // The old behaviour read [cursor - PTSD_LATENESS, until] one second wider on each side,
    // the cursor being where the previous poll's window ended (its pages asked one more second).
    let old_since = match k {
        0 => p.read.0,
        _ => (polls[k - 1].read.1 - SignedDuration::from_secs(LATENESS_S + 2 * MARGIN_S))
            .max(polls[0].read.0),
    };
    Cost {
        in_read: visible(fed, p.began, p.read.0, p.read.1),
        new,
        late: fresh.iter().filter(|f| f.late).count(),
        floor: pages_for(new) + u64::from(k > 0),
        old: pages_for(visible(fed, p.began, old_since, p.read.1)),
    }
}

fn tally(polls: &[Poll], requests: &[RecordedRequest], fed: &[Fed]) -> Tally {
    let costs: Vec<Cost> = (0..polls.len()).map(|k| cost(polls, k, fed)).collect();
    Tally {
        total: requests.len(),
        checks: requests
            .iter()
            .filter(|r| is_log_entries(r) && r.param("limit") == Some("1") && !is_count(r))
            .count(),
        users: requests.iter().filter(|r| r.path == "/users").count(),
        counts: polls.iter().filter(|p| p.count.is_some()).count() as u64,
        pages: polls.iter().map(|p| p.pages).sum(),
        floor: costs.iter().map(|c| c.floor).sum(),
        old: costs.iter().map(|c| c.old).sum(),
        rereads: polls.iter().filter(|p| p.reread()).count(),
    }
}

/// One line per poll: what it asked and what the floor and the old way would have cost.
fn print_polls(polls: &[Poll], fed: &[Fed]) {
    let Some(first) = polls.first() else {
        println!("no polls recorded");
        return;
    };
    println!("| poll | at s | count | re-read | pages | read window s | entries in it | new entries (late) | floor | old way |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (k, p) in polls.iter().enumerate() {
        let c = cost(polls, k, fed);
        println!(
            "| {} | {:.1} | {} | {} | {} | {:.0} | {} | {} ({}) | {} | {} |",
            k + 1,
            p.began.duration_since(first.began).as_secs_f64(),
            if p.count.is_some() { 1 } else { 0 },
            if p.reread() { "yes" } else { "" },
            p.pages,
            p.read.1.duration_since(p.read.0).as_secs_f64(),
            c.in_read,
            c.new,
            c.late,
            c.floor,
            c.old,
        );
    }
}

fn load_average() -> f64 {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace()
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(f64::NAN)
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
    println!("# ptsd live-polling benchmark");
    println!(
        "machine: {} CPUs ({}), {} RAM, Linux {}; {rustc}; ptsd binary {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        field(&read("/proc/cpuinfo"), "model name"),
        field(&read("/proc/meminfo"), "MemTotal"),
        read("/proc/sys/kernel/osrelease").trim(),
        env!("CARGO_BIN_EXE_ptsd")
    );
}
