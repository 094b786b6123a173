//! Operations: request ids, health and readiness, the OpenAPI document, Prometheus metrics.

use std::collections::BTreeSet;

use kagami_api::{ApiConfig, telemetry};
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
    // RFC 9110: a 405 lists the methods the resource answers.
    assert_eq!(reply.header("allow"), Some("POST"));
    let reply = app
        .send(app.request(
            Method::POST,
            &format!("/api/v1/agents/{}", Uuid::nil()),
            Auth::Admin,
        ))
        .await;
    reply.expect_error(405, "method_not_allowed");
    assert_eq!(reply.header("allow"), Some("GET, PATCH"));
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

/// Caps per-agent label values at 3 for [`every_metric_label_stays_bounded_under_a_flood`].
pub(crate) fn three_agent_labels(config: &mut ApiConfig) {
    config.metric_label_limit = 3;
}

/// One sample line of a Prometheus exposition: the metric name and its labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
}

impl Sample {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The distinct series of an exposition (comment lines skipped, values dropped).
fn series(exposition: &str) -> BTreeSet<Sample> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (name, rest) = line
                .split_once('{')
                .map_or_else(|| (line.split(' ').next().unwrap(), ""), |(n, r)| (n, r));
            let mut labels = Vec::new();
            let mut chars = rest.chars().peekable();
            while chars.peek().is_some_and(|c| *c != '}') {
                let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                assert_eq!(chars.next(), Some('"'), "{line}");
                let mut value = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
                labels.push((key.trim_start_matches(',').to_owned(), value));
                if chars.peek() == Some(&',') {
                    chars.next();
                }
            }
            Sample {
                name: name.to_owned(),
                labels,
            }
        })
        .collect()
}

pub(crate) async fn every_metric_label_stays_bounded_under_a_flood(app: &TestApp) {
    let doc = app.get("/openapi.json").await.expect(200);
    let mut routes: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    routes.insert(telemetry::UNMATCHED_ROUTE.to_owned());
    let before = series(&app.metrics().await);

    // 500 invented methods, on routes and on paths no route matches.
    let paths = |n: usize| match n % 4 {
        0 => "/health".to_owned(),
        1 => "/api/v1/agents".to_owned(),
        2 => format!("/api/v1/agents/{}", Uuid::new_v4()),
        _ => format!("/flood-{n}/{}", Uuid::new_v4()),
    };
    for batch in (1..=500).collect::<Vec<usize>>().chunks(50) {
        futures::future::join_all(batch.iter().map(|n| {
            let method = Method::from_bytes(format!("FOO{n}").as_bytes()).unwrap();
            app.send(app.request(method, &paths(*n), Auth::Public))
        }))
        .await;
    }
    // 300 paths no route matches, under real prefixes too.
    for batch in (1..=300).collect::<Vec<usize>>().chunks(50) {
        futures::future::join_all(batch.iter().map(|n| {
            let path = match n % 3 {
                0 => format!("/api/v1/{}", Uuid::new_v4()),
                1 => format!("/api/v1/agents/{}/nothing-{n}", Uuid::new_v4()),
                _ => format!("/wp-admin-{n}.php"),
            };
            app.send(app.request(Method::GET, &path, Auth::Public))
        }))
        .await;
    }
    // 20 agents flip their manifests; only 3 may keep their own label.
    let mut agents = Vec::new();
    for n in 0..20 {
        let agent = register(app, 7_000 + n, "100").await;
        published(app, &first_manifest(&agent)).await;
        let moved = manifest(
            &agent,
            2,
            "https://moved.example/x402",
            from_now(15),
            from_now(3600),
        );
        assert!(published(app, &moved).await["flip"].is_object());
        agents.push(agent);
    }

    let text = app.metrics().await;
    let after = series(&text);
    assert!(
        !text.contains("FOO"),
        "invented methods never become labels"
    );
    assert!(
        !text.contains("flood-") && !text.contains("wp-admin"),
        "raw paths never become labels"
    );

    let http: Vec<&Sample> = after
        .iter()
        .filter(|s| s.name.starts_with("kagami_http_request"))
        .collect();
    assert!(!http.is_empty());
    for sample in &http {
        let route = sample
            .label("route")
            .expect("every HTTP series has a route");
        assert!(
            routes.contains(route),
            "route {route:?} is neither a template nor unmatched"
        );
        if let Some(method) = sample.label("method") {
            assert!(
                telemetry::HTTP_METHODS.contains(&method) || method == telemetry::OTHER,
                "method {method:?}"
            );
        }
        if let Some(status) = sample.label("status") {
            assert!(
                status.len() == 3 && status.bytes().all(|b| b.is_ascii_digit()),
                "status {status:?}"
            );
        }
    }
    // The flood's 800 distinct methods and paths made a handful of series (other x the few
    // routes hit x their statuses), not hundreds; this holds whatever other tests record
    // meanwhile, since only this one sends invented methods.
    let folded = |pick: &dyn Fn(&Sample) -> bool| {
        after
            .iter()
            .filter(|s| s.name == "kagami_http_requests_total" && pick(s))
            .count()
    };
    let other_methods = folded(&|s| s.label("method") == Some(telemetry::OTHER));
    assert!(
        (1..=16).contains(&other_methods),
        "{other_methods} series with method=\"other\""
    );
    let unmatched = folded(&|s| s.label("route") == Some(telemetry::UNMATCHED_ROUTE));
    assert!(
        unmatched <= (telemetry::HTTP_METHODS.len() + 1) * 3,
        "{unmatched} series with route=\"unmatched\""
    );

    // Of the 20 flipping agents, exactly 3 have a label of their own; the rest share "other".
    let ours: BTreeSet<String> = agents.iter().map(Agent::label).collect();
    let labelled = after
        .iter()
        .filter(|s| s.name == "forward_path_churn_total")
        .filter(|s| s.label("agent_uuid").is_some_and(|a| ours.contains(a)))
        .count();
    assert_eq!(
        labelled, 3,
        "agent labels beyond the cap fold into \"other\""
    );

    // And per metric, the growth over the whole flood is small next to the 820 distinct
    // values sent (other tests running meanwhile add their own few).
    let count = |set: &BTreeSet<Sample>, name: &str| set.iter().filter(|s| s.name == name).count();
    for name in [
        "kagami_http_requests_total",
        "kagami_http_request_duration_seconds",
        "forward_path_churn_total",
    ] {
        let grown = count(&after, name).saturating_sub(count(&before, name));
        assert!(grown <= 100, "{name} grew by {grown} series");
    }
}
