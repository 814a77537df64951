//! The whole command line: the engine's options ([`crate::config::Args`]), every registered
//! collector's and outputter's own options (each under its own heading in `--help`), and the
//! subcommands.
//!
//! It sits above the engine, the components and the report, and only joins them: no option
//! is declared here, and the texts that list providers or sinks are made from the registries,
//! so adding a component never touches this file.

use clap::{CommandFactory, FromArgMatches, Subcommand};

use crate::config::{Config, ConfigError, DEFAULT_OUTPUT};
use crate::{collectors, outputters, report};

/// What to run instead of the daemon.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Exit 0 when the running daemon's last successful poll is recent (reads the status file
    /// in PTSD_STATE_DIR, or in the temp dir without one); for Docker HEALTHCHECK.
    Health,
    /// Print the on-call handoff report for the last period (reads the providers once; sends nothing).
    Report(report::ReportArgs),
    /// Print the distinct activity-log row shapes of the last period with counts and the log rule that matched each (reads the providers once; sends nothing), to write PTSD_LOG_RULES.
    Logs(crate::logs::LogsArgs),
}

/// The `ptsd` command line, with every component's options.
pub fn command() -> clap::Command {
    let command = crate::config::Args::command().mut_arg("outputs", |a| {
        a.help(format!(
            "Comma list of outputters: {} [default: {DEFAULT_OUTPUT}; stdout with --demo]",
            outputters::names()
        ))
    });
    let command = collectors::augment(command);
    let command = outputters::augment(command);
    // After the subcommands, whose doc comment would otherwise become the program's `about`.
    Command::augment_subcommands(command).about(format!(
        "Pager Trauma Statistics Daemon: polls on-call providers ({}) and emits per-user on-call metrics ({}).",
        collectors::names(),
        outputters::names()
    ))
}

/// Refuses a secret given as a flag: an option whose environment value `--help` hides is a
/// token, and a token on the command line shows in `ps` and `/proc/*/cmdline` to everyone on
/// the machine. Secrets come from the environment or from a file (the `_FILE` variable).
///
/// # Errors
/// A [`ConfigError`] naming the flag and the variables to use instead.
pub fn refuse_secret_flags(matches: &clap::ArgMatches) -> Result<(), ConfigError> {
    for arg in command().get_arguments() {
        if !arg.is_hide_env_values_set() {
            continue;
        }
        let id = arg.get_id().as_str();
        if matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
            let var = arg
                .get_env()
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(ConfigError(format!(
                "--{} would put the token in the process list (ps, /proc/*/cmdline); set {var} or {var}_FILE in the environment instead",
                arg.get_long().unwrap_or(id)
            )));
        }
    }
    Ok(())
}

/// Every environment variable the command line reads (each option's `env`, subcommands'
/// included), so a new option or alias is known without a list to keep.
pub fn known_variables(command: &clap::Command) -> std::collections::BTreeSet<String> {
    let mut known: std::collections::BTreeSet<String> = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    for sub in command.get_subcommands() {
        known.extend(known_variables(sub));
    }
    known
}

/// The prefixes of the variables ptsd reads: each name up to its first `_` (the whole name
/// when it has none), so the engine's and every component's prefixes come from the options
/// themselves. A variable set with such a prefix that no option reads is most likely
/// misspelt (`PTSD_INTREVAL`), and would silently leave a default in force.
pub fn env_prefixes(known: &std::collections::BTreeSet<String>) -> Vec<String> {
    let mut prefixes: Vec<String> = known
        .iter()
        .map(|k| match k.find('_') {
            Some(i) => k[..=i].to_string(),
            None => k.clone(),
        })
        .collect();
    prefixes.sort();
    prefixes.dedup();
    prefixes
}

/// The names among `names` with one of [`env_prefixes`] that ptsd does not read, each with
/// the nearest name it does (Damerau-Levenshtein: a swapped pair of letters is one edit).
pub fn unknown_variables(
    command: &clap::Command,
    names: impl IntoIterator<Item = String>,
) -> Vec<(String, String)> {
    let known = known_variables(command);
    let prefixes = env_prefixes(&known);
    let mut out: Vec<(String, String)> = names
        .into_iter()
        .filter(|n| prefixes.iter().any(|p| n.starts_with(p.as_str())) && !known.contains(n))
        .filter_map(|n| {
            let nearest = known
                .iter()
                .min_by_key(|k| strsim::damerau_levenshtein(&n, k))?
                .clone();
            Some((n, nearest))
        })
        .collect();
    out.sort();
    out
}

/// Warns once about each variable of the environment that looks like ptsd's but is not read.
pub fn warn_unknown_variables() {
    let names = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
    for (name, nearest) in unknown_variables(&command(), names) {
        tracing::warn!(
            variable = %name,
            nearest = %nearest,
            "{name}: unknown; did you mean {nearest}?"
        );
    }
}

/// The subcommand in `matches`, if any.
pub fn subcommand(matches: &clap::ArgMatches) -> Option<Command> {
    matches.subcommand()?;
    Command::from_arg_matches(matches).ok()
}

/// Parses `argv` (program name first) as the binary does: the configuration, or the first
/// problem found. For tests and tools that drive the library with a command line.
///
/// # Errors
/// A [`ConfigError`] with clap's message for an unknown or malformed option, or the
/// configuration's own.
pub fn parse_from<I, T>(argv: I) -> Result<Config, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command()
        .try_get_matches_from(argv)
        .map_err(|e| ConfigError(e.to_string()))?;
    refuse_secret_flags(&matches)?;
    Config::from_matches(matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_variables_are_named_with_the_nearest_known_one() {
        let names = [
            "PTSD_INTREVAL",
            "PTSD_INTERVAL",
            "STATSD_HOTS",
            "PDTOKEN_FILE",
            "PDTOKENS",
            "PTSD_OPSGENIE_LOG_RULES",
            "HOME",
            "RUST_LOG",
        ]
        .map(String::from);
        let got = unknown_variables(&command(), names);
        assert_eq!(
            got,
            [
                ("PDTOKENS".to_string(), "PDTOKEN".to_string()),
                ("PTSD_INTREVAL".to_string(), "PTSD_INTERVAL".to_string()),
                ("STATSD_HOTS".to_string(), "STATSD_HOST".to_string()),
            ]
        );
    }

    #[test]
    fn the_known_names_come_from_every_option() {
        let known = known_variables(&command());
        for name in [
            "PDTOKEN",
            "PTSD_OPSGENIE_LOG_RULES",
            "JSM_CLOUD_ID",
            "GRAPHITE_PORT",
        ] {
            assert!(known.contains(name), "{name}");
        }
        let prefixes = env_prefixes(&known);
        for p in [
            "PTSD_",
            "PDTOKEN",
            "PAGERDUTY_",
            "OPSGENIE_",
            "JSM_",
            "STATSD_",
            "GRAPHITE_",
        ] {
            assert!(prefixes.iter().any(|q| q == p), "{p} in {prefixes:?}");
        }
    }
}
