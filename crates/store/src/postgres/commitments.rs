//! Time-locked commitments and MEV incidents.

use deadpool_postgres::GenericClient;
use kagami_core::{
    crypto::{Hash32, Timestamp, Uuid},
    decide::commitment_dispute_slash,
    settlement::mev_slash,
};

use super::{
    agents::{self, Cause},
    sql::{
        self, advisory_lock, agent_key, commitment_columns, execute, get, get_u64, get_usdc, query,
        query_opt, to_i64, ts,
    },
};
use crate::{
    Commitment, CommitmentStatus, MevIncident, MevSummaryRow, NewCommitment, NewMevIncident,
    Rejection, Result, StoreError,
};

pub(super) async fn create<C: GenericClient>(
    c: &C,
    new: NewCommitment,
    now: Timestamp,
) -> Result<Commitment> {
    // The first hop's publications dispute its commitments; serialize with them.
    advisory_lock(c, &agent_key(new.first_hop_agent)).await?;
    agents::require(c, new.first_hop_agent).await?;
    let commitment = Commitment {
        id: Uuid::new_v4(),
        commitment: new,
        status: CommitmentStatus::Pending,
        onchain_tx_hash: None,
        created_at: now,
    };
    let n = &commitment.commitment;
    execute(
        c,
        "INSERT INTO erc8004_onchain_commitments (id, root_tx_hash, commitment_hash, chain, \
         first_hop_agent, routing_hash, amount, time_lock_until, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7::bigint * 0.000001, $8, 'pending', $9, $9)",
        &[
            &commitment.id,
            &n.root_tx.to_string(),
            &n.commitment_hash.to_string(),
            &n.chain.as_str(),
            &n.first_hop_agent,
            &n.routing_hash.to_string(),
            &n.amount.micros(),
            &ts(n.time_lock_until),
            &ts(now),
        ],
    )
    .await?;
    Ok(commitment)
}

/// Moves a commitment from `from` to `to` (setting the on-chain transaction when given).
pub(super) async fn transition<C: GenericClient>(
    c: &C,
    id: Uuid,
    from: CommitmentStatus,
    to: CommitmentStatus,
    onchain_tx_hash: Option<&Hash32>,
    now: Timestamp,
) -> Result<Commitment> {
    let current = query_opt(
        c,
        "SELECT status FROM erc8004_onchain_commitments WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?
    .ok_or(StoreError::NotFound {
        entity: "commitment",
    })?;
    let status = sql::commitment_status(get(&current, "status")?)?;
    if status != from {
        return Err(Rejection::commitment_state(status, from).into());
    }
    let row = query_opt(
        c,
        concat!(
            "UPDATE erc8004_onchain_commitments \
             SET status = $2, onchain_tx_hash = coalesce($3, onchain_tx_hash), updated_at = $4 \
             WHERE id = $1 RETURNING ",
            commitment_columns!()
        ),
        &[
            &id,
            &to.as_str(),
            &onchain_tx_hash.map(ToString::to_string),
            &ts(now),
        ],
    )
    .await?
    .ok_or(StoreError::NotFound {
        entity: "commitment",
    })?;
    sql::commitment(&row)
}

pub(super) async fn by_id<C: GenericClient>(c: &C, id: Uuid) -> Result<Option<Commitment>> {
    query_opt(
        c,
        concat!(
            "SELECT ",
            commitment_columns!(),
            " FROM erc8004_onchain_commitments WHERE id = $1"
        ),
        &[&id],
    )
    .await?
    .as_ref()
    .map(sql::commitment)
    .transpose()
}

/// Disputes the commitments whose first hop is `agent` (which just changed its endpoint),
/// still pending or confirmed, with the time lock running; slashes the agent per
/// `commitment_dispute_slash` for each, in creation order. The caller holds the agent's lock.
pub(super) async fn dispute_for_flip<C: GenericClient>(
    c: &C,
    agent: Uuid,
    now: Timestamp,
) -> Result<Vec<Commitment>> {
    let open = query(
        c,
        concat!(
            "SELECT ",
            commitment_columns!(),
            " FROM erc8004_onchain_commitments \
             WHERE first_hop_agent = $1 AND status IN ('pending', 'confirmed') \
               AND time_lock_until > $2 \
             ORDER BY created_at, id FOR UPDATE"
        ),
        &[&agent, &ts(now)],
    )
    .await?;
    if open.is_empty() {
        return Ok(Vec::new());
    }
    agents::lock_stakes(c, &[agent]).await?;
    let mut account = agents::account(c, agent, None, now)
        .await?
        .ok_or(StoreError::NotFound { entity: "agent" })?;
    let mut disputed = Vec::with_capacity(open.len());
    for row in &open {
        let mut commitment = sql::commitment(row)?;
        let slash = commitment_dispute_slash(commitment.commitment.amount, &account);
        let taken = account.apply_slash(slash);
        execute(
            c,
            "UPDATE erc8004_onchain_commitments SET status = 'disputed', updated_at = $2 \
             WHERE id = $1",
            &[&commitment.id, &ts(now)],
        )
        .await?;
        agents::slash(
            c,
            agent,
            taken,
            "commitment_dispute",
            Cause::Commitment(commitment.id),
            now,
        )
        .await?;
        commitment.status = CommitmentStatus::Disputed;
        disputed.push(commitment);
    }
    Ok(disputed)
}

pub(super) async fn record_mev<C: GenericClient>(
    c: &C,
    new: NewMevIncident,
    now: Timestamp,
) -> Result<MevIncident> {
    advisory_lock(c, &agent_key(new.attacker)).await?;
    agents::require(c, new.attacker).await?;
    if let Some(victim) = new.victim {
        agents::require(c, victim).await?;
    }
    agents::lock_stakes(c, &[new.attacker]).await?;
    let account = agents::account(c, new.attacker, None, now)
        .await?
        .ok_or(StoreError::NotFound { entity: "agent" })?;
    let incident = MevIncident {
        id: Uuid::new_v4(),
        slashed_amount: mev_slash(new.extracted_value, &account),
        incident: new,
        created_at: now,
    };
    let i = &incident.incident;
    execute(
        c,
        "INSERT INTO erc8004_mev_incidents (id, root_tx_hash, attack_type, attacker_agent_uuid, \
         victim_agent_uuid, extracted_value, block_number, tx_index, evidence_hash, \
         slashed_amount, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6::bigint * 0.000001, $7, $8, $9, \
                 $10::bigint * 0.000001, $11)",
        &[
            &incident.id,
            &i.root_tx.to_string(),
            &i.attack_type.as_str(),
            &i.attacker,
            &i.victim,
            &i.extracted_value.micros(),
            &to_i64(i.block_number, "block_number")?,
            &i64::from(i.tx_index),
            &i.evidence_hash.to_string(),
            &incident.slashed_amount.micros(),
            &ts(now),
        ],
    )
    .await?;
    agents::slash(
        c,
        i.attacker,
        incident.slashed_amount,
        "mev_incident",
        Cause::Incident(incident.id),
        now,
    )
    .await?;
    Ok(incident)
}

pub(super) async fn mev_summary<C: GenericClient>(c: &C) -> Result<Vec<MevSummaryRow>> {
    query(
        c,
        "SELECT attack_type, count(*) AS incidents, \
                (sum(extracted_value) * 1000000)::bigint AS extracted_value, \
                (sum(slashed_amount) * 1000000)::bigint AS slashed_amount \
         FROM erc8004_mev_incidents GROUP BY attack_type ORDER BY attack_type COLLATE \"C\"",
        &[],
    )
    .await?
    .iter()
    .map(|row| {
        Ok(MevSummaryRow {
            attack_type: sql::attack_type(get(row, "attack_type")?)?,
            incidents: get_u64(row, "incidents")?,
            extracted_value: get_usdc(row, "extracted_value")?,
            slashed_amount: get_usdc(row, "slashed_amount")?,
        })
    })
    .collect()
}
