//! `ptsd report` and `ptsd logs` as a person (or a cron job) runs them: the output on stdout,
//! nothing else on stderr unless something is wrong; on a terminal a progress bar (time reached,
//! requests, entries), driven here through a real pseudo-terminal; `RUST_LOG=info` brings the
//! per-window lines back.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Output, Stdio};

/// The demo week the README shows.
const UNTIL: &str = "2026-11-30T09:00:00Z";

fn ptsd(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ptsd"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = ptsd(args, env).output().expect("ptsd runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn report_and_logs_write_nothing_to_stderr_off_a_terminal() {
    let report = run(&["report", "--demo", "--since", "7d"], &[]);
    assert!(
        String::from_utf8_lossy(&report.stdout).starts_with("# On-call handoff"),
        "the report is on stdout"
    );
    assert_eq!(
        String::from_utf8_lossy(&report.stderr).lines().count(),
        0,
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let logs = run(&["logs", "--demo", "--since", "1d"], &[]);
    assert!(!logs.stdout.is_empty());
    assert_eq!(
        logs.stderr,
        b"",
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );
}

#[test]
fn rust_log_info_brings_the_per_window_lines_back() {
    let out = run(
        &["report", "--demo", "--since", "7d", "--until", UNTIL],
        &[("RUST_LOG", "info")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let windows = stderr.lines().filter(|l| l.contains("Read.")).count();
    // Two weeks (the period and the one before, for trends) in one-hour windows.
    assert_eq!(windows, 2 * 7 * 24, "{stderr}");
}

/// A pseudo-terminal of `rows` x `cols`: (the side ptsd writes to, the side the test reads).
fn pty(rows: u16, cols: u16) -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new file descriptors, which become owned here.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and nothing else owns them.
    unsafe { (OwnedFd::from_raw_fd(slave), OwnedFd::from_raw_fd(master)) }
}

#[test]
fn a_terminal_shows_a_progress_bar_and_no_log_lines() {
    let (slave, master) = pty(24, 120);
    let child = ptsd(
        &["report", "--demo", "--since", "7d", "--until", UNTIL],
        &[("TERM", "xterm")],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::from(slave))
    .spawn()
    .expect("ptsd starts");
    // Read the terminal while ptsd runs (a full pty buffer would block it); the read ends
    // with EIO once ptsd, the last holder of the other side, has exited.
    let reader = std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match master.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let out = child.wait_with_output().expect("ptsd ends");
    assert!(out.status.success());
    let screen = reader.join().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("# On-call handoff"),
        "the report is on stdout, not in the terminal's bar"
    );
    assert!(screen.contains("Reading"), "{screen:?}");
    // The time reached, the requests and the entries (the demo makes no HTTP requests).
    assert!(screen.contains("demo: reached 2026-11-"), "{screen:?}");
    assert!(screen.contains(" 0 requests, "), "{screen:?}");
    assert!(screen.contains(" entries"), "{screen:?}");
    assert!(
        !screen.contains("Read."),
        "no per-window log line: {screen:?}"
    );
    assert!(!screen.contains("INFO"), "{screen:?}");
}
