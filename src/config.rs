//! Command line and environment → a validated [`Config`].
//!
//! Every option is a flag and an environment variable (clap's `env`), so `--help` lists each
//! variable with its default; this module is the single source of those defaults. clap does
//! the job envy would do and also gives flags and help from the same struct, so envy is not used.
//! Durations are read as text and checked here, so a bad value gets one line naming the
//! variable to fix. Tokens become [`Secret`]s at once and are never shown, not even in `--help`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::category::Categorizer;
use crate::hours::HourBands;
use crate::oncall::Analyst;
use crate::schema::{Flavor, UserKey};
use crate::secret::Secret;

/// Raw command line and environment, as clap reads them.
#[derive(Parser, Debug)]
#[command(
    name = "ptsd",
    version,
    about = "Pager Trauma Statistics Daemon: polls PagerDuty and Opsgenie and emits per-user on-call StatsD counters.",
    after_help = "Every option can also be set by the environment variable shown. Durations are humantime: 30s, 5m, 1h30m."
)]
pub struct Args {
    /// `health`: exit 0 when the last poll succeeded recently (for container health checks).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Run on the embedded demo feed (no token needed); prints to stdout unless PTSD_OUTPUTS is set.
    #[arg(long, env = "PTSD_DEMO", global = true)]
    pub demo: bool,

    /// Poll once, emit, save state and exit (for cron and debugging).
    #[arg(long, env = "PTSD_ONCE")]
    pub once: bool,

    /// PagerDuty REST API key; when set, the PagerDuty collector runs.
    #[arg(long, env = "PDTOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub pdtoken: Option<Secret>,

    /// File holding the PagerDuty REST API key (Docker and Kubernetes secrets).
    #[arg(long, env = "PDTOKEN_FILE")]
    pub pdtoken_file: Option<PathBuf>,

    /// PagerDuty API base URL (EU accounts: https://api.eu.pagerduty.com).
    #[arg(
        long,
        env = "PAGERDUTY_API_URL",
        default_value = "https://api.pagerduty.com"
    )]
    pub pagerduty_api_url: String,

    /// Opsgenie API key (an API integration's key); when set, the Opsgenie collector runs.
    #[arg(long, env = "OPSGENIE_API_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub opsgenie_api_key: Option<Secret>,

    /// File holding the Opsgenie API key (Docker and Kubernetes secrets).
    #[arg(long, env = "OPSGENIE_API_KEY_FILE")]
    pub opsgenie_api_key_file: Option<PathBuf>,

    /// Opsgenie API base URL (EU accounts: https://api.eu.opsgenie.com).
    #[arg(
        long,
        env = "OPSGENIE_API_URL",
        default_value = "https://api.opsgenie.com"
    )]
    pub opsgenie_api_url: String,

    /// StatsD agent host.
    #[arg(long, env = "STATSD_HOST", default_value = "127.0.0.1")]
    pub statsd_host: String,

    /// StatsD agent UDP port.
    #[arg(long, env = "STATSD_PORT", default_value_t = 8125)]
    pub statsd_port: u16,

    /// Comma list of outputters: statsd, stdout [default: statsd; stdout with --demo].
    #[arg(long, env = "PTSD_OUTPUTS")]
    pub outputs: Option<String>,

    /// StatsD dialect: plain (everything in dotted names) or dogstatsd (tags).
    #[arg(long, env = "PTSD_STATSD_FLAVOR", value_enum, default_value = "plain")]
    pub statsd_flavor: Flavor,

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

    /// How far back the very first poll starts, without saved state [default: 0s; 1h with --demo; --once reads at least PTSD_INTERVAL].
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

    /// Seed of the demo feed (same seed, same events).
    #[arg(long, env = "PTSD_DEMO_SEED", default_value_t = 1)]
    pub demo_seed: u64,
}

/// What to run instead of the daemon.
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Exit 0 when the running daemon's last successful poll is recent (reads the status file
    /// in PTSD_STATE_DIR, or in the temp dir without one); for Docker HEALTHCHECK.
    Health,
    /// Print the on-call handoff report for the last period (reads the providers once; sends nothing).
    Report {
        /// Length of the reported period, ending at --until (humantime, e.g. 7d).
        #[arg(long, default_value = "7d")]
        since: String,
        /// End of the period, RFC 3339 (e.g. 2026-11-23T09:00:00Z) [default: now].
        #[arg(long)]
        until: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "markdown")]
        format: crate::report::Format,
    },
}

/// What `ptsd report` was asked for, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    /// The reported period.
    pub current: crate::event::Window,
    /// The period before it, for trends.
    pub previous: crate::event::Window,
    pub format: crate::report::Format,
}

impl ReportRequest {
    /// Validates the `report` subcommand's options.
    ///
    /// # Errors
    /// A bad `--since` or `--until`, named.
    pub fn from_command(command: &Command) -> Result<Option<ReportRequest>, ConfigError> {
        let Command::Report {
            since,
            until,
            format,
        } = command
        else {
            return Ok(None);
        };
        let length = duration("--since", since)?;
        if length < Duration::from_secs(60) {
            return Err(ConfigError(
                "--since is under a minute; set it to e.g. 1d or 7d".into(),
            ));
        }
        let until: jiff::Timestamp = match until {
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
        Ok(Some(ReportRequest {
            current: crate::event::Window::new(since.0, until),
            previous: crate::event::Window::new(since.1, since.0),
            format: *format,
        }))
    }
}

/// How log lines are written (`PTSD_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

/// A configuration problem: the message says what to set.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The validated configuration every component is built from.
#[derive(Debug, Clone)]
pub struct Config {
    pub demo: bool,
    pub once: bool,
    pub pdtoken: Option<Secret>,
    pub pagerduty_api_url: String,
    pub opsgenie_api_key: Option<Secret>,
    pub opsgenie_api_url: String,
    pub statsd_host: String,
    pub statsd_port: u16,
    pub outputs: Vec<String>,
    pub statsd_flavor: Flavor,
    pub prefix: String,
    pub interval: Duration,
    pub user_key: UserKey,
    pub lateness: Duration,
    pub backfill: Duration,
    pub max_window: Duration,
    pub state_dir: Option<PathBuf>,
    pub demo_seed: u64,
    pub max_requests_per_minute: u32,
    pub http_timeout: Duration,
    /// Hour bands, account zone and alert categoriser.
    pub analyst: Analyst,
}

/// The longest duration accepted anywhere (ten years): beyond it, time arithmetic overflows.
const LONGEST: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

fn duration(var: &str, raw: &str) -> Result<Duration, ConfigError> {
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

/// Tokens are wrapped as soon as clap reads them, so even `Args`' `Debug` cannot show one.
fn parse_secret(raw: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(raw))
}

/// A base URL without its trailing slash. Plain `http://` only to this machine (a local
/// proxy or a test server): anywhere else the token would cross the network in clear text.
fn base_url(var: &str, raw: &str, example: &str) -> Result<String, ConfigError> {
    let url = raw.trim().trim_end_matches('/').to_string();
    if url.starts_with("https://") {
        return Ok(url);
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let authority = rest.split('/').next().unwrap_or("");
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return Ok(url);
        }
        return Err(ConfigError(format!(
            "{var}={url:?} is plain http to another machine, which would send the token in clear text; use https, e.g. {example}"
        )));
    }
    Err(ConfigError(format!(
        "{var}={url:?} is not an http(s) URL; set it to {example}"
    )))
}

/// Reads a secret from `value` or from the file at `file`; both set is an error.
fn secret(
    var: &str,
    value: Option<Secret>,
    file: Option<PathBuf>,
) -> Result<Option<Secret>, ConfigError> {
    let raw = match (value, file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError(format!(
                "both {var} and {var}_FILE are set; set only one"
            )))
        }
        (Some(v), None) => v.expose().to_string(),
        (None, Some(path)) => std::fs::read_to_string(&path).map_err(|e| {
            ConfigError(format!(
                "{var}_FILE={} cannot be read ({e}); point it at the file holding the token",
                path.display()
            ))
        })?,
        (None, None) => return Ok(None),
    };
    let token = raw.trim();
    if token.is_empty() {
        return Err(ConfigError(format!(
            "{var} is empty; set it (or {var}_FILE) to the API token"
        )));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError(format!(
            "{var} contains whitespace or control characters; set it to the bare API token"
        )));
    }
    Ok(Some(Secret::new(token)))
}

/// The on-call analysis settings of `args`.
fn analyst(args: &Args) -> Result<Analyst, ConfigError> {
    let bands = HourBands::parse(&args.sleep_hours, &args.business_hours, &args.business_days)
        .map_err(ConfigError)?;
    let account_zone =
        crate::hours::parse_zone("PTSD_TIME_ZONE", &args.time_zone).map_err(ConfigError)?;
    if args.max_categories == 0 {
        return Err(ConfigError(
            "PTSD_MAX_CATEGORIES is 0; set it to at least 1 (e.g. 100)".into(),
        ));
    }
    let mut categorizer = Categorizer::new(args.max_categories);
    if let Some(path) = &args.category_rules {
        categorizer = categorizer
            .with_rules_file(path)
            .map_err(|e| ConfigError(format!("PTSD_CATEGORY_RULES {e}")))?;
    }
    Ok(Analyst {
        bands,
        account_zone,
        categorizer,
    })
}

impl Config {
    /// Validates `args`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable to fix: a bad duration, a bad prefix or URL, an
    /// empty or unreadable token file, an empty output list.
    pub fn from_args(args: Args) -> Result<Config, ConfigError> {
        let analyst = analyst(&args)?;
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
        let url = base_url(
            "PAGERDUTY_API_URL",
            &args.pagerduty_api_url,
            "https://api.pagerduty.com or https://api.eu.pagerduty.com",
        )?;
        let opsgenie_url = base_url(
            "OPSGENIE_API_URL",
            &args.opsgenie_api_url,
            "https://api.opsgenie.com or https://api.eu.opsgenie.com",
        )?;
        let outputs: Vec<String> = match &args.outputs {
            Some(list) => list
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
            None if args.demo => vec!["stdout".into()],
            None => vec!["statsd".into()],
        };
        if outputs.is_empty() {
            return Err(ConfigError(
                "PTSD_OUTPUTS is empty; set it to statsd, stdout or both (statsd,stdout)".into(),
            ));
        }
        let (pdtoken, opsgenie_api_key) = if args.demo {
            (None, None)
        } else {
            (
                secret("PDTOKEN", args.pdtoken, args.pdtoken_file)?,
                secret(
                    "OPSGENIE_API_KEY",
                    args.opsgenie_api_key,
                    args.opsgenie_api_key_file,
                )?,
            )
        };
        Ok(Config {
            analyst,
            demo: args.demo,
            once: args.once,
            pdtoken,
            pagerduty_api_url: url,
            opsgenie_api_key,
            opsgenie_api_url: opsgenie_url,
            statsd_host: args.statsd_host.trim().to_string(),
            statsd_port: args.statsd_port,
            outputs,
            statsd_flavor: args.statsd_flavor,
            prefix,
            interval,
            user_key: args.user_key,
            lateness: duration("PTSD_LATENESS", &args.lateness)?,
            backfill: match &args.backfill {
                Some(raw) => duration("PTSD_BACKFILL", raw)?,
                None if args.demo => Duration::from_secs(3600),
                None => Duration::ZERO,
            },
            max_window,
            state_dir: args.state_dir,
            demo_seed: args.demo_seed,
            max_requests_per_minute: args.max_requests_per_minute,
            http_timeout: match duration("PTSD_HTTP_TIMEOUT", &args.http_timeout)? {
                d if d.is_zero() => {
                    return Err(ConfigError(
                        "PTSD_HTTP_TIMEOUT=0s would fail every request; set it to e.g. 30s".into(),
                    ))
                }
                d => d,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Config, ConfigError> {
        let mut full = vec!["ptsd"];
        full.extend_from_slice(argv);
        Config::from_args(Args::try_parse_from(full).expect("clap parses"))
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
        let e = parse(&["--pdtoken-file", f.to_str().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("PDTOKEN is empty"), "{e}");
        std::fs::write(&f, "  tok123\n").unwrap();
        let c = parse(&["--pdtoken-file", f.to_str().unwrap()]).unwrap();
        assert_eq!(c.pdtoken.unwrap().expose(), "tok123");
    }

    #[test]
    fn demo_defaults() {
        let c = parse(&["--demo"]).unwrap();
        assert_eq!(c.outputs, ["stdout"]);
        assert_eq!(c.interval, Duration::from_secs(5));
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

    #[test]
    fn tokens_never_show_in_debug_of_the_raw_arguments() {
        let args = Args::try_parse_from([
            "ptsd",
            "--pdtoken",
            "u+SeCrEt123",
            "--opsgenie-api-key",
            "og-SeCrEt456",
        ])
        .unwrap();
        let printed = format!("{args:?} {args:#?}");
        assert!(!printed.contains("SeCrEt"), "{printed}");
        let c = Config::from_args(args).unwrap();
        assert_eq!(c.pdtoken.unwrap().expose(), "u+SeCrEt123");
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        let url = |u: &str| parse(&["--pdtoken", "t", "--pagerduty-api-url", u]);
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
    }
}
