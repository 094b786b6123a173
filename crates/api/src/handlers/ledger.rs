//! The ledger of money movements: slashes, and what became of them.

use actix_web::{HttpResponse, get, web};
use kagami_core::wire::{ErrorResponse, LedgerResponse, page};
use serde::Deserialize;

use super::next_link;
use crate::{AppState, error::ApiResult, telemetry, views};

/// `GET /api/v1/ledger` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct LedgerQuery {
    /// Entries to return, newest first: `0..=1000` (0: the totals alone), default 100.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 1000)]
    limit: Option<String>,
    /// The `id` of the last entry of the previous page: the entries after it.
    #[param(value_type = Option<kagami_core::wire::schema::Uuid>)]
    after: Option<String>,
}

/// The ledger: totals of everything slashed, paid as bounties and retained, whether they
/// balance (in total and per cause), and the newest entries, one page at a time. When more
/// follow, the `Link` header gives the next page's URL.
#[utoipa::path(
    tag = "ledger",
    params(LedgerQuery),
    responses(
        (status = 200, body = LedgerResponse, headers(("Link" = String, description = "RFC 8288 `<…>; rel=\"next\"`: the URL of the next page, present only when more items follow"))),
        (status = 400, description = "invalid limit or after", body = ErrorResponse)
    )
)]
#[get("/api/v1/ledger")]
pub(crate) async fn get_ledger(
    state: web::Data<AppState>,
    query: web::Query<LedgerQuery>,
) -> ApiResult<HttpResponse> {
    // `limit=0` (the totals alone) is v1 behaviour every other list refuses.
    let limit = match query.limit.as_deref() {
        Some("0") => 0,
        raw => page::parse_page_limit(raw)?,
    };
    let after = query
        .after
        .as_deref()
        .map(|raw| page::parse_id_cursor("after", raw))
        .transpose()?;
    let (totals, entries) = state.store.ledger(limit, after).await?;
    telemetry::record_ledger(&totals);
    let mut response = HttpResponse::Ok();
    if let (true, Some(last)) = (entries.more, entries.items.last()) {
        response.insert_header(next_link(
            "/api/v1/ledger",
            limit,
            "after",
            &last.id().to_string(),
        ));
    }
    Ok(response.json(views::ledger(&totals, &entries.items)))
}
