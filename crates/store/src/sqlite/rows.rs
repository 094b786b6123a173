//! Row decoding: columns, row mappers and value conversions.
//!
//! Every value is stored in its canonical form (uuid and hash text, unix seconds, micro-USDC)
//! and parsed back with the domain types' own parsers; a value that does not parse is a
//! corrupt row and surfaces as [`StoreError::Internal`].

use std::str::FromStr;

use kagami_core::{EndpointUri, Flip, LoopKind, ManifestRecord, Usdc, UsdcSum, crypto::Timestamp};
use rusqlite::{Row, types::Type};

use crate::{
    Agent, AgentStatus, ApiKeyRecord, AttackType, Cause, Commitment, CommitmentStatus,
    Cosignatures, FlipRecord, LedgerEntry, MevIncident, NewCommitment, NewMevIncident, NewReceipt,
    Payout, PayoutKind, ReceiptRecord, Result, Role, Settlement, SettlementStatus, SlashReason,
    SlashRecord, StoredOrder,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ---- column decoding ------------------------------------------------------------------------

pub(super) fn conversion(idx: usize, ty: Type, error: impl Into<BoxError>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, error.into())
}

/// A TEXT column parsed with the type's canonical parser.
pub(super) fn parsed<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: Into<BoxError>,
{
    let text: String = row.get(idx)?;
    text.parse().map_err(|e| conversion(idx, Type::Text, e))
}

/// A nullable TEXT column parsed with the type's canonical parser.
pub(super) fn parsed_opt<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>>
where
    T: FromStr,
    T::Err: Into<BoxError>,
{
    let text: Option<String> = row.get(idx)?;
    text.map(|t| t.parse().map_err(|e| conversion(idx, Type::Text, e)))
        .transpose()
}

/// A TEXT column decoded by a name table (`AgentStatus::parse` and the like).
pub(super) fn named<T>(
    row: &Row<'_>,
    idx: usize,
    parse: impl FnOnce(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    parse(&text).ok_or_else(|| conversion(idx, Type::Text, format!("unknown value {text:?}")))
}

pub(super) fn timestamp(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
    Timestamp::from_unix(row.get(idx)?).map_err(|e| conversion(idx, Type::Integer, e))
}

pub(super) fn timestamp_opt(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Timestamp>> {
    let seconds: Option<i64> = row.get(idx)?;
    seconds
        .map(|s| Timestamp::from_unix(s).map_err(|e| conversion(idx, Type::Integer, e)))
        .transpose()
}

pub(super) fn usdc(row: &Row<'_>, idx: usize) -> rusqlite::Result<Usdc> {
    Usdc::from_micros(row.get(idx)?).map_err(|e| conversion(idx, Type::Integer, e))
}

/// An exact sum of the micro-USDC column `column` over the rows where `filter` holds, as two
/// columns: the sums of its high and its low 32 bits. SQLite's `sum()` of 64-bit integers
/// fails on overflow (and `total()` rounds): each half sums without overflow up to 2^31 rows,
/// and [`usdc_sum`] joins them in an `i128`.
pub(super) fn wide_sum(column: &str, filter: &str) -> String {
    format!(
        "coalesce(sum({column} >> 32) FILTER (WHERE {filter}), 0), \
         coalesce(sum({column} & 4294967295) FILTER (WHERE {filter}), 0)"
    )
}

/// Whether two [`wide_sum`]s of `column` differ, as an SQL condition (for `HAVING`): each is
/// brought to its canonical (high, low < 2^32) form first, so equal sums compare equal.
pub(super) fn wide_sums_differ(column: &str, a: &str, b: &str) -> String {
    let half = |filter: &str, mask: &str| {
        format!("coalesce(sum({column}{mask}) FILTER (WHERE {filter}), 0)")
    };
    let high = |filter: &str| {
        format!(
            "({} + ({} >> 32))",
            half(filter, " >> 32"),
            half(filter, " & 4294967295")
        )
    };
    let low = |filter: &str| format!("({} & 4294967295)", half(filter, " & 4294967295"));
    format!("({} <> {} OR {} <> {})", high(a), high(b), low(a), low(b))
}

/// The sum [`wide_sum`] selected at columns `idx` (high half) and `idx + 1` (low half).
pub(super) fn usdc_sum(row: &Row<'_>, idx: usize) -> rusqlite::Result<UsdcSum> {
    let high: i64 = row.get(idx)?;
    let low: i64 = row.get(idx + 1)?;
    UsdcSum::from_micros((i128::from(high) << 32) + i128::from(low))
        .ok_or_else(|| conversion(idx, Type::Integer, "a negative sum of amounts".to_owned()))
}

pub(super) fn usdc_opt(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Usdc>> {
    let micros: Option<i64> = row.get(idx)?;
    micros
        .map(|m| Usdc::from_micros(m).map_err(|e| conversion(idx, Type::Integer, e)))
        .transpose()
}

/// A non-negative INTEGER column as an unsigned Rust integer.
pub(super) fn unsigned<T: TryFrom<i64>>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T::Error: Into<BoxError>,
{
    T::try_from(row.get::<_, i64>(idx)?).map_err(|e| conversion(idx, Type::Integer, e))
}

fn endpoint(row: &Row<'_>, idx: usize) -> rusqlite::Result<EndpointUri> {
    let text: String = row.get(idx)?;
    EndpointUri::from_stored(&text).map_err(|e| conversion(idx, Type::Text, e))
}

/// An unsigned Rust integer as an SQLite INTEGER.
pub(super) fn to_i64<T: TryInto<i64>>(value: T) -> Result<i64>
where
    T::Error: std::error::Error + Send + Sync + 'static,
{
    value.try_into().map_err(crate::StoreError::internal)
}

// ---- row mappers ----------------------------------------------------------------------------

pub(super) const AGENT_COLUMNS: &str = "id, agent_id, chain, registry_address, owner_address, token_uri, \
     registration_file, status, created_at, updated_at";

pub(super) fn agent_row(row: &Row<'_>) -> rusqlite::Result<Agent> {
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

pub(super) const MANIFEST_COLUMNS: &str = "id, manifest_hash, agent_uuid, chain, endpoint_uri, pubkey, \
     nonce, valid_from, valid_until, signature, created_at, revoked_at";

pub(super) fn manifest_row(row: &Row<'_>) -> rusqlite::Result<ManifestRecord> {
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

pub(super) const FLIP_COLUMNS: &str = "id, agent_uuid, old_manifest_hash, new_manifest_hash, \
     suspicion_score, endpoint_changed, pubkey_changed, time_delta_seconds, flip_hash, alerted, \
     created_at";

pub(super) fn flip_row(row: &Row<'_>) -> rusqlite::Result<FlipRecord> {
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

pub(super) const RECEIPT_COLUMNS: &str = "id, chain, root_tx_hash, hop, source_agent_uuid, \
     dest_agent_uuid, manifest_id, manifest_hash, next_hop_hash, receipt_nonce, receipt_hash, \
     signature, hop_irrational, computational_cost, is_valid, invalidated_at, \
     invalidation_reason, created_at, order_hash, order_nonce, order_signature, amount";

pub(super) fn receipt_row(row: &Row<'_>) -> rusqlite::Result<ReceiptRecord> {
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
            order: match parsed_opt(row, 18)? {
                None => None,
                Some(hash) => Some(StoredOrder {
                    hash,
                    nonce: unsigned(row, 19)?,
                    signature: parsed(row, 20)?,
                    amount: usdc(row, 21)?,
                }),
            },
            next_hop: parsed_opt(row, 8)?,
            nonce: unsigned(row, 9)?,
            receipt_hash: parsed(row, 10)?,
            signature: parsed(row, 11)?,
            hop_irrational: row.get(12)?,
            computational_cost: usdc(row, 13)?,
        },
        is_valid: row.get(14)?,
        invalidated_at: timestamp_opt(row, 15)?,
        invalidation_reason: row
            .get::<_, Option<String>>(16)?
            .map(|r| {
                LoopKind::parse_reason(&r)
                    .ok_or_else(|| conversion(16, Type::Text, format!("unknown reason {r:?}")))
            })
            .transpose()?,
        created_at: timestamp(row, 17)?,
    })
}

pub(super) const SETTLEMENT_COLUMNS: &str = "id, root_tx_hash, kind, cycle_agents, depth, total_slashed, \
     reporter_address, bounty, status, created_at, liable_agents, closing_receipt_hash";

/// A JSON list of UUIDs.
fn uuid_list(row: &Row<'_>, idx: usize) -> rusqlite::Result<Vec<kagami_core::crypto::Uuid>> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| conversion(idx, Type::Text, e))
}

pub(super) fn settlement_row(row: &Row<'_>) -> rusqlite::Result<Settlement> {
    Ok(Settlement {
        id: parsed(row, 0)?,
        root_tx: parsed(row, 1)?,
        kind: named(row, 2, LoopKind::parse)?,
        cycle_agents: uuid_list(row, 3)?,
        depth: unsigned(row, 4)?,
        liable: uuid_list(row, 10)?,
        closing_receipt: parsed_opt(row, 11)?,
        total_slashed: usdc(row, 5)?,
        reporter: parsed_opt(row, 6)?,
        bounty: usdc_opt(row, 7)?,
        status: named(row, 8, SettlementStatus::parse)?,
        created_at: timestamp(row, 9)?,
    })
}

pub(super) const SLASH_COLUMNS: &str =
    "id, agent_uuid, amount, reason, settlement_id, incident_id, commitment_id, created_at";

pub(super) fn slash_row(row: &Row<'_>) -> rusqlite::Result<SlashRecord> {
    Ok(SlashRecord {
        id: parsed(row, 0)?,
        agent: parsed(row, 1)?,
        amount: usdc(row, 2)?,
        reason: named(row, 3, SlashReason::parse)?,
        cause: cause(row, 4)?,
        created_at: timestamp(row, 7)?,
    })
}

/// The cause columns `settlement_id, incident_id, commitment_id` from `idx` on.
pub(super) fn cause(row: &Row<'_>, idx: usize) -> rusqlite::Result<Cause> {
    match (
        parsed_opt(row, idx)?,
        parsed_opt(row, idx + 1)?,
        parsed_opt(row, idx + 2)?,
    ) {
        (Some(id), None, None) => Ok(Cause::Settlement(id)),
        (None, Some(id), None) => Ok(Cause::Incident(id)),
        (None, None, Some(id)) => Ok(Cause::Commitment(id)),
        _ => Err(conversion(idx, Type::Text, "not exactly one cause")),
    }
}

/// The cause's `(settlement_id, incident_id, commitment_id)` column values.
pub(super) fn cause_columns(cause: Cause) -> (Option<String>, Option<String>, Option<String>) {
    match cause {
        Cause::Settlement(id) => (Some(id.to_string()), None, None),
        Cause::Incident(id) => (None, Some(id.to_string()), None),
        Cause::Commitment(id) => (None, None, Some(id.to_string())),
    }
}

/// A line of the `kagami_ledger` view: `id, entry, agent_uuid, reporter_address, amount,
/// settlement_id, incident_id, commitment_id, created_at`.
pub(super) fn ledger_row(row: &Row<'_>) -> rusqlite::Result<LedgerEntry> {
    let entry: String = row.get(1)?;
    let amount = usdc(row, 4)?;
    let cause = cause(row, 5)?;
    let created_at = timestamp(row, 8)?;
    Ok(match entry.as_str() {
        "slash" => LedgerEntry::Slash {
            id: parsed(row, 0)?,
            agent: parsed(row, 2)?,
            cause,
            amount,
            created_at,
        },
        _ => LedgerEntry::Payout(Payout {
            id: parsed(row, 0)?,
            kind: match parsed_opt(row, 3)? {
                Some(reporter) if entry == "bounty" => PayoutKind::Bounty { reporter },
                _ => PayoutKind::Retained,
            },
            cause,
            amount,
            created_at,
        }),
    })
}

pub(super) const COMMITMENT_COLUMNS: &str = "id, root_tx_hash, commitment_hash, chain, first_hop_agent, \
     routing_hash, amount, time_lock_until, status, onchain_tx_hash, created_at, payer_agent, \
     payer_signature, first_hop_signature, first_hop_manifest_hash, disputed_by_manifest_hash";

pub(super) fn commitment_row(row: &Row<'_>) -> rusqlite::Result<Commitment> {
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
            cosigned: match parsed_opt(row, 11)? {
                None => None,
                Some(payer) => Some(Cosignatures {
                    payer,
                    payer_signature: parsed(row, 12)?,
                    first_hop_signature: parsed(row, 13)?,
                    first_hop_manifest: parsed(row, 14)?,
                }),
            },
        },
        status: named(row, 8, CommitmentStatus::parse)?,
        onchain_tx_hash: parsed_opt(row, 9)?,
        disputed_by: parsed_opt(row, 15)?,
        created_at: timestamp(row, 10)?,
    })
}

pub(super) const INCIDENT_COLUMNS: &str = "id, root_tx_hash, attack_type, attacker_agent_uuid, \
     victim_agent_uuid, extracted_value, block_number, tx_index, evidence_hash, slashed_amount, \
     created_at, attack_tx";

pub(super) fn incident_row(row: &Row<'_>) -> rusqlite::Result<MevIncident> {
    Ok(MevIncident {
        id: parsed(row, 0)?,
        incident: NewMevIncident {
            root_tx: parsed(row, 1)?,
            attack_type: named(row, 2, AttackType::parse)?,
            attacker: parsed(row, 3)?,
            victim: parsed_opt(row, 4)?,
            extracted_value: usdc(row, 5)?,
            block_number: unsigned(row, 6)?,
            tx_index: unsigned(row, 7)?,
            evidence_hash: parsed(row, 8)?,
            attack_tx: parsed(row, 11)?,
        },
        slashed_amount: usdc(row, 9)?,
        created_at: timestamp(row, 10)?,
    })
}

pub(super) const API_KEY_COLUMNS: &str = "id, key_hmac, role, label, created_at, revoked_at";

pub(super) fn api_key_row(row: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: parsed(row, 0)?,
        key_hmac: row.get(1)?,
        role: named(row, 2, Role::parse)?,
        label: row.get(3)?,
        created_at: timestamp(row, 4)?,
        revoked_at: timestamp_opt(row, 5)?,
    })
}

/// `sum / count` rounded half away from zero to two decimals, exactly as PostgreSQL's
/// `round(avg(..)::numeric, 2)` does (integer arithmetic, then one correctly rounded division,
/// which yields the same `f64` as parsing the decimal text); 0.0 without flips.
pub(super) fn mean_two_decimals(sum: i64, count: i64) -> f64 {
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

// ---- the audit log ----------------------------------------------------------------------------

/// A 32-byte BLOB column.
pub(super) fn log_hash(row: &Row<'_>, idx: usize) -> rusqlite::Result<kagami_tlog::Hash> {
    let bytes: Vec<u8> = row.get(idx)?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(kagami_tlog::Hash)
        .map_err(|_| conversion(idx, Type::Blob, format!("{} bytes, not 32", bytes.len())))
}

pub(super) const LOG_ENTRY_COLUMNS: &str =
    "leaf_index, kind, object_key, entry, leaf_hash, created_at";

pub(super) fn log_entry_row(row: &Row<'_>) -> rusqlite::Result<crate::LogEntry> {
    let index: Option<i64> = row.get(0)?;
    Ok(crate::LogEntry {
        index: index
            .map(|i| u64::try_from(i).map_err(|e| conversion(0, Type::Integer, e)))
            .transpose()?,
        kind: row.get(1)?,
        key: row.get(2)?,
        entry: row.get(3)?,
        leaf_hash: log_hash(row, 4)?,
        created_at: timestamp(row, 5)?,
    })
}

pub(super) fn log_head_row(row: &Row<'_>) -> rusqlite::Result<crate::LogHead> {
    Ok(crate::LogHead {
        size: unsigned(row, 0)?,
        root: log_hash(row, 1)?,
        checkpoint: row.get(2)?,
    })
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
