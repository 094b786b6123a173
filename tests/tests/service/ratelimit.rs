//! Rate limits: per client and route class, shared by replicas through Redis, in process
//! without it, failing open when Redis goes away, keyed by the trusted proxy's header only
//! when one is configured.
//!
//! The Redis tests run against the real local Redis (`REDIS_URL`, default
//! `127.0.0.1:6379`), each under its own key prefix; where it is unreachable, CI fails and a
//! developer's run skips them loudly.

use std::time::{Duration, Instant};

use kagami_api::{
    ApiConfig, Secret,
    ratelimit::{HeaderName, Quota, RateLimitConfig},
};
use kagami_tests::{
    Proxy, TestSqlite, redis_address, redis_available, redis_key_prefix, redis_url,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::app::{Auth, Reply, TestApp, sample};

const READ: &str = "/api/v1/ledger";
const VERIFY: &str = "/api/v1/agents/manifests/verify-forward";
const WRITE: &str = "/api/v1/agents/manifests/revoke";

/// Limits small enough to exhaust in a test: every class `per_second` with `burst`.
fn tight(config: &mut ApiConfig, per_second: u32, burst: u32) {
    let quota = Some(Quota::new(per_second, burst).unwrap());
    config.rate_limit = RateLimitConfig {
        public_read: quota,
        verify: quota,
        write: quota,
        admin: quota,
        ..RateLimitConfig::default()
    };
}

/// Asserts a 429 in the envelope with `Retry-After` and the draft's headers for `class`.
#[track_caller]
fn assert_limited(reply: &Reply, class: &str, burst: u32, window: u64) {
    let body = reply.expect_error(429, "rate_limited");
    assert_eq!(body["class"], class, "{body}");
    let retry: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in whole seconds");
    assert!((1..=window).contains(&retry), "Retry-After {retry}");
    assert_eq!(body["retry_after_seconds"], retry, "{body}");
    assert_eq!(
        reply.header("ratelimit-policy"),
        Some(format!("\"{class}\";q={burst};w={window}").as_str())
    );
    let state = reply.header("ratelimit").expect("RateLimit");
    assert!(
        state.starts_with(&format!("\"{class}\";r=0;t=")),
        "RateLimit: {state}"
    );
}

/// The `r` of a `RateLimit` header.
fn remaining(reply: &Reply) -> Option<u64> {
    let state = reply.header("ratelimit")?;
    state.split(";r=").nth(1)?.split(';').next()?.parse().ok()
}

/// Retries `attempt` until `done` holds or `within` passes; returns the last answer.
async fn until<F, Fut>(within: Duration, mut attempt: F, done: impl Fn(&Reply) -> bool) -> Reply
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Reply>,
{
    let deadline = Instant::now() + within;
    loop {
        let reply = attempt().await;
        if done(&reply) || Instant::now() > deadline {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn the_in_process_limiter_answers_429_after_the_burst() {
    let db = TestSqlite::new();
    let app = TestApp::spawn_with(db.store(), |config| tight(config, 1, 3)).await;

    // verify-forward counts per address, whatever the body: the bucket is spent before it is
    // read. Each answer says what is left.
    for left in [2, 1, 0] {
        let reply = app.post(VERIFY, Auth::Public, &json!({})).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert_eq!(reply.header("ratelimit-policy"), Some("\"verify\";q=3;w=3"));
        assert_eq!(
            remaining(&reply),
            Some(left),
            "{:?}",
            reply.header("ratelimit")
        );
    }
    let refused = app.post(VERIFY, Auth::Public, &json!({})).await;
    assert_limited(&refused, "verify", 3, 3);

    // Classes and clients have their own budgets: reads from the same address still pass, and
    // the admin key's writes do not touch the client key's.
    app.get(READ).await.expect(200);
    for _ in 0..3 {
        let reply = app.post(WRITE, Auth::Client, &json!({})).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    }
    assert_limited(
        &app.post(WRITE, Auth::Client, &json!({})).await,
        "write",
        3,
        3,
    );
    let admin = app.post(WRITE, Auth::Admin, &json!({})).await;
    assert_eq!(admin.status, StatusCode::BAD_REQUEST, "{}", admin.text);

    // A wrong key is a 401 every time: only valid keys have budgets to spend.
    for _ in 0..5 {
        app.post(WRITE, Auth::Header("Bearer kgm_invented"), &json!({}))
            .await
            .expect_error(401, "invalid_api_key");
    }
    // Probes and the scraper are never limited, and carry no rate limit headers.
    for _ in 0..10 {
        for path in ["/health", "/ready", "/metrics"] {
            let reply = app.get(path).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}");
            assert_eq!(reply.header("ratelimit"), None, "{path}");
        }
    }
    let metrics = app.metrics().await;
    for class in ["verify", "write"] {
        assert!(
            sample(
                &metrics,
                "kagami_rate_limited_total",
                &format!("class=\"{class}\"")
            )
            .is_some_and(|n| n >= 1.0),
            "{class} refusals are counted"
        );
    }
    assert!(metrics.contains("# HELP kagami_rate_limited_total "));

    // The budget refills at the sustained rate: one request a second.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let reply = app.post(VERIFY, Auth::Public, &json!({})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    app.stop().await;
}

pub(crate) async fn replicas_on_one_redis_share_one_budget() {
    if !redis_available().await {
        return;
    }
    let db = TestSqlite::new();
    let prefix = redis_key_prefix();
    let shared = |config: &mut ApiConfig| {
        tight(config, 1, 4);
        config.redis_url = Some(Secret::new(redis_url()));
        config.rate_limit.redis_key_prefix = prefix.clone();
    };
    let first = TestApp::spawn_with(db.store(), shared).await;
    let second = TestApp::spawn_with(db.store(), shared).await;
    let health = first.get("/health").await.expect(200);
    assert_eq!(
        health,
        json!({ "status": "healthy", "db": "connected", "redis": "connected" })
    );
    assert_eq!(
        first.get("/ready").await.expect(200)["redis_ping"],
        "connected"
    );

    // One address, requests alternating between the replicas: one budget of 4 (plus what
    // the rate refills meanwhile), not 4 each.
    let started = Instant::now();
    let mut passed = 0u64;
    let mut refused_by = [false, false];
    for n in 0..10 {
        let app = if n % 2 == 0 { &first } else { &second };
        let reply = app.get(READ).await;
        match reply.status.as_u16() {
            200 => passed += 1,
            429 => {
                assert_limited(&reply, "public_read", 4, 4);
                refused_by[n % 2] = true;
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    let refilled = started.elapsed().as_secs() + 1;
    assert!(
        (4..=4 + refilled).contains(&passed),
        "{passed} passed in {:?}",
        started.elapsed()
    );
    assert_eq!(
        refused_by,
        [true, true],
        "both replicas refuse: the budget is shared"
    );

    // Keys too: the client key is one client whichever replica it calls.
    let key = format!("Bearer {}", first.client_key);
    let mut statuses = Vec::new();
    for n in 0..8 {
        let app = if n % 2 == 0 { &first } else { &second };
        statuses.push(
            app.post(WRITE, Auth::Header(&key), &json!({}))
                .await
                .status
                .as_u16(),
        );
    }
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(refused >= 2, "{statuses:?}");
    assert!(statuses[..4].iter().all(|s| *s == 400), "{statuses:?}");

    first.stop().await;
    second.stop().await;
}

pub(crate) async fn a_redis_outage_fails_open_and_limits_return_with_it() {
    if !redis_available().await {
        return;
    }
    let proxy = Proxy::start(redis_address()).await;
    let db = TestSqlite::new();
    let prefix = redis_key_prefix();
    let app = TestApp::spawn_with(db.store(), |config| {
        tight(config, 1, 2);
        config.redis_url = Some(Secret::new(format!("redis://127.0.0.1:{}", proxy.port())));
        config.rate_limit.redis_key_prefix = prefix.clone();
    })
    .await;
    let errors =
        |text: &str| sample(text, "kagami_rate_limit_backend_errors_total", "").unwrap_or(0.0);

    app.get(READ).await.expect(200);
    app.get(READ).await.expect(200);
    assert_limited(&app.get(READ).await, "public_read", 2, 2);

    proxy.set(false);
    let before = errors(&app.metrics().await);
    let started = Instant::now();
    for _ in 0..5 {
        let reply = app.get(READ).await;
        reply.expect(200);
        assert_eq!(reply.header("ratelimit"), None, "nothing was checked");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a Redis outage costs each request at most the Redis timeout: {:?}",
        started.elapsed()
    );
    let health = app.get("/health").await.expect(200);
    assert_eq!(
        health,
        json!({ "status": "degraded", "db": "connected", "redis": "unreachable" })
    );
    let ready = app.get("/ready").await.expect(200);
    assert_eq!(
        (&ready["ready"], &ready["redis_ping"]),
        (&json!(true), &json!("unreachable"))
    );
    assert!(
        errors(&app.metrics().await) - before >= 5.0,
        "every unchecked request is counted"
    );

    proxy.set(true);
    let health = until(
        Duration::from_secs(10),
        || app.get("/health"),
        |reply| reply.json()["redis"] == "connected",
    )
    .await;
    assert_eq!(
        health.expect(200),
        json!({ "status": "healthy", "db": "connected", "redis": "connected" })
    );
    let limited = until(
        Duration::from_secs(10),
        || app.get(READ),
        |reply| reply.status == StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    assert_limited(&limited, "public_read", 2, 2);
    app.stop().await;
}

/// A public read carrying `X-Forwarded-For: value`.
async fn from(app: &TestApp, value: &str) -> Reply {
    app.send(
        app.request(Method::GET, READ, Auth::Public)
            .header("x-forwarded-for", value),
    )
    .await
}

pub(crate) async fn the_forwarded_address_counts_only_behind_a_trusted_proxy() {
    // No trusted proxy: the header is the client's word and changes nothing; every request
    // is the peer's.
    let db = TestSqlite::new();
    let direct = TestApp::spawn_with(db.store(), |config| tight(config, 1, 2)).await;
    from(&direct, "198.51.100.1").await.expect(200);
    from(&direct, "198.51.100.2").await.expect(200);
    assert_limited(&from(&direct, "198.51.100.3").await, "public_read", 2, 2);
    direct.stop().await;

    // Behind a trusted proxy: the last address (the one the proxy appended) is the client,
    // whatever the client put before it.
    let behind = TestApp::spawn_with(db.store(), |config| {
        tight(config, 1, 2);
        config.rate_limit.trusted_proxy_header = Some(HeaderName::from_static("x-forwarded-for"));
    })
    .await;
    for client in ["198.51.100.1", "198.51.100.2", "2001:db8:1:2::1"] {
        from(&behind, &format!("203.0.113.7, {client}"))
            .await
            .expect(200);
        from(&behind, &format!("203.0.113.8, {client}"))
            .await
            .expect(200);
    }
    assert_limited(
        &from(&behind, "203.0.113.9, 198.51.100.1").await,
        "public_read",
        2,
        2,
    );
    // Same /64, same client.
    assert_limited(
        &from(&behind, "2001:db8:1:2::ffff").await,
        "public_read",
        2,
        2,
    );
    // Without the header, the peer address (loopback) has a budget of its own.
    behind.get(READ).await.expect(200);
    behind.stop().await;
}
