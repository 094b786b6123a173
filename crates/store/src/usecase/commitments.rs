//! Time-locked commitments and their disputes, MEV incidents, and the ledger every slash is
//! written to.

use kagami_core::{
    AgentStatus, CommitmentEvent, CommitmentStatus, ManifestRecord, Policy, Usdc,
    commitment::{dispute_slashes, routing_deviation},
    crypto::{Hash32, Timestamp, Uuid},
    manifest::{authorised_signers, effective_at},
    settlement::mev_slash,
    wire::CosignedCommitment,
};

use super::{
    agents::{require_agent, stake_account},
    log::{self, Entry},
};
use crate::{
    Cause, Commitment, ConflictKind, Cosignatures, Entity, IncidentOutcome, LedgerEntry,
    LedgerTotals, MevIncident, MevSummaryRow, NewCommitment, NewMevIncident, Page, Payout,
    PayoutKind, Rejection, Result, SlashReason, SlashRecord, StoreError, tx::Tx,
};

/// Writes a slash of `amount` (none for zero) and returns it.
pub(crate) async fn slash<T: Tx>(
    tx: &T,
    agent: Uuid,
    amount: Usdc,
    reason: SlashReason,
    cause: Cause,
    now: Timestamp,
) -> Result<Option<SlashRecord>> {
    if amount == Usdc::ZERO {
        return Ok(None);
    }
    let record = SlashRecord {
        id: Uuid::new_v4(),
        agent,
        amount,
        reason,
        cause,
        created_at: now,
    };
    tx.insert_slash(&record).await?;
    log::append(tx, Entry::Slash(&record), now).await?;
    Ok(Some(record))
}

/// Writes a payout of slashed money (none for zero).
pub(crate) async fn pay_out<T: Tx>(
    tx: &T,
    kind: PayoutKind,
    cause: Cause,
    amount: Usdc,
    now: Timestamp,
) -> Result<()> {
    if amount == Usdc::ZERO {
        return Ok(());
    }
    let payout = Payout {
        id: Uuid::new_v4(),
        kind,
        cause,
        amount,
        created_at: now,
    };
    tx.insert_payout(&payout).await?;
    log::append(tx, Entry::Payout(&payout), now).await
}

/// Disputes the open co-signed commitments of `agent` whose time lock saw its routing change
/// by `now` (`kagami_core::commitment::routing_deviation`): each is disputed once, and
/// together they cost the agent at most half of its available stake
/// (`kagami_core::commitment::dispute_slashes`), all retained. The caller holds the agent's
/// lock. Returns the commitments disputed.
pub(crate) async fn settle_due_disputes<T: Tx>(
    tx: &T,
    agent: Uuid,
    now: Timestamp,
) -> Result<Vec<Commitment>> {
    let open = tx.open_commitments_of(agent, true).await?;
    if open.is_empty() {
        return Ok(open);
    }
    let manifests = dispute_manifests(tx, agent, &open, now).await?;
    let mut due = disputes_due(open, &manifests, now);
    if due.is_empty() {
        return Ok(due);
    }
    let account = stake_account(tx, agent, now, true)
        .await?
        .ok_or(StoreError::NotFound(Entity::Agent))?;
    let amounts: Vec<(Uuid, Usdc)> = due.iter().map(|c| (c.id, c.commitment.amount)).collect();
    for (commitment, (_, amount)) in due.iter_mut().zip(dispute_slashes(&amounts, &account)) {
        commitment.status = commitment
            .status
            .apply(CommitmentEvent::Dispute)
            .map_err(Rejection::CommitmentState)?;
        tx.update_commitment(commitment, now).await?;
        log::append(tx, Entry::CommitmentStatus(commitment), now).await?;
        let cause = Cause::Commitment(commitment.id);
        slash(
            tx,
            agent,
            amount,
            SlashReason::CommitmentDispute,
            cause,
            now,
        )
        .await?;
        pay_out(tx, PayoutKind::Retained, cause, amount, now).await?;
    }
    Ok(due)
}

/// The manifests of `agent` that [`disputes_due`] over `open` (its open commitments) depends
/// on: those whose window meets a time lock of `open` up to `now` — every manifest that can be
/// in force at a moment a dispute is looked for, the one each commitment holds among them —
/// not the agent's whole history. None without open commitments.
pub(crate) async fn dispute_manifests<T: Tx>(
    tx: &T,
    agent: Uuid,
    open: &[Commitment],
    now: Timestamp,
) -> Result<Vec<ManifestRecord>> {
    let Some(from) = open.iter().map(|c| c.created_at).min() else {
        return Ok(Vec::new());
    };
    // A lock is watched until its end or now (`routing_deviation`), and always at its start,
    // when the manifest it holds was in force.
    let until = open
        .iter()
        .map(|c| {
            c.commitment
                .time_lock_until
                .min(now.add_seconds(1))
                .max(c.created_at.add_seconds(1))
        })
        .max()
        .unwrap_or(from);
    tx.manifests_overlapping(agent, from, until).await
}

/// The commitments among `open` (of one first hop, whose manifests are `manifests`) that a
/// change of routing broke by `now`, each with the manifest that broke it.
pub(crate) fn disputes_due(
    open: Vec<Commitment>,
    manifests: &[ManifestRecord],
    now: Timestamp,
) -> Vec<Commitment> {
    open.into_iter()
        .filter_map(|mut commitment| {
            let held = commitment
                .commitment
                .cosigned
                .and_then(|c| manifests.iter().find(|m| m.hash == c.first_hop_manifest))?;
            let (_, manifest) = routing_deviation(
                &held.endpoint,
                commitment.created_at,
                commitment.commitment.time_lock_until,
                manifests,
                now,
            )?;
            commitment.disputed_by = Some(manifest);
            Some(commitment)
        })
        .collect()
}

/// Evaluates the disputes of `agent` under its lock (the background sweep, and reads that
/// found one due).
pub(crate) async fn touch<T: Tx>(tx: &T, agent: Uuid, now: Timestamp) -> Result<Vec<Commitment>> {
    tx.lock_agents(&[agent]).await?;
    settle_due_disputes(tx, agent, now).await
}

/// The agents whose disputes the background sweep evaluates.
pub(crate) async fn disputable_agents<T: Tx>(tx: &T) -> Result<Vec<Uuid>> {
    tx.agents_with_open_commitments().await
}

pub(crate) async fn create<T: Tx>(
    tx: &T,
    cosigned: CosignedCommitment,
    now: Timestamp,
    policy: Policy,
) -> Result<Commitment> {
    let terms = cosigned.commitment().clone();
    if terms.lock_until <= now
        || terms.lock_until > now.add_seconds(policy.max_commitment_lock_seconds)
    {
        return Err(Rejection::LockUntilOutOfRange {
            now,
            max_seconds: policy.max_commitment_lock_seconds,
        }
        .into());
    }
    // The first hop's publications dispute its commitments; serialize with them.
    tx.lock_agents(&[terms.payer, terms.first_hop]).await?;
    let payer = require_agent(tx, terms.payer).await?;
    let first_hop = require_agent(tx, terms.first_hop).await?;
    for agent in [&payer, &first_hop] {
        if agent.chain != terms.chain {
            return Err(Rejection::ChainMismatch {
                expected: agent.chain.clone(),
            }
            .into());
        }
    }
    if first_hop.status != AgentStatus::Active {
        return Err(Rejection::DestinationNotActive {
            status: first_hop.status,
        }
        .into());
    }
    let payer_manifests = tx.manifests_in_force(payer.uuid, now, None).await?;
    cosigned
        .payer
        .check_signer(&authorised_signers(
            payer.owner_address,
            &payer_manifests,
            now,
        ))
        .map_err(|e| Rejection::signature("payer", e))?;
    let first_hop_manifests = tx.manifests_in_force(first_hop.uuid, now, None).await?;
    let held = effective_at(&first_hop_manifests, now).ok_or(Rejection::FirstHopNotEffective)?;
    cosigned
        .first_hop
        .check_signer(&[first_hop.owner_address, held.pubkey.address()])
        .map_err(|e| Rejection::signature("first hop", e))?;
    // Disputes that fell due before this commitment are settled first: it holds the routing
    // in force now.
    settle_due_disputes(tx, first_hop.uuid, now).await?;
    let commitment = Commitment {
        id: Uuid::new_v4(),
        commitment: NewCommitment {
            root_tx: terms.root_tx,
            commitment_hash: cosigned.payer.id(),
            chain: terms.chain,
            first_hop_agent: terms.first_hop,
            routing_hash: terms.routing,
            amount: terms.amount.into(),
            time_lock_until: terms.lock_until,
            cosigned: Some(Cosignatures {
                payer: terms.payer,
                payer_signature: *cosigned.payer.signature(),
                first_hop_signature: *cosigned.first_hop.signature(),
                first_hop_manifest: held.hash,
            }),
        },
        status: CommitmentStatus::Pending,
        onchain_tx_hash: None,
        disputed_by: None,
        created_at: now,
    };
    tx.insert_commitment(&commitment).await?;
    log::append(tx, Entry::Commitment(&commitment), now).await?;
    Ok(commitment)
}

pub(crate) async fn confirm<T: Tx>(
    tx: &T,
    id: Uuid,
    onchain_tx_hash: Hash32,
    now: Timestamp,
) -> Result<Commitment> {
    transition(tx, id, CommitmentEvent::Confirm, Some(onchain_tx_hash), now).await
}

pub(crate) async fn settle<T: Tx>(tx: &T, id: Uuid, now: Timestamp) -> Result<Commitment> {
    transition(tx, id, CommitmentEvent::Settle, None, now).await
}

/// Moves a commitment on, after settling the disputes due on its first hop (a commitment
/// whose routing changed is disputed, not confirmed or settled).
async fn transition<T: Tx>(
    tx: &T,
    id: Uuid,
    event: CommitmentEvent,
    onchain_tx_hash: Option<Hash32>,
    now: Timestamp,
) -> Result<Commitment> {
    let first_hop = tx
        .commitment(id, false)
        .await?
        .ok_or(StoreError::NotFound(Entity::Commitment))?
        .commitment
        .first_hop_agent;
    tx.lock_agents(&[first_hop]).await?;
    settle_due_disputes(tx, first_hop, now).await?;
    let mut commitment = tx
        .commitment(id, true)
        .await?
        .ok_or(StoreError::NotFound(Entity::Commitment))?;
    commitment.status = commitment
        .status
        .apply(event)
        .map_err(Rejection::CommitmentState)?;
    if let Some(hash) = onchain_tx_hash {
        commitment.onchain_tx_hash = Some(hash);
    }
    tx.update_commitment(&commitment, now).await?;
    log::append(tx, Entry::CommitmentStatus(&commitment), now).await?;
    Ok(commitment)
}

pub(crate) async fn get<T: Tx>(tx: &T, id: Uuid) -> Result<Option<Commitment>> {
    tx.commitment(id, false).await
}

/// Records an MEV incident and slashes the attacker — only on a transaction the attacker
/// signed: its owner, or the key of its manifest in force when the report arrives. The
/// transaction's hash makes the incident: a retried report is answered with the original
/// (`replayed`), never slashed twice; another report naming the same transaction is a
/// conflict.
pub(crate) async fn record_incident<T: Tx>(
    tx: &T,
    incident: NewMevIncident,
    now: Timestamp,
) -> Result<IncidentOutcome> {
    let attack = &incident.attack_tx;
    tx.lock_agents(&[incident.attacker]).await?;
    if let Some(existing) = tx.incident_by_attack_tx(&attack.hash).await? {
        return if existing.incident == incident {
            Ok(IncidentOutcome {
                incident: existing,
                replayed: true,
            })
        } else {
            Err(StoreError::Conflict(ConflictKind::MevAttack))
        };
    }
    let attacker = require_agent(tx, incident.attacker).await?;
    if let Some(victim) = incident.victim {
        require_agent(tx, victim).await?;
    }
    let manifests = tx.manifests_in_force(attacker.uuid, now, None).await?;
    attack
        .check_signer(&authorised_signers(attacker.owner_address, &manifests, now))
        .map_err(|e| Rejection::signature("attack transaction", e))?;
    let account = stake_account(tx, incident.attacker, now, true)
        .await?
        .ok_or(StoreError::NotFound(Entity::Agent))?;
    let incident = MevIncident {
        id: Uuid::new_v4(),
        slashed_amount: mev_slash(incident.extracted_value, &account),
        incident,
        created_at: now,
    };
    tx.insert_incident(&incident).await?;
    log::append(tx, Entry::MevIncident(&incident), now).await?;
    let cause = Cause::Incident(incident.id);
    let (attacker, amount) = (incident.incident.attacker, incident.slashed_amount);
    slash(tx, attacker, amount, SlashReason::MevIncident, cause, now).await?;
    pay_out(tx, PayoutKind::Retained, cause, amount, now).await?;
    Ok(IncidentOutcome {
        incident,
        replayed: false,
    })
}

pub(crate) async fn mev_summary<T: Tx>(tx: &T) -> Result<Vec<MevSummaryRow>> {
    tx.mev_summary().await
}

/// The ledger's totals and its newest `limit` lines.
pub(crate) async fn ledger<T: Tx>(
    tx: &T,
    limit: u32,
    after: Option<Uuid>,
) -> Result<(LedgerTotals, Page<LedgerEntry>)> {
    let totals = tx.ledger_totals().await?;
    if limit == 0 {
        // The totals alone (the gauges' refresh).
        return Ok((totals, Page::default()));
    }
    let entries = tx.ledger_entries(limit.saturating_add(1), after).await?;
    Ok((totals, Page::of(entries, limit)))
}
