//! Forward receipts: record-forward, the audit trail, and the watcher's report-cycle.

use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use kagami_core::{
    ValidationError,
    crypto::{Chain, EthAddress, Hash32, Signature},
    wire::{
        CycleReportSubmission, ErrorCode, ErrorResponse, ForwardPairRequest, ForwardTrailResponse,
        RecordForwardResponse, ReportCycleRequest, ReportCycleResponse, page,
    },
};
use kagami_store::{ReceiptRecord, RecordOutcome, Settlement};
use serde_json::{Map, Value, json};

use super::{Json, PageQuery, next_link, now, recover};
use crate::{
    AppState,
    auth::ClientKey,
    error::{ApiError, ApiResult},
    telemetry, views,
};

fn recorded(r: &ReceiptRecord) -> RecordForwardResponse {
    RecordForwardResponse {
        receipt_id: r.id.to_string(),
        receipt_hash: r.receipt.receipt_hash.to_string(),
        timestamp: r.created_at.to_string(),
        hop_irrational: r.receipt.hop_irrational,
        computational_cost_usdc: r.receipt.computational_cost.to_string(),
        order_hash: r.receipt.order.map(|o| o.hash.to_string()),
        amount_usdc: r.receipt.order.map(|o| o.amount.to_string()),
    }
}

/// A record-forward body: an order and its receipt. A v1 body (a receipt alone) is refused
/// with `order_required`: it would be recorded as a hop nobody who pays had signed.
fn pair_request(body: Value) -> ApiResult<ForwardPairRequest> {
    let v1 = body
        .as_object()
        .is_some_and(|o| !o.contains_key("order") && o.contains_key("receipt_nonce"));
    if v1 {
        return Err(ApiError::bad_request(
            ErrorCode::OrderRequired,
            "order",
            "protocol v2: record the payer's signed order with the destination's receipt v2 \
             ({\"order\": .., \"receipt\": ..}); a receipt alone is not recorded",
        ));
    }
    serde_json::from_value(body).map_err(|e| crate::error::deserialize_error(&e))
}

/// Records one hop: the payer's signed order and the destination's receipt v2 of it. A hop
/// that closes a cycle or pays an agent twice is stored as evidence, the loop is settled at
/// once (only the agents liable for it are slashed), and the answer is 409.
#[utoipa::path(
    tag = "forwards",
    request_body = ForwardPairRequest,
    responses(
        (status = 201, description = "recorded", body = RecordForwardResponse),
        (status = 200, description = "identical pair already recorded", body = RecordForwardResponse),
        (status = 400, description = "invalid field or signature, hop > 10, order_required, order_mismatch", body = ErrorResponse),
        (status = 409, description = "circular_dependency / extraction_loop_detected (settled), next_hop_mismatch, root_payer_mismatch, already_settled, receipt_nonce_used, order_nonce_used, order_used", body = ErrorResponse),
        (status = 422, description = "manifest not the destination's or not effective, previous hop missing, insufficient stake", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/agents/manifests/record-forward")]
pub(crate) async fn record_forward(
    state: web::Data<AppState>,
    _client: ClientKey,
    body: Json<Value>,
) -> ApiResult<HttpResponse> {
    let body = pair_request(body.accept()?)?;
    let submission = body.parse(&state.config.policy)?;
    let pair = recover("order and receipt", || submission.recover())?;
    match state
        .store
        .record_forward(pair, now(), &state.config.policy)
        .await?
    {
        RecordOutcome::Recorded { receipt, replayed } => {
            if !replayed {
                tracing::info!(
                    forward.root_tx = %receipt.receipt.root_tx,
                    forward.hop = receipt.receipt.hop,
                    forward.source = %receipt.receipt.source,
                    forward.dest = %receipt.receipt.dest,
                    receipt.hash = %receipt.receipt.receipt_hash,
                    "forward_recorded"
                );
            }
            let status = if replayed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            Ok(HttpResponse::build(status).json(recorded(&receipt)))
        }
        RecordOutcome::Settled {
            receipt,
            settlement,
            slashes: _,
            invalidated,
            replayed,
        } => {
            if !replayed {
                telemetry::record_settlement(&settlement);
                tracing::warn!(
                    forward.root_tx = %settlement.root_tx,
                    settlement.id = %settlement.id,
                    settlement.kind = settlement.kind.as_str(),
                    settlement.depth = settlement.depth,
                    settlement.liable = ?settlement.liable,
                    settlement.slashed_usdc = %settlement.total_slashed,
                    "cycle_settled"
                );
            }
            Ok(settled_response(&receipt, &settlement, &invalidated))
        }
    }
}

/// The 409 for a receipt that closed a loop: it was stored as evidence and the loop settled.
/// Also the answer to a retry of that same receipt, so a client that timed out learns the
/// same outcome.
fn settled_response(
    receipt: &ReceiptRecord,
    settlement: &Settlement,
    invalidated: &[Hash32],
) -> HttpResponse {
    let code = settlement.kind.error_code();
    let agents: Vec<String> = settlement
        .cycle_agents
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut details = Map::new();
    if settlement.kind == kagami_core::LoopKind::ExtractionLoop {
        details.insert("loop_agents".into(), json!(agents.clone()));
    }
    details.insert("cycle_agents".into(), json!(agents));
    details.insert("cycle_depth".into(), json!(settlement.depth));
    details.insert(
        "liable_agents".into(),
        json!(
            settlement
                .liable
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        ),
    );
    details.insert("settlement_id".into(), json!(settlement.id.to_string()));
    details.insert(
        "slashed_usdc".into(),
        json!(settlement.total_slashed.to_string()),
    );
    details.insert(
        "invalid_receipts".into(),
        json!(
            invalidated
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        ),
    );
    details.insert("receipt_id".into(), json!(receipt.id.to_string()));
    details.insert(
        "receipt_hash".into(),
        json!(receipt.receipt.receipt_hash.to_string()),
    );
    HttpResponse::Conflict().json(ErrorResponse {
        error: code,
        message: "the receipt closes a loop: it was stored as evidence and the loop settled"
            .to_owned(),
        field: None,
        details,
    })
}

/// The audit trail of a payment: every receipt (hops, validity, reasons) and the settlement;
/// the receipts one page at a time (`limit`, default 100, at most 1000; `after`: the receipts
/// after the receipt with this id). When more follow, the `Link` header gives the next page's
/// URL; every page carries the settlement.
#[utoipa::path(
    tag = "forwards",
    params(
        ("root_tx_hash" = kagami_core::wire::schema::Hash, Path, description = "the root transaction"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "receipts per page: 1..=1000, default 100"),
        ("after" = Option<kagami_core::wire::schema::Uuid>, Query, description = "the receipt_id of the last receipt of the previous page")
    ),
    responses(
        (status = 200, body = ForwardTrailResponse, headers(("Link" = String, description = "RFC 8288 `<…>; rel=\"next\"`: the URL of the next page, present only when more items follow"))),
        (status = 400, description = "invalid root_tx_hash, limit or after", body = ErrorResponse)
    )
)]
#[get("/api/v1/forwards/{root_tx_hash}")]
pub(crate) async fn forward_trail(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let root: Hash32 = path
        .parse()
        .map_err(ValidationError::format("root_tx_hash"))?;
    let limit = query.limit()?;
    query.refuse("before_nonce")?;
    let after = query
        .after
        .as_deref()
        .map(|raw| page::parse_id_cursor("after", raw))
        .transpose()?;
    let trail = state.store.forward_trail_page(&root, after, limit).await?;
    let mut response = HttpResponse::Ok();
    if let (true, Some(last)) = (trail.more, trail.receipts.last()) {
        response.insert_header(next_link(
            &format!("/api/v1/forwards/{root}"),
            limit,
            "after",
            &last.id.to_string(),
        ));
    }
    Ok(response.json(ForwardTrailResponse {
        root_tx_hash: root.to_string(),
        receipts: trail.receipts.iter().map(views::receipt).collect(),
        settlement: trail
            .settlement
            .as_ref()
            .map(|s| views::settlement(s, &trail.slashes)),
    }))
}

/// A watcher reports a loop with the signed hops (orders and receipts) that close it; the
/// reporter earns a bounty out of what the liable agents are slashed, unless it speaks for one
/// of them.
#[utoipa::path(
    tag = "forwards",
    request_body = ReportCycleRequest,
    responses(
        (status = 200, body = ReportCycleResponse),
        (status = 400, description = "invalid field, report signature or evidence item; more than 32 evidence items", body = ErrorResponse),
        (status = 409, description = "already_settled", body = ErrorResponse),
        (status = 422, description = "no_cycle", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/agents/manifests/report-cycle")]
pub(crate) async fn report_cycle(
    state: web::Data<AppState>,
    _client: ClientKey,
    body: Json<ReportCycleRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.accept()?;
    body.check_evidence_count()?;
    let root: Hash32 = body
        .root_tx_hash
        .parse()
        .map_err(ValidationError::format("root_tx_hash"))?;
    let reporter: EthAddress = body
        .reporter_address
        .parse()
        .map_err(ValidationError::format("reporter_address"))?;
    let signature: Signature = body
        .signature
        .parse()
        .map_err(ValidationError::format("signature"))?;
    let chain: Option<Chain> = body
        .chain
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(ValidationError::format("chain"))?;
    let mut evidence = Vec::with_capacity(body.evidence.len());
    for (i, item) in body.evidence.iter().enumerate() {
        let submission = item
            .parse(&state.config.policy)
            .map_err(|e| evidence_error(i, e.field(), &e.to_string()))?;
        let signed = recover("order and receipt", || submission.recover())
            .map_err(|e| evidence_error(i, "signature", &e.to_string()))?;
        evidence.push(signed);
    }
    let report = CycleReportSubmission {
        root,
        reporter,
        signature,
        chain,
        evidence,
    };
    let (settlement, _slashes) = state
        .store
        .report_cycle(report, now(), &state.config.policy)
        .await?;
    telemetry::record_settlement(&settlement);
    metrics::counter!(telemetry::CYCLE_REPORTS.name, "reporter" => state.reporter_labels.label(&reporter.to_string())).increment(1);
    let bounty = settlement.bounty.unwrap_or_default();
    tracing::info!(
        forward.root_tx = %root,
        settlement.id = %settlement.id,
        reporter.address = %reporter,
        settlement.bounty_usdc = %bounty,
        "cycle_reported"
    );
    Ok(HttpResponse::Ok().json(ReportCycleResponse {
        reported: true,
        settlement_id: settlement.id.to_string(),
        bounty_usdc: bounty.to_string(),
        cycle_agents: settlement
            .cycle_agents
            .iter()
            .map(ToString::to_string)
            .collect(),
        cycle_depth: settlement.depth,
        liable_agents: settlement.liable.iter().map(ToString::to_string).collect(),
        slashed_usdc: settlement.total_slashed.to_string(),
    }))
}

fn evidence_error(index: usize, field: &str, why: &str) -> ApiError {
    ApiError::bad_request(
        ErrorCode::InvalidEvidence,
        &format!("evidence[{index}].{field}"),
        format!("evidence item {index}: {why}"),
    )
    .detail("evidence_index", index)
}
