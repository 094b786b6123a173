//! Per-client rate limits by route class, in Redis (shared by every replica) or in process.
//!
//! | class | routes | client |
//! |---|---|---|
//! | [`RouteClass::PublicRead`] | every `GET` but `/health`, `/ready`, `/metrics` | address |
//! | [`RouteClass::Verify`] | `POST /api/v1/agents/manifests/verify-forward` | address |
//! | [`RouteClass::Write`] | endpoints taking a client key | the key's id |
//! | [`RouteClass::Admin`] | endpoints taking an admin key | the key's id |
//!
//! Address classes are checked by the [`limit`] middleware before the handler runs; key
//! classes by the key extractors ([`crate::auth`]) once the key is known valid, so a flood of
//! invented keys cannot mint fresh buckets. Either way the decision is left in the request's
//! extensions and [`limit`] writes the `RateLimit-Policy` / `RateLimit` headers
//! (draft-ietf-httpapi-ratelimit-headers) on the answer, with `Retry-After` on a 429.
//!
//! Redis trouble never fails a request: the request goes ahead unlimited (fail open), counted
//! in `kagami_rate_limit_backend_errors_total`, logged once per outage.

mod gcra;
mod local;
mod shared;

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr},
    sync::atomic::{AtomicBool, Ordering},
};

use actix_web::{
    Error, HttpMessage, HttpRequest, ResponseError,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{
        Method, StatusCode,
        header::{self, HeaderMap, HeaderValue},
    },
    middleware::Next,
    web,
};
use kagami_core::{crypto::Uuid, wire::ErrorCode};
use utoipa::openapi::{
    self, Ref, RefOr,
    header::HeaderBuilder,
    response::{Response, ResponseBuilder},
};

/// The header name type of [`RateLimitConfig::trusted_proxy_header`] (actix-web's).
pub use actix_web::http::header::HeaderName;
pub use gcra::{Quota, QuotaError};

use crate::{AppState, config::Secret, error::ApiError, telemetry};

use self::{gcra::Standing, local::LocalBuckets, shared::SharedBuckets};

/// The routes no limit applies to: probes and the scraper must always get through.
pub const UNLIMITED_PATHS: &[&str] = &["/health", "/ready", "/metrics"];

/// The verify-forward route, the one public `POST`.
const VERIFY_PATH: &str = "/api/v1/agents/manifests/verify-forward";

/// The `RateLimit-Policy` header.
pub const POLICY_HEADER: &str = "ratelimit-policy";
/// The `RateLimit` header.
pub const STATE_HEADER: &str = "ratelimit";

/// A group of routes sharing one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteClass {
    /// Public reads, per client address.
    PublicRead,
    /// verify-forward (public, a signature recovery and several reads), per client address.
    Verify,
    /// Writes with a client key, per key.
    Write,
    /// Writes with an admin key, per key.
    Admin,
}

impl RouteClass {
    /// Every class.
    pub const ALL: [Self; 4] = [Self::PublicRead, Self::Verify, Self::Write, Self::Admin];

    /// The policy name in the headers, the `class` metric label and the Redis key.
    pub const fn name(self) -> &'static str {
        match self {
            Self::PublicRead => "public_read",
            Self::Verify => "verify",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    /// The class of an address-keyed route, from its method and route template; `None` for
    /// the key-keyed routes, [`UNLIMITED_PATHS`] and requests no route matches.
    fn of_public(method: &Method, pattern: Option<&str>) -> Option<Self> {
        let pattern = pattern?;
        if UNLIMITED_PATHS.contains(&pattern) {
            return None;
        }
        if *method == Method::GET || *method == Method::HEAD {
            Some(Self::PublicRead)
        } else if *method == Method::POST && pattern == VERIFY_PATH {
            Some(Self::Verify)
        } else {
            None
        }
    }
}

/// Who a bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientId {
    /// A client address; IPv6 addresses count per /64, the block one subscriber gets.
    Address(IpAddr),
    /// An API key, by its id (never the key).
    Key(Uuid),
}

impl ClientId {
    /// The bucket owner of `address`: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by /64.
    pub fn address(address: IpAddr) -> Self {
        match address.to_canonical() {
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                Self::Address(IpAddr::V6(Ipv6Addr::from(network)))
            }
            v4 => Self::Address(v4),
        }
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(IpAddr::V4(v4)) => write!(f, "ip:{v4}"),
            Self::Address(IpAddr::V6(v6)) => write!(f, "ip:{v6}/64"),
            Self::Key(id) => write!(f, "key:{id}"),
        }
    }
}

/// The limits of every class, who the client is, and where buckets live.
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// [`RouteClass::PublicRead`] (`None`: unlimited).
    pub public_read: Option<Quota>,
    /// [`RouteClass::Verify`] (`None`: unlimited).
    pub verify: Option<Quota>,
    /// [`RouteClass::Write`] (`None`: unlimited).
    pub write: Option<Quota>,
    /// [`RouteClass::Admin`] (`None`: unlimited).
    pub admin: Option<Quota>,
    /// The header a trusted reverse proxy puts the client address in; `None`: the peer
    /// address, ignoring every forwarding header (a client could write any value there).
    pub trusted_proxy_header: Option<HeaderName>,
    /// Prefix of every Redis key, so deployments (and tests) can share one Redis.
    pub redis_key_prefix: String,
}

impl Default for RateLimitConfig {
    /// Per address: 100 reads per second (burst 200), 50 verify-forwards per second (burst
    /// 100); per key: 50 writes per second (burst 100), 10 admin calls per second (burst 50).
    #[expect(
        clippy::expect_used,
        reason = "constant quotas, checked by the default_limits test"
    )]
    fn default() -> Self {
        let quota = |per_second, burst| Some(Quota::new(per_second, burst).expect("valid"));
        Self {
            public_read: quota(100, 200),
            verify: quota(50, 100),
            write: quota(50, 100),
            admin: quota(10, 50),
            trusted_proxy_header: None,
            redis_key_prefix: "kagami:".to_owned(),
        }
    }
}

impl RateLimitConfig {
    /// The quota of `class`.
    pub const fn quota(&self, class: RouteClass) -> Option<Quota> {
        match class {
            RouteClass::PublicRead => self.public_read,
            RouteClass::Verify => self.verify,
            RouteClass::Write => self.write,
            RouteClass::Admin => self.admin,
        }
    }
}

/// What can go wrong with the limiter's backend.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// `REDIS_URL` cannot be used.
    #[error("REDIS_URL is not a usable Redis URL: {0}")]
    Url(#[source] ::redis::RedisError),
    /// Redis failed or answered nonsense.
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {} ms", shared::REDIS_TIMEOUT.as_millis())]
    Timeout,
}

/// How `/health` and `/ready` report Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisStatus {
    /// No `REDIS_URL`: limits are per replica.
    Disabled,
    /// Redis answered `PING`.
    Connected,
    /// Redis did not answer: limits are not enforced (fail open).
    Unreachable,
}

impl RedisStatus {
    /// The wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Connected => "connected",
            Self::Unreachable => "unreachable",
        }
    }
}

/// One request's standing in its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    class: RouteClass,
    quota: Quota,
    allowed: bool,
    standing: Standing,
}

impl Decision {
    /// Whether the request may go ahead.
    pub const fn allowed(&self) -> bool {
        self.allowed
    }

    /// `RateLimit-Policy`, `RateLimit` and, when refused, `Retry-After`: the policy is the
    /// quota as `q` requests per `w` seconds (the time an empty bucket takes to refill); `r` is
    /// what may still be sent now, `t` the seconds until the bucket is full again.
    fn headers(&self) -> Vec<(HeaderName, String)> {
        let name = self.class.name();
        let mut headers = vec![
            (
                HeaderName::from_static(POLICY_HEADER),
                format!(
                    "\"{name}\";q={};w={}",
                    self.quota.burst(),
                    self.quota.window_seconds()
                ),
            ),
            (
                HeaderName::from_static(STATE_HEADER),
                format!(
                    "\"{name}\";r={};t={}",
                    self.standing.remaining,
                    gcra::ceil_seconds(self.standing.reset)
                ),
            ),
        ];
        if !self.allowed {
            let seconds = gcra::ceil_seconds(self.standing.retry_after).max(1);
            headers.push((header::RETRY_AFTER, seconds.to_string()));
        }
        headers
    }
}

/// Where buckets live.
#[derive(Debug)]
enum Backend {
    Local(LocalBuckets),
    Shared(SharedBuckets),
}

/// The limiter every request of a class goes through.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    backend: Backend,
    /// Whether the last Redis call failed: an outage is logged once, not per request.
    failing: AtomicBool,
}

impl RateLimiter {
    /// Buckets in the Redis at `redis_url`, or in process without one.
    ///
    /// # Errors
    /// An unusable Redis URL. An unreachable Redis is not an error: requests go ahead
    /// unlimited until it answers.
    pub fn new(
        config: RateLimitConfig,
        redis_url: Option<&Secret>,
    ) -> Result<Self, RateLimitError> {
        let backend = match redis_url {
            Some(url) => Backend::Shared(SharedBuckets::new(url)?),
            None => Backend::Local(LocalBuckets::new()),
        };
        Ok(Self {
            config,
            backend,
            failing: AtomicBool::new(false),
        })
    }

    /// Applies one request of `class` by `client`. `None` when the class is unlimited or the
    /// backend failed (the request goes ahead: fail open).
    pub async fn check(&self, class: RouteClass, client: ClientId) -> Option<Decision> {
        let quota = self.config.quota(class)?;
        let key = format!(
            "{}rl:{}:{client}",
            self.config.redis_key_prefix,
            class.name()
        );
        let (verdict, now) = match &self.backend {
            Backend::Local(buckets) => buckets.admit(&key, quota),
            Backend::Shared(buckets) => match buckets.admit(&key, quota, None).await {
                Ok(outcome) => {
                    if self.failing.swap(false, Ordering::Relaxed) {
                        tracing::info!("rate limit backend reachable again; limits enforced");
                    }
                    outcome
                }
                Err(e) => {
                    telemetry::record_rate_limit_backend_error();
                    if !self.failing.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            error.cause = %crate::error::chain(&e),
                            "rate limit backend unreachable; serving without limits until it is back"
                        );
                    }
                    return None;
                }
            },
        };
        Some(Decision {
            class,
            quota,
            allowed: verdict.allowed,
            standing: Standing::of(quota, verdict.tat, now),
        })
    }

    /// The client address of `req`: the last address in the trusted proxy header when one is
    /// configured and present (the one the proxy itself appended; earlier ones are the
    /// client's word), else the peer address.
    pub fn client_address(&self, req: &HttpRequest) -> ClientId {
        let forwarded = self
            .config
            .trusted_proxy_header
            .as_ref()
            .and_then(|name| forwarded_address(req.headers(), name));
        let peer = req.peer_addr().map(|a| a.ip());
        ClientId::address(
            forwarded
                .or(peer)
                .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        )
    }

    /// Redis' state: `PING` within a short timeout.
    pub async fn redis_status(&self) -> RedisStatus {
        match &self.backend {
            Backend::Local(_) => RedisStatus::Disabled,
            Backend::Shared(buckets) => match buckets.ping().await {
                Ok(()) => RedisStatus::Connected,
                Err(_) => RedisStatus::Unreachable,
            },
        }
    }
}

/// The address in a forwarding header's last value: its last comma-separated element, either
/// a bare address (`X-Forwarded-For`, `X-Real-IP`), optionally with a port, or an RFC 7239
/// element (`Forwarded: for="[2001:db8::1]:443";proto=https`).
fn forwarded_address(headers: &HeaderMap, name: &HeaderName) -> Option<IpAddr> {
    let value = headers.get_all(name).last()?.to_str().ok()?;
    let element = value.rsplit(',').next()?.trim();
    let address = element
        .split(';')
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("for")
                .then_some(value.trim())
        })
        .unwrap_or(element)
        .trim_matches('"');
    if let Ok(ip) = address.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = address.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    // `[v6]` without a port, or `v4:port`.
    let bracketed = address.strip_prefix('[').and_then(|a| a.split(']').next());
    bracketed
        .or_else(|| address.split(':').next())
        .and_then(|a| a.parse().ok())
}

/// Applies one request of `class` by `client` and leaves the decision on `req` for the
/// headers; a refusal is 429 `rate_limited`, counted by class.
///
/// # Errors
/// 429 when the bucket is empty.
pub(crate) async fn admit(
    state: &AppState,
    req: &HttpRequest,
    class: RouteClass,
    client: ClientId,
) -> Result<(), ApiError> {
    let Some(decision) = state.rate_limiter.check(class, client).await else {
        return Ok(());
    };
    req.extensions_mut().insert(decision);
    if decision.allowed {
        return Ok(());
    }
    telemetry::record_rate_limited(class);
    let retry = gcra::ceil_seconds(decision.standing.retry_after).max(1);
    Err(ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        format!(
            "too many {} requests; retry in {retry} s",
            class.name().replace('_', " ")
        ),
    )
    .detail("class", class.name())
    .detail("retry_after_seconds", retry))
}

/// Middleware: limits the address-keyed classes before the handler runs, and writes the rate
/// limit headers of whichever check the request went through.
///
/// # Errors
/// Whatever the inner service returns.
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let class = RouteClass::of_public(req.method(), req.match_pattern().as_deref());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    if let (Some(class), Some(state)) = (class, state) {
        let client = state.rate_limiter.client_address(req.request());
        if let Err(refused) = admit(&state, req.request(), class, client).await {
            let mut res = req.into_response(refused.error_response());
            write_headers(&mut res);
            return Ok(res);
        }
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    write_headers(&mut res);
    Ok(res)
}

fn write_headers(res: &mut ServiceResponse<BoxBody>) {
    let Some(decision) = res.request().extensions().get::<Decision>().copied() else {
        return;
    };
    for (name, value) in decision.headers() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            res.headers_mut().insert(name, value);
        }
    }
}

/// Adds the 429 answer, with its headers, to every limited operation of the OpenAPI document.
#[derive(Debug)]
pub(crate) struct RateLimitResponses;

impl utoipa::Modify for RateLimitResponses {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let header = |description: &str| {
            HeaderBuilder::new()
                .schema(openapi::ObjectBuilder::new().schema_type(openapi::Type::String))
                .description(Some(description))
                .build()
        };
        let response: Response = ResponseBuilder::new()
            .description(
                "Rate limited: this client (address, or API key) used up its budget for this \
                 route class; retry after `Retry-After` seconds",
            )
            .content(
                "application/json",
                openapi::ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorResponse")))
                    .build(),
            )
            .header("Retry-After", header("Seconds until a request will pass"))
            .header(
                "RateLimit-Policy",
                header("The class's quota, e.g. `\"verify\";q=100;w=2` (draft-ietf-httpapi-ratelimit-headers); also on successful answers"),
            )
            .header(
                "RateLimit",
                header("What is left, e.g. `\"verify\";r=0;t=2`: `r` requests now, full again in `t` seconds; also on successful answers"),
            )
            .build();
        for (path, item) in &mut doc.paths.paths {
            if UNLIMITED_PATHS.contains(&path.as_str()) {
                continue;
            }
            for operation in crate::openapi::operations_mut(item) {
                operation
                    .responses
                    .responses
                    .insert("429".to_owned(), RefOr::T(response.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn default_limits() {
        let config = RateLimitConfig::default();
        for class in RouteClass::ALL {
            assert!(config.quota(class).is_some(), "{class:?}");
        }
        assert!(config.trusted_proxy_header.is_none());
    }

    #[test]
    fn only_public_reads_and_verify_forward_are_limited_by_address() {
        let of = |method: Method, pattern: Option<&str>| RouteClass::of_public(&method, pattern);
        assert_eq!(
            of(Method::GET, Some("/api/v1/ledger")),
            Some(RouteClass::PublicRead)
        );
        assert_eq!(
            of(Method::POST, Some(VERIFY_PATH)),
            Some(RouteClass::Verify)
        );
        assert_eq!(
            of(Method::POST, Some("/api/v1/agents")),
            None,
            "keyed by API key"
        );
        for path in UNLIMITED_PATHS {
            assert_eq!(of(Method::GET, Some(path)), None, "{path}");
        }
        assert_eq!(of(Method::GET, None), None, "no route matched");
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64_and_mapped_v4_is_v4() {
        let a = ClientId::address("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ClientId::address("2001:db8:1:2:bbbb::2".parse().unwrap());
        let c = ClientId::address("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "ip:2001:db8:1:2::/64");
        assert_eq!(
            ClientId::address("::ffff:192.0.2.7".parse().unwrap()).to_string(),
            "ip:192.0.2.7"
        );
    }

    #[test]
    fn the_trusted_header_gives_its_last_address_in_every_usual_form() {
        let name = HeaderName::from_static("x-forwarded-for");
        let at = |value: &str| {
            let req = TestRequest::default()
                .insert_header((name.clone(), value))
                .to_http_request();
            forwarded_address(req.headers(), &name).map(|ip| ip.to_string())
        };
        assert_eq!(at("198.51.100.1, 192.0.2.9").as_deref(), Some("192.0.2.9"));
        assert_eq!(at("192.0.2.9:4711").as_deref(), Some("192.0.2.9"));
        assert_eq!(at("[2001:db8::1]:443").as_deref(), Some("2001:db8::1"));
        assert_eq!(at("[2001:db8::1]").as_deref(), Some("2001:db8::1"));
        assert_eq!(
            at("for=198.51.100.1, for=\"[2001:db8::7]:80\";proto=https").as_deref(),
            Some("2001:db8::7")
        );
        assert_eq!(at("unknown"), None);
    }

    #[test]
    fn headers_follow_the_draft_syntax() {
        let quota = Quota::new(50, 100).unwrap();
        let refused = Decision {
            class: RouteClass::Verify,
            quota,
            allowed: false,
            standing: Standing::of(quota, 2_000_000, 0),
        };
        let headers: Vec<(String, String)> = refused
            .headers()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect();
        assert_eq!(
            headers,
            [
                (
                    "ratelimit-policy".to_owned(),
                    "\"verify\";q=100;w=2".to_owned()
                ),
                ("ratelimit".to_owned(), "\"verify\";r=0;t=2".to_owned()),
                ("retry-after".to_owned(), "1".to_owned()),
            ]
        );
    }
}
