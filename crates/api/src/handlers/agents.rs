//! Agents: registration, stake, status, lookups, manifests lists, flip metrics.

use actix_web::{HttpResponse, get, patch, post, put, web};
use kagami_core::{
    Usdc, ValidationError,
    crypto::{Chain, EthAddress, FreeText, Hash32},
    manifest::effective_at,
    wire::{
        AgentDetailsResponse, AgentResponse, FlipMetricsResponse, ManifestResponse,
        RegisterAgentRequest, SetStakeRequest, StakeResponse, UpdateAgentRequest, parse_uuid_field,
    },
};
use kagami_store::{AgentStatus, NewAgent};

use super::{Json, load_agent, now};
use crate::{
    AppState,
    auth::AdminKey,
    error::{ApiError, ApiResult},
    views,
};

fn parse_registration(body: &RegisterAgentRequest) -> ApiResult<NewAgent> {
    if body.agent_id == 0 || i64::try_from(body.agent_id).is_err() {
        return Err(ApiError::bad_request(
            "invalid_field",
            "agent_id",
            "agent_id must be between 1 and 9223372036854775807",
        ));
    }
    let chain: Chain = body
        .chain
        .parse()
        .map_err(ValidationError::format("chain"))?;
    let registry_address: EthAddress = body
        .registry_address
        .parse()
        .map_err(ValidationError::format("registry_address"))?;
    let owner_address: EthAddress = body
        .owner_address
        .parse()
        .map_err(ValidationError::format("owner_address"))?;
    if let Some(uri) = &body.token_uri {
        uri.parse::<FreeText>()
            .map_err(ValidationError::format("token_uri"))?;
        if uri.len() > 2048 {
            return Err(ValidationError::TooLong {
                field: "token_uri",
                max: 2048,
                len: uri.len(),
            }
            .into());
        }
    }
    if body
        .registration_file
        .as_ref()
        .is_some_and(|f| !f.is_object())
    {
        return Err(ApiError::bad_request(
            "invalid_field",
            "registration_file",
            "registration_file must be a JSON object",
        ));
    }
    Ok(NewAgent {
        agent_id: body.agent_id,
        chain,
        registry_address,
        owner_address,
        token_uri: body.token_uri.clone(),
        registration_file: body.registration_file.clone(),
    })
}

/// Registers an agent (admin).
#[utoipa::path(
    tag = "agents",
    request_body = RegisterAgentRequest,
    responses(
        (status = 201, body = AgentResponse),
        (status = 400, body = kagami_core::wire::ErrorResponse),
        (status = 409, description = "already registered", body = kagami_core::wire::ErrorResponse)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/agents")]
pub(crate) async fn register_agent(
    state: web::Data<AppState>,
    _admin: AdminKey,
    body: Json<RegisterAgentRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.accept()?;
    let agent = state
        .store
        .register_agent(parse_registration(&body)?, now())
        .await?;
    tracing::info!(agent.uuid = %agent.uuid, agent.id = agent.agent_id, agent.chain = %agent.chain, "agent_registered");
    Ok(HttpResponse::Created().json(views::agent(&agent)))
}

/// An agent, its stake and its effective manifest.
#[utoipa::path(
    tag = "agents",
    params(("agent_uuid" = String, Path, description = "the agent's UUID")),
    responses((status = 200, body = AgentDetailsResponse), (status = 404, body = kagami_core::wire::ErrorResponse))
)]
#[get("/api/v1/agents/{agent_uuid}")]
pub(crate) async fn get_agent(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let uuid = parse_uuid_field("agent_uuid", &path)?;
    let now = now();
    let agent = load_agent(&state, uuid).await?;
    let stake = state.store.stake(uuid, now).await?.unwrap_or_default();
    let manifests = state.store.manifests_of(uuid).await?;
    let effective =
        effective_at(&manifests, now).map(|m| views::manifest_among(m, &manifests, now));
    Ok(HttpResponse::Ok().json(AgentDetailsResponse {
        agent: views::agent(&agent),
        stake: views::stake(&stake),
        effective_manifest: effective,
    }))
}

/// Sets the staked amount, mirroring the on-chain stake (admin).
#[utoipa::path(
    tag = "agents",
    params(("agent_uuid" = String, Path, description = "the agent's UUID")),
    request_body = SetStakeRequest,
    responses(
        (status = 200, body = StakeResponse),
        (status = 422, description = "below the slashed amount", body = kagami_core::wire::ErrorResponse)
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/agents/{agent_uuid}/stake")]
pub(crate) async fn set_stake(
    state: web::Data<AppState>,
    _admin: AdminKey,
    path: web::Path<String>,
    body: Json<SetStakeRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.accept()?;
    let uuid = parse_uuid_field("agent_uuid", &path)?;
    let staked: Usdc =
        body.staked_amount_usdc
            .parse()
            .map_err(|source| ValidationError::Amount {
                field: "staked_amount_usdc",
                source,
            })?;
    let stake = state.store.set_stake(uuid, staked, now()).await?;
    tracing::info!(agent.uuid = %uuid, stake.staked_usdc = %staked, "stake_updated");
    Ok(HttpResponse::Ok().json(views::stake(&stake)))
}

/// Changes an agent's status (admin).
#[utoipa::path(
    tag = "agents",
    params(("agent_uuid" = String, Path, description = "the agent's UUID")),
    request_body = UpdateAgentRequest,
    responses((status = 200, body = AgentResponse)),
    security(("bearer" = []))
)]
#[patch("/api/v1/agents/{agent_uuid}")]
pub(crate) async fn update_agent(
    state: web::Data<AppState>,
    _admin: AdminKey,
    path: web::Path<String>,
    body: Json<UpdateAgentRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.accept()?;
    let uuid = parse_uuid_field("agent_uuid", &path)?;
    let status = AgentStatus::parse(&body.status).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_field",
            "status",
            "status must be active, suspended or revoked",
        )
    })?;
    let agent = state.store.set_agent_status(uuid, status, now()).await?;
    tracing::info!(agent.uuid = %uuid, agent.status = status.as_str(), "agent_status_changed");
    Ok(HttpResponse::Ok().json(views::agent(&agent)))
}

/// An agent's manifests, highest nonce first, with computed status.
#[utoipa::path(
    tag = "manifests",
    params(("agent_uuid" = String, Path, description = "the agent's UUID")),
    responses((status = 200, body = Vec<ManifestResponse>), (status = 404, body = kagami_core::wire::ErrorResponse))
)]
#[get("/api/v1/agents/{agent_uuid}/manifests")]
pub(crate) async fn list_manifests(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let uuid = parse_uuid_field("agent_uuid", &path)?;
    load_agent(&state, uuid).await?;
    let now = now();
    let manifests = state.store.manifests_of(uuid).await?;
    let body: Vec<ManifestResponse> = manifests
        .iter()
        .map(|m| views::manifest_among(m, &manifests, now))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// One manifest with its computed status.
#[utoipa::path(
    tag = "manifests",
    params(("manifest_hash" = String, Path, description = "0x + 64 hex")),
    responses((status = 200, body = ManifestResponse), (status = 404, body = kagami_core::wire::ErrorResponse))
)]
#[get("/api/v1/manifests/{manifest_hash}")]
pub(crate) async fn get_manifest(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let hash: Hash32 = path
        .parse()
        .map_err(ValidationError::format("manifest_hash"))?;
    let manifest = state
        .store
        .manifest_by_hash(&hash)
        .await?
        .ok_or_else(|| ApiError::not_found("manifest_not_found", "manifest not found"))?;
    let all = state.store.manifests_of(manifest.agent).await?;
    Ok(HttpResponse::Ok().json(views::manifest_among(&manifest, &all, now())))
}

/// An agent's manifest flip statistics.
#[utoipa::path(
    tag = "manifests",
    params(("agent_uuid" = String, Path, description = "the agent's UUID")),
    responses((status = 200, body = FlipMetricsResponse), (status = 404, body = kagami_core::wire::ErrorResponse))
)]
#[get("/api/v1/agents/manifests/{agent_uuid}/flip-metrics")]
pub(crate) async fn flip_metrics(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let uuid = parse_uuid_field("agent_uuid", &path)?;
    load_agent(&state, uuid).await?;
    let (m, as_of) = state.store.flip_metrics(uuid, now()).await?;
    Ok(HttpResponse::Ok().json(FlipMetricsResponse {
        agent_uuid: uuid.to_string(),
        total_flips: m.total_flips,
        rapid_flips_1min: m.rapid_flips_1min,
        endpoint_changes: m.endpoint_changes,
        high_suspicion_flips: m.high_suspicion_flips,
        avg_suspicion_score: m.avg_suspicion_score,
        last_flip_at: m.last_flip_at.map(|t| t.to_string()),
        as_of: as_of.to_string(),
    }))
}
