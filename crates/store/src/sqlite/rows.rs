//! Row decoding and the read queries shared by reads and write use cases.
//!
//! Every value is stored in its canonical form (uuid and hash text, unix seconds, micro-USDC)
//! and parsed back with the domain types' own parsers; a value that does not parse is a
//! corrupt row and surfaces as [`StoreError::Internal`].

use std::str::FromStr;

use kagami_core::{
    EndpointUri, Flip, LoopKind, ManifestRecord, Policy, StakeAccount, Usdc,
    crypto::{Chain, EthAddress, Hash32, Timestamp, Uuid},
};
use rusqlite::{Connection, OptionalExtension, Row, params, types::Type};

use super::classify::Db;
use crate::{
    Agent, AgentStatus, ApiKeyRecord, AttackType, Commitment, CommitmentStatus, FlipMetrics,
    FlipRecord, MevSummaryRow, NewCommitment, NewReceipt, ReceiptRecord, Result, Role, Settlement,
    SettlementStatus, SlashRecord, StakeView,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ---- column decoding ------------------------------------------------------------------------

fn conversion(idx: usize, ty: Type, error: impl Into<BoxError>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, error.into())
}

/// A TEXT column parsed with the type's canonical parser.
fn parsed<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: Into<BoxError>,
{
    let text: String = row.get(idx)?;
    text.parse().map_err(|e| conversion(idx, Type::Text, e))
}

/// A nullable TEXT column parsed with the type's canonical parser.
fn parsed_opt<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>>
where
    T: FromStr,
    T::Err: Into<BoxError>,
{
    let text: Option<String> = row.get(idx)?;
    text.map(|t| t.parse().map_err(|e| conversion(idx, Type::Text, e)))
        .transpose()
}

/// A TEXT column decoded by a name table (`AgentStatus::parse` and the like).
fn named<T>(
    row: &Row<'_>,
    idx: usize,
    parse: impl FnOnce(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    parse(&text).ok_or_else(|| conversion(idx, Type::Text, format!("unknown value {text:?}")))
}

fn timestamp(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
    Timestamp::from_unix(row.get(idx)?).map_err(|e| conversion(idx, Type::Integer, e))
}

fn timestamp_opt(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Timestamp>> {
    let seconds: Option<i64> = row.get(idx)?;
    seconds
        .map(|s| Timestamp::from_unix(s).map_err(|e| conversion(idx, Type::Integer, e)))
        .transpose()
}

fn usdc(row: &Row<'_>, idx: usize) -> rusqlite::Result<Usdc> {
    Usdc::from_micros(row.get(idx)?).map_err(|e| conversion(idx, Type::Integer, e))
}

fn usdc_opt(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Usdc>> {
    let micros: Option<i64> = row.get(idx)?;
    micros
        .map(|m| Usdc::from_micros(m).map_err(|e| conversion(idx, Type::Integer, e)))
        .transpose()
}

/// A non-negative INTEGER column as an unsigned Rust integer.
fn unsigned<T: TryFrom<i64>>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T::Error: Into<BoxError>,
{
    T::try_from(row.get::<_, i64>(idx)?).map_err(|e| conversion(idx, Type::Integer, e))
}

/// The policy stored endpoints are read back under: the one they were checked against may
/// have allowed longer URIs than the default, and the stored text already passed it.
fn stored_endpoint_policy() -> Policy {
    Policy {
        max_endpoint_bytes: usize::MAX,
        ..Policy::default()
    }
}

fn endpoint(row: &Row<'_>, idx: usize) -> rusqlite::Result<EndpointUri> {
    let text: String = row.get(idx)?;
    EndpointUri::parse(&text, &stored_endpoint_policy()).map_err(|e| conversion(idx, Type::Text, e))
}

/// An unsigned Rust integer as an SQLite INTEGER.
pub(super) fn to_i64<T: TryInto<i64>>(value: T) -> Result<i64>
where
    T::Error: std::error::Error + Send + Sync + 'static,
{
    value.try_into().map_err(crate::StoreError::internal)
}

pub(super) const fn kind_name(kind: LoopKind) -> &'static str {
    match kind {
        LoopKind::Cycle => "cycle",
        LoopKind::ExtractionLoop => "extraction_loop",
    }
}

fn parse_kind(s: &str) -> Option<LoopKind> {
    match s {
        "cycle" => Some(LoopKind::Cycle),
        "extraction_loop" => Some(LoopKind::ExtractionLoop),
        _ => None,
    }
}

fn parse_settlement_status(s: &str) -> Option<SettlementStatus> {
    match s {
        "provisional" => Some(SettlementStatus::Provisional),
        "final" => Some(SettlementStatus::Final),
        _ => None,
    }
}

fn parse_commitment_status(s: &str) -> Option<CommitmentStatus> {
    match s {
        "pending" => Some(CommitmentStatus::Pending),
        "confirmed" => Some(CommitmentStatus::Confirmed),
        "settled" => Some(CommitmentStatus::Settled),
        "disputed" => Some(CommitmentStatus::Disputed),
        _ => None,
    }
}

// ---- row mappers ----------------------------------------------------------------------------

const AGENT_COLUMNS: &str = "id, agent_id, chain, registry_address, owner_address, token_uri, \
     registration_file, status, created_at, updated_at";

fn agent_row(row: &Row<'_>) -> rusqlite::Result<Agent> {
    let registration: Option<String> = row.get(6)?;
    Ok(Agent {
        uuid: parsed(row, 0)?,
        agent_id: unsigned(row, 1)?,
        chain: parsed(row, 2)?,
        registry_address: parsed(row, 3)?,
        owner_address: parsed(row, 4)?,
        token_uri: row.get(5)?,
        registration_file: registration
            .map(|r| serde_json::from_str(&r).map_err(|e| conversion(6, Type::Text, e)))
            .transpose()?,
        status: named(row, 7, AgentStatus::parse)?,
        created_at: timestamp(row, 8)?,
        updated_at: timestamp(row, 9)?,
    })
}

const MANIFEST_COLUMNS: &str = "id, manifest_hash, agent_uuid, chain, endpoint_uri, pubkey, \
     nonce, valid_from, valid_until, signature, created_at, revoked_at";

fn manifest_row(row: &Row<'_>) -> rusqlite::Result<ManifestRecord> {
    Ok(ManifestRecord {
        id: parsed(row, 0)?,
        hash: parsed(row, 1)?,
        agent: parsed(row, 2)?,
        chain: parsed(row, 3)?,
        endpoint: endpoint(row, 4)?,
        pubkey: parsed(row, 5)?,
        nonce: unsigned(row, 6)?,
        valid_from: timestamp(row, 7)?,
        valid_until: timestamp(row, 8)?,
        signature: parsed(row, 9)?,
        created_at: timestamp(row, 10)?,
        revoked_at: timestamp_opt(row, 11)?,
    })
}

const FLIP_COLUMNS: &str = "id, agent_uuid, old_manifest_hash, new_manifest_hash, \
     suspicion_score, endpoint_changed, pubkey_changed, time_delta_seconds, flip_hash, alerted, \
     created_at";

fn flip_row(row: &Row<'_>) -> rusqlite::Result<FlipRecord> {
    Ok(FlipRecord {
        id: parsed(row, 0)?,
        agent: parsed(row, 1)?,
        old_manifest: parsed(row, 2)?,
        new_manifest: parsed(row, 3)?,
        flip: Flip {
            suspicion_score: unsigned(row, 4)?,
            endpoint_changed: row.get(5)?,
            pubkey_changed: row.get(6)?,
            time_delta_seconds: row.get(7)?,
        },
        flip_hash: parsed(row, 8)?,
        alerted: row.get(9)?,
        created_at: timestamp(row, 10)?,
    })
}

const RECEIPT_COLUMNS: &str = "id, chain, root_tx_hash, hop, source_agent_uuid, \
     dest_agent_uuid, manifest_id, manifest_hash, next_hop_hash, receipt_nonce, receipt_hash, \
     signature, hop_irrational, computational_cost, is_valid, invalidated_at, \
     invalidation_reason, created_at";

fn receipt_row(row: &Row<'_>) -> rusqlite::Result<ReceiptRecord> {
    Ok(ReceiptRecord {
        id: parsed(row, 0)?,
        receipt: NewReceipt {
            chain: parsed(row, 1)?,
            root_tx: parsed(row, 2)?,
            hop: unsigned(row, 3)?,
            source: parsed(row, 4)?,
            dest: parsed(row, 5)?,
            manifest_id: parsed(row, 6)?,
            manifest_hash: parsed(row, 7)?,
            next_hop: parsed_opt(row, 8)?,
            nonce: unsigned(row, 9)?,
            receipt_hash: parsed(row, 10)?,
            signature: parsed(row, 11)?,
            hop_irrational: row.get(12)?,
            computational_cost: usdc(row, 13)?,
        },
        is_valid: row.get(14)?,
        invalidated_at: timestamp_opt(row, 15)?,
        invalidation_reason: row.get(16)?,
        created_at: timestamp(row, 17)?,
    })
}

const SETTLEMENT_COLUMNS: &str = "id, root_tx_hash, kind, cycle_agents, depth, total_slashed, \
     reporter_address, bounty, status, created_at";

fn settlement_row(row: &Row<'_>) -> rusqlite::Result<Settlement> {
    let agents: String = row.get(3)?;
    Ok(Settlement {
        id: parsed(row, 0)?,
        root_tx: parsed(row, 1)?,
        kind: named(row, 2, parse_kind)?,
        cycle_agents: serde_json::from_str(&agents).map_err(|e| conversion(3, Type::Text, e))?,
        depth: unsigned(row, 4)?,
        total_slashed: usdc(row, 5)?,
        reporter: parsed_opt(row, 6)?,
        bounty: usdc_opt(row, 7)?,
        status: named(row, 8, parse_settlement_status)?,
        created_at: timestamp(row, 9)?,
    })
}

const SLASH_COLUMNS: &str =
    "id, agent_uuid, amount, reason, settlement_id, incident_id, commitment_id, created_at";

fn slash_row(row: &Row<'_>) -> rusqlite::Result<SlashRecord> {
    Ok(SlashRecord {
        id: parsed(row, 0)?,
        agent: parsed(row, 1)?,
        amount: usdc(row, 2)?,
        reason: row.get(3)?,
        settlement_id: parsed_opt(row, 4)?,
        incident_id: parsed_opt(row, 5)?,
        commitment_id: parsed_opt(row, 6)?,
        created_at: timestamp(row, 7)?,
    })
}

const COMMITMENT_COLUMNS: &str = "id, root_tx_hash, commitment_hash, chain, first_hop_agent, \
     routing_hash, amount, time_lock_until, status, onchain_tx_hash, created_at";

fn commitment_row(row: &Row<'_>) -> rusqlite::Result<Commitment> {
    Ok(Commitment {
        id: parsed(row, 0)?,
        commitment: NewCommitment {
            root_tx: parsed(row, 1)?,
            commitment_hash: parsed(row, 2)?,
            chain: parsed(row, 3)?,
            first_hop_agent: parsed(row, 4)?,
            routing_hash: parsed(row, 5)?,
            amount: usdc(row, 6)?,
            time_lock_until: timestamp(row, 7)?,
        },
        status: named(row, 8, parse_commitment_status)?,
        onchain_tx_hash: parsed_opt(row, 9)?,
        created_at: timestamp(row, 10)?,
    })
}

const API_KEY_COLUMNS: &str = "id, key_hmac, role, label, created_at, revoked_at";

fn api_key_row(row: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: parsed(row, 0)?,
        key_hmac: row.get(1)?,
        role: named(row, 2, Role::parse)?,
        label: row.get(3)?,
        created_at: timestamp(row, 4)?,
        revoked_at: timestamp_opt(row, 5)?,
    })
}

// ---- agents and stakes ----------------------------------------------------------------------

pub(super) fn agent(conn: &Connection, uuid: Uuid) -> Result<Option<Agent>> {
    conn.query_row(
        &format!("SELECT {AGENT_COLUMNS} FROM erc8004_agents WHERE id = ?1"),
        params![uuid.to_string()],
        agent_row,
    )
    .optional()
    .db()
}

pub(super) fn agent_by_registry(
    conn: &Connection,
    chain: &Chain,
    registry: &EthAddress,
    agent_id: u64,
) -> Result<Option<Agent>> {
    let Ok(agent_id) = i64::try_from(agent_id) else {
        // Above every storable id: no such agent.
        return Ok(None);
    };
    conn.query_row(
        &format!(
            "SELECT {AGENT_COLUMNS} FROM erc8004_agents \
             WHERE chain = ?1 AND registry_address = ?2 AND agent_id = ?3"
        ),
        params![chain.as_str(), registry.to_string(), agent_id],
        agent_row,
    )
    .optional()
    .db()
}

pub(super) fn agent_exists(conn: &Connection, uuid: Uuid) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM erc8004_agents WHERE id = ?1)",
        params![uuid.to_string()],
        |row| row.get(0),
    )
    .db()
}

/// `(staked, slashed)` of an agent's stake row.
fn stake_row(conn: &Connection, uuid: Uuid) -> Result<Option<(Usdc, Usdc)>> {
    conn.query_row(
        "SELECT staked, slashed FROM erc8004_agent_stakes WHERE agent_uuid = ?1",
        params![uuid.to_string()],
        |row| Ok((usdc(row, 0)?, usdc(row, 1)?)),
    )
    .optional()
    .db()
}

/// The sum of an agent's active stake locks at `now` (`released_at IS NULL AND expires_at >
/// now`), leaving out the locks held for `except_root`.
fn active_locks(
    conn: &Connection,
    uuid: Uuid,
    now: Timestamp,
    except_root: Option<&Hash32>,
) -> Result<Usdc> {
    conn.query_row(
        "SELECT coalesce(sum(amount), 0) FROM erc8004_stake_utilization \
         WHERE agent_uuid = ?1 AND released_at IS NULL AND expires_at > ?2 \
           AND (?3 IS NULL OR root_tx_hash <> ?3)",
        params![
            uuid.to_string(),
            now.unix(),
            except_root.map(ToString::to_string)
        ],
        |row| usdc(row, 0),
    )
    .db()
}

/// An agent's stake at `now`; locks on `except_root` do not count.
pub(super) fn stake_view(
    conn: &Connection,
    uuid: Uuid,
    now: Timestamp,
    except_root: Option<&Hash32>,
) -> Result<Option<StakeView>> {
    let Some((staked, slashed)) = stake_row(conn, uuid)? else {
        return Ok(None);
    };
    Ok(Some(StakeView {
        staked,
        slashed,
        locked: active_locks(conn, uuid, now, except_root)?,
    }))
}

/// An agent's stake as the settlement rules see it: locks on `except_root` (the root being
/// settled) are not "elsewhere".
pub(super) fn stake_account(
    conn: &Connection,
    uuid: Uuid,
    now: Timestamp,
    except_root: Option<&Hash32>,
) -> Result<Option<StakeAccount>> {
    Ok(
        stake_view(conn, uuid, now, except_root)?.map(|v| StakeAccount {
            staked: v.staked,
            slashed: v.slashed,
            locked_elsewhere: v.locked,
        }),
    )
}

/// The slash ledger of an agent, oldest first (ties in recording order).
pub(super) fn slashes_of(conn: &Connection, uuid: Uuid) -> Result<Vec<SlashRecord>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {SLASH_COLUMNS} FROM erc8004_slashes WHERE agent_uuid = ?1 \
             ORDER BY created_at, rowid"
        ))
        .db()?;
    stmt.query_map(params![uuid.to_string()], slash_row)
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()
}

/// The slashes of a settlement, in recording (plan) order.
pub(super) fn slashes_of_settlement(conn: &Connection, id: Uuid) -> Result<Vec<SlashRecord>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {SLASH_COLUMNS} FROM erc8004_slashes WHERE settlement_id = ?1 \
             ORDER BY created_at, rowid"
        ))
        .db()?;
    stmt.query_map(params![id.to_string()], slash_row)
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()
}

// ---- manifests and flips --------------------------------------------------------------------

pub(super) fn manifest_by_hash(conn: &Connection, hash: &Hash32) -> Result<Option<ManifestRecord>> {
    conn.query_row(
        &format!(
            "SELECT {MANIFEST_COLUMNS} FROM erc8004_endpoint_manifests WHERE manifest_hash = ?1"
        ),
        params![hash.to_string()],
        manifest_row,
    )
    .optional()
    .db()
}

pub(super) fn manifest_exists(conn: &Connection, id: Uuid) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM erc8004_endpoint_manifests WHERE id = ?1)",
        params![id.to_string()],
        |row| row.get(0),
    )
    .db()
}

/// All manifests of an agent, highest nonce first.
pub(super) fn manifests_of(conn: &Connection, agent: Uuid) -> Result<Vec<ManifestRecord>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {MANIFEST_COLUMNS} FROM erc8004_endpoint_manifests WHERE agent_uuid = ?1 \
             ORDER BY nonce DESC"
        ))
        .db()?;
    stmt.query_map(params![agent.to_string()], manifest_row)
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()
}

/// The flips of an agent, newest first.
pub(super) fn flips_of(conn: &Connection, agent: Uuid) -> Result<Vec<FlipRecord>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {FLIP_COLUMNS} FROM erc8004_manifest_flips WHERE agent_uuid = ?1 \
             ORDER BY created_at DESC, rowid DESC"
        ))
        .db()?;
    stmt.query_map(params![agent.to_string()], flip_row)
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()
}

/// The flip that introduced manifest `new`.
pub(super) fn flip_to(conn: &Connection, new: &Hash32) -> Result<Option<FlipRecord>> {
    conn.query_row(
        &format!("SELECT {FLIP_COLUMNS} FROM erc8004_manifest_flips WHERE new_manifest_hash = ?1"),
        params![new.to_string()],
        flip_row,
    )
    .optional()
    .db()
}

/// Flip statistics of an agent, computed directly (SQLite has no materialized views).
pub(super) fn flip_metrics(conn: &Connection, agent: Uuid) -> Result<FlipMetrics> {
    let (total, rapid, endpoint, high, score_sum, last): (i64, i64, i64, i64, i64, Option<i64>) =
        conn.query_row(
            "SELECT count(*), \
                    coalesce(sum(time_delta_seconds < ?2), 0), \
                    coalesce(sum(endpoint_changed), 0), \
                    coalesce(sum(suspicion_score >= ?3), 0), \
                    coalesce(sum(suspicion_score), 0), \
                    max(created_at) \
             FROM erc8004_manifest_flips WHERE agent_uuid = ?1",
            params![
                agent.to_string(),
                Flip::RAPID_SECONDS,
                i64::from(Flip::SUSPICIOUS)
            ],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            },
        )
        .db()?;
    let count = |n: i64| u64::try_from(n).map_err(crate::StoreError::internal);
    Ok(FlipMetrics {
        total_flips: count(total)?,
        rapid_flips_1min: count(rapid)?,
        endpoint_changes: count(endpoint)?,
        high_suspicion_flips: count(high)?,
        avg_suspicion_score: mean_two_decimals(score_sum, total),
        last_flip_at: last
            .map(Timestamp::from_unix)
            .transpose()
            .map_err(crate::StoreError::internal)?,
    })
}

/// `sum / count` rounded half away from zero to two decimals, exactly as PostgreSQL's
/// `round(avg(..)::numeric, 2)` does (integer arithmetic, then one correctly rounded division,
/// which yields the same `f64` as parsing the decimal text); 0.0 without flips.
fn mean_two_decimals(sum: i64, count: i64) -> f64 {
    if count <= 0 || sum < 0 {
        return 0.0;
    }
    let (sum, count) = (i128::from(sum), i128::from(count));
    let hundredths = (200 * sum + count) / (2 * count);
    #[expect(
        clippy::cast_precision_loss,
        reason = "a mean score of at most 100.00 is at most 10000 hundredths, exact in f64"
    )]
    let hundredths = hundredths as f64;
    hundredths / 100.0
}

// ---- receipts and settlements ---------------------------------------------------------------

pub(super) fn receipt_by_hash(conn: &Connection, hash: &Hash32) -> Result<Option<ReceiptRecord>> {
    conn.query_row(
        &format!("SELECT {RECEIPT_COLUMNS} FROM erc8004_forward_receipts WHERE receipt_hash = ?1"),
        params![hash.to_string()],
        receipt_row,
    )
    .optional()
    .db()
}

/// Whether `dest` already used `nonce` in some receipt.
pub(super) fn receipt_nonce_used(conn: &Connection, dest: Uuid, nonce: u64) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM erc8004_forward_receipts \
                        WHERE dest_agent_uuid = ?1 AND receipt_nonce = ?2)",
        params![dest.to_string(), to_i64(nonce)?],
        |row| row.get(0),
    )
    .db()
}

/// Every receipt of a root, valid or not, ordered by hop, recording time and id.
pub(super) fn receipts_of_root(conn: &Connection, root: &Hash32) -> Result<Vec<ReceiptRecord>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RECEIPT_COLUMNS} FROM erc8004_forward_receipts WHERE root_tx_hash = ?1 \
             ORDER BY hop, created_at, id"
        ))
        .db()?;
    stmt.query_map(params![root.to_string()], receipt_row)
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()
}

/// The valid receipts of a root, as forward-graph edges.
pub(super) fn valid_edges(conn: &Connection, root: &Hash32) -> Result<Vec<kagami_core::Edge>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT source_agent_uuid, dest_agent_uuid, hop, receipt_hash, next_hop_hash \
             FROM erc8004_forward_receipts WHERE root_tx_hash = ?1 AND is_valid = 1 \
             ORDER BY hop, created_at, id",
        )
        .db()?;
    stmt.query_map(params![root.to_string()], |row| {
        Ok(kagami_core::Edge {
            from: parsed(row, 0)?,
            to: parsed(row, 1)?,
            hop: unsigned(row, 2)?,
            receipt: parsed(row, 3)?,
            next_hop: parsed_opt(row, 4)?,
        })
    })
    .db()?
    .collect::<rusqlite::Result<_>>()
    .db()
}

pub(super) fn settlement_of(conn: &Connection, root: &Hash32) -> Result<Option<Settlement>> {
    conn.query_row(
        &format!("SELECT {SETTLEMENT_COLUMNS} FROM erc8004_settlements WHERE root_tx_hash = ?1"),
        params![root.to_string()],
        settlement_row,
    )
    .optional()
    .db()
}

/// The id of the root's settlement, if settled.
pub(super) fn settlement_id_of(conn: &Connection, root: &Hash32) -> Result<Option<Uuid>> {
    conn.query_row(
        "SELECT id FROM erc8004_settlements WHERE root_tx_hash = ?1",
        params![root.to_string()],
        |row| parsed(row, 0),
    )
    .optional()
    .db()
}

// ---- commitments and MEV --------------------------------------------------------------------

pub(super) fn commitment(conn: &Connection, id: Uuid) -> Result<Option<Commitment>> {
    conn.query_row(
        &format!("SELECT {COMMITMENT_COLUMNS} FROM erc8004_onchain_commitments WHERE id = ?1"),
        params![id.to_string()],
        commitment_row,
    )
    .optional()
    .db()
}

/// The agent's pending or confirmed commitments as first hop whose time lock runs past
/// `now`, oldest first, ties by id (the PostgreSQL backend's order: each dispute slash depends
/// on the ones before it, so both backends must agree).
pub(super) fn disputable_commitments(
    conn: &Connection,
    agent: Uuid,
    now: Timestamp,
) -> Result<Vec<Commitment>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COMMITMENT_COLUMNS} FROM erc8004_onchain_commitments \
             WHERE first_hop_agent = ?1 AND status IN ('pending', 'confirmed') \
               AND time_lock_until > ?2 \
             ORDER BY created_at, id"
        ))
        .db()?;
    stmt.query_map(params![agent.to_string(), now.unix()], commitment_row)
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()
}

/// Totals per attack type, ordered by the type's name.
pub(super) fn mev_summary(conn: &Connection) -> Result<Vec<MevSummaryRow>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT attack_type, count(*), sum(extracted_value), sum(slashed_amount) \
             FROM erc8004_mev_incidents GROUP BY attack_type ORDER BY attack_type",
        )
        .db()?;
    stmt.query_map([], |row| {
        Ok(MevSummaryRow {
            attack_type: named(row, 0, AttackType::parse)?,
            incidents: unsigned(row, 1)?,
            extracted_value: usdc(row, 2)?,
            slashed_amount: usdc(row, 3)?,
        })
    })
    .db()?
    .collect::<rusqlite::Result<_>>()
    .db()
}

// ---- API keys -------------------------------------------------------------------------------

pub(super) fn api_key(conn: &Connection, id: Uuid) -> Result<Option<ApiKeyRecord>> {
    conn.query_row(
        &format!("SELECT {API_KEY_COLUMNS} FROM kagami_api_keys WHERE id = ?1"),
        params![id.to_string()],
        api_key_row,
    )
    .optional()
    .db()
}

pub(super) fn api_key_by_hmac(conn: &Connection, hmac: &[u8; 32]) -> Result<Option<ApiKeyRecord>> {
    conn.query_row(
        &format!(
            "SELECT {API_KEY_COLUMNS} FROM kagami_api_keys \
             WHERE key_hmac = ?1 AND revoked_at IS NULL"
        ),
        params![hmac.as_slice()],
        api_key_row,
    )
    .optional()
    .db()
}

/// All keys, oldest first (ties in creation order).
pub(super) fn list_api_keys(conn: &Connection) -> Result<Vec<ApiKeyRecord>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {API_KEY_COLUMNS} FROM kagami_api_keys ORDER BY created_at, rowid"
        ))
        .db()?;
    stmt.query_map([], api_key_row)
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_is_rounded_half_away_from_zero_to_two_decimals() {
        assert_eq!(mean_two_decimals(0, 0), 0.0);
        assert_eq!(mean_two_decimals(100, 3), 33.33);
        assert_eq!(mean_two_decimals(200, 3), 66.67);
        assert_eq!(mean_two_decimals(1, 8), 0.13);
        assert_eq!(mean_two_decimals(70, 1), 70.0);
    }
}
