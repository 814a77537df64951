//! A ptsd without `PTSD_STATE_DIR` keeps its status in `ptsd-status-{pid}.json` in the temp
//! dir; it must take the file with it however its run ends: a finished run, a run cancelled
//! in flight (as a test or a library user drops it), and a daemon killed with SIGKILL (whose
//! file the next `ptsd health` sweeps away). Its own binary, so no other test shares the pid.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn status_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ptsd-status-"))
        })
        .collect();
    files.sort();
    files
}

/// Polls until `f` holds (at most 30 s); false if it never did.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn no_status_file_outlives_its_daemon() {
    let tmp = std::env::temp_dir().join(format!("ptsd-status-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    // This binary's only test: the temp dir of every run below, in-process ones included.
    std::env::set_var("TMPDIR", &tmp);
    assert_eq!(std::env::temp_dir(), tmp);
    let mine = tmp.join(format!("ptsd-status-{}.json", std::process::id()));
    let config = ptsd::cli::parse_from(["ptsd", "--demo", "--outputs", "stdout"]).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // 1. A run that ends (a poll, then shutdown): the file was written, and is gone.
    runtime.block_on(async {
        let settings = ptsd::engine::Settings::from_config(&config).unwrap();
        let collectors = ptsd::collectors::build_all(&config).unwrap();
        let outputters = ptsd::outputters::build_all(&config).unwrap();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watch = {
            let (mine, seen) = (mine.clone(), seen.clone());
            async move {
                while !mine.exists() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                seen.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        };
        ptsd::engine::run(settings, collectors, outputters, watch)
            .await
            .unwrap();
        assert!(seen.load(std::sync::atomic::Ordering::SeqCst));
    });
    // The desk's last holder removes the file: a delivery step the shutdown abandoned holds
    // it on the blocking pool until the step ends, so the removal may come just after.
    assert!(
        eventually(|| !mine.exists()),
        "a finished run removes its status file"
    );

    // 2. A run dropped in flight, once it has written its status.
    runtime.block_on(async {
        let settings = ptsd::engine::Settings::from_config(&config).unwrap();
        let collectors = ptsd::collectors::build_all(&config).unwrap();
        let outputters = ptsd::outputters::build_all(&config).unwrap();
        let run = ptsd::engine::run(settings, collectors, outputters, std::future::pending());
        tokio::select! {
            _ = run => panic!("the run never ends by itself"),
            () = async {
                while !mine.exists() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            } => {}
        }
    });
    assert!(
        eventually(|| !mine.exists()),
        "a cancelled run removes its status file"
    );

    // 3. A daemon killed with SIGKILL leaves its file; the next `ptsd health` sweeps it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ptsd"))
        .args(["--demo", "--interval", "1s"])
        .env_clear()
        .env("TMPDIR", &tmp)
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ptsd starts");
    let theirs = tmp.join(format!("ptsd-status-{}.json", child.id()));
    assert!(
        eventually(|| theirs.exists()),
        "the daemon writes its status"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status_files(&tmp), vec![theirs], "SIGKILL leaves it");
    let health = Command::new(env!("CARGO_BIN_EXE_ptsd"))
        .arg("health")
        .env_clear()
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert!(!health.status.success(), "no ptsd runs: unhealthy");
    assert_eq!(status_files(&tmp), Vec::<PathBuf>::new());
    let _ = std::fs::remove_dir_all(&tmp);
}
