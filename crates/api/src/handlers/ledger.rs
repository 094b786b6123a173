//! The ledger of money movements: slashes, and what became of them.

use actix_web::{HttpResponse, get, web};
use kagami_core::wire::{ErrorCode, ErrorResponse, LedgerResponse};
use serde::Deserialize;

use crate::{
    AppState,
    error::{ApiError, ApiResult},
    telemetry, views,
};

/// The most entries one page returns.
pub(crate) const MAX_LEDGER_LIMIT: u32 = 1000;

/// `GET /api/v1/ledger` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct LedgerQuery {
    /// Entries to return, newest first: `0..=1000`, default 100.
    #[param(minimum = 0, maximum = 1000)]
    limit: Option<u32>,
}

/// The ledger: totals of everything slashed, paid as bounties and retained, whether they
/// balance (in total and per cause), and the newest entries.
#[utoipa::path(
    tag = "ledger",
    params(LedgerQuery),
    responses((status = 200, body = LedgerResponse), (status = 400, body = ErrorResponse))
)]
#[get("/api/v1/ledger")]
pub(crate) async fn get_ledger(
    state: web::Data<AppState>,
    query: web::Query<LedgerQuery>,
) -> ApiResult<HttpResponse> {
    let limit = query.limit.unwrap_or(100);
    if limit > MAX_LEDGER_LIMIT {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidField,
            "limit",
            format!("limit must be at most {MAX_LEDGER_LIMIT}"),
        ));
    }
    let (totals, entries) = state.store.ledger(limit).await?;
    telemetry::record_ledger(&totals);
    Ok(HttpResponse::Ok().json(views::ledger(&totals, &entries)))
}
