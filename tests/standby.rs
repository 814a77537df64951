//! One owner per state directory, end to end: a second `ptsd` on the same `PTSD_STATE_DIR` (a
//! rolling update, a replica on a shared volume) waits as a standby while the first runs,
//! `ptsd health` says so and exits 0, and when the first stops the second resumes from the
//! saved state: the real StatsD daemon then holds every event exactly once, the ones counted by
//! the first and the ones that arrived while it was going away.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use support::*;

const TOKEN: &str = "u+standbyToken4242";

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ptsd-standby-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `ptsd` on `state`, with its own temp dir `tmp` (a container's `/tmp`).
fn command(fake: &FakePagerDuty, peer: &StatsdPeer, state: &Path, tmp: &Path) -> Command {
    let mut cmd = ptsd_command(fake, TOKEN, peer.udp_port);
    cmd.env("PTSD_STATE_DIR", state)
        .env("TMPDIR", tmp)
        .env("PTSD_INTERVAL", "1s")
        .env("PTSD_BACKFILL", "9h")
        .env("PTSD_MAX_REQUESTS_PER_MINUTE", "0")
        .env("RUST_LOG", "info");
    cmd
}

/// Starts `cmd` and forwards its log lines to the returned channel (a full pipe would block it).
fn spawn(cmd: &mut Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ptsd starts");
    let (tx, rx) = mpsc::channel();
    let pipe = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Waits for a log line containing `needle`.
fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no log line with {needle:?}: {e}"),
        }
    }
}

#[test]
fn a_second_daemon_waits_then_takes_over_and_nothing_counts_twice() {
    let fake = FakePagerDuty::start_blocking(TOKEN);
    let peer = StatsdPeer::start();
    let start = Timestamp::now() - SignedDuration::from_hours(6);
    let (entries, expected) = synthetic_incidents(40, start, Duration::from_secs(180), 61);
    fake.add_entries(entries);
    let state = dir("state");
    let (tmp_a, tmp_b) = (dir("tmp-a"), dir("tmp-b"));

    let (mut a, _a_log) = spawn(&mut command(&fake, &peer, &state, &tmp_a));
    let want = expected_plain(&expected);
    assert_eq!(wait_for_oncall(&peer, &want, Duration::from_secs(30)), want);

    // The second one waits, and says so in its log and to `ptsd health`.
    let (mut b, b_log) = spawn(&mut command(&fake, &peer, &state, &tmp_b));
    let line = wait_for_line(&b_log, "waiting as a standby");
    assert!(line.contains(&format!("pid {}", a.id())), "{line}");
    let health = command(&fake, &peer, &state, &tmp_b)
        .arg("health")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&health.stdout);
    assert!(health.status.success(), "{said}");
    assert!(said.starts_with("standby"), "{said}");
    // The first one's own health is its polls, not the standby's.
    let health = command(&fake, &peer, &state, &tmp_a)
        .arg("health")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&health.stdout).starts_with("healthy"));

    // More events arrive while the first goes away; the second counts them, once.
    let later = Timestamp::now() - SignedDuration::from_secs(120);
    let (more, _) = synthetic_incidents(5, later, Duration::from_secs(10), 62);
    let now = Timestamp::now();
    let more: Vec<_> = more
        .into_iter()
        .filter(|e| {
            e["created_at"]
                .as_str()
                .unwrap()
                .parse::<Timestamp>()
                .unwrap()
                < now
        })
        .collect();
    // Only the entries already created are served; what they count is added below.
    let kept = more.len();
    fake.add_entries(more.clone());
    sigterm(&a);
    assert!(wait_exit(&mut a, Duration::from_secs(5)).success());
    wait_for_line(&b_log, "taking over from the saved state");
    let mut want = expected_plain(&expected);
    for name in more.iter().flat_map(plain_counts) {
        *want.entry(format!("ptsd.pagerduty.{name}")).or_default() += 1.0;
    }
    let got = wait_for_oncall(&peer, &want, Duration::from_secs(30));
    sigterm(&b);
    assert!(wait_exit(&mut b, Duration::from_secs(5)).success());
    assert!(kept > 0);
    assert_eq!(got, want);
    for d in [state, tmp_a, tmp_b] {
        let _ = std::fs::remove_dir_all(d);
    }
}
