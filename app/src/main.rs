//! The `lungdesk` binary: a thin shell over the library; anyhow lives only here.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("LUNGDESK_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = lungdesk::cli::Cli::parse();
    match lungdesk::cli::run(cli, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e: anyhow::Error = e.into();
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
