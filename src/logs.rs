//! `ptsd logs --since 1d`: reads the providers' activity logs of the last period once, as the
//! daemon would, and prints the distinct row shapes (digits, e-mails and names masked) with how
//! many rows had each and which log rule matched it (`-` for none: counted for nobody). So a
//! user sees in minutes which wording of their account the rules miss, writes rules for it
//! (`PTSD_LOG_RULES`), runs it again to check, and can send the shapes upstream.
//! Nothing is sent and no state is touched. Providers without free-text logs print nothing.

use std::time::Duration;

use jiff::SignedDuration;

use crate::collectors::{Collector, LogShape};
use crate::engine::{self, Settings};
use crate::event::Window;

/// The `logs` subcommand's options.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct LogsArgs {
    /// How far back to read (humantime, e.g. 1d, 6h).
    #[arg(long, default_value = "1d", value_parser = humantime::parse_duration)]
    pub since: Duration,
}

/// Reads `[now - since, now)` from every collector and renders the row shapes each saw.
///
/// # Errors
/// A period that is no duration, or the first collector error (shapes of part of the period
/// would mislead).
pub async fn run(
    settings: &Settings,
    collectors: &mut [Box<dyn Collector>],
    since: Duration,
) -> Result<String, Box<dyn std::error::Error>> {
    let since = SignedDuration::try_from(since)?;
    let until = crate::clock::now() - engine::SETTLE;
    let window = Window::new(until.checked_sub(since)?, until);
    let progress = crate::progress::Progress::on_stderr(window, collectors.len());
    let read =
        engine::history_with_progress(settings, collectors, window, &mut |r| progress.reached(r))
            .await;
    progress.finish();
    read?;
    let mut out = String::new();
    for c in collectors.iter() {
        let shapes = c.log_shapes();
        if !shapes.is_empty() {
            out.push_str(&render(c.name(), window, &shapes));
        }
    }
    if out.is_empty() {
        out.push_str("No activity-log rows in the period.\n");
    }
    Ok(out)
}

/// One provider's shapes as a table: rows, row type, matching rule, shape; most frequent
/// first, then a summary line.
pub fn render(provider: &str, window: Window, shapes: &[LogShape]) -> String {
    let total: u64 = shapes.iter().map(|s| s.rows).sum();
    let unmatched: u64 = shapes
        .iter()
        .filter(|s| s.rule.is_none())
        .map(|s| s.rows)
        .sum();
    let kind_w = shapes
        .iter()
        .map(|s| s.kind.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let rule_w = shapes
        .iter()
        .map(|s| s.rule.as_deref().unwrap_or("-").len())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut out = format!(
        "{provider}: {total} log rows from {} to {}, {} shapes, {unmatched} rows matched no rule\n",
        window.since,
        window.until,
        shapes.len()
    );
    out.push_str(&format!(
        "{:>7}  {:kind_w$}  {:rule_w$}  shape\n",
        "rows", "type", "rule"
    ));
    for s in shapes {
        out.push_str(&format!(
            "{:>7}  {:kind_w$}  {:rule_w$}  {}\n",
            s.rows,
            s.kind,
            s.rule.as_deref().unwrap_or("-"),
            s.shape
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_most_frequent_first_with_unmatched_as_dash() {
        let a: jiff::Timestamp = "2026-03-02T00:00:00Z".parse().unwrap();
        let w = Window::new(a, a + SignedDuration::from_hours(24));
        let shapes = [
            LogShape {
                shape: "Sent [SMS] notification to <email>".into(),
                kind: "system".into(),
                rule: Some("built-in:sent-notification".into()),
                rows: 12,
            },
            LogShape {
                shape: "Paged <name> by pager".into(),
                kind: "alertRecipient".into(),
                rule: None,
                rows: 3,
            },
        ];
        let text = render("opsgenie", w, &shapes);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("opsgenie: 15 log rows from 2026-03-02T00:00:00Z"),
            "{text}"
        );
        assert!(
            lines[0].ends_with("2 shapes, 3 rows matched no rule"),
            "{text}"
        );
        assert!(
            lines[2].contains("12  system")
                && lines[2].ends_with("Sent [SMS] notification to <email>"),
            "{text}"
        );
        assert!(lines[3].contains("3  alertRecipient  -"), "{text}");
    }
}
