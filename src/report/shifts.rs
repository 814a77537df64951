//! The shift calendar: 12-hour shifts from 08:00 and 20:00 local time in the account zone, laid
//! out on wall-clock boundaries so shifts across a daylight-saving change last 11 or 13 hours.

use std::cmp::Reverse;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use super::model::{Scope, Shift, Shifts};
use super::stats::seconds;
use super::{SRE_SHIFT_LIMIT, TOP};
use crate::event::Window;

/// Shifts start at these local hours.
const SHIFT_STARTS: [i8; 2] = [8, 20];

/// `at` in RFC 3339 with `zone`'s offset at that instant, e.g. `2026-03-02T20:00:00-05:00`.
pub(super) fn with_offset(at: Timestamp, zone: &TimeZone) -> String {
    at.display_with_offset(zone.to_offset(at)).to_string()
}

/// Local `hour`:00 on `date` in `zone` (a time in a gap moves forward, in a fold is the first).
fn local(date: Date, hour: i8, zone: &TimeZone) -> Option<Zoned> {
    date.at(hour, 0, 0, 0).to_zoned(zone.clone()).ok()
}

/// Every shift overlapping the current period, with the incidents opened in it.
pub(super) fn shifts(scope: &Scope, triggers: &[Timestamp]) -> Shifts {
    let Window { since, until } = scope.current;
    let mut all = Vec::new();
    if since < until {
        // The shift running at `since` may have started the evening before.
        let mut day = since.to_zoned(scope.zone.clone()).date().yesterday().ok();
        'days: while let Some(date) = day {
            for (i, hour) in SHIFT_STARTS.iter().enumerate() {
                let end = match SHIFT_STARTS.get(i + 1) {
                    Some(next) => local(date, *next, &scope.zone),
                    None => date
                        .tomorrow()
                        .ok()
                        .and_then(|d| local(d, SHIFT_STARTS[0], &scope.zone)),
                };
                let (Some(start), Some(end)) = (local(date, *hour, &scope.zone), end) else {
                    break 'days;
                };
                let (start, end) = (start.timestamp(), end.timestamp());
                if start >= until {
                    break 'days;
                }
                if end <= since {
                    continue;
                }
                let incidents = triggers
                    .iter()
                    .filter(|t| start <= **t && **t < end)
                    .count() as u64;
                all.push(Shift {
                    start: with_offset(start, &scope.zone),
                    end: with_offset(end, &scope.zone),
                    length_s: seconds(end.duration_since(start)),
                    incidents,
                    over_limit: incidents > SRE_SHIFT_LIMIT,
                });
            }
            day = date.tomorrow().ok();
        }
    }
    let mut busiest: Vec<Shift> = all.iter().filter(|s| s.incidents > 0).cloned().collect();
    // Stable: ties stay in time order.
    busiest.sort_by_key(|s| Reverse(s.incidents));
    busiest.truncate(TOP);
    Shifts {
        total: all.len() as u64,
        over_limit: all.iter().filter(|s| s.over_limit).count() as u64,
        busiest,
        all,
    }
}
