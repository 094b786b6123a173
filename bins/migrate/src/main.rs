//! `kagami-migrate`: applies Kagami's PostgreSQL migrations, each in its own transaction.
//!
//! Reads the same database configuration as `kagami-server` (`DATABASE_URL` with its
//! `sslmode`/`sslrootcert`, or `POSTGRES_HOST`/`POSTGRES_PORT`/`POSTGRES_DB`/`POSTGRES_USER`/
//! `POSTGRES_PASSWORD`/`POSTGRES_SSLMODE`/`POSTGRES_SSL_ROOT_CERT`) and connects with the same
//! TLS settings (the README's "TLS to PostgreSQL").
//! Idempotent; refuses to run when an applied migration's checksum changed; exits non-zero
//! with a one-line error when the database is unreachable or a migration fails.

use std::process::ExitCode;

use clap::Parser;

#[path = "../../shared/database_env.rs"]
mod database_env;

/// Applies pending PostgreSQL migrations (or lists them with --status).
///
/// Configured by the environment, as kagami-server: DATABASE_URL (TLS with
/// ?sslmode=disable|prefer|require|verify-ca|verify-full&sslrootcert=CA.pem, default prefer), or
/// POSTGRES_HOST and its companions with POSTGRES_SSLMODE and POSTGRES_SSL_ROOT_CERT.
#[derive(Debug, Parser)]
#[command(name = "kagami-migrate", version, about)]
struct Args {
    /// List applied and pending migrations without applying anything.
    #[arg(long)]
    status: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kagami-migrate: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let config = database_env::postgres_from_env(|name| std::env::var(name).ok())?.ok_or_else(|| {
        anyhow::anyhow!("no PostgreSQL configured: set DATABASE_URL or POSTGRES_HOST (the embedded store migrates itself)")
    })?;
    let target = config.database_name().to_owned();
    if args.status {
        let status = kagami_store::postgres::migration_status(&config)
            .await
            .map_err(|e| anyhow::anyhow!("{}", database_env::causes(&e)))?;
        for m in &status.applied {
            println!("applied  V{}__{}", m.version, m.name);
        }
        for m in &status.pending {
            println!("pending  V{}__{}", m.version, m.name);
        }
        println!(
            "{} applied, {} pending on database {target}",
            status.applied.len(),
            status.pending.len()
        );
        return Ok(());
    }
    let applied = kagami_store::postgres::migrate(&config)
        .await
        .map_err(|e| anyhow::anyhow!("{}", database_env::causes(&e)))?;
    if applied.is_empty() {
        println!("database {target} is up to date; nothing to apply");
    } else {
        for m in &applied {
            println!("applied  V{}__{}", m.version, m.name);
        }
        println!(
            "{} migration(s) applied to database {target}",
            applied.len()
        );
    }
    Ok(())
}
