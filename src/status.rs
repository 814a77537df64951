//! Liveness status: the file behind `ptsd health`, a container health check that needs no
//! shell, curl or open port. (ptsd's own metrics are [`crate::self_metrics`]; the on-call
//! load of people is [`crate::analysis`].)
//!
//! After every poll the engine writes a small status file: `status.json` in `PTSD_STATE_DIR`,
//! or `ptsd-status.json` in the system temp dir when no state dir is set. `ptsd health` reads
//! it and exits 0 when the last fully successful poll is recent: within three intervals plus
//! 30 seconds (a poll may be slow, and one failed poll alone is not an emergency). A poll that
//! catches up on a long downtime can take longer than that; it records its progress after
//! every window it delivers, and that counts as healthy too.

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
}

/// Where the status file lives.
pub fn status_path(state_dir: Option<&Path>) -> PathBuf {
    match state_dir {
        Some(dir) => dir.join("status.json"),
        None => std::env::temp_dir().join("ptsd-status.json"),
    }
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
            last_success: previous.and_then(|s| s.last_success),
            last_progress: Some(now),
        },
    );
}

fn write(path: &Path, status: &Status) {
    let tmp = path.with_extension("json.tmp");
    let result = serde_json::to_vec(status)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
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

/// Where a standby instance says it is waiting: in this machine's (this container's) temp dir,
/// not in the shared state directory, whose `status.json` is the owner's.
pub fn standby_path() -> PathBuf {
    std::env::temp_dir().join("ptsd-standby.json")
}

/// What a standby instance writes while it waits for the state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standby {
    pub pid: u32,
    pub since: Timestamp,
    pub holder: String,
}

/// Records that this process waits for the state directory `holder` holds.
pub fn record_standby(holder: &str, since: Timestamp) {
    let standby = Standby {
        pid: std::process::id(),
        since,
        holder: holder.to_string(),
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
    let path = standby_path();
    if let Ok(Ok(s)) = std::fs::read(&path).map(|b| serde_json::from_slice::<Standby>(&b)) {
        if s.pid == std::process::id() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A standby instance that is still alive on this machine, if there is one.
fn standby() -> Option<Standby> {
    let s: Standby = serde_json::from_slice(&std::fs::read(standby_path()).ok()?).ok()?;
    Path::new(&format!("/proc/{}", s.pid)).exists().then_some(s)
}

/// Checks the status at `path` for a daemon polling every `interval`.
///
/// # Errors
/// A one-line reason when ptsd is not healthy.
pub fn check(path: &Path, interval: Duration) -> Result<String, String> {
    if let Some(s) = standby() {
        return Ok(format!(
            "standby: waiting since {} for the state directory, held by {}",
            s.since, s.holder
        ));
    }
    let status = read(path)?;
    let allowed = SignedDuration::try_from(interval.saturating_mul(3))
        .unwrap_or(SignedDuration::MAX)
        + SignedDuration::from_secs(30);
    let now = Timestamp::now();
    let recent = |t: Option<Timestamp>| t.filter(|t| now.duration_since(*t) <= allowed);
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
