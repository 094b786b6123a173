//! Driver errors become [`StoreError`]s here, and nowhere else.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::{ConflictKind, Entity, StoreError};

/// Classifies a driver error: unique violation → [`StoreError::Conflict`] with the
/// constraint's kind; foreign-key violation → [`StoreError::NotFound`] for the referenced
/// entity; deadlocks, serialization failures, lock-wait and statement timeouts →
/// [`StoreError::Busy`] (the backend retries them); connection failures (SQLSTATE class 08,
/// 57P01..57P03 shutdowns, 53300 too many connections, I/O errors, closed connections) →
/// [`StoreError::Unavailable`]; anything else → [`StoreError::Internal`] with the driver
/// error as its source.
pub(super) fn classify(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            return StoreError::Conflict(conflict_kind(db.constraint().unwrap_or_default()));
        }
        if *code == SqlState::FOREIGN_KEY_VIOLATION
            && let Some(entity) = db.constraint().and_then(referenced_entity)
        {
            return StoreError::NotFound(entity);
        }
        let state = code.code();
        if matches!(state, "40P01" | "40001" | "55P03" | "57014") {
            return StoreError::busy(e);
        }
        let unavailable =
            state.starts_with("08") || matches!(state, "57P01" | "57P02" | "57P03" | "53300");
        return if unavailable {
            StoreError::unavailable(e)
        } else {
            StoreError::internal(e)
        };
    }
    if e.is_closed() || caused_by_io(&e) {
        StoreError::unavailable(e)
    } else {
        StoreError::internal(e)
    }
}

/// The kind of a named unique constraint of the schema.
fn conflict_kind(constraint: &str) -> ConflictKind {
    match constraint {
        "uq_agents_registry" => ConflictKind::AgentRegistered,
        "uq_manifests_agent_nonce" => ConflictKind::ManifestNonce,
        "uq_manifests_hash" => ConflictKind::ManifestHash,
        "uq_receipts_hash" => ConflictKind::ReceiptHash,
        "uq_receipts_dest_nonce" => ConflictKind::ReceiptNonce,
        "uq_receipts_order" => ConflictKind::Order,
        "uq_receipts_source_order_nonce" => ConflictKind::OrderNonce,
        "uq_mev_attack_tx" => ConflictKind::MevAttack,
        "uq_commitments_root" => ConflictKind::CommitmentRoot,
        "uq_settlements_root" => ConflictKind::SettlementRoot,
        "uq_api_keys_hmac" => ConflictKind::ApiKey,
        _ => ConflictKind::Other,
    }
}

/// Classifies a failure to get a pooled connection: timeouts and a closed pool are
/// [`StoreError::Unavailable`]; a failed connection attempt is classified by [`classify`].
pub(super) fn classify_pool(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => classify(e),
        PoolError::Timeout(_) | PoolError::Closed => StoreError::unavailable(e),
        other => StoreError::internal(other),
    }
}

/// The entity a named foreign key of the schema references.
fn referenced_entity(constraint: &str) -> Option<Entity> {
    Some(match constraint {
        "fk_stakes_agent"
        | "fk_manifests_agent"
        | "fk_flips_agent"
        | "fk_receipts_source"
        | "fk_receipts_dest"
        | "fk_stake_utilization_agent"
        | "fk_commitments_agent"
        | "fk_mev_attacker"
        | "fk_mev_victim"
        | "fk_slashes_agent"
        | "fk_commitments_payer" => Entity::Agent,
        "fk_receipts_manifest" | "fk_flips_old_manifest" | "fk_flips_new_manifest" => {
            Entity::Manifest
        }
        "fk_slashes_commitment" => Entity::Commitment,
        _ => return None,
    })
}

fn caused_by_io(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_foreign_key_maps_to_an_entity() {
        assert_eq!(referenced_entity("fk_receipts_dest"), Some(Entity::Agent));
        assert_eq!(
            referenced_entity("fk_receipts_manifest"),
            Some(Entity::Manifest)
        );
        assert_eq!(
            referenced_entity("fk_slashes_commitment"),
            Some(Entity::Commitment)
        );
        assert_eq!(referenced_entity("fk_slashes_settlement"), None);
    }

    #[test]
    fn every_named_unique_constraint_has_a_kind() {
        for (name, kind) in [
            ("uq_agents_registry", ConflictKind::AgentRegistered),
            ("uq_manifests_agent_nonce", ConflictKind::ManifestNonce),
            ("uq_receipts_dest_nonce", ConflictKind::ReceiptNonce),
            ("uq_api_keys_hmac", ConflictKind::ApiKey),
            ("pk_something", ConflictKind::Other),
        ] {
            assert_eq!(conflict_kind(name), kind);
        }
    }

    #[test]
    fn pool_timeouts_and_closed_pools_are_unavailable() {
        let timeout = PoolError::Timeout(deadpool_postgres::TimeoutType::Wait);
        assert!(matches!(classify_pool(timeout), StoreError::Unavailable(_)));
        assert!(matches!(
            classify_pool(PoolError::Closed),
            StoreError::Unavailable(_)
        ));
    }
}
