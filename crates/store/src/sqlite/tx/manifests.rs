//! SqliteTx: ManifestRows.

use super::*;

impl ManifestRows for SqliteTx<'_> {
    async fn insert_manifest(&self, m: &ManifestRecord) -> Result<()> {
        self.execute(
            "INSERT INTO erc8004_endpoint_manifests (id, agent_uuid, endpoint_uri, pubkey, nonce, \
                 valid_from, valid_until, manifest_hash, signature, chain, status, created_at, \
                 revoked_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'active', ?11, NULL)",
            params![
                m.id.to_string(),
                m.agent.to_string(),
                m.endpoint.as_str(),
                m.pubkey.as_str(),
                to_i64(m.nonce)?,
                m.valid_from.unix(),
                m.valid_until.unix(),
                m.hash.to_string(),
                m.signature.to_string(),
                m.chain.as_str(),
                m.created_at.unix(),
            ],
        )
        .map(drop)
    }

    async fn manifest_by_hash(&self, hash: &Hash32) -> Result<Option<ManifestRecord>> {
        self.one(
            &format!(
                "SELECT {MANIFEST_COLUMNS} FROM erc8004_endpoint_manifests \
                 WHERE manifest_hash = ?1"
            ),
            params![hash.to_string()],
            manifest_row,
        )
    }

    async fn manifests_of(&self, agent: Uuid) -> Result<Vec<ManifestRecord>> {
        self.all(
            &format!(
                "SELECT {MANIFEST_COLUMNS} FROM erc8004_endpoint_manifests \
                 WHERE agent_uuid = ?1 ORDER BY nonce DESC"
            ),
            params![agent.to_string()],
            manifest_row,
        )
    }

    async fn manifests_for_publish(
        &self,
        agent: Uuid,
        nonce: u64,
        now: Timestamp,
    ) -> Result<Vec<ManifestRecord>> {
        self.all(
            &format!(
                "SELECT {MANIFEST_COLUMNS} FROM erc8004_endpoint_manifests \
                 WHERE agent_uuid = ?1 AND nonce = ?2 \
                 UNION SELECT {MANIFEST_COLUMNS} FROM erc8004_endpoint_manifests \
                 WHERE agent_uuid = ?1 AND valid_until > ?3 \
                 UNION SELECT {MANIFEST_COLUMNS} FROM erc8004_endpoint_manifests \
                 WHERE agent_uuid = ?1 AND nonce = \
                 (SELECT max(nonce) FROM erc8004_endpoint_manifests WHERE agent_uuid = ?1) \
                 ORDER BY nonce DESC"
            ),
            params![agent.to_string(), to_i64(nonce)?, now.unix()],
            manifest_row,
        )
    }

    async fn manifests_page(
        &self,
        agent: Uuid,
        before_nonce: Option<u64>,
        limit: u32,
    ) -> Result<Vec<ManifestRecord>> {
        match before_nonce {
            None => self.all(
                &format!(
                    "SELECT {MANIFEST_COLUMNS} FROM erc8004_endpoint_manifests \
                     WHERE agent_uuid = ?1 ORDER BY nonce DESC LIMIT ?2"
                ),
                params![agent.to_string(), i64::from(limit)],
                manifest_row,
            ),
            Some(before) => self.all(
                &format!(
                    "SELECT {MANIFEST_COLUMNS} FROM erc8004_endpoint_manifests \
                     WHERE agent_uuid = ?1 AND nonce < ?2 ORDER BY nonce DESC LIMIT ?3"
                ),
                params![agent.to_string(), to_i64(before)?, i64::from(limit)],
                manifest_row,
            ),
        }
    }

    async fn manifests_in_force(
        &self,
        agent: Uuid,
        at: Timestamp,
        also: Option<&Hash32>,
    ) -> Result<Vec<ManifestRecord>> {
        self.all(
            &format!(
                "SELECT * FROM (SELECT {MANIFEST_COLUMNS} FROM erc8004_endpoint_manifests \
                     WHERE agent_uuid = ?1 AND valid_until > ?2 AND valid_from <= ?2 \
                       AND (revoked_at IS NULL OR revoked_at > ?2) \
                     ORDER BY nonce DESC LIMIT 1) \
                 UNION \
                 SELECT {MANIFEST_COLUMNS} FROM erc8004_endpoint_manifests \
                 WHERE agent_uuid = ?1 AND manifest_hash = ?3"
            ),
            params![agent.to_string(), at.unix(), also.map(ToString::to_string)],
            manifest_row,
        )
    }

    async fn manifests_overlapping(
        &self,
        agent: Uuid,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<ManifestRecord>> {
        self.all(
            &format!(
                "SELECT {MANIFEST_COLUMNS} FROM erc8004_endpoint_manifests \
                 WHERE agent_uuid = ?1 AND valid_until > ?2 AND valid_from < ?3 \
                 ORDER BY nonce DESC"
            ),
            params![agent.to_string(), from.unix(), until.unix()],
            manifest_row,
        )
    }

    async fn set_manifest_revoked(&self, id: Uuid, at: Timestamp) -> Result<()> {
        let rows = self.execute(
            "UPDATE erc8004_endpoint_manifests SET status = 'revoked', revoked_at = ?2 \
             WHERE id = ?1",
            params![id.to_string(), at.unix()],
        )?;
        touched(rows, Entity::Manifest)
    }

    async fn insert_flip(&self, f: &FlipRecord) -> Result<()> {
        self.execute(
            "INSERT INTO erc8004_manifest_flips (id, agent_uuid, old_manifest_hash, \
                 new_manifest_hash, time_delta_seconds, endpoint_changed, pubkey_changed, \
                 flip_hash, suspicion_score, alerted, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                f.id.to_string(),
                f.agent.to_string(),
                f.old_manifest.to_string(),
                f.new_manifest.to_string(),
                f.flip.time_delta_seconds,
                f.flip.endpoint_changed,
                f.flip.pubkey_changed,
                f.flip_hash.to_string(),
                i64::from(f.flip.suspicion_score),
                f.alerted,
                f.created_at.unix(),
            ],
        )
        .map(drop)
    }

    async fn flip_introducing(&self, new: &Hash32) -> Result<Option<FlipRecord>> {
        self.one(
            &format!(
                "SELECT {FLIP_COLUMNS} FROM erc8004_manifest_flips WHERE new_manifest_hash = ?1"
            ),
            params![new.to_string()],
            flip_row,
        )
    }

    async fn flips_of(&self, agent: Uuid) -> Result<Vec<FlipRecord>> {
        self.all(
            &format!(
                "SELECT {FLIP_COLUMNS} FROM erc8004_manifest_flips WHERE agent_uuid = ?1 \
                 ORDER BY created_at DESC, rowid DESC"
            ),
            params![agent.to_string()],
            flip_row,
        )
    }

    /// Computed directly (SQLite has no materialized views), as of `now`.
    async fn flip_metrics(&self, agent: Uuid, now: Timestamp) -> Result<(FlipMetrics, Timestamp)> {
        let counts = self.one(
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
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, Option<i64>>(5)?,
                ))
            },
        )?;
        let (total, rapid, endpoint, high, score_sum, last) = counts.unwrap_or_default();
        let count = |n: i64| u64::try_from(n).map_err(StoreError::internal);
        let metrics = FlipMetrics {
            total_flips: count(total)?,
            rapid_flips_1min: count(rapid)?,
            endpoint_changes: count(endpoint)?,
            high_suspicion_flips: count(high)?,
            avg_suspicion_score: mean_two_decimals(score_sum, total),
            last_flip_at: last
                .map(Timestamp::from_unix)
                .transpose()
                .map_err(StoreError::internal)?,
        };
        Ok((metrics, now))
    }

    async fn refresh_flip_metrics(&self) -> Result<()> {
        Ok(())
    }
}
