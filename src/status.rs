//! Liveness status: the file behind `ptsd health`, a container health check that needs no
//! shell, curl or open port. (ptsd's own metrics are [`crate::self_metrics`]; the on-call
//! load of people is [`crate::analysis`].)
//!
//! After every poll the engine writes a small status file: `status.json` in `PTSD_STATE_DIR`,
//! or, when no state dir is set, `ptsd-status-{pid}.json` in the system temp dir (one per
//! instance: two daemons on one host never share one). `ptsd health` reads it (without a state
//! dir: the files of every ptsd still running on this host, healthy only if all are) and exits 0 when the last fully successful poll is recent: within three intervals plus
//! 30 seconds (a poll may be slow, and one failed poll alone is not an emergency). A poll that
//! catches up on a long downtime can take longer than that; it records its progress after
//! every window it delivers, and that counts as healthy too.
//!
//! Some faults make ptsd unhealthy at once, whatever the polls did: a state that cannot be
//! written (nothing is sent then, see [`crate::state`]) and a clock behind the saved cursor.
//! The engine notes them ([`note_problem`]); the next status written carries them, and
//! `ptsd health` fails while one is younger than the allowed age of a poll. On a full disk
//! the status file is rewritten in place when a new one cannot be created beside it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// What the last polls looked like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// When the last poll ended.
    pub last_poll: Timestamp,
    /// When the last poll in which every collector and outputter succeeded ended.
    pub last_success: Option<Timestamp>,
    /// When a window was last read and delivered (during a long catch-up, before the poll ends).
    #[serde(default)]
    pub last_progress: Option<Timestamp>,
    /// Faults noted by the engine, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// A fault that makes ptsd unhealthy while it is recent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub at: Timestamp,
    pub what: String,
}

/// Problems noted since the last status was written.
static NOTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
/// How long a problem stays in the status file (`ptsd health` looks at the recent ones).
const PROBLEM_KEPT: SignedDuration = SignedDuration::from_hours(1);
/// Most problems kept.
const PROBLEMS_MAX: usize = 10;

/// Notes a fault for the next status written (and so for `ptsd health`).
pub fn note_problem(what: impl Into<String>) {
    NOTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(what.into());
}

/// The problems of `previous` still kept, then those noted since, at `now`.
fn problems(previous: Option<&Status>, now: Timestamp) -> Vec<Problem> {
    let noted = std::mem::take(&mut *NOTED.lock().unwrap_or_else(|p| p.into_inner()));
    let mut out: Vec<Problem> = previous
        .map(|s| s.problems.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| now.duration_since(p.at) <= PROBLEM_KEPT && !noted.contains(&p.what))
        .collect();
    out.extend(noted.into_iter().map(|what| Problem { at: now, what }));
    let extra = out.len().saturating_sub(PROBLEMS_MAX);
    out.drain(..extra);
    out
}

/// The prefix of the per-instance status files in the temp dir.
const INSTANCE_PREFIX: &str = "ptsd-status-";

/// Where this process's status file lives.
pub fn status_path(state_dir: Option<&Path>) -> PathBuf {
    match state_dir {
        Some(dir) => dir.join("status.json"),
        None => std::env::temp_dir().join(format!("{INSTANCE_PREFIX}{}.json", std::process::id())),
    }
}

/// Removes this process's own status file when it has one per instance (no state dir).
pub fn clear_instance(state_dir: Option<&Path>) {
    if state_dir.is_none() {
        let _ = std::fs::remove_file(status_path(None));
    }
}

/// Removes this process's per-instance status file when dropped: the engine holds one while it
/// runs, so neither an exit, an error nor a run cancelled in flight (a test's daemon, a
/// library user's) leaves `ptsd-status-{pid}.json` behind in the temp dir.
pub struct InstanceStatus(Option<PathBuf>);

impl InstanceStatus {
    /// The guard for a run with `state_dir` (whose `status.json` stays: it is the daemon's).
    pub fn guard(state_dir: Option<&Path>) -> InstanceStatus {
        InstanceStatus(state_dir.map(Path::to_path_buf))
    }
}

impl Drop for InstanceStatus {
    fn drop(&mut self) {
        clear_instance(self.0.as_deref());
    }
}

/// Whether process `pid` still runs on this host.
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The per-instance status files of ptsd processes still running on this host.
fn instances() -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return Vec::new();
    };
    let mut out: Vec<(u32, PathBuf)> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?;
            let pid = name.strip_prefix(INSTANCE_PREFIX)?.strip_suffix(".json")?;
            let pid: u32 = pid.parse().ok()?;
            if !alive(pid) {
                // Left by a ptsd that was killed (SIGKILL, a crash): nobody else removes it.
                let _ = std::fs::remove_file(&path);
                return None;
            }
            Some((pid, path))
        })
        .collect();
    out.sort();
    out
}

/// Records a poll's outcome (best effort: a status file that cannot be written is logged).
pub fn record(path: &Path, ok: bool) {
    let previous = read(path).ok();
    let now = Timestamp::now();
    let keep = |f: fn(&Status) -> Option<Timestamp>| previous.as_ref().and_then(f);
    write(
        path,
        &Status {
            last_poll: now,
            last_success: if ok {
                Some(now)
            } else {
                keep(|s| s.last_success)
            },
            last_progress: if ok {
                Some(now)
            } else {
                keep(|s| s.last_progress)
            },
            problems: problems(previous.as_ref(), now),
        },
    );
}

/// Records that a window was delivered in a poll still under way.
pub fn record_progress(path: &Path) {
    let previous = read(path).ok();
    let now = Timestamp::now();
    write(
        path,
        &Status {
            last_poll: previous.as_ref().map_or(now, |s| s.last_poll),
            last_success: previous.as_ref().and_then(|s| s.last_success),
            last_progress: Some(now),
            problems: problems(previous.as_ref(), now),
        },
    );
}

fn write(path: &Path, status: &Status) {
    let tmp = path.with_extension("json.tmp");
    let Ok(bytes) = serde_json::to_vec(status) else {
        return;
    };
    let result = std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .or_else(|e| {
            // A full disk has no room for a second file: rewrite this one in place (its
            // blocks are given back by the truncation and taken again by the write).
            let _ = std::fs::remove_file(&tmp);
            if path.exists() {
                std::fs::write(path, &bytes)
            } else {
                Err(e)
            }
        });
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "Cannot write the health status file.");
    }
}

fn read(path: &Path) -> Result<Status, String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "no status at {} ({e}); is ptsd running with the same PTSD_STATE_DIR?",
            path.display()
        )
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("the status file {} is unreadable ({e})", path.display()))
}

/// Where this standby instance says it is waiting: in this machine's (this container's) temp
/// dir, not in the shared state directory, whose `status.json` is the owner's; one file per
/// process.
fn standby_path() -> PathBuf {
    std::env::temp_dir().join(format!("ptsd-standby-{}.json", std::process::id()))
}

/// What a standby instance writes while it waits for the state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standby {
    pub pid: u32,
    pub since: Timestamp,
    pub holder: String,
    /// The state directory waited for.
    #[serde(default)]
    pub dir: PathBuf,
}

/// Records that this process waits for the state directory `dir`, which `holder` holds.
pub fn record_standby(dir: &Path, holder: &str, since: Timestamp) {
    let standby = Standby {
        pid: std::process::id(),
        since,
        holder: holder.to_string(),
        dir: dir.to_path_buf(),
    };
    let path = standby_path();
    if let Err(e) = serde_json::to_vec(&standby)
        .map_err(std::io::Error::other)
        .and_then(|b| std::fs::write(&path, b))
    {
        tracing::warn!(path = %path.display(), error = %e, "Cannot write the standby file.");
    }
}

/// Removes this process's standby file (it owns the state directory now, or stops).
pub fn clear_standby() {
    let _ = std::fs::remove_file(standby_path());
}

/// A standby instance still alive on this machine that waits for `dir`, if there is one.
fn standby(dir: &Path) -> Option<Standby> {
    let entries = std::fs::read_dir(std::env::temp_dir()).ok()?;
    entries.filter_map(Result::ok).find_map(|e| {
        let name = e.file_name();
        let name = name.to_str()?;
        if !name.starts_with("ptsd-standby-") {
            return None;
        }
        let s: Standby = serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
        (alive(s.pid) && s.dir == dir).then_some(s)
    })
}

/// `ptsd health`: checks the daemon that uses `state_dir`, or without one every ptsd running
/// on this host, for a poll every `interval`.
///
/// # Errors
/// A one-line reason (one per instance) when ptsd is not healthy.
pub fn check_daemon(state_dir: Option<&Path>, interval: Duration) -> Result<String, String> {
    if let Some(dir) = state_dir {
        if let Some(s) = standby(dir) {
            return Ok(format!(
                "standby: waiting since {} for the state directory, held by {}",
                s.since, s.holder
            ));
        }
        return check(&status_path(Some(dir)), interval);
    }
    let all = instances();
    if all.is_empty() {
        return Err(format!(
            "no status of a running ptsd in {} (without PTSD_STATE_DIR each ptsd writes {INSTANCE_PREFIX}{{pid}}.json there); is ptsd running on this host with the same settings?",
            std::env::temp_dir().display()
        ));
    }
    let several = all.len() > 1;
    let mut all_ok = true;
    let mut lines = Vec::new();
    for (pid, path) in &all {
        let line = check(path, interval).unwrap_or_else(|e| {
            all_ok = false;
            e
        });
        lines.push(if several {
            format!("pid {pid}: {line}")
        } else {
            line
        });
    }
    let text = lines.join("\n");
    if all_ok {
        Ok(text)
    } else {
        Err(text)
    }
}

/// Checks the status at `path` for a daemon polling every `interval`.
///
/// # Errors
/// A one-line reason when ptsd is not healthy.
pub fn check(path: &Path, interval: Duration) -> Result<String, String> {
    let status = read(path)?;
    let allowed = SignedDuration::try_from(interval.saturating_mul(3))
        .unwrap_or(SignedDuration::MAX)
        + SignedDuration::from_secs(30);
    let now = Timestamp::now();
    let recent = |t: Option<Timestamp>| t.filter(|t| now.duration_since(*t) <= allowed);
    let faults: Vec<String> = status
        .problems
        .iter()
        .filter(|p| recent(Some(p.at)).is_some())
        .map(|p| format!("{} ({}s ago)", p.what, now.duration_since(p.at).as_secs()))
        .collect();
    if !faults.is_empty() {
        return Err(format!("unhealthy: {}", faults.join("; ")));
    }
    if let Some(t) = recent(status.last_success) {
        return Ok(format!(
            "healthy: last successful poll {}s ago",
            now.duration_since(t).as_secs()
        ));
    }
    if let Some(t) = recent(status.last_progress) {
        return Ok(format!(
            "healthy: catching up, last window delivered {}s ago",
            now.duration_since(t).as_secs()
        ));
    }
    match status.last_success {
        Some(t) => Err(format!(
            "unhealthy: last successful poll {}s ago (allowed {}s); see ptsd's log",
            now.duration_since(t).as_secs(),
            allowed.as_secs()
        )),
        None => Err("unhealthy: no poll has succeeded yet; see ptsd's log".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_then_stale() {
        let dir = std::env::temp_dir().join(format!("ptsd-health-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = status_path(Some(&dir));
        let _ = std::fs::remove_file(&path);
        assert!(
            check(&path, Duration::from_secs(60)).is_err(),
            "no file yet"
        );
        record(&path, false);
        assert!(
            check(&path, Duration::from_secs(60)).is_err(),
            "never succeeded"
        );
        record(&path, true);
        assert!(check(&path, Duration::from_secs(60)).is_ok());
        record(&path, false);
        assert!(
            check(&path, Duration::from_secs(60)).is_ok(),
            "one failure is fine"
        );
        let hour_ago = Timestamp::now() - SignedDuration::from_secs(3600);
        let old = Status {
            last_poll: Timestamp::now(),
            last_success: Some(hour_ago),
            last_progress: Some(hour_ago),
            problems: Vec::new(),
        };
        std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
        let e = check(&path, Duration::from_secs(60)).unwrap_err();
        assert!(e.contains("allowed 210s"), "{e}");
        // A long catch-up poll: no poll has ended for an hour, but windows keep arriving.
        record_progress(&path);
        let ok = check(&path, Duration::from_secs(60)).unwrap();
        assert!(ok.contains("catching up"), "{ok}");
    }
}
