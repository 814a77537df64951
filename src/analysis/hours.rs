//! Which part of a person's day an interruption hit: sleep, business or off hours.
//!
//! A page at 03:00 costs the person more than the same page at 11:00, so interruptions are
//! classed by the local wall-clock time they reached the person, in the person's own time zone
//! (daylight saving applied through jiff's bundled time-zone database). The defaults follow
//! PagerDuty's published definitions: sleep 22:00-08:00 every day, business 08:00-18:00 Monday to
//! Friday, off the rest. Sleep wins where ranges overlap. Hours and business days are configurable
//! (PTSD_SLEEP_HOURS, PTSD_BUSINESS_HOURS, PTSD_BUSINESS_DAYS).

use jiff::civil::Weekday;
use jiff::{tz::TimeZone, Timestamp};

/// The part of a person's day an interruption fell in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Band {
    Sleep,
    Business,
    Off,
}

impl Band {
    pub const ALL: [Band; 3] = [Band::Sleep, Band::Business, Band::Off];

    /// "sleep" | "business" | "off": the metric segment and tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Sleep => "sleep",
            Band::Business => "business",
            Band::Off => "off",
        }
    }
}

/// Minutes in a day: the largest value a range end may take (24:00).
const DAY: u16 = 24 * 60;

/// A half-open range of minutes since local midnight, `[start, end)`. When `start > end` the
/// range wraps midnight. `start` is below [`DAY`], `end` at most [`DAY`], and they differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Minutes {
    start: u16,
    end: u16,
}

impl Minutes {
    fn contains(self, minute: u16) -> bool {
        if self.start < self.end {
            self.start <= minute && minute < self.end
        } else {
            minute >= self.start || minute < self.end
        }
    }
}

/// The configured hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourBands {
    sleep: Minutes,
    business: Minutes,
    /// Business days, indexed by [`Weekday::to_monday_zero_offset`].
    days: [bool; 7],
}

impl Default for HourBands {
    /// PagerDuty's definitions: 22:00-08:00 sleep, 08:00-18:00 business, Monday to Friday.
    fn default() -> HourBands {
        HourBands {
            sleep: Minutes {
                start: 22 * 60,
                end: 8 * 60,
            },
            business: Minutes {
                start: 8 * 60,
                end: 18 * 60,
            },
            days: [true, true, true, true, true, false, false],
        }
    }
}

impl HourBands {
    /// Parses the three settings. `sleep` and `business` are "HH:MM-HH:MM" (a range may wrap
    /// midnight, e.g. "22:00-08:00"; start == end is an error; 24:00 allowed as an end only);
    /// `days` is a comma list of weekday names or ranges, case-insensitive, 3-letter or full:
    /// "mon-fri", "mon,tue,wed", "sun-thu" (a range may wrap: "fri-mon"), "Monday-Friday".
    /// Errors are one line that names the variable and says what to set, e.g.
    /// `PTSD_SLEEP_HOURS="25:00-08:00" is not a time range; set it to e.g. 22:00-08:00`.
    pub fn parse(sleep: &str, business: &str, days: &str) -> Result<HourBands, String> {
        Ok(HourBands {
            sleep: parse_range("PTSD_SLEEP_HOURS", sleep, "22:00-08:00")?,
            business: parse_range("PTSD_BUSINESS_HOURS", business, "08:00-18:00")?,
            days: parse_days("PTSD_BUSINESS_DAYS", days)?,
        })
    }

    /// The band of instant `at` for a person in zone `tz`: local wall-clock time (with daylight
    /// saving applied by jiff) decides. Sleep is checked first, then business (business days
    /// only; the weekday is the local weekday of `at`), else off.
    pub fn classify(&self, at: Timestamp, tz: &TimeZone) -> Band {
        let local = at.to_zoned(tz.clone()).datetime();
        // Both are small and non-negative: hour 0..=23, minute 0..=59.
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        if self.sleep.contains(minute) {
            Band::Sleep
        } else if self.days[day_index(local.weekday())] && self.business.contains(minute) {
            Band::Business
        } else {
            Band::Off
        }
    }
}

impl HourBands {
    /// The night a sleep-hours instant belongs to: the local date on which that stretch of
    /// sleep hours began (03:00 on Tuesday is Monday's night when sleep is 22:00-08:00), in
    /// zone `tz`; `None` outside sleep hours. The report counts nights from this.
    pub fn night_of(&self, at: Timestamp, tz: &TimeZone) -> Option<jiff::civil::Date> {
        let local = at.to_zoned(tz.clone()).datetime();
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        if !self.sleep.contains(minute) {
            return None;
        }
        let wraps = self.sleep.start > self.sleep.end;
        if wraps && minute < self.sleep.end {
            local.date().yesterday().ok()
        } else {
            Some(local.date())
        }
    }
}

fn day_index(day: Weekday) -> usize {
    // to_monday_zero_offset is 0..=6.
    day.to_monday_zero_offset() as usize
}

/// "HH:MM-HH:MM" → a [`Minutes`] range, or the one-line error for `var`.
fn parse_range(var: &str, raw: &str, example: &str) -> Result<Minutes, String> {
    let not_a_range = || format!("{var}={raw:?} is not a time range; set it to e.g. {example}");
    let (start, end) = raw.split_once('-').ok_or_else(not_a_range)?;
    let start = parse_time(start).ok_or_else(not_a_range)?;
    let end = parse_time(end).ok_or_else(not_a_range)?;
    if start == DAY {
        return Err(format!(
            "{var}={raw:?} starts at 24:00, which is only allowed as an end; set it to e.g. {example}"
        ));
    }
    if start == end {
        return Err(format!(
            "{var}={raw:?} is an empty range (start equals end); set it to e.g. {example}"
        ));
    }
    Ok(Minutes { start, end })
}

/// "HH:MM" (or "H:MM") → minutes since midnight, 0..=1440; 24:00 is the only time past 23:59.
fn parse_time(raw: &str) -> Option<u16> {
    let (hour, minute) = raw.trim().split_once(':')?;
    let digits = |s: &str, max_len: usize| {
        if !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u16>().ok()
        } else {
            None
        }
    };
    let hour = digits(hour, 2)?;
    if minute.len() != 2 {
        return None;
    }
    let minute = digits(minute, 2)?;
    match (hour, minute) {
        (0..=23, 0..=59) => Some(hour * 60 + minute),
        (24, 0) => Some(DAY),
        _ => None,
    }
}

/// "mon-fri", "mon,tue,wed", "fri-mon", "Monday-Friday" → business days, or the one-line error.
fn parse_days(var: &str, raw: &str) -> Result<[bool; 7], String> {
    let fail = |why: String| {
        format!("{var}={raw:?} is not a list of weekdays ({why}); set it to e.g. mon-fri")
    };
    if raw.trim().is_empty() {
        return Err(fail("it is empty".to_string()));
    }
    let mut days = [false; 7];
    for item in raw.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(fail("an item between commas is empty".to_string()));
        }
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (weekday(a), weekday(b)),
            None => (weekday(item), weekday(item)),
        };
        let first = first.map_err(|name| fail(format!("{name:?} is not a weekday")))?;
        let last = last.map_err(|name| fail(format!("{name:?} is not a weekday")))?;
        // Walk forward from first to last, wrapping past Sunday ("fri-mon").
        let mut day = first;
        loop {
            days[day_index(day)] = true;
            if day == last {
                break;
            }
            day = day.next();
        }
    }
    Ok(days)
}

/// A weekday by its 3-letter or full English name, any case; the trimmed name on failure.
fn weekday(raw: &str) -> Result<Weekday, String> {
    let name = raw.trim().to_ascii_lowercase();
    let day = match name.as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => return Err(raw.trim().to_string()),
    };
    Ok(day)
}

/// An IANA name (any case) → the zone, if known.
fn lookup(name: &str) -> Option<TimeZone> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    TimeZone::get(name).ok()
}

/// Resolves a provider's time-zone name (IANA, e.g. "America/New_York", "Europe/Berlin";
/// also "UTC"/"Etc/UTC") with jiff's bundled database; `None`, an empty string or an
/// unknown name gives `fallback` (clone). Events carry IANA names only: a collector whose
/// provider spells zones otherwise translates them.
pub fn zone(name: Option<&str>, fallback: &TimeZone) -> TimeZone {
    name.and_then(lookup).unwrap_or_else(|| fallback.clone())
}

/// Parses PTSD_TIME_ZONE (the account zone, used for people without one): an IANA name or
/// "UTC"; an unknown name is an error that says what to set.
pub fn parse_zone(var: &str, raw: &str) -> Result<TimeZone, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(format!(
            "{var}={raw:?} is empty; set it to an IANA time zone, e.g. UTC or Europe/Berlin"
        ));
    }
    TimeZone::get(name).map_err(|_| {
        format!(
            "{var}={raw:?} is not a known time zone; set it to an IANA name, e.g. UTC or Europe/Berlin"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use jiff::tz::offset;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    fn utc(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// The instant at local `y-m-d h:mi` in `zone`; checks the weekday so a test's calendar
    /// assumption cannot be silently wrong.
    fn local(zone: &TimeZone, (y, m, d): (i16, i8, i8), wd: Weekday, h: i8, mi: i8) -> Timestamp {
        let day = date(y, m, d);
        assert_eq!(day.weekday(), wd, "{day} is not a {wd:?}");
        day.at(h, mi, 0, 0)
            .to_zoned(zone.clone())
            .unwrap()
            .timestamp()
    }

    /// Asserts the UTC offset of `zone` at `at`, in whole hours.
    fn assert_offset(zone: &TimeZone, at: Timestamp, hours: i8) {
        assert_eq!(zone.to_offset(at), offset(hours), "offset at {at}");
    }

    #[test]
    fn band_names() {
        let names: Vec<_> = Band::ALL.iter().map(|b| b.as_str()).collect();
        assert_eq!(names, ["sleep", "business", "off"]);
    }

    #[test]
    fn default_is_pagerduty() {
        assert_eq!(
            HourBands::parse("22:00-08:00", "08:00-18:00", "mon-fri").unwrap(),
            HourBands::default()
        );
    }

    /// Every default boundary, checked in UTC, New York (UTC-5 in January) and Kolkata (UTC+5:30).
    #[test]
    fn default_boundaries() {
        use Band::*;
        use Weekday::*;
        let bands = HourBands::default();
        // 2026-01-14 is a Wednesday, 01-16 Friday, 01-17 Saturday, 01-18 Sunday, 01-19 Monday.
        let cases = [
            ((2026, 1, 14), Wednesday, 0, 0, Sleep),
            ((2026, 1, 14), Wednesday, 7, 59, Sleep),
            ((2026, 1, 14), Wednesday, 8, 0, Business),
            ((2026, 1, 14), Wednesday, 17, 59, Business),
            ((2026, 1, 14), Wednesday, 18, 0, Off),
            ((2026, 1, 14), Wednesday, 21, 59, Off),
            ((2026, 1, 14), Wednesday, 22, 0, Sleep),
            ((2026, 1, 14), Wednesday, 23, 59, Sleep),
            ((2026, 1, 16), Friday, 17, 59, Business),
            ((2026, 1, 16), Friday, 18, 0, Off),
            ((2026, 1, 16), Friday, 23, 0, Sleep),
            ((2026, 1, 17), Saturday, 7, 59, Sleep),
            ((2026, 1, 17), Saturday, 8, 0, Off),
            ((2026, 1, 17), Saturday, 10, 0, Off),
            ((2026, 1, 17), Saturday, 17, 59, Off),
            ((2026, 1, 17), Saturday, 21, 59, Off),
            ((2026, 1, 17), Saturday, 22, 0, Sleep),
            ((2026, 1, 18), Sunday, 7, 0, Sleep),
            ((2026, 1, 18), Sunday, 12, 0, Off),
            ((2026, 1, 19), Monday, 7, 59, Sleep),
            ((2026, 1, 19), Monday, 8, 0, Business),
        ];
        for name in ["UTC", "America/New_York", "Asia/Kolkata"] {
            let zone = tz(name);
            for (ymd, wd, h, mi, want) in cases {
                let at = local(&zone, ymd, wd, h, mi);
                assert_eq!(
                    bands.classify(at, &zone),
                    want,
                    "{name} {ymd:?} {h:02}:{mi:02}"
                );
            }
        }
    }

    /// Minutes decide: the last second of a minute belongs to it.
    #[test]
    fn seconds_do_not_matter() {
        let bands = HourBands::default();
        let utc_zone = TimeZone::UTC;
        // Wednesday.
        assert_eq!(
            bands.classify(utc("2026-01-14T07:59:59.999Z"), &utc_zone),
            Band::Sleep
        );
        assert_eq!(
            bands.classify(utc("2026-01-14T08:00:00Z"), &utc_zone),
            Band::Business
        );
        assert_eq!(
            bands.classify(utc("2026-01-14T17:59:59Z"), &utc_zone),
            Band::Business
        );
        assert_eq!(
            bands.classify(utc("2026-01-14T21:59:59Z"), &utc_zone),
            Band::Off
        );
    }

    /// Explicit UTC instants in a non-UTC zone, so the check does not only round-trip.
    #[test]
    fn explicit_utc_instants_in_new_york() {
        let bands = HourBands::default();
        let ny = tz("America/New_York");
        // Wednesday 2026-01-14, EST = UTC-5.
        assert_offset(&ny, utc("2026-01-14T12:00:00Z"), -5);
        assert_eq!(
            bands.classify(utc("2026-01-14T12:59:00Z"), &ny),
            Band::Sleep
        );
        assert_eq!(
            bands.classify(utc("2026-01-14T13:00:00Z"), &ny),
            Band::Business
        );
        assert_eq!(
            bands.classify(utc("2026-01-14T22:59:00Z"), &ny),
            Band::Business
        );
        assert_eq!(bands.classify(utc("2026-01-14T23:00:00Z"), &ny), Band::Off);
        assert_eq!(bands.classify(utc("2026-01-15T02:59:00Z"), &ny), Band::Off);
        assert_eq!(
            bands.classify(utc("2026-01-15T03:00:00Z"), &ny),
            Band::Sleep
        );
        // Friday 2026-01-16 18:00 EST is Saturday 2026-01-17 in UTC: the local weekday decides.
        assert_eq!(
            bands.classify(utc("2026-01-16T22:59:00Z"), &ny),
            Band::Business
        );
        assert_eq!(bands.classify(utc("2026-01-16T23:00:00Z"), &ny), Band::Off);
        // Monday 2026-01-19 08:00 EST, still Monday in UTC; Sunday 2026-01-18 20:00 EST is
        // Monday 01:00 UTC, which is off (a weekend evening), not sleep or business.
        assert_eq!(
            bands.classify(utc("2026-01-19T13:00:00Z"), &ny),
            Band::Business
        );
        assert_eq!(bands.classify(utc("2026-01-19T01:00:00Z"), &ny), Band::Off);
    }

    #[test]
    fn one_instant_three_zones_three_bands() {
        let bands = HourBands::default();
        // Wednesday 2026-01-14 20:00 UTC.
        let at = utc("2026-01-14T20:00:00Z");
        let la = tz("America/Los_Angeles");
        let berlin = tz("Europe/Berlin");
        let tokyo = tz("Asia/Tokyo");
        // Los Angeles: Wednesday 12:00 PST.
        assert_eq!(la.to_datetime(at), date(2026, 1, 14).at(12, 0, 0, 0));
        assert_eq!(bands.classify(at, &la), Band::Business);
        // Berlin: Wednesday 21:00 CET.
        assert_eq!(berlin.to_datetime(at), date(2026, 1, 14).at(21, 0, 0, 0));
        assert_eq!(bands.classify(at, &berlin), Band::Off);
        // Tokyo: Thursday 05:00 JST.
        assert_eq!(tokyo.to_datetime(at), date(2026, 1, 15).at(5, 0, 0, 0));
        assert_eq!(bands.classify(at, &tokyo), Band::Sleep);
    }

    /// Europe/Berlin: CET (+1) to CEST (+2) at 2026-03-29 01:00 UTC (02:00 → 03:00 local), and
    /// back at 2026-10-25 01:00 UTC (03:00 → 02:00 local). The same UTC time of day lands an hour
    /// apart locally on either side, across the 08:00 and 18:00 boundaries.
    #[test]
    fn dst_berlin() {
        let bands = HourBands::default();
        let z = tz("Europe/Berlin");

        // Spring forward.
        assert_offset(&z, utc("2026-03-29T00:59:59Z"), 1);
        assert_offset(&z, utc("2026-03-29T01:00:00Z"), 2);
        assert_eq!(z.to_datetime(utc("2026-03-29T00:59:00Z")).hour(), 1);
        assert_eq!(z.to_datetime(utc("2026-03-29T01:00:00Z")).hour(), 3);
        // Friday 27th 06:30 UTC = 07:30 CET; Monday 30th 06:30 UTC = 08:30 CEST.
        assert_eq!(bands.classify(utc("2026-03-27T06:30:00Z"), &z), Band::Sleep);
        assert_eq!(
            bands.classify(utc("2026-03-30T06:30:00Z"), &z),
            Band::Business
        );
        // The change day itself (a Sunday): Saturday 06:30 UTC = 07:30 CET, Sunday = 08:30 CEST.
        assert_eq!(bands.classify(utc("2026-03-28T06:30:00Z"), &z), Band::Sleep);
        assert_eq!(bands.classify(utc("2026-03-29T06:30:00Z"), &z), Band::Off);
        // Evening: Friday 16:30 UTC = 17:30 CET; Monday 16:30 UTC = 18:30 CEST.
        assert_eq!(
            bands.classify(utc("2026-03-27T16:30:00Z"), &z),
            Band::Business
        );
        assert_eq!(bands.classify(utc("2026-03-30T16:30:00Z"), &z), Band::Off);

        // Fall back.
        assert_offset(&z, utc("2026-10-25T00:59:59Z"), 2);
        assert_offset(&z, utc("2026-10-25T01:00:00Z"), 1);
        assert_eq!(z.to_datetime(utc("2026-10-25T00:59:00Z")).hour(), 2);
        assert_eq!(z.to_datetime(utc("2026-10-25T01:00:00Z")).hour(), 2);
        // Friday 23rd 06:30 UTC = 08:30 CEST; Monday 26th 06:30 UTC = 07:30 CET.
        assert_eq!(
            bands.classify(utc("2026-10-23T06:30:00Z"), &z),
            Band::Business
        );
        assert_eq!(bands.classify(utc("2026-10-26T06:30:00Z"), &z), Band::Sleep);
        // Saturday 24th 06:30 UTC = 08:30 CEST (off); Sunday 25th = 07:30 CET (sleep).
        assert_eq!(bands.classify(utc("2026-10-24T06:30:00Z"), &z), Band::Off);
        assert_eq!(bands.classify(utc("2026-10-25T06:30:00Z"), &z), Band::Sleep);
        // Evening: Friday 16:30 UTC = 18:30 CEST; Monday 16:30 UTC = 17:30 CET.
        assert_eq!(bands.classify(utc("2026-10-23T16:30:00Z"), &z), Band::Off);
        assert_eq!(
            bands.classify(utc("2026-10-26T16:30:00Z"), &z),
            Band::Business
        );
        // 20:30 UTC: 22:30 CEST (sleep) before, 21:30 CET (off) after.
        assert_eq!(bands.classify(utc("2026-10-23T20:30:00Z"), &z), Band::Sleep);
        assert_eq!(bands.classify(utc("2026-10-26T20:30:00Z"), &z), Band::Off);
    }

    /// America/New_York: EST (-5) to EDT (-4) at 2026-03-08 07:00 UTC (02:00 → 03:00 local), and
    /// back at 2026-11-01 06:00 UTC (02:00 → 01:00 local).
    #[test]
    fn dst_new_york() {
        let bands = HourBands::default();
        let z = tz("America/New_York");

        assert_offset(&z, utc("2026-03-08T06:59:59Z"), -5);
        assert_offset(&z, utc("2026-03-08T07:00:00Z"), -4);
        assert_eq!(z.to_datetime(utc("2026-03-08T07:00:00Z")).hour(), 3);
        // Friday 6th 12:30 UTC = 07:30 EST; Monday 9th 12:30 UTC = 08:30 EDT.
        assert_eq!(bands.classify(utc("2026-03-06T12:30:00Z"), &z), Band::Sleep);
        assert_eq!(
            bands.classify(utc("2026-03-09T12:30:00Z"), &z),
            Band::Business
        );

        assert_offset(&z, utc("2026-11-01T05:59:59Z"), -4);
        assert_offset(&z, utc("2026-11-01T06:00:00Z"), -5);
        assert_eq!(z.to_datetime(utc("2026-11-01T06:00:00Z")).hour(), 1);
        // Friday Oct 30th 12:30 UTC = 08:30 EDT; Monday Nov 2nd 12:30 UTC = 07:30 EST.
        assert_eq!(
            bands.classify(utc("2026-10-30T12:30:00Z"), &z),
            Band::Business
        );
        assert_eq!(bands.classify(utc("2026-11-02T12:30:00Z"), &z), Band::Sleep);
        // Friday 22:30 UTC = 18:30 EDT; Monday 22:30 UTC = 17:30 EST.
        assert_eq!(bands.classify(utc("2026-10-30T22:30:00Z"), &z), Band::Off);
        assert_eq!(
            bands.classify(utc("2026-11-02T22:30:00Z"), &z),
            Band::Business
        );
    }

    /// Australia/Sydney (southern hemisphere, summer time over the new year): AEDT (+11) ends at
    /// 2026-04-05 03:00 local (→ 02:00 AEST, +10), i.e. 2026-04-04 16:00 UTC; AEDT starts again
    /// at 2026-10-04 02:00 local (→ 03:00), i.e. 2026-10-03 16:00 UTC.
    #[test]
    fn dst_sydney() {
        let bands = HourBands::default();
        let z = tz("Australia/Sydney");

        // Summer time ends.
        assert_offset(&z, utc("2026-04-04T15:59:59Z"), 11);
        assert_offset(&z, utc("2026-04-04T16:00:00Z"), 10);
        assert_eq!(z.to_datetime(utc("2026-04-04T15:59:00Z")).hour(), 2);
        assert_eq!(z.to_datetime(utc("2026-04-04T16:00:00Z")).hour(), 2);
        // 21:30 UTC on Thursday 2nd = Friday 3rd 08:30 AEDT; on Sunday 5th = Monday 6th 07:30 AEST.
        let before = utc("2026-04-02T21:30:00Z");
        let after = utc("2026-04-05T21:30:00Z");
        assert_eq!(z.to_datetime(before), date(2026, 4, 3).at(8, 30, 0, 0));
        assert_eq!(z.to_datetime(after), date(2026, 4, 6).at(7, 30, 0, 0));
        assert_eq!(bands.classify(before, &z), Band::Business);
        assert_eq!(bands.classify(after, &z), Band::Sleep);

        // Summer time starts.
        assert_offset(&z, utc("2026-10-03T15:59:59Z"), 10);
        assert_offset(&z, utc("2026-10-03T16:00:00Z"), 11);
        assert_eq!(z.to_datetime(utc("2026-10-03T15:59:00Z")).hour(), 1);
        assert_eq!(z.to_datetime(utc("2026-10-03T16:00:00Z")).hour(), 3);
        // 21:30 UTC on Thursday Oct 1st = Friday 2nd 07:30 AEST; on Sunday 4th = Monday 5th
        // 08:30 AEDT.
        let before = utc("2026-10-01T21:30:00Z");
        let after = utc("2026-10-04T21:30:00Z");
        assert_eq!(z.to_datetime(before), date(2026, 10, 2).at(7, 30, 0, 0));
        assert_eq!(z.to_datetime(after), date(2026, 10, 5).at(8, 30, 0, 0));
        assert_eq!(bands.classify(before, &z), Band::Sleep);
        assert_eq!(bands.classify(after, &z), Band::Business);
    }

    /// A Middle-East week with a shorter night.
    #[test]
    fn custom_settings() {
        use Weekday::*;
        let bands = HourBands::parse("23:00-07:00", "09:00-17:00", "sun-thu").unwrap();
        let z = tz("Asia/Dubai");
        let at = |ymd, wd, h, mi| bands.classify(local(&z, ymd, wd, h, mi), &z);
        // 2026-01-16 Friday, 17 Saturday, 18 Sunday, 19 Monday, 22 Thursday.
        assert_eq!(at((2026, 1, 16), Friday, 10, 0), Band::Off);
        assert_eq!(at((2026, 1, 17), Saturday, 10, 0), Band::Off);
        assert_eq!(at((2026, 1, 18), Sunday, 10, 0), Band::Business);
        assert_eq!(at((2026, 1, 18), Sunday, 9, 0), Band::Business);
        assert_eq!(at((2026, 1, 18), Sunday, 8, 59), Band::Off);
        assert_eq!(at((2026, 1, 22), Thursday, 16, 59), Band::Business);
        assert_eq!(at((2026, 1, 22), Thursday, 17, 0), Band::Off);
        assert_eq!(at((2026, 1, 19), Monday, 6, 59), Band::Sleep);
        assert_eq!(at((2026, 1, 19), Monday, 7, 0), Band::Off);
        assert_eq!(at((2026, 1, 19), Monday, 22, 30), Band::Off);
        assert_eq!(at((2026, 1, 19), Monday, 23, 0), Band::Sleep);
    }

    /// Sleep wins where it overlaps business.
    #[test]
    fn sleep_wins_overlap() {
        let bands = HourBands::parse("22:00-09:00", "08:00-18:00", "mon-fri").unwrap();
        let z = TimeZone::UTC;
        assert_eq!(bands.classify(utc("2026-01-14T08:30:00Z"), &z), Band::Sleep);
        assert_eq!(
            bands.classify(utc("2026-01-14T09:00:00Z"), &z),
            Band::Business
        );
    }

    #[test]
    fn parse_accepts() {
        let all = [true; 7];
        let p = |days| {
            HourBands::parse("22:00-08:00", "08:00-18:00", days)
                .unwrap()
                .days
        };
        assert_eq!(p("mon-fri"), [true, true, true, true, true, false, false]);
        assert_eq!(p("Monday-Friday"), p("mon-fri"));
        assert_eq!(p(" MON - FRI "), p("mon-fri"));
        assert_eq!(
            p("mon,tue,wed"),
            [true, true, true, false, false, false, false]
        );
        assert_eq!(p("sun-thu"), [true, true, true, true, false, false, true]);
        assert_eq!(p("fri-mon"), [true, false, false, false, true, true, true]);
        assert_eq!(p("sat"), [false, false, false, false, false, true, false]);
        assert_eq!(p("mon-sun"), all);
        assert_eq!(
            p("Tuesday, thu,saturday-Sunday"),
            [false, true, false, true, false, true, true]
        );

        let r = |sleep| {
            HourBands::parse(sleep, "08:00-18:00", "mon-fri")
                .unwrap()
                .sleep
        };
        assert_eq!(
            r("22:00-24:00"),
            Minutes {
                start: 1320,
                end: 1440
            }
        );
        assert_eq!(
            r("00:00-24:00"),
            Minutes {
                start: 0,
                end: 1440
            }
        );
        assert_eq!(
            r("22:30-7:15"),
            Minutes {
                start: 1350,
                end: 435
            }
        );
        assert_eq!(
            r(" 22:00 - 08:00 "),
            Minutes {
                start: 1320,
                end: 480
            }
        );
        // 22:00-00:00 wraps and covers up to midnight, like 22:00-24:00.
        let b = HourBands::parse("22:00-00:00", "08:00-18:00", "mon-fri").unwrap();
        let z = TimeZone::UTC;
        assert_eq!(b.classify(utc("2026-01-14T23:59:00Z"), &z), Band::Sleep);
        assert_eq!(b.classify(utc("2026-01-15T00:00:00Z"), &z), Band::Off);
    }

    #[test]
    fn parse_errors_name_the_variable() {
        let ok_s = "22:00-08:00";
        let ok_b = "08:00-18:00";
        let ok_d = "mon-fri";

        let e = HourBands::parse("25:00-08:00", ok_b, ok_d).unwrap_err();
        assert_eq!(
            e,
            r#"PTSD_SLEEP_HOURS="25:00-08:00" is not a time range; set it to e.g. 22:00-08:00"#
        );
        let e = HourBands::parse(ok_s, "08:00", ok_d).unwrap_err();
        assert_eq!(
            e,
            r#"PTSD_BUSINESS_HOURS="08:00" is not a time range; set it to e.g. 08:00-18:00"#
        );
        let e = HourBands::parse("08:00-08:00", ok_b, ok_d).unwrap_err();
        assert!(e.starts_with(r#"PTSD_SLEEP_HOURS="08:00-08:00" "#), "{e}");
        assert!(e.contains("set it to e.g. 22:00-08:00"), "{e}");
        let e = HourBands::parse(ok_s, ok_b, "mon-xyz").unwrap_err();
        assert!(e.starts_with(r#"PTSD_BUSINESS_DAYS="mon-xyz" "#), "{e}");
        assert!(e.contains(r#""xyz" is not a weekday"#), "{e}");
        assert!(e.contains("set it to e.g. mon-fri"), "{e}");
        let e = HourBands::parse(ok_s, ok_b, "").unwrap_err();
        assert!(e.starts_with(r#"PTSD_BUSINESS_DAYS="" "#), "{e}");

        for bad in [
            "24:00-08:00",
            "24:01-08:00",
            "22:60-08:00",
            "22-08",
            "22:0-08:00",
            "-22:00-08:00",
            "22:00-08:00-09:00",
            "+2:00-08:00",
            "",
            "ab:cd-08:00",
        ] {
            let e = HourBands::parse(ok_s, bad, ok_d).unwrap_err();
            assert!(e.starts_with("PTSD_BUSINESS_HOURS="), "{bad}: {e}");
            assert!(!e.contains('\n'), "{bad}: {e}");
        }
        for bad in [
            "mon,,fri",
            "mon-",
            "-fri",
            "mo-fr",
            "weekdays",
            ",",
            "mon-tue-wed",
        ] {
            let e = HourBands::parse(ok_s, ok_b, bad).unwrap_err();
            assert!(e.starts_with("PTSD_BUSINESS_DAYS="), "{bad}: {e}");
        }
    }

    #[test]
    fn zones() {
        let fallback = tz("Europe/Berlin");
        let name = |z: TimeZone| z.iana_name().map(str::to_string);
        assert_eq!(
            name(zone(Some("America/New_York"), &fallback)).as_deref(),
            Some("America/New_York")
        );
        assert_eq!(
            name(zone(Some("asia/tokyo"), &fallback)).as_deref(),
            Some("Asia/Tokyo")
        );
        assert_eq!(zone(None, &fallback), fallback);
        assert_eq!(zone(Some(""), &fallback), fallback);
        assert_eq!(zone(Some("  "), &fallback), fallback);
        assert_eq!(zone(Some("Mars/Olympus"), &fallback), fallback);
        // UTC, under every spelling.
        let at = utc("2026-07-01T12:00:00Z");
        for utc_name in ["UTC", "Etc/UTC", "utc"] {
            let z = zone(Some(utc_name), &fallback);
            assert_eq!(z.to_offset(at), offset(0), "{utc_name}");
        }
    }

    #[test]
    fn parse_zone_checks_the_name() {
        let z = parse_zone("PTSD_TIME_ZONE", "Europe/Berlin").unwrap();
        assert_eq!(z.iana_name(), Some("Europe/Berlin"));
        let z = parse_zone("PTSD_TIME_ZONE", "UTC").unwrap();
        assert_eq!(z.to_offset(utc("2026-07-01T12:00:00Z")), offset(0));
        let e = parse_zone("PTSD_TIME_ZONE", "Mars/Olympus").unwrap_err();
        assert!(e.starts_with(r#"PTSD_TIME_ZONE="Mars/Olympus" "#), "{e}");
        assert!(e.contains("set it to"), "{e}");
        let e = parse_zone("PTSD_TIME_ZONE", "").unwrap_err();
        assert!(e.starts_with("PTSD_TIME_ZONE="), "{e}");
    }
}

#[cfg(test)]
mod night_tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_night_is_the_date_its_sleep_hours_began() {
        let ny = TimeZone::get("America/New_York").unwrap();
        let b = HourBands::default();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        // 23:30 Monday and 03:00 Tuesday in New York are both Monday's night; noon is none.
        assert_eq!(
            b.night_of(at("2026-03-03T04:30:00Z"), &ny),
            Some(date(2026, 3, 2))
        );
        assert_eq!(
            b.night_of(at("2026-03-03T08:00:00Z"), &ny),
            Some(date(2026, 3, 2))
        );
        assert_eq!(b.night_of(at("2026-03-03T17:00:00Z"), &ny), None);
        // Sleep hours that do not wrap midnight: the night is the local date itself.
        let early = HourBands::parse("00:00-07:00", "08:00-18:00", "mon-fri").unwrap();
        assert_eq!(
            early.night_of(at("2026-03-03T08:00:00Z"), &ny),
            Some(date(2026, 3, 3))
        );
    }
}
