//! The write use cases, each run inside one `BEGIN IMMEDIATE` transaction by the caller
//! (`SqliteStore::write`): the single writer connection serializes them, so the state loaded
//! here cannot change before the transaction commits. Any error returned rolls it back.

use kagami_core::{
    DetectedLoop, ForwardGraph, ManifestRecord, Policy, RecordDecision, StakeAccount, Usdc,
    crypto::{EthAddress, Hash32, Timestamp, Uuid},
    decide, manifest, settlement,
};
use rusqlite::{Connection, params};

use super::{
    classify::Db,
    rows::{self, kind_name, to_i64},
};
use crate::{
    Agent, AgentStatus, ApiKeyRecord, Commitment, CommitmentStatus, FlipRecord, MevIncident,
    NewAgent, NewCommitment, NewMevIncident, NewReceipt, PublishOutcome, ReceiptRecord,
    RecordOutcome, Rejection, Result, Role, Settlement, SettlementStatus, SlashRecord, StakeView,
    StoreError,
};

const fn not_found(entity: &'static str) -> StoreError {
    StoreError::NotFound { entity }
}

// ---- agents and stakes ----------------------------------------------------------------------

pub(super) fn register_agent(conn: &Connection, new: NewAgent, now: Timestamp) -> Result<Agent> {
    let uuid = Uuid::new_v4();
    let registration = new
        .registration_file
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(StoreError::internal)?;
    conn.execute(
        "INSERT INTO erc8004_agents (id, agent_id, chain, registry_address, owner_address, \
             token_uri, registration_file, status, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        params![
            uuid.to_string(),
            to_i64(new.agent_id)?,
            new.chain.as_str(),
            new.registry_address.to_string(),
            new.owner_address.to_string(),
            new.token_uri,
            registration,
            AgentStatus::Active.as_str(),
            now.unix(),
        ],
    )
    .db()?;
    conn.execute(
        "INSERT INTO erc8004_agent_stakes (agent_uuid, staked, slashed, updated_at) \
         VALUES (?1, 0, 0, ?2)",
        params![uuid.to_string(), now.unix()],
    )
    .db()?;
    Ok(Agent {
        uuid,
        agent_id: new.agent_id,
        chain: new.chain,
        registry_address: new.registry_address,
        owner_address: new.owner_address,
        token_uri: new.token_uri,
        registration_file: new.registration_file,
        status: AgentStatus::Active,
        created_at: now,
        updated_at: now,
    })
}

pub(super) fn set_agent_status(
    conn: &Connection,
    uuid: Uuid,
    status: AgentStatus,
    now: Timestamp,
) -> Result<Agent> {
    let changed = conn
        .execute(
            "UPDATE erc8004_agents SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![uuid.to_string(), status.as_str(), now.unix()],
        )
        .db()?;
    if changed == 0 {
        return Err(not_found("agent"));
    }
    rows::agent(conn, uuid)?.ok_or(not_found("agent"))
}

pub(super) fn set_stake(
    conn: &Connection,
    uuid: Uuid,
    staked: Usdc,
    now: Timestamp,
) -> Result<StakeView> {
    let view = rows::stake_view(conn, uuid, now, None)?.ok_or(not_found("agent"))?;
    if staked < view.slashed {
        return Err(Rejection::StakeBelowSlashed {
            slashed: view.slashed,
        }
        .into());
    }
    conn.execute(
        "UPDATE erc8004_agent_stakes SET staked = ?2, updated_at = ?3 WHERE agent_uuid = ?1",
        params![uuid.to_string(), staked.micros(), now.unix()],
    )
    .db()?;
    Ok(StakeView { staked, ..view })
}

/// What a ledger row is tied to.
#[derive(Debug, Clone, Copy)]
enum SlashCause {
    Settlement(Uuid),
    Incident(Uuid),
    Commitment(Uuid),
}

/// Adds `amount` to the agent's `slashed` and writes its ledger row. A zero amount changes
/// nothing and writes no row.
fn slash(
    conn: &Connection,
    agent: Uuid,
    amount: Usdc,
    reason: &str,
    cause: SlashCause,
    now: Timestamp,
) -> Result<Option<SlashRecord>> {
    if amount == Usdc::ZERO {
        return Ok(None);
    }
    let changed = conn
        .execute(
            "UPDATE erc8004_agent_stakes SET slashed = slashed + ?2, updated_at = ?3 \
             WHERE agent_uuid = ?1",
            params![agent.to_string(), amount.micros(), now.unix()],
        )
        .db()?;
    if changed == 0 {
        return Err(not_found("agent"));
    }
    let (settlement_id, incident_id, commitment_id) = match cause {
        SlashCause::Settlement(id) => (Some(id), None, None),
        SlashCause::Incident(id) => (None, Some(id), None),
        SlashCause::Commitment(id) => (None, None, Some(id)),
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
    conn.execute(
        "INSERT INTO erc8004_slashes (id, agent_uuid, amount, reason, settlement_id, \
             incident_id, commitment_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            record.id.to_string(),
            agent.to_string(),
            amount.micros(),
            record.reason,
            settlement_id.map(|id| id.to_string()),
            incident_id.map(|id| id.to_string()),
            commitment_id.map(|id| id.to_string()),
            now.unix(),
        ],
    )
    .db()?;
    Ok(Some(record))
}

// ---- manifests ------------------------------------------------------------------------------

pub(super) fn publish_manifest(
    conn: &Connection,
    new: ManifestRecord,
    now: Timestamp,
    policy: &Policy,
) -> Result<PublishOutcome> {
    let agent = new.agent;
    if !rows::agent_exists(conn, agent)? {
        return Err(not_found("agent"));
    }
    if let Some(stored) = rows::manifest_by_hash(conn, &new.hash)? {
        let flip = rows::flip_to(conn, &stored.hash)?;
        return Ok(PublishOutcome {
            manifest: stored,
            flip,
            replayed: true,
            disputed_commitments: Vec::new(),
        });
    }
    let existing = rows::manifests_of(conn, agent)?;
    let replaced = manifest::check_publish(&new.to_message_fields(), &existing, now, policy)
        .map_err(Rejection::Publish)?;

    let record = ManifestRecord {
        id: Uuid::new_v4(),
        created_at: now,
        revoked_at: None,
        ..new
    };
    conn.execute(
        "INSERT INTO erc8004_endpoint_manifests (id, agent_uuid, endpoint_uri, pubkey, nonce, \
             valid_from, valid_until, manifest_hash, signature, chain, status, created_at, \
             revoked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'active', ?11, NULL)",
        params![
            record.id.to_string(),
            agent.to_string(),
            record.endpoint.as_str(),
            record.pubkey.as_str(),
            to_i64(record.nonce)?,
            record.valid_from.unix(),
            record.valid_until.unix(),
            record.hash.to_string(),
            record.signature.to_string(),
            record.chain.as_str(),
            now.unix(),
        ],
    )
    .db()?;

    let Some(old) = replaced else {
        return Ok(PublishOutcome {
            manifest: record,
            flip: None,
            replayed: false,
            disputed_commitments: Vec::new(),
        });
    };
    let flip = kagami_core::Flip::score(old, &record.endpoint, &record.pubkey, now);
    let flip_record = FlipRecord {
        id: Uuid::new_v4(),
        agent,
        old_manifest: old.hash,
        new_manifest: record.hash,
        flip,
        flip_hash: decide::flip_hash(&old.hash, &record.hash),
        alerted: flip.is_suspicious(),
        created_at: now,
    };
    conn.execute(
        "INSERT INTO erc8004_manifest_flips (id, agent_uuid, old_manifest_hash, \
             new_manifest_hash, time_delta_seconds, endpoint_changed, pubkey_changed, flip_hash, \
             suspicion_score, alerted, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            flip_record.id.to_string(),
            agent.to_string(),
            flip_record.old_manifest.to_string(),
            flip_record.new_manifest.to_string(),
            flip.time_delta_seconds,
            flip.endpoint_changed,
            flip.pubkey_changed,
            flip_record.flip_hash.to_string(),
            i64::from(flip.suspicion_score),
            flip_record.alerted,
            now.unix(),
        ],
    )
    .db()?;

    let disputed_commitments = if flip.endpoint_changed {
        dispute_commitments(conn, agent, now)?
    } else {
        Vec::new()
    };
    Ok(PublishOutcome {
        manifest: record,
        flip: Some(flip_record),
        replayed: false,
        disputed_commitments,
    })
}

/// Disputes the commitments whose first hop `agent` flipped its endpoint during their time
/// lock, slashing it per commitment on its stake as each previous slash left it.
fn dispute_commitments(conn: &Connection, agent: Uuid, now: Timestamp) -> Result<Vec<Commitment>> {
    let mut commitments = rows::disputable_commitments(conn, agent, now)?;
    if commitments.is_empty() {
        return Ok(commitments);
    }
    let mut account = rows::stake_account(conn, agent, now, None)?.ok_or(not_found("agent"))?;
    for commitment in &mut commitments {
        let amount = decide::commitment_dispute_slash(commitment.commitment.amount, &account);
        let taken = account.apply_slash(amount);
        conn.execute(
            "UPDATE erc8004_onchain_commitments SET status = 'disputed', updated_at = ?2 \
             WHERE id = ?1",
            params![commitment.id.to_string(), now.unix()],
        )
        .db()?;
        commitment.status = CommitmentStatus::Disputed;
        slash(
            conn,
            agent,
            taken,
            "commitment_dispute",
            SlashCause::Commitment(commitment.id),
            now,
        )?;
    }
    Ok(commitments)
}

pub(super) fn revoke_manifest(
    conn: &Connection,
    agent: Uuid,
    hash: &Hash32,
    now: Timestamp,
) -> Result<ManifestRecord> {
    let mut record = rows::manifest_by_hash(conn, hash)?
        .filter(|m| m.agent == agent)
        .ok_or(not_found("manifest"))?;
    if record.revoked_at.is_none() {
        conn.execute(
            "UPDATE erc8004_endpoint_manifests SET status = 'revoked', revoked_at = ?2 \
             WHERE id = ?1",
            params![record.id.to_string(), now.unix()],
        )
        .db()?;
        record.revoked_at = Some(now);
    }
    Ok(record)
}

// ---- forwards -------------------------------------------------------------------------------

/// A receipt's agents and cited manifest must exist.
fn check_receipt_references(conn: &Connection, receipt: &NewReceipt) -> Result<()> {
    if !rows::agent_exists(conn, receipt.source)? || !rows::agent_exists(conn, receipt.dest)? {
        return Err(not_found("agent"));
    }
    if !rows::manifest_exists(conn, receipt.manifest_id)? {
        return Err(not_found("manifest"));
    }
    Ok(())
}

/// Stores a receipt, valid or invalidated for `invalid_reason`.
fn insert_receipt(
    conn: &Connection,
    receipt: NewReceipt,
    invalid_reason: Option<&str>,
    now: Timestamp,
) -> Result<ReceiptRecord> {
    let record = ReceiptRecord::new(receipt, invalid_reason, now);
    let r = &record.receipt;
    conn.execute(
        "INSERT INTO erc8004_forward_receipts (id, root_tx_hash, hop, source_agent_uuid, \
             dest_agent_uuid, manifest_id, manifest_hash, next_hop_hash, receipt_nonce, \
             receipt_hash, signature, chain, is_valid, invalidated_at, invalidation_reason, \
             hop_irrational, computational_cost, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        params![
            record.id.to_string(),
            r.root_tx.to_string(),
            i64::from(r.hop),
            r.source.to_string(),
            r.dest.to_string(),
            r.manifest_id.to_string(),
            r.manifest_hash.to_string(),
            r.next_hop.map(|h| h.to_string()),
            to_i64(r.nonce)?,
            r.receipt_hash.to_string(),
            r.signature.to_string(),
            r.chain.as_str(),
            record.is_valid,
            record.invalidated_at.map(|t| t.unix()),
            record.invalidation_reason,
            r.hop_irrational,
            r.computational_cost.micros(),
            now.unix(),
        ],
    )
    .db()?;
    Ok(record)
}

/// Invalidates the still-valid receipts of `root` among `hashes`.
fn invalidate_receipts(
    conn: &Connection,
    root: &Hash32,
    hashes: &[Hash32],
    reason: &str,
    now: Timestamp,
) -> Result<()> {
    let mut stmt = conn
        .prepare_cached(
            "UPDATE erc8004_forward_receipts \
             SET is_valid = 0, invalidated_at = ?3, invalidation_reason = ?4 \
             WHERE root_tx_hash = ?1 AND receipt_hash = ?2 AND is_valid = 1",
        )
        .db()?;
    for hash in hashes {
        stmt.execute(params![
            root.to_string(),
            hash.to_string(),
            now.unix(),
            reason
        ])
        .db()?;
    }
    Ok(())
}

pub(super) fn record_receipt(
    conn: &Connection,
    receipt: NewReceipt,
    now: Timestamp,
    policy: &Policy,
) -> Result<RecordOutcome> {
    if let Some(stored) = rows::receipt_by_hash(conn, &receipt.receipt_hash)? {
        return Ok(RecordOutcome::Recorded {
            receipt: stored,
            replayed: true,
        });
    }
    if rows::receipt_nonce_used(conn, receipt.dest, receipt.nonce)? {
        return Err(StoreError::Conflict {
            constraint: "uq_receipts_dest_nonce".to_owned(),
        });
    }
    let root = receipt.root_tx;
    if let Some(settlement_id) = rows::settlement_id_of(conn, &root)? {
        return Err(Rejection::AlreadySettled { settlement_id }.into());
    }
    check_receipt_references(conn, &receipt)?;

    let graph = ForwardGraph::new(root, rows::valid_edges(conn, &root)?);
    let account =
        rows::stake_account(conn, receipt.dest, now, Some(&root))?.ok_or(not_found("agent"))?;
    let decision = decide::decide_record(&graph, &receipt.edge(), &account, policy)
        .map_err(Rejection::Record)?;
    match decision {
        RecordDecision::Accept { lock } => {
            let dest = receipt.dest;
            let stored = insert_receipt(conn, receipt, None, now)?;
            conn.execute(
                "INSERT INTO erc8004_stake_utilization (id, agent_uuid, root_tx_hash, amount, \
                     created_at, expires_at, released_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)",
                params![
                    Uuid::new_v4().to_string(),
                    dest.to_string(),
                    root.to_string(),
                    lock.micros(),
                    now.unix(),
                    now.add_seconds(policy.stake_lock_seconds).unix(),
                ],
            )
            .db()?;
            Ok(RecordOutcome::Recorded {
                receipt: stored,
                replayed: false,
            })
        }
        RecordDecision::Settle(detected) => {
            let reason = detected.kind.as_str();
            let stored = insert_receipt(conn, receipt, Some(reason), now)?;
            invalidate_receipts(conn, &root, &detected.receipts, reason, now)?;
            let (settlement, slashes) = settle_loop(conn, &root, &detected, None, now)?;
            Ok(RecordOutcome::Settled {
                receipt: stored,
                settlement,
                slashes,
                invalidated: detected.receipts,
            })
        }
    }
}

pub(super) fn report_cycle(
    conn: &Connection,
    root: &Hash32,
    reporter: &EthAddress,
    evidence: Vec<NewReceipt>,
    now: Timestamp,
) -> Result<(Settlement, Vec<SlashRecord>)> {
    if let Some(settlement_id) = rows::settlement_id_of(conn, root)? {
        return Err(Rejection::AlreadySettled { settlement_id }.into());
    }
    // The evidence not stored yet, each receipt once; evidence of another root cannot be
    // part of this root's loop and is ignored.
    let mut fresh: Vec<NewReceipt> = Vec::with_capacity(evidence.len());
    for receipt in evidence {
        let duplicate = fresh.iter().any(|f| f.receipt_hash == receipt.receipt_hash);
        if receipt.root_tx == *root
            && !duplicate
            && rows::receipt_by_hash(conn, &receipt.receipt_hash)?.is_none()
        {
            fresh.push(receipt);
        }
    }
    let mut edges = rows::valid_edges(conn, root)?;
    edges.extend(fresh.iter().map(NewReceipt::edge));
    let detected = DetectedLoop::find(&ForwardGraph::new(*root, edges)).ok_or(Rejection::NoLoop)?;

    let reason = detected.kind.as_str();
    for receipt in fresh {
        check_receipt_references(conn, &receipt)?;
        let invalid = detected.receipts.contains(&receipt.receipt_hash);
        insert_receipt(conn, receipt, invalid.then_some(reason), now)?;
    }
    invalidate_receipts(conn, root, &detected.receipts, reason, now)?;
    settle_loop(conn, root, &detected, Some(*reporter), now)
}

/// Settles a detected loop of `root`: slashes every loop agent per the core's plan (on its
/// stake with its locks on other roots), records the settlement and its ledger rows, and
/// releases the root's active stake locks.
fn settle_loop(
    conn: &Connection,
    root: &Hash32,
    detected: &DetectedLoop,
    reporter: Option<EthAddress>,
    now: Timestamp,
) -> Result<(Settlement, Vec<SlashRecord>)> {
    let accounts = detected
        .agents
        .iter()
        .map(|agent| rows::stake_account(conn, *agent, now, Some(root))?.ok_or(not_found("agent")))
        .collect::<Result<Vec<StakeAccount>>>()?;
    let plan = decide::plan_loop_settlement(detected, &accounts, reporter.is_some());

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
    conn.execute(
        "INSERT INTO erc8004_settlements (id, root_tx_hash, kind, cycle_agents, depth, \
             total_slashed, reporter_address, bounty, status, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'provisional', ?9)",
        params![
            settlement.id.to_string(),
            root.to_string(),
            kind_name(settlement.kind),
            serde_json::to_string(&settlement.cycle_agents).map_err(StoreError::internal)?,
            i64::from(settlement.depth),
            settlement.total_slashed.micros(),
            reporter.map(|r| r.to_string()),
            settlement.bounty.map(Usdc::micros),
            now.unix(),
        ],
    )
    .db()?;

    let reason = detected.kind.as_str();
    let mut slashes = Vec::with_capacity(plan.slashes.len());
    for planned in &plan.slashes {
        slashes.extend(slash(
            conn,
            planned.agent,
            planned.amount,
            reason,
            SlashCause::Settlement(settlement.id),
            now,
        )?);
    }
    conn.execute(
        "UPDATE erc8004_stake_utilization SET released_at = ?2 \
         WHERE root_tx_hash = ?1 AND released_at IS NULL AND expires_at > ?2",
        params![root.to_string(), now.unix()],
    )
    .db()?;
    Ok((settlement, slashes))
}

// ---- commitments and MEV --------------------------------------------------------------------

pub(super) fn create_commitment(
    conn: &Connection,
    new: NewCommitment,
    now: Timestamp,
) -> Result<Commitment> {
    if !rows::agent_exists(conn, new.first_hop_agent)? {
        return Err(not_found("agent"));
    }
    let id = Uuid::new_v4();
    conn.execute(
        "INSERT INTO erc8004_onchain_commitments (id, root_tx_hash, commitment_hash, chain, \
             first_hop_agent, routing_hash, amount, time_lock_until, status, onchain_tx_hash, \
             created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', NULL, ?9, ?9)",
        params![
            id.to_string(),
            new.root_tx.to_string(),
            new.commitment_hash.to_string(),
            new.chain.as_str(),
            new.first_hop_agent.to_string(),
            new.routing_hash.to_string(),
            new.amount.micros(),
            new.time_lock_until.unix(),
            now.unix(),
        ],
    )
    .db()?;
    Ok(Commitment {
        id,
        commitment: new,
        status: CommitmentStatus::Pending,
        onchain_tx_hash: None,
        created_at: now,
    })
}

/// Moves a commitment from `from` to `to`, setting the on-chain transaction when given.
pub(super) fn transition_commitment(
    conn: &Connection,
    id: Uuid,
    from: CommitmentStatus,
    to: CommitmentStatus,
    onchain_tx_hash: Option<&Hash32>,
    now: Timestamp,
) -> Result<Commitment> {
    let mut commitment = rows::commitment(conn, id)?.ok_or(not_found("commitment"))?;
    if commitment.status != from {
        return Err(Rejection::commitment_state(commitment.status, from).into());
    }
    conn.execute(
        "UPDATE erc8004_onchain_commitments \
         SET status = ?2, onchain_tx_hash = coalesce(?3, onchain_tx_hash), updated_at = ?4 \
         WHERE id = ?1",
        params![
            id.to_string(),
            to.as_str(),
            onchain_tx_hash.map(ToString::to_string),
            now.unix()
        ],
    )
    .db()?;
    commitment.status = to;
    if let Some(hash) = onchain_tx_hash {
        commitment.onchain_tx_hash = Some(*hash);
    }
    Ok(commitment)
}

pub(super) fn record_mev_incident(
    conn: &Connection,
    incident: NewMevIncident,
    now: Timestamp,
) -> Result<MevIncident> {
    let account =
        rows::stake_account(conn, incident.attacker, now, None)?.ok_or(not_found("agent"))?;
    if let Some(victim) = incident.victim
        && !rows::agent_exists(conn, victim)?
    {
        return Err(not_found("agent"));
    }
    let slashed_amount = settlement::mev_slash(incident.extracted_value, &account);
    let id = Uuid::new_v4();
    conn.execute(
        "INSERT INTO erc8004_mev_incidents (id, root_tx_hash, attack_type, attacker_agent_uuid, \
             victim_agent_uuid, extracted_value, block_number, tx_index, evidence_hash, \
             slashed_amount, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            id.to_string(),
            incident.root_tx.to_string(),
            incident.attack_type.as_str(),
            incident.attacker.to_string(),
            incident.victim.map(|v| v.to_string()),
            incident.extracted_value.micros(),
            to_i64(incident.block_number)?,
            i64::from(incident.tx_index),
            incident.evidence_hash.to_string(),
            slashed_amount.micros(),
            now.unix(),
        ],
    )
    .db()?;
    slash(
        conn,
        incident.attacker,
        slashed_amount,
        "mev_incident",
        SlashCause::Incident(id),
        now,
    )?;
    Ok(MevIncident {
        id,
        incident,
        slashed_amount,
        created_at: now,
    })
}

// ---- API keys -------------------------------------------------------------------------------

pub(super) fn create_api_key(
    conn: &Connection,
    key_hmac: [u8; 32],
    role: Role,
    label: String,
    now: Timestamp,
) -> Result<ApiKeyRecord> {
    let id = Uuid::new_v4();
    conn.execute(
        "INSERT INTO kagami_api_keys (id, key_hmac, role, label, created_at, revoked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
        params![
            id.to_string(),
            key_hmac.as_slice(),
            role.as_str(),
            label,
            now.unix()
        ],
    )
    .db()?;
    Ok(ApiKeyRecord {
        id,
        key_hmac,
        role,
        label,
        created_at: now,
        revoked_at: None,
    })
}

pub(super) fn revoke_api_key(conn: &Connection, id: Uuid, now: Timestamp) -> Result<ApiKeyRecord> {
    let mut key = rows::api_key(conn, id)?.ok_or(not_found("api_key"))?;
    if key.revoked_at.is_none() {
        conn.execute(
            "UPDATE kagami_api_keys SET revoked_at = ?2 WHERE id = ?1",
            params![id.to_string(), now.unix()],
        )
        .db()?;
        key.revoked_at = Some(now);
    }
    Ok(key)
}
