//! The audit log (docs/PROTOCOL.md §14): the log's key, its newest signed checkpoint, its
//! entries, inclusion and consistency proofs, and ready-made offline proofs per object.
//! Public, like the ledger: everything here is evidence anyone may check.

use actix_web::{HttpResponse, get, http::StatusCode, web};
use base64::{Engine, engine::general_purpose::STANDARD};
use kagami_core::wire::{
    ConsistencyProofResponse, ErrorCode, ErrorResponse, InclusionProofResponse, LogEntriesResponse,
    LogEntryResponse,
};
use kagami_store::{LogEntry, LogHead};
use kagami_tlog::Hash;
use serde::Deserialize;

use crate::{
    AppState,
    error::{ApiError, ApiResult},
};

/// The most entries one `GET /api/v1/log/entries` returns.
pub(crate) const MAX_ENTRIES: u64 = 1000;

const TEXT: &str = "text/plain; charset=utf-8";

fn not_ready() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::LogNotReady,
        "the audit log has no signed checkpoint yet; retry shortly",
    )
}

async fn head(state: &AppState) -> ApiResult<LogHead> {
    state.store.log_head().await?.ok_or_else(not_ready)
}

fn number(field: &str, raw: Option<&str>) -> ApiResult<Option<u64>> {
    raw.map(|raw| {
        let canonical = raw == "0" || (!raw.starts_with('0') && !raw.is_empty());
        raw.parse::<u64>()
            .ok()
            .filter(|_| canonical && raw.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidQuery,
                    field,
                    format!("{field} must be a decimal integer without leading zeros"),
                )
            })
    })
    .transpose()
}

fn required(field: &str, raw: Option<&str>) -> ApiResult<u64> {
    number(field, raw)?.ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::InvalidQuery,
            field,
            format!("{field} is required"),
        )
    })
}

fn out_of_range(field: &str, message: String) -> ApiError {
    ApiError::bad_request(ErrorCode::TreeSizeOutOfRange, field, message)
}

fn b64(hash: &Hash) -> String {
    hash.to_base64()
}

/// The log's public verifier key (`name+id+base64`, c2sp.org/signed-note), as text.
#[utoipa::path(
    tag = "log",
    responses(
        (status = 200, description = "The verifier key", body = String, content_type = "text/plain"),
        (status = 503, description = "The server has no log key", body = ErrorResponse)
    )
)]
#[get("/api/v1/log/key")]
pub(crate) async fn log_key(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let key = state.config.log_signer.as_ref().ok_or_else(not_ready)?;
    Ok(HttpResponse::Ok()
        .content_type(TEXT)
        .body(format!("{}\n", key.verifier())))
}

/// The newest signed checkpoint (c2sp.org/tlog-checkpoint): origin, tree size, root hash and
/// the log key's signature.
#[utoipa::path(
    tag = "log",
    responses(
        (status = 200, description = "The signed checkpoint", body = String, content_type = "text/plain"),
        (status = 503, description = "No checkpoint yet", body = ErrorResponse)
    )
)]
#[get("/api/v1/log/checkpoint")]
pub(crate) async fn checkpoint(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let head = head(&state).await?;
    Ok(HttpResponse::Ok().content_type(TEXT).body(head.checkpoint))
}

/// `GET /api/v1/log/entries` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntriesQuery {
    /// First index.
    #[param(value_type = u64)]
    start: Option<String>,
    /// One past the last index wanted. The answer stops earlier at `start + 1000` and at the
    /// newest checkpoint's size (as RFC 6962 `get-entries` may): ask again from the index after
    /// the last entry returned. Empty when `end <= start`.
    #[param(value_type = u64)]
    end: Option<String>,
}

fn entry_response(entry: LogEntry) -> LogEntryResponse {
    LogEntryResponse {
        index: entry.index.unwrap_or_default(),
        kind: entry.kind,
        key: entry.key,
        entry: STANDARD.encode(&entry.entry),
        leaf_hash: b64(&entry.leaf_hash),
    }
}

/// The integrated entries with indexes in `[start, end)`, at most 1000 and none beyond the
/// newest checkpoint.
#[utoipa::path(
    tag = "log",
    params(EntriesQuery),
    responses(
        (status = 200, body = LogEntriesResponse),
        (status = 400, description = "start or end is not a decimal integer", body = ErrorResponse),
        (status = 503, description = "No checkpoint yet", body = ErrorResponse)
    )
)]
#[get("/api/v1/log/entries")]
pub(crate) async fn entries(
    state: web::Data<AppState>,
    query: web::Query<EntriesQuery>,
) -> ApiResult<HttpResponse> {
    let start = required("start", query.start.as_deref())?;
    let end = required("end", query.end.as_deref())?;
    let size = head(&state).await?.size;
    let end = end.min(start.saturating_add(MAX_ENTRIES)).min(size);
    let entries = if end > start {
        state.store.log_entries(start, end).await?
    } else {
        Vec::new()
    };
    Ok(HttpResponse::Ok().json(LogEntriesResponse {
        entries: entries.into_iter().map(entry_response).collect(),
    }))
}

/// `GET /api/v1/log/proof/inclusion` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct InclusionQuery {
    /// The entry's leaf hash: standard base64 of its 32 bytes, or `0x` and 64 hex digits.
    #[param(value_type = String, pattern = r"^([A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=|0x[0-9A-Fa-f]{64})$")]
    leaf_hash: Option<String>,
    /// The tree to prove it in; default: the newest checkpoint's.
    #[param(value_type = Option<u64>)]
    tree_size: Option<String>,
}

fn parse_hash(field: &str, raw: Option<&str>) -> ApiResult<Hash> {
    let raw = raw.ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::InvalidQuery,
            field,
            format!("{field} is required"),
        )
    })?;
    let parsed = match raw.strip_prefix("0x") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            let mut bytes = [0u8; 32];
            for (i, byte) in bytes.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or_default();
            }
            Some(Hash(bytes))
        }
        Some(_) => None,
        None => Hash::from_base64(raw),
    };
    parsed.ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::InvalidQuery,
            field,
            format!("{field} must be standard base64 of 32 bytes, or 0x and 64 hex digits"),
        )
    })
}

/// The inclusion proof of the entry with this leaf hash.
#[utoipa::path(
    tag = "log",
    params(InclusionQuery),
    responses(
        (status = 200, body = InclusionProofResponse),
        (status = 400, description = "invalid leaf_hash or tree_size", body = ErrorResponse),
        (status = 404, description = "No integrated entry with this leaf hash in that tree", body = ErrorResponse),
        (status = 503, description = "No checkpoint yet", body = ErrorResponse)
    )
)]
#[get("/api/v1/log/proof/inclusion")]
pub(crate) async fn inclusion(
    state: web::Data<AppState>,
    query: web::Query<InclusionQuery>,
) -> ApiResult<HttpResponse> {
    let leaf = parse_hash("leaf_hash", query.leaf_hash.as_deref())?;
    let tree_size = number("tree_size", query.tree_size.as_deref())?;
    let size = head(&state).await?.size;
    if let Some(asked) = tree_size.filter(|&t| t > size) {
        return Err(out_of_range(
            "tree_size",
            format!("tree_size {asked} is beyond the newest checkpoint's size {size}"),
        ));
    }
    let proof = state
        .store
        .log_inclusion(leaf, tree_size.or(Some(size)))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::LogEntryNotFound,
                "no integrated entry with this leaf hash in that tree",
            )
        })?;
    Ok(HttpResponse::Ok().json(InclusionProofResponse {
        leaf_index: proof.entry.index.unwrap_or_default(),
        tree_size: proof.tree_size,
        hashes: proof.proof.iter().map(b64).collect(),
    }))
}

/// `GET /api/v1/log/proof/consistency` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsistencyQuery {
    /// The older tree's size.
    #[param(value_type = u64)]
    from: Option<String>,
    /// The newer tree's size, at most the newest checkpoint's.
    #[param(value_type = u64)]
    to: Option<String>,
}

/// The consistency proof between two tree sizes: the older tree is a prefix of the newer.
#[utoipa::path(
    tag = "log",
    params(ConsistencyQuery),
    responses(
        (status = 200, body = ConsistencyProofResponse),
        (status = 400, description = "invalid from or to", body = ErrorResponse),
        (status = 503, description = "No checkpoint yet", body = ErrorResponse)
    )
)]
#[get("/api/v1/log/proof/consistency")]
pub(crate) async fn consistency(
    state: web::Data<AppState>,
    query: web::Query<ConsistencyQuery>,
) -> ApiResult<HttpResponse> {
    let from = required("from", query.from.as_deref())?;
    let to = required("to", query.to.as_deref())?;
    let size = head(&state).await?.size;
    if from > to {
        return Err(out_of_range(
            "from",
            format!("from {from} is above to {to}"),
        ));
    }
    let hashes = state
        .store
        .log_consistency(from, to)
        .await?
        .ok_or_else(|| {
            out_of_range(
                "to",
                format!("to {to} is beyond the newest checkpoint's size {size}"),
            )
        })?;
    Ok(HttpResponse::Ok().json(ConsistencyProofResponse {
        from,
        to,
        hashes: hashes.iter().map(b64).collect(),
    }))
}

/// A ready-made offline proof (c2sp.org/tlog-proof) that the object is in the log: its
/// entry (in the `extra` line), index, inclusion proof and the newest signed checkpoint.
/// Keys: a manifest's or receipt's hash (`manifest`, `revocation`, `forward`), a settlement,
/// slash, payout, commitment or incident id, `<commitment id>:<status>` for
/// `commitment_status`.
#[utoipa::path(
    tag = "log",
    params(
        ("kind" = String, Path, description = "The entry's kind"),
        ("key" = String, Path, description = "The object's key for its kind")
    ),
    responses(
        (status = 200, description = "The proof bundle", body = String, content_type = "text/plain"),
        (status = 404, description = "No entry for this object, or not integrated yet (`pending`: true)", body = ErrorResponse)
    )
)]
#[get("/api/v1/log/objects/{kind}/{key}")]
pub(crate) async fn object_proof(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (kind, key) = path.into_inner();
    let not_found = |pending: bool| {
        ApiError::not_found(
            ErrorCode::LogEntryNotFound,
            if pending {
                "the entry is pending integration; retry shortly"
            } else {
                "no log entry for this object"
            },
        )
        .detail("pending", pending)
    };
    // No kind or key of the log looks otherwise: anything else names no entry (and never
    // reaches the database, which refuses some text, e.g. NUL).
    let plausible = !kind.is_empty()
        && kind.len() <= 32
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        && !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:".contains(&b));
    if !plausible {
        return Err(not_found(false));
    }
    let found = state.store.log_bundle(kind.as_str(), key.as_str()).await?;
    let found = found.ok_or_else(|| not_found(false))?;
    let bundle = found.bundle.ok_or_else(|| not_found(true))?;
    Ok(HttpResponse::Ok()
        .content_type(TEXT)
        .body(bundle.to_string()))
}
