//! Classification of SQLite errors into [`StoreError`], once, at the boundary.

use rusqlite::ffi::{self, ErrorCode};

use crate::{ConflictKind, Entity, StoreError};

/// The unique constraints of the schema: the columns SQLite names in its "UNIQUE constraint
/// failed: table.col, ..." message, and their kind.
const UNIQUE_CONSTRAINTS: &[(&str, ConflictKind)] = &[
    (
        "erc8004_agents.chain, erc8004_agents.registry_address, erc8004_agents.agent_id",
        ConflictKind::AgentRegistered,
    ),
    (
        "erc8004_endpoint_manifests.agent_uuid, erc8004_endpoint_manifests.nonce",
        ConflictKind::ManifestNonce,
    ),
    (
        "erc8004_endpoint_manifests.manifest_hash",
        ConflictKind::ManifestHash,
    ),
    (
        "erc8004_forward_receipts.receipt_hash",
        ConflictKind::ReceiptHash,
    ),
    (
        "erc8004_forward_receipts.dest_agent_uuid, erc8004_forward_receipts.receipt_nonce",
        ConflictKind::ReceiptNonce,
    ),
    (
        "erc8004_settlements.root_tx_hash",
        ConflictKind::SettlementRoot,
    ),
    (
        "erc8004_onchain_commitments.root_tx_hash",
        ConflictKind::CommitmentRoot,
    ),
    ("kagami_api_keys.key_hmac", ConflictKind::ApiKey),
    ("erc8004_forward_receipts.order_hash", ConflictKind::Order),
    (
        "erc8004_forward_receipts.source_agent_uuid, erc8004_forward_receipts.order_nonce",
        ConflictKind::OrderNonce,
    ),
    (
        "erc8004_mev_incidents.attack_tx_hash",
        ConflictKind::MevAttack,
    ),
];

/// Classifies an error of a statement on an open connection: a unique violation is a
/// [`StoreError::Conflict`] of the constraint's kind; a foreign-key violation is
/// [`StoreError::NotFound`] (SQLite does not name the key: every foreign key of the schema
/// that a use case can violate references an agent); the database staying busy or locked past
/// the busy timeout is [`StoreError::Busy`]; anything else is [`StoreError::Internal`] with
/// the driver error as its source.
pub(super) fn classify(error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, message) = &error {
        match failure.code {
            ErrorCode::ConstraintViolation
                if matches!(
                    failure.extended_code,
                    ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                return StoreError::Conflict(conflict_kind(message.as_deref().unwrap_or_default()));
            }
            ErrorCode::ConstraintViolation
                if failure.extended_code == ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
            {
                return StoreError::NotFound(Entity::Agent);
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return StoreError::busy(error);
            }
            _ => {}
        }
    }
    StoreError::internal(error)
}

/// Classifies an error while opening the database: besides [`classify`]'s rules, a file that
/// cannot be opened or read (missing directory, permissions, I/O failure) is
/// [`StoreError::Unavailable`].
pub(super) fn classify_open(error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &error
        && matches!(
            failure.code,
            ErrorCode::CannotOpen | ErrorCode::SystemIoFailure | ErrorCode::PermissionDenied
        )
    {
        return StoreError::unavailable(error);
    }
    match classify(error) {
        // A database that stays locked while it is being opened is not there yet.
        StoreError::Busy(source) => StoreError::Unavailable(source),
        other => other,
    }
}

/// The kind of SQLite's unique-violation message; an unknown column list (a primary key
/// collision) is [`ConflictKind::Other`].
fn conflict_kind(message: &str) -> ConflictKind {
    let columns = message
        .strip_prefix("UNIQUE constraint failed: ")
        .unwrap_or(message);
    UNIQUE_CONSTRAINTS
        .iter()
        .find(|(cols, _)| *cols == columns)
        .map_or(ConflictKind::Other, |(_, kind)| *kind)
}

/// `?`-friendly classification of driver results.
pub(super) trait Db<T> {
    /// Classifies the error with [`classify`].
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_messages_map_to_the_conflict_kinds_of_both_backends() {
        assert_eq!(
            conflict_kind(
                "UNIQUE constraint failed: erc8004_forward_receipts.dest_agent_uuid, erc8004_forward_receipts.receipt_nonce"
            ),
            ConflictKind::ReceiptNonce
        );
        assert_eq!(
            conflict_kind("UNIQUE constraint failed: kagami_api_keys.key_hmac"),
            ConflictKind::ApiKey
        );
        assert_eq!(
            conflict_kind("UNIQUE constraint failed: erc8004_slashes.id"),
            ConflictKind::Other
        );
    }
}
