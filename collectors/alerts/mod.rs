//! The alert model shared by Opsgenie and Jira Service Management Operations (Opsgenie's
//! successor; Opsgenie reaches end of support on 2027-04-05): alerts and their activity logs →
//! on-call events. A provider is an [`AlertSource`] (its API and the people behind the names in
//! its rows) of the one [`AlertCollector`]; `../opsgenie/` and `../jsm/` are the two sources.
//!
//! Files: [`collector`] (which alerts to read, the refused-log skip), [`memory`] (new rows
//! only, pacing), [`listing`] (the listing past the 20,000 cap, the walk through a log),
//! [`model`] (the alert and log-row objects), [`events`] (an alert and its rows → events, with
//! the report's safety net), [`rules`] (the log rules and their file) and [`shapes`] (unmatched
//! row shapes).
//!
//! **Settings** ([`AlertSettings`], under their own heading in `--help`): `PTSD_LOG_RULES`, the
//! log rules file both sources read (`PTSD_OPSGENIE_LOG_RULES`, its former name, still works).

use std::path::PathBuf;

use crate::config::{Config, ConfigError};

pub(crate) mod collector;
pub(crate) mod events;
pub(crate) mod listing;
pub(crate) mod memory;
pub(crate) mod model;
pub mod rules;
pub(crate) mod shapes;

pub use collector::POISON_AFTER;
pub(crate) use collector::{AlertCollector, AlertSource};
pub use listing::{RENOTIFY_HORIZON, RENOTIFY_MAX};
pub use rules::{classify, Action, Activity, LogRules};

/// The settings of the alert model, shared by its providers.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Alert providers (Opsgenie, JSM)")]
pub struct AlertSettings {
    /// TOML file of log rules for Opsgenie and JSM (regex on the log row text, optional row type, what it counts, which group is the person or channel) added before the built-in table, or replacing it with mode = "replace"; see docs/providers.md, and `ptsd logs` to see which rule matches which row.
    #[arg(long, env = "PTSD_LOG_RULES")]
    pub log_rules: Option<PathBuf>,

    /// The former name of PTSD_LOG_RULES, still read (PTSD_LOG_RULES wins when both are set).
    #[arg(long, env = "PTSD_OPSGENIE_LOG_RULES")]
    pub opsgenie_log_rules: Option<PathBuf>,
}

/// Adds the alert model's options to `command`.
pub fn augment(command: clap::Command) -> clap::Command {
    <AlertSettings as clap::Args>::augment_args(command)
}

/// The log rules in force: the built-in table, extended or replaced by the file
/// `PTSD_LOG_RULES` (or its former name `PTSD_OPSGENIE_LOG_RULES`) names.
///
/// # Errors
/// A [`ConfigError`] naming the variable when the file cannot be read or has a bad rule.
pub(crate) fn log_rules(config: &Config) -> Result<LogRules, ConfigError> {
    let s = crate::config::component_options::<AlertSettings>(config, "log rules")?;
    let (var, path) = match (s.log_rules, s.opsgenie_log_rules) {
        (Some(p), _) => ("PTSD_LOG_RULES", p),
        (None, Some(p)) => ("PTSD_OPSGENIE_LOG_RULES", p),
        (None, None) => return Ok(LogRules::built_in()),
    };
    LogRules::from_file(&path).map_err(|e| ConfigError(format!("{var} {e}")))
}
