//! The service's typed configuration. The binary reads the environment; this crate only
//! receives these structs.

use std::{fmt, sync::Arc, time::Duration};

use kagami_core::Policy;

use crate::ratelimit::RateLimitConfig;

/// A secret string (API key salt, Redis URL with password, …): `Debug` and `Display` print
/// `[REDACTED]`, so it cannot leak through logs or error messages by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub const fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Renders the Prometheus exposition text; installed by the binary, which owns the recorder.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// Everything the service needs besides its store.
#[derive(Clone)]
pub struct ApiConfig {
    /// The domain rules' limits.
    pub policy: Policy,
    /// Salt of the API keys' HMAC-SHA256.
    pub api_key_salt: Secret,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Distinct values per unbounded metric label (agent, reporter) before folding into
    /// `"other"`.
    pub metric_label_limit: usize,
    /// How often the flip-metrics materialized view is refreshed.
    pub flip_metrics_refresh: Duration,
    /// How often commitments are checked for disputes no request triggered, and the ledger
    /// gauges refreshed (zero: never).
    pub dispute_sweep_interval: Duration,
    /// How long an authenticated API key is remembered (zero: looked up on every request). A
    /// revoked key keeps working at most this long on each replica.
    pub api_key_cache_ttl: Duration,
    /// Redis, where the rate limit buckets of every replica live (`None`: in process).
    pub redis_url: Option<Secret>,
    /// Per-client rate limits by route class.
    pub rate_limit: RateLimitConfig,
    /// How long in-flight requests may take to finish on shutdown.
    pub shutdown_timeout: Duration,
    /// HTTP worker threads (`None`: one per core).
    pub workers: Option<usize>,
    /// Renders `/metrics`; `None` answers an empty exposition.
    pub metrics_renderer: Option<MetricsRenderer>,
    /// The audit log's signing key (its name is the checkpoints' origin); `None`: no
    /// sequencer runs here and the log's key is not served.
    pub log_signer: Option<kagami_tlog::SignerKey>,
    /// How often the sequencer integrates pending log entries.
    pub log_interval: Duration,
    /// The most entries one sequencer run integrates.
    pub log_batch: u32,
}

impl ApiConfig {
    /// The defaults, with the given salt.
    pub fn new(api_key_salt: Secret) -> Self {
        Self {
            policy: Policy::default(),
            api_key_salt,
            max_body_bytes: 64 * 1024,
            metric_label_limit: 10_000,
            flip_metrics_refresh: Duration::from_secs(30),
            dispute_sweep_interval: Duration::from_secs(5),
            api_key_cache_ttl: Duration::from_secs(5),
            redis_url: None,
            rate_limit: RateLimitConfig::default(),
            shutdown_timeout: Duration::from_secs(30),
            workers: None,
            metrics_renderer: None,
            log_signer: None,
            log_interval: Duration::from_millis(500),
            log_batch: 10_000,
        }
    }
}

impl fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiConfig")
            .field("policy", &self.policy)
            .field("api_key_salt", &self.api_key_salt)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("metric_label_limit", &self.metric_label_limit)
            .field("flip_metrics_refresh", &self.flip_metrics_refresh)
            .field("dispute_sweep_interval", &self.dispute_sweep_interval)
            .field("api_key_cache_ttl", &self.api_key_cache_ttl)
            .field("redis_url", &self.redis_url)
            .field("rate_limit", &self.rate_limit)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("workers", &self.workers)
            .field("log_signer", &self.log_signer)
            .field("log_interval", &self.log_interval)
            .field("log_batch", &self.log_batch)
            .field(
                "metrics_renderer",
                &self.metrics_renderer.as_ref().map(|_| "installed"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let config = ApiConfig::new(Secret::new("s3cr3t-salt".into()));
        let printed = format!("{config:?} {:?}", config.api_key_salt);
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert!(printed.contains("[REDACTED]"));
    }
}
