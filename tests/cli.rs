//! The command line as a user meets it: `--help` documents every variable (and
//! docs/configuration.md does too), bad input exits non-zero with one line that says what to set, and the demo runs.

use std::process::{Command, Output};

fn ptsd(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ptsd"));
    cmd.args(args);
    // A clean environment: no PDTOKEN or PTSD_* from the developer's shell.
    cmd.env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the ptsd binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A page of the documentation, e.g. `docs/configuration.md`.
fn doc(page: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(page);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn help_env_vars() -> Vec<String> {
    let out = ptsd(&["--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    help.split("[env: ")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn help_lists_every_variable_and_the_configuration_page_documents_them() {
    let vars = help_env_vars();
    for must in [
        "PDTOKEN",
        "PDTOKEN_FILE",
        "PAGERDUTY_API_URL",
        "STATSD_HOST",
        "STATSD_PORT",
        "PTSD_OUTPUTS",
        "PTSD_STATSD_FLAVOR",
        "PTSD_STATSD_TIMESTAMPS",
        "PTSD_STATSD_TIMESTAMP_RESOLUTION",
        "PTSD_PREFIX",
        "PTSD_INTERVAL",
        "PTSD_USER_KEY",
    ] {
        assert!(
            vars.iter().any(|v| v == must),
            "--help lacks {must}: {vars:?}"
        );
    }
    let page = doc("docs/configuration.md");
    for v in &vars {
        assert!(
            page.contains(&format!("| `{v}` |")),
            "docs/configuration.md does not document {v} in its table"
        );
    }
}

#[test]
fn metrics_page_documents_every_metric() {
    let page = doc("docs/metrics.md");
    for name in ptsd::schema::CATALOGUE {
        assert!(
            page.contains(name),
            "docs/metrics.md does not document {name}"
        );
    }
}

#[test]
fn help_never_shows_the_token() {
    let out = ptsd(&["--help"], &[("PDTOKEN", "sekrit-token-123")]);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!all.contains("sekrit-token-123"), "{all}");
}

fn assert_one_line_error(out: &Output, needle: &str) {
    assert!(!out.status.success(), "should fail: {}", stderr(out));
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {err}");
    assert!(lines[0].contains(needle), "{needle:?} not in {err}");
}

#[test]
fn no_collector_says_what_to_set() {
    let out = ptsd(&[], &[("RUST_LOG", "off")]);
    assert_one_line_error(&out, "set PDTOKEN");
}

#[test]
fn bad_duration_names_the_variable() {
    let out = ptsd(
        &["--demo"],
        &[("PTSD_INTERVAL", "5 fortnights"), ("RUST_LOG", "off")],
    );
    assert_one_line_error(&out, "PTSD_INTERVAL=");
}

#[test]
fn unknown_outputter_lists_the_known_ones() {
    let out = ptsd(
        &["--demo"],
        &[("PTSD_OUTPUTS", "statsd,kafka"), ("RUST_LOG", "off")],
    );
    assert_one_line_error(&out, "\"kafka\"");
    assert!(stderr(&out).contains("statsd, stdout"));
}

#[test]
fn empty_token_file_says_what_to_set() {
    let path = std::env::temp_dir().join(format!("ptsd-cli-empty-{}", std::process::id()));
    std::fs::write(&path, "  \n").unwrap();
    let out = ptsd(
        &[],
        &[
            ("PDTOKEN_FILE", path.to_str().unwrap()),
            ("RUST_LOG", "off"),
        ],
    );
    assert_one_line_error(&out, "PDTOKEN is empty");
}

#[test]
fn demo_once_prints_json_lines() {
    // A day: the demo's team has 5 to 25 incidents a day, and may have an hour without any.
    let out = ptsd(
        &["--demo", "--once"],
        &[("PTSD_BACKFILL", "1d"), ("RUST_LOG", "off")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert!(!lines.is_empty(), "the demo's last day has events");
    for l in &lines {
        assert!(l["name"].as_str().unwrap().starts_with("ptsd."));
        if l["type"] == "counter" {
            assert!(l["value"].as_i64().unwrap() > 0);
        }
        assert_eq!(l["tags"]["provider"], "demo");
        assert!(l["time"].as_str().is_some());
    }
    assert!(lines.iter().any(|l| l["name"] == "ptsd.notifications"));
}

#[test]
fn health_follows_the_daemons_status_file() {
    let dir = std::env::temp_dir().join(format!("ptsd-cli-health-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    let before = ptsd(&["health"], &[("PTSD_STATE_DIR", d)]);
    assert!(!before.status.success(), "no poll yet: unhealthy");
    assert_eq!(stderr(&before).trim().lines().count(), 1);
    let run = ptsd(
        &["--demo", "--once"],
        &[("PTSD_STATE_DIR", d), ("RUST_LOG", "off")],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let after = ptsd(&["health", "--state-dir", d], &[]);
    assert!(after.status.success(), "{}", stderr(&after));
    assert!(String::from_utf8_lossy(&after.stdout).starts_with("healthy"));
}

/// Without a state dir each daemon keeps its own status file (`ptsd-status-{pid}.json` in its
/// temp dir), so two on one host never overwrite each other's; `ptsd health` checks them all,
/// and a daemon that stops takes its file with it.
#[test]
fn two_daemons_without_a_state_dir_keep_their_own_status() {
    use std::time::{Duration, Instant};
    let tmp = std::env::temp_dir().join(format!("ptsd-cli-instances-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let t = tmp.to_str().unwrap();
    let spawn = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ptsd"));
        cmd.args(["--demo", "--interval", "1s"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TMPDIR", t)
            .env("RUST_LOG", "off")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd.spawn().expect("ptsd starts")
    };
    let (mut a, mut b) = (spawn(), spawn());
    let file = |pid: u32| tmp.join(format!("ptsd-status-{pid}.json"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(file(a.id()).exists() && file(b.id()).exists()) {
        assert!(
            Instant::now() < deadline,
            "each daemon writes its own status file"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let health = ptsd(&["health"], &[("TMPDIR", t)]);
    let said = String::from_utf8_lossy(&health.stdout).into_owned();
    assert!(health.status.success(), "{said}{}", stderr(&health));
    assert_eq!(said.lines().count(), 2, "{said}");
    for pid in [a.id(), b.id()] {
        assert!(said.contains(&format!("pid {pid}: healthy")), "{said}");
    }
    // SIGTERM: the daemon exits 0 and removes its status file; the other still answers.
    unsafe { libc::kill(a.id() as i32, libc::SIGTERM) };
    assert!(a.wait().unwrap().success());
    assert!(!file(a.id()).exists());
    let health = ptsd(&["health"], &[("TMPDIR", t)]);
    let said = String::from_utf8_lossy(&health.stdout).into_owned();
    assert!(
        health.status.success() && said.starts_with("healthy"),
        "{said}"
    );
    unsafe { libc::kill(b.id() as i32, libc::SIGTERM) };
    assert!(b.wait().unwrap().success());
    let none = ptsd(&["health"], &[("TMPDIR", t)]);
    assert!(!none.status.success());
    assert!(
        stderr(&none).contains("no status of a running ptsd"),
        "{}",
        stderr(&none)
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// SIGTERM while the start-up check is still retrying an unreachable API (which it would do for
/// about two minutes): ptsd stops at once and exits 0, as it does during a poll.
#[test]
fn sigterm_during_the_start_up_check_exits_0_within_2_seconds() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    // A loopback port nobody listens on: every request fails and is retried.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ptsd"))
        .env_clear()
        .env("PDTOKEN", "sigterm-test-token")
        .env("PAGERDUTY_API_URL", format!("http://127.0.0.1:{port}"))
        .env("PTSD_OUTPUTS", "stdout")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ptsd starts");
    // Wait until the check has failed once and is waiting to retry.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let retrying = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("Request failed; retrying"));
    assert!(retrying, "the start-up check never retried");
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "still running 2 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("Stopped")), "{rest:?}");
}
