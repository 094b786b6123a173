//! API keys and the flip-metrics view.

use deadpool_postgres::GenericClient;
use kagami_core::crypto::{Timestamp, Uuid};

use super::sql::{self, api_key_columns, execute, get, get_u64, query, query_opt, ts};
use crate::{ApiKeyRecord, FlipMetrics, Result, Role, StoreError};

pub(super) async fn create<C: GenericClient>(
    c: &C,
    key_hmac: [u8; 32],
    role: Role,
    label: &str,
    now: Timestamp,
) -> Result<ApiKeyRecord> {
    let record = ApiKeyRecord {
        id: Uuid::new_v4(),
        key_hmac,
        role,
        label: label.to_owned(),
        created_at: now,
        revoked_at: None,
    };
    execute(
        c,
        "INSERT INTO kagami_api_keys (id, key_hmac, role, label, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &record.id,
            &record.key_hmac.as_slice(),
            &role.as_str(),
            &record.label,
            &ts(now),
        ],
    )
    .await?;
    Ok(record)
}

pub(super) async fn by_hmac<C: GenericClient>(
    c: &C,
    key_hmac: &[u8; 32],
) -> Result<Option<ApiKeyRecord>> {
    query_opt(
        c,
        concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM kagami_api_keys WHERE key_hmac = $1 AND revoked_at IS NULL"
        ),
        &[&key_hmac.as_slice()],
    )
    .await?
    .as_ref()
    .map(sql::api_key)
    .transpose()
}

pub(super) async fn list<C: GenericClient>(c: &C) -> Result<Vec<ApiKeyRecord>> {
    query(
        c,
        concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM kagami_api_keys ORDER BY created_at, seq"
        ),
        &[],
    )
    .await?
    .iter()
    .map(sql::api_key)
    .collect()
}

pub(super) async fn revoke<C: GenericClient>(
    c: &C,
    id: Uuid,
    now: Timestamp,
) -> Result<ApiKeyRecord> {
    let row = query_opt(
        c,
        concat!(
            "UPDATE kagami_api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 \
             RETURNING ",
            api_key_columns!()
        ),
        &[&id, &ts(now)],
    )
    .await?
    .ok_or(StoreError::NotFound { entity: "api_key" })?;
    sql::api_key(&row)
}

/// The agent's row of the materialized view and the second it was refreshed; zeros (as of
/// `now`) when the view has no row for the agent.
pub(super) async fn flip_metrics<C: GenericClient>(
    c: &C,
    agent: Uuid,
    now: Timestamp,
) -> Result<(FlipMetrics, Timestamp)> {
    let row = query_opt(
        c,
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

pub(super) async fn refresh_flip_metrics<C: GenericClient>(c: &C) -> Result<()> {
    c.batch_execute("REFRESH MATERIALIZED VIEW CONCURRENTLY v_agent_manifest_flip_metrics")
        .await
        .map_err(super::classify::classify)
}
