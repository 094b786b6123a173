//! [`Tx`] on PostgreSQL: SQL and row mapping only.

use deadpool_postgres::GenericClient;
use kagami_core::{
    AgentStatus, LoopKind, ManifestRecord, StakeAccount, Usdc,
    crypto::{Chain, EthAddress, Hash32, Timestamp, Uuid},
};

use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::Row;

use super::{
    classify::classify,
    sql::{
        self, Params, agent_columns, agent_key, api_key_columns, commitment_columns, flip_columns,
        get, get_u64, get_usdc, get_usdc_sum, incident_columns, log_entry_columns,
        manifest_columns, receipt_columns, root_key, settlement_columns, slash_columns, to_i64, ts,
    },
};
use crate::{
    Agent, ApiKeyRecord, Commitment, Entity, FlipMetrics, FlipRecord, LedgerEntry, LedgerTotals,
    LogEntry, LogHead, MevIncident, MevSummaryRow, Payout, PayoutKind, ReceiptRecord, Result,
    Settlement, SlashRecord, StoreError,
    tx::{AgentRows, CommitmentRows, ForwardRows, KeyRows, LogRows, ManifestRows, Tx, ValuesUsed},
};

mod agents;
mod commitments;
mod forwards;
mod keys;
mod log;
mod manifests;

#[cfg(test)]
pub(super) use agents::{STAKE_ACCOUNTS, STAKE_ACCOUNTS_FOR_UPDATE};

/// A transaction, or for reads a pooled connection, and the backend's round-trip counter.
pub(super) struct PgTx<'a, C> {
    pub(super) client: &'a C,
    pub(super) round_trips: &'a AtomicU64,
}

impl<C: GenericClient + Sync> PgTx<'_, C> {
    /// Prepares (once per connection, then from its cache) and counts one round trip.
    async fn prepare(&self, sql: &str) -> Result<tokio_postgres::Statement> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        self.client.prepare_cached(sql).await.map_err(classify)
    }

    /// All rows of a statement.
    async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        let statement = self.prepare(sql).await?;
        self.client
            .query(&statement, params)
            .await
            .map_err(classify)
    }

    /// At most one row of a statement.
    async fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        let statement = self.prepare(sql).await?;
        self.client
            .query_opt(&statement, params)
            .await
            .map_err(classify)
    }

    /// Runs a statement, returning the number of rows it affected.
    async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64> {
        let statement = self.prepare(sql).await?;
        self.client
            .execute(&statement, params)
            .await
            .map_err(classify)
    }

    /// At most one row of a statement, mapped.
    async fn one<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        map: fn(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        self.query_opt(sql, params)
            .await?
            .as_ref()
            .map(map)
            .transpose()
    }

    /// All rows of a statement, mapped.
    async fn all<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        map: fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.query(sql, params).await?.iter().map(map).collect()
    }

    /// Takes the agents' transaction-scoped advisory locks, in sorted order: exclusive, or
    /// shared.
    async fn advisory_locks(&self, agents: &[Uuid], shared: bool) -> Result<()> {
        let mut keys: Vec<String> = agents.iter().map(|a| agent_key(*a)).collect();
        keys.sort_unstable();
        keys.dedup();
        let sql = if shared {
            "SELECT pg_advisory_xact_lock_shared(hashtextextended(k, 0)) \
             FROM (SELECT k FROM unnest($1::text[]) AS k ORDER BY k) AS keys"
        } else {
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) \
             FROM (SELECT k FROM unnest($1::text[]) AS k ORDER BY k) AS keys"
        };
        self.execute(sql, &[&keys]).await.map(drop)
    }
}

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
        self.execute("SELECT 1", &[]).await.map(drop)
    }

    async fn lock_root(&self, root: &Hash32) -> Result<()> {
        self.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&root_key(root)],
        )
        .await
        .map(drop)
    }

    async fn lock_agents(&self, agents: &[Uuid]) -> Result<()> {
        self.advisory_locks(agents, false).await
    }

    async fn share_agents(&self, agents: &[Uuid]) -> Result<()> {
        self.advisory_locks(agents, true).await
    }
}
