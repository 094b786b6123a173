//! Classification of SQLite errors into [`StoreError`], once, at the boundary.

use rusqlite::ffi::{self, ErrorCode};

use crate::StoreError;

/// The unique constraints of the schema: the columns SQLite names in its "UNIQUE constraint
/// failed: table.col, ..." message, and the constraint name both backends report.
const UNIQUE_CONSTRAINTS: &[(&str, &str)] = &[
    (
        "erc8004_agents.chain, erc8004_agents.registry_address, erc8004_agents.agent_id",
        "uq_agents_registry",
    ),
    (
        "erc8004_endpoint_manifests.agent_uuid, erc8004_endpoint_manifests.nonce",
        "uq_manifests_agent_nonce",
    ),
    (
        "erc8004_endpoint_manifests.manifest_hash",
        "uq_manifests_hash",
    ),
    ("erc8004_forward_receipts.receipt_hash", "uq_receipts_hash"),
    (
        "erc8004_forward_receipts.dest_agent_uuid, erc8004_forward_receipts.receipt_nonce",
        "uq_receipts_dest_nonce",
    ),
    ("erc8004_settlements.root_tx_hash", "uq_settlements_root"),
    (
        "erc8004_onchain_commitments.root_tx_hash",
        "uq_commitments_root",
    ),
    ("kagami_api_keys.key_hmac", "uq_api_keys_hmac"),
];

/// Classifies an error of a statement on an open connection: a unique violation is a
/// [`StoreError::Conflict`] named after the constraint; the database staying busy or locked
/// past the busy timeout is [`StoreError::Unavailable`]; anything else is
/// [`StoreError::Internal`] with the driver error as its source.
pub(super) fn classify(error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, message) = &error {
        match failure.code {
            ErrorCode::ConstraintViolation
                if matches!(
                    failure.extended_code,
                    ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                return StoreError::Conflict {
                    constraint: constraint_name(message.as_deref().unwrap_or_default()),
                };
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return StoreError::unavailable(error);
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
    classify(error)
}

/// The constraint name for SQLite's unique-violation message; an unknown column list (a
/// primary key collision) is reported as the list itself, a stable description.
fn constraint_name(message: &str) -> String {
    let columns = message
        .strip_prefix("UNIQUE constraint failed: ")
        .unwrap_or(message);
    UNIQUE_CONSTRAINTS
        .iter()
        .find(|(cols, _)| *cols == columns)
        .map_or_else(|| columns.to_owned(), |(_, name)| (*name).to_owned())
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
    fn unique_messages_map_to_the_constraint_names_of_both_backends() {
        assert_eq!(
            constraint_name(
                "UNIQUE constraint failed: erc8004_forward_receipts.dest_agent_uuid, erc8004_forward_receipts.receipt_nonce"
            ),
            "uq_receipts_dest_nonce"
        );
        assert_eq!(
            constraint_name("UNIQUE constraint failed: kagami_api_keys.key_hmac"),
            "uq_api_keys_hmac"
        );
        assert_eq!(
            constraint_name("UNIQUE constraint failed: erc8004_slashes.id"),
            "erc8004_slashes.id"
        );
    }
}
