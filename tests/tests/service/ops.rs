//! Operations: request ids, health and readiness, the OpenAPI document, Prometheus metrics.

use std::collections::BTreeSet;

use kagami_api::ApiConfig;
use kagami_core::crypto::Uuid;
use reqwest::{Method, StatusCode, header::CONTENT_TYPE};
use serde_json::json;

use crate::{
    app::{Auth, TestApp, sample},
    fixtures::*,
};

pub(crate) async fn request_ids_are_echoed(app: &TestApp) {
    let ours = app
        .send(
            app.request(Method::GET, "/health", Auth::Public)
                .header("X-Request-ID", "trace-42_a.b"),
        )
        .await;
    assert_eq!(ours.header("x-request-id"), Some("trace-42_a.b"));

    let generated: Vec<String> = futures::future::join_all((0..3).map(|_| app.get("/health")))
        .await
        .iter()
        .map(|reply| {
            reply
                .header("x-request-id")
                .expect("a generated request id")
                .to_owned()
        })
        .collect();
    for id in &generated {
        assert!(id.parse::<Uuid>().is_ok(), "generated ids are UUIDs: {id}");
    }
    assert_eq!(
        generated.iter().collect::<BTreeSet<_>>().len(),
        3,
        "one id per request: {generated:?}"
    );

    // Echoed on errors too, and an unsafe client value is replaced rather than echoed.
    let denied = app
        .send(
            app.request(Method::POST, "/api/v1/agents", Auth::Public)
                .header("X-Request-ID", "denied-1")
                .json(&json!({})),
        )
        .await;
    denied.expect_error(401, "missing_api_key");
    assert_eq!(denied.header("x-request-id"), Some("denied-1"));
    let lost = app
        .send(
            app.request(Method::GET, "/nowhere", Auth::Public)
                .header("X-Request-ID", "lost-1"),
        )
        .await;
    lost.expect_error(404, "route_not_found");
    assert_eq!(lost.header("x-request-id"), Some("lost-1"));
    let unsafe_id = "a b\"<script>";
    let replaced = app
        .send(
            app.request(Method::GET, "/health", Auth::Public)
                .header("X-Request-ID", unsafe_id),
        )
        .await;
    let id = replaced.header("x-request-id").expect("a request id");
    assert!(id.parse::<Uuid>().is_ok(), "{id}");
}

pub(crate) async fn health_and_readiness_report_the_database(app: &TestApp) {
    let health = app.get("/health").await.expect(200);
    assert_eq!(
        health,
        json!({ "status": "healthy", "db": "connected", "redis": "disabled" })
    );
    let ready = app.get("/ready").await.expect(200);
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["redis_ping"], "disabled", "{ready}");
    assert!(
        ready["db_pool_size"].as_u64().is_some_and(|n| n >= 1),
        "{ready}"
    );
}

/// Every operation these tests call, as `(method, path template)`.
const CALLED: &[(&str, &str)] = &[
    ("post", "/api/v1/agents"),
    ("get", "/api/v1/agents/{agent_uuid}"),
    ("patch", "/api/v1/agents/{agent_uuid}"),
    ("put", "/api/v1/agents/{agent_uuid}/stake"),
    ("get", "/api/v1/agents/{agent_uuid}/manifests"),
    ("get", "/api/v1/manifests/{manifest_hash}"),
    ("get", "/api/v1/agents/manifests/{agent_uuid}/flip-metrics"),
    ("post", "/api/v1/agents/manifests/publish"),
    ("post", "/api/v1/agents/manifests/revoke"),
    ("post", "/api/v1/agents/manifests/verify-forward"),
    ("post", "/api/v1/agents/manifests/record-forward"),
    ("post", "/api/v1/agents/manifests/report-cycle"),
    ("post", "/api/v1/agents/manifests/onchain-commitment"),
    ("get", "/api/v1/forwards/{root_tx_hash}"),
    ("post", "/api/v1/commitments/{commitment_id}/confirm"),
    ("post", "/api/v1/commitments/{commitment_id}/settle"),
    ("post", "/api/v1/mev/incidents"),
    ("get", "/api/v1/mev/summary"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

pub(crate) async fn openapi_document_lists_every_route_the_server_answers(app: &TestApp) {
    let reply = app.get("/openapi.json").await;
    let doc = reply.expect(200);
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1: {}",
        doc["openapi"]
    );
    assert!(
        doc["components"]["securitySchemes"]["bearer"].is_object(),
        "the bearer scheme is documented"
    );
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if let Some(operation) = item.get(method) {
                assert!(
                    operation["responses"]
                        .as_object()
                        .is_some_and(|r| !r.is_empty()),
                    "{method} {path} has no responses"
                );
                documented.insert((method.to_owned(), path.clone()));
            }
        }
    }
    for (method, path) in CALLED {
        assert!(
            documented.contains(&((*method).to_owned(), (*path).to_owned())),
            "{method} {path} is not in /openapi.json"
        );
    }

    // In sync: the server has a route for every documented operation.
    for (method, template) in &documented {
        let path = concrete(template);
        let method: Method = method.to_uppercase().parse().unwrap();
        let mut request = app.request(method.clone(), &path, Auth::Admin);
        if method != Method::GET {
            request = request.json(&json!({}));
        }
        let reply = app.send(request).await;
        assert_ne!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {}",
            reply.text
        );
        if reply.status == StatusCode::NOT_FOUND {
            assert_ne!(
                reply.json()["error"],
                "route_not_found",
                "{method} {path} is documented but not routed"
            );
        }
    }

    // And what is not documented is not routed, in the JSON envelope.
    app.get("/api/v1/nothing-here")
        .await
        .expect_error(404, "route_not_found");
    let reply = app
        .send(app.request(Method::DELETE, "/api/v1/agents", Auth::Admin))
        .await;
    reply.expect_error(405, "method_not_allowed");
}

/// A concrete path for a template: UUID parameters get the nil UUID, hashes the zero hash.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) if name.ends_with("hash") => format!("0x{}", "0".repeat(64)),
                Some(_) => Uuid::nil().to_string(),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

pub(crate) async fn metrics_use_route_templates_and_describe_series(app: &TestApp) {
    let (a, _) = ready_agent(app, 1, "1000").await;
    let (b, mb) = ready_agent(app, 2, "1000").await;
    app.get(&format!("/api/v1/agents/{}", a.uuid))
        .await
        .expect(200);
    app.get(&format!("/api/v1/agents/{}", Uuid::new_v4()))
        .await
        .expect_error(404, "agent_not_found");
    assert_eq!(
        verify(app, root("metrics"), &a, &b, &mb).await["safe"],
        true
    );

    let reply = app.get("/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    let content_type = reply.header(CONTENT_TYPE.as_str()).unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = reply.text;
    let line = |route: &str, status: &str| {
        text.lines().any(|l| {
            l.starts_with("kagami_http_requests_total{")
                && l.contains("method=\"GET\"")
                && l.contains(&format!("route=\"{route}\""))
                && l.contains(&format!("status=\"{status}\""))
        })
    };
    assert!(
        line("/api/v1/agents/{agent_uuid}", "200"),
        "requests are counted by route template"
    );
    assert!(line("/api/v1/agents/{agent_uuid}", "404"));
    assert!(
        !text.contains(&format!("/api/v1/agents/{}", a.uuid)),
        "raw paths never become labels"
    );
    for series in [
        "kagami_http_requests_total",
        "kagami_http_request_duration_seconds",
        "manifest_verification_duration_seconds",
        "kagami_db_pool_connections",
    ] {
        assert!(
            text.contains(&format!("# HELP {series} ")),
            "{series} has a description"
        );
    }
    assert!(
        // Process-wide: another test's server may have set it last, so only its presence.
        sample(&text, "kagami_db_pool_connections", "state=\"open\"").is_some(),
        "pool gauge"
    );
}

/// Caps per-agent label values at 1 for [`agent_labels_beyond_the_cap_fold_into_other`].
pub(crate) fn one_agent_label(config: &mut ApiConfig) {
    config.metric_label_limit = 1;
}

pub(crate) async fn agent_labels_beyond_the_cap_fold_into_other(app: &TestApp) {
    let before = sample(
        &app.metrics().await,
        "forward_path_churn_total",
        "agent_uuid=\"other\"",
    )
    .unwrap_or(0.0);
    let mut flipped = Vec::new();
    for n in 1..=2 {
        let (agent, _) = ready_agent(app, n, "1000").await;
        let moved = manifest(
            &agent,
            2,
            "https://moved.example/x402",
            from_now(15),
            from_now(3600),
        );
        assert!(published(app, &moved).await["flip"].is_object());
        flipped.push(agent);
    }
    let text = app.metrics().await;
    let label = |a: &Agent| format!("agent_uuid=\"{}\"", a.label());
    assert_eq!(
        sample(&text, "forward_path_churn_total", &label(&flipped[0])),
        Some(1.0),
        "the first agent keeps its label"
    );
    assert_eq!(
        sample(&text, "forward_path_churn_total", &label(&flipped[1])),
        None,
        "the second is folded"
    );
    let after = sample(&text, "forward_path_churn_total", "agent_uuid=\"other\"").unwrap_or(0.0);
    assert!(after - before >= 1.0, "folded into \"other\"");
}
