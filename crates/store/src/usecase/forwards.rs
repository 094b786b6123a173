//! Forwards: verify-forward, record-forward, report-cycle, and the audit trail.
//!
//! A hop of the settlement graph is an order signed by the payer and the receipt v2 the
//! destination signed for it; both signers are checked against the keys each agent had
//! authorised when the pair arrived (its owner, or the key of its manifest in force). A v1
//! receipt alone is evidence in the trail, never a hop.

use std::collections::HashSet;

use kagami_core::{
    AgentStatus, DetectedLoop, ForwardGraph, ManifestStatus, Policy, RecordDecision, Reporter,
    crypto::{CycleReport, EthAddress, Hash32, Signable, Signature, Timestamp, Uuid},
    decide::{closes_loop, decide_record, record_settles},
    graph::is_irrational_hop,
    manifest::{authorised_signers, status_at},
    plan_loop_settlement,
    settlement::{Operation, hop_cost},
    verify::{ForwardFacts, ForwardQuery, SettledLoop, verify_forward},
    wire::{CycleReportSubmission, SignedPair},
};

use super::{
    agents::{require_agent, require_agents},
    commitments::{dispute_manifests, disputes_due, pay_out, settle_due_disputes, slash},
    log::{self, Entry},
};
use crate::{
    Cause, ConflictKind, Entity, ForwardTrail, ForwardVerdict, NewReceipt, Page, PayoutKind,
    ReceiptRecord, RecordOutcome, Rejection, Result, Settlement, SettlementStatus, SlashReason,
    SlashRecord, StoreError, StoredOrder, tx::Tx,
};

pub(crate) async fn verify<T: Tx>(
    tx: &T,
    query: ForwardQuery,
    now: Timestamp,
    policy: Policy,
) -> Result<ForwardVerdict> {
    let agents = tx.agents(&[query.dest, query.source]).await?;
    let dest = agents.iter().find(|a| a.uuid == query.dest);
    let source_known = agents.iter().any(|a| a.uuid == query.source);
    // The manifest shown and the one in force: all `verify_forward` needs of the destination's
    // manifests (a public endpoint: never the destination's whole history).
    let manifests = tx
        .manifests_in_force(query.dest, now, Some(&query.manifest))
        .await?;
    let open = tx.open_commitments_of(query.dest, false).await?;
    let lock_manifests = dispute_manifests(tx, query.dest, &open, now).await?;
    let disputes_due = !disputes_due(open, &lock_manifests, now).is_empty();
    let settlement = tx.settlement_of(&query.root).await?.map(|s| SettledLoop {
        settlement_id: s.id,
        agents: s.cycle_agents,
        depth: s.depth,
    });
    let receipts = tx.receipts_of_root(&query.root).await?;
    let edges: Vec<_> = receipts
        .iter()
        .filter_map(ReceiptRecord::valid_edge)
        .collect();
    let invalid_receipts: Vec<Hash32> = receipts
        .iter()
        .filter(|r| !r.is_valid)
        .map(|r| r.receipt.receipt_hash)
        .collect();
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
    Ok(ForwardVerdict {
        verdict: verify_forward(&query, &facts, now, &policy),
        disputes_due,
    })
}

/// A pair that passed every check a hop must pass when it arrives: what to store, and the
/// hop as the graph sees it.
struct Admitted {
    receipt: NewReceipt,
}

/// The checks every hop passes, recorded or reported, inside the transaction: the cited
/// manifest is the destination's and in force now, both agents are registered on the pair's
/// chain, the destination is active, the receipt is signed by the cited manifest's key or the
/// destination's owner, and the order by the payer's owner or the key of the payer's manifest
/// in force now.
async fn admit<T: Tx>(
    tx: &T,
    pair: &SignedPair,
    now: Timestamp,
    policy: &Policy,
) -> Result<Admitted> {
    let r = pair.receipt.value();
    // The cited manifest and the one in force, in one lookup; the cited one is looked up
    // again, on its own, only to say why it is not among the destination's.
    let dest_manifests = tx.manifests_in_force(r.to, now, Some(&r.manifest)).await?;
    let Some(manifest) = dest_manifests.iter().find(|m| m.hash == r.manifest) else {
        return Err(match tx.manifest_by_hash(&r.manifest).await? {
            Some(_) => Rejection::ManifestNotDestinations,
            None => Rejection::CitedManifestUnknown,
        }
        .into());
    };
    let [dest, payer] = require_agents(tx, [r.to, r.from]).await?;
    for agent in [&dest, &payer] {
        if r.chain != agent.chain {
            return Err(Rejection::ChainMismatch {
                expected: agent.chain.clone(),
            }
            .into());
        }
    }
    pair.receipt
        .check_signer(&[manifest.pubkey.address(), dest.owner_address])
        .map_err(|e| Rejection::signature("receipt", e))?;
    let payer_manifests = tx.manifests_in_force(r.from, now, None).await?;
    pair.order
        .check_signer(&authorised_signers(
            payer.owner_address,
            &payer_manifests,
            now,
        ))
        .map_err(|e| Rejection::signature("order", e))?;
    if dest.status != AgentStatus::Active {
        return Err(Rejection::DestinationNotActive {
            status: dest.status,
        }
        .into());
    }
    let status = status_at(manifest, &dest_manifests, now);
    if status != ManifestStatus::Active {
        return Err(Rejection::ManifestNotEffective { status }.into());
    }
    Ok(Admitted {
        receipt: NewReceipt {
            chain: r.chain.clone(),
            root_tx: r.root_tx,
            hop: r.hop,
            source: r.from,
            dest: r.to,
            manifest_id: manifest.id,
            manifest_hash: manifest.hash,
            order: Some(StoredOrder::of(&pair.order)),
            next_hop: r.next_hop,
            nonce: r.nonce,
            receipt_hash: pair.receipt.id(),
            signature: *pair.receipt.signature(),
            hop_irrational: is_irrational_hop(r.hop, policy),
            computational_cost: hop_cost(Operation::Forward, r.hop).amount,
        },
    })
}

/// Refuses a pair whose receipt nonce, order nonce or order is already used by another
/// pair.
async fn check_unused<T: Tx>(tx: &T, receipt: &NewReceipt) -> Result<()> {
    let order = receipt.order.as_ref().map(|o| (&o.hash, o.nonce));
    let used = tx
        .values_used(receipt.dest, receipt.nonce, receipt.source, order)
        .await?;
    let conflict = if used.receipt_nonce {
        ConflictKind::ReceiptNonce
    } else if used.order {
        ConflictKind::Order
    } else if used.order_nonce {
        ConflictKind::OrderNonce
    } else {
        return Ok(());
    };
    Err(StoreError::Conflict(conflict))
}

/// Stores a receipt and its log entry.
async fn insert_receipt<T: Tx>(tx: &T, receipt: &ReceiptRecord) -> Result<()> {
    tx.insert_receipt(receipt).await?;
    log::append(tx, Entry::Forward(receipt), receipt.created_at).await
}

/// The root's recorded hops as its settlement graph.
fn graph_of(root: Hash32, receipts: &[ReceiptRecord]) -> ForwardGraph {
    ForwardGraph::new(
        root,
        receipts
            .iter()
            .filter_map(ReceiptRecord::valid_edge)
            .collect(),
    )
}

pub(crate) async fn record<T: Tx>(
    tx: &T,
    pair: SignedPair,
    now: Timestamp,
    policy: Policy,
) -> Result<RecordOutcome> {
    let r = pair.receipt.value();
    let root = r.root_tx;
    tx.lock_root(&root).await?;
    // Shared: hops of other roots for the same agents run side by side; they conflict on the
    // destination's stake row and on the unique nonces and orders, not on the agents.
    tx.share_agents(&[r.from, r.to]).await?;
    // The identical pair is a safe retry, even after its manifest expired: it gets the answer
    // the original got, however the duplicates interleave (they queue on the root's lock).
    if let Some(stored) = tx.receipt_by_hash(&pair.receipt.id()).await? {
        return replayed(tx, stored).await;
    }
    // In id order, like stake rows: under shared agent locks, hops A→B and B→A settling both
    // agents' disputes at once would otherwise take their commitment and stake rows in
    // opposite orders, and deadlock.
    let mut agents = [r.from, r.to];
    agents.sort_unstable();
    for agent in agents {
        settle_due_disputes(tx, agent, now).await?;
    }
    let Admitted { receipt } = admit(tx, &pair, now, &policy).await?;
    check_unused(tx, &receipt).await?;
    if let Some(settlement) = tx.settlement_of(&root).await? {
        return Err(Rejection::AlreadySettled {
            settlement_id: settlement.id,
        }
        .into());
    }
    let graph = graph_of(root, &tx.receipts_of_root(&root).await?);
    let Some(edge) = receipt.edge() else {
        return Err(StoreError::internal("an admitted pair is always a hop"));
    };
    if let Some(detected) = record_settles(&graph, &edge, &policy).map_err(Rejection::Record)? {
        let stored = ReceiptRecord::new(receipt, Some(detected.kind), now);
        insert_receipt(tx, &stored).await?;
        tx.invalidate_receipts(&root, &detected.receipts, detected.kind, now)
            .await?;
        let closing = stored.receipt.receipt_hash;
        let (settlement, slashes) = settle(tx, &root, &detected, closing, None, now).await?;
        return Ok(RecordOutcome::Settled {
            receipt: stored,
            settlement,
            slashes,
            invalidated: detected.receipts,
            replayed: false,
        });
    }
    // No loop: the hop locks stake on the destination. Stored before the destination's stake
    // row is taken: hops for one destination queue on that row, and hold it only to decide on
    // its stake, lock it and commit. (A refusal rolls the receipt back with the rest.)
    let stored = ReceiptRecord::new(receipt, None, now);
    insert_receipt(tx, &stored).await?;
    let dest = stored.receipt.dest;
    let account = tx
        .stake_accounts(&[dest], Some(&root), now, true)
        .await?
        .pop()
        .map(|(_, a)| a)
        .ok_or(StoreError::NotFound(Entity::Agent))?;
    let decision = decide_record(&graph, &edge, &account, &policy).map_err(Rejection::Record)?;
    let RecordDecision::Accept { lock } = decision else {
        return Err(StoreError::internal(
            "the root's graph is locked: a hop that closed no loop cannot close one now",
        ));
    };
    let expires_at = now.add_seconds(policy.stake_lock_seconds);
    tx.insert_stake_lock(dest, &root, lock, now, expires_at)
        .await?;
    Ok(RecordOutcome::Recorded {
        receipt: stored,
        replayed: false,
    })
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
            replayed: true,
        });
    }
    Ok(RecordOutcome::Recorded {
        receipt: stored,
        replayed: true,
    })
}

/// Settles `detected` on `root`: locks the liable agents' stake rows, plans their slashes
/// (locks on this root excluded) and the reporter's bounty out of them, writes the
/// settlement, the slashes, the payouts (bounty, retained) and releases the root's stake
/// locks.
async fn settle<T: Tx>(
    tx: &T,
    root: &Hash32,
    detected: &DetectedLoop,
    closing_receipt: Hash32,
    report: Option<(EthAddress, &Signature)>,
    now: Timestamp,
) -> Result<(Settlement, Vec<SlashRecord>)> {
    let reporter = report.map(|(address, _)| address);
    let accounts = tx
        .stake_accounts(&detected.liable, Some(root), now, true)
        .await?;
    let standing = match reporter {
        Some(address) => Some(Reporter {
            is_liable: speaks_for_any(tx, &detected.liable, &address).await?,
        }),
        None => None,
    };
    let plan = plan_loop_settlement(detected.depth(), &accounts, standing);
    let settlement = Settlement {
        id: Uuid::new_v4(),
        root_tx: *root,
        kind: detected.kind,
        cycle_agents: detected.agents.clone(),
        depth: detected.depth(),
        liable: detected.liable.clone(),
        closing_receipt: Some(closing_receipt),
        total_slashed: plan.total_slashed,
        reporter,
        bounty: plan.bounty,
        status: SettlementStatus::Provisional,
        created_at: now,
    };
    tx.insert_settlement(&settlement).await?;
    let entry = Entry::Settlement {
        settlement: &settlement,
        report_signature: report.map(|(_, signature)| signature),
        invalidated: &detected.receipts,
    };
    log::append(tx, entry, now).await?;
    let cause = Cause::Settlement(settlement.id);
    let mut slashes = Vec::with_capacity(plan.slashes.len());
    for planned in &plan.slashes {
        let reason = SlashReason::Loop(detected.kind);
        slashes.extend(slash(tx, planned.agent, planned.amount, reason, cause, now).await?);
    }
    if let (Some(reporter), Some(bounty)) = (reporter, plan.bounty) {
        pay_out(tx, PayoutKind::Bounty { reporter }, cause, bounty, now).await?;
    }
    pay_out(tx, PayoutKind::Retained, cause, plan.retained, now).await?;
    tx.release_root_locks(root, now).await?;
    Ok((settlement, slashes))
}

/// Whether `address` is the owner or a manifest key (any, ever published) of one of
/// `agents`.
async fn speaks_for_any<T: Tx>(tx: &T, agents: &[Uuid], address: &EthAddress) -> Result<bool> {
    for uuid in agents {
        let agent = require_agent(tx, *uuid).await?;
        if agent.owner_address == *address {
            return Ok(true);
        }
        let manifests = tx.manifests_of(*uuid).await?;
        if manifests.iter().any(|m| m.pubkey.address() == *address) {
            return Ok(true);
        }
    }
    Ok(false)
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
        if item.receipt.value().root_tx != root {
            return Err(invalid_evidence(
                index,
                "receipt.root_tx_hash",
                "evidence belongs to another root transaction",
            ));
        }
    }
    let mut agents: Vec<Uuid> = evidence
        .iter()
        .flat_map(|p| [p.receipt.value().from, p.receipt.value().to])
        .collect();
    agents.sort_unstable();
    agents.dedup();
    tx.lock_agents(&agents).await?;
    let recorded = tx.receipts_of_root(&root).await?;
    let chain = match chain {
        Some(chain) => chain,
        None => evidence
            .first()
            .map(|e| e.receipt.value().chain.clone())
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
    // Each new hop once, in hop order, through the checks record-forward applies; the first
    // that closes a loop is the closing one, and the report is about that loop.
    let known: HashSet<Hash32> = recorded.iter().map(|r| r.receipt.receipt_hash).collect();
    let mut fresh: Vec<(usize, NewReceipt)> = Vec::with_capacity(evidence.len());
    for (index, item) in evidence.iter().enumerate() {
        let id = item.receipt.id();
        if known.contains(&id) || fresh.iter().any(|(_, f)| f.receipt_hash == id) {
            continue;
        }
        let receipt = match admit(tx, item, now, &policy).await {
            Ok(admitted) => admitted.receipt,
            Err(e) => return Err(evidence_error(index, e)),
        };
        if let Err(e) = check_unused(tx, &receipt).await {
            return Err(evidence_error(index, e));
        }
        fresh.push((index, receipt));
    }
    fresh.sort_by_key(|(_, r)| r.hop);
    let mut graph = graph_of(root, &recorded);
    let mut closing = None;
    let mut admitted = Vec::with_capacity(fresh.len());
    for (index, receipt) in fresh {
        let Some(edge) = receipt.edge() else { continue };
        match closes_loop(&graph, &edge, &policy) {
            Ok(Some(detected)) => {
                closing = Some((receipt, detected));
                break;
            }
            Ok(None) => {
                graph = graph.with_edge(edge);
                admitted.push(receipt);
            }
            Err(violation) => {
                return Err(invalid_evidence(
                    index,
                    "receipt.hop",
                    violation.to_string(),
                ));
            }
        }
    }
    let (closing, detected) = closing.ok_or(Rejection::NoLoop)?;
    for receipt in admitted {
        let invalid = detected.receipts.contains(&receipt.receipt_hash);
        let record = ReceiptRecord::new(receipt, invalid.then_some(detected.kind), now);
        insert_receipt(tx, &record).await?;
    }
    tx.invalidate_receipts(&root, &detected.receipts, detected.kind, now)
        .await?;
    let closing = ReceiptRecord::new(closing, Some(detected.kind), now);
    insert_receipt(tx, &closing).await?;
    let closing_hash = closing.receipt.receipt_hash;
    let report = Some((reporter, &signature));
    settle(tx, &root, &detected, closing_hash, report, now).await
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
            Rejection::CitedManifestUnknown
            | Rejection::ManifestNotDestinations
            | Rejection::ManifestNotEffective { .. },
        ) => "receipt.manifest_hash",
        StoreError::Rejected(Rejection::ChainMismatch { .. }) => "receipt.chain",
        StoreError::Rejected(Rejection::Signature {
            object: "order", ..
        }) => "order.signature",
        StoreError::Rejected(Rejection::Signature { .. }) => "receipt.signature",
        StoreError::Rejected(Rejection::DestinationNotActive { .. })
        | StoreError::NotFound(Entity::Agent) => "receipt.dest_agent_uuid",
        StoreError::Conflict(ConflictKind::ReceiptNonce) => "receipt.receipt_nonce",
        StoreError::Conflict(ConflictKind::Order | ConflictKind::OrderNonce) => "order.order_nonce",
        _ => return error,
    };
    invalid_evidence(index, field, error.to_string())
}

pub(crate) async fn trail<T: Tx>(tx: &T, root: Hash32) -> Result<ForwardTrail> {
    let receipts = tx.receipts_of_root(&root).await?;
    with_settlement(tx, root, receipts, false).await
}

pub(crate) async fn trail_page<T: Tx>(
    tx: &T,
    root: Hash32,
    after: Option<Uuid>,
    limit: u32,
) -> Result<ForwardTrail> {
    let page = Page::of(
        tx.receipts_page(&root, after, limit.saturating_add(1))
            .await?,
        limit,
    );
    with_settlement(tx, root, page.items, page.more).await
}

/// The trail of `root` made of these receipts, with the root's settlement and its slashes.
async fn with_settlement<T: Tx>(
    tx: &T,
    root: Hash32,
    receipts: Vec<ReceiptRecord>,
    more: bool,
) -> Result<ForwardTrail> {
    let settlement = tx.settlement_of(&root).await?;
    let slashes = match &settlement {
        Some(s) => tx.slashes_of_settlement(s.id).await?,
        None => Vec::new(),
    };
    Ok(ForwardTrail {
        receipts,
        more,
        settlement,
        slashes,
    })
}

pub(crate) async fn settlement_of<T: Tx>(tx: &T, root: Hash32) -> Result<Option<Settlement>> {
    tx.settlement_of(&root).await
}
