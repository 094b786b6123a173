//! Forwards: verify-forward, record-forward, report-cycle, and the audit trail.

use std::collections::HashSet;

use kagami_core::{
    AgentStatus, DetectedLoop, ForwardGraph, ManifestRecord, ManifestStatus, Policy,
    RecordDecision, Reporter,
    crypto::{CycleReport, EthAddress, ForwardReceipt, Hash32, Signable, Signed, Timestamp, Uuid},
    decide::decide_record,
    graph::is_irrational_hop,
    manifest::status_at,
    plan_loop_settlement,
    settlement::{Operation, hop_cost},
    verify::{ForwardFacts, ForwardQuery, SafeForward, SettledLoop, Unsafe, verify_forward},
    wire::CycleReportSubmission,
};

use super::{
    agents::require_agent,
    commitments::{Cause, slash},
};
use crate::{
    Entity, ForwardTrail, NewReceipt, ReceiptRecord, RecordOutcome, Rejection, Result, Settlement,
    SettlementStatus, SlashReason, SlashRecord, StoreError, tx::Tx,
};

pub(crate) async fn verify<T: Tx>(
    tx: &T,
    query: ForwardQuery,
    now: Timestamp,
    policy: Policy,
) -> Result<Result<SafeForward, Unsafe>> {
    let dest = tx.agent(query.dest).await?;
    let source_known = tx.agent(query.source).await?.is_some();
    let manifests = tx.manifests_of(query.dest).await?;
    let settlement = tx.settlement_of(&query.root).await?.map(|s| SettledLoop {
        settlement_id: s.id,
        agents: s.cycle_agents,
        depth: s.depth,
    });
    let receipts = tx.receipts_of_root(&query.root).await?;
    let (valid, invalid): (Vec<_>, Vec<_>) = receipts.iter().partition(|r| r.is_valid);
    let edges: Vec<_> = valid.iter().map(|r| r.receipt.edge()).collect();
    let invalid_receipts: Vec<Hash32> = invalid.iter().map(|r| r.receipt.receipt_hash).collect();
    let stake = tx
        .stake_accounts(&[query.dest], Some(&query.root), now, false)
        .await?
        .pop()
        .map(|(_, account)| account)
        .unwrap_or_default();
    let facts = ForwardFacts {
        dest: dest.map(|d| (d.status, d.owner_address)),
        source_known,
        manifests: &manifests,
        settlement: settlement.as_ref(),
        edges: &edges,
        invalid_receipts: &invalid_receipts,
        stake,
    };
    Ok(verify_forward(&query, &facts, now, &policy))
}

/// The record of a receipt about to be stored, citing `manifest`.
fn new_receipt(
    receipt: &Signed<ForwardReceipt>,
    manifest: &ManifestRecord,
    policy: &Policy,
) -> NewReceipt {
    let r = receipt.value();
    NewReceipt {
        chain: r.chain.clone(),
        root_tx: r.root_tx,
        hop: r.hop,
        source: r.from,
        dest: r.to,
        manifest_id: manifest.id,
        manifest_hash: manifest.hash,
        next_hop: r.next_hop,
        nonce: r.nonce,
        receipt_hash: receipt.id(),
        signature: *receipt.signature(),
        hop_irrational: is_irrational_hop(r.hop, policy),
        computational_cost: hop_cost(Operation::Forward, r.hop).amount,
    }
}

/// The checks every receipt passes, recorded or reported: the cited manifest is the
/// destination's, both agents are registered, the chain is the destination's, and the
/// signer is the cited manifest's key or the destination's owner. Returns the cited manifest
/// and the destination's status.
async fn check_receipt<T: Tx>(
    tx: &T,
    receipt: &Signed<ForwardReceipt>,
) -> Result<(ManifestRecord, AgentStatus)> {
    let r = receipt.value();
    let manifest = tx
        .manifest_by_hash(&r.manifest)
        .await?
        .ok_or(Rejection::CitedManifestUnknown)?;
    if manifest.agent != r.to {
        return Err(Rejection::ManifestNotDestinations.into());
    }
    let dest = require_agent(tx, r.to).await?;
    require_agent(tx, r.from).await?;
    if r.chain != dest.chain {
        return Err(Rejection::ChainMismatch {
            expected: dest.chain,
        }
        .into());
    }
    receipt
        .check_signer(&[manifest.pubkey.address(), dest.owner_address])
        .map_err(|e| Rejection::signature("receipt", e))?;
    Ok((manifest, dest.status))
}

pub(crate) async fn record<T: Tx>(
    tx: &T,
    receipt: Signed<ForwardReceipt>,
    now: Timestamp,
    policy: Policy,
) -> Result<RecordOutcome> {
    let r = receipt.value();
    let root = r.root_tx;
    tx.lock_root(&root).await?;
    tx.lock_agents(&[r.from, r.to]).await?;
    // An identical receipt is a safe retry, even after its manifest expired: it gets the
    // answer the original got.
    if let Some(stored) = tx.receipt_by_hash(&receipt.id()).await? {
        return replayed(tx, stored).await;
    }
    let (manifest, dest_status) = check_receipt(tx, &receipt).await?;
    if dest_status != AgentStatus::Active {
        return Err(Rejection::DestinationNotActive {
            status: dest_status,
        }
        .into());
    }
    let status = status_at(&manifest, &tx.manifests_of(r.to).await?, now);
    if status != ManifestStatus::Active {
        return Err(Rejection::ManifestNotEffective { status }.into());
    }
    if tx.receipt_nonce_used(r.to, r.nonce).await? {
        return Err(StoreError::Conflict(crate::ConflictKind::ReceiptNonce));
    }
    if let Some(settlement) = tx.settlement_of(&root).await? {
        return Err(Rejection::AlreadySettled {
            settlement_id: settlement.id,
        }
        .into());
    }
    let new = new_receipt(&receipt, &manifest, &policy);
    let edges = tx
        .receipts_of_root(&root)
        .await?
        .into_iter()
        .filter(|r| r.is_valid)
        .map(|r| r.receipt.edge())
        .collect();
    let graph = ForwardGraph::new(root, edges);
    let edge = new.edge();
    let decide = async |for_update: bool| -> Result<RecordDecision> {
        let account = tx
            .stake_accounts(&[new.dest], Some(&root), now, for_update)
            .await?
            .pop()
            .map(|(_, a)| a)
            .ok_or(StoreError::NotFound(Entity::Agent))?;
        Ok(decide_record(&graph, &edge, &account, &policy).map_err(Rejection::Record)?)
    };
    let decision = match decide(false).await? {
        // Accepting locks stake on the destination: take its stake row and decide again
        // on what is now stable.
        RecordDecision::Accept { .. } => decide(true).await?,
        settle @ RecordDecision::Settle(_) => settle,
    };
    match decision {
        RecordDecision::Accept { lock } => {
            let stored = ReceiptRecord::new(new, None, now);
            tx.insert_receipt(&stored).await?;
            let expires_at = now.add_seconds(policy.stake_lock_seconds);
            tx.insert_stake_lock(stored.receipt.dest, &root, lock, now, expires_at)
                .await?;
            Ok(RecordOutcome::Recorded {
                receipt: stored,
                replayed: false,
            })
        }
        RecordDecision::Settle(detected) => {
            let stored = ReceiptRecord::new(new, Some(detected.kind), now);
            tx.insert_receipt(&stored).await?;
            tx.invalidate_receipts(&root, &detected.receipts, detected.kind, now)
                .await?;
            let (settlement, slashes) = settle(tx, &root, &detected, None, now).await?;
            Ok(RecordOutcome::Settled {
                receipt: stored,
                settlement,
                slashes,
                invalidated: detected.receipts,
            })
        }
    }
}

/// The answer to a receipt recorded before: settled (409) when it is invalid evidence of the
/// root's settled loop, recorded otherwise.
async fn replayed<T: Tx>(tx: &T, stored: ReceiptRecord) -> Result<RecordOutcome> {
    let root = stored.receipt.root_tx;
    if !stored.is_valid
        && let Some(settlement) = tx.settlement_of(&root).await?
    {
        let invalidated = tx
            .receipts_of_root(&root)
            .await?
            .into_iter()
            .filter(|r| !r.is_valid)
            .map(|r| r.receipt.receipt_hash)
            .collect();
        let slashes = tx.slashes_of_settlement(settlement.id).await?;
        return Ok(RecordOutcome::Settled {
            receipt: stored,
            settlement,
            slashes,
            invalidated,
        });
    }
    Ok(RecordOutcome::Recorded {
        receipt: stored,
        replayed: true,
    })
}

/// Settles `detected` on `root`: locks the loop agents' stake rows, plans the slashes on
/// their accounts (locks on this root excluded), writes the settlement, the slashes and the
/// ledger, and releases the root's stake locks.
async fn settle<T: Tx>(
    tx: &T,
    root: &Hash32,
    detected: &DetectedLoop,
    reporter: Option<EthAddress>,
    now: Timestamp,
) -> Result<(Settlement, Vec<SlashRecord>)> {
    let accounts = tx
        .stake_accounts(&detected.liable, Some(root), now, true)
        .await?;
    let plan = plan_loop_settlement(
        detected.depth(),
        &accounts,
        reporter.map(|_| Reporter { is_liable: false }),
    );
    let settlement = Settlement {
        id: Uuid::new_v4(),
        root_tx: *root,
        kind: detected.kind,
        cycle_agents: detected.agents.clone(),
        depth: detected.depth(),
        total_slashed: plan.total_slashed,
        reporter,
        bounty: plan.bounty,
        status: SettlementStatus::Provisional,
        created_at: now,
    };
    tx.insert_settlement(&settlement).await?;
    let mut slashes = Vec::with_capacity(plan.slashes.len());
    for planned in &plan.slashes {
        slashes.extend(
            slash(
                tx,
                planned.agent,
                planned.amount,
                SlashReason::Loop(detected.kind),
                Cause::Settlement(settlement.id),
                now,
            )
            .await?,
        );
    }
    tx.release_root_locks(root, now).await?;
    Ok((settlement, slashes))
}

pub(crate) async fn report<T: Tx>(
    tx: &T,
    CycleReportSubmission {
        root,
        reporter,
        signature,
        chain,
        evidence,
    }: CycleReportSubmission,
    now: Timestamp,
    policy: Policy,
) -> Result<(Settlement, Vec<SlashRecord>)> {
    tx.lock_root(&root).await?;
    if let Some(settlement) = tx.settlement_of(&root).await? {
        return Err(Rejection::AlreadySettled {
            settlement_id: settlement.id,
        }
        .into());
    }
    for (index, item) in evidence.iter().enumerate() {
        if item.value().root_tx != root {
            return Err(invalid_evidence(
                index,
                "root_tx_hash",
                "evidence belongs to another root transaction",
            ));
        }
    }
    let recorded = tx.receipts_of_root(&root).await?;
    let chain = match chain {
        Some(chain) => chain,
        None => evidence
            .first()
            .map(|e| e.value().chain.clone())
            .or_else(|| recorded.first().map(|r| r.receipt.chain.clone()))
            .ok_or(Rejection::NoLoop)?,
    };
    CycleReport {
        chain,
        root_tx: root,
        reporter,
    }
    .message()
    .verify(&signature, &reporter)
    .map_err(|e| Rejection::signature("cycle report", e))?;
    // Each receipt once; those recorded already are in the graph.
    let known: HashSet<Hash32> = recorded.iter().map(|r| r.receipt.receipt_hash).collect();
    let mut fresh: Vec<NewReceipt> = Vec::with_capacity(evidence.len());
    for (index, item) in evidence.iter().enumerate() {
        let manifest = match check_receipt(tx, item).await {
            Ok((manifest, _)) => manifest,
            Err(e) => return Err(evidence_error(index, e)),
        };
        let duplicate = fresh.iter().any(|f| f.receipt_hash == item.id());
        if !duplicate && !known.contains(&item.id()) {
            fresh.push(new_receipt(item, &manifest, &policy));
        }
    }
    let mut graph = ForwardGraph::new(
        root,
        recorded
            .iter()
            .filter(|r| r.is_valid)
            .map(|r| r.receipt.edge())
            .collect(),
    );
    fresh.sort_by_key(|r| r.hop);
    let mut detected = None;
    for receipt in &fresh {
        let edge = receipt.edge();
        if let Some(closed) = DetectedLoop::closed_by(&graph, &edge) {
            detected = Some(closed);
            break;
        }
        graph = graph.with_edge(edge);
    }
    let detected = detected.ok_or(Rejection::NoLoop)?;
    tx.invalidate_receipts(&root, &detected.receipts, detected.kind, now)
        .await?;
    for receipt in fresh {
        let invalid = detected.receipts.contains(&receipt.receipt_hash);
        let record = ReceiptRecord::new(receipt, invalid.then_some(detected.kind), now);
        tx.insert_receipt(&record).await?;
    }
    settle(tx, &root, &detected, Some(reporter), now).await
}

fn invalid_evidence(index: usize, field: &'static str, reason: impl Into<String>) -> StoreError {
    Rejection::InvalidEvidence {
        index,
        field,
        reason: reason.into(),
    }
    .into()
}

/// A failed evidence check, named after the item and the field it concerns.
fn evidence_error(index: usize, error: StoreError) -> StoreError {
    let field = match &error {
        StoreError::Rejected(
            Rejection::CitedManifestUnknown | Rejection::ManifestNotDestinations,
        ) => "manifest_hash",
        StoreError::Rejected(Rejection::ChainMismatch { .. }) => "chain",
        StoreError::Rejected(Rejection::Signature { .. }) => "signature",
        StoreError::NotFound(Entity::Agent) => "dest_agent_uuid",
        _ => return error,
    };
    invalid_evidence(index, field, error.to_string())
}

pub(crate) async fn trail<T: Tx>(tx: &T, root: Hash32) -> Result<ForwardTrail> {
    let receipts = tx.receipts_of_root(&root).await?;
    let settlement = tx.settlement_of(&root).await?;
    let slashes = match &settlement {
        Some(s) => tx.slashes_of_settlement(s.id).await?,
        None => Vec::new(),
    };
    Ok(ForwardTrail {
        receipts,
        settlement,
        slashes,
    })
}

pub(crate) async fn settlement_of<T: Tx>(tx: &T, root: Hash32) -> Result<Option<Settlement>> {
    tx.settlement_of(&root).await
}
