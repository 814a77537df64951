//! The `ptsd` binary: configuration → logging → components → engine → exit code.
//!
//! Everything that polls, counts or sends lives in the library; this file only wires it up
//! and turns errors into one line on stderr and a non-zero exit.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use ptsd::config::{Args, Command, Config, LogFormat, ReportRequest};
use ptsd::event::Window;
use ptsd::{collectors, engine, outputters, report};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ptsd: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let command = args.command.clone();
    let config = Config::from_args(args)?;
    match &command {
        Some(Command::Health) => {
            let path = ptsd::health::status_path(config.state_dir.as_deref());
            println!("{}", ptsd::health::check(&path, config.interval)?);
            return Ok(());
        }
        Some(c @ Command::Report { .. }) => return run_report(&config, c).await,
        None => {}
    }
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
    engine::run(
        engine::Settings::from_config(&config),
        collectors,
        outputters,
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// `ptsd report`: reads the period and the one before it once, prints the report on stdout.
async fn run_report(config: &Config, command: &Command) -> Result<(), Box<dyn std::error::Error>> {
    let Some(request) = ReportRequest::from_command(command)? else {
        return Ok(());
    };
    let mut collectors = collectors::build_all(config)?;
    for c in &mut collectors {
        // A one-shot report has no next poll to wait for: any error at start is final.
        c.check().await?;
    }
    let settings = engine::Settings::from_config(config);
    let both = Window::new(request.previous.since, request.current.until);
    let events = engine::history(&settings, &mut collectors, both).await?;
    let scope = report::Scope {
        current: request.current,
        previous: request.previous,
        zone: config.analyst.account_zone.clone(),
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
