//! Agents and their stake.

use kagami_core::{
    AgentStatus, StakeAccount, Usdc,
    crypto::{Chain, EthAddress, Hash32, Timestamp, Uuid},
};

use super::commitments::{dispute_manifests, disputes_due, settle_due_disputes};
use crate::{
    Agent, AgentDetails, Entity, NewAgent, Rejection, Result, SlashRecord, StoreError, tx::Tx,
};

/// The agent, or `NotFound(Agent)`.
pub(crate) async fn require_agent<T: Tx>(tx: &T, uuid: Uuid) -> Result<Agent> {
    tx.agent(uuid)
        .await?
        .ok_or(StoreError::NotFound(Entity::Agent))
}

/// The registered agents `uuids`, in that order, read in one lookup.
pub(crate) async fn require_agents<T: Tx, const N: usize>(
    tx: &T,
    uuids: [Uuid; N],
) -> Result<[Agent; N]> {
    let found = tx.agents(&uuids).await?;
    let ordered = uuids
        .iter()
        .map(|uuid| {
            found
                .iter()
                .find(|a| a.uuid == *uuid)
                .cloned()
                .ok_or(StoreError::NotFound(Entity::Agent))
        })
        .collect::<Result<Vec<_>>>()?;
    ordered
        .try_into()
        .map_err(|_| StoreError::internal("one agent per id"))
}

/// The stake account of one agent; with `for_update` its row stays locked.
pub(crate) async fn stake_account<T: Tx>(
    tx: &T,
    uuid: Uuid,
    now: Timestamp,
    for_update: bool,
) -> Result<Option<StakeAccount>> {
    Ok(tx
        .stake_accounts(&[uuid], None, now, for_update)
        .await?
        .pop()
        .map(|(_, account)| account))
}

pub(crate) async fn register<T: Tx>(tx: &T, new: NewAgent, now: Timestamp) -> Result<Agent> {
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
    tx.insert_agent(&agent).await?;
    Ok(agent)
}

pub(crate) async fn get<T: Tx>(tx: &T, uuid: Uuid) -> Result<Option<Agent>> {
    tx.agent(uuid).await
}

pub(crate) async fn by_registry<T: Tx>(
    tx: &T,
    chain: Chain,
    registry: EthAddress,
    agent_id: u64,
) -> Result<Option<Agent>> {
    tx.agent_by_registry(&chain, &registry, agent_id).await
}

pub(crate) async fn details<T: Tx>(
    tx: &T,
    uuid: Uuid,
    now: Timestamp,
) -> Result<Option<AgentDetails>> {
    let Some(agent) = tx.agent(uuid).await? else {
        return Ok(None);
    };
    let stake = stake_account(tx, uuid, now, false)
        .await?
        .unwrap_or_default();
    let manifests = tx.manifests_in_force(uuid, now, None).await?;
    let open = tx.open_commitments_of(uuid, false).await?;
    let lock_manifests = dispute_manifests(tx, uuid, &open, now).await?;
    let disputes_due = !disputes_due(open, &lock_manifests, now).is_empty();
    Ok(Some(AgentDetails {
        agent,
        stake,
        manifests,
        disputes_due,
    }))
}

pub(crate) async fn set_status<T: Tx>(
    tx: &T,
    uuid: Uuid,
    status: AgentStatus,
    now: Timestamp,
) -> Result<Agent> {
    tx.lock_agents(&[uuid]).await?;
    let mut agent = require_agent(tx, uuid).await?;
    tx.set_agent_status(uuid, status, now).await?;
    settle_due_disputes(tx, uuid, now).await?;
    agent.status = status;
    agent.updated_at = now;
    Ok(agent)
}

pub(crate) async fn set_stake<T: Tx>(
    tx: &T,
    uuid: Uuid,
    staked: Usdc,
    now: Timestamp,
) -> Result<StakeAccount> {
    tx.lock_agents(&[uuid]).await?;
    settle_due_disputes(tx, uuid, now).await?;
    let account = stake_account(tx, uuid, now, true)
        .await?
        .ok_or(StoreError::NotFound(Entity::Agent))?;
    let updated = account
        .with_staked(staked)
        .map_err(Rejection::StakeBelowSlashed)?;
    tx.set_staked(uuid, staked, now).await?;
    Ok(updated)
}

pub(crate) async fn stake<T: Tx>(
    tx: &T,
    uuid: Uuid,
    now: Timestamp,
) -> Result<Option<StakeAccount>> {
    stake_account(tx, uuid, now, false).await
}

pub(crate) async fn stake_for_root<T: Tx>(
    tx: &T,
    uuid: Uuid,
    root: Hash32,
    now: Timestamp,
) -> Result<Option<StakeAccount>> {
    Ok(tx
        .stake_accounts(&[uuid], Some(&root), now, false)
        .await?
        .pop()
        .map(|(_, account)| account))
}

pub(crate) async fn slashes<T: Tx>(tx: &T, uuid: Uuid) -> Result<Vec<SlashRecord>> {
    tx.slashes_of_agent(uuid).await
}
