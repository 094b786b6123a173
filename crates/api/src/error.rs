//! The one HTTP error boundary: every failure becomes `{"error", "message", "field"?, …}`
//! with the right status.

use std::fmt;

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    error::{JsonPayloadError, PathError, QueryPayloadError},
    http::{StatusCode, header},
};
use kagami_core::{
    ForwardViolation, PublishError, RecordRejection, ValidationError, wire::ErrorResponse,
};
use kagami_store::{Rejection, StoreError};
use serde_json::{Map, Value, json};

/// An error answer. Build it with the constructors; the handlers return `Result<_, ApiError>`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    details: Map<String, Value>,
}

/// `Result` with [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with a status, a stable code and a human sentence.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            details: Map::new(),
        }
    }

    /// Names the offending request field.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds a detail to the body.
    #[must_use]
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// 400 with a field.
    pub fn bad_request(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message).field(field)
    }

    /// 404.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 422.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 409.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// The stable code.
    pub const fn code(&self) -> &'static str {
        self.code
    }

    /// The offending field, if one was named.
    pub fn field_name(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = ErrorResponse {
            error: self.code.to_owned(),
            message: self.message.clone(),
            field: self.field.clone(),
            details: self.details.clone(),
        };
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"kagami\""));
        }
        response.json(body)
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        let code = match &e {
            ValidationError::WindowTooLong { .. } => "window_too_long",
            ValidationError::OutOfRange { field: "hop", .. } => "hop_limit_exceeded",
            ValidationError::Format {
                field: "signature", ..
            } => "invalid_signature",
            _ => "invalid_field",
        };
        Self::bad_request(code, e.field(), e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity } => {
                let code = match entity {
                    "agent" => "agent_not_found",
                    "manifest" => "manifest_not_found",
                    "commitment" => "commitment_not_found",
                    "api_key" => "api_key_not_found",
                    _ => "not_found",
                };
                Self::not_found(code, format!("{entity} not found"))
            }
            StoreError::Conflict { constraint } => {
                let (code, message) = match constraint.as_str() {
                    "uq_agents_registry" => (
                        "agent_already_registered",
                        "this (chain, registry_address, agent_id) is already registered",
                    ),
                    "uq_manifests_agent_nonce" => {
                        ("nonce_reused", "this nonce was already used by the agent")
                    }
                    "uq_receipts_dest_nonce" => (
                        "receipt_nonce_used",
                        "the destination already signed a different receipt with this nonce",
                    ),
                    "uq_commitments_root" => (
                        "commitment_exists",
                        "this root transaction already has a commitment",
                    ),
                    "uq_settlements_root" => (
                        "already_settled",
                        "this root transaction is already settled",
                    ),
                    "uq_api_keys_hmac" => ("api_key_exists", "this API key already exists"),
                    _ => ("conflict", "the request conflicts with stored data"),
                };
                Self::conflict(code, message).detail("constraint", constraint)
            }
            StoreError::Rejected(rejection) => rejection.into(),
            StoreError::Unavailable(source) => {
                tracing::warn!(error.cause = %chain(source.as_ref()), "store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database is unavailable; retry later",
                )
            }
            StoreError::Internal(source) => {
                tracing::error!(error.cause = %chain(source.as_ref()), "store error");
                internal()
            }
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        let message = rejection.to_string();
        match rejection {
            Rejection::Publish(PublishError::Window(v)) => v.into(),
            Rejection::Publish(PublishError::NonceUsed { nonce }) => {
                Self::conflict("nonce_reused", message).field("nonce").detail("nonce", nonce)
            }
            Rejection::Publish(PublishError::NonceNotIncreasing { nonce, latest }) => {
                Self::conflict("nonce_not_increasing", message).field("nonce").detail("nonce", nonce).detail("latest_nonce", latest)
            }
            Rejection::Publish(PublishError::AlreadyExpired { valid_until }) => {
                Self::unprocessable("manifest_expired", message).field("valid_until").detail("valid_until", valid_until.to_string())
            }
            Rejection::Publish(PublishError::ActivationTooSoon { earliest }) => Self::unprocessable(
                "activation_too_soon",
                format!("valid_from must be at or after {earliest}: a replacement takes effect no sooner than the activation delay after the current manifest"),
            )
            .field("valid_from")
            .detail("earliest_valid_from", earliest.to_string()),
            Rejection::Record(RecordRejection::InsufficientStake { available, required }) => {
                Self::unprocessable("insufficient_stake", message)
                    .detail("available_usdc", available.to_string())
                    .detail("required_usdc", required.to_string())
            }
            Rejection::Record(RecordRejection::Forward(violation)) => violation_error(&violation),
            Rejection::AlreadySettled { settlement_id } => {
                Self::conflict("already_settled", message).detail("settlement_id", settlement_id.to_string())
            }
            Rejection::NoLoop => Self::unprocessable("no_cycle", message),
            Rejection::StakeBelowSlashed { slashed } => {
                Self::unprocessable("stake_below_slashed", message).field("staked_amount_usdc").detail("slashed_usdc", slashed.to_string())
            }
            Rejection::CommitmentState { actual, expected } => {
                Self::conflict("invalid_commitment_state", message).detail("status", actual).detail("expected_status", expected)
            }
        }
    }
}

/// The error answer for a forward rule violation on record-forward.
pub(crate) fn violation_error(violation: &ForwardViolation) -> ApiError {
    let message = violation.to_string();
    match violation {
        ForwardViolation::SelfForward => ApiError::unprocessable("self_forward", message),
        ForwardViolation::HopLimitExceeded { hop, max } => {
            ApiError::bad_request("hop_limit_exceeded", "hop", message)
                .detail("hop", *hop)
                .detail("max_hop_depth", *max)
        }
        ForwardViolation::CycleDetected(cycle) => ApiError::conflict("cycle_detected", message)
            .detail(
                "cycle_agents",
                json!(
                    cycle
                        .agents
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                ),
            )
            .detail("cycle_depth", cycle.depth()),
        ForwardViolation::MissingPreviousHop { hop } => {
            ApiError::unprocessable("previous_hop_missing", message)
                .field("hop")
                .detail("hop", *hop)
        }
        ForwardViolation::WouldCreateCycle(cycle) => {
            ApiError::conflict("would_create_cycle", message).detail(
                "cycle_agents",
                json!(
                    cycle
                        .agents
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                ),
            )
        }
        ForwardViolation::WouldExtract(l) => {
            ApiError::conflict("extraction_loop_detected", message)
                .detail("agent_uuid", l.agent.to_string())
        }
        ForwardViolation::NextHopMismatch {
            committed,
            expected,
        } => ApiError::conflict("next_hop_mismatch", message)
            .detail("committed_next_hop_hash", committed.map(|c| c.to_string()))
            .detail("expected_next_hop_hash", expected.to_string()),
    }
}

/// A 500 that says nothing internal.
pub(crate) fn internal() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "internal error; the request id identifies it in the logs",
    )
}

/// The error and its causes on one line, for the log.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

/// Turns actix's JSON body errors into the envelope: 413 too large, 415 not JSON, 400 malformed
/// or unknown fields.
pub(crate) fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    json_api_error(&err).into()
}

/// The envelope for a JSON body error.
pub(crate) fn json_api_error(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "request body must be JSON (Content-Type: application/json)",
        ),
        JsonPayloadError::Deserialize(e) => {
            let text = e.to_string();
            match text
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next())
            {
                Some(field) => ApiError::bad_request(
                    "unknown_field",
                    field,
                    format!("unknown field {field:?}; unknown fields are rejected"),
                ),
                None => {
                    let missing = text
                        .strip_prefix("missing field `")
                        .and_then(|rest| rest.split('`').next());
                    match missing {
                        Some(field) => ApiError::bad_request(
                            "missing_field",
                            field,
                            format!("missing field {field:?}"),
                        ),
                        None => ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "malformed_json",
                            format!("malformed JSON body: {text}"),
                        ),
                    }
                }
            }
        }
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("unreadable JSON body: {err}"),
        ),
    }
}

/// Path parameter errors as the envelope.
pub(crate) fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_path",
        format!("invalid path parameter: {err}"),
    )
    .into()
}

/// Query string errors as the envelope.
pub(crate) fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_query",
        format!("invalid query string: {err}"),
    )
    .into()
}
