//! When the machine itself misbehaves (issue 22), end to end through the real `ptsd` binary: a
//! state filesystem that is full (a real tmpfs filled to the last page), a clock behind the
//! saved cursor (an edited state file), a listing that never ends, a page that is not a page,
//! a token file that is a FIFO, a blocking start-up step under SIGTERM, SIGHUP, misspelt
//! variables, JSON logs to the last line, and an edited state whose floor is after its cursor.
//!
//! Why: each of these was reproduced against the release binary, and only the binary shows
//! that the pieces (the write-ahead save, the engine, the status file behind `ptsd health`, the
//! signal handling) keep the promise together: every event counted once, or a clear line.
//! Synchronisation is by polling (StatsD's counters, files, a FIFO's reader) with deadlines.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use support::*;

const TOKEN: &str = "u+machineFaultToken42xyz";
/// How long to wait for StatsD to show what a finished run sent.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);
/// A run that should end at once is given this long before it is killed and the test fails.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// A fresh directory in the temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let d = std::env::temp_dir().join(format!(
            "ptsd-machine-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `cmd` to its end, killing it (and failing) after [`RUN_DEADLINE`]; checks the token
/// never reached its output.
fn run(cmd: &mut Command) -> (Output, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ptsd runs");
    let deadline = Instant::now() + RUN_DEADLINE;
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "ptsd did not end within {RUN_DEADLINE:?}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains(TOKEN), "the token leaked:\n{stderr}");
    (out, stderr)
}

/// Waits for `child` to exit within `within`, killing it (and failing) otherwise.
fn exits_within(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ptsd did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sum(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut out = a.clone();
    for (k, v) in b {
        *out.entry(k.clone()).or_insert(0.0) += v;
    }
    out
}

/// Waits until StatsD's on-call counters equal `want` (or the timeout), returns the last read.
fn wait_exact(peer: &StatsdPeer, want: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut got = BTreeMap::new();
    wait_until(SETTLE_TIMEOUT, || {
        got = oncall(peer.counters());
        &got == want
    });
    got
}

/// Waits until ptsd's own `polls.failed` counter reaches `n`: the end of a failed poll, sent
/// after any part of it would have been.
fn wait_polls_failed(peer: &StatsdPeer, n: f64) -> f64 {
    let key = "ptsd.ptsd.pagerduty.polls.failed";
    let mut got = 0.0;
    wait_until(SETTLE_TIMEOUT, || {
        got = peer.counters().get(key).copied().unwrap_or(0.0);
        got >= n
    });
    got
}

/// A fake PagerDuty holding `a` incidents from 7 h ago (read by the first run's backfill) and
/// the `b` incidents returned, from 1 h 50 min ago, to be added later (late arrivals that a
/// 2 h `PTSD_LATENESS` re-read finds).
fn two_batches(
    a: usize,
    b: usize,
) -> (
    FakePagerDuty,
    ExpectedCounts,
    Vec<serde_json::Value>,
    ExpectedCounts,
) {
    let fake = FakePagerDuty::start_blocking(TOKEN);
    let now = Timestamp::now();
    let (first, first_expected) = synthetic_incidents(
        a,
        now - SignedDuration::from_secs(7 * 3600),
        Duration::from_secs(120),
        2201,
    );
    fake.add_entries(first);
    let (later, later_expected) = synthetic_incidents(
        b,
        now - SignedDuration::from_secs(110 * 60),
        Duration::from_secs(60),
        2202,
    );
    (fake, first_expected, later, later_expected)
}

/// `ptsd --once` against `fake` and `peer`, reading everything since 9 h ago in one window and
/// re-reading the last 2 h.
fn once(fake: &FakePagerDuty, peer: &StatsdPeer, state_dir: &Path) -> Command {
    let mut cmd = ptsd_command(fake, TOKEN, peer.udp_port);
    cmd.env("PTSD_ONCE", "true")
        .env("PTSD_BACKFILL", "9h")
        .env("PTSD_MAX_WINDOW", "12h")
        .env("PTSD_LATENESS", "2h")
        .env("PTSD_STATE_DIR", state_dir)
        .env("RUST_LOG", "info");
    cmd
}

/// A small tmpfs mounted in a user and mount namespace of its own (no root needed where the
/// kernel allows unprivileged user namespaces), held by a sleeping process; commands enter it
/// with `nsenter`. Unmounted with the namespace when dropped.
struct SmallFs {
    holder: Child,
    dir: TempDir,
}

impl SmallFs {
    fn mount(size: &str) -> Option<SmallFs> {
        let dir = TempDir::new("tmpfs");
        let script = format!(
            "mount -t tmpfs -o size={size} ptsd-test {} && echo ready && exec sleep 600",
            dir.path().display()
        );
        let mut holder = Command::new("unshare")
            .args(["-r", "-m", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        let mut line = String::new();
        let stdout = holder.stdout.take().expect("piped");
        BufReader::new(stdout).read_line(&mut line).ok()?;
        if line.trim() != "ready" {
            let _ = holder.kill();
            let _ = holder.wait();
            return None;
        }
        Some(SmallFs { holder, dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `program` run inside the namespace that sees the tmpfs.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args([
            "-t",
            &self.holder.id().to_string(),
            "-U",
            "-m",
            "--preserve-credentials",
            "--",
        ])
        .arg(program);
        cmd
    }

    /// Runs `sh -c script` inside the namespace; returns whether it succeeded.
    fn sh(&self, script: &str) -> bool {
        self.command("sh")
            .args(["-c", script])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `cmd` (built for the host) re-targeted to run inside the namespace, same environment.
    fn wrap(&self, cmd: &Command) -> Command {
        let mut inner = self.command(cmd.get_program().to_str().expect("UTF-8 path"));
        inner.args(cmd.get_args());
        inner.env_clear();
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                inner.env(k, v);
            }
        }
        inner
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

#[test]
fn a_full_state_disk_sends_nothing_and_restarts_never_send_a_count_twice() {
    let Some(fs) = SmallFs::mount("1m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs in a user namespace here (unshare -rm)");
        return;
    };
    let state = fs.path().join("state");
    let (fake, first, later, second) = two_batches(40, 20);
    let mut peer = StatsdPeer::start();

    // A first run on a disk with room: the state is saved, everything counted once.
    let (out, stderr) = run(&mut fs.wrap(&once(&fake, &peer, &state)));
    assert!(out.status.success(), "first run failed:\n{stderr}");
    let want_first = expected_plain(&first);
    assert_eq!(wait_exact(&peer, &want_first), want_first);

    // Later entries arrive; the state filesystem fills up to its last page.
    fake.add_entries(later);
    assert!(!fs.sh(&format!("cat /dev/zero > {}/fill", fs.path().display())));
    assert!(
        !fs.sh(&format!("echo x > {}/probe", fs.path().display())),
        "the tmpfs is not full"
    );

    // Restart after restart on the full disk: each run fails, saying why, and sends nothing.
    for attempt in 1..=3 {
        let (out, stderr) = run(&mut fs.wrap(&once(&fake, &peer, &state)));
        // First what matters: nothing was sent that the state could not record.
        let failed = wait_polls_failed(&peer, attempt as f64);
        assert_eq!(
            oncall(peer.counters()),
            want_first,
            "run {attempt} on a full disk sent counts it could not record"
        );
        assert_eq!(failed, attempt as f64, "polls.failed after run {attempt}");
        assert!(
            !out.status.success(),
            "run {attempt} on a full disk succeeded:\n{stderr}"
        );
        assert!(
            stderr.contains("No space left on device") && stderr.contains(state.to_str().unwrap()),
            "the error names neither the cause nor the directory:\n{stderr}"
        );
        assert!(stderr.contains("nothing was sent"), "{stderr}");
        // `ptsd health` says what is wrong.
        let mut health = fs.wrap(&once(&fake, &peer, &state));
        health.arg("health");
        let (out, text) = run(&mut health);
        let said = format!("{}{text}", String::from_utf8_lossy(&out.stdout));
        assert!(
            !out.status.success(),
            "health is green on a full disk: {said}"
        );
        assert!(said.contains("No space left on device"), "{said}");
    }

    // Room again: the next run counts the later entries, once.
    assert!(fs.sh(&format!("rm {}/fill", fs.path().display())));
    let (out, stderr) = run(&mut fs.wrap(&once(&fake, &peer, &state)));
    assert!(
        out.status.success(),
        "run after the disk has room failed:\n{stderr}"
    );
    let want_all = sum(&want_first, &expected_plain(&second));
    assert_eq!(wait_exact(&peer, &want_all), want_all);
    // And a further restart adds nothing.
    let (out, stderr) = run(&mut fs.wrap(&once(&fake, &peer, &state)));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(wait_exact(&peer, &want_all), want_all);
    assert_eq!(peer.bad_lines(), 0.0);
    peer.stop();
}

#[test]
fn a_clock_behind_the_saved_cursor_is_named_and_reading_goes_on_from_the_clock() {
    let dir = TempDir::new("clock");
    let state = dir.join("state");
    let (fake, first, later, second) = two_batches(30, 20);
    let mut peer = StatsdPeer::start();
    let (out, stderr) = run(&mut once(&fake, &peer, &state));
    assert!(out.status.success(), "{stderr}");
    let want_first = expected_plain(&first);
    assert_eq!(wait_exact(&peer, &want_first), want_first);

    // The clock steps back an hour after the save: as if the saved cursor were an hour ahead.
    let file = state.join("state.json");
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let ahead = (Timestamp::now() + SignedDuration::from_hours(1)).to_string();
    let pd = &mut saved["collectors"]["pagerduty"];
    pd["cursor"] = serde_json::json!(ahead);
    pd["settled"] = serde_json::json!(ahead);
    std::fs::write(&file, serde_json::to_vec(&saved).unwrap()).unwrap();
    fake.add_entries(later);

    let (out, stderr) = run(&mut once(&fake, &peer, &state));
    assert!(out.status.success(), "{stderr}");
    let warning = stderr
        .lines()
        .find(|l| l.contains("The clock is behind the saved cursor"))
        .unwrap_or_else(|| panic!("no warning:\n{stderr}"));
    assert!(
        warning.contains(&ahead),
        "the warning names the cursor: {warning}"
    );
    assert!(
        warning.contains("clock="),
        "the warning names the clock: {warning}"
    );
    // Nothing lost, nothing doubled.
    let want_all = sum(&want_first, &expected_plain(&second));
    assert_eq!(wait_exact(&peer, &want_all), want_all);
    // `ptsd health` reports it.
    let mut health = once(&fake, &peer, &state);
    health.arg("health");
    let (out, text) = run(&mut health);
    let said = format!("{}{text}", String::from_utf8_lossy(&out.stdout));
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("ahead of the clock") && said.contains(&ahead),
        "{said}"
    );
    peer.stop();
}

#[test]
fn a_state_whose_floor_is_after_its_cursor_is_refused_at_start() {
    let dir = TempDir::new("floor");
    let state = dir.join("state");
    let (fake, _, _, _) = two_batches(2, 0);
    let mut peer = StatsdPeer::start();
    let (out, stderr) = run(&mut once(&fake, &peer, &state));
    assert!(out.status.success(), "{stderr}");
    let file = state.join("state.json");
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let cursor = saved["collectors"]["pagerduty"]["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let floor: Timestamp = cursor.parse::<Timestamp>().unwrap() + SignedDuration::from_secs(60);
    saved["collectors"]["pagerduty"]["floor"] = serde_json::json!(floor.to_string());
    std::fs::write(&file, serde_json::to_vec(&saved).unwrap()).unwrap();
    fake.clear_requests();
    let (out, stderr) = run(&mut once(&fake, &peer, &state));
    assert!(!out.status.success());
    assert!(
        stderr.contains("floor") && stderr.contains("after its cursor"),
        "{stderr}"
    );
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/log_entries" && r.param("limit") != Some("1"))
        .count();
    assert_eq!(pages, 0, "a refused state read nothing");
    peer.stop();
}

/// A page of one entry that says more follow, with `total: 1`.
fn endless_page(entry: &serde_json::Value) -> String {
    serde_json::json!({
        "log_entries": [entry], "limit": 100, "offset": 0, "more": true, "total": 1
    })
    .to_string()
}

#[test]
fn a_listing_that_never_ends_fails_its_window_instead_of_paging_for_ever() {
    let (fake, _, later, _) = two_batches(1, 1);
    let mut peer = StatsdPeer::start();
    for _ in 0..500 {
        fake.inject("/log_entries", Fault::Body(endless_page(&later[0])));
    }
    let dir = TempDir::new("endless");
    let mut cmd = once(&fake, &peer, &dir.join("state"));
    cmd.env("PTSD_MAX_REQUESTS_PER_MINUTE", "0");
    let (out, stderr) = run(&mut cmd);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("The listing does not progress") && stderr.contains("since="),
        "no warning naming the window:\n{stderr}"
    );
    let requests = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/log_entries")
        .count();
    assert!(
        requests <= 4,
        "{requests} requests for a listing that repeats"
    );
    peer.stop();
}

#[test]
fn a_page_that_is_not_an_object_is_malformed_and_never_counted_as_read() {
    let (fake, first, _, _) = two_batches(10, 0);
    let mut peer = StatsdPeer::start();
    // The start-up check passes; then every try of the first page gets a top-level array.
    fake.inject("/log_entries", Fault::Delay(Duration::ZERO));
    for _ in 0..4 {
        fake.inject("/log_entries", Fault::Body("[[[]]]".into()));
    }
    let dir = TempDir::new("shape");
    let state = dir.join("state");
    let (out, stderr) = run(&mut once(&fake, &peer, &state));
    assert!(
        !out.status.success(),
        "a top-level array passed as a page:\n{stderr}"
    );
    assert!(stderr.contains("not the JSON expected"), "{stderr}");
    assert_eq!(wait_polls_failed(&peer, 1.0), 1.0);
    assert!(
        oncall(peer.counters()).is_empty(),
        "counted from a non-page"
    );
    // The window was not passed over: the next run counts it all, once.
    let (out, stderr) = run(&mut once(&fake, &peer, &state));
    assert!(out.status.success(), "{stderr}");
    let want = expected_plain(&first);
    assert_eq!(wait_exact(&peer, &want), want);
    peer.stop();
}

#[test]
fn a_redirect_to_another_host_is_refused() {
    let (fake, _, _, _) = two_batches(1, 0);
    let mut peer = StatsdPeer::start();
    let elsewhere = fake.url.replace("127.0.0.1", "localhost");
    fake.inject("/log_entries", Fault::Delay(Duration::ZERO));
    fake.inject(
        "/log_entries",
        Fault::Redirect(format!("{elsewhere}/log_entries")),
    );
    let dir = TempDir::new("redirect");
    let (out, stderr) = run(&mut once(&fake, &peer, &dir.join("state")));
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("a redirect to another host (localhost) is refused"),
        "{stderr}"
    );
    let followed = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/log_entries")
        .count();
    assert_eq!(followed, 2, "the redirect was followed");
    peer.stop();
}

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

#[test]
fn a_token_file_must_be_a_small_regular_file() {
    let dir = TempDir::new("tokenfile");
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let big = dir.join("big");
    std::fs::write(&big, vec![b'a'; 100 << 10]).unwrap();
    let link = dir.join("link");
    std::fs::write(dir.join("real"), TOKEN).unwrap();
    std::os::unix::fs::symlink(dir.join("real"), &link).unwrap();
    let fake = FakePagerDuty::start_blocking(TOKEN);
    for (file, want) in [
        (&fifo, Some("is not a regular file")),
        (&big, Some("is larger than 64 KiB")),
        (&dir.join("missing"), Some("cannot be read")),
        (&link, None),
    ] {
        let mut cmd = ptsd_command(&fake, TOKEN, 9);
        cmd.env_remove("PDTOKEN")
            .env("PDTOKEN_FILE", file)
            .env("PTSD_ONCE", "true")
            .env("PTSD_OUTPUTS", "stdout");
        let (out, stderr) = run(&mut cmd);
        match want {
            Some(want) => {
                assert!(!out.status.success());
                let line = stderr.lines().last().unwrap_or_default();
                assert!(
                    line.contains("PDTOKEN_FILE") && line.contains(want),
                    "{stderr}"
                );
            }
            None => assert!(out.status.success(), "a symlink to a token file: {stderr}"),
        }
    }
}

#[test]
fn sigterm_during_a_blocking_start_up_read_stops_ptsd_within_two_seconds() {
    let dir = TempDir::new("blocked");
    let fifo = dir.join("rules.toml");
    mkfifo(&fifo);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ptsd"))
        .env_clear()
        .env("PTSD_DEMO", "true")
        .env("PTSD_CATEGORY_RULES", &fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ptsd runs");
    // Once ptsd opened the FIFO to read it, a non-blocking open for writing succeeds; held
    // open (and never written), it keeps ptsd waiting in its read.
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    let mut writer = -1;
    let reading = wait_until(Duration::from_secs(20), || {
        // SAFETY: a valid path; the descriptor is closed below.
        writer = unsafe { libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_NONBLOCK) };
        writer >= 0
    });
    assert!(reading, "ptsd never opened the rules file");
    sigterm(&child);
    let status = exits_within(&mut child, Duration::from_secs(2));
    // SAFETY: the descriptor opened above.
    unsafe { libc::close(writer) };
    assert!(status.success(), "{status:?}");
}

#[test]
fn sighup_stops_ptsd_cleanly_and_removes_its_status_file() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ptsd"))
        .env_clear()
        .env("PTSD_DEMO", "true")
        .env("PTSD_INTERVAL", "1s")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ptsd runs");
    let status_file = std::env::temp_dir().join(format!("ptsd-status-{}.json", child.id()));
    assert!(
        wait_until(Duration::from_secs(30), || status_file.exists()),
        "no status file"
    );
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let status = exits_within(&mut child, Duration::from_secs(2));
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(stderr.contains("Shutdown signal received"), "{stderr}");
    assert!(stderr.contains("Stopped."), "{stderr}");
    assert!(!status_file.exists(), "the status file was left behind");
}

#[test]
fn misspelt_variables_are_named_with_the_nearest_known_one() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ptsd"));
    cmd.env_clear()
        .env("PTSD_DEMO", "true")
        .env("PTSD_ONCE", "true")
        .env("PTSD_INTREVAL", "5s")
        .env("PTSD_OUTPUT", "graphite")
        .env("STATSD_HOTS", "statsd.example")
        .env("PTSD_INTERVAL", "5s");
    let (out, stderr) = run(&mut cmd);
    assert!(out.status.success(), "{stderr}");
    for (bad, near) in [
        ("PTSD_INTREVAL", "PTSD_INTERVAL"),
        ("PTSD_OUTPUT", "PTSD_OUTPUTS"),
        ("STATSD_HOTS", "STATSD_HOST"),
    ] {
        let line = format!("{bad}: unknown; did you mean {near}?");
        assert_eq!(stderr.matches(&line).count(), 1, "{line}:\n{stderr}");
    }
    assert!(!stderr.contains("PTSD_INTERVAL: unknown"), "{stderr}");
    assert!(!stderr.contains("statsd.example"), "a value was printed");
}

#[test]
fn json_logs_hold_to_the_last_line() {
    // No collector configured: the fatal start-up line.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ptsd"));
    cmd.env_clear().env("PTSD_LOG_FORMAT", "json");
    let (out, stderr) = run(&mut cmd);
    assert!(!out.status.success());
    // And a bad option, rejected before the options could be read.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ptsd"));
    cmd.env_clear()
        .env("PTSD_LOG_FORMAT", "json")
        .arg("--no-such-flag");
    let (bad, bad_stderr) = run(&mut cmd);
    assert!(!bad.status.success());
    for text in [&stderr, &bad_stderr] {
        assert!(!text.trim().is_empty());
        for line in text.lines() {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(v["level"].is_string(), "{line}");
        }
    }
    assert!(stderr.contains("PDTOKEN"), "{stderr}");
}
