//! Forward receipts, loop settlements and audit trails.

use std::collections::HashSet;

use deadpool_postgres::GenericClient;
use kagami_core::{
    DetectedLoop, Edge, ForwardGraph, Policy, RecordDecision, StakeAccount,
    crypto::{EthAddress, Hash32, Timestamp, Uuid},
    decide::{decide_record, plan_loop_settlement},
};

use super::{
    agents::{self, Cause},
    sql::{
        self, advisory_lock, execute, get, kind_str, query, query_opt, receipt_columns, root_key,
        settlement_columns, slash_columns, to_i64, ts,
    },
};
use crate::{
    ForwardTrail, NewReceipt, ReceiptRecord, RecordOutcome, Rejection, Result, Settlement,
    SettlementStatus, SlashRecord, StoreError,
};

pub(super) async fn record<C: GenericClient>(
    c: &C,
    receipt: NewReceipt,
    now: Timestamp,
    policy: &Policy,
) -> Result<RecordOutcome> {
    let root = receipt.root_tx;
    advisory_lock(c, &root_key(&root)).await?;
    if let Some(stored) = by_hash(c, &receipt.receipt_hash).await? {
        return Ok(RecordOutcome::Recorded {
            receipt: stored,
            replayed: true,
        });
    }
    // The (dest, nonce) pair may belong to another root, which this lock does not cover; the
    // unique constraint still catches a race, with the same conflict.
    let nonce_used = query_opt(
        c,
        "SELECT 1 FROM erc8004_forward_receipts \
         WHERE dest_agent_uuid = $1 AND receipt_nonce = $2",
        &[&receipt.dest, &to_i64(receipt.nonce, "receipt nonce")?],
    )
    .await?
    .is_some();
    if nonce_used {
        return Err(StoreError::Conflict {
            constraint: "uq_receipts_dest_nonce".to_owned(),
        });
    }
    if let Some(settlement_id) = settlement_id_of(c, &root).await? {
        return Err(Rejection::AlreadySettled { settlement_id }.into());
    }
    agents::require(c, receipt.source).await?;
    agents::require(c, receipt.dest).await?;
    let manifest_known = query_opt(
        c,
        "SELECT 1 FROM erc8004_endpoint_manifests WHERE id = $1",
        &[&receipt.manifest_id],
    )
    .await?
    .is_some();
    if !manifest_known {
        return Err(StoreError::NotFound { entity: "manifest" });
    }

    let graph = ForwardGraph::new(root, valid_edges(c, &root).await?);
    let edge = receipt.edge();
    let decide = |account: &StakeAccount| {
        decide_record(&graph, &edge, account, policy).map_err(Rejection::Record)
    };
    let unlocked = destination_account(c, &receipt, now).await?;
    let decision = match decide(&unlocked)? {
        // Accepting locks stake on the destination: take its stake row (one row, so no lock
        // order to respect) and decide again on what is now stable.
        RecordDecision::Accept { .. } => {
            agents::lock_stakes(c, &[receipt.dest]).await?;
            decide(&destination_account(c, &receipt, now).await?)?
        }
        settle @ RecordDecision::Settle(_) => settle,
    };
    match decision {
        RecordDecision::Accept { lock } => {
            let stored = insert(c, receipt, None, now).await?;
            let expires_at = now.add_seconds(policy.stake_lock_seconds);
            agents::lock_stake(c, stored.receipt.dest, &root, lock, now, expires_at).await?;
            Ok(RecordOutcome::Recorded {
                receipt: stored,
                replayed: false,
            })
        }
        RecordDecision::Settle(detected) => {
            let reason = detected.kind.as_str();
            let stored = insert(c, receipt, Some(reason), now).await?;
            invalidate(c, &root, &detected.receipts, reason, now).await?;
            let (settlement, slashes) = settle(c, &root, &detected, None, now).await?;
            Ok(RecordOutcome::Settled {
                receipt: stored,
                settlement,
                slashes,
                invalidated: detected.receipts,
            })
        }
    }
}

pub(super) async fn report<C: GenericClient>(
    c: &C,
    root: &Hash32,
    reporter: &EthAddress,
    evidence: Vec<NewReceipt>,
    now: Timestamp,
) -> Result<(Settlement, Vec<SlashRecord>)> {
    advisory_lock(c, &root_key(root)).await?;
    if let Some(settlement_id) = settlement_id_of(c, root).await? {
        return Err(Rejection::AlreadySettled { settlement_id }.into());
    }
    let mut edges = valid_edges(c, root).await?;
    let mut seen = HashSet::new();
    let mut fresh = Vec::new();
    for receipt in evidence {
        // Evidence of another root cannot be part of this root's loop.
        if receipt.root_tx != *root || !seen.insert(receipt.receipt_hash) {
            continue;
        }
        if by_hash(c, &receipt.receipt_hash).await?.is_none() {
            edges.push(receipt.edge());
            fresh.push(receipt);
        }
    }
    let detected = DetectedLoop::find(&ForwardGraph::new(*root, edges)).ok_or(Rejection::NoLoop)?;
    let reason = detected.kind.as_str();
    invalidate(c, root, &detected.receipts, reason, now).await?;
    for receipt in fresh {
        let invalid = detected.receipts.contains(&receipt.receipt_hash);
        insert(c, receipt, invalid.then_some(reason), now).await?;
    }
    settle(c, root, &detected, Some(reporter), now).await
}

/// Settles `detected` on `root`: locks the loop agents' stake rows, plans the slashes on
/// their accounts (locks on this root excluded), writes the settlement, the slashes and the
/// ledger, and releases the root's stake locks.
async fn settle<C: GenericClient>(
    c: &C,
    root: &Hash32,
    detected: &DetectedLoop,
    reporter: Option<&EthAddress>,
    now: Timestamp,
) -> Result<(Settlement, Vec<SlashRecord>)> {
    agents::lock_stakes(c, &detected.agents).await?;
    let mut accounts = Vec::with_capacity(detected.agents.len());
    for agent in &detected.agents {
        let account = agents::account(c, *agent, Some(root), now)
            .await?
            .ok_or(StoreError::NotFound { entity: "agent" })?;
        accounts.push(account);
    }
    let plan = plan_loop_settlement(detected, &accounts, reporter.is_some());
    let settlement = Settlement {
        id: Uuid::new_v4(),
        root_tx: *root,
        kind: detected.kind,
        cycle_agents: detected.agents.clone(),
        depth: detected.depth(),
        total_slashed: plan.total_slashed,
        reporter: reporter.copied(),
        bounty: plan.bounty,
        status: SettlementStatus::Provisional,
        created_at: now,
    };
    execute(
        c,
        "INSERT INTO erc8004_settlements (id, root_tx_hash, kind, cycle_agents, depth, \
         total_slashed, reporter_address, bounty, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6::bigint * 0.000001, $7, $8::bigint * 0.000001, \
                 'provisional', $9)",
        &[
            &settlement.id,
            &root.to_string(),
            &kind_str(settlement.kind),
            &settlement.cycle_agents,
            &i32::try_from(settlement.depth).map_err(StoreError::internal)?,
            &settlement.total_slashed.micros(),
            &settlement.reporter.map(|r| r.to_string()),
            &settlement.bounty.map(|b| b.micros()),
            &ts(now),
        ],
    )
    .await?;
    let mut slashes = Vec::with_capacity(plan.slashes.len());
    for slash in &plan.slashes {
        let record = agents::slash(
            c,
            slash.agent,
            slash.amount,
            detected.kind.as_str(),
            Cause::Settlement(settlement.id),
            now,
        )
        .await?;
        slashes.extend(record);
    }
    agents::release_root(c, root, now).await?;
    Ok((settlement, slashes))
}

/// The destination's account for this receipt: its locks on this root do not count.
async fn destination_account<C: GenericClient>(
    c: &C,
    receipt: &NewReceipt,
    now: Timestamp,
) -> Result<StakeAccount> {
    agents::account(c, receipt.dest, Some(&receipt.root_tx), now)
        .await?
        .ok_or(StoreError::NotFound { entity: "agent" })
}

/// Stores a receipt: valid, or (with the reason) invalid from `now`.
async fn insert<C: GenericClient>(
    c: &C,
    receipt: NewReceipt,
    invalid_because: Option<&str>,
    now: Timestamp,
) -> Result<ReceiptRecord> {
    let record = ReceiptRecord::new(receipt, invalid_because, now);
    let r = &record.receipt;
    execute(
        c,
        "INSERT INTO erc8004_forward_receipts (id, root_tx_hash, hop, source_agent_uuid, \
         dest_agent_uuid, manifest_id, manifest_hash, next_hop_hash, receipt_nonce, \
         receipt_hash, signature, chain, is_valid, invalidated_at, invalidation_reason, \
         hop_irrational, computational_cost, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 $17::bigint * 0.000001, $18)",
        &[
            &record.id,
            &r.root_tx.to_string(),
            &i32::try_from(r.hop).map_err(StoreError::internal)?,
            &r.source,
            &r.dest,
            &r.manifest_id,
            &r.manifest_hash.to_string(),
            &r.next_hop.map(|h| h.to_string()),
            &to_i64(r.nonce, "receipt nonce")?,
            &r.receipt_hash.to_string(),
            &r.signature.to_string(),
            &r.chain.as_str(),
            &record.is_valid,
            &record.invalidated_at.map(ts),
            &record.invalidation_reason,
            &r.hop_irrational,
            &r.computational_cost.micros(),
            &ts(now),
        ],
    )
    .await?;
    Ok(record)
}

/// Invalidates the root's still-valid receipts among `hashes`.
async fn invalidate<C: GenericClient>(
    c: &C,
    root: &Hash32,
    hashes: &[Hash32],
    reason: &str,
    now: Timestamp,
) -> Result<()> {
    let hashes: Vec<String> = hashes.iter().map(ToString::to_string).collect();
    execute(
        c,
        "UPDATE erc8004_forward_receipts \
         SET is_valid = false, invalidated_at = $3, invalidation_reason = $4 \
         WHERE root_tx_hash = $1 AND is_valid AND receipt_hash = ANY($2)",
        &[&root.to_string(), &hashes, &ts(now), &reason],
    )
    .await?;
    Ok(())
}

/// The root's valid receipts as graph edges.
async fn valid_edges<C: GenericClient>(c: &C, root: &Hash32) -> Result<Vec<Edge>> {
    query(
        c,
        concat!(
            "SELECT ",
            receipt_columns!(),
            " FROM erc8004_forward_receipts WHERE root_tx_hash = $1 AND is_valid \
             ORDER BY hop, created_at, id"
        ),
        &[&root.to_string()],
    )
    .await?
    .iter()
    .map(|row| sql::receipt(row).map(|r| r.receipt.edge()))
    .collect()
}

async fn by_hash<C: GenericClient>(c: &C, hash: &Hash32) -> Result<Option<ReceiptRecord>> {
    query_opt(
        c,
        concat!(
            "SELECT ",
            receipt_columns!(),
            " FROM erc8004_forward_receipts WHERE receipt_hash = $1"
        ),
        &[&hash.to_string()],
    )
    .await?
    .as_ref()
    .map(sql::receipt)
    .transpose()
}

async fn settlement_id_of<C: GenericClient>(c: &C, root: &Hash32) -> Result<Option<Uuid>> {
    query_opt(
        c,
        "SELECT id FROM erc8004_settlements WHERE root_tx_hash = $1",
        &[&root.to_string()],
    )
    .await?
    .map(|row| get(&row, "id"))
    .transpose()
}

pub(super) async fn settlement_of<C: GenericClient>(
    c: &C,
    root: &Hash32,
) -> Result<Option<Settlement>> {
    query_opt(
        c,
        concat!(
            "SELECT ",
            settlement_columns!(),
            " FROM erc8004_settlements WHERE root_tx_hash = $1"
        ),
        &[&root.to_string()],
    )
    .await?
    .as_ref()
    .map(sql::settlement)
    .transpose()
}

pub(super) async fn trail<C: GenericClient>(c: &C, root: &Hash32) -> Result<ForwardTrail> {
    let receipts = query(
        c,
        concat!(
            "SELECT ",
            receipt_columns!(),
            " FROM erc8004_forward_receipts WHERE root_tx_hash = $1 \
             ORDER BY hop, created_at, id"
        ),
        &[&root.to_string()],
    )
    .await?
    .iter()
    .map(sql::receipt)
    .collect::<Result<Vec<_>>>()?;
    let settlement = settlement_of(c, root).await?;
    let slashes = match &settlement {
        Some(s) => query(
            c,
            concat!(
                "SELECT ",
                slash_columns!(),
                " FROM erc8004_slashes WHERE settlement_id = $1 ORDER BY created_at, seq"
            ),
            &[&s.id],
        )
        .await?
        .iter()
        .map(sql::slash)
        .collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    Ok(ForwardTrail {
        receipts,
        settlement,
        slashes,
    })
}
