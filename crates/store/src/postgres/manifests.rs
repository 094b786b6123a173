//! Manifests and their flips.

use deadpool_postgres::GenericClient;
use kagami_core::{
    Flip, ManifestRecord, Policy,
    crypto::{Hash32, Timestamp, Uuid},
    decide::flip_hash,
    manifest::check_publish,
};

use super::{
    agents, commitments,
    sql::{
        self, advisory_lock, agent_key, execute, flip_columns, manifest_columns, query, query_opt,
        to_i64, ts,
    },
};
use crate::{FlipRecord, NewManifest, PublishOutcome, Rejection, Result, StoreError};

pub(super) async fn publish<C: GenericClient>(
    c: &C,
    manifest: NewManifest,
    now: Timestamp,
    policy: &Policy,
) -> Result<PublishOutcome> {
    let record = manifest.record;
    advisory_lock(c, &agent_key(record.agent)).await?;
    agents::require(c, record.agent).await?;
    if let Some(existing) = by_hash(c, &record.hash).await? {
        return Ok(PublishOutcome {
            flip: flip_introducing(c, &existing.hash).await?,
            manifest: existing,
            replayed: true,
            disputed_commitments: Vec::new(),
        });
    }
    let all = of_agent(c, record.agent).await?;
    let replaced = check_publish(&record.to_message_fields(), &all, now, policy)
        .map_err(Rejection::Publish)?
        .cloned();
    let stored = ManifestRecord {
        id: Uuid::new_v4(),
        created_at: now,
        revoked_at: None,
        ..record
    };
    insert(c, &stored).await?;
    let Some(old) = replaced else {
        return Ok(PublishOutcome {
            manifest: stored,
            flip: None,
            replayed: false,
            disputed_commitments: Vec::new(),
        });
    };
    let flip = Flip::score(&old, &stored.endpoint, &stored.pubkey, now);
    let flip = FlipRecord {
        id: Uuid::new_v4(),
        agent: stored.agent,
        old_manifest: old.hash,
        new_manifest: stored.hash,
        flip_hash: flip_hash(&old.hash, &stored.hash),
        alerted: flip.is_suspicious(),
        flip,
        created_at: now,
    };
    insert_flip(c, &flip).await?;
    let disputed_commitments = if flip.flip.endpoint_changed {
        commitments::dispute_for_flip(c, stored.agent, now).await?
    } else {
        Vec::new()
    };
    Ok(PublishOutcome {
        manifest: stored,
        flip: Some(flip),
        replayed: false,
        disputed_commitments,
    })
}

async fn insert<C: GenericClient>(c: &C, m: &ManifestRecord) -> Result<()> {
    execute(
        c,
        "INSERT INTO erc8004_endpoint_manifests (id, agent_uuid, endpoint_uri, pubkey, nonce, \
         valid_from, valid_until, manifest_hash, signature, chain, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11)",
        &[
            &m.id,
            &m.agent,
            &m.endpoint.as_str(),
            &m.pubkey.as_str(),
            &to_i64(m.nonce, "nonce")?,
            &ts(m.valid_from),
            &ts(m.valid_until),
            &m.hash.to_string(),
            &m.signature.to_string(),
            &m.chain.as_str(),
            &ts(m.created_at),
        ],
    )
    .await?;
    Ok(())
}

async fn insert_flip<C: GenericClient>(c: &C, f: &FlipRecord) -> Result<()> {
    execute(
        c,
        "INSERT INTO erc8004_manifest_flips (id, agent_uuid, old_manifest_hash, \
         new_manifest_hash, time_delta_seconds, endpoint_changed, pubkey_changed, flip_hash, \
         suspicion_score, alerted, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &f.id,
            &f.agent,
            &f.old_manifest.to_string(),
            &f.new_manifest.to_string(),
            &f.flip.time_delta_seconds,
            &f.flip.endpoint_changed,
            &f.flip.pubkey_changed,
            &f.flip_hash.to_string(),
            &i16::from(f.flip.suspicion_score),
            &f.alerted,
            &ts(f.created_at),
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn revoke<C: GenericClient>(
    c: &C,
    agent: Uuid,
    hash: &Hash32,
    now: Timestamp,
) -> Result<ManifestRecord> {
    advisory_lock(c, &agent_key(agent)).await?;
    let row = query_opt(
        c,
        concat!(
            "UPDATE erc8004_endpoint_manifests \
             SET status = 'revoked', revoked_at = coalesce(revoked_at, $3) \
             WHERE agent_uuid = $1 AND manifest_hash = $2 RETURNING ",
            manifest_columns!()
        ),
        &[&agent, &hash.to_string(), &ts(now)],
    )
    .await?
    .ok_or(StoreError::NotFound { entity: "manifest" })?;
    sql::manifest(&row)
}

pub(super) async fn by_hash<C: GenericClient>(
    c: &C,
    hash: &Hash32,
) -> Result<Option<ManifestRecord>> {
    query_opt(
        c,
        concat!(
            "SELECT ",
            manifest_columns!(),
            " FROM erc8004_endpoint_manifests WHERE manifest_hash = $1"
        ),
        &[&hash.to_string()],
    )
    .await?
    .as_ref()
    .map(sql::manifest)
    .transpose()
}

pub(super) async fn of_agent<C: GenericClient>(c: &C, agent: Uuid) -> Result<Vec<ManifestRecord>> {
    query(
        c,
        concat!(
            "SELECT ",
            manifest_columns!(),
            " FROM erc8004_endpoint_manifests WHERE agent_uuid = $1 ORDER BY nonce DESC"
        ),
        &[&agent],
    )
    .await?
    .iter()
    .map(sql::manifest)
    .collect()
}

/// The flip recorded when the manifest `new` was published, if it replaced one.
async fn flip_introducing<C: GenericClient>(c: &C, new: &Hash32) -> Result<Option<FlipRecord>> {
    query_opt(
        c,
        concat!(
            "SELECT ",
            flip_columns!(),
            " FROM erc8004_manifest_flips WHERE new_manifest_hash = $1"
        ),
        &[&new.to_string()],
    )
    .await?
    .as_ref()
    .map(sql::flip)
    .transpose()
}

pub(super) async fn flips_of<C: GenericClient>(c: &C, agent: Uuid) -> Result<Vec<FlipRecord>> {
    query(
        c,
        concat!(
            "SELECT ",
            flip_columns!(),
            " FROM erc8004_manifest_flips WHERE agent_uuid = $1 \
             ORDER BY created_at DESC, seq DESC"
        ),
        &[&agent],
    )
    .await?
    .iter()
    .map(sql::flip)
    .collect()
}
