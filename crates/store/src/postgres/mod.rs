//! The PostgreSQL backend (production): `tokio-postgres` through a `deadpool-postgres` pool.
//!
//! Every write use case is one READ COMMITTED transaction whose first statement takes a
//! transaction-scoped advisory lock on what it writes (`agent:<uuid>` or `root:<hash>`), so
//! racing writers on one agent or one root transaction run one after the other and each sees
//! what the previous one committed (a REPEATABLE READ snapshot would predate the lock).
//! Stake rows are locked `FOR UPDATE`, in `agent_uuid` order, before any slash is computed.
//!
//! Money is `NUMERIC(20,6)`: written as `$n::bigint * 0.000001` from micro-USDC and read as
//! `(col * 1000000)::bigint`, both exact for every [`Usdc`] (a division by `1000000` would
//! round to 16 significant digits above a billion USDC).
//!
//! Statements go through each connection's prepared-statement cache; the server enforces
//! [`PostgresConfig::command_timeout`] as `statement_timeout`.

mod agents;
mod classify;
mod commitments;
mod config;
mod forwards;
mod keys;
mod manifests;
mod migrations;
mod sql;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Transaction};
use kagami_core::{
    ManifestRecord, Policy, Usdc,
    crypto::{Chain, EthAddress, Hash32, Timestamp, Uuid},
};
use tokio_postgres::{IsolationLevel, NoTls};
use tracing::instrument;

use self::classify::{classify, classify_pool};
pub use self::{
    config::PostgresConfig,
    migrations::{MigrationInfo, MigrationStatus, migrate, migration_status},
};
use crate::{
    Agent, AgentStatus, ApiKeyRecord, Commitment, CommitmentStatus, FlipMetrics, FlipRecord,
    ForwardTrail, MevIncident, MevSummaryRow, NewAgent, NewCommitment, NewManifest, NewMevIncident,
    NewReceipt, PublishOutcome, RecordOutcome, Result, Role, Settlement, SlashRecord, StakeView,
    Store, StoreError,
};

/// The production store: a pool of PostgreSQL connections.
///
/// Cheap to share behind an `Arc`; [`PostgresStore::close`] closes the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PostgresStore")
            .field("pool_size", &status.size)
            .field("pool_available", &status.available)
            .field("pool_max_size", &status.max_size)
            .field("closed", &self.pool.is_closed())
            .finish()
    }
}

impl PostgresStore {
    /// Builds the pool and opens its first connections.
    ///
    /// The first connection must succeed, so a wrong URL or an unreachable database fails
    /// start-up at once instead of on the first request. The remaining
    /// `min(pool_min_size, pool_max_size) - 1` connections are opened best-effort: a failure
    /// is logged, and the pool opens connections on demand later.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached (within
    /// `connect_timeout`); [`StoreError::Internal`] for anything else (authentication, unknown
    /// database, invalid settings).
    pub async fn connect(config: &PostgresConfig) -> Result<Self> {
        let manager = Manager::from_config(
            config.connection_config(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let max_size = config.pool_max_size.max(1);
        let timeout = Some(config.connect_timeout);
        let pool = Pool::builder(manager)
            .max_size(max_size)
            .wait_timeout(timeout)
            .create_timeout(timeout)
            .recycle_timeout(timeout)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(StoreError::internal)?;
        let store = Self { pool };
        let first = store.client().await?;
        let warm = config.pool_min_size.min(max_size).saturating_sub(1);
        let extra = futures::future::join_all((0..warm).map(|_| store.pool.get())).await;
        if let Some(Err(e)) = extra.iter().find(|c| c.is_err()) {
            tracing::warn!(error = %e, "could not open all of the pool's initial connections");
        }
        drop(extra);
        drop(first);
        Ok(store)
    }

    /// Closes the pool: connections are closed as they are returned, and every later call
    /// fails with [`StoreError::Unavailable`].
    pub fn close(&self) {
        self.pool.close();
    }

    /// The embedded migrations not applied to this database yet (the server refuses to start
    /// on a database that is behind).
    ///
    /// # Errors
    /// As [`migration_status`].
    pub async fn pending_migrations(&self) -> Result<Vec<MigrationInfo>> {
        let mut client = self.client().await?;
        let client: &mut tokio_postgres::Client = &mut client;
        Ok(migrations::status_on(client).await?.pending)
    }

    async fn client(&self) -> Result<deadpool_postgres::Client> {
        self.pool.get().await.map_err(classify_pool)
    }
}

/// Starts a READ COMMITTED transaction.
async fn begin(client: &mut deadpool_postgres::Client) -> Result<Transaction<'_>> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(classify)
}

/// Runs `$body` (an expression using the transaction `$tx`) in one transaction on a pooled
/// connection, committing on success; on error the transaction is dropped, which rolls it
/// back.
macro_rules! in_transaction {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut client = $store.client().await?;
        let $tx = begin(&mut client).await?;
        let out = $body.await?;
        $tx.commit().await.map_err(classify)?;
        Ok(out)
    }};
}

/// Runs the read `$body` (using the pooled connection `$c`).
macro_rules! on_connection {
    ($store:expr, |$c:ident| $body:expr) => {{
        let $c = $store.client().await?;
        $body.await
    }};
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(classify)?;
        Ok(())
    }

    fn pool_status(&self) -> (usize, usize) {
        let status = self.pool.status();
        (status.size, status.available)
    }

    #[instrument(skip_all, fields(agent.id = agent.agent_id, agent.chain = %agent.chain))]
    async fn register_agent(&self, agent: NewAgent, now: Timestamp) -> Result<Agent> {
        in_transaction!(self, |tx| agents::register(&tx, agent, now))
    }

    async fn agent(&self, uuid: Uuid) -> Result<Option<Agent>> {
        on_connection!(self, |c| agents::by_id(&c, uuid))
    }

    async fn agent_by_registry(
        &self,
        chain: &Chain,
        registry: &EthAddress,
        agent_id: u64,
    ) -> Result<Option<Agent>> {
        on_connection!(self, |c| agents::by_registry(&c, chain, registry, agent_id))
    }

    #[instrument(skip_all, fields(agent.uuid = %uuid, agent.status = status.as_str()))]
    async fn set_agent_status(
        &self,
        uuid: Uuid,
        status: AgentStatus,
        now: Timestamp,
    ) -> Result<Agent> {
        in_transaction!(self, |tx| agents::set_status(&tx, uuid, status, now))
    }

    #[instrument(skip_all, fields(agent.uuid = %uuid))]
    async fn set_stake(&self, uuid: Uuid, staked: Usdc, now: Timestamp) -> Result<StakeView> {
        in_transaction!(self, |tx| agents::set_stake(&tx, uuid, staked, now))
    }

    async fn stake(&self, uuid: Uuid, now: Timestamp) -> Result<Option<StakeView>> {
        on_connection!(self, |c| agents::stake(&c, uuid, None, now))
    }

    async fn stake_for_root(
        &self,
        uuid: Uuid,
        root_tx: &Hash32,
        now: Timestamp,
    ) -> Result<Option<StakeView>> {
        on_connection!(self, |c| agents::stake(&c, uuid, Some(root_tx), now))
    }

    async fn slashes_of(&self, uuid: Uuid) -> Result<Vec<SlashRecord>> {
        on_connection!(self, |c| agents::slashes_of(&c, uuid))
    }

    #[instrument(skip_all, fields(agent.uuid = %manifest.record.agent, manifest.hash = %manifest.record.hash, manifest.nonce = manifest.record.nonce))]
    async fn publish_manifest(
        &self,
        manifest: NewManifest,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<PublishOutcome> {
        in_transaction!(self, |tx| manifests::publish(&tx, manifest, now, policy))
    }

    #[instrument(skip_all, fields(agent.uuid = %agent, manifest.hash = %manifest))]
    async fn revoke_manifest(
        &self,
        agent: Uuid,
        manifest: &Hash32,
        now: Timestamp,
    ) -> Result<ManifestRecord> {
        in_transaction!(self, |tx| manifests::revoke(&tx, agent, manifest, now))
    }

    async fn manifest_by_hash(&self, hash: &Hash32) -> Result<Option<ManifestRecord>> {
        on_connection!(self, |c| manifests::by_hash(&c, hash))
    }

    async fn manifests_of(&self, agent: Uuid) -> Result<Vec<ManifestRecord>> {
        on_connection!(self, |c| manifests::of_agent(&c, agent))
    }

    async fn flips_of(&self, agent: Uuid) -> Result<Vec<FlipRecord>> {
        on_connection!(self, |c| manifests::flips_of(&c, agent))
    }

    #[instrument(skip_all, fields(forward.root_tx = %receipt.root_tx, forward.hop = receipt.hop, receipt.hash = %receipt.receipt_hash))]
    async fn record_receipt(
        &self,
        receipt: NewReceipt,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<RecordOutcome> {
        in_transaction!(self, |tx| forwards::record(&tx, receipt, now, policy))
    }

    async fn forward_trail(&self, root_tx: &Hash32) -> Result<ForwardTrail> {
        on_connection!(self, |c| forwards::trail(&c, root_tx))
    }

    #[instrument(skip_all, fields(forward.root_tx = %root_tx, evidence.count = evidence.len()))]
    async fn report_cycle(
        &self,
        root_tx: &Hash32,
        reporter: &EthAddress,
        evidence: Vec<NewReceipt>,
        now: Timestamp,
    ) -> Result<(Settlement, Vec<SlashRecord>)> {
        in_transaction!(self, |tx| forwards::report(
            &tx, root_tx, reporter, evidence, now
        ))
    }

    async fn settlement_of(&self, root_tx: &Hash32) -> Result<Option<Settlement>> {
        on_connection!(self, |c| forwards::settlement_of(&c, root_tx))
    }

    #[instrument(skip_all, fields(commitment.root_tx = %commitment.root_tx, agent.uuid = %commitment.first_hop_agent))]
    async fn create_commitment(
        &self,
        commitment: NewCommitment,
        now: Timestamp,
    ) -> Result<Commitment> {
        in_transaction!(self, |tx| commitments::create(&tx, commitment, now))
    }

    #[instrument(skip_all, fields(commitment.id = %id))]
    async fn confirm_commitment(
        &self,
        id: Uuid,
        onchain_tx_hash: &Hash32,
        now: Timestamp,
    ) -> Result<Commitment> {
        in_transaction!(self, |tx| commitments::transition(
            &tx,
            id,
            CommitmentStatus::Pending,
            CommitmentStatus::Confirmed,
            Some(onchain_tx_hash),
            now
        ))
    }

    #[instrument(skip_all, fields(commitment.id = %id))]
    async fn settle_commitment(&self, id: Uuid, now: Timestamp) -> Result<Commitment> {
        in_transaction!(self, |tx| commitments::transition(
            &tx,
            id,
            CommitmentStatus::Confirmed,
            CommitmentStatus::Settled,
            None,
            now
        ))
    }

    async fn commitment(&self, id: Uuid) -> Result<Option<Commitment>> {
        on_connection!(self, |c| commitments::by_id(&c, id))
    }

    #[instrument(skip_all, fields(mev.root_tx = %incident.root_tx, mev.attack_type = incident.attack_type.as_str(), agent.uuid = %incident.attacker))]
    async fn record_mev_incident(
        &self,
        incident: NewMevIncident,
        now: Timestamp,
    ) -> Result<MevIncident> {
        in_transaction!(self, |tx| commitments::record_mev(&tx, incident, now))
    }

    async fn mev_summary(&self) -> Result<Vec<MevSummaryRow>> {
        on_connection!(self, |c| commitments::mev_summary(&c))
    }

    #[instrument(skip_all, fields(api_key.role = role.as_str()))]
    async fn create_api_key(
        &self,
        key_hmac: [u8; 32],
        role: Role,
        label: &str,
        now: Timestamp,
    ) -> Result<ApiKeyRecord> {
        in_transaction!(self, |tx| keys::create(&tx, key_hmac, role, label, now))
    }

    async fn api_key_by_hmac(&self, key_hmac: &[u8; 32]) -> Result<Option<ApiKeyRecord>> {
        on_connection!(self, |c| keys::by_hmac(&c, key_hmac))
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        on_connection!(self, |c| keys::list(&c))
    }

    #[instrument(skip_all, fields(api_key.id = %id))]
    async fn revoke_api_key(&self, id: Uuid, now: Timestamp) -> Result<ApiKeyRecord> {
        in_transaction!(self, |tx| keys::revoke(&tx, id, now))
    }

    async fn flip_metrics(&self, agent: Uuid, now: Timestamp) -> Result<(FlipMetrics, Timestamp)> {
        on_connection!(self, |c| keys::flip_metrics(&c, agent, now))
    }

    async fn refresh_flip_metrics(&self) -> Result<()> {
        on_connection!(self, |c| keys::refresh_flip_metrics(&c))
    }
}
