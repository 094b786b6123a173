//! Statement helpers (always through the per-connection statement cache), locks, and the
//! conversions between rows and the model.

use std::str::FromStr;

use kagami_core::{
    EndpointUri, Flip, LoopKind, ManifestRecord, Usdc, UsdcSum,
    crypto::{Hash32, Timestamp, Uuid},
};
use std::fmt::Display;
use time::OffsetDateTime;
use tokio_postgres::{
    Row,
    types::{FromSql, ToSql},
};

use super::classify::classify;
use crate::{
    Agent, AgentStatus, ApiKeyRecord, AttackType, Cause, Commitment, CommitmentStatus,
    Cosignatures, FlipRecord, LedgerEntry, LogEntry, LogHead, MevIncident, NewCommitment,
    NewMevIncident, NewReceipt, Payout, PayoutKind, ReceiptRecord, Result, Role, Settlement,
    SettlementStatus, SlashReason, SlashRecord, StoreError, StoredOrder,
};

/// Statement parameters.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The lock key of an agent's writers.
pub(super) fn agent_key(agent: Uuid) -> String {
    format!("agent:{agent}")
}

/// The lock key of a root transaction's writers.
pub(super) fn root_key(root: &Hash32) -> String {
    format!("root:{root}")
}

// ---- values ----------------------------------------------------------------------------

/// A `Timestamp` as the driver's timestamptz value.
pub(super) fn ts(t: Timestamp) -> OffsetDateTime {
    t.to_offset_date_time()
}

/// An unsigned id or counter as BIGINT.
pub(super) fn to_i64<T: TryInto<i64> + Display + Copy>(value: T, field: &str) -> Result<i64> {
    value
        .try_into()
        .map_err(|_| StoreError::internal(format!("{field} {value} exceeds the stored range")))
}

/// A name-table column (`AgentStatus::parse` and the like).
fn named<T>(row: &Row, column: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T> {
    let text: &str = get(row, column)?;
    parse(text).ok_or_else(|| corrupt(column, text))
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::internal(format!("unexpected stored {what} {value:?}"))
}

// ---- columns -----------------------------------------------------------------------------

pub(super) fn get<'a, T: FromSql<'a>>(row: &'a Row, column: &str) -> Result<T> {
    row.try_get(column).map_err(classify)
}

fn get_ts(row: &Row, column: &str) -> Result<Timestamp> {
    Timestamp::try_from(get::<OffsetDateTime>(row, column)?).map_err(StoreError::internal)
}

fn get_opt_ts(row: &Row, column: &str) -> Result<Option<Timestamp>> {
    get::<Option<OffsetDateTime>>(row, column)?
        .map(|t| Timestamp::try_from(t).map_err(StoreError::internal))
        .transpose()
}

/// A money column, selected as `(col * 1000000)::bigint`.
pub(super) fn get_usdc(row: &Row, column: &str) -> Result<Usdc> {
    Usdc::from_micros(get::<i64>(row, column)?).map_err(StoreError::internal)
}

/// An exact sum of micro-USDC selected as text (`(sum(x) * 1000000)::numeric(39,0)::text`):
/// PostgreSQL's `numeric` sum never overflows, and an `i128` holds any sum of stored amounts.
pub(super) fn get_usdc_sum(row: &Row, column: &str) -> Result<UsdcSum> {
    let text: &str = get(row, column)?;
    text.parse::<i128>()
        .ok()
        .and_then(UsdcSum::from_micros)
        .ok_or_else(|| corrupt(column, text))
}

fn get_opt_usdc(row: &Row, column: &str) -> Result<Option<Usdc>> {
    get::<Option<i64>>(row, column)?
        .map(|m| Usdc::from_micros(m).map_err(StoreError::internal))
        .transpose()
}

pub(super) fn get_u64(row: &Row, column: &str) -> Result<u64> {
    let value: i64 = get(row, column)?;
    u64::try_from(value).map_err(|_| corrupt(column, &value.to_string()))
}

/// An INTEGER column holding an unsigned value.
fn get_u32(row: &Row, column: &str) -> Result<u32> {
    let value: i32 = get(row, column)?;
    u32::try_from(value).map_err(|_| corrupt(column, &value.to_string()))
}

/// A column holding the canonical text of a protocol value.
fn get_parsed<T>(row: &Row, column: &str) -> Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    get::<&str>(row, column)?
        .parse()
        .map_err(StoreError::internal)
}

fn get_opt_parsed<T>(row: &Row, column: &str) -> Result<Option<T>>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    get::<Option<&str>>(row, column)?
        .map(|s| s.parse().map_err(StoreError::internal))
        .transpose()
}

// ---- rows ----------------------------------------------------------------------------------

/// Agent columns, in the order [`agent`] reads them.
macro_rules! agent_columns {
    () => {
        "id, agent_id, chain, registry_address, owner_address, token_uri, registration_file, \
         status, created_at, updated_at"
    };
}
pub(super) use agent_columns;

pub(super) fn agent(row: &Row) -> Result<Agent> {
    Ok(Agent {
        uuid: get(row, "id")?,
        agent_id: get_u64(row, "agent_id")?,
        chain: get_parsed(row, "chain")?,
        registry_address: get_parsed(row, "registry_address")?,
        owner_address: get_parsed(row, "owner_address")?,
        token_uri: get(row, "token_uri")?,
        registration_file: get(row, "registration_file")?,
        status: named(row, "status", AgentStatus::parse)?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

macro_rules! manifest_columns {
    () => {
        "id, manifest_hash, agent_uuid, chain, endpoint_uri, pubkey, nonce, valid_from, \
         valid_until, signature, created_at, revoked_at"
    };
}
pub(super) use manifest_columns;

pub(super) fn manifest(row: &Row) -> Result<ManifestRecord> {
    let endpoint: &str = get(row, "endpoint_uri")?;
    Ok(ManifestRecord {
        id: get(row, "id")?,
        hash: get_parsed(row, "manifest_hash")?,
        agent: get(row, "agent_uuid")?,
        chain: get_parsed(row, "chain")?,
        endpoint: EndpointUri::from_stored(endpoint).map_err(StoreError::internal)?,
        pubkey: get_parsed(row, "pubkey")?,
        nonce: get_u64(row, "nonce")?,
        valid_from: get_ts(row, "valid_from")?,
        valid_until: get_ts(row, "valid_until")?,
        signature: get_parsed(row, "signature")?,
        created_at: get_ts(row, "created_at")?,
        revoked_at: get_opt_ts(row, "revoked_at")?,
    })
}

macro_rules! flip_columns {
    () => {
        "id, agent_uuid, old_manifest_hash, new_manifest_hash, time_delta_seconds, \
         endpoint_changed, pubkey_changed, flip_hash, suspicion_score, alerted, created_at"
    };
}
pub(super) use flip_columns;

pub(super) fn flip(row: &Row) -> Result<FlipRecord> {
    let score: i16 = get(row, "suspicion_score")?;
    Ok(FlipRecord {
        id: get(row, "id")?,
        agent: get(row, "agent_uuid")?,
        old_manifest: get_parsed(row, "old_manifest_hash")?,
        new_manifest: get_parsed(row, "new_manifest_hash")?,
        flip: Flip {
            suspicion_score: u8::try_from(score)
                .map_err(|_| corrupt("suspicion score", &score.to_string()))?,
            endpoint_changed: get(row, "endpoint_changed")?,
            pubkey_changed: get(row, "pubkey_changed")?,
            time_delta_seconds: get(row, "time_delta_seconds")?,
        },
        flip_hash: get_parsed(row, "flip_hash")?,
        alerted: get(row, "alerted")?,
        created_at: get_ts(row, "created_at")?,
    })
}

macro_rules! receipt_columns {
    () => {
        "id, chain, root_tx_hash, hop, source_agent_uuid, dest_agent_uuid, manifest_id, \
         manifest_hash, next_hop_hash, receipt_nonce, receipt_hash, signature, hop_irrational, \
         (computational_cost * 1000000)::bigint AS computational_cost, is_valid, invalidated_at, \
         invalidation_reason, created_at, order_hash, order_nonce, order_signature, \
         (amount * 1000000)::bigint AS amount"
    };
}
pub(super) use receipt_columns;

pub(super) fn receipt(row: &Row) -> Result<ReceiptRecord> {
    Ok(ReceiptRecord {
        id: get(row, "id")?,
        receipt: NewReceipt {
            chain: get_parsed(row, "chain")?,
            root_tx: get_parsed(row, "root_tx_hash")?,
            hop: get_u32(row, "hop")?,
            source: get(row, "source_agent_uuid")?,
            dest: get(row, "dest_agent_uuid")?,
            manifest_id: get(row, "manifest_id")?,
            manifest_hash: get_parsed(row, "manifest_hash")?,
            order: stored_order(row)?,
            next_hop: get_opt_parsed(row, "next_hop_hash")?,
            nonce: get_u64(row, "receipt_nonce")?,
            receipt_hash: get_parsed(row, "receipt_hash")?,
            signature: get_parsed(row, "signature")?,
            hop_irrational: get(row, "hop_irrational")?,
            computational_cost: get_usdc(row, "computational_cost")?,
        },
        is_valid: get(row, "is_valid")?,
        invalidated_at: get_opt_ts(row, "invalidated_at")?,
        invalidation_reason: get::<Option<&str>>(row, "invalidation_reason")?
            .map(|r| LoopKind::parse_reason(r).ok_or_else(|| corrupt("invalidation_reason", r)))
            .transpose()?,
        created_at: get_ts(row, "created_at")?,
    })
}

/// The order columns of a receipt row, all set or all null.
fn stored_order(row: &Row) -> Result<Option<StoredOrder>> {
    let Some(hash) = get_opt_parsed(row, "order_hash")? else {
        return Ok(None);
    };
    Ok(Some(StoredOrder {
        hash,
        nonce: get::<Option<i64>>(row, "order_nonce")?
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| corrupt("order_nonce", "null"))?,
        amount: get_opt_usdc(row, "amount")?.ok_or_else(|| corrupt("amount", "null"))?,
        signature: get_opt_parsed(row, "order_signature")?
            .ok_or_else(|| corrupt("order_signature", "null"))?,
    }))
}

macro_rules! settlement_columns {
    () => {
        "id, root_tx_hash, kind, cycle_agents, depth, \
         (total_slashed * 1000000)::bigint AS total_slashed, reporter_address, \
         (bounty * 1000000)::bigint AS bounty, status, created_at, liable_agents, \
         closing_receipt_hash"
    };
}
pub(super) use settlement_columns;

pub(super) fn settlement(row: &Row) -> Result<Settlement> {
    Ok(Settlement {
        id: get(row, "id")?,
        root_tx: get_parsed(row, "root_tx_hash")?,
        kind: named(row, "kind", LoopKind::parse)?,
        cycle_agents: get(row, "cycle_agents")?,
        depth: get_u32(row, "depth")?,
        liable: get(row, "liable_agents")?,
        closing_receipt: get_opt_parsed(row, "closing_receipt_hash")?,
        total_slashed: get_usdc(row, "total_slashed")?,
        reporter: get_opt_parsed(row, "reporter_address")?,
        bounty: get_opt_usdc(row, "bounty")?,
        status: named(row, "status", SettlementStatus::parse)?,
        created_at: get_ts(row, "created_at")?,
    })
}

macro_rules! slash_columns {
    () => {
        "id, agent_uuid, (amount * 1000000)::bigint AS amount, reason, settlement_id, \
         incident_id, commitment_id, created_at"
    };
}
pub(super) use slash_columns;

pub(super) fn slash(row: &Row) -> Result<SlashRecord> {
    Ok(SlashRecord {
        id: get(row, "id")?,
        agent: get(row, "agent_uuid")?,
        amount: get_usdc(row, "amount")?,
        reason: named(row, "reason", SlashReason::parse)?,
        cause: cause(row)?,
        created_at: get_ts(row, "created_at")?,
    })
}

/// The cause columns (`settlement_id`, `incident_id`, `commitment_id`; exactly one set).
pub(super) fn cause(row: &Row) -> Result<Cause> {
    let settlement: Option<Uuid> = get(row, "settlement_id")?;
    let incident: Option<Uuid> = get(row, "incident_id")?;
    let commitment: Option<Uuid> = get(row, "commitment_id")?;
    match (settlement, incident, commitment) {
        (Some(id), None, None) => Ok(Cause::Settlement(id)),
        (None, Some(id), None) => Ok(Cause::Incident(id)),
        (None, None, Some(id)) => Ok(Cause::Commitment(id)),
        _ => Err(corrupt("cause", "not exactly one")),
    }
}

/// A line of the `kagami_ledger` view.
pub(super) fn ledger_entry(row: &Row) -> Result<LedgerEntry> {
    let amount = get_usdc(row, "amount")?;
    let created_at = get_ts(row, "created_at")?;
    let cause = cause(row)?;
    let entry: &str = get(row, "entry")?;
    Ok(match entry {
        "slash" => LedgerEntry::Slash {
            id: get(row, "id")?,
            agent: get(row, "agent_uuid")?,
            cause,
            amount,
            created_at,
        },
        "bounty" | "retained" => LedgerEntry::Payout(Payout {
            id: get(row, "id")?,
            kind: match get_opt_parsed(row, "reporter_address")? {
                Some(reporter) if entry == "bounty" => PayoutKind::Bounty { reporter },
                _ => PayoutKind::Retained,
            },
            cause,
            amount,
            created_at,
        }),
        other => return Err(corrupt("ledger entry", other)),
    })
}

/// The cause's `(settlement_id, incident_id, commitment_id)` columns.
pub(super) const fn cause_columns(cause: Cause) -> (Option<Uuid>, Option<Uuid>, Option<Uuid>) {
    match cause {
        Cause::Settlement(id) => (Some(id), None, None),
        Cause::Incident(id) => (None, Some(id), None),
        Cause::Commitment(id) => (None, None, Some(id)),
    }
}

macro_rules! commitment_columns {
    () => {
        "id, root_tx_hash, commitment_hash, chain, first_hop_agent, routing_hash, \
         (amount * 1000000)::bigint AS amount, time_lock_until, status, onchain_tx_hash, \
         created_at, payer_agent, payer_signature, first_hop_signature, first_hop_manifest_hash, \
         disputed_by_manifest_hash"
    };
}
pub(super) use commitment_columns;

pub(super) fn commitment(row: &Row) -> Result<Commitment> {
    Ok(Commitment {
        id: get(row, "id")?,
        commitment: NewCommitment {
            root_tx: get_parsed(row, "root_tx_hash")?,
            commitment_hash: get_parsed(row, "commitment_hash")?,
            chain: get_parsed(row, "chain")?,
            first_hop_agent: get(row, "first_hop_agent")?,
            routing_hash: get_parsed(row, "routing_hash")?,
            amount: get_usdc(row, "amount")?,
            time_lock_until: get_ts(row, "time_lock_until")?,
            cosigned: match get::<Option<Uuid>>(row, "payer_agent")? {
                None => None,
                Some(payer) => Some(Cosignatures {
                    payer,
                    payer_signature: get_parsed(row, "payer_signature")?,
                    first_hop_signature: get_parsed(row, "first_hop_signature")?,
                    first_hop_manifest: get_parsed(row, "first_hop_manifest_hash")?,
                }),
            },
        },
        disputed_by: get_opt_parsed(row, "disputed_by_manifest_hash")?,
        status: named(row, "status", CommitmentStatus::parse)?,
        onchain_tx_hash: get_opt_parsed(row, "onchain_tx_hash")?,
        created_at: get_ts(row, "created_at")?,
    })
}

macro_rules! incident_columns {
    () => {
        "id, root_tx_hash, attack_type, attacker_agent_uuid, victim_agent_uuid, \
         (extracted_value * 1000000)::bigint AS extracted_value, block_number, tx_index, \
         evidence_hash, (slashed_amount * 1000000)::bigint AS slashed_amount, created_at, attack_tx"
    };
}
pub(super) use incident_columns;

pub(super) fn incident(row: &Row) -> Result<MevIncident> {
    Ok(MevIncident {
        id: get(row, "id")?,
        incident: NewMevIncident {
            root_tx: get_parsed(row, "root_tx_hash")?,
            attack_type: attack_type(row)?,
            attacker: get(row, "attacker_agent_uuid")?,
            victim: get(row, "victim_agent_uuid")?,
            extracted_value: get_usdc(row, "extracted_value")?,
            block_number: get_u64(row, "block_number")?,
            tx_index: u32::try_from(get_u64(row, "tx_index")?)
                .map_err(|_| corrupt("tx_index", "out of range"))?,
            evidence_hash: get_parsed(row, "evidence_hash")?,
            attack_tx: get_parsed(row, "attack_tx")?,
        },
        slashed_amount: get_usdc(row, "slashed_amount")?,
        created_at: get_ts(row, "created_at")?,
    })
}

pub(super) fn attack_type(row: &Row) -> Result<AttackType> {
    named(row, "attack_type", AttackType::parse)
}

macro_rules! api_key_columns {
    () => {
        "id, key_hmac, role, label, created_at, revoked_at"
    };
}
pub(super) use api_key_columns;

pub(super) fn api_key(row: &Row) -> Result<ApiKeyRecord> {
    let hmac: &[u8] = get(row, "key_hmac")?;
    Ok(ApiKeyRecord {
        id: get(row, "id")?,
        key_hmac: hmac
            .try_into()
            .map_err(|_| corrupt("key HMAC length", &hmac.len().to_string()))?,
        role: named(row, "role", Role::parse)?,
        label: get(row, "label")?,
        created_at: get_ts(row, "created_at")?,
        revoked_at: get_opt_ts(row, "revoked_at")?,
    })
}

// ---- the audit log -------------------------------------------------------------------------

/// A 32-byte hash column.
pub(super) fn get_hash(row: &Row, column: &str) -> Result<kagami_tlog::Hash> {
    let bytes: &[u8] = get(row, column)?;
    <[u8; 32]>::try_from(bytes)
        .map(kagami_tlog::Hash)
        .map_err(|_| corrupt(column, &format!("{} bytes", bytes.len())))
}

macro_rules! log_entry_columns {
    () => {
        "leaf_index, kind, object_key, entry, leaf_hash, created_at"
    };
}
pub(super) use log_entry_columns;

pub(super) fn log_entry(row: &Row) -> Result<LogEntry> {
    Ok(LogEntry {
        index: get::<Option<i64>>(row, "leaf_index")?
            .map(|i| u64::try_from(i).map_err(|_| corrupt("leaf_index", &i.to_string())))
            .transpose()?,
        kind: get(row, "kind")?,
        key: get(row, "object_key")?,
        entry: get(row, "entry")?,
        leaf_hash: get_hash(row, "leaf_hash")?,
        created_at: get_ts(row, "created_at")?,
    })
}

pub(super) fn log_head(row: &Row) -> Result<LogHead> {
    Ok(LogHead {
        size: get_u64(row, "tree_size")?,
        root: get_hash(row, "root")?,
        checkpoint: get(row, "checkpoint")?,
    })
}
