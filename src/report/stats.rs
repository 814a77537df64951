//! The numbers behind the report: percentage changes, nearest-rank percentiles, whole seconds
//! and the flapping test, kept apart so they can be checked on their own.

use jiff::SignedDuration;

use super::model::Stats;
use super::FLAP_WITHIN;
use crate::analysis::Timing;

/// Whether an automatic resolve this long after opening is a flapping candidate.
pub(super) fn is_flap(t: &Timing) -> bool {
    !t.duration.is_negative() && t.duration <= FLAP_WITHIN
}

/// A duration in whole seconds, rounded half up.
pub(super) fn seconds(d: SignedDuration) -> i64 {
    let ms = d.as_millis();
    i64::try_from((ms + 500).div_euclid(1000)).unwrap_or(i64::MAX)
}

/// `100 * (now - previous) / previous`, rounded half away from zero; `None` when `previous` is 0.
pub(super) fn change(now: u64, previous: u64) -> Option<i64> {
    if previous == 0 {
        return None;
    }
    let n = 100 * (i128::from(now) - i128::from(previous));
    let d = i128::from(previous);
    let rounded = if n >= 0 {
        (2 * n + d) / (2 * d)
    } else {
        (2 * n - d) / (2 * d)
    };
    Some(i64::try_from(rounded).unwrap_or(i64::MAX))
}

/// The nearest-rank `pct` percentile of sorted `samples`: the value at rank `ceil(pct/100 * n)`.
fn nearest_rank(sorted: &[i64], pct: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

pub(super) fn stats(mut samples: Vec<i64>) -> Stats {
    samples.sort_unstable();
    Stats {
        count: samples.len() as u64,
        median_s: nearest_rank(&samples, 50),
        p95_s: nearest_rank(&samples, 95),
    }
}

#[cfg(test)]
mod tests {
    use super::super::text::trend;
    use super::*;

    #[test]
    fn change_rounds_half_away_from_zero() {
        assert_eq!(change(5, 4), Some(25));
        assert_eq!(change(3, 5), Some(-40));
        assert_eq!(change(7, 8), Some(-13)); // -12.5
        assert_eq!(change(9, 8), Some(13)); // +12.5
        assert_eq!(change(1, 3), Some(-67)); // -66.7
        assert_eq!(change(2, 3), Some(-33)); // -33.3
        assert_eq!(change(0, 3), Some(-100));
        assert_eq!(change(4, 0), None);
        assert_eq!(trend(0, 3, Some(-100)), "gone");
        assert_eq!(trend(4, 0, None), "new");
        assert_eq!(trend(4, 4, Some(0)), "0%");
        assert_eq!(trend(5, 4, Some(25)), "+25%");
    }

    #[test]
    fn seconds_round_half_up() {
        assert_eq!(seconds(SignedDuration::from_millis(150_499)), 150);
        assert_eq!(seconds(SignedDuration::from_millis(150_500)), 151);
        assert_eq!(seconds(SignedDuration::ZERO), 0);
    }
}

/// `100 * part / whole`, rounded half up; `None` when `whole` is 0.
pub(super) fn percent(part: u64, whole: u64) -> Option<u64> {
    if whole == 0 {
        return None;
    }
    let (p, w) = (u128::from(part), u128::from(whole));
    u64::try_from((200 * p + w) / (2 * w)).ok()
}

#[cfg(test)]
mod percent_tests {
    use super::percent;

    #[test]
    fn percent_rounds_half_up() {
        assert_eq!(percent(1, 0), None);
        assert_eq!(percent(0, 7), Some(0));
        assert_eq!(percent(1, 8), Some(13));
        assert_eq!(percent(1, 3), Some(33));
        assert_eq!(percent(2, 3), Some(67));
        assert_eq!(percent(5, 5), Some(100));
    }
}
