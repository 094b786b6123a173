//! Manifests: publish, revoke, and their reads.

use kagami_core::{
    AgentStatus, Flip, ManifestRecord, ManifestStatus, Policy,
    crypto::{Hash32, ManifestRevocation, Signable, Signature, Timestamp, Uuid},
    decide::flip_hash,
    manifest::{check_publish, status_at},
    wire::SignedManifest,
};

use super::{
    agents::require_agent,
    commitments::settle_due_disputes,
    log::{self, Entry},
};
use crate::{
    Entity, FlipMetrics, FlipRecord, Page, PublishOutcome, Rejection, Result, StoreError, tx::Tx,
};

pub(crate) async fn publish<T: Tx>(
    tx: &T,
    SignedManifest { manifest, endpoint }: SignedManifest,
    now: Timestamp,
    policy: Policy,
) -> Result<PublishOutcome> {
    let fields = manifest.value();
    tx.lock_agents(&[fields.agent]).await?;
    let agent = require_agent(tx, fields.agent).await?;
    if agent.chain != fields.chain {
        return Err(Rejection::ChainMismatch {
            expected: agent.chain,
        }
        .into());
    }
    if agent.status != AgentStatus::Active {
        return Err(Rejection::AgentNotActive {
            status: agent.status,
        }
        .into());
    }
    manifest
        .check_signer(&[agent.owner_address])
        .map_err(|e| Rejection::signature("manifest", e))?;
    // What the decision reads: never the agent's expired history.
    let mut all = tx
        .manifests_for_publish(agent.uuid, fields.nonce, now)
        .await?;
    if let Some(existing) = all.iter().find(|m| m.hash == manifest.id()) {
        return Ok(PublishOutcome {
            flip: tx.flip_introducing(&existing.hash).await?,
            status: status_at(existing, &all, now),
            manifest: existing.clone(),
            replayed: true,
            disputed_commitments: Vec::new(),
        });
    }
    let replaced = check_publish(fields, &all, now, &policy)
        .map_err(Rejection::Publish)?
        .cloned();
    let record = ManifestRecord {
        id: Uuid::new_v4(),
        hash: manifest.id(),
        agent: agent.uuid,
        chain: fields.chain.clone(),
        endpoint,
        pubkey: fields.pubkey.clone(),
        nonce: fields.nonce,
        valid_from: fields.valid_from,
        valid_until: fields.valid_until,
        signature: *manifest.signature(),
        created_at: now,
        revoked_at: None,
    };
    tx.insert_manifest(&record).await?;
    log::append(tx, Entry::Manifest(&record), now).await?;
    all.push(record.clone());
    let status = status_at(&record, &all, now);
    let flip = match replaced {
        Some(old) => {
            let scored = Flip::score(&old, &record.endpoint, &record.pubkey, now);
            let flip = FlipRecord {
                id: Uuid::new_v4(),
                agent: agent.uuid,
                old_manifest: old.hash,
                new_manifest: record.hash,
                flip_hash: flip_hash(&old.hash, &record.hash),
                alerted: scored.is_suspicious(),
                flip: scored,
                created_at: now,
            };
            tx.insert_flip(&flip).await?;
            Some(flip)
        }
        None => None,
    };
    // A manifest in force from now on that routes elsewhere breaks the commitments whose lock
    // is running; one taking effect later breaks them when it does.
    let disputed_commitments = settle_due_disputes(tx, agent.uuid, now).await?;
    Ok(PublishOutcome {
        manifest: record,
        status,
        flip,
        replayed: false,
        disputed_commitments,
    })
}

pub(crate) async fn revoke<T: Tx>(
    tx: &T,
    agent: Uuid,
    manifest: Hash32,
    signature: Signature,
    now: Timestamp,
) -> Result<(ManifestRecord, ManifestStatus)> {
    tx.lock_agents(&[agent]).await?;
    let owner = require_agent(tx, agent).await?.owner_address;
    let mut target = tx
        .manifest_by_hash(&manifest)
        .await?
        .filter(|m| m.agent == agent)
        .ok_or(StoreError::NotFound(Entity::Manifest))?;
    let message = ManifestRevocation {
        chain: target.chain.clone(),
        agent,
        manifest,
    }
    .message();
    message
        .verify(&signature, &owner)
        .map_err(|e| Rejection::signature("revocation", e))?;
    if target.revoked_at.is_none() {
        tx.set_manifest_revoked(target.id, now).await?;
        target.revoked_at = Some(now);
        let revocation = Entry::Revocation {
            manifest: &target,
            signature: &signature,
        };
        log::append(tx, revocation, now).await?;
        // Revoking can put an older manifest, routing elsewhere, back in force.
        settle_due_disputes(tx, agent, now).await?;
    }
    // Its status depends on it and on the manifest in force now: not on the history.
    let in_force = tx.manifests_in_force(agent, now, Some(&manifest)).await?;
    let status = status_at(&target, &in_force, now);
    Ok((target, status))
}

pub(crate) async fn by_hash<T: Tx>(tx: &T, hash: Hash32) -> Result<Option<ManifestRecord>> {
    tx.manifest_by_hash(&hash).await
}

pub(crate) async fn with_status<T: Tx>(
    tx: &T,
    hash: Hash32,
    now: Timestamp,
) -> Result<Option<(ManifestRecord, ManifestStatus)>> {
    let Some(manifest) = tx.manifest_by_hash(&hash).await? else {
        return Ok(None);
    };
    let in_force = tx.manifests_in_force(manifest.agent, now, None).await?;
    let status = status_at(&manifest, &in_force, now);
    Ok(Some((manifest, status)))
}

pub(crate) async fn page<T: Tx>(
    tx: &T,
    agent: Uuid,
    before_nonce: Option<u64>,
    limit: u32,
    now: Timestamp,
) -> Result<Page<(ManifestRecord, ManifestStatus)>> {
    require_agent(tx, agent).await?;
    let page = Page::of(
        tx.manifests_page(agent, before_nonce, limit.saturating_add(1))
            .await?,
        limit,
    );
    // A status depends on the manifest and the one in force, never on the rest of the history.
    let in_force = tx.manifests_in_force(agent, now, None).await?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|m| {
                let status = status_at(&m, &in_force, now);
                (m, status)
            })
            .collect(),
        more: page.more,
    })
}

pub(crate) async fn of<T: Tx>(tx: &T, agent: Uuid) -> Result<Vec<ManifestRecord>> {
    tx.manifests_of(agent).await
}

pub(crate) async fn of_known_agent<T: Tx>(tx: &T, agent: Uuid) -> Result<Vec<ManifestRecord>> {
    require_agent(tx, agent).await?;
    tx.manifests_of(agent).await
}

pub(crate) async fn flips<T: Tx>(tx: &T, agent: Uuid) -> Result<Vec<FlipRecord>> {
    tx.flips_of(agent).await
}

pub(crate) async fn metrics<T: Tx>(
    tx: &T,
    agent: Uuid,
    now: Timestamp,
) -> Result<(FlipMetrics, Timestamp)> {
    tx.flip_metrics(agent, now).await
}

pub(crate) async fn agent_metrics<T: Tx>(
    tx: &T,
    agent: Uuid,
    now: Timestamp,
) -> Result<(FlipMetrics, Timestamp)> {
    require_agent(tx, agent).await?;
    tx.flip_metrics(agent, now).await
}

pub(crate) async fn refresh_metrics<T: Tx>(tx: &T) -> Result<()> {
    tx.refresh_flip_metrics().await
}
