//! SqliteTx: KeyRows.

use super::*;

impl KeyRows for SqliteTx<'_> {
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        self.execute(
            "INSERT INTO kagami_api_keys (id, key_hmac, role, label, created_at, revoked_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
            params![
                key.id.to_string(),
                key.key_hmac.as_slice(),
                key.role.as_str(),
                key.label,
                key.created_at.unix()
            ],
        )
        .map(drop)
    }

    async fn api_key(&self, id: Uuid) -> Result<Option<ApiKeyRecord>> {
        self.one(
            &format!("SELECT {API_KEY_COLUMNS} FROM kagami_api_keys WHERE id = ?1"),
            params![id.to_string()],
            api_key_row,
        )
    }

    async fn api_key_by_hmac(&self, hmac: &[u8; 32]) -> Result<Option<ApiKeyRecord>> {
        self.one(
            &format!(
                "SELECT {API_KEY_COLUMNS} FROM kagami_api_keys \
                 WHERE key_hmac = ?1 AND revoked_at IS NULL"
            ),
            params![hmac.as_slice()],
            api_key_row,
        )
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        self.all(
            &format!("SELECT {API_KEY_COLUMNS} FROM kagami_api_keys ORDER BY created_at, rowid"),
            [],
            api_key_row,
        )
    }

    async fn set_api_key_revoked(&self, id: Uuid, at: Timestamp) -> Result<()> {
        let rows = self.execute(
            "UPDATE kagami_api_keys SET revoked_at = ?2 WHERE id = ?1",
            params![id.to_string(), at.unix()],
        )?;
        touched(rows, Entity::ApiKey)
    }
}
