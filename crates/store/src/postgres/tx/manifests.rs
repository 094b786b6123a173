//! PgTx: ManifestRows.

use super::*;

impl<C: GenericClient + Sync> ManifestRows for PgTx<'_, C> {
    async fn insert_manifest(&self, m: &ManifestRecord) -> Result<()> {
        self.execute(
            "INSERT INTO erc8004_endpoint_manifests (id, agent_uuid, endpoint_uri, pubkey, nonce, \
             valid_from, valid_until, manifest_hash, signature, chain, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11)",
            &[
                &m.id,
                &m.agent,
                &m.endpoint.as_str(),
                &m.pubkey.as_str(),
                &to_i64(m.nonce, "nonce")?,
                &ts(m.valid_from),
                &ts(m.valid_until),
                &m.hash.to_string(),
                &m.signature.to_string(),
                &m.chain.as_str(),
                &ts(m.created_at),
            ],
        )
        .await
        .map(drop)
    }

    async fn manifest_by_hash(&self, hash: &Hash32) -> Result<Option<ManifestRecord>> {
        self.one(
            concat!(
                "SELECT ",
                manifest_columns!(),
                " FROM erc8004_endpoint_manifests WHERE manifest_hash = $1"
            ),
            &[&hash.to_string()],
            sql::manifest,
        )
        .await
    }

    async fn manifests_of(&self, agent: Uuid) -> Result<Vec<ManifestRecord>> {
        self.all(
            concat!(
                "SELECT ",
                manifest_columns!(),
                " FROM erc8004_endpoint_manifests WHERE agent_uuid = $1 ORDER BY nonce DESC"
            ),
            &[&agent],
            sql::manifest,
        )
        .await
    }

    async fn manifests_for_publish(
        &self,
        agent: Uuid,
        nonce: u64,
        now: Timestamp,
    ) -> Result<Vec<ManifestRecord>> {
        self.all(
            concat!(
                "SELECT ",
                manifest_columns!(),
                " FROM erc8004_endpoint_manifests WHERE agent_uuid = $1 AND nonce = $2 \
                 UNION SELECT ",
                manifest_columns!(),
                " FROM erc8004_endpoint_manifests WHERE agent_uuid = $1 AND valid_until > $3 \
                 UNION SELECT ",
                manifest_columns!(),
                " FROM erc8004_endpoint_manifests WHERE agent_uuid = $1 AND nonce = \
                 (SELECT max(nonce) FROM erc8004_endpoint_manifests WHERE agent_uuid = $1) \
                 ORDER BY nonce DESC"
            ),
            &[&agent, &to_i64(nonce, "nonce")?, &ts(now)],
            sql::manifest,
        )
        .await
    }

    async fn manifests_page(
        &self,
        agent: Uuid,
        before_nonce: Option<u64>,
        limit: u32,
    ) -> Result<Vec<ManifestRecord>> {
        match before_nonce {
            None => {
                self.all(
                    concat!(
                        "SELECT ",
                        manifest_columns!(),
                        " FROM erc8004_endpoint_manifests WHERE agent_uuid = $1 \
                         ORDER BY nonce DESC LIMIT $2"
                    ),
                    &[&agent, &i64::from(limit)],
                    sql::manifest,
                )
                .await
            }
            Some(before) => {
                self.all(
                    concat!(
                        "SELECT ",
                        manifest_columns!(),
                        " FROM erc8004_endpoint_manifests WHERE agent_uuid = $1 AND nonce < $2 \
                         ORDER BY nonce DESC LIMIT $3"
                    ),
                    &[&agent, &to_i64(before, "before_nonce")?, &i64::from(limit)],
                    sql::manifest,
                )
                .await
            }
        }
    }

    async fn manifests_in_force(
        &self,
        agent: Uuid,
        at: Timestamp,
        also: Option<&Hash32>,
    ) -> Result<Vec<ManifestRecord>> {
        self.all(
            concat!(
                "(SELECT ",
                manifest_columns!(),
                " FROM erc8004_endpoint_manifests \
                 WHERE agent_uuid = $1 AND valid_until > $2 AND valid_from <= $2 \
                   AND (revoked_at IS NULL OR revoked_at > $2) \
                 ORDER BY nonce DESC LIMIT 1) \
                 UNION \
                 (SELECT ",
                manifest_columns!(),
                " FROM erc8004_endpoint_manifests WHERE agent_uuid = $1 AND manifest_hash = $3)"
            ),
            &[&agent, &ts(at), &also.map(ToString::to_string)],
            sql::manifest,
        )
        .await
    }

    async fn manifests_overlapping(
        &self,
        agent: Uuid,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<ManifestRecord>> {
        self.all(
            concat!(
                "SELECT ",
                manifest_columns!(),
                " FROM erc8004_endpoint_manifests \
                 WHERE agent_uuid = $1 AND valid_until > $2 AND valid_from < $3 \
                 ORDER BY nonce DESC"
            ),
            &[&agent, &ts(from), &ts(until)],
            sql::manifest,
        )
        .await
    }

    async fn set_manifest_revoked(&self, id: Uuid, at: Timestamp) -> Result<()> {
        let rows = self
            .execute(
                "UPDATE erc8004_endpoint_manifests SET status = 'revoked', revoked_at = $2 \
             WHERE id = $1",
                &[&id, &ts(at)],
            )
            .await?;
        touched(rows, Entity::Manifest)
    }

    async fn insert_flip(&self, f: &FlipRecord) -> Result<()> {
        self.execute(
            "INSERT INTO erc8004_manifest_flips (id, agent_uuid, old_manifest_hash, \
             new_manifest_hash, time_delta_seconds, endpoint_changed, pubkey_changed, flip_hash, \
             suspicion_score, alerted, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &f.id,
                &f.agent,
                &f.old_manifest.to_string(),
                &f.new_manifest.to_string(),
                &f.flip.time_delta_seconds,
                &f.flip.endpoint_changed,
                &f.flip.pubkey_changed,
                &f.flip_hash.to_string(),
                &i16::from(f.flip.suspicion_score),
                &f.alerted,
                &ts(f.created_at),
            ],
        )
        .await
        .map(drop)
    }

    async fn flip_introducing(&self, new: &Hash32) -> Result<Option<FlipRecord>> {
        self.one(
            concat!(
                "SELECT ",
                flip_columns!(),
                " FROM erc8004_manifest_flips WHERE new_manifest_hash = $1"
            ),
            &[&new.to_string()],
            sql::flip,
        )
        .await
    }

    async fn flips_of(&self, agent: Uuid) -> Result<Vec<FlipRecord>> {
        self.all(
            concat!(
                "SELECT ",
                flip_columns!(),
                " FROM erc8004_manifest_flips WHERE agent_uuid = $1 \
                 ORDER BY created_at DESC, seq DESC"
            ),
            &[&agent],
            sql::flip,
        )
        .await
    }

    /// The agent's row of the materialized view and the second it was refreshed; zeros (as
    /// of `now`) when the view has no row for the agent.
    async fn flip_metrics(&self, agent: Uuid, now: Timestamp) -> Result<(FlipMetrics, Timestamp)> {
        let row = self
            .query_opt(
                "SELECT total_flips, rapid_flips_1min, endpoint_changes, high_suspicion_flips, \
                    avg_suspicion_score::float8 AS avg_suspicion_score, \
                    floor(extract(epoch FROM last_flip_at))::bigint AS last_flip_at, \
                    floor(extract(epoch FROM refreshed_at))::bigint AS refreshed_at \
             FROM v_agent_manifest_flip_metrics WHERE agent_uuid = $1",
                &[&agent],
            )
            .await?;
        let Some(row) = row else {
            return Ok((FlipMetrics::default(), now));
        };
        let unix = |seconds: i64| Timestamp::from_unix(seconds).map_err(StoreError::internal);
        let metrics = FlipMetrics {
            total_flips: get_u64(&row, "total_flips")?,
            rapid_flips_1min: get_u64(&row, "rapid_flips_1min")?,
            endpoint_changes: get_u64(&row, "endpoint_changes")?,
            high_suspicion_flips: get_u64(&row, "high_suspicion_flips")?,
            avg_suspicion_score: get::<Option<f64>>(&row, "avg_suspicion_score")?.unwrap_or(0.0),
            last_flip_at: get::<Option<i64>>(&row, "last_flip_at")?
                .map(unix)
                .transpose()?,
        };
        Ok((metrics, unix(get(&row, "refreshed_at")?)?))
    }

    async fn refresh_flip_metrics(&self) -> Result<()> {
        self.execute(
            "REFRESH MATERIALIZED VIEW CONCURRENTLY v_agent_manifest_flip_metrics",
            &[],
        )
        .await
        .map(drop)
    }
}
