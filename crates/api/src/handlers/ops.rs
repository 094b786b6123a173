//! Health, readiness, Prometheus metrics, and the OpenAPI document.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use kagami_core::wire::{HealthResponse, ReadyResponse};

use crate::{AppState, ratelimit::RedisStatus, telemetry};

const PING_TIMEOUT: Duration = Duration::from_secs(2);

async fn db_reachable(state: &AppState) -> bool {
    matches!(
        tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await,
        Ok(Ok(()))
    )
}

/// Liveness with dependency status: 200 healthy (or degraded: Redis configured but
/// unreachable, so rate limits are not enforced), 503 unhealthy naming the failed part.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Healthy, or degraded (Redis unreachable: rate limits fail open)", body = HealthResponse), (status = 503, description = "The database is unreachable", body = HealthResponse)))]
#[get("/health")]
pub(crate) async fn health(state: web::Data<AppState>) -> HttpResponse {
    let (db, redis) = futures::join!(db_reachable(&state), state.rate_limiter.redis_status());
    let status = match (db, redis) {
        (false, _) => "unhealthy",
        (true, RedisStatus::Unreachable) => "degraded",
        (true, _) => "healthy",
    };
    let body = HealthResponse {
        status: status.to_owned(),
        db: if db { "connected" } else { "unreachable" }.to_owned(),
        redis: redis.as_str().to_owned(),
    };
    if db {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Readiness for traffic: 200 when the database answers, else 503. Redis does not count: an
/// unreachable Redis only means rate limits fail open.
#[utoipa::path(tag = "operations", responses((status = 200, body = ReadyResponse), (status = 503, body = ReadyResponse)))]
#[get("/ready")]
pub(crate) async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let (db, redis) = futures::join!(db_reachable(&state), state.rate_limiter.redis_status());
    let (size, _) = state.store.pool_status();
    let body = ReadyResponse {
        ready: db,
        db_pool_size: size,
        redis_ping: redis.as_str().to_owned(),
    };
    if db {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus exposition text.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[get("/metrics")]
pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let (size, available) = state.store.pool_status();
    telemetry::record_pool(size, available);
    let text = state
        .config
        .metrics_renderer
        .as_ref()
        .map(|render| render())
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(tag = "operations", responses((status = 200, description = "OpenAPI 3.1 JSON", content_type = "application/json")))]
#[get("/openapi.json")]
pub(crate) async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(crate::openapi_json())
}
