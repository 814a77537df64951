//! What `ptsd report` is asked for: its own options ([`ReportArgs`], the `report`
//! subcommand) and their validated form ([`ReportRequest`]).

use std::time::Duration;

use crate::config::{duration, ConfigError};
use crate::event::Window;

use super::Format;

/// The `report` subcommand's options.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct ReportArgs {
    /// Length of the reported period, ending at --until (humantime, e.g. 7d).
    #[arg(long, default_value = "7d")]
    pub since: String,
    /// End of the period, RFC 3339 (e.g. 2026-11-23T09:00:00Z) [default: now].
    #[arg(long)]
    pub until: Option<String>,
    /// Output format: markdown, json, csv, or html (one self-contained page with charts).
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: Format,
    /// Only this team's services and people: a team id of a provider that has teams
    /// (repeat it, or give a comma list, for several); providers without teams are left out.
    #[arg(long = "team", value_name = "TEAM_ID", value_delimiter = ',')]
    pub teams: Vec<String>,
    /// Only this provider (one of the registered collectors' names).
    #[arg(long)]
    pub provider: Option<String>,
}

/// What `ptsd report` was asked for, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    /// The reported period.
    pub current: Window,
    /// The period before it, for trends.
    pub previous: Window,
    pub format: Format,
    /// Team ids to narrow to (none: every team).
    pub teams: Vec<String>,
    /// The one provider to read (none: every configured one).
    pub provider: Option<String>,
}

impl ReportRequest {
    /// Validates the `report` subcommand's options.
    ///
    /// # Errors
    /// A bad `--since` or `--until`, named.
    pub fn from_args(args: &ReportArgs) -> Result<ReportRequest, ConfigError> {
        let length = duration("--since", &args.since)?;
        if length < Duration::from_secs(60) {
            return Err(ConfigError(
                "--since is under a minute; set it to e.g. 1d or 7d".into(),
            ));
        }
        let until: jiff::Timestamp = match &args.until {
            Some(raw) => raw.trim().parse().map_err(|e| {
                ConfigError(format!(
                    "--until={raw:?} is not an RFC 3339 time ({e}); set it to e.g. 2026-11-23T09:00:00Z"
                ))
            })?,
            None => jiff::Timestamp::now(),
        };
        let length = jiff::SignedDuration::try_from(length).unwrap_or(jiff::SignedDuration::MAX);
        let since = until
            .checked_sub(length)
            .and_then(|s| Ok((s, s.checked_sub(length)?)))
            .map_err(|_| ConfigError("--since reaches before year -9999; set it shorter".into()))?;
        let mut teams: Vec<String> = Vec::new();
        for raw in &args.teams {
            let team = raw.trim();
            if team.is_empty() {
                continue;
            }
            if !team.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(ConfigError(format!(
                    "--team {raw:?} is not a team id; give ids such as PT4KHLK (repeat --team for several)"
                )));
            }
            if !teams.iter().any(|t| t == team) {
                teams.push(team.to_string());
            }
        }
        Ok(ReportRequest {
            current: Window::new(since.0, until),
            previous: Window::new(since.1, since.0),
            format: args.format,
            teams,
            provider: args.provider.as_deref().map(str::trim).map(String::from),
        })
    }
}
