//! Reads the database settings from the environment; shared by `kagami-server` and
//! `kagami-migrate` (included with `#[path]`), so both binaries read the same configuration.

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use kagami_store::postgres::{PostgresConfig, PostgresTls, SslMode};

/// The PostgreSQL settings from `DATABASE_URL` (with libpq's `sslmode` and `sslrootcert`
/// parameters) or `POSTGRES_HOST`/`POSTGRES_PORT`/`POSTGRES_DB`/`POSTGRES_USER`/
/// `POSTGRES_PASSWORD`/`POSTGRES_SSLMODE`/`POSTGRES_SSL_ROOT_CERT`, plus `DB_POOL_MIN_SIZE`,
/// `DB_POOL_MAX_SIZE`, `DB_COMMAND_TIMEOUT_SECONDS`. `None` when neither `DATABASE_URL` nor
/// `POSTGRES_HOST` is set. The CA file is read here, so a bad one stops start-up naming the
/// variable.
pub(crate) fn postgres_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<PostgresConfig>> {
    let non_empty = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    let ssl_mode = non_empty("POSTGRES_SSLMODE");
    let ssl_root_cert = non_empty("POSTGRES_SSL_ROOT_CERT");
    let mut config = if let Some(url) = non_empty("DATABASE_URL") {
        // One place per setting: with a URL, TLS is set in the URL, as libpq reads it.
        for (name, set) in [
            ("POSTGRES_SSLMODE", ssl_mode.is_some()),
            ("POSTGRES_SSL_ROOT_CERT", ssl_root_cert.is_some()),
        ] {
            if set {
                bail!(
                    "{name} applies to the POSTGRES_HOST configuration; with DATABASE_URL set sslmode=… and sslrootcert=… in the URL"
                );
            }
        }
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
        let mut config =
            PostgresConfig::from_parts(&host, port, &db, &user, non_empty("POSTGRES_PASSWORD"));
        if let Some(mode) = ssl_mode {
            config.ssl_mode = mode
                .parse::<SslMode>()
                .map_err(|e| anyhow::anyhow!("POSTGRES_SSLMODE: {}", causes(&e)))?;
        }
        config.ssl_root_cert = ssl_root_cert.map(PathBuf::from);
        config
    } else {
        return Ok(None);
    };
    PostgresTls::new(&config).map_err(|e| {
        let variable = if non_empty("DATABASE_URL").is_some() {
            "sslrootcert in DATABASE_URL"
        } else {
            "POSTGRES_SSL_ROOT_CERT"
        };
        anyhow::anyhow!("{variable}: {}", causes(&e))
    })?;
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
