//! The one HTTP error boundary: every failure becomes `{"error", "message", "field"?, …}`
//! with the right status.

use std::fmt;

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    error::{JsonPayloadError, PathError, QueryPayloadError},
    http::{StatusCode, header},
};
use kagami_core::{
    ForwardViolation, PublishError, RecordRejection, ValidationError,
    wire::{ErrorCode, ErrorResponse},
};
use kagami_store::{ConflictKind, Entity, Rejection, StoreError};
use serde_json::{Map, Value};

/// An error answer. Build it with the constructors; the handlers return `Result<_, ApiError>`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    field: Option<String>,
    details: Map<String, Value>,
}

/// `Result` with [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with a status, a stable code and a human sentence.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
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
    pub fn bad_request(code: ErrorCode, field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message).field(field)
    }

    /// 404.
    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 422.
    pub fn unprocessable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 409.
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// The stable code.
    pub const fn code(&self) -> ErrorCode {
        self.code
    }

    /// Replaces the details with `details`.
    #[must_use]
    pub fn details(mut self, details: Map<String, Value>) -> Self {
        self.details = details;
        self
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
            error: self.code,
            message: self.message.clone(),
            field: self.field.clone(),
            details: self.details.clone(),
        };
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"kagami\""));
        }
        if matches!(
            self.code,
            ErrorCode::StoreBusy | ErrorCode::StoreUnavailable
        ) {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        response.json(body)
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        let code = match &e {
            ValidationError::WindowTooLong { .. } => ErrorCode::WindowTooLong,
            ValidationError::OutOfRange { field, .. } if field.ends_with("hop") => {
                ErrorCode::HopLimitExceeded
            }
            ValidationError::OrderMismatch { .. } => ErrorCode::OrderMismatch,
            ValidationError::Format { field, .. } if field.ends_with("signature") => {
                ErrorCode::InvalidSignature
            }
            _ => ErrorCode::InvalidField,
        };
        Self::bad_request(code, e.field(), e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(entity) => {
                let code = match entity {
                    Entity::Agent => ErrorCode::AgentNotFound,
                    Entity::Manifest => ErrorCode::ManifestNotFound,
                    Entity::Commitment => ErrorCode::CommitmentNotFound,
                    Entity::ApiKey => ErrorCode::ApiKeyNotFound,
                };
                Self::not_found(code, format!("{entity} not found"))
            }
            StoreError::Conflict(kind) => {
                let (code, message) = match kind {
                    ConflictKind::AgentRegistered => (
                        ErrorCode::AgentAlreadyRegistered,
                        "this (chain, registry_address, agent_id) is already registered",
                    ),
                    ConflictKind::ManifestNonce => (
                        ErrorCode::NonceReused,
                        "this nonce was already used by the agent",
                    ),
                    ConflictKind::ReceiptNonce => (
                        ErrorCode::ReceiptNonceUsed,
                        "the destination already signed a different receipt with this nonce",
                    ),
                    ConflictKind::Order => (
                        ErrorCode::OrderUsed,
                        "this order is already recorded with another receipt",
                    ),
                    ConflictKind::OrderNonce => (
                        ErrorCode::OrderNonceUsed,
                        "the payer already signed a different order with this nonce",
                    ),
                    ConflictKind::MevAttack => (
                        ErrorCode::Conflict,
                        "an incident for this attack transaction is already recorded",
                    ),
                    ConflictKind::CommitmentRoot => (
                        ErrorCode::CommitmentExists,
                        "this root transaction already has a commitment",
                    ),
                    ConflictKind::SettlementRoot => (
                        ErrorCode::AlreadySettled,
                        "this root transaction is already settled",
                    ),
                    ConflictKind::ApiKey => {
                        (ErrorCode::ApiKeyExists, "this API key already exists")
                    }
                    ConflictKind::ManifestHash
                    | ConflictKind::ReceiptHash
                    | ConflictKind::Other => (
                        ErrorCode::Conflict,
                        "the request conflicts with stored data",
                    ),
                };
                Self::conflict(code, message)
            }
            StoreError::Rejected(rejection) => rejection.into(),
            StoreError::Busy(source) => {
                tracing::warn!(error.cause = %chain(source.as_ref()), "store busy after retries");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::StoreBusy,
                    "the database is busy; retry shortly",
                )
            }
            StoreError::Unavailable(source) => {
                tracing::warn!(error.cause = %chain(source.as_ref()), "store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::StoreUnavailable,
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
                Self::conflict(ErrorCode::NonceReused, message).field("nonce").detail("nonce", nonce)
            }
            Rejection::Publish(PublishError::NonceNotIncreasing { nonce, latest }) => {
                Self::conflict(ErrorCode::NonceNotIncreasing, message)
                    .field("nonce")
                    .detail("nonce", nonce)
                    .detail("latest_nonce", latest)
            }
            Rejection::Publish(PublishError::AlreadyExpired { valid_until }) => {
                Self::unprocessable(ErrorCode::ManifestExpired, message)
                    .field("valid_until")
                    .detail("valid_until", valid_until.to_string())
            }
            Rejection::Publish(PublishError::ActivationTooSoon { earliest }) => Self::unprocessable(
                ErrorCode::ActivationTooSoon,
                format!("valid_from must be at or after {earliest}: a replacement takes effect no sooner than the activation delay after the current manifest"),
            )
            .field("valid_from")
            .detail("earliest_valid_from", earliest.to_string()),
            Rejection::Record(RecordRejection::InsufficientStake { available, required }) => {
                Self::unprocessable(ErrorCode::InsufficientStake, message)
                    .detail("available_usdc", available.to_string())
                    .detail("required_usdc", required.to_string())
            }
            Rejection::Record(RecordRejection::Forward(violation)) => violation_error(&violation),
            Rejection::Signature { object, source } => {
                match &source {
                    kagami_core::crypto::Error::WrongSigner { expected, recovered } => tracing::warn!(
                        signature.expected = %expected,
                        signature.recovered = %recovered,
                        "signature_verification_failed"
                    ),
                    other => tracing::warn!(error = %other, "signature_verification_failed"),
                }
                // The body field the signature is in.
                let field = match object {
                    "order" => "order.signature",
                    "receipt" => "receipt.signature",
                    "payer" => "payer_signature",
                    "first hop" => "first_hop_signature",
                    "attack transaction" => "attack_tx",
                    _ => "signature",
                };
                Self::bad_request(ErrorCode::InvalidSignature, field, message)
            }
            Rejection::ChainMismatch { .. } => {
                Self::bad_request(ErrorCode::ChainMismatch, "chain", message)
            }
            Rejection::AgentNotActive { .. } => Self::unprocessable(ErrorCode::AgentNotActive, message),
            Rejection::DestinationNotActive { status } => {
                Self::unprocessable(ErrorCode::AgentSuspended, message)
                    .field("dest_agent_uuid")
                    .detail("agent_status", status.as_str())
            }
            Rejection::CitedManifestUnknown => {
                Self::unprocessable(ErrorCode::ManifestNotFound, message).field("manifest_hash")
            }
            Rejection::ManifestNotDestinations => {
                Self::unprocessable(ErrorCode::ManifestNotDestinations, message).field("manifest_hash")
            }
            Rejection::ManifestNotEffective { status } => {
                Self::unprocessable(ErrorCode::ManifestNotEffective, message)
                    .field("manifest_hash")
                    .detail("manifest_status", status.as_str())
            }
            Rejection::AlreadySettled { settlement_id } => {
                Self::conflict(ErrorCode::AlreadySettled, message)
                    .detail("settlement_id", settlement_id.to_string())
            }
            Rejection::NoLoop => Self::unprocessable(ErrorCode::NoCycle, message),
            Rejection::InvalidEvidence { index, field, reason } => Self::bad_request(
                ErrorCode::InvalidEvidence,
                &format!("evidence[{index}].{field}"),
                format!("evidence item {index}: {reason}"),
            )
            .detail("evidence_index", index),
            Rejection::LockUntilOutOfRange { .. } => {
                Self::bad_request(ErrorCode::LockUntilOutOfRange, "lock_until", message)
            }
            Rejection::FirstHopNotEffective => {
                Self::unprocessable(ErrorCode::FirstHopNotEffective, message)
                    .field("first_hop_agent_uuid")
            }
            Rejection::StakeBelowSlashed(below) => {
                Self::unprocessable(ErrorCode::StakeBelowSlashed, message)
                    .field("staked_amount_usdc")
                    .detail("slashed_usdc", below.slashed.to_string())
            }
            Rejection::CommitmentState(state) => {
                Self::conflict(ErrorCode::InvalidCommitmentState, message)
                    .detail("status", state.actual.as_str())
                    .detail("expected_status", state.expected.as_str())
            }
        }
    }
}

/// The error answer for a forward rule violation on record-forward: the violation's code and
/// details (`kagami-core`), with the HTTP status the rule calls for.
pub(crate) fn violation_error(violation: &ForwardViolation) -> ApiError {
    let status = match violation {
        ForwardViolation::HopLimitExceeded { .. } => StatusCode::BAD_REQUEST,
        ForwardViolation::SelfForward | ForwardViolation::MissingPreviousHop { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ForwardViolation::CycleDetected(_)
        | ForwardViolation::WouldCreateCycle(_)
        | ForwardViolation::WouldExtract(_)
        | ForwardViolation::RootPayerMismatch { .. }
        | ForwardViolation::NextHopMismatch { .. } => StatusCode::CONFLICT,
    };
    let error =
        ApiError::new(status, violation.code(), violation.to_string()).details(violation.details());
    match violation {
        ForwardViolation::HopLimitExceeded { .. } | ForwardViolation::MissingPreviousHop { .. } => {
            error.field("hop")
        }
        _ => error,
    }
}

/// A 500 that says nothing internal.
pub(crate) fn internal() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::InternalError,
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
            ErrorCode::PayloadTooLarge,
            format!("request body exceeds {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "request body must be JSON (Content-Type: application/json)",
        ),
        JsonPayloadError::Deserialize(e) => deserialize_error(e),
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedJson,
            format!("unreadable JSON body: {err}"),
        ),
    }
}

/// The envelope for a body that is JSON but not the expected shape: 400 `unknown_field` or
/// `missing_field` naming the field, `malformed_json` otherwise.
pub(crate) fn deserialize_error(e: &serde_json::Error) -> ApiError {
    let text = e.to_string();
    let named = |prefix: &str| {
        text.strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    if let Some(field) = named("unknown field `") {
        return ApiError::bad_request(
            ErrorCode::UnknownField,
            &field,
            format!("unknown field {field:?}; unknown fields are rejected"),
        );
    }
    if let Some(field) = named("missing field `") {
        return ApiError::bad_request(
            ErrorCode::MissingField,
            &field,
            format!("missing field {field:?}"),
        );
    }
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::MalformedJson,
        format!("malformed JSON body: {text}"),
    )
}

/// Path parameter errors as the envelope.
pub(crate) fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidPath,
        format!("invalid path parameter: {err}"),
    )
    .into()
}

/// Query string errors as the envelope.
pub(crate) fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidQuery,
        format!("invalid query string: {err}"),
    )
    .into()
}
