//! The client over real sockets, against a scripted stub of the server: status handling,
//! the error envelope, outcomes, retries (only idempotent calls, same bytes), timeouts.

// The whole crate is test code (so clippy's test allowances cover the helpers too).
#![cfg(test)]

mod stub;

use std::time::Duration;

use kagami_client::{
    Error, KagamiClient, ManifestBuilder, OrderBuilder, Outcome, PrivateKeySigner, ReceiptBuilder,
    RecordOutcome,
    crypto::Uuid,
    wire::{ForwardPairRequest, PublishManifestRequest, RegisterAgentRequest},
};
use kagami_core::{LoopKind, wire::ErrorCode};
use serde_json::json;
use stub::{Reply, Stub};

const AGENT: &str = "0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b";
const ROOT: &str = "0x9f2c4a8e1b7d3f6a0c5e9b2d8f4a7c1e3b6d9f0a2c5e8b1d4f7a0c3e6b9d2f5a";

fn client(stub: &Stub) -> KagamiClient {
    KagamiClient::builder(&stub.url)
        .api_key("kgm_test_secret_key_0123456789abcdef")
        .retry_backoff(Duration::from_millis(5))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn publish_body() -> PublishManifestRequest {
    let owner = PrivateKeySigner::random();
    ManifestBuilder::new()
        .agent(AGENT)
        .chain("base")
        .endpoint("https://agent.example/x402")
        .pubkey_of(&owner)
        .nonce(1)
        .valid_from("2026-01-16T00:00:00Z")
        .valid_for(Duration::from_secs(3600))
        .sign(&owner)
        .unwrap()
}

fn receipt_body() -> ForwardPairRequest {
    let payer = PrivateKeySigner::random();
    let hot = PrivateKeySigner::random();
    let order = OrderBuilder::new()
        .chain("base")
        .root_tx(ROOT)
        .hop(0)
        .from("7c9e6679-7425-40de-944b-e07fc1f90ae7")
        .to(AGENT)
        .manifest("0xb6fdaabee6c503eef2b75b5759d7e5415b6475a2cffb90dcaed4572c39921ecf")
        .amount("1")
        .nonce(1)
        .sign(&payer)
        .unwrap();
    ReceiptBuilder::acknowledging(&order)
        .unwrap()
        .terminal()
        .nonce(1)
        .sign(&hot)
        .unwrap()
}

fn published() -> String {
    json!({
        "manifest_id": "7d9f0d7e-1f1e-4b5c-9a7e-2f0c1d2e3f4a",
        "manifest_hash": "0xb6fdaabee6c503eef2b75b5759d7e5415b6475a2cffb90dcaed4572c39921ecf",
        "status": "active",
        "valid_from": "2026-01-16T00:00:00Z",
        "valid_until": "2026-01-16T01:00:00Z",
        "flip": null
    })
    .to_string()
}

fn recorded() -> String {
    json!({
        "receipt_id": "r-1",
        "receipt_hash": "0x1111111111111111111111111111111111111111111111111111111111111111",
        "timestamp": "2026-01-16T00:00:05Z",
        "hop_irrational": false,
        "computational_cost_usdc": "0.010000"
    })
    .to_string()
}

fn unavailable() -> Reply {
    Reply::Json(
        503,
        json!({"error": "store_unavailable", "message": "the store is unavailable"}).to_string(),
    )
}

#[tokio::test]
async fn the_error_envelope_is_kept_whole() {
    let stub = Stub::start(vec![Reply::Json(
        400,
        json!({
            "error": "invalid_signature",
            "message": "signature by 0xab, expected 0xcd",
            "field": "signature",
            "expected": "0xcd",
            "recovered": "0xab"
        })
        .to_string(),
    )])
    .await;
    let error = client(&stub)
        .publish_manifest(&publish_body())
        .await
        .unwrap_err();
    let Error::Api {
        status,
        code,
        message,
        field,
        details,
    } = error
    else {
        panic!("expected an api error, got {error:?}")
    };
    assert_eq!(status, 400);
    assert_eq!(code, ErrorCode::InvalidSignature);
    assert_eq!(message, "signature by 0xab, expected 0xcd");
    assert_eq!(field.as_deref(), Some("signature"));
    assert_eq!(details["recovered"], "0xab");
    assert_eq!(stub.received().len(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn publish_tells_created_from_replayed() {
    let stub = Stub::start(vec![
        Reply::Json(201, published()),
        Reply::Json(200, published()),
    ])
    .await;
    let client = client(&stub);
    let body = publish_body();
    let (first, created) = client.publish_manifest(&body).await.unwrap();
    let (second, replayed) = client.publish_manifest(&body).await.unwrap();
    assert_eq!(created, Outcome::Created);
    assert_eq!(replayed, Outcome::Replayed);
    assert_eq!(first, second);
    let received = stub.received();
    assert_eq!(received[0].method, "POST");
    assert_eq!(received[0].path, "/api/v1/agents/manifests/publish");
    assert_eq!(received[0].header("content-type"), Some("application/json"));
    let sent: PublishManifestRequest = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(sent, body);
}

#[tokio::test]
async fn the_api_key_is_sent_as_a_bearer_token_and_never_shown() {
    let stub = Stub::start(vec![Reply::Json(201, published())]).await;
    let client = client(&stub);
    client.publish_manifest(&publish_body()).await.unwrap();
    assert_eq!(
        stub.received()[0].header("authorization"),
        Some("Bearer kgm_test_secret_key_0123456789abcdef")
    );
    let debug = format!("{client:?}");
    assert!(!debug.contains("kgm_test_secret"), "{debug}");
    assert!(debug.contains("[REDACTED]"), "{debug}");
    let builder = KagamiClient::builder("http://127.0.0.1:1").api_key("kgm_other_secret");
    assert!(!format!("{builder:?}").contains("kgm_other_secret"));
}

#[tokio::test]
async fn idempotent_calls_are_retried_on_503_with_the_same_bytes() {
    let stub = Stub::start(vec![
        unavailable(),
        Reply::Text(502, "<html>bad gateway</html>"),
        Reply::Json(201, recorded()),
    ])
    .await;
    let outcome = client(&stub).record_forward(&receipt_body()).await.unwrap();
    assert!(matches!(
        outcome,
        RecordOutcome::Recorded {
            outcome: Outcome::Created,
            ..
        }
    ));
    let received = stub.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| r.body == received[0].body));
    assert!(!received[0].body.is_empty());
}

#[tokio::test]
async fn retries_are_bounded() {
    let stub = Stub::start(vec![
        unavailable(),
        unavailable(),
        unavailable(),
        unavailable(),
    ])
    .await;
    let client = KagamiClient::builder(&stub.url)
        .max_retries(2)
        .retry_backoff(Duration::from_millis(1))
        .build()
        .unwrap();
    let error = client.mev_summary().await.unwrap_err();
    assert_eq!(error.status(), Some(503));
    assert_eq!(error.code(), Some(ErrorCode::StoreUnavailable));
    assert!(error.is_transient());
    assert_eq!(stub.received().len(), 3, "one attempt and two retries");
}

#[tokio::test]
async fn non_idempotent_calls_are_sent_once() {
    let stub = Stub::start(vec![unavailable(), unavailable()]).await;
    let request = RegisterAgentRequest {
        agent_id: 1,
        chain: "base".into(),
        registry_address: "0x0000000000000000000000000000000000008004".into(),
        owner_address: "0x89d3b8ff32a887f50304fd0e0fea9559ec13b80c".into(),
        token_uri: None,
        registration_file: None,
    };
    let error = client(&stub).register_agent(&request).await.unwrap_err();
    assert_eq!(error.status(), Some(503));
    assert_eq!(stub.received().len(), 1);
}

#[tokio::test]
async fn conflicts_and_preconditions_are_not_retried() {
    for status in [409, 422] {
        let stub = Stub::start(vec![Reply::Json(
            status,
            json!({"error": "nonce_not_increasing", "message": "nonce 1 is not above 1", "field": "nonce"})
                .to_string(),
        )])
        .await;
        let error = client(&stub)
            .publish_manifest(&publish_body())
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(status));
        assert_eq!(stub.received().len(), 1);
    }
}

#[tokio::test]
async fn a_receipt_that_closes_a_cycle_is_a_settlement_not_an_error() {
    let stub = Stub::start(vec![Reply::Json(
        409,
        json!({
            "error": "circular_dependency",
            "message": "the receipt closes a loop: it was stored as evidence and the loop settled",
            "cycle_agents": [AGENT, "7c9e6679-7425-40de-944b-e07fc1f90ae7"],
            "cycle_depth": 2,
            "settlement_id": "s-1",
            "slashed_usdc": "200.000000"
        })
        .to_string(),
    )])
    .await;
    let outcome = client(&stub).record_forward(&receipt_body()).await.unwrap();
    let RecordOutcome::LoopSettled(settlement) = outcome else {
        panic!("expected a settlement, got {outcome:?}")
    };
    assert_eq!(settlement.kind, LoopKind::Cycle);
    assert_eq!(settlement.agents.len(), 2);
    assert_eq!(settlement.depth, Some(2));
    assert_eq!(settlement.settlement_id.as_deref(), Some("s-1"));
    assert_eq!(settlement.slashed_usdc.as_deref(), Some("200.000000"));
    assert_eq!(settlement.envelope.error, ErrorCode::CircularDependency);
    assert_eq!(
        stub.received().len(),
        1,
        "a settlement is final, not retried"
    );
}

#[tokio::test]
async fn other_record_conflicts_stay_errors() {
    let stub = Stub::start(vec![Reply::Json(
        409,
        json!({"error": "next_hop_mismatch", "message": "the previous hop committed elsewhere"})
            .to_string(),
    )])
    .await;
    let error = client(&stub)
        .record_forward(&receipt_body())
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::NextHopMismatch));
}

#[tokio::test]
async fn an_answer_that_is_not_the_envelope_is_a_decode_error() {
    let stub = Stub::start(vec![
        Reply::Text(500, "<html>oops</html>"),
        Reply::Json(200, r#"{"unexpected": true}"#.into()),
    ])
    .await;
    let client = client(&stub);
    let agent: Uuid = AGENT.parse().unwrap();
    let error = client.agent(agent).await.unwrap_err();
    assert!(
        matches!(&error, Error::Decode { status: 500, reason } if reason.contains("oops")),
        "{error:?}"
    );
    let error = client.agent(agent).await.unwrap_err();
    assert!(
        matches!(error, Error::Decode { status: 200, .. }),
        "{error:?}"
    );
    assert_eq!(stub.received()[0].path, format!("/api/v1/agents/{AGENT}"));
}

#[tokio::test]
async fn a_silent_server_is_a_timeout() {
    let stub = Stub::start(vec![Reply::Hang]).await;
    let client = KagamiClient::builder(&stub.url)
        .timeout(Duration::from_millis(300))
        .max_retries(0)
        .build()
        .unwrap();
    let error = client.mev_summary().await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn an_unreachable_server_is_a_network_error() {
    // Bind and drop to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = KagamiClient::builder(format!("http://127.0.0.1:{port}"))
        .max_retries(1)
        .retry_backoff(Duration::from_millis(1))
        .build()
        .unwrap();
    let error = client.health().await.unwrap_err();
    assert!(matches!(error, Error::Network { .. }), "{error:?}");
    assert!(error.to_string().contains(&format!("127.0.0.1:{port}")));
}

#[tokio::test]
async fn an_unhealthy_service_is_an_answer() {
    let stub = Stub::start(vec![Reply::Json(
        503,
        json!({"status": "unhealthy", "db": "unreachable", "redis": "disabled"}).to_string(),
    )])
    .await;
    let health = client(&stub).health().await.unwrap();
    assert_eq!(health.status, "unhealthy");
    assert_eq!(health.db, "unreachable");
    assert_eq!(stub.received().len(), 1);
}

#[tokio::test]
async fn a_base_path_is_kept_and_bad_base_urls_are_refused() {
    let stub = Stub::start(vec![Reply::Json(
        200,
        json!({"status": "healthy", "db": "connected", "redis": "disabled"}).to_string(),
    )])
    .await;
    let client = KagamiClient::new(format!("{}/kagami/", stub.url)).unwrap();
    client.health().await.unwrap();
    assert_eq!(stub.received()[0].path, "/kagami/health");
    for bad in ["127.0.0.1:8000", "ftp://host", "http://host/?q=1", ""] {
        let error = KagamiClient::new(bad).unwrap_err();
        assert!(
            matches!(error, Error::InvalidInput { ref field, .. } if field == "base_url"),
            "{bad}: {error:?}"
        );
    }
    let error = KagamiClient::builder("http://host")
        .api_key("bad\nkey")
        .build()
        .unwrap_err();
    assert!(!error.to_string().contains("bad\nkey"));
}

#[tokio::test]
async fn next_manifest_nonce_is_one_above_the_highest() {
    let manifest = |nonce: u64| {
        json!({
            "manifest_id": "m", "manifest_hash": "0x00", "agent_uuid": AGENT, "chain": "base",
            "endpoint_uri": "https://a.example", "pubkey": "0x00", "nonce": nonce,
            "valid_from": "2026-01-16T00:00:00Z", "valid_until": "2026-01-17T00:00:00Z",
            "signature": "0x00", "status": "active", "created_at": "2026-01-16T00:00:00Z",
            "revoked_at": null
        })
    };
    let stub = Stub::start(vec![
        Reply::Json(200, json!([manifest(7), manifest(3)]).to_string()),
        Reply::Json(200, "[]".into()),
    ])
    .await;
    let client = client(&stub);
    let agent: Uuid = AGENT.parse().unwrap();
    assert_eq!(client.next_manifest_nonce(agent).await.unwrap(), 8);
    assert_eq!(client.next_manifest_nonce(agent).await.unwrap(), 1);
    assert_eq!(
        stub.received()[0].path,
        format!("/api/v1/agents/{AGENT}/manifests?limit=1"),
        "one request: the first manifest has the highest nonce"
    );
}

fn manifest_json(nonce: u64) -> serde_json::Value {
    json!({
        "manifest_id": "m", "manifest_hash": "0x00", "agent_uuid": AGENT, "chain": "base",
        "endpoint_uri": "https://a.example", "pubkey": "0x00", "nonce": nonce,
        "valid_from": "2026-01-16T00:00:00Z", "valid_until": "2026-01-17T00:00:00Z",
        "signature": "0x00", "status": "active", "created_at": "2026-01-16T00:00:00Z",
        "revoked_at": null
    })
}

#[tokio::test]
async fn agent_manifests_follows_the_next_links_to_the_last_page() {
    let list = format!("/api/v1/agents/{AGENT}/manifests");
    let stub = Stub::start(vec![
        Reply::Page(
            json!([manifest_json(9), manifest_json(8)]).to_string(),
            format!("{list}?limit=2&before_nonce=8"),
        ),
        Reply::Page(
            json!([manifest_json(5), manifest_json(2)]).to_string(),
            format!("{list}?limit=2&before_nonce=2"),
        ),
        Reply::Json(200, json!([manifest_json(1)]).to_string()),
    ])
    .await;
    let manifests = client(&stub)
        .agent_manifests(AGENT.parse().unwrap())
        .await
        .unwrap();
    let nonces: Vec<u64> = manifests.iter().map(|m| m.nonce).collect();
    assert_eq!(nonces, [9, 8, 5, 2, 1], "every page, in order, once");
    let paths: Vec<String> = stub.received().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            format!("{list}?limit=1000"),
            format!("{list}?limit=2&before_nonce=8"),
            format!("{list}?limit=2&before_nonce=2"),
        ]
    );
}

#[tokio::test]
async fn forward_trail_joins_the_receipts_of_every_page() {
    let receipt = |id: &str, hop: u32| {
        json!({
            "receipt_id": id, "receipt_hash": "0x00", "hop": hop,
            "source_agent_uuid": AGENT, "dest_agent_uuid": AGENT, "manifest_hash": "0x00",
            "next_hop_hash": null, "receipt_nonce": 1, "chain": "base", "signature": "0x00",
            "is_valid": true, "invalidated_at": null,
            "invalidation_reason": null, "hop_irrational": false,
            "computational_cost_usdc": "0.000000", "created_at": "2026-01-16T00:00:00Z"
        })
    };
    let page = |receipts: serde_json::Value| {
        json!({"root_tx_hash": ROOT, "receipts": receipts, "settlement": null}).to_string()
    };
    let list = format!("/api/v1/forwards/{ROOT}");
    let stub = Stub::start(vec![
        Reply::Page(
            page(json!([receipt("a", 0)])),
            format!("{list}?limit=1&after=a"),
        ),
        Reply::Json(200, page(json!([receipt("b", 1)]))),
    ])
    .await;
    let trail = client(&stub)
        .forward_trail(&ROOT.parse().unwrap())
        .await
        .unwrap();
    let ids: Vec<&str> = trail
        .receipts
        .iter()
        .map(|r| r.receipt_id.as_str())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(stub.received()[1].path, format!("{list}?limit=1&after=a"));
}

#[tokio::test]
async fn a_next_link_to_another_list_is_refused() {
    let stub = Stub::start(vec![Reply::Page(
        "[]".into(),
        "/api/v1/ledger?limit=1&after=x".into(),
    )])
    .await;
    let error = client(&stub)
        .agent_manifests(AGENT.parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Decode { .. }), "{error:?}");
    assert_eq!(
        stub.received().len(),
        1,
        "the foreign link was not followed"
    );
}

#[tokio::test]
async fn commitment_ids_cannot_escape_the_path() {
    let client = KagamiClient::new("http://127.0.0.1:1").unwrap();
    let error = client.settle_commitment("../agents").await.unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
}

#[tokio::test]
async fn the_ledger_is_a_retried_read_with_an_optional_limit() {
    let ledger = json!({
        "total_slashed_usdc": "200.000000",
        "total_bounties_usdc": "20.000000",
        "total_retained_usdc": "180.000000",
        "balanced": true,
        "unbalanced_causes": [],
        "entries": [{
            "entry": "slash",
            "cause": "settlement",
            "cause_id": "s-1",
            "agent_uuid": AGENT,
            "reporter_address": null,
            "amount_usdc": "200.000000",
            "created_at": "2026-01-16T00:00:05Z"
        }]
    })
    .to_string();
    let stub = Stub::start(vec![
        unavailable(),
        Reply::Json(200, ledger.clone()),
        Reply::Json(200, ledger),
    ])
    .await;
    let client = client(&stub);
    let answer = client.ledger(Some(5)).await.unwrap();
    assert!(answer.balanced);
    assert_eq!(answer.entries[0].cause_id, "s-1");
    client.ledger(None).await.unwrap();
    let received = stub.received();
    assert_eq!(received.len(), 3, "the 503 was retried");
    assert_eq!(received[0].method, "GET");
    assert_eq!(received[1].path, "/api/v1/ledger?limit=5");
    assert_eq!(received[2].path, "/api/v1/ledger");
}
