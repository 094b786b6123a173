//! Agents, stakes, stake locks and the slash ledger.

use deadpool_postgres::GenericClient;
use kagami_core::{
    StakeAccount, Usdc,
    crypto::{Chain, EthAddress, Hash32, Timestamp, Uuid},
};

use super::sql::{
    self, advisory_lock, agent_columns, agent_key, execute, get_usdc, query, query_opt,
    slash_columns, to_i64, ts,
};
use crate::{Agent, AgentStatus, NewAgent, Rejection, Result, SlashRecord, StakeView, StoreError};

pub(super) async fn register<C: GenericClient>(
    c: &C,
    new: NewAgent,
    now: Timestamp,
) -> Result<Agent> {
    let agent = Agent {
        uuid: Uuid::new_v4(),
        agent_id: new.agent_id,
        chain: new.chain,
        registry_address: new.registry_address,
        owner_address: new.owner_address,
        token_uri: new.token_uri,
        registration_file: new.registration_file,
        status: AgentStatus::Active,
        created_at: now,
        updated_at: now,
    };
    execute(
        c,
        "INSERT INTO erc8004_agents (id, agent_id, chain, registry_address, owner_address, \
         token_uri, registration_file, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        &[
            &agent.uuid,
            &to_i64(agent.agent_id, "agent_id")?,
            &agent.chain.as_str(),
            &agent.registry_address.to_string(),
            &agent.owner_address.to_string(),
            &agent.token_uri,
            &agent.registration_file,
            &agent.status.as_str(),
            &ts(now),
        ],
    )
    .await?;
    execute(
        c,
        "INSERT INTO erc8004_agent_stakes (agent_uuid, staked, slashed, updated_at) \
         VALUES ($1, 0, 0, $2)",
        &[&agent.uuid, &ts(now)],
    )
    .await?;
    Ok(agent)
}

pub(super) async fn by_id<C: GenericClient>(c: &C, uuid: Uuid) -> Result<Option<Agent>> {
    query_opt(
        c,
        concat!(
            "SELECT ",
            agent_columns!(),
            " FROM erc8004_agents WHERE id = $1"
        ),
        &[&uuid],
    )
    .await?
    .as_ref()
    .map(sql::agent)
    .transpose()
}

pub(super) async fn by_registry<C: GenericClient>(
    c: &C,
    chain: &Chain,
    registry: &EthAddress,
    agent_id: u64,
) -> Result<Option<Agent>> {
    let Ok(agent_id) = i64::try_from(agent_id) else {
        return Ok(None);
    };
    query_opt(
        c,
        concat!(
            "SELECT ",
            agent_columns!(),
            " FROM erc8004_agents \
             WHERE chain = $1 AND registry_address = $2 AND agent_id = $3"
        ),
        &[&chain.as_str(), &registry.to_string(), &agent_id],
    )
    .await?
    .as_ref()
    .map(sql::agent)
    .transpose()
}

/// Whether the agent exists.
pub(super) async fn exists<C: GenericClient>(c: &C, uuid: Uuid) -> Result<bool> {
    Ok(
        query_opt(c, "SELECT 1 FROM erc8004_agents WHERE id = $1", &[&uuid])
            .await?
            .is_some(),
    )
}

/// Fails with `NotFound("agent")` unless the agent exists.
pub(super) async fn require<C: GenericClient>(c: &C, uuid: Uuid) -> Result<()> {
    if exists(c, uuid).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound { entity: "agent" })
    }
}

pub(super) async fn set_status<C: GenericClient>(
    c: &C,
    uuid: Uuid,
    status: AgentStatus,
    now: Timestamp,
) -> Result<Agent> {
    advisory_lock(c, &agent_key(uuid)).await?;
    query_opt(
        c,
        concat!(
            "UPDATE erc8004_agents SET status = $2, updated_at = $3 WHERE id = $1 RETURNING ",
            agent_columns!()
        ),
        &[&uuid, &status.as_str(), &ts(now)],
    )
    .await?
    .as_ref()
    .map(sql::agent)
    .transpose()?
    .ok_or(StoreError::NotFound { entity: "agent" })
}

pub(super) async fn set_stake<C: GenericClient>(
    c: &C,
    uuid: Uuid,
    staked: Usdc,
    now: Timestamp,
) -> Result<StakeView> {
    advisory_lock(c, &agent_key(uuid)).await?;
    lock_stakes(c, &[uuid]).await?;
    let account = account(c, uuid, None, now)
        .await?
        .ok_or(StoreError::NotFound { entity: "agent" })?;
    if staked < account.slashed {
        return Err(Rejection::StakeBelowSlashed {
            slashed: account.slashed,
        }
        .into());
    }
    execute(
        c,
        "UPDATE erc8004_agent_stakes SET staked = $2::bigint * 0.000001, updated_at = $3 \
         WHERE agent_uuid = $1",
        &[&uuid, &staked.micros(), &ts(now)],
    )
    .await?;
    Ok(StakeView {
        staked,
        slashed: account.slashed,
        locked: account.locked_elsewhere,
    })
}

/// The agent's stake at `now`; with `root`, the locks on that root are left out.
pub(super) async fn stake<C: GenericClient>(
    c: &C,
    uuid: Uuid,
    root: Option<&Hash32>,
    now: Timestamp,
) -> Result<Option<StakeView>> {
    Ok(account(c, uuid, root, now).await?.map(|a| StakeView {
        staked: a.staked,
        slashed: a.slashed,
        locked: a.locked_elsewhere,
    }))
}

/// The agent's stake account at `now`: its stake row plus its active locks, except those on
/// `root` when given (all of them otherwise). `None` for an unknown agent.
pub(super) async fn account<C: GenericClient>(
    c: &C,
    uuid: Uuid,
    root: Option<&Hash32>,
    now: Timestamp,
) -> Result<Option<StakeAccount>> {
    let root = root.map(ToString::to_string);
    let row = query_opt(
        c,
        "SELECT (s.staked * 1000000)::bigint AS staked, \
                (s.slashed * 1000000)::bigint AS slashed, \
                (SELECT coalesce(sum(u.amount), 0) * 1000000 \
                   FROM erc8004_stake_utilization u \
                  WHERE u.agent_uuid = s.agent_uuid \
                    AND u.released_at IS NULL AND u.expires_at > $2 \
                    AND u.root_tx_hash IS DISTINCT FROM $3)::bigint AS locked \
         FROM erc8004_agent_stakes s WHERE s.agent_uuid = $1",
        &[&uuid, &ts(now), &root],
    )
    .await?;
    row.map(|row| {
        Ok(StakeAccount {
            staked: get_usdc(&row, "staked")?,
            slashed: get_usdc(&row, "slashed")?,
            locked_elsewhere: get_usdc(&row, "locked")?,
        })
    })
    .transpose()
}

/// Locks the stake rows of `agents` (`FOR UPDATE`, in `agent_uuid` order so that concurrent
/// lockers cannot deadlock).
///
/// # Errors
/// `NotFound("agent")` when one of them has no stake row.
pub(super) async fn lock_stakes<C: GenericClient>(c: &C, agents: &[Uuid]) -> Result<()> {
    let mut wanted = agents.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let locked = query(
        c,
        "SELECT agent_uuid FROM erc8004_agent_stakes WHERE agent_uuid = ANY($1) \
         ORDER BY agent_uuid FOR UPDATE",
        &[&wanted],
    )
    .await?;
    if locked.len() == wanted.len() {
        Ok(())
    } else {
        Err(StoreError::NotFound { entity: "agent" })
    }
}

/// What a slash is for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Cause {
    /// A loop settlement.
    Settlement(Uuid),
    /// An MEV incident.
    Incident(Uuid),
    /// A disputed commitment.
    Commitment(Uuid),
}

/// Adds `amount` to the agent's `slashed` (its stake row must be locked) and writes the
/// ledger row; a zero amount changes nothing and writes no row.
pub(super) async fn slash<C: GenericClient>(
    c: &C,
    agent: Uuid,
    amount: Usdc,
    reason: &str,
    cause: Cause,
    now: Timestamp,
) -> Result<Option<SlashRecord>> {
    if amount == Usdc::ZERO {
        return Ok(None);
    }
    execute(
        c,
        "UPDATE erc8004_agent_stakes SET slashed = slashed + $2::bigint * 0.000001, \
         updated_at = $3 WHERE agent_uuid = $1",
        &[&agent, &amount.micros(), &ts(now)],
    )
    .await?;
    let (settlement_id, incident_id, commitment_id) = match cause {
        Cause::Settlement(id) => (Some(id), None, None),
        Cause::Incident(id) => (None, Some(id), None),
        Cause::Commitment(id) => (None, None, Some(id)),
    };
    let record = SlashRecord {
        id: Uuid::new_v4(),
        agent,
        amount,
        reason: reason.to_owned(),
        settlement_id,
        incident_id,
        commitment_id,
        created_at: now,
    };
    execute(
        c,
        "INSERT INTO erc8004_slashes (id, agent_uuid, amount, reason, settlement_id, \
         incident_id, commitment_id, created_at) \
         VALUES ($1, $2, $3::bigint * 0.000001, $4, $5, $6, $7, $8)",
        &[
            &record.id,
            &record.agent,
            &record.amount.micros(),
            &record.reason,
            &record.settlement_id,
            &record.incident_id,
            &record.commitment_id,
            &ts(now),
        ],
    )
    .await?;
    Ok(Some(record))
}

pub(super) async fn slashes_of<C: GenericClient>(c: &C, agent: Uuid) -> Result<Vec<SlashRecord>> {
    query(
        c,
        concat!(
            "SELECT ",
            slash_columns!(),
            " FROM erc8004_slashes WHERE agent_uuid = $1 ORDER BY created_at, seq"
        ),
        &[&agent],
    )
    .await?
    .iter()
    .map(sql::slash)
    .collect()
}

/// Locks `amount` of the agent's stake for `root` until `expires_at`.
pub(super) async fn lock_stake<C: GenericClient>(
    c: &C,
    agent: Uuid,
    root: &Hash32,
    amount: Usdc,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<()> {
    execute(
        c,
        "INSERT INTO erc8004_stake_utilization (id, agent_uuid, root_tx_hash, amount, \
         created_at, expires_at) VALUES ($1, $2, $3, $4::bigint * 0.000001, $5, $6)",
        &[
            &Uuid::new_v4(),
            &agent,
            &root.to_string(),
            &amount.micros(),
            &ts(now),
            &ts(expires_at),
        ],
    )
    .await?;
    Ok(())
}

/// Releases every active lock held for `root`.
pub(super) async fn release_root<C: GenericClient>(
    c: &C,
    root: &Hash32,
    now: Timestamp,
) -> Result<()> {
    execute(
        c,
        "UPDATE erc8004_stake_utilization SET released_at = $2 \
         WHERE root_tx_hash = $1 AND released_at IS NULL AND expires_at > $2",
        &[&root.to_string(), &ts(now)],
    )
    .await?;
    Ok(())
}
