//! Manifests: publish, revoke, and the pre-payment check verify-forward.

use actix_web::{HttpResponse, post, web};
use kagami_core::{
    ValidationError,
    crypto::{Hash32, Signature},
    verify::ForwardQuery,
    wire::{
        ManifestResponse, PublishManifestRequest, PublishManifestResponse, RevokeManifestRequest,
        VerifyForwardRequest, VerifyForwardResponse, parse_uuid_field,
    },
};

use super::{Json, now, recover};
use crate::{AppState, auth::ClientKey, error::ApiResult, telemetry, views};

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
    let signed = recover("manifest", || submission.recover())?;
    let agent = signed.manifest.value().agent;
    let outcome = state
        .store
        .publish_manifest(signed, now(), &state.config.policy)
        .await?;
    let m = &outcome.manifest;
    if let Some(flip) = outcome.flip.as_ref().filter(|_| !outcome.replayed) {
        let label = state.agent_labels.label(&agent.to_string());
        metrics::counter!(telemetry::FORWARD_PATH_CHURN.name, "agent_uuid" => label.clone())
            .increment(1);
        if flip.flip.is_suspicious() {
            metrics::counter!(telemetry::FORWARD_PATH_SUSPICIOUS_FLIPS.name, "agent_uuid" => label)
                .increment(1);
            tracing::warn!(
                agent.uuid = %agent,
                manifest.hash = %m.hash,
                flip.suspicion_score = flip.flip.suspicion_score,
                flip.endpoint_changed = flip.flip.endpoint_changed,
                flip.pubkey_changed = flip.flip.pubkey_changed,
                flip.time_delta_seconds = flip.flip.time_delta_seconds,
                "suspicious_manifest_flip"
            );
        }
    }
    telemetry::log_disputes(agent, &outcome.disputed_commitments);
    if !outcome.replayed {
        tracing::info!(agent.uuid = %agent, manifest.hash = %m.hash, manifest.nonce = m.nonce, "manifest_published");
    }
    let body = PublishManifestResponse {
        manifest_id: m.id.to_string(),
        manifest_hash: m.hash.to_string(),
        status: outcome.status.as_str().to_owned(),
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
    let (revoked, status) = state
        .store
        .revoke_manifest(uuid, &hash, signature, now())
        .await?;
    tracing::info!(agent.uuid = %uuid, manifest.hash = %hash, "manifest_revoked");
    Ok(HttpResponse::Ok().json(views::manifest(&revoked, status)))
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
    let query = ForwardQuery {
        root,
        source,
        dest,
        manifest: hash,
        nonce: body.manifest_nonce,
        signature,
    };
    let policy = &state.config.policy;
    let mut verdict = state.store.verify_forward(&query, now(), policy).await?;
    if verdict.disputes_due {
        // The destination broke a commitment it co-signed: settle that before answering.
        let disputed = state.store.touch_agent(dest, now()).await?;
        telemetry::log_disputes(dest, &disputed);
        verdict = state.store.verify_forward(&query, now(), policy).await?;
    }
    Ok(HttpResponse::Ok().json(views::verdict(verdict.verdict, now())))
}
