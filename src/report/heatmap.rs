//! When interruptions happened: a weekday by hour-of-day grid in the report's zone, and its
//! compact text rendering for the Markdown report (one character per hour, darker = more).

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::model::{Heatmap, HeatmapDay};

/// Weekday names, Monday first (the grid's row order).
pub(super) const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
/// The text shades, from none to the busiest hour.
const SHADES: [char; 5] = ['·', '░', '▒', '▓', '█'];

/// Counts interruptions into the grid.
pub(super) struct HeatCounter {
    zone: TimeZone,
    cells: [[u64; 24]; 7],
}

impl HeatCounter {
    pub(super) fn new(zone: TimeZone) -> HeatCounter {
        HeatCounter {
            zone,
            cells: [[0; 24]; 7],
        }
    }

    /// Counts one interruption at `at`, by its local weekday and hour.
    pub(super) fn add(&mut self, at: Timestamp) {
        let local = at.to_zoned(self.zone.clone()).datetime();
        let day = local.weekday().to_monday_zero_offset() as usize;
        let hour = local.hour() as usize;
        if let Some(cell) = self.cells.get_mut(day).and_then(|d| d.get_mut(hour)) {
            *cell += 1;
        }
    }

    pub(super) fn into_heatmap(self, zone_name: &str) -> Heatmap {
        Heatmap {
            zone: zone_name.to_string(),
            days: DAYS
                .iter()
                .zip(self.cells)
                .map(|(day, hours)| HeatmapDay {
                    day: (*day).to_string(),
                    hours: hours.to_vec(),
                })
                .collect(),
        }
    }
}

impl Heatmap {
    /// The busiest cell's count (0 when empty).
    pub fn max(&self) -> u64 {
        self.days
            .iter()
            .flat_map(|d| d.hours.iter().copied())
            .max()
            .unwrap_or(0)
    }
}

/// The shade of `n` on a scale up to `max`: `·` for none, then four steps.
pub(super) fn shade(n: u64, max: u64) -> char {
    if n == 0 || max == 0 {
        return SHADES[0];
    }
    // 1..=4: ceil(4 * n / max).
    let step = (4 * n).div_ceil(max).clamp(1, 4);
    SHADES[step as usize]
}

/// The grid as text lines (for a code block): an hour ruler, one line per weekday with its
/// total, and a legend naming the counts behind each shade.
pub(super) fn text(h: &Heatmap) -> Vec<String> {
    let max = h.max();
    let mut lines = vec!["     0     6     12    18".to_string()];
    for d in &h.days {
        let row: String = d.hours.iter().map(|n| shade(*n, max)).collect();
        let total: u64 = d.hours.iter().sum();
        lines.push(format!("{:<4} {row} {total:>4}", d.day));
    }
    let mut legend = vec![format!("{} 0", SHADES[0])];
    for (c, lo, hi) in legend_steps(max) {
        legend.push(if lo == hi {
            format!("{c} {lo}")
        } else {
            format!("{c} {lo}-{hi}")
        });
    }
    lines.push(format!("     {} interruptions an hour", legend.join("  ")));
    lines
}

/// Each shade in use with the lowest and highest count it stands for.
fn legend_steps(max: u64) -> Vec<(char, u64, u64)> {
    let mut steps: Vec<(char, u64, u64)> = Vec::new();
    for step in 1..=4u64 {
        // Counts n with ceil(4n / max) == step: from floor((step-1) * max / 4) + 1 to
        // floor(step * max / 4).
        let lo = (step - 1) * max / 4 + 1;
        let hi = step * max / 4;
        if lo <= hi {
            steps.push((SHADES[step as usize], lo, hi));
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shades_scale_to_the_busiest_hour() {
        assert_eq!(shade(0, 8), '·');
        assert_eq!(shade(1, 8), '░');
        assert_eq!(shade(2, 8), '░');
        assert_eq!(shade(3, 8), '▒');
        assert_eq!(shade(6, 8), '▓');
        assert_eq!(shade(8, 8), '█');
        assert_eq!(shade(1, 1), '█');
    }

    #[test]
    fn counts_land_on_the_local_weekday_and_hour() {
        let ny = TimeZone::get("America/New_York").unwrap();
        let mut c = HeatCounter::new(ny);
        // 03:30 UTC on Tuesday 3 March 2026 is 22:30 on Monday in New York.
        c.add("2026-03-03T03:30:00Z".parse().unwrap());
        c.add("2026-03-03T03:59:59Z".parse().unwrap());
        let h = c.into_heatmap("America/New_York");
        assert_eq!(h.days[0].hours[22], 2);
        assert_eq!(h.max(), 2);
        let lines = text(&h);
        assert_eq!(lines.len(), 9);
        assert_eq!(lines[1], format!("Mon  {}█· {:>4}", "·".repeat(22), 2));
        assert_eq!(lines[8], "     · 0  ▒ 1  █ 2 interruptions an hour");
        // Every count from 1 to the busiest is in exactly one legend step, with its shade.
        for max in 1..=40 {
            let steps = legend_steps(max);
            for n in 1..=max {
                let holding: Vec<_> = steps
                    .iter()
                    .filter(|(_, lo, hi)| *lo <= n && n <= *hi)
                    .collect();
                assert_eq!(holding.len(), 1, "{n} of {max}");
                assert_eq!(holding[0].0, shade(n, max), "{n} of {max}");
            }
        }
    }
}
