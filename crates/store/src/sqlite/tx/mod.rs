//! [`Tx`] on SQLite: SQL and row mapping only. Every value is stored in its canonical form
//! (uuid and hash text, unix seconds, micro-USDC integers). The locks are no-ops: a write
//! transaction is `BEGIN IMMEDIATE` on the single writer connection, which already excludes
//! every other writer.

use kagami_core::{
    AgentStatus, Flip, LoopKind, ManifestRecord, StakeAccount, Usdc,
    crypto::{Chain, EthAddress, Hash32, Timestamp, Uuid},
};
use rusqlite::{Connection, OptionalExtension, Params, Row, params};

use super::{
    classify::Db,
    rows::{
        AGENT_COLUMNS, API_KEY_COLUMNS, COMMITMENT_COLUMNS, FLIP_COLUMNS, INCIDENT_COLUMNS,
        MANIFEST_COLUMNS, RECEIPT_COLUMNS, SETTLEMENT_COLUMNS, SLASH_COLUMNS, agent_row,
        api_key_row, cause, cause_columns, commitment_row, flip_row, incident_row, ledger_row,
        manifest_row, mean_two_decimals, named, parsed, receipt_row, settlement_row, slash_row,
        to_i64, unsigned, usdc, usdc_sum, wide_sum, wide_sums_differ,
    },
};
use crate::{
    Agent, ApiKeyRecord, AttackType, Commitment, Entity, FlipMetrics, FlipRecord, LedgerEntry,
    LedgerTotals, LogEntry, LogHead, MevIncident, MevSummaryRow, Payout, PayoutKind, ReceiptRecord,
    Result, Settlement, SlashRecord, StoreError,
    tx::{AgentRows, CommitmentRows, ForwardRows, KeyRows, LogRows, ManifestRows, Tx, ValuesUsed},
};

mod agents;
mod commitments;
mod forwards;
mod keys;
mod log;
mod manifests;

/// A transaction (or a read connection) of the embedded store.
pub(super) struct SqliteTx<'a>(pub(super) &'a Connection);

impl SqliteTx<'_> {
    /// At most one row of a cached statement.
    fn one<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        let mut statement = self.0.prepare_cached(sql).db()?;
        statement.query_row(params, map).optional().db()
    }

    /// All rows of a cached statement.
    fn all<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut statement = self.0.prepare_cached(sql).db()?;
        statement
            .query_map(params, map)
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()
    }

    /// Runs a cached statement, returning the number of rows it changed.
    fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.0.prepare_cached(sql).db()?.execute(params).db()
    }
}

/// Fails with `NotFound(entity)` when a write touched no row.
fn touched(rows: usize, entity: Entity) -> Result<()> {
    if rows == 0 {
        Err(StoreError::NotFound(entity))
    } else {
        Ok(())
    }
}

impl Tx for SqliteTx<'_> {
    async fn ping(&self) -> Result<()> {
        self.one("SELECT 1", [], |_| Ok(())).map(drop)
    }

    async fn lock_root(&self, _root: &Hash32) -> Result<()> {
        Ok(())
    }

    async fn lock_agents(&self, _agents: &[Uuid]) -> Result<()> {
        Ok(())
    }

    async fn share_agents(&self, _agents: &[Uuid]) -> Result<()> {
        Ok(())
    }
}
