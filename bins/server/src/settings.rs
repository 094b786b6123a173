//! The server's environment, validated at start-up: a wrong variable stops it with one line
//! naming the variable.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use actix_web::http::header::HeaderName;
use anyhow::{Context, bail};
use base64::Engine;
use kagami_api::{
    ApiConfig, Secret,
    ratelimit::{Quota, RateLimitConfig, RouteClass},
};
use kagami_store::postgres::PostgresConfig;
use rand::RngCore;

/// The name of a generated audit-log key, and so the origin line of its checkpoints.
const DEFAULT_LOG_NAME: &str = "kagami.local/log";

/// Everything read from the environment.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) bind: SocketAddr,
    pub(crate) data_dir: PathBuf,
    pub(crate) postgres: Option<PostgresConfig>,
    pub(crate) api_key_salt: Option<Secret>,
    pub(crate) log_level: String,
    pub(crate) log_json: bool,
    max_validity_hours: Option<u32>,
    metric_label_limit: Option<usize>,
    flip_refresh: Option<Duration>,
    dispute_sweep: Option<Duration>,
    key_cache: Option<Duration>,
    shutdown_timeout: Option<Duration>,
    redis_url: Option<Secret>,
    pub(crate) sentry_dsn: Option<Secret>,
    rate_limit: RateLimitConfig,
    /// `KAGAMI_LOG_SIGNING_KEY`: the audit log's key, in its secret text form.
    pub(crate) log_signing_key: Option<Secret>,
    /// `KAGAMI_LOG_NAME`: the name (and checkpoint origin) of a generated log key.
    pub(crate) log_name: String,
    log_interval: Option<Duration>,
    log_batch: Option<u32>,
}

fn parse<T: std::str::FromStr>(
    name: &str,
    value: Option<String>,
    what: &str,
) -> anyhow::Result<Option<T>> {
    value
        .map(|v| {
            v.trim()
                .parse::<T>()
                .ok()
                .with_context(|| format!("{name} must be {what}, got {v:?}"))
        })
        .transpose()
}

impl Settings {
    /// Reads and checks every variable.
    pub(crate) fn from_env(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let bind = parse::<SocketAddr>(
            "KAGAMI_BIND",
            var("KAGAMI_BIND"),
            "an address such as 127.0.0.1:8000",
        )?
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8000)));
        let log_level = var("LOG_LEVEL")
            .unwrap_or_else(|| "info".to_owned())
            .to_lowercase();
        if !["trace", "debug", "info", "warn", "error"].contains(&log_level.as_str()) {
            bail!("LOG_LEVEL must be one of trace, debug, info, warn, error, got {log_level:?}");
        }
        let log_json = match var("LOG_FORMAT").map(|v| v.to_lowercase()).as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => bail!("LOG_FORMAT must be json or text, got {other:?}"),
        };
        let postgres = crate::database_env::postgres_from_env(&get)?;
        let api_key_salt = var("API_KEY_SALT").map(Secret::new);
        if postgres.is_some() && api_key_salt.is_none() {
            bail!(
                "API_KEY_SALT is required when running on PostgreSQL (keys are stored as HMACs under it)"
            );
        }
        if api_key_salt.as_ref().is_some_and(|s| s.expose().len() < 16) {
            bail!("API_KEY_SALT must be at least 16 characters");
        }
        let max_validity_hours = parse::<u32>(
            "MANIFEST_MAX_VALIDITY_HOURS",
            var("MANIFEST_MAX_VALIDITY_HOURS"),
            "a whole number of hours",
        )?;
        if max_validity_hours == Some(0) {
            bail!("MANIFEST_MAX_VALIDITY_HOURS must be at least 1");
        }
        let sentry_dsn = var("SENTRY_DSN").map(Secret::new);
        if let Some(dsn) = &sentry_dsn
            && let Err(e) = dsn.expose().trim().parse::<sentry::types::Dsn>()
        {
            bail!("SENTRY_DSN is not a Sentry DSN (https://KEY@HOST/PROJECT): {e}");
        }
        let seconds =
            |name: &str| -> anyhow::Result<Option<Duration>> {
                Ok(parse::<u64>(name, var(name), "a whole number of seconds")?
                    .map(Duration::from_secs))
            };
        let rate_limit = rate_limit_from_env(&var)?;
        let log_signing_key = var("KAGAMI_LOG_SIGNING_KEY").map(Secret::new);
        if let Some(key) = &log_signing_key
            && let Err(e) = kagami_tlog::SignerKey::parse(key.expose().trim())
        {
            bail!(
                "KAGAMI_LOG_SIGNING_KEY is not a signed-note signer key (PRIVATE+KEY+name+id+key): {e}"
            );
        }
        let log_name = var("KAGAMI_LOG_NAME").unwrap_or_else(|| DEFAULT_LOG_NAME.to_owned());
        if let Err(e) = kagami_tlog::SignerKey::from_seed(&log_name, &[0; 32]) {
            bail!("KAGAMI_LOG_NAME is not a key name: {e}");
        }
        let log_batch = parse::<u32>(
            "KAGAMI_LOG_BATCH",
            var("KAGAMI_LOG_BATCH"),
            "a whole number",
        )?;
        if log_batch.is_some_and(|b| !(1..=10_000).contains(&b)) {
            bail!("KAGAMI_LOG_BATCH must be between 1 and 10000");
        }
        let log_interval = parse::<u64>(
            "KAGAMI_LOG_INTERVAL_MS",
            var("KAGAMI_LOG_INTERVAL_MS"),
            "a whole number of milliseconds",
        )?
        .map(Duration::from_millis);
        Ok(Self {
            log_signing_key,
            log_name,
            log_interval,
            log_batch,
            bind,
            data_dir: var("KAGAMI_DATA_DIR")
                .map_or_else(|| PathBuf::from("kagami-data"), PathBuf::from),
            postgres,
            api_key_salt,
            log_level,
            log_json,
            max_validity_hours,
            metric_label_limit: parse(
                "METRICS_LABEL_LIMIT",
                var("METRICS_LABEL_LIMIT"),
                "a whole number",
            )?,
            flip_refresh: seconds("FLIP_METRICS_REFRESH_SECONDS")?,
            dispute_sweep: seconds("DISPUTE_SWEEP_SECONDS")?,
            key_cache: seconds("API_KEY_CACHE_SECONDS")?,
            shutdown_timeout: seconds("SHUTDOWN_TIMEOUT_SECONDS")?,
            redis_url: var("REDIS_URL").map(Secret::new),
            rate_limit,
            sentry_dsn,
        })
    }

    /// Copies the service settings into the API configuration.
    pub(crate) fn apply(&self, config: &mut ApiConfig) {
        if let Some(hours) = self.max_validity_hours {
            config.policy.max_manifest_validity_hours = hours;
        }
        if let Some(limit) = self.metric_label_limit {
            config.metric_label_limit = limit;
        }
        if let Some(refresh) = self.flip_refresh {
            config.flip_metrics_refresh = refresh;
        }
        if let Some(sweep) = self.dispute_sweep {
            config.dispute_sweep_interval = sweep;
        }
        if let Some(ttl) = self.key_cache {
            config.api_key_cache_ttl = ttl;
        }
        if let Some(timeout) = self.shutdown_timeout {
            config.shutdown_timeout = timeout;
        }
        config.redis_url = self.redis_url.clone();
        config.rate_limit = self.rate_limit.clone();
        if let Some(interval) = self.log_interval {
            config.log_interval = interval;
        }
        if let Some(batch) = self.log_batch {
            config.log_batch = batch;
        }
    }

    /// The audit log's signing key: `KAGAMI_LOG_SIGNING_KEY`, else `<data_dir>/log_signing_key`,
    /// generated (named `KAGAMI_LOG_NAME`) and written there with mode 0600 on first start.
    pub(crate) fn log_signer(&self) -> anyhow::Result<kagami_tlog::SignerKey> {
        if let Some(key) = &self.log_signing_key {
            return kagami_tlog::SignerKey::parse(key.expose().trim())
                .context("KAGAMI_LOG_SIGNING_KEY is not a signer key");
        }
        let path = self.data_dir.join("log_signing_key");
        if let Ok(text) = std::fs::read_to_string(&path) {
            return kagami_tlog::SignerKey::parse(text.trim()).with_context(|| {
                format!(
                    "{} is not a signer key; restore it (the log's checkpoints are signed with it)",
                    path.display()
                )
            });
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create {}", self.data_dir.display()))?;
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        let key = kagami_tlog::SignerKey::from_seed(&self.log_name, &seed)
            .context("KAGAMI_LOG_NAME is not a key name")?;
        write_private(&path, &format!("{}\n", key.to_secret_text()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(key)
    }
}

/// The rate limits: `RATE_LIMIT_<CLASS>_PER_SECOND` (`0`: unlimited) and `_BURST` for each
/// route class, each defaulting to [`RateLimitConfig::default`]; the trusted proxy header; the
/// Redis key prefix.
fn rate_limit_from_env(var: &impl Fn(&str) -> Option<String>) -> anyhow::Result<RateLimitConfig> {
    let mut config = RateLimitConfig::default();
    for class in RouteClass::ALL {
        let prefix = format!("RATE_LIMIT_{}", class.name().to_uppercase());
        let (rate_name, burst_name) = (format!("{prefix}_PER_SECOND"), format!("{prefix}_BURST"));
        let default = config.quota(class);
        let per_second =
            parse::<u32>(&rate_name, var(&rate_name), "a whole number (0: unlimited)")?
                .or(default.map(Quota::per_second))
                .unwrap_or(0);
        let burst = parse::<u32>(&burst_name, var(&burst_name), "a whole number")?
            .or(default.map(Quota::burst))
            .unwrap_or(1);
        let quota = if per_second == 0 {
            None
        } else {
            let quota = Quota::new(per_second, burst).map_err(|e| match e {
                kagami_api::ratelimit::QuotaError::Rate(_) => anyhow::anyhow!("{rate_name}: {e}"),
                kagami_api::ratelimit::QuotaError::Burst(_) => anyhow::anyhow!("{burst_name}: {e}"),
            })?;
            Some(quota)
        };
        match class {
            RouteClass::PublicRead => config.public_read = quota,
            RouteClass::Verify => config.verify = quota,
            RouteClass::Write => config.write = quota,
            RouteClass::Admin => config.admin = quota,
        }
    }
    if let Some(header) = var("RATE_LIMIT_TRUSTED_PROXY_HEADER") {
        let name = HeaderName::try_from(header.trim()).ok().with_context(|| {
            format!("RATE_LIMIT_TRUSTED_PROXY_HEADER must be a header name such as X-Forwarded-For, got {header:?}")
        })?;
        config.trusted_proxy_header = Some(name);
    }
    if let Some(prefix) = var("REDIS_KEY_PREFIX") {
        config.redis_key_prefix = prefix;
    }
    Ok(config)
}

/// Installs the one log subscriber: JSON lines with `LOG_FORMAT=json`, text otherwise, at
/// `LOG_LEVEL` (`RUST_LOG` directives win when set); with `report_errors` (Sentry started),
/// also the layers that report errors ([`crate::reporting::layer`]), filtered on their own so
/// that a quiet `LOG_LEVEL` does not hide the request spans they need.
pub(crate) fn init_logging(settings: &Settings, report_errors: bool) {
    use tracing_subscriber::{Layer, layer::SubscriberExt, util::SubscriberInitExt};
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log_level));
    let format = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let format = if settings.log_json {
        format
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed()
    } else {
        format.boxed()
    };
    tracing_subscriber::registry()
        .with(format.with_filter(filter))
        .with(report_errors.then(crate::reporting::layer))
        .init();
}

/// The embedded store's API key salt: read from `<data_dir>/api_key_salt`, or generated (32
/// random bytes) and written there with mode 0600 on first start.
pub(crate) fn embedded_salt(data_dir: &Path) -> anyhow::Result<Secret> {
    let path = data_dir.join("api_key_salt");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let salt = text.trim().to_owned();
        if salt.len() >= 16 {
            return Ok(Secret::new(salt));
        }
        bail!(
            "{} is corrupt (shorter than 16 characters); restore it or remove it and recreate the API keys",
            path.display()
        );
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let salt = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    write_private(&path, &salt).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Secret::new(salt))
}

/// Creates `path` (which must not exist) with mode 0600 and writes `contents`.
#[cfg(unix)]
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_env(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_run_embedded_on_localhost() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8000");
        assert!(s.postgres.is_none());
        assert_eq!(s.data_dir, PathBuf::from("kagami-data"));
    }

    #[test]
    fn errors_name_the_variable() {
        for (vars, name) in [
            (vec![("KAGAMI_BIND", "nowhere")], "KAGAMI_BIND"),
            (vec![("LOG_LEVEL", "loud")], "LOG_LEVEL"),
            (
                vec![("MANIFEST_MAX_VALIDITY_HOURS", "-1")],
                "MANIFEST_MAX_VALIDITY_HOURS",
            ),
            (
                vec![("DATABASE_URL", "postgres://x@127.0.0.1/db")],
                "API_KEY_SALT",
            ),
            (
                vec![("POSTGRES_HOST", "db"), ("POSTGRES_PORT", "x")],
                "POSTGRES_PORT",
            ),
            (
                vec![
                    ("DB_POOL_MIN_SIZE", "5"),
                    ("DB_POOL_MAX_SIZE", "2"),
                    ("POSTGRES_HOST", "db"),
                    ("API_KEY_SALT", "0123456789abcdef"),
                ],
                "DB_POOL_MIN_SIZE",
            ),
            (
                vec![
                    ("POSTGRES_HOST", "db"),
                    ("POSTGRES_SSLMODE", "verify"),
                    ("API_KEY_SALT", "0123456789abcdef"),
                ],
                "POSTGRES_SSLMODE",
            ),
            (
                vec![
                    ("POSTGRES_HOST", "db"),
                    ("POSTGRES_SSLMODE", "verify-full"),
                    ("POSTGRES_SSL_ROOT_CERT", "/nonexistent/kagami-ca.pem"),
                    ("API_KEY_SALT", "0123456789abcdef"),
                ],
                "POSTGRES_SSL_ROOT_CERT",
            ),
            (
                vec![
                    ("DATABASE_URL", "postgres://x@127.0.0.1/db?sslmode=verify"),
                    ("API_KEY_SALT", "0123456789abcdef"),
                ],
                "DATABASE_URL",
            ),
            (vec![("SENTRY_DSN", "not a dsn")], "SENTRY_DSN"),
            (
                vec![
                    ("DATABASE_URL", "postgres://x@127.0.0.1/db"),
                    ("POSTGRES_SSLMODE", "require"),
                    ("API_KEY_SALT", "0123456789abcdef"),
                ],
                "POSTGRES_SSLMODE",
            ),
        ] {
            let err = format!("{:#}", settings(&vars).unwrap_err());
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn rate_limits_default_per_class_and_zero_means_unlimited() {
        let defaults = settings(&[]).unwrap().rate_limit;
        assert_eq!(defaults.verify, RateLimitConfig::default().verify);
        assert!(defaults.trusted_proxy_header.is_none());
        let s = settings(&[
            ("RATE_LIMIT_VERIFY_PER_SECOND", "5"),
            ("RATE_LIMIT_VERIFY_BURST", "7"),
            ("RATE_LIMIT_ADMIN_PER_SECOND", "0"),
            ("RATE_LIMIT_TRUSTED_PROXY_HEADER", "X-Forwarded-For"),
            ("REDIS_KEY_PREFIX", "staging:"),
        ])
        .unwrap()
        .rate_limit;
        assert_eq!(s.verify, Some(Quota::new(5, 7).unwrap()));
        assert_eq!(s.admin, None);
        assert_eq!(s.write, RateLimitConfig::default().write);
        assert_eq!(
            s.trusted_proxy_header.map(|h| h.to_string()).as_deref(),
            Some("x-forwarded-for")
        );
        assert_eq!(s.redis_key_prefix, "staging:");
        for (vars, name) in [
            (
                vec![("RATE_LIMIT_WRITE_PER_SECOND", "fast")],
                "RATE_LIMIT_WRITE_PER_SECOND",
            ),
            (
                vec![("RATE_LIMIT_WRITE_BURST", "0")],
                "RATE_LIMIT_WRITE_BURST",
            ),
            (
                vec![("RATE_LIMIT_PUBLIC_READ_PER_SECOND", "2000000")],
                "RATE_LIMIT_PUBLIC_READ_PER_SECOND",
            ),
            (
                vec![("RATE_LIMIT_TRUSTED_PROXY_HEADER", "not a header")],
                "RATE_LIMIT_TRUSTED_PROXY_HEADER",
            ),
        ] {
            let err = format!("{:#}", settings(&vars).unwrap_err());
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn sslmode_comes_from_the_url_or_the_variable_and_defaults_to_prefer() {
        use kagami_store::postgres::SslMode;
        let salt = ("API_KEY_SALT", "0123456789abcdef");
        let mode = |vars: &[(&str, &str)]| settings(vars).unwrap().postgres.unwrap().ssl_mode;
        assert_eq!(mode(&[("POSTGRES_HOST", "db"), salt]), SslMode::Prefer);
        assert_eq!(
            mode(&[
                ("POSTGRES_HOST", "db"),
                ("POSTGRES_SSLMODE", "require"),
                salt
            ]),
            SslMode::Require
        );
        assert_eq!(
            mode(&[
                ("DATABASE_URL", "postgres://x@db/k?sslmode=verify-full"),
                salt
            ]),
            SslMode::VerifyFull
        );
        assert_eq!(
            mode(&[("DATABASE_URL", "host=db user=x sslmode=disable"), salt]),
            SslMode::Disable
        );
    }

    #[test]
    fn salt_and_dsn_are_never_printed() {
        let s = settings(&[
            ("API_KEY_SALT", "super-secret-salt-value"),
            ("SENTRY_DSN", "https://secretkey@sentry.example/7"),
        ])
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("super-secret"), "{printed}");
        assert!(!printed.contains("secretkey"), "{printed}");
    }

    #[test]
    fn the_log_key_is_generated_once_private_or_taken_from_the_variable() {
        let dir =
            std::env::temp_dir().join(format!("kagami-logkey-{}", uuid::Uuid::new_v4().simple()));
        let data = dir.to_str().unwrap();
        let generated = settings(&[
            ("KAGAMI_DATA_DIR", data),
            ("KAGAMI_LOG_NAME", "ops.example/log"),
        ])
        .unwrap();
        let first = generated.log_signer().unwrap();
        let again = generated.log_signer().unwrap();
        assert_eq!(first.verifier(), again.verifier(), "kept, not regenerated");
        assert_eq!(first.name(), "ops.example/log");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("log_signing_key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let secret = first.to_secret_text();
        assert!(!format!("{generated:?}").contains(&secret));
        let configured = settings(&[
            ("KAGAMI_DATA_DIR", "/nonexistent"),
            ("KAGAMI_LOG_SIGNING_KEY", &secret),
        ])
        .unwrap();
        assert!(
            !format!("{configured:?}").contains(&secret),
            "the key never prints"
        );
        assert_eq!(
            configured.log_signer().unwrap().verifier(),
            first.verifier()
        );
        let error = settings(&[("KAGAMI_LOG_SIGNING_KEY", "PRIVATE+KEY+nope")]).unwrap_err();
        assert!(
            error.to_string().contains("KAGAMI_LOG_SIGNING_KEY"),
            "{error}"
        );
        assert!(
            !error.to_string().contains("nope"),
            "the rejected key is not echoed: {error}"
        );
        let error = settings(&[("KAGAMI_LOG_BATCH", "0")]).unwrap_err();
        assert!(error.to_string().contains("KAGAMI_LOG_BATCH"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn embedded_salt_is_generated_once_and_private() {
        let dir =
            std::env::temp_dir().join(format!("kagami-salt-{}", uuid::Uuid::new_v4().simple()));
        let first = embedded_salt(&dir).unwrap();
        let second = embedded_salt(&dir).unwrap();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("api_key_salt"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
