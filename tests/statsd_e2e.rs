//! End to end, as a user runs it: the real `ptsd` binary polls the fake PagerDuty API and
//! sends to the real Etsy StatsD daemon; the counters read back from StatsD's admin port must
//! equal the events generated, exactly, in both flavors and across a restart.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use support::*;

const TOKEN: &str = "u+e2eSecretToken42xyz";

fn command(fake: &FakePagerDuty, peer: &StatsdPeer, env: &[(&str, &str)]) -> Command {
    let mut cmd = ptsd_command(fake, TOKEN, peer.udp_port);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("ptsd runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ptsd failed: {stderr}");
    assert!(!stderr.contains(TOKEN), "the token leaked into the log");
    out
}

/// Counter keys as Etsy statsd stores them, for `expected`, in `flavor`.
fn expected_counters(expected: &ExpectedCounts, dogstatsd: bool) -> BTreeMap<String, f64> {
    if dogstatsd {
        expected_tagged_people(expected)
    } else {
        expected_plain(expected)
    }
}

fn assert_counters(peer: &StatsdPeer, want: &BTreeMap<String, f64>, prefix_filter: &str) {
    let got = wait_for_oncall(peer, want, Duration::from_secs(10));
    let got: BTreeMap<String, f64> = got
        .into_iter()
        .filter(|(k, _)| k.starts_with(prefix_filter))
        .collect();
    let want_filtered: BTreeMap<String, f64> = want
        .iter()
        .filter(|(k, _)| k.starts_with(prefix_filter))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(got, want_filtered);
    assert_eq!(peer.bad_lines(), 0.0, "StatsD saw malformed lines");
}

fn seeded_fake(seed: u64) -> (FakePagerDuty, ExpectedCounts) {
    let fake = FakePagerDuty::start_blocking(TOKEN);
    let now = Timestamp::now();
    let (entries, expected) = synthetic_incidents(
        80,
        now - SignedDuration::from_secs(6 * 3600),
        Duration::from_secs(120),
        seed,
    );
    fake.add_entries(entries);
    (fake, expected)
}

#[test]
fn plain_flavor_counters_equal_the_events() {
    let (fake, expected) = seeded_fake(21);
    let peer = StatsdPeer::start();
    run(command(&fake, &peer, &[("PTSD_BACKFILL", "9h")]).arg("--once"));
    let want = expected_counters(&expected, false);
    assert_counters(&peer, &want, "ptsd.");
    // ptsd's own metrics came along: one successful poll, its requests all 2xx.
    let own = peer.counters();
    assert_eq!(
        own.get("ptsd.ptsd.pagerduty.polls.ok"),
        Some(&1.0),
        "{own:?}"
    );
    let requests = fake.requests().len() as f64;
    assert_eq!(
        own.get("ptsd.ptsd.pagerduty.api_requests.2xx"),
        Some(&requests),
        "every request, the start-up check included"
    );
}

#[test]
fn a_statsd_agent_that_is_down_gets_everything_once_it_is_back() {
    let fake = FakePagerDuty::start_blocking(TOKEN);
    let port = free_udp_port();
    let dir = state_dir("agent-down");
    let mut cmd = ptsd_command(&fake, TOKEN, port);
    cmd.env("PTSD_STATE_DIR", &dir)
        .env("PTSD_INTERVAL", "1s")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("ptsd starts");
    let wait_requests = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(15);
        let target = fake.requests().len() + n;
        while fake.requests().len() < target {
            assert!(Instant::now() < deadline, "ptsd stopped polling");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    // The start-up check (log entries, users) and the first poll: the engine has started, so
    // what is added now is after the moment it counts from (nothing before it is counted).
    wait_requests(3);
    let mut stream = Stream {
        n: 0,
        expected: ExpectedCounts::default(),
    };
    stream.add(&fake, 6);
    // Several polls read the events while nothing listens on the port.
    wait_requests(4);
    let peer = StatsdPeer::start_on(port);
    stream.add(&fake, 3);
    let want = expected_counters(&stream.expected, false);
    let got = wait_for_oncall(&peer, &want, Duration::from_secs(15));
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(5)).success());
    assert_eq!(got, want);
}

#[test]
fn dogstatsd_flavor_counters_equal_the_events() {
    let (fake, expected) = seeded_fake(22);
    let peer = StatsdPeer::start();
    run(command(
        &fake,
        &peer,
        &[("PTSD_BACKFILL", "9h"), ("PTSD_STATSD_FLAVOR", "dogstatsd")],
    )
    .arg("--once"));
    let want = expected_counters(&expected, true);
    // Incidents: the (service, urgency) split sums to the incident count.
    let got = wait_for_oncall(&peer, &want, Duration::from_secs(10));
    let incidents: f64 = got
        .iter()
        .filter(|(k, _)| k.starts_with("ptsd.incidents;provider=pagerduty;service="))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(incidents, expected.incidents as f64);
    let got: BTreeMap<String, f64> = got
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with("ptsd.")
                && !k.starts_with("ptsd.incidents;")
                && !k.starts_with("ptsd.ptsd.")
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(peer.bad_lines(), 0.0, "StatsD saw malformed lines");
}

fn state_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ptsd-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A steady stream of incidents: trigger + assign + notify + ack by a user, stamped now.
struct Stream {
    n: usize,
    expected: ExpectedCounts,
}

impl Stream {
    fn add(&mut self, fake: &FakePagerDuty, count: usize) {
        let users = [("PU1", "Ada Lovelace"), ("PU2", "Grace Hopper")];
        for _ in 0..count {
            let i = self.n;
            self.n += 1;
            let at = Timestamp::now();
            let (uid, uname) = users[i % 2];
            let inc = Incident::new(&format!("PST{i:05}"), "Checkout API", "high");
            fake.add_entries(vec![
                trigger(&format!("RS{i:05}a"), at, &inc),
                notify(&format!("RS{i:05}b"), at, &inc, uid, uname, "sms"),
                acknowledge(
                    &format!("RS{i:05}c"),
                    at,
                    &inc,
                    uid,
                    uname,
                    "user_reference",
                ),
            ]);
            self.expected.incidents += 1;
            *self
                .expected
                .incidents_by_urgency
                .entry("high".into())
                .or_default() += 1;
            *self
                .expected
                .incidents_by_service
                .entry("Checkout API".into())
                .or_default() += 1;
            *self
                .expected
                .notifications
                .entry((uname.into(), "sms".into()))
                .or_default() += 1;
            *self.expected.acks.entry(uname.into()).or_default() += 1;
        }
    }
}

#[test]
fn events_arriving_across_a_restart_are_counted_exactly_once() {
    let fake = FakePagerDuty::start_blocking(TOKEN);
    let peer = StatsdPeer::start();
    let dir = state_dir("restart");
    let dir_s = dir.to_str().unwrap().to_string();
    let env = [
        ("PTSD_STATE_DIR", dir_s.as_str()),
        ("PTSD_INTERVAL", "1s"),
        ("PTSD_LATENESS", "30s"),
    ];
    let mut stream = Stream {
        n: 0,
        expected: ExpectedCounts::default(),
    };
    // Each run's stderr is drained by a thread (a full pipe would block ptsd) and kept.
    let spawn = || {
        let mut child = command(&fake, &peer, &env)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ptsd starts");
        let mut pipe = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut pipe, &mut s).unwrap();
            s
        });
        (child, reader)
    };

    let (mut first, first_log) = spawn();
    let polls_seen = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(15);
        let target = fake.requests().len() + n;
        while fake.requests().len() < target {
            assert!(Instant::now() < deadline, "ptsd stopped polling");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // The first start counts from the moment it starts: wait for its token check and its
    // first poll, after which the engine has certainly started.
    polls_seen(2);
    for _ in 0..4 {
        stream.add(&fake, 5);
        polls_seen(1);
    }
    sigterm(&first);
    let status = wait_exit(&mut first, Duration::from_secs(5));
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    // Events keep coming while ptsd is down.
    stream.add(&fake, 7);
    std::thread::sleep(Duration::from_millis(300));
    stream.add(&fake, 3);

    let (mut second, second_log) = spawn();
    for _ in 0..3 {
        stream.add(&fake, 4);
        polls_seen(1);
    }
    // Let it read past the last event, then stop it.
    let want = expected_counters(&stream.expected, false);
    let got = wait_for_oncall(&peer, &want, Duration::from_secs(15));
    sigterm(&second);
    assert!(wait_exit(&mut second, Duration::from_secs(5)).success());
    let log = first_log.join().unwrap() + &second_log.join().unwrap();
    assert!(!log.contains(TOKEN), "the token leaked into the log");
    assert_eq!(got, want, "log:\n{log}");
    assert!(dir.join("state.json").is_file());
}

#[test]
fn a_refused_token_exits_at_start_with_one_line() {
    let fake = FakePagerDuty::start_blocking("a-different-token");
    let peer = StatsdPeer::start();
    let out = command(&fake, &peer, &[("RUST_LOG", "off")])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("refused the API token"), "{err}");
    assert!(err.contains("api.eu.pagerduty.com"), "{err}");
    assert!(!err.contains(TOKEN));
}
