//! Connection and pool settings.

use std::{fmt, path::PathBuf, str::FromStr, time::Duration};

use tokio_postgres::config::Host;

use super::tls::{SslMode, take_tls_params};
use crate::{Result, StoreError};

/// How to reach the PostgreSQL database, and how big the pool is.
///
/// Built from a URL ([`PostgresConfig::from_url`]) or from parts
/// ([`PostgresConfig::from_parts`]); the pool settings are public fields with the product's
/// defaults. `Debug` never prints the password.
#[derive(Clone)]
pub struct PostgresConfig {
    pg: tokio_postgres::Config,
    /// How connections are protected, as libpq's `sslmode` (default
    /// [`SslMode::Prefer`], as libpq); see [`super::PostgresTls`].
    pub ssl_mode: SslMode,
    /// PEM file of the CA certificates that verify the server's certificate (libpq's
    /// `sslrootcert`). Without one, `verify-ca`/`verify-full` use Mozilla's roots and
    /// `prefer`/`require` check no certificate.
    pub ssl_root_cert: Option<PathBuf>,
    /// Connections opened at start-up (default 10; at most `pool_max_size` are opened).
    pub pool_min_size: usize,
    /// Most connections the pool holds (default 50).
    pub pool_max_size: usize,
    /// Longest a single statement may run, enforced by the server as `statement_timeout`
    /// (default 60 s).
    pub command_timeout: Duration,
    /// Longest to wait for a new connection, or for a free one from a full pool, before the
    /// store reports [`StoreError::Unavailable`] (default 5 s).
    pub connect_timeout: Duration,
}

impl PostgresConfig {
    /// Default [`PostgresConfig::pool_min_size`].
    pub const DEFAULT_POOL_MIN_SIZE: usize = 10;
    /// Default [`PostgresConfig::pool_max_size`].
    pub const DEFAULT_POOL_MAX_SIZE: usize = 50;
    /// Default [`PostgresConfig::command_timeout`].
    pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default [`PostgresConfig::connect_timeout`].
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Settings from a `postgres://user:password@host:port/dbname?…` URL (or a libpq
    /// `key=value` connection string), with the default pool settings. `sslmode` (any of
    /// [`SslMode`]'s values) and `sslrootcert` are honoured as libpq does.
    ///
    /// # Errors
    /// [`StoreError::Internal`] when the URL cannot be parsed (the parser's error is the
    /// source), names no host, or has an invalid `sslmode`.
    pub fn from_url(url: &str) -> Result<Self> {
        let (rest, ssl_mode, ssl_root_cert) = take_tls_params(url);
        let pg = tokio_postgres::Config::from_str(&rest).map_err(StoreError::internal)?;
        if pg.get_hosts().is_empty() {
            return Err(StoreError::internal("the PostgreSQL URL names no host"));
        }
        let mut config = Self::with_defaults(pg);
        if let Some(mode) = ssl_mode {
            config.ssl_mode = mode.parse().map_err(StoreError::internal)?;
        }
        config.ssl_root_cert = ssl_root_cert.filter(|p| !p.is_empty()).map(PathBuf::from);
        Ok(config)
    }

    /// Settings from their parts, with the default pool settings.
    pub fn from_parts(
        host: &str,
        port: u16,
        dbname: &str,
        user: &str,
        password: Option<String>,
    ) -> Self {
        let mut pg = tokio_postgres::Config::new();
        pg.host(host).port(port).dbname(dbname).user(user);
        if let Some(password) = password {
            pg.password(password);
        }
        Self::with_defaults(pg)
    }

    fn with_defaults(mut pg: tokio_postgres::Config) -> Self {
        if pg.get_application_name().is_none() {
            pg.application_name("kagami");
        }
        Self {
            pg,
            ssl_mode: SslMode::default(),
            ssl_root_cert: None,
            pool_min_size: Self::DEFAULT_POOL_MIN_SIZE,
            pool_max_size: Self::DEFAULT_POOL_MAX_SIZE,
            command_timeout: Self::DEFAULT_COMMAND_TIMEOUT,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// The database connected to: the configured name, else (as libpq does) the user name,
    /// else `postgres`.
    pub fn database_name(&self) -> &str {
        self.pg
            .get_dbname()
            .or_else(|| self.pg.get_user())
            .unwrap_or("postgres")
    }

    /// The same settings pointing at database `name` (tests create one database each).
    #[must_use]
    pub fn with_database(&self, name: &str) -> Self {
        let mut copy = self.clone();
        copy.pg.dbname(name);
        copy
    }

    /// The driver's configuration for one connection: the TLS negotiation of
    /// [`PostgresConfig::ssl_mode`], the connect timeout, generic plans for the cached
    /// statements (before any configured options, which may override it), and the command
    /// timeout as the session's `statement_timeout` (after them).
    ///
    /// Generic plans: every statement the store sends is keyed by its parameters and written
    /// to use the same index whatever their values, so planning each execution anew buys
    /// nothing. Under `auto`, PostgreSQL kept re-planning the statements with CTEs on every
    /// call: 10.6 % of its CPU under record-forward load (`perf`, see the store README).
    pub(super) fn connection_config(&self) -> tokio_postgres::Config {
        let mut pg = self.pg.clone();
        pg.ssl_mode(self.ssl_mode.driver_mode());
        pg.connect_timeout(self.connect_timeout);
        let timeout = format!(
            "-c statement_timeout={}",
            self.command_timeout.as_millis().min(i32::MAX as u128)
        );
        let plans = "-c plan_cache_mode=force_generic_plan";
        let options = match pg.get_options() {
            Some(existing) if !existing.trim().is_empty() => {
                format!("{plans} {existing} {timeout}")
            }
            _ => format!("{plans} {timeout}"),
        };
        pg.options(options);
        pg
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<String> = self
            .pg
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        f.debug_struct("PostgresConfig")
            .field("hosts", &hosts)
            .field("ports", &self.pg.get_ports())
            .field("dbname", &self.pg.get_dbname())
            .field("user", &self.pg.get_user())
            .field("password", &self.pg.get_password().map(|_| "[REDACTED]"))
            .field("ssl_mode", &self.ssl_mode)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .field("pool_min_size", &self.pool_min_size)
            .field("pool_max_size", &self.pool_max_size)
            .field("command_timeout", &self.command_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}
