//! The embedded SQLite backend (default): `rusqlite` (bundled), one connection on blocking
//! threads, WAL, `synchronous=NORMAL`, foreign keys on; it migrates itself on open.
//!
//! Every call runs on [`tokio::task::spawn_blocking`] with the single connection behind a
//! mutex. Each write use case is one `BEGIN IMMEDIATE` transaction, which takes SQLite's write
//! lock up front: writers are serialized (also across processes sharing the file, up to the
//! busy timeout), so a check and the write it guards can never interleave with another
//! writer. Reads run in deferred transactions, so each sees one consistent snapshot.

mod classify;
mod rows;
mod writes;

#[cfg(test)]
mod tests;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use kagami_core::{
    ManifestRecord, Policy, Usdc,
    crypto::{Chain, EthAddress, Hash32, Timestamp, Uuid},
};
use rusqlite::{Connection, TransactionBehavior};
use tracing::instrument;

use self::classify::{Db, classify, classify_open};
use crate::{
    Agent, AgentStatus, ApiKeyRecord, Commitment, CommitmentStatus, FlipMetrics, FlipRecord,
    ForwardTrail, MevIncident, MevSummaryRow, NewAgent, NewCommitment, NewManifest, NewMevIncident,
    NewReceipt, PublishOutcome, RecordOutcome, Result, Role, Settlement, SlashRecord, StakeView,
    Store, StoreError,
};

mod embedded {
    refinery::embed_migrations!("../../migrations/sqlite");
}

/// How long a statement waits for another connection's lock before the store reports
/// [`StoreError::Unavailable`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded store: one SQLite database file, one connection.
///
/// Cloning is cheap and shares the connection.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed, with its parent directory) the database at `path`,
    /// configures the connection (WAL, `synchronous=NORMAL`, foreign keys, busy timeout) and
    /// applies the embedded migrations (`migrations/sqlite`).
    ///
    /// This blocks the calling thread while it opens and migrates; call it at start-up.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the directory or the file cannot be created or opened,
    /// or the database stays locked; [`StoreError::Internal`] when the file is not a database
    /// or a migration fails.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(StoreError::unavailable)?;
        }
        let mut conn = Connection::open(path).map_err(classify_open)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(classify_open)?;
        let journal_mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(classify_open)?;
        if !journal_mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                sqlite.journal_mode = %journal_mode,
                "sqlite refused WAL mode; continuing with its journal mode"
            );
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(classify_open)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(classify_open)?;
        embedded::migrations::runner()
            .run(&mut conn)
            .map_err(classify_migration)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn with_conn<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn
                .lock()
                .map_err(|_| StoreError::internal("the sqlite connection mutex is poisoned"))?;
            f(&mut conn)
        })
        .await
        .map_err(StoreError::internal)?
    }

    /// Runs `f` in a deferred (read) transaction: one consistent snapshot.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.with_conn(move |conn| {
            let tx = conn.transaction().db()?;
            let out = f(&tx)?;
            tx.commit().db()?;
            Ok(out)
        })
        .await
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, committed only when `f` succeeds
    /// (dropping the transaction on an error rolls everything back).
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .db()?;
            let out = f(&tx)?;
            tx.commit().db()?;
            Ok(out)
        })
        .await
    }
}

/// A migration failure: the database staying locked is [`StoreError::Unavailable`]; anything
/// else (a bad migration, a diverging history) is [`StoreError::Internal`].
fn classify_migration(error: refinery::Error) -> StoreError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if let Some(sqlite) = e.downcast_ref::<rusqlite::Error>()
            && matches!(
                sqlite.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            )
        {
            return StoreError::unavailable(error);
        }
        source = e.source();
    }
    StoreError::internal(error)
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        self.with_conn(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(classify))
            .await
    }

    fn pool_status(&self) -> (usize, usize) {
        (1, 1)
    }

    // ---- agents ------------------------------------------------------------------------

    #[instrument(skip_all, fields(agent.chain = %agent.chain, agent.id = agent.agent_id))]
    async fn register_agent(&self, agent: NewAgent, now: Timestamp) -> Result<Agent> {
        self.write(move |conn| writes::register_agent(conn, agent, now))
            .await
    }

    async fn agent(&self, uuid: Uuid) -> Result<Option<Agent>> {
        self.read(move |conn| rows::agent(conn, uuid)).await
    }

    async fn agent_by_registry(
        &self,
        chain: &Chain,
        registry: &EthAddress,
        agent_id: u64,
    ) -> Result<Option<Agent>> {
        let (chain, registry) = (chain.clone(), *registry);
        self.read(move |conn| rows::agent_by_registry(conn, &chain, &registry, agent_id))
            .await
    }

    #[instrument(skip_all, fields(agent.uuid = %uuid, agent.status = status.as_str()))]
    async fn set_agent_status(
        &self,
        uuid: Uuid,
        status: AgentStatus,
        now: Timestamp,
    ) -> Result<Agent> {
        self.write(move |conn| writes::set_agent_status(conn, uuid, status, now))
            .await
    }

    #[instrument(skip_all, fields(agent.uuid = %uuid))]
    async fn set_stake(&self, uuid: Uuid, staked: Usdc, now: Timestamp) -> Result<StakeView> {
        self.write(move |conn| writes::set_stake(conn, uuid, staked, now))
            .await
    }

    async fn stake(&self, uuid: Uuid, now: Timestamp) -> Result<Option<StakeView>> {
        self.read(move |conn| rows::stake_view(conn, uuid, now, None))
            .await
    }

    async fn stake_for_root(
        &self,
        uuid: Uuid,
        root_tx: &Hash32,
        now: Timestamp,
    ) -> Result<Option<StakeView>> {
        let root = *root_tx;
        self.read(move |conn| rows::stake_view(conn, uuid, now, Some(&root)))
            .await
    }

    async fn slashes_of(&self, uuid: Uuid) -> Result<Vec<SlashRecord>> {
        self.read(move |conn| rows::slashes_of(conn, uuid)).await
    }

    // ---- manifests ---------------------------------------------------------------------

    #[instrument(skip_all, fields(agent.uuid = %manifest.record.agent, manifest.hash = %manifest.record.hash))]
    async fn publish_manifest(
        &self,
        manifest: NewManifest,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<PublishOutcome> {
        let policy = policy.clone();
        self.write(move |conn| writes::publish_manifest(conn, manifest.record, now, &policy))
            .await
    }

    #[instrument(skip_all, fields(agent.uuid = %agent, manifest.hash = %manifest))]
    async fn revoke_manifest(
        &self,
        agent: Uuid,
        manifest: &Hash32,
        now: Timestamp,
    ) -> Result<ManifestRecord> {
        let hash = *manifest;
        self.write(move |conn| writes::revoke_manifest(conn, agent, &hash, now))
            .await
    }

    async fn manifest_by_hash(&self, hash: &Hash32) -> Result<Option<ManifestRecord>> {
        let hash = *hash;
        self.read(move |conn| rows::manifest_by_hash(conn, &hash))
            .await
    }

    async fn manifests_of(&self, agent: Uuid) -> Result<Vec<ManifestRecord>> {
        self.read(move |conn| rows::manifests_of(conn, agent)).await
    }

    async fn flips_of(&self, agent: Uuid) -> Result<Vec<FlipRecord>> {
        self.read(move |conn| rows::flips_of(conn, agent)).await
    }

    // ---- forwards ----------------------------------------------------------------------

    #[instrument(skip_all, fields(forward.root_tx = %receipt.root_tx, forward.hop = receipt.hop, receipt.hash = %receipt.receipt_hash))]
    async fn record_receipt(
        &self,
        receipt: NewReceipt,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<RecordOutcome> {
        let policy = policy.clone();
        self.write(move |conn| writes::record_receipt(conn, receipt, now, &policy))
            .await
    }

    async fn forward_trail(&self, root_tx: &Hash32) -> Result<ForwardTrail> {
        let root = *root_tx;
        self.read(move |conn| {
            let receipts = rows::receipts_of_root(conn, &root)?;
            let settlement = rows::settlement_of(conn, &root)?;
            let slashes = match &settlement {
                Some(s) => rows::slashes_of_settlement(conn, s.id)?,
                None => Vec::new(),
            };
            Ok(ForwardTrail {
                receipts,
                settlement,
                slashes,
            })
        })
        .await
    }

    #[instrument(skip_all, fields(forward.root_tx = %root_tx, evidence.count = evidence.len()))]
    async fn report_cycle(
        &self,
        root_tx: &Hash32,
        reporter: &EthAddress,
        evidence: Vec<NewReceipt>,
        now: Timestamp,
    ) -> Result<(Settlement, Vec<SlashRecord>)> {
        let (root, reporter) = (*root_tx, *reporter);
        self.write(move |conn| writes::report_cycle(conn, &root, &reporter, evidence, now))
            .await
    }

    async fn settlement_of(&self, root_tx: &Hash32) -> Result<Option<Settlement>> {
        let root = *root_tx;
        self.read(move |conn| rows::settlement_of(conn, &root))
            .await
    }

    // ---- commitments and MEV -----------------------------------------------------------

    #[instrument(skip_all, fields(commitment.root_tx = %commitment.root_tx, agent.uuid = %commitment.first_hop_agent))]
    async fn create_commitment(
        &self,
        commitment: NewCommitment,
        now: Timestamp,
    ) -> Result<Commitment> {
        self.write(move |conn| writes::create_commitment(conn, commitment, now))
            .await
    }

    #[instrument(skip_all, fields(commitment.id = %id))]
    async fn confirm_commitment(
        &self,
        id: Uuid,
        onchain_tx_hash: &Hash32,
        now: Timestamp,
    ) -> Result<Commitment> {
        let hash = *onchain_tx_hash;
        self.write(move |conn| {
            writes::transition_commitment(
                conn,
                id,
                CommitmentStatus::Pending,
                CommitmentStatus::Confirmed,
                Some(&hash),
                now,
            )
        })
        .await
    }

    #[instrument(skip_all, fields(commitment.id = %id))]
    async fn settle_commitment(&self, id: Uuid, now: Timestamp) -> Result<Commitment> {
        self.write(move |conn| {
            writes::transition_commitment(
                conn,
                id,
                CommitmentStatus::Confirmed,
                CommitmentStatus::Settled,
                None,
                now,
            )
        })
        .await
    }

    async fn commitment(&self, id: Uuid) -> Result<Option<Commitment>> {
        self.read(move |conn| rows::commitment(conn, id)).await
    }

    #[instrument(skip_all, fields(mev.attack_type = incident.attack_type.as_str(), agent.uuid = %incident.attacker))]
    async fn record_mev_incident(
        &self,
        incident: NewMevIncident,
        now: Timestamp,
    ) -> Result<MevIncident> {
        self.write(move |conn| writes::record_mev_incident(conn, incident, now))
            .await
    }

    async fn mev_summary(&self) -> Result<Vec<MevSummaryRow>> {
        self.read(rows::mev_summary).await
    }

    // ---- API keys ----------------------------------------------------------------------

    #[instrument(skip_all, fields(api_key.role = role.as_str()))]
    async fn create_api_key(
        &self,
        key_hmac: [u8; 32],
        role: Role,
        label: &str,
        now: Timestamp,
    ) -> Result<ApiKeyRecord> {
        let label = label.to_owned();
        self.write(move |conn| writes::create_api_key(conn, key_hmac, role, label, now))
            .await
    }

    async fn api_key_by_hmac(&self, key_hmac: &[u8; 32]) -> Result<Option<ApiKeyRecord>> {
        let hmac = *key_hmac;
        self.read(move |conn| rows::api_key_by_hmac(conn, &hmac))
            .await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        self.read(rows::list_api_keys).await
    }

    #[instrument(skip_all, fields(api_key.id = %id))]
    async fn revoke_api_key(&self, id: Uuid, now: Timestamp) -> Result<ApiKeyRecord> {
        self.write(move |conn| writes::revoke_api_key(conn, id, now))
            .await
    }

    // ---- metrics views -----------------------------------------------------------------

    async fn flip_metrics(&self, agent: Uuid, now: Timestamp) -> Result<(FlipMetrics, Timestamp)> {
        let metrics = self
            .read(move |conn| rows::flip_metrics(conn, agent))
            .await?;
        Ok((metrics, now))
    }

    async fn refresh_flip_metrics(&self) -> Result<()> {
        Ok(())
    }
}
