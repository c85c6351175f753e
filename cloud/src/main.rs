//! `lungdesk-cloud`: the dataset service. `lungdesk-cloud serve` starts it on SQLite;
//! `lungdesk-cloud token …` issues a token.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lungdesk_cloud::Role;
use lungdesk_cloud::server::{Config, Db, Principal, RunningService, TlsPem, issue_token};

#[derive(Parser, Debug)]
#[command(name = "lungdesk-cloud", version, about = "LungDesk's cloud dataset service")]
struct Cli {
    /// `sqlite://FILE` (created if missing) or `postgres://USER:PASS@HOST/DB`.
    #[arg(long, env = "LUNGDESK_CLOUD_DB", default_value = "sqlite://lungdesk-cloud.sqlite", global = true)]
    database: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serves the API until Ctrl+C.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: String,
        /// Surveillance counts below this are suppressed (at least 3: a count of 1 or 2 can
        /// single out a patient).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(i64).range(3..))]
        min_count: i64,
        /// PEM certificate chain; with --tls-key, serves HTTPS.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Serve plain HTTP on an address other than loopback (tokens and labels then cross the
        /// network unencrypted; for a TLS-terminating proxy in front only).
        #[arg(long)]
        insecure_http: bool,
        /// Drift monitor: Cohen's κ of a model set against the readers, per site, under which its
        /// AI-only counts of that site are withheld.
        #[arg(long, default_value_t = 0.40)]
        kappa_floor: f64,
        /// Drift monitor: the rolling window, in latest confirmed cases.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(5..))]
        drift_window_cases: u32,
        /// Drift monitor: confirmed cases needed in the window to measure agreement.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(5..))]
        drift_min_cases: u32,
    },
    /// Issues a token and prints it once (only its hash is kept).
    Token {
        #[arg(long)]
        reader: String,
        #[arg(long)]
        site: String,
        /// reader, site_admin or curator.
        #[arg(long, default_value = "reader")]
        role: String,
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Lists every token by id (the first 12 hex digits of its SHA-256), holder, role, expiry
    /// and whether it is revoked.
    Tokens,
    /// Revokes the token with this id (see `tokens`); audited.
    Revoke {
        #[arg(long)]
        id: String,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            listen,
            min_count,
            tls_cert,
            tls_key,
            insecure_http,
            kappa_floor,
            drift_window_cases,
            drift_min_cases,
        } => {
            if !(-1.0..=1.0).contains(&kappa_floor) {
                anyhow::bail!("--kappa-floor must be between -1 and 1, not {kappa_floor}");
            }
            if drift_min_cases > drift_window_cases {
                anyhow::bail!(
                    "--drift-min-cases ({drift_min_cases}) cannot exceed --drift-window-cases ({drift_window_cases})"
                );
            }
            let drift = lungdesk_domain::drift::DriftConfig {
                kappa_floor,
                window_cases: drift_window_cases as usize,
                min_cases: drift_min_cases as usize,
                ..Default::default()
            };
            let listener =
                std::net::TcpListener::bind(&listen).with_context(|| format!("cannot listen on {listen}"))?;
            let loopback = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
            if tls_cert.is_none() && !loopback && !insecure_http {
                anyhow::bail!(
                    "refusing to serve plain HTTP on {listen}: give --tls-cert and --tls-key, listen on loopback, \
                     or pass --insecure-http behind a TLS-terminating proxy"
                );
            }
            let tls = match (tls_cert, tls_key) {
                (Some(c), Some(k)) => Some(TlsPem {
                    cert: std::fs::read(&c).with_context(|| format!("cannot read {}", c.display()))?,
                    key: std::fs::read(&k).with_context(|| format!("cannot read {}", k.display()))?,
                }),
                _ => None,
            };
            let scheme = if tls.is_some() { "https" } else { "http" };
            let service =
                RunningService::start(&Config { database_url: cli.database.clone(), min_count, drift }, listener, tls)?;
            eprintln!(
                "lungdesk-cloud: serving {scheme}://{} on {}",
                service.addr,
                lungdesk_cloud::server::db::redact(&cli.database)
            );
            service.wait();
        }
        Command::Token { reader, site, role, days } => {
            let role = Role::from_code(&role)
                .with_context(|| format!("unknown role {role}: reader, site_admin or curator"))?;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let issued = rt.block_on(async {
                let db = Db::connect(&cli.database).await?;
                issue_token(&db, &Principal { reader_id: reader, site_code: site, role }, days, "cli").await
            })?;
            println!("{}", issued.token);
        }
        Command::Tokens => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let tokens = rt.block_on(async { Db::connect(&cli.database).await?.tokens(None).await })?;
            for t in tokens {
                println!(
                    "{}\t{}\t{}\t{}\texpires {}{}",
                    t.id,
                    t.reader_id,
                    t.site_code,
                    t.role.code(),
                    t.expires_at,
                    if t.revoked { "\trevoked" } else { "" }
                );
            }
        }
        Command::Revoke { id } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let found =
                rt.block_on(async { Db::connect(&cli.database).await?.revoke_token(&id, None, "cli").await })?;
            anyhow::ensure!(found, "no token with id {id} (see `lungdesk-cloud tokens`)");
            eprintln!("revoked {id}");
        }
    }
    Ok(())
}
