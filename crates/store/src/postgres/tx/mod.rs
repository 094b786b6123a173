//! [`Tx`] on PostgreSQL: SQL and row mapping only.

use deadpool_postgres::GenericClient;
use kagami_core::{
    AgentStatus, LoopKind, ManifestRecord, StakeAccount, Usdc,
    crypto::{Chain, EthAddress, Hash32, Timestamp, Uuid},
};

use super::{
    classify::classify,
    sql::{
        self, agent_columns, agent_key, api_key_columns, commitment_columns, execute, flip_columns,
        get, get_u64, get_usdc, manifest_columns, query, query_opt, receipt_columns, root_key,
        settlement_columns, slash_columns, to_i64, ts,
    },
};
use crate::{
    Agent, ApiKeyRecord, Commitment, Entity, FlipMetrics, FlipRecord, MevIncident, MevSummaryRow,
    ReceiptRecord, Result, Settlement, SlashRecord, StoreError,
    tx::{AgentRows, CommitmentRows, ForwardRows, KeyRows, ManifestRows, Tx},
};

mod agents;
mod commitments;
mod forwards;
mod keys;
mod manifests;

/// At most one row of a cached statement, mapped.
async fn one<C: GenericClient, T>(
    c: &C,
    sql: &str,
    params: sql::Params<'_>,
    map: fn(&tokio_postgres::Row) -> Result<T>,
) -> Result<Option<T>> {
    query_opt(c, sql, params)
        .await?
        .as_ref()
        .map(map)
        .transpose()
}

/// All rows of a cached statement, mapped.
async fn all<C: GenericClient, T>(
    c: &C,
    sql: &str,
    params: sql::Params<'_>,
    map: fn(&tokio_postgres::Row) -> Result<T>,
) -> Result<Vec<T>> {
    query(c, sql, params).await?.iter().map(map).collect()
}

/// A transaction, or for reads a pooled connection.
pub(super) struct PgTx<'a, C>(pub(super) &'a C);

/// Fails with `NotFound(entity)` when a write touched no row.
fn touched(rows: u64, entity: Entity) -> Result<()> {
    if rows == 0 {
        Err(StoreError::NotFound(entity))
    } else {
        Ok(())
    }
}

impl<C: GenericClient + Sync> Tx for PgTx<'_, C> {
    async fn ping(&self) -> Result<()> {
        execute(self.0, "SELECT 1", &[]).await.map(drop)
    }

    async fn lock_root(&self, root: &Hash32) -> Result<()> {
        execute(
            self.0,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&root_key(root)],
        )
        .await
        .map(drop)
    }

    async fn lock_agents(&self, agents: &[Uuid]) -> Result<()> {
        let mut keys: Vec<String> = agents.iter().map(|a| agent_key(*a)).collect();
        keys.sort_unstable();
        keys.dedup();
        execute(
            self.0,
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) \
             FROM (SELECT k FROM unnest($1::text[]) AS k ORDER BY k) AS keys",
            &[&keys],
        )
        .await
        .map(drop)
    }
}
