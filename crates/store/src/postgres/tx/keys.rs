//! PgTx: KeyRows.

use super::*;

impl<C: GenericClient + Sync> KeyRows for PgTx<'_, C> {
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        self.execute(
            "INSERT INTO kagami_api_keys (id, key_hmac, role, label, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &key.id,
                &key.key_hmac.as_slice(),
                &key.role.as_str(),
                &key.label,
                &ts(key.created_at),
            ],
        )
        .await
        .map(drop)
    }

    async fn api_key(&self, id: Uuid) -> Result<Option<ApiKeyRecord>> {
        self.one(
            concat!(
                "SELECT ",
                api_key_columns!(),
                " FROM kagami_api_keys WHERE id = $1"
            ),
            &[&id],
            sql::api_key,
        )
        .await
    }

    async fn api_key_by_hmac(&self, hmac: &[u8; 32]) -> Result<Option<ApiKeyRecord>> {
        self.one(
            concat!(
                "SELECT ",
                api_key_columns!(),
                " FROM kagami_api_keys WHERE key_hmac = $1 AND revoked_at IS NULL"
            ),
            &[&hmac.as_slice()],
            sql::api_key,
        )
        .await
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        self.all(
            concat!(
                "SELECT ",
                api_key_columns!(),
                " FROM kagami_api_keys ORDER BY created_at, seq"
            ),
            &[],
            sql::api_key,
        )
        .await
    }

    async fn set_api_key_revoked(&self, id: Uuid, at: Timestamp) -> Result<()> {
        let rows = self
            .execute(
                "UPDATE kagami_api_keys SET revoked_at = $2 WHERE id = $1",
                &[&id, &ts(at)],
            )
            .await?;
        touched(rows, Entity::ApiKey)
    }
}
