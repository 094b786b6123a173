//! Manifests: publish, revoke, and the pre-payment check verify-forward.

use std::time::Instant;

use actix_web::{HttpResponse, post, web};
use kagami_core::{
    ForwardGraph, ForwardViolation, ManifestRecord, ManifestStatus, ProposedForward,
    ValidationError,
    crypto::{EthAddress, Hash32, ManifestRevocation, Signable, Signature, Uuid},
    graph::Edge,
    manifest::status_at,
    wire::{
        ManifestResponse, PublishManifestRequest, PublishManifestResponse, RevokeManifestRequest,
        VerifyForwardRequest, VerifyForwardResponse, parse_uuid_field,
    },
};
use kagami_store::{AgentStatus, NewManifest};
use serde_json::{Map, Value, json};

use super::{Json, load_agent, now};
use crate::{
    AppState,
    auth::ClientKey,
    error::{ApiError, ApiResult},
    telemetry, views,
};

/// Verifies `signature` over `message` against `allowed` signers, timing it and logging a
/// failure once with the expected and recovered addresses.
pub(crate) fn verify_signature(
    what: &'static str,
    message: &kagami_core::crypto::CanonicalMessage,
    signature: &Signature,
    allowed: &[EthAddress],
) -> ApiResult<EthAddress> {
    let started = Instant::now();
    let outcome = message.verify_any(signature, allowed).copied();
    telemetry::record_verification(started.elapsed());
    outcome.map_err(|e| {
        match &e {
            kagami_core::crypto::Error::WrongSigner { expected, recovered } => tracing::warn!(
                signature.object = what,
                signature.expected = %expected,
                signature.recovered = %recovered,
                "signature_verification_failed"
            ),
            other => tracing::warn!(signature.object = what, error = %other, "signature_verification_failed"),
        }
        ApiError::bad_request("invalid_signature", "signature", format!("{what} signature rejected: {e}"))
    })
}

/// Publishes an owner-signed endpoint manifest.
#[utoipa::path(
    tag = "manifests",
    request_body = PublishManifestRequest,
    responses(
        (status = 201, description = "published", body = PublishManifestResponse),
        (status = 200, description = "identical manifest already published (safe retry)", body = PublishManifestResponse),
        (status = 400, description = "invalid field, invalid signature, window too long", body = kagami_core::wire::ErrorResponse),
        (status = 404, description = "unknown agent", body = kagami_core::wire::ErrorResponse),
        (status = 409, description = "nonce reused or not increasing", body = kagami_core::wire::ErrorResponse),
        (status = 422, description = "activation too soon, expired, agent not active", body = kagami_core::wire::ErrorResponse)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/agents/manifests/publish")]
pub(crate) async fn publish(
    state: web::Data<AppState>,
    _client: ClientKey,
    body: Json<PublishManifestRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.accept()?;
    let submission = body.parse(&state.config.policy)?;
    let agent = load_agent(&state, submission.manifest.agent).await?;
    if agent.chain != submission.manifest.chain {
        return Err(ApiError::bad_request(
            "chain_mismatch",
            "chain",
            format!("the agent is registered on {}", agent.chain),
        ));
    }
    if agent.status != AgentStatus::Active {
        return Err(ApiError::unprocessable(
            "agent_not_active",
            format!("agent is {}", agent.status.as_str()),
        ));
    }
    let message = submission.manifest.message();
    verify_signature(
        "manifest",
        &message,
        &submission.signature,
        &[agent.owner_address],
    )?;
    let now = now();
    let record = ManifestRecord {
        id: Uuid::nil(),
        hash: message.id(),
        agent: agent.uuid,
        chain: submission.manifest.chain.clone(),
        endpoint: submission.endpoint.clone(),
        pubkey: submission.manifest.pubkey.clone(),
        nonce: submission.manifest.nonce,
        valid_from: submission.manifest.valid_from,
        valid_until: submission.manifest.valid_until,
        signature: submission.signature,
        created_at: now,
        revoked_at: None,
    };
    let outcome = state
        .store
        .publish_manifest(NewManifest { record }, now, &state.config.policy)
        .await?;
    let m = &outcome.manifest;
    if let Some(flip) = outcome.flip.as_ref().filter(|_| !outcome.replayed) {
        let label = state.agent_labels.label(&agent.uuid.to_string());
        metrics::counter!(telemetry::FORWARD_PATH_CHURN.name, "agent_uuid" => label.clone())
            .increment(1);
        if flip.flip.is_suspicious() {
            metrics::counter!(telemetry::FORWARD_PATH_SUSPICIOUS_FLIPS.name, "agent_uuid" => label)
                .increment(1);
            tracing::warn!(
                agent.uuid = %agent.uuid,
                manifest.hash = %m.hash,
                flip.suspicion_score = flip.flip.suspicion_score,
                flip.endpoint_changed = flip.flip.endpoint_changed,
                flip.pubkey_changed = flip.flip.pubkey_changed,
                flip.time_delta_seconds = flip.flip.time_delta_seconds,
                "suspicious_manifest_flip"
            );
        }
    }
    for c in &outcome.disputed_commitments {
        tracing::warn!(agent.uuid = %agent.uuid, commitment.id = %c.id, "commitment_disputed");
    }
    if !outcome.replayed {
        tracing::info!(agent.uuid = %agent.uuid, manifest.hash = %m.hash, manifest.nonce = m.nonce, "manifest_published");
    }
    let all = state.store.manifests_of(agent.uuid).await?;
    let body = PublishManifestResponse {
        manifest_id: m.id.to_string(),
        manifest_hash: m.hash.to_string(),
        status: status_at(m, &all, now).as_str().to_owned(),
        valid_from: m.valid_from.to_string(),
        valid_until: m.valid_until.to_string(),
        flip: outcome.flip.as_ref().map(|f| views::flip(&f.flip)),
        disputed_commitments: outcome
            .disputed_commitments
            .iter()
            .map(|c| c.id.to_string())
            .collect(),
    };
    Ok(if outcome.replayed {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::Created().json(body)
    })
}

/// Revokes a manifest with the owner's signed revocation.
#[utoipa::path(
    tag = "manifests",
    request_body = RevokeManifestRequest,
    responses(
        (status = 200, body = ManifestResponse),
        (status = 400, body = kagami_core::wire::ErrorResponse),
        (status = 404, body = kagami_core::wire::ErrorResponse)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/agents/manifests/revoke")]
pub(crate) async fn revoke(
    state: web::Data<AppState>,
    _client: ClientKey,
    body: Json<RevokeManifestRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.accept()?;
    let uuid = parse_uuid_field("agent_uuid", &body.agent_uuid)?;
    let hash: Hash32 = body
        .manifest_hash
        .parse()
        .map_err(ValidationError::format("manifest_hash"))?;
    let signature: Signature = body
        .signature
        .parse()
        .map_err(ValidationError::format("signature"))?;
    let agent = load_agent(&state, uuid).await?;
    let manifest = state
        .store
        .manifest_by_hash(&hash)
        .await?
        .filter(|m| m.agent == uuid)
        .ok_or_else(|| {
            ApiError::not_found(
                "manifest_not_found",
                "the agent has no manifest with this hash",
            )
        })?;
    let message = ManifestRevocation {
        chain: manifest.chain.clone(),
        agent: uuid,
        manifest: hash,
    }
    .message();
    verify_signature("revocation", &message, &signature, &[agent.owner_address])?;
    let now = now();
    let revoked = state.store.revoke_manifest(uuid, &hash, now).await?;
    tracing::info!(agent.uuid = %uuid, manifest.hash = %hash, "manifest_revoked");
    let all = state.store.manifests_of(uuid).await?;
    Ok(HttpResponse::Ok().json(views::manifest_among(&revoked, &all, now)))
}

/// An unsafe verdict.
fn unsafe_because(
    reason: &'static str,
    message: impl Into<String>,
    details: Value,
) -> VerifyForwardResponse {
    let details = match details {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    VerifyForwardResponse {
        safe: false,
        reason: Some(reason.to_owned()),
        message: Some(message.into()),
        manifest_hash: None,
        manifest_nonce: None,
        endpoint_uri: None,
        pubkey: None,
        hop: None,
        valid_until: None,
        verified_at: now().to_string(),
        details,
    }
}

fn uuids(agents: &[Uuid]) -> Vec<String> {
    agents.iter().map(ToString::to_string).collect()
}

/// Would paying `dest` now, as part of `root_tx_hash`, be safe? Predictive: refuses the
/// forward that would close a cycle or pay an agent twice, not only loops already recorded.
#[utoipa::path(
    tag = "forwards",
    request_body = VerifyForwardRequest,
    responses(
        (status = 200, description = "the verdict; `safe` false carries `reason` and details", body = VerifyForwardResponse),
        (status = 400, description = "malformed fields", body = kagami_core::wire::ErrorResponse)
    )
)]
#[post("/api/v1/agents/manifests/verify-forward")]
pub(crate) async fn verify_forward(
    state: web::Data<AppState>,
    body: Json<VerifyForwardRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.accept()?;
    let root: Hash32 = body
        .root_tx_hash
        .parse()
        .map_err(ValidationError::format("root_tx_hash"))?;
    let source = parse_uuid_field("source_agent_uuid", &body.source_agent_uuid)?;
    let dest = parse_uuid_field("dest_agent_uuid", &body.dest_agent_uuid)?;
    let hash: Hash32 = body
        .manifest_hash
        .parse()
        .map_err(ValidationError::format("manifest_hash"))?;
    let signature: Signature = body
        .manifest_signature
        .parse()
        .map_err(ValidationError::format("manifest_signature"))?;
    let verdict = verdict(
        &state,
        root,
        source,
        dest,
        hash,
        body.manifest_nonce,
        &signature,
    )
    .await?;
    Ok(HttpResponse::Ok().json(verdict))
}

async fn verdict(
    state: &AppState,
    root: Hash32,
    source: Uuid,
    dest: Uuid,
    hash: Hash32,
    nonce: u64,
    signature: &Signature,
) -> ApiResult<VerifyForwardResponse> {
    let policy = &state.config.policy;
    let now = now();
    let Some(dest_agent) = state.store.agent(dest).await? else {
        return Ok(unsafe_because(
            "agent_not_found",
            "destination agent not found",
            json!({ "agent_uuid": dest.to_string() }),
        ));
    };
    if state.store.agent(source).await?.is_none() {
        return Ok(unsafe_because(
            "agent_not_found",
            "source agent not found",
            json!({ "agent_uuid": source.to_string() }),
        ));
    }
    if dest_agent.status != AgentStatus::Active {
        return Ok(unsafe_because(
            "agent_suspended",
            format!("destination agent is {}", dest_agent.status.as_str()),
            json!({ "agent_uuid": dest.to_string(), "agent_status": dest_agent.status.as_str() }),
        ));
    }
    let Some(manifest) = state
        .store
        .manifest_by_hash(&hash)
        .await?
        .filter(|m| m.agent == dest)
    else {
        return Ok(unsafe_because(
            "manifest_not_found",
            "the destination has no manifest with this hash",
            json!({}),
        ));
    };
    let message = manifest.to_message_fields().message();
    let genuine = manifest.nonce == nonce
        && verify_signature("manifest", &message, signature, &[dest_agent.owner_address]).is_ok();
    if !genuine {
        return Ok(unsafe_because(
            "invalid_signature",
            "the manifest nonce or signature does not match the destination owner's signed manifest",
            json!({ "manifest_hash": hash.to_string() }),
        ));
    }
    let all = state.store.manifests_of(dest).await?;
    let status = status_at(&manifest, &all, now);
    if status != ManifestStatus::Active {
        return Ok(unsafe_because(
            "manifest_not_effective",
            format!("the manifest is {}", status.as_str()),
            json!({ "manifest_status": status.as_str(), "manifest_hash": hash.to_string() }),
        ));
    }
    // One read gives both the settlement and the receipts.
    let trail = state.store.forward_trail(&root).await?;
    if let Some(settlement) = &trail.settlement {
        let invalid: Vec<String> = trail
            .receipts
            .iter()
            .filter(|r| !r.is_valid)
            .map(|r| r.receipt.receipt_hash.to_string())
            .collect();
        return Ok(unsafe_because(
            "already_settled",
            "this root transaction was settled after a loop; no further forwards are safe",
            json!({
                "settlement_id": settlement.id.to_string(),
                "cycle_agents": uuids(&settlement.cycle_agents),
                "cycle_depth": settlement.depth,
                "invalid_receipts": invalid,
            }),
        ));
    }
    let edges: Vec<Edge> = trail
        .receipts
        .iter()
        .filter(|r| r.is_valid)
        .map(|r| r.receipt.edge())
        .collect();
    let hop = edges
        .iter()
        .filter(|e| e.to == source)
        .map(|e| e.hop + 1)
        .max()
        .unwrap_or(0);
    let graph = ForwardGraph::new(root, edges);
    if let Err(violation) = graph.check_forward(
        ProposedForward {
            from: source,
            to: dest,
            hop,
        },
        policy,
    ) {
        let message = violation.to_string();
        return Ok(match violation {
            ForwardViolation::SelfForward => unsafe_because("self_forward", message, json!({})),
            ForwardViolation::HopLimitExceeded { hop, max } => unsafe_because(
                "hop_limit_exceeded",
                message,
                json!({ "hop": hop, "max_hop_depth": max }),
            ),
            ForwardViolation::CycleDetected(cycle) => unsafe_because(
                "cycle_detected",
                message,
                json!({
                    "cycle_agents": uuids(&cycle.agents),
                    "cycle_depth": cycle.depth(),
                    "invalid_receipts": cycle.receipts.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }),
            ),
            ForwardViolation::MissingPreviousHop { hop } => {
                unsafe_because("previous_hop_missing", message, json!({ "hop": hop }))
            }
            ForwardViolation::WouldCreateCycle(cycle) => unsafe_because(
                "would_create_cycle",
                message,
                json!({ "cycle_agents": uuids(&cycle.agents), "cycle_depth": cycle.depth(), "hop": hop }),
            ),
            ForwardViolation::WouldExtract(l) => {
                let mut agents = l.sources.clone();
                agents.push(l.agent);
                unsafe_because(
                    "extraction_loop_detected",
                    message,
                    json!({ "loop_agents": uuids(&agents), "loop_hops": l.hops }),
                )
            }
            ForwardViolation::NextHopMismatch {
                committed,
                expected,
            } => unsafe_because(
                "next_hop_mismatch",
                message,
                json!({
                    "committed_next_hop_hash": committed.map(|c| c.to_string()),
                    "expected_next_hop_hash": expected.to_string(),
                }),
            ),
        });
    }
    let stake = state
        .store
        .stake_for_root(dest, &root, now)
        .await?
        .unwrap_or_default();
    if stake.available() < policy.min_stake_per_hop {
        return Ok(unsafe_because(
            "insufficient_stake",
            "the destination has too little available stake to back this hop",
            json!({ "available_usdc": stake.available().to_string(), "required_usdc": policy.min_stake_per_hop.to_string() }),
        ));
    }
    Ok(VerifyForwardResponse {
        safe: true,
        reason: None,
        message: None,
        manifest_hash: Some(manifest.hash.to_string()),
        manifest_nonce: Some(manifest.nonce),
        endpoint_uri: Some(manifest.endpoint.to_string()),
        pubkey: Some(manifest.pubkey.to_string()),
        hop: Some(hop),
        valid_until: Some(manifest.valid_until.to_string()),
        verified_at: now.to_string(),
        details: Map::new(),
    })
}
