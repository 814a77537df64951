//! The engine's own settings: command line and environment → a validated [`Config`].
//!
//! Only what the engine itself uses lives here (interval, lateness, backfill, window, state,
//! prefix, user key, log format, hour bands, categories, request budget, HTTP timeout). Each
//! collector and outputter declares its own options beside its code, and [`crate::cli`] joins
//! them into one command line through the registries; their raw values travel in
//! [`Config::components`] to the component that reads them. Configuration only reads: the
//! pieces that use the settings build themselves from them (the on-call analysis in
//! [`crate::analysis::Analyst::from_config`], each component through its registry entry).
//!
//! Every option is a flag and an environment variable (clap's `env`), so `--help` lists each
//! variable with its default. clap does the job envy would do and also gives flags and help from
//! the same structs, so envy is not used. Durations are read as text and checked here, so a bad
//! value gets one line naming the variable to fix.

use std::path::PathBuf;
use std::time::Duration;

use clap::FromArgMatches;

/// The engine's options as clap reads them (components add theirs through [`crate::cli`]).
#[derive(clap::Parser, Debug)]
#[command(
    name = "ptsd",
    version,
    after_help = "Every option can also be set by the environment variable shown. Durations are humantime: 30s, 5m, 1h30m."
)]
pub struct Args {
    /// Run on the embedded demo feed (no token needed); prints to stdout unless PTSD_OUTPUTS is set.
    #[arg(long, env = "PTSD_DEMO", global = true)]
    pub demo: bool,

    /// Poll once, emit, save state and exit (for cron and debugging).
    #[arg(long, env = "PTSD_ONCE")]
    pub once: bool,

    /// Comma list of outputters: statsd, stdout [default: statsd; stdout with --demo].
    #[arg(long, env = "PTSD_OUTPUTS")]
    pub outputs: Option<String>,

    /// Metric prefix.
    #[arg(long, env = "PTSD_PREFIX", default_value = "ptsd")]
    pub prefix: String,

    /// Poll interval [default: 1m; 5s with --demo].
    #[arg(long, env = "PTSD_INTERVAL", global = true)]
    pub interval: Option<String>,

    /// How a user appears in metrics: name, email or id.
    #[arg(long, env = "PTSD_USER_KEY", value_enum, default_value = "name")]
    pub user_key: UserKey,

    /// How late an entry may show up after its timestamp and still be counted (once).
    #[arg(long, env = "PTSD_LATENESS", default_value = "5m")]
    pub lateness: String,

    /// How far back the very first poll starts, without saved state [default: 0s; 1d with --demo; --once reads at least PTSD_INTERVAL].
    #[arg(long, env = "PTSD_BACKFILL")]
    pub backfill: Option<String>,

    /// Longest window read in one go; a longer gap (downtime) is caught up window by window.
    #[arg(long, env = "PTSD_MAX_WINDOW", default_value = "1h")]
    pub max_window: String,

    /// Directory for the cursor and recently counted ids; without it a restart loses the gap.
    #[arg(long, env = "PTSD_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,

    /// Most API requests per minute, per provider (PagerDuty allows about 960 for the whole account); 0 = no limit.
    #[arg(long, env = "PTSD_MAX_REQUESTS_PER_MINUTE", default_value_t = 120)]
    pub max_requests_per_minute: u32,

    /// Longest wait for one API answer (connecting takes at most 10 s of it); a slower answer is retried.
    #[arg(long, env = "PTSD_HTTP_TIMEOUT", default_value = "30s")]
    pub http_timeout: String,

    /// Time zone of people whose provider gives none (the account's zone), IANA name.
    #[arg(long, env = "PTSD_TIME_ZONE", default_value = "UTC", global = true)]
    pub time_zone: String,

    /// Sleep hours, local to each person, every day (sleep wins over business hours).
    #[arg(
        long,
        env = "PTSD_SLEEP_HOURS",
        default_value = "22:00-08:00",
        global = true
    )]
    pub sleep_hours: String,

    /// Business hours, local to each person, on business days.
    #[arg(
        long,
        env = "PTSD_BUSINESS_HOURS",
        default_value = "08:00-18:00",
        global = true
    )]
    pub business_hours: String,

    /// Business days: weekday names or ranges, e.g. mon-fri or sun-thu.
    #[arg(
        long,
        env = "PTSD_BUSINESS_DAYS",
        default_value = "mon-fri",
        global = true
    )]
    pub business_days: String,

    /// TOML file of alert category rules ([[rule]] match = 'regex', category = "name"), first match wins.
    #[arg(long, env = "PTSD_CATEGORY_RULES", global = true)]
    pub category_rules: Option<PathBuf>,

    /// Most distinct alert categories; further ones are counted as `other`.
    #[arg(
        long,
        env = "PTSD_MAX_CATEGORIES",
        default_value_t = 100,
        global = true
    )]
    pub max_categories: usize,

    /// Log format on stderr: text, or json (one object per line, for log collectors).
    #[arg(long, env = "PTSD_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// How log lines are written (`PTSD_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

/// How a person appears in metrics (`PTSD_USER_KEY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UserKey {
    /// Display name, lowercased (`ada_lovelace`).
    Name,
    /// E-mail address, lowercased (`ada_example_com`).
    Email,
    /// The provider's user id, case kept (`PUSR001`).
    Id,
}

/// A configuration problem: the message says what to set.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The validated engine settings, plus every component's raw options.
#[derive(Clone)]
pub struct Config {
    pub demo: bool,
    pub once: bool,
    /// The outputters to run, by registry name, in order.
    pub outputs: Vec<String>,
    pub prefix: String,
    pub interval: Duration,
    pub user_key: UserKey,
    pub lateness: Duration,
    pub backfill: Duration,
    pub max_window: Duration,
    pub state_dir: Option<PathBuf>,
    pub max_requests_per_minute: u32,
    pub http_timeout: Duration,
    /// The on-call analysis' options, as given; [`crate::analysis::Analyst::from_config`]
    /// checks and builds them.
    pub analysis: AnalysisOptions,
    /// The whole parsed command line, from which each registered component reads its own
    /// options (see `collectors::Registered` and `outputters::Registered`).
    pub components: clap::ArgMatches,
}

/// `Debug` leaves out [`Config::components`]: raw command-line values may hold a token.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("demo", &self.demo)
            .field("once", &self.once)
            .field("outputs", &self.outputs)
            .field("prefix", &self.prefix)
            .field("interval", &self.interval)
            .field("user_key", &self.user_key)
            .field("lateness", &self.lateness)
            .field("backfill", &self.backfill)
            .field("max_window", &self.max_window)
            .field("state_dir", &self.state_dir)
            .field("max_requests_per_minute", &self.max_requests_per_minute)
            .field("http_timeout", &self.http_timeout)
            .field("analysis", &self.analysis)
            .finish_non_exhaustive()
    }
}

/// The on-call analysis' options as given (hour bands, account zone, categories).
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    pub time_zone: String,
    pub sleep_hours: String,
    pub business_hours: String,
    pub business_days: String,
    pub category_rules: Option<PathBuf>,
    pub max_categories: usize,
}

/// The longest duration accepted anywhere (ten years): beyond it, time arithmetic overflows.
const LONGEST: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

/// Reads a humantime duration, naming `var` when it is not one.
///
/// # Errors
/// A [`ConfigError`] that names `var` and shows an example.
pub fn duration(var: &str, raw: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(raw.trim()).map_err(|e| {
        ConfigError(format!(
            "{var}={raw:?} is not a duration ({e}); set it to e.g. 30s, 5m or 1h"
        ))
    })?;
    if d > LONGEST {
        return Err(ConfigError(format!(
            "{var}={raw:?} is longer than ten years; set it to e.g. 30s, 5m or 1h"
        )));
    }
    Ok(d)
}

/// Reads the options of the component called `name` (type `S`, a `clap::Args` struct) from
/// the command line kept in `config`: what every registry entry does before building.
///
/// # Errors
/// A [`ConfigError`] with clap's message, naming the component.
pub fn component_options<S: FromArgMatches>(config: &Config, name: &str) -> Result<S, ConfigError> {
    S::from_arg_matches(&config.components).map_err(|e| ConfigError(format!("{name}: {e}")))
}

impl Config {
    /// Validates the engine's options in `matches` (the whole command line of
    /// [`crate::cli::command`]) and keeps the rest for the components.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable to fix: a bad duration, prefix or output list.
    pub fn from_matches(matches: clap::ArgMatches) -> Result<Config, ConfigError> {
        let args = Args::from_arg_matches(&matches).map_err(|e| ConfigError(e.to_string()))?;
        let interval = match &args.interval {
            Some(raw) => duration("PTSD_INTERVAL", raw)?,
            None if args.demo => Duration::from_secs(5),
            None => Duration::from_secs(60),
        };
        if interval < Duration::from_secs(1) {
            return Err(ConfigError(
                "PTSD_INTERVAL is under 1s; set it to at least 1s".into(),
            ));
        }
        let max_window = duration("PTSD_MAX_WINDOW", &args.max_window)?;
        if max_window < Duration::from_secs(1) {
            return Err(ConfigError(
                "PTSD_MAX_WINDOW is under 1s; set it to at least 1s (e.g. 1h)".into(),
            ));
        }
        let prefix = args.prefix.trim().to_string();
        if prefix.is_empty()
            || prefix.starts_with('.')
            || prefix.ends_with('.')
            || prefix.contains("..")
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(ConfigError(format!(
                "PTSD_PREFIX={prefix:?} is not a metric prefix; set it to letters, digits, '_', '-' and inner dots, e.g. ptsd or ops.ptsd"
            )));
        }
        let outputs: Vec<String> = match &args.outputs {
            Some(list) => list
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
            None if args.demo => vec!["stdout".into()],
            None => vec![DEFAULT_OUTPUT.into()],
        };
        if outputs.is_empty() {
            return Err(ConfigError(
                "PTSD_OUTPUTS is empty; set it to a comma list of outputters (see --help)".into(),
            ));
        }
        Ok(Config {
            demo: args.demo,
            once: args.once,
            outputs,
            prefix,
            interval,
            user_key: args.user_key,
            lateness: duration("PTSD_LATENESS", &args.lateness)?,
            backfill: match &args.backfill {
                Some(raw) => duration("PTSD_BACKFILL", raw)?,
                // A day, so the demo's first output has on-call counters at any hour (its
                // quietest hours have no incident).
                None if args.demo => Duration::from_secs(24 * 3600),
                None => Duration::ZERO,
            },
            max_window,
            state_dir: args.state_dir,
            max_requests_per_minute: args.max_requests_per_minute,
            http_timeout: match duration("PTSD_HTTP_TIMEOUT", &args.http_timeout)? {
                d if d.is_zero() => {
                    return Err(ConfigError(
                        "PTSD_HTTP_TIMEOUT=0s would fail every request; set it to e.g. 30s".into(),
                    ))
                }
                d => d,
            },
            analysis: AnalysisOptions {
                time_zone: args.time_zone,
                sleep_hours: args.sleep_hours,
                business_hours: args.business_hours,
                business_days: args.business_days,
                category_rules: args.category_rules,
                max_categories: args.max_categories,
            },
            components: matches,
        })
    }
}

/// The outputter used when `PTSD_OUTPUTS` is not set (and not `--demo`, which prints).
pub const DEFAULT_OUTPUT: &str = "statsd";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Config, ConfigError> {
        let mut full = vec!["ptsd"];
        full.extend_from_slice(argv);
        crate::cli::parse_from(full)
    }

    #[test]
    fn bad_duration_names_the_variable() {
        let e = parse(&["--interval", "5 parsecs"]).unwrap_err().to_string();
        assert!(e.starts_with("PTSD_INTERVAL="), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn empty_token_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("ptsd-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("empty");
        std::fs::write(&f, "\n").unwrap();
        let c = parse(&["--pdtoken-file", f.to_str().unwrap()]).unwrap();
        let e = crate::collectors::build_all(&c).err().unwrap().to_string();
        assert!(e.contains("PDTOKEN is empty"), "{e}");
        std::fs::write(&f, "  tok123\n").unwrap();
        let c = parse(&["--pdtoken-file", f.to_str().unwrap()]).unwrap();
        assert!(crate::collectors::build("pagerduty", &c).unwrap().is_some());
    }

    #[test]
    fn demo_defaults() {
        let c = parse(&["--demo"]).unwrap();
        assert_eq!(c.outputs, ["stdout"]);
        assert_eq!(c.interval, Duration::from_secs(5));
        assert_eq!(c.backfill, Duration::from_secs(24 * 3600));
        let c = parse(&[]).unwrap();
        assert_eq!(c.outputs, ["statsd"]);
        assert_eq!(c.interval, Duration::from_secs(60));
    }

    #[test]
    fn absurd_durations_are_refused() {
        let e = parse(&["--lateness", "100000years"])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("PTSD_LATENESS="), "{e}");
    }

    #[test]
    fn bad_prefix() {
        assert!(parse(&["--prefix", "a..b"]).is_err());
        assert!(parse(&["--prefix", "ops.ptsd"]).is_ok());
        assert!(parse(&["--prefix", "a|b"]).is_err());
    }

    /// A file holding `token`, for options that take secrets only from the environment or a file.
    fn token_file(token: &str) -> String {
        let dir = std::env::temp_dir().join(format!("ptsd-cfg-tok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let f = dir.join(format!("token-{n}"));
        std::fs::write(&f, token).unwrap();
        f.display().to_string()
    }

    #[test]
    fn tokens_never_show_in_debug_of_the_configuration() {
        let (pd, og) = (token_file("u+SeCrEt123"), token_file("og-SeCrEt456"));
        let c = parse(&["--pdtoken-file", &pd, "--opsgenie-api-key-file", &og]).unwrap();
        let printed = format!("{c:?} {c:#?}");
        assert!(!printed.contains("SeCrEt"), "{printed}");
        assert_eq!(crate::collectors::build_all(&c).unwrap().len(), 2);
    }

    #[test]
    fn a_token_as_a_flag_is_refused() {
        for (flag, var) in [
            ("--pdtoken", "PDTOKEN"),
            ("--opsgenie-api-key", "OPSGENIE_API_KEY"),
        ] {
            let e = parse(&[flag, "SeCrEt789"]).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("{flag} would put the token in the process list")),
                "{e}"
            );
            assert!(e.contains(&format!("set {var} or {var}_FILE")), "{e}");
            assert!(!e.contains("SeCrEt"), "{e}");
        }
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        let url = |u: &str| {
            let c = parse(&["--pdtoken-file", &token_file("t"), "--pagerduty-api-url", u]).unwrap();
            crate::collectors::build("pagerduty", &c).map(|_| ())
        };
        for ok in [
            "https://api.eu.pagerduty.com/",
            "http://127.0.0.1:8080",
            "http://localhost:9000/api",
            "http://[::1]:8080",
        ] {
            assert!(url(ok).is_ok(), "{ok}");
        }
        let e = url("http://api.pagerduty.com").unwrap_err().to_string();
        assert!(
            e.starts_with("PAGERDUTY_API_URL=") && e.contains("clear text"),
            "{e}"
        );
        assert!(url("http://127.0.0.1.evil.example").is_err());
        assert!(url("ftp://x").is_err());
        // User info sends the request elsewhere: `http://127.0.0.1:1@evil.example` is a request
        // to evil.example. Refused, and the message does not repeat what it held.
        for bad in [
            "http://127.0.0.1:1@evil.example",
            "https://u:SeCrEt@api.pagerduty.com",
            "https://SeCrEt@api.pagerduty.com",
        ] {
            let e = url(bad).unwrap_err().to_string();
            assert!(e.starts_with("PAGERDUTY_API_URL holds a user name"), "{e}");
            assert!(!e.contains("SeCrEt") && !e.contains("evil"), "{e}");
        }
        assert!(url("https://api.pagerduty.com/?x=1").is_err());
        assert!(url("not a url").is_err());
    }

    #[test]
    fn every_component_has_its_own_heading_in_help() {
        let help = crate::cli::command().render_help().to_string();
        assert!(
            help.starts_with("Pager Trauma Statistics Daemon: polls on-call providers (pagerduty,"),
            "{help}"
        );
        for heading in ["PagerDuty:", "Opsgenie:", "StatsD outputter:", "Demo feed:"] {
            assert!(help.contains(heading), "{heading} missing:\n{help}");
        }
        assert!(help.contains(&crate::outputters::names()));
    }
}
