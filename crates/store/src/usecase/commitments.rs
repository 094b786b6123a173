//! Time-locked commitments, their disputes, and MEV incidents.

use kagami_core::{
    CommitmentEvent, CommitmentStatus, Usdc,
    crypto::{Hash32, Timestamp, Uuid},
    decide::commitment_dispute_slash,
    settlement::mev_slash,
};

use super::agents::{require_agent, stake_account};
use crate::{
    Commitment, Entity, MevIncident, MevSummaryRow, NewCommitment, NewMevIncident, Rejection,
    Result, SlashReason, SlashRecord, StoreError, tx::Tx,
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
    let (settlement_id, incident_id, commitment_id) = match cause {
        Cause::Settlement(id) => (Some(id), None, None),
        Cause::Incident(id) => (None, Some(id), None),
        Cause::Commitment(id) => (None, None, Some(id)),
    };
    let record = SlashRecord {
        id: Uuid::new_v4(),
        agent,
        amount,
        reason,
        settlement_id,
        incident_id,
        commitment_id,
        created_at: now,
    };
    tx.insert_slash(&record).await?;
    Ok(Some(record))
}

/// What a slash is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cause {
    /// A loop settlement.
    Settlement(Uuid),
    /// An MEV incident.
    Incident(Uuid),
    /// A disputed commitment.
    Commitment(Uuid),
}

/// Disputes the commitments whose first hop is `agent` (which just changed its endpoint),
/// still open with the time lock running, and slashes the agent per
/// `commitment_dispute_slash` for each, in creation order. The caller holds the agent's lock.
pub(crate) async fn dispute_open_commitments<T: Tx>(
    tx: &T,
    agent: Uuid,
    now: Timestamp,
) -> Result<Vec<Commitment>> {
    let mut open = tx.open_commitments_of(agent, now).await?;
    if open.is_empty() {
        return Ok(open);
    }
    let mut account = stake_account(tx, agent, now, true)
        .await?
        .ok_or(StoreError::NotFound(Entity::Agent))?;
    for commitment in &mut open {
        commitment.status = commitment
            .status
            .apply(CommitmentEvent::Dispute)
            .map_err(Rejection::CommitmentState)?;
        let taken = account.apply_slash(commitment_dispute_slash(
            commitment.commitment.amount,
            &account,
        ));
        tx.update_commitment(commitment, now).await?;
        slash(
            tx,
            agent,
            taken,
            SlashReason::CommitmentDispute,
            Cause::Commitment(commitment.id),
            now,
        )
        .await?;
    }
    Ok(open)
}

pub(crate) async fn create<T: Tx>(
    tx: &T,
    commitment: NewCommitment,
    now: Timestamp,
) -> Result<Commitment> {
    // The first hop's publications dispute its commitments; serialize with them.
    tx.lock_agents(&[commitment.first_hop_agent]).await?;
    require_agent(tx, commitment.first_hop_agent).await?;
    let commitment = Commitment {
        id: Uuid::new_v4(),
        commitment,
        status: CommitmentStatus::Pending,
        onchain_tx_hash: None,
        created_at: now,
    };
    tx.insert_commitment(&commitment).await?;
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

async fn transition<T: Tx>(
    tx: &T,
    id: Uuid,
    event: CommitmentEvent,
    onchain_tx_hash: Option<Hash32>,
    now: Timestamp,
) -> Result<Commitment> {
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
    Ok(commitment)
}

pub(crate) async fn get<T: Tx>(tx: &T, id: Uuid) -> Result<Option<Commitment>> {
    tx.commitment(id, false).await
}

pub(crate) async fn record_incident<T: Tx>(
    tx: &T,
    incident: NewMevIncident,
    now: Timestamp,
) -> Result<MevIncident> {
    tx.lock_agents(&[incident.attacker]).await?;
    require_agent(tx, incident.attacker).await?;
    if let Some(victim) = incident.victim {
        require_agent(tx, victim).await?;
    }
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
    slash(
        tx,
        incident.incident.attacker,
        incident.slashed_amount,
        SlashReason::MevIncident,
        Cause::Incident(incident.id),
        now,
    )
    .await?;
    Ok(incident)
}

pub(crate) async fn mev_summary<T: Tx>(tx: &T) -> Result<Vec<MevSummaryRow>> {
    tx.mev_summary().await
}
