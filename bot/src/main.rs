use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use portal_bot::config::BotConfig;
use portal_bot::Platform;

/// The portal's login bot. Settings: defaults, then the TOML file, then `PORTAL_BOT_*`.
#[derive(Parser)]
#[command(name = "portal-bot", version)]
struct Cli {
    /// The platform this process serves.
    platform: Platform,
    /// A TOML file of settings.
    #[arg(long, env = "PORTAL_BOT_CONFIG")]
    config: Option<PathBuf>,
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what systemd and Docker send to stop a service).
async fn stop_asked() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "SIGTERM cannot be caught; only Ctrl-C stops the bot cleanly");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("stopping");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match BotConfig::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(portal_bot::run(cli.platform, config, stop_asked()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}
