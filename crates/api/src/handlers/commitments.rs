//! High-value time-locked commitments and MEV incidents.

use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use kagami_core::{
    Usdc, UsdcSum, ValidationError,
    crypto::Hash32,
    wire::{
        CommitmentRequest, CommitmentResponse, ConfirmCommitmentRequest, ErrorCode, ErrorResponse,
        MevIncidentRequest, MevIncidentResponse, MevSummaryResponse, MevSummaryRowResponse,
        parse_uuid_field,
    },
};
use kagami_store::{AttackType, IncidentOutcome, NewMevIncident};

use super::{Json, now, recover};
use crate::{
    AppState,
    auth::{AdminKey, ClientKey},
    error::{ApiError, ApiResult},
    telemetry, views,
};

fn amount(field: &'static str, raw: &str) -> ApiResult<Usdc> {
    raw.parse()
        .map_err(|source| ValidationError::Amount { field, source }.into())
}

/// Accepts a time-locked commitment for a high-value flow (≥ 10,000 USDC), signed by the
/// root payer and by the first-hop agent. If the first hop's routing changes during the lock,
/// the commitment is disputed and the first hop slashed (at most half its available stake
/// for one change of routing, however many commitments it breaks).
#[utoipa::path(
    tag = "commitments",
    request_body = CommitmentRequest,
    responses(
        (status = 201, body = CommitmentResponse),
        (status = 400, description = "invalid field or signature, amount below the threshold, lock_until out of range", body = ErrorResponse),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "the root already has a commitment", body = ErrorResponse),
        (status = 422, description = "first hop without a manifest in force, or not active", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/agents/manifests/onchain-commitment")]
pub(crate) async fn create_commitment(
    state: web::Data<AppState>,
    _client: ClientKey,
    body: Json<CommitmentRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.accept()?;
    let submission = body.parse(&state.config.policy).map_err(|e| {
        if e.field() == "amount_usdc" && matches!(e, ValidationError::OutOfRange { .. }) {
            ApiError::bad_request(
                ErrorCode::AmountBelowThreshold,
                "amount_usdc",
                e.to_string(),
            )
        } else {
            e.into()
        }
    })?;
    let cosigned = recover("commitment", || submission.recover())?;
    let stored = state
        .store
        .create_commitment(cosigned, now(), &state.config.policy)
        .await?;
    let c = &stored.commitment;
    tracing::info!(
        commitment.id = %stored.id,
        forward.root_tx = %c.root_tx,
        agent.uuid = %c.first_hop_agent,
        commitment.amount_usdc = %c.amount,
        "onchain_commitment_created"
    );
    Ok(HttpResponse::Created().json(views::commitment(&stored)))
}

/// Marks a pending commitment confirmed on chain (admin).
#[utoipa::path(
    tag = "commitments",
    params(("commitment_id" = kagami_core::wire::schema::Uuid, Path, description = "the commitment's id")),
    request_body = ConfirmCommitmentRequest,
    responses((status = 200, body = CommitmentResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)),
    security(("bearer" = []))
)]
#[post("/api/v1/commitments/{commitment_id}/confirm")]
pub(crate) async fn confirm_commitment(
    state: web::Data<AppState>,
    _admin: AdminKey,
    path: web::Path<String>,
    body: Json<ConfirmCommitmentRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.accept()?;
    let id = parse_uuid_field("commitment_id", &path)?;
    let tx: Hash32 = body
        .onchain_tx_hash
        .parse()
        .map_err(ValidationError::format("onchain_tx_hash"))?;
    let c = state.store.confirm_commitment(id, &tx, now()).await?;
    tracing::info!(commitment.id = %id, commitment.onchain_tx = %tx, "onchain_commitment_confirmed");
    Ok(HttpResponse::Ok().json(views::commitment(&c)))
}

/// Marks a confirmed commitment settled (admin).
#[utoipa::path(
    tag = "commitments",
    params(("commitment_id" = kagami_core::wire::schema::Uuid, Path, description = "the commitment's id")),
    responses((status = 200, body = CommitmentResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)),
    security(("bearer" = []))
)]
#[post("/api/v1/commitments/{commitment_id}/settle")]
pub(crate) async fn settle_commitment(
    state: web::Data<AppState>,
    _admin: AdminKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_uuid_field("commitment_id", &path)?;
    let c = state.store.settle_commitment(id, now()).await?;
    tracing::info!(commitment.id = %id, "onchain_commitment_settled");
    Ok(HttpResponse::Ok().json(views::commitment(&c)))
}

/// Records an MEV incident and slashes the attacker `min(2 × extracted, available)` (admin).
#[utoipa::path(
    tag = "mev",
    request_body = MevIncidentRequest,
    responses(
        (status = 201, body = MevIncidentResponse, description = "recorded, attacker slashed"),
        (status = 200, body = MevIncidentResponse, description = "the same incident, reported before"),
        (status = 400, body = ErrorResponse, description = "an invalid field; invalid_signature (field attack_tx) when the transaction is not signed by a key authorised for the attacker"),
        (status = 404, body = ErrorResponse),
        (status = 409, body = ErrorResponse, description = "the transaction was reported with other fields")
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/mev/incidents")]
pub(crate) async fn create_incident(
    state: web::Data<AppState>,
    _admin: AdminKey,
    body: Json<MevIncidentRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.accept()?;
    let attack_type = AttackType::parse(&body.attack_type).ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::InvalidField,
            "attack_type",
            "attack_type must be frontrun, sandwich, timebandit or extraction_loop",
        )
    })?;
    if body.block_number == 0 || i64::try_from(body.block_number).is_err() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidField,
            "block_number",
            "block_number must be between 1 and 9223372036854775807",
        ));
    }
    let incident = NewMevIncident {
        root_tx: body
            .root_tx_hash
            .parse()
            .map_err(ValidationError::format("root_tx_hash"))?,
        attack_type,
        attacker: parse_uuid_field("attacker_agent_uuid", &body.attacker_agent_uuid)?,
        victim: body
            .victim_agent_uuid
            .as_deref()
            .map(|v| parse_uuid_field("victim_agent_uuid", v))
            .transpose()?,
        extracted_value: amount("extracted_value_usdc", &body.extracted_value_usdc)?,
        block_number: body.block_number,
        tx_index: body.tx_index,
        evidence_hash: body
            .evidence_hash
            .parse()
            .map_err(ValidationError::format("evidence_hash"))?,
        attack_tx: body
            .attack_tx
            .parse()
            .map_err(ValidationError::format("attack_tx"))?,
    };
    let IncidentOutcome {
        incident: stored,
        replayed,
    } = state.store.record_mev_incident(incident, now()).await?;
    if !replayed {
        telemetry::record_slash(stored.slashed_amount);
        tracing::warn!(
            mev.incident_id = %stored.id,
            mev.attack_type = attack_type.as_str(),
            agent.uuid = %stored.incident.attacker,
            mev.attack_tx = %stored.incident.attack_tx.hash,
            mev.slashed_usdc = %stored.slashed_amount,
            "mev_incident_recorded"
        );
    }
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(HttpResponse::build(status).json(MevIncidentResponse {
        incident_id: stored.id.to_string(),
        slashed_usdc: stored.slashed_amount.to_string(),
        reported_at: stored.created_at.to_string(),
        attack_tx_hash: stored.incident.attack_tx.hash.to_string(),
        attack_signer: stored.incident.attack_tx.signer.to_string(),
    }))
}

/// Incident totals per attack type.
#[utoipa::path(tag = "mev", responses((status = 200, body = MevSummaryResponse)))]
#[get("/api/v1/mev/summary")]
pub(crate) async fn mev_summary(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let rows = state.store.mev_summary().await?;
    // Exact and wide: sums of sums never overflow (nor saturate).
    let extracted: UsdcSum = rows.iter().map(|r| r.extracted_value).sum();
    let slashed: UsdcSum = rows.iter().map(|r| r.slashed_amount).sum();
    Ok(HttpResponse::Ok().json(MevSummaryResponse {
        total_incidents: rows
            .iter()
            .map(|r| r.incidents)
            .fold(0, u64::saturating_add),
        total_extracted_usdc: extracted.to_string(),
        total_slashed_usdc: slashed.to_string(),
        attack_types: rows
            .iter()
            .map(|r| MevSummaryRowResponse {
                attack_type: r.attack_type.as_str().to_owned(),
                incidents: r.incidents,
                extracted_usdc: r.extracted_value.to_string(),
                slashed_usdc: r.slashed_amount.to_string(),
            })
            .collect(),
    }))
}
