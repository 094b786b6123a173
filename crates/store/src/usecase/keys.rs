//! API keys (only their HMACs are stored).

use kagami_core::crypto::{Timestamp, Uuid};

use crate::{ApiKeyRecord, Entity, Result, Role, StoreError, tx::Tx};

pub(crate) async fn create<T: Tx>(
    tx: &T,
    key_hmac: [u8; 32],
    role: Role,
    label: String,
    now: Timestamp,
) -> Result<ApiKeyRecord> {
    let key = ApiKeyRecord {
        id: Uuid::new_v4(),
        key_hmac,
        role,
        label,
        created_at: now,
        revoked_at: None,
    };
    tx.insert_api_key(&key).await?;
    Ok(key)
}

pub(crate) async fn by_hmac<T: Tx>(tx: &T, key_hmac: [u8; 32]) -> Result<Option<ApiKeyRecord>> {
    tx.api_key_by_hmac(&key_hmac).await
}

pub(crate) async fn list<T: Tx>(tx: &T) -> Result<Vec<ApiKeyRecord>> {
    tx.api_keys().await
}

pub(crate) async fn revoke<T: Tx>(tx: &T, id: Uuid, now: Timestamp) -> Result<ApiKeyRecord> {
    let mut key = tx
        .api_key(id)
        .await?
        .ok_or(StoreError::NotFound(Entity::ApiKey))?;
    if key.revoked_at.is_none() {
        tx.set_api_key_revoked(id, now).await?;
        key.revoked_at = Some(now);
    }
    Ok(key)
}
