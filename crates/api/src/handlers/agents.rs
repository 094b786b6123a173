//! Agents: registration, stake, status, lookups, manifests lists, flip metrics.

use actix_web::{HttpResponse, get, patch, post, put, web};
use kagami_core::{
    Usdc, ValidationError,
    crypto::{Chain, EthAddress, FreeText, Hash32},
    manifest::effective_at,
    wire::{
        AgentDetailsResponse, AgentResponse, ErrorCode, FlipMetricsResponse, ManifestResponse,
        RegisterAgentRequest, SetStakeRequest, StakeResponse, UpdateAgentRequest, page,
        parse_uuid_field, schema,
    },
};
use kagami_store::{AgentStatus, NewAgent};
use serde_json::Value;

use super::{Json, PageQuery, next_link, now};
use crate::{
    AppState,
    auth::AdminKey,
    error::{ApiError, ApiResult},
    telemetry, views,
};

fn parse_registration(body: &RegisterAgentRequest) -> ApiResult<NewAgent> {
    if body.agent_id == 0 || i64::try_from(body.agent_id).is_err() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidField,
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
        let (len, max) = (uri.chars().count(), schema::FreeText::MAX_LENGTH);
        if len > max {
            return Err(ValidationError::TooLong {
                field: "token_uri",
                max,
                len,
            }
            .into());
        }
    }
    if let Some(file) = &body.registration_file {
        if !file.is_object() {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidField,
                "registration_file",
                "registration_file must be a JSON object",
            ));
        }
        if contains_nul(file) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidField,
                "registration_file",
                "registration_file must not contain U+0000 (no database stores it)",
            ));
        }
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

/// Whether a JSON value has U+0000 in a string or an object key.
fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
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
    params(("agent_uuid" = kagami_core::wire::schema::Uuid, Path, description = "the agent's UUID")),
    responses((status = 200, body = AgentDetailsResponse), (status = 404, body = kagami_core::wire::ErrorResponse))
)]
#[get("/api/v1/agents/{agent_uuid}")]
pub(crate) async fn get_agent(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let uuid = parse_uuid_field("agent_uuid", &path)?;
    let now = now();
    let not_found =
        || ApiError::not_found(ErrorCode::AgentNotFound, format!("agent {uuid} not found"));
    let mut details = state
        .store
        .agent_details(uuid, now)
        .await?
        .ok_or_else(not_found)?;
    if details.disputes_due {
        // A commitment it co-signed was broken: settle the dispute before showing the stake.
        let disputed = state.store.touch_agent(uuid, now).await?;
        telemetry::log_disputes(uuid, &disputed);
        details = state
            .store
            .agent_details(uuid, now)
            .await?
            .ok_or_else(not_found)?;
    }
    let manifests = &details.manifests;
    let effective = effective_at(manifests, now).map(|m| views::manifest_among(m, manifests, now));
    Ok(HttpResponse::Ok().json(AgentDetailsResponse {
        agent: views::agent(&details.agent),
        stake: views::stake(&details.stake),
        effective_manifest: effective,
    }))
}

/// Sets the staked amount, mirroring the on-chain stake (admin).
#[utoipa::path(
    tag = "agents",
    params(("agent_uuid" = kagami_core::wire::schema::Uuid, Path, description = "the agent's UUID")),
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
    params(("agent_uuid" = kagami_core::wire::schema::Uuid, Path, description = "the agent's UUID")),
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
            ErrorCode::InvalidField,
            "status",
            "status must be active, suspended or revoked",
        )
    })?;
    let agent = state.store.set_agent_status(uuid, status, now()).await?;
    tracing::info!(agent.uuid = %uuid, agent.status = status.as_str(), "agent_status_changed");
    Ok(HttpResponse::Ok().json(views::agent(&agent)))
}

/// An agent's manifests, highest nonce first, with computed status; one page at a time
/// (`limit`, default 100, at most 1000; `before_nonce`: only nonces below it). When more
/// follow, the `Link` header gives the next page's URL.
#[utoipa::path(
    tag = "manifests",
    params(
        ("agent_uuid" = kagami_core::wire::schema::Uuid, Path, description = "the agent's UUID"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "manifests per page: 1..=1000, default 100"),
        ("before_nonce" = Option<u64>, Query, maximum = 9_223_372_036_854_775_807_i64, description = "only manifests with a lower nonce: the last nonce of the previous page")
    ),
    responses(
        (status = 200, body = Vec<ManifestResponse>, headers(("Link" = String, description = "RFC 8288 `<…>; rel=\"next\"`: the URL of the next page, present only when more items follow"))),
        (status = 400, description = "invalid limit or before_nonce", body = kagami_core::wire::ErrorResponse),
        (status = 404, body = kagami_core::wire::ErrorResponse)
    )
)]
#[get("/api/v1/agents/{agent_uuid}/manifests")]
pub(crate) async fn list_manifests(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let uuid = parse_uuid_field("agent_uuid", &path)?;
    let limit = query.limit()?;
    query.refuse("after")?;
    let before_nonce = query
        .before_nonce
        .as_deref()
        .map(|raw| page::parse_nonce_cursor("before_nonce", raw))
        .transpose()?;
    let page = state
        .store
        .manifests_page(uuid, before_nonce, limit, now())
        .await?;
    let body: Vec<ManifestResponse> = page
        .items
        .iter()
        .map(|(m, status)| views::manifest(m, *status))
        .collect();
    let mut response = HttpResponse::Ok();
    if let (true, Some((last, _))) = (page.more, page.items.last()) {
        response.insert_header(next_link(
            &format!("/api/v1/agents/{uuid}/manifests"),
            limit,
            "before_nonce",
            &last.nonce.to_string(),
        ));
    }
    Ok(response.json(body))
}

/// One manifest with its computed status.
#[utoipa::path(
    tag = "manifests",
    params(("manifest_hash" = kagami_core::wire::schema::Hash, Path, description = "the manifest's id")),
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
    let (manifest, status) = state
        .store
        .manifest_with_status(&hash, now())
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::ManifestNotFound, "manifest not found"))?;
    Ok(HttpResponse::Ok().json(views::manifest(&manifest, status)))
}

/// An agent's manifest flip statistics.
#[utoipa::path(
    tag = "manifests",
    params(("agent_uuid" = kagami_core::wire::schema::Uuid, Path, description = "the agent's UUID")),
    responses((status = 200, body = FlipMetricsResponse), (status = 404, body = kagami_core::wire::ErrorResponse))
)]
#[get("/api/v1/agents/manifests/{agent_uuid}/flip-metrics")]
pub(crate) async fn flip_metrics(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let uuid = parse_uuid_field("agent_uuid", &path)?;
    let (m, as_of) = state.store.agent_flip_metrics(uuid, now()).await?;
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
