//! The `ptsd` binary: configuration → logging → components → engine → exit code.
//!
//! Everything that polls, counts or sends lives in the library; this file only wires it up
//! and turns errors into one line on stderr and a non-zero exit.

use std::io::IsTerminal;
use std::process::ExitCode;

use ptsd::cli::Command;
use ptsd::config::{Config, LogFormat};
use ptsd::event::Window;
use ptsd::report::ReportRequest;
use ptsd::{cli, collectors, engine, outputters, report};

fn main() -> ExitCode {
    tune_malloc();
    // One thread runs everything async (ptsd polls one provider at a time); blocking work
    // (resolving STATSD_HOST, a flush, the fsync'd state write) goes to tokio's blocking pool.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ptsd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async_main());
    // A blocking step abandoned at shutdown (a hung resolver) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

/// glibc's malloc set for a small daemon that lives for months (measured in BENCHMARKS.md,
/// "Live polling"): a fixed mmap threshold, so a page body of 64 KiB or more is mapped and
/// given back when it is dropped (by default glibc raises the threshold to the largest block
/// freed, after which such bodies stay in the heap), the trim threshold at its default (a fixed
/// mmap threshold would otherwise leave it where the dynamic one had put it), and one arena
/// for all threads (the blocking pool's threads would each get their own). It changes where
/// memory comes from, never what ptsd does. musl (the Docker image) has its own allocator.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called first in main, before any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 10);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 10);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

async fn async_main() -> ExitCode {
    // SIGTERM, SIGINT and SIGHUP are handled from here on, whatever ptsd is doing: reading
    // its configuration, the start-up check, a poll, a flush or a report all end within
    // moments, and ptsd exits 0.
    let stop = Stop::listen();
    let matches = match cli::command().try_get_matches() {
        Ok(m) => m,
        // A bad option, with JSON logs asked for: the one line is JSON too.
        Err(e) if e.use_stderr() && json_asked() => {
            init_logs(true, "info");
            tracing::error!(error = %e.render().to_string().trim(), "Cannot start.");
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    // A one-shot read (`ptsd report`, `ptsd logs`) is quiet: warnings and errors only, and a
    // progress bar on a terminal; RUST_LOG=info brings its per-window lines back.
    let default_level = match cli::subcommand(&matches) {
        Some(Command::Report(_) | Command::Logs(_)) => "warn",
        _ => "info",
    };
    let json = matches.get_one::<LogFormat>("log_format") == Some(&LogFormat::Json);
    init_logs(json, default_level);
    cli::warn_unknown_variables();
    match run(matches, stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if json => {
            tracing::error!(error = %e, "Cannot go on.");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("ptsd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, one JSON object a line with `json`.
fn init_logs(json: bool, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(ptsd::progress::StderrWriter);
    if json {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// Whether JSON logs are asked for, read before the command line could be parsed.
fn json_asked() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let flag = args
        .windows(2)
        .any(|w| w[0] == "--log-format" && w[1] == "json")
        || args.iter().any(|a| a == "--log-format=json");
    flag || std::env::var("PTSD_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"))
}

async fn run(matches: clap::ArgMatches, stop: Stop) -> Result<(), Box<dyn std::error::Error>> {
    cli::refuse_secret_flags(&matches)?;
    let command = cli::subcommand(&matches);
    // Reading the configuration reads files (tokens, rules) that could block (a hung network
    // mount): off the runtime, so a signal still stops ptsd at once.
    let config = tokio::select! {
        r = tokio::task::spawn_blocking(move || Config::from_matches(matches)) => r??,
        () = stop.wait() => {
            tracing::info!("Stopped while reading the configuration.");
            return Ok(());
        }
    };
    match &command {
        Some(Command::Health) => {
            let state_dir = config.state_dir.as_deref();
            println!(
                "{}",
                ptsd::status::check_daemon(state_dir, config.interval)?
            );
            return Ok(());
        }
        Some(Command::Report(args)) => {
            let request = ReportRequest::from_args(args)?;
            tokio::select! {
                r = run_report(&config, request) => return r,
                () = stop.wait() => return Ok(()),
            }
        }
        Some(Command::Logs(args)) => {
            tokio::select! {
                r = run_logs(&config, args.since) => return r,
                () = stop.wait() => return Ok(()),
            }
        }
        None => {}
    }
    // Building reads rule files and resolves hosts: off the runtime too.
    let built = tokio::task::spawn_blocking(move || {
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((
            engine::Settings::from_config(&config)?,
            collectors::build_all(&config)?,
            outputters::build_all(&config)?,
        ))
    });
    let (settings, mut collectors, outputters) = tokio::select! {
        r = built => r?.map_err(|e| e as Box<dyn std::error::Error>)?,
        () = stop.wait() => {
            tracing::info!("Stopped while reading the configuration.");
            return Ok(());
        }
    };
    let checks = async {
        for c in &mut collectors {
            check(c.as_mut()).await?;
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    };
    tokio::select! {
        r = checks => r?,
        () = stop.wait() => {
            tracing::info!("Stopped during the start-up check.");
            return Ok(());
        }
    }
    engine::run(settings, collectors, outputters, stop.wait()).await?;
    Ok(())
}

/// The start-up check of one collector: a refused token stops ptsd; bad weather does not.
async fn check(c: &mut dyn collectors::Collector) -> Result<(), Box<dyn std::error::Error>> {
    match c.check().await {
        Ok(()) => tracing::info!(provider = c.name(), "Collector ready."),
        // A refused token will not get better: stop now, with one line.
        Err(e) if e.is_fatal() => return Err(e.into()),
        // Bad weather at start (5xx, network): the engine keeps trying every poll.
        Err(e) => {
            tracing::warn!(provider = c.name(), error = %e, "Provider not reachable at start; polling anyway.")
        }
    }
    Ok(())
}

/// `ptsd report`: reads the period and the one before it once, prints the report on stdout.
async fn run_report(
    config: &Config,
    request: ReportRequest,
) -> Result<(), Box<dyn std::error::Error>> {
    let settings = engine::Settings::from_config(config)?;
    let mut collectors =
        collectors::build_narrowed(config, request.provider.as_deref(), &request.teams)?;
    for c in &mut collectors {
        // A one-shot report has no next poll to wait for: any error at start is final.
        c.check().await?;
    }
    let both = Window::new(request.previous.since, request.current.until);
    let progress = ptsd::progress::Progress::on_stderr(both, collectors.len());
    let events = engine::history_with_progress(&settings, &mut collectors, both, &mut |r| {
        progress.reached(r)
    })
    .await;
    progress.finish();
    let events = events?;
    let scope = report::Scope {
        current: request.current,
        previous: request.previous,
        zone: settings.analyst.account_zone.clone(),
        user_key: config.user_key,
        teams: request.teams.clone(),
        provider: request.provider.clone(),
    };
    print!(
        "{}",
        report::render(&report::build(&scope, &events), request.format)
    );
    Ok(())
}

/// `ptsd logs`: reads the period once, prints the log row shapes on stdout.
async fn run_logs(
    config: &Config,
    since: std::time::Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let settings = engine::Settings::from_config(config)?;
    let mut collectors = collectors::build_all(config)?;
    for c in &mut collectors {
        c.check().await?;
    }
    print!(
        "{}",
        ptsd::logs::run(&settings, &mut collectors, since).await?
    );
    Ok(())
}

/// SIGTERM, SIGINT (Ctrl-C) or SIGHUP, listened for from the first line of `main`. SIGHUP is
/// a stop like the others (a closed terminal, or a supervisor's stop): ptsd has no
/// configuration file to reload, and its environment cannot change while it runs.
#[derive(Clone)]
struct Stop(tokio::sync::watch::Receiver<bool>);

impl Stop {
    /// Installs the handlers now (a signal before anything waits is not lost).
    fn listen() -> Stop {
        let (tx, rx) = tokio::sync::watch::channel(false);
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let term = signal(SignalKind::terminate());
            let int = signal(SignalKind::interrupt());
            let hup = signal(SignalKind::hangup());
            if let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (term, int, hup) {
                tokio::spawn(async move {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                        _ = hup.recv() => {}
                    }
                    tracing::info!("Shutdown signal received; finishing.");
                    let _ = tx.send(true);
                });
            }
        }
        #[cfg(not(unix))]
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(true);
            }
        });
        Stop(rx)
    }

    /// Resolves once a signal has come.
    async fn wait(&self) {
        let mut rx = self.0.clone();
        if rx.wait_for(|stopped| *stopped).await.is_err() {
            // No handler could be installed: never.
            std::future::pending::<()>().await;
        }
    }
}
