//! Reads the database settings from the environment; shared by `kagami-server` and
//! `kagami-migrate` (included with `#[path]`), so both binaries read the same configuration.

use std::time::Duration;

use anyhow::{Context, bail};
use kagami_store::postgres::PostgresConfig;

/// The PostgreSQL settings from `DATABASE_URL` or `POSTGRES_HOST`/`POSTGRES_PORT`/`POSTGRES_DB`/
/// `POSTGRES_USER`/`POSTGRES_PASSWORD`, plus `DB_POOL_MIN_SIZE`, `DB_POOL_MAX_SIZE`,
/// `DB_COMMAND_TIMEOUT_SECONDS`. `None` when neither `DATABASE_URL` nor `POSTGRES_HOST` is set.
pub(crate) fn postgres_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<PostgresConfig>> {
    let non_empty = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    let mut config = if let Some(url) = non_empty("DATABASE_URL") {
        PostgresConfig::from_url(&url).map_err(|e| {
            anyhow::anyhow!("DATABASE_URL is not a valid PostgreSQL URL: {}", causes(&e))
        })?
    } else if let Some(host) = non_empty("POSTGRES_HOST") {
        let port = match non_empty("POSTGRES_PORT") {
            Some(p) => p
                .parse::<u16>()
                .with_context(|| format!("POSTGRES_PORT must be a port number, got {p:?}"))?,
            None => 5432,
        };
        let db = non_empty("POSTGRES_DB").unwrap_or_else(|| "kagami".to_owned());
        let user = non_empty("POSTGRES_USER").unwrap_or_else(|| "postgres".to_owned());
        PostgresConfig::from_parts(&host, port, &db, &user, non_empty("POSTGRES_PASSWORD"))
    } else {
        return Ok(None);
    };
    if let Some(v) = non_empty("DB_POOL_MIN_SIZE") {
        config.pool_min_size = v
            .parse()
            .with_context(|| format!("DB_POOL_MIN_SIZE must be a whole number, got {v:?}"))?;
    }
    if let Some(v) = non_empty("DB_POOL_MAX_SIZE") {
        config.pool_max_size = v
            .parse()
            .with_context(|| format!("DB_POOL_MAX_SIZE must be a whole number, got {v:?}"))?;
    }
    if config.pool_max_size == 0 || config.pool_min_size > config.pool_max_size {
        bail!(
            "DB_POOL_MIN_SIZE ({}) must not exceed DB_POOL_MAX_SIZE ({}), which must be at least 1",
            config.pool_min_size,
            config.pool_max_size
        );
    }
    if let Some(v) = non_empty("DB_COMMAND_TIMEOUT_SECONDS") {
        let seconds: u64 = v.parse().ok().filter(|s| *s > 0).with_context(|| {
            format!("DB_COMMAND_TIMEOUT_SECONDS must be a positive whole number, got {v:?}")
        })?;
        config.command_timeout = Duration::from_secs(seconds);
    }
    Ok(Some(config))
}

/// An error and its causes on one line.
pub(crate) fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}
