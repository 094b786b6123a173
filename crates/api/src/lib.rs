#![doc = include_str!("../README.md")]

pub mod auth;
pub mod config;
mod error;
mod handlers;
mod openapi;
pub mod ratelimit;
pub mod telemetry;
mod views;

use std::{net::TcpListener, time::Duration};

use actix_web::{App, HttpResponse, HttpServer, dev::Server, http::StatusCode, middleware, web};
use kagami_core::wire::ErrorCode;
use kagami_store::Store;
use utoipa::OpenApi;

pub use config::{ApiConfig, MetricsRenderer, Secret};
pub use error::{ApiError, ApiResult};

use crate::{
    handlers::*,
    openapi::{BearerAuth, ErrorResponses, Links},
    ratelimit::{RateLimitResponses, RateLimiter},
    telemetry::LabelLimiter,
};

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The configuration.
    pub config: ApiConfig,
    /// Caps `agent_uuid` label values.
    pub agent_labels: LabelLimiter,
    /// Caps `reporter` label values.
    pub reporter_labels: LabelLimiter,
    /// Recently authenticated API keys.
    pub keys: auth::KeyCache,
    /// Per-client rate limits.
    pub rate_limiter: RateLimiter,
}

/// Lists every endpoint once: the same list registers the actix services and generates the
/// OpenAPI document, so the two cannot drift apart.
macro_rules! endpoints {
    ($($handler:path),* $(,)?) => {
        /// The OpenAPI document of every endpoint, generated from the handlers.
        #[derive(Debug, OpenApi)]
        #[openapi(
            info(title = "Kagami", description = "Trust layer for AI agents that forward x402 payments: signed endpoint manifests, verify-forward, forward receipts, cycle settlement."),
            paths($($handler),*),
            modifiers(&BearerAuth, &RateLimitResponses, &ErrorResponses, &Links),
            tags(
                (name = "agents", description = "ERC-8004 agents and their stake"),
                (name = "manifests", description = "Signed endpoint manifests"),
                (name = "forwards", description = "Verify, record and audit forwards; report cycles"),
                (name = "commitments", description = "Time-locked commitments for high-value flows"),
                (name = "mev", description = "MEV incidents"),
                (name = "ledger", description = "Every slash, and the bounties and retained money it became"),
                (name = "log", description = "The verifiable audit log: signed checkpoints, entries, inclusion and consistency proofs"),
                (name = "operations", description = "Health, readiness, metrics, this document"),
            )
        )]
        pub struct ApiDoc;

        fn register(cfg: &mut web::ServiceConfig) {
            $(cfg.service($handler);)*
        }

        /// How many handlers [`register`] registers.
        #[cfg(test)]
        const HANDLERS: usize = [$(stringify!($handler)),*].len();
    };
}

endpoints!(
    agents::register_agent,
    agents::get_agent,
    agents::set_stake,
    agents::update_agent,
    agents::list_manifests,
    agents::get_manifest,
    agents::flip_metrics,
    manifests::publish,
    manifests::revoke,
    manifests::verify_forward,
    forwards::record_forward,
    forwards::forward_trail,
    forwards::report_cycle,
    commitments::create_commitment,
    commitments::confirm_commitment,
    commitments::settle_commitment,
    commitments::create_incident,
    commitments::mev_summary,
    ledger::get_ledger,
    log::log_key,
    log::checkpoint,
    log::entries,
    log::inclusion,
    log::consistency,
    log::object_proof,
    ops::health,
    ops::ready,
    ops::metrics,
    ops::openapi,
);

/// The service: an actix server bound to its own listener.
pub struct Application {
    port: u16,
    server: Server,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Builds the server on `listener` (bind `127.0.0.1:0` for a random port) and starts the
    /// background flip-metrics refresher. Call inside a Tokio runtime.
    ///
    /// # Errors
    /// When the listener cannot be used, or `redis_url` is not a Redis URL.
    pub fn build(config: ApiConfig, store: Store, listener: TcpListener) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        telemetry::describe_metrics();
        let rate_limiter = RateLimiter::new(config.rate_limit.clone(), config.redis_url.as_ref())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let state = web::Data::new(AppState {
            rate_limiter,
            agent_labels: LabelLimiter::new(config.metric_label_limit),
            reporter_labels: LabelLimiter::new(config.metric_label_limit),
            keys: auth::KeyCache::new(config.api_key_cache_ttl),
            store,
            config,
        });
        spawn_background_jobs(&state);
        let body_limit = state.config.max_body_bytes;
        let shutdown = state.config.shutdown_timeout;
        let workers = state.config.workers;
        let factory_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(factory_state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(body_limit)
                        .error_handler(error::json_error),
                )
                .app_data(web::PayloadConfig::default().limit(body_limit))
                .app_data(web::PathConfig::default().error_handler(error::path_error))
                .app_data(web::QueryConfig::default().error_handler(error::query_error))
                .wrap(middleware::from_fn(ratelimit::limit))
                .wrap(middleware::from_fn(telemetry::observe))
                .configure(register)
                .default_service(web::to(route_not_found))
        })
        .listen(listener)?
        .shutdown_timeout(shutdown.as_secs());
        if let Some(workers) = workers {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
        })
    }

    /// The bound port.
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGINT/SIGTERM or the handle): stops accepting, then lets
    /// in-flight requests finish within the shutdown timeout.
    ///
    /// # Errors
    /// I/O errors of the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The OpenAPI document, built once, and its JSON.
pub(crate) fn openapi_json() -> &'static str {
    static JSON: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| openapi::document().to_string());
    &JSON
}

/// Every endpoint's path template with the methods it answers (an `Allow` value), collected
/// once: unknown routes and wrong methods are answered for the price of a few string
/// comparisons.
fn routes() -> &'static [(String, String)] {
    static ROUTES: std::sync::LazyLock<Vec<(String, String)>> = std::sync::LazyLock::new(|| {
        ApiDoc::openapi()
            .paths
            .paths
            .iter()
            .map(|(template, item)| (template.clone(), openapi::allow(item)))
            .collect()
    });
    &ROUTES
}

/// Answers what no endpoint took: 405 with `Allow` (RFC 9110 section 15.5.6) on a known path,
/// 404 elsewhere.
async fn route_not_found(req: actix_web::HttpRequest) -> HttpResponse {
    let route = routes()
        .iter()
        .find(|(template, _)| path_matches(template, req.path()));
    match route {
        Some((_, allow)) => {
            let err = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                format!("{} is not allowed here; allowed: {allow}", req.method()),
            );
            let mut response = actix_web::ResponseError::error_response(&err);
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(allow) {
                response
                    .headers_mut()
                    .insert(actix_web::http::header::ALLOW, value);
            }
            response
        }
        None => actix_web::ResponseError::error_response(&ApiError::not_found(
            ErrorCode::RouteNotFound,
            format!("no route for {}", req.path()),
        )),
    }
}

/// Whether a concrete path matches an OpenAPI path template (`{param}` matches one segment).
fn path_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_end_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(a, b)| (a.starts_with('{') && a.ends_with('}')) || a == b)
}

/// Runs `job` every `interval` in the background (never when the interval is zero), logging
/// its failures as `what failed`.
fn spawn_every<F, Fut>(state: web::Data<AppState>, interval: Duration, what: &'static str, job: F)
where
    F: Fn(web::Data<AppState>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), kagami_store::StoreError>> + Send,
{
    if interval.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(e) = job(state.clone()).await {
                tracing::warn!(error.cause = %error::chain(&e), "{what} failed");
            }
        }
    });
}

/// The background jobs: the flip-metrics view refresh (a no-op on the embedded store), and
/// the dispute sweep — settling disputes that fell due without any request touching the agent
/// (a manifest that takes effect during a time lock) — which also refreshes the ledger gauges.
fn spawn_background_jobs(state: &web::Data<AppState>) {
    let refresh = state.config.flip_metrics_refresh;
    spawn_every(
        state.clone(),
        refresh,
        "flip metrics refresh",
        |state| async move { state.store.refresh_flip_metrics().await },
    );
    if let Some(signer) = state.config.log_signer.clone() {
        let interval = state.config.log_interval;
        let batch = state.config.log_batch;
        spawn_every(state.clone(), interval, "log sequencer", move |state| {
            let signer = signer.clone();
            async move {
                let now = handlers::now();
                let head = state.store.integrate_log(signer, batch, now).await?;
                if let Some(head) = head {
                    telemetry::record_log_size(head.size);
                }
                Ok(())
            }
        });
    }
    let sweep = state.config.dispute_sweep_interval;
    spawn_every(state.clone(), sweep, "dispute sweep", |state| async move {
        sweep_disputes(&state).await
    });
}

async fn sweep_disputes(state: &AppState) -> Result<(), kagami_store::StoreError> {
    for agent in state.store.disputable_agents().await? {
        let disputed = state.store.touch_agent(agent, handlers::now()).await?;
        telemetry::log_disputes(agent, &disputed);
    }
    let (totals, _) = state.store.ledger(0, None).await?;
    telemetry::record_ledger(&totals);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_templates_match_one_segment_per_parameter() {
        assert!(path_matches(
            "/api/v1/agents/{agent_uuid}",
            "/api/v1/agents/abc"
        ));
        assert!(!path_matches(
            "/api/v1/agents/{agent_uuid}",
            "/api/v1/agents/abc/def"
        ));
        assert!(!path_matches("/api/v1/agents", "/api/v1/agent"));
    }

    #[test]
    fn every_endpoint_is_in_the_openapi_document() {
        let doc = ApiDoc::openapi();
        let count: usize = doc
            .paths
            .paths
            .values()
            .map(|item| {
                [&item.get, &item.post, &item.put, &item.patch, &item.delete]
                    .iter()
                    .filter(|op| op.is_some())
                    .count()
            })
            .sum();
        assert_eq!(count, HANDLERS, "one operation per registered handler");
        assert!(
            doc.paths
                .paths
                .contains_key("/api/v1/agents/manifests/verify-forward")
        );
    }
}
