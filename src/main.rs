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

#[tokio::main]
async fn main() -> ExitCode {
    let matches = cli::command().get_matches();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match matches.get_one::<LogFormat>("log_format") {
        Some(LogFormat::Json) => logs.json().init(),
        _ => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    match run(matches).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ptsd: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(matches: clap::ArgMatches) -> Result<(), Box<dyn std::error::Error>> {
    cli::refuse_secret_flags(&matches)?;
    let command = cli::subcommand(&matches);
    let config = Config::from_matches(matches)?;
    match &command {
        Some(Command::Health) => {
            let path = ptsd::status::status_path(config.state_dir.as_deref());
            println!("{}", ptsd::status::check(&path, config.interval)?);
            return Ok(());
        }
        Some(Command::Report(args)) => {
            return run_report(&config, ReportRequest::from_args(args)?).await
        }
        None => {}
    }
    let settings = engine::Settings::from_config(&config)?;
    let mut collectors = collectors::build_all(&config)?;
    let outputters = outputters::build_all(&config)?;
    for c in &mut collectors {
        match c.check().await {
            Ok(()) => tracing::info!(provider = c.name(), "Collector ready."),
            // A refused token will not get better: stop now, with one line.
            Err(e) if e.is_fatal() => return Err(e.into()),
            // Bad weather at start (5xx, network): the engine keeps trying every poll.
            Err(e) => {
                tracing::warn!(provider = c.name(), error = %e, "Provider not reachable at start; polling anyway.")
            }
        }
    }
    engine::run(settings, collectors, outputters, shutdown_signal()).await?;
    Ok(())
}

/// `ptsd report`: reads the period and the one before it once, prints the report on stdout.
async fn run_report(
    config: &Config,
    request: ReportRequest,
) -> Result<(), Box<dyn std::error::Error>> {
    let settings = engine::Settings::from_config(config)?;
    let mut collectors = collectors::build_all(config)?;
    for c in &mut collectors {
        // A one-shot report has no next poll to wait for: any error at start is final.
        c.check().await?;
    }
    let both = Window::new(request.previous.since, request.current.until);
    let events = engine::history(&settings, &mut collectors, both).await?;
    let scope = report::Scope {
        current: request.current,
        previous: request.previous,
        zone: settings.analyst.account_zone.clone(),
        user_key: config.user_key,
    };
    print!(
        "{}",
        report::render(&report::build(&scope, &events), request.format)
    );
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("Shutdown signal received; finishing.");
}
