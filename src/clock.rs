//! The wall clock ptsd reads: the system's, or a virtual one that the deterministic
//! simulation (`tests/simulation.rs`) installs.
//!
//! Why one module: the engine decides every window from "now", and the collectors stamp what
//! they read with it. A simulation that runs hours of provider history in a second needs all
//! of them to read one clock that it controls. The virtual clock follows tokio's clock (which a
//! test pauses, so a sleep returns as soon as nothing else can run): `now()` is the epoch the
//! simulation chose plus the tokio time elapsed since it was installed, plus any step the
//! simulation made (a clock that jumps forward or back, as NTP or a restored VM make it).
//! Without an installed virtual clock, `now()` is [`Timestamp::now`].

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

/// The virtual clock: `epoch` at tokio instant `base`, moved by `step`.
struct Virtual {
    epoch: Timestamp,
    base: tokio::time::Instant,
    step: SignedDuration,
}

static VIRTUAL: Mutex<Option<Virtual>> = Mutex::new(None);

fn with<T>(f: impl FnOnce(&mut Option<Virtual>) -> T) -> T {
    f(&mut VIRTUAL.lock().unwrap_or_else(|p| p.into_inner()))
}

/// The time now: the system's, or the installed virtual clock's.
pub fn now() -> Timestamp {
    with(|v| match v {
        None => Timestamp::now(),
        Some(v) => {
            let elapsed = tokio::time::Instant::now().duration_since(v.base);
            let elapsed = SignedDuration::try_from(elapsed).unwrap_or(SignedDuration::MAX);
            v.epoch
                .saturating_add(elapsed)
                .and_then(|t| t.checked_add(v.step))
                .unwrap_or(v.epoch)
        }
    })
}

/// Makes [`now`] read `epoch` at this tokio instant and follow tokio's clock from here (for the
/// simulation; call it inside a runtime with paused time). Process-wide: one simulation at a
/// time.
pub fn install_virtual(epoch: Timestamp) {
    with(|v| {
        *v = Some(Virtual {
            epoch,
            base: tokio::time::Instant::now(),
            step: SignedDuration::ZERO,
        })
    });
}

/// Steps the virtual clock by `by` (back when negative), as an NTP correction would.
pub fn step(by: SignedDuration) {
    with(|v| {
        if let Some(v) = v {
            v.step += by;
        }
    });
}

/// Back to the system clock.
pub fn uninstall_virtual() {
    with(|v| *v = None);
}
