#![doc = include_str!("../README.md")]

mod error;
mod model;
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use kagami_core::{
    ManifestRecord, Policy, Usdc,
    crypto::{Chain, EthAddress, Hash32, Timestamp, Uuid},
};

pub use error::{Rejection, StoreError};
pub use model::*;

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Every use case of the service, as atomic operations.
///
/// Each method that writes more than one row is all-or-nothing. Writers on the same agent
/// (publish, revoke, stake changes, slashes) and on the same root transaction (record
/// receipt, report cycle) are serialized, so two racing requests can never both pass a check
/// that only one should pass. Decisions are made by `kagami-core` on state loaded inside the
/// transaction; the backends only load and persist.
///
/// Lookups return `Ok(None)` for a missing row. Writes that reference a missing agent,
/// manifest or commitment fail with [`StoreError::NotFound`].
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Which backend this is (`"postgres"` or `"sqlite"`), for logs and health.
    fn backend(&self) -> &'static str;

    /// A cheap round trip to the database.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached.
    async fn ping(&self) -> Result<()>;

    /// Pool statistics `(size, available)`; the embedded store reports `(1, 1)`.
    fn pool_status(&self) -> (usize, usize);

    // ---- agents ----------------------------------------------------------------------

    /// Registers an agent with a zero stake, status active.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when (chain, registry, agent_id) is already registered.
    async fn register_agent(&self, agent: NewAgent, now: Timestamp) -> Result<Agent>;

    /// The agent with this Kagami id.
    async fn agent(&self, uuid: Uuid) -> Result<Option<Agent>>;

    /// The agent with this registry identity.
    async fn agent_by_registry(
        &self,
        chain: &Chain,
        registry: &EthAddress,
        agent_id: u64,
    ) -> Result<Option<Agent>>;

    /// Changes an agent's status.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown agent.
    async fn set_agent_status(
        &self,
        uuid: Uuid,
        status: AgentStatus,
        now: Timestamp,
    ) -> Result<Agent>;

    /// Sets the staked amount (mirroring the on-chain stake).
    ///
    /// # Errors
    /// [`Rejection::StakeBelowSlashed`] when `staked` is below what is already slashed;
    /// [`StoreError::NotFound`] for an unknown agent.
    async fn set_stake(&self, uuid: Uuid, staked: Usdc, now: Timestamp) -> Result<StakeView>;

    /// The agent's stake at `now` (locks that expired before `now` do not count).
    async fn stake(&self, uuid: Uuid, now: Timestamp) -> Result<Option<StakeView>>;

    /// The stake available for a hop of `root_tx`: locks held for `root_tx` itself do not
    /// count against it.
    async fn stake_for_root(
        &self,
        uuid: Uuid,
        root_tx: &Hash32,
        now: Timestamp,
    ) -> Result<Option<StakeView>>;

    /// The slash ledger of an agent, oldest first.
    async fn slashes_of(&self, uuid: Uuid) -> Result<Vec<SlashRecord>>;

    // ---- manifests -------------------------------------------------------------------

    /// Publishes a manifest whose owner signature was verified: runs
    /// `kagami_core::manifest::check_publish` on the agent's manifests under the agent's
    /// lock, inserts it, records the flip when it replaces one, and disputes (and slashes
    /// per `kagami_core::decide::commitment_dispute_slash`) pending or confirmed commitments
    /// whose time lock is running and whose first hop is this agent, when the endpoint
    /// changed. Publishing the identical manifest (same hash) again returns the stored one
    /// with `replayed: true`.
    ///
    /// # Errors
    /// [`Rejection::Publish`] for nonce, expiry and activation rules;
    /// [`StoreError::NotFound`] for an unknown agent.
    async fn publish_manifest(
        &self,
        manifest: NewManifest,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<PublishOutcome>;

    /// Revokes a manifest of `agent` (the owner's signature was verified). Revoking an
    /// already revoked manifest returns it unchanged.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the agent has no manifest with this hash.
    async fn revoke_manifest(
        &self,
        agent: Uuid,
        manifest: &Hash32,
        now: Timestamp,
    ) -> Result<ManifestRecord>;

    /// The manifest with this hash.
    async fn manifest_by_hash(&self, hash: &Hash32) -> Result<Option<ManifestRecord>>;

    /// All manifests of an agent, highest nonce first.
    async fn manifests_of(&self, agent: Uuid) -> Result<Vec<ManifestRecord>>;

    /// The flips of an agent, newest first.
    async fn flips_of(&self, agent: Uuid) -> Result<Vec<FlipRecord>>;

    // ---- forwards --------------------------------------------------------------------

    /// Records a receipt (signature verified, cited manifest checked): under the root's lock,
    /// replays return the stored record; otherwise `kagami_core::decide::decide_record`
    /// decides between storing it valid with a stake lock on the destination, or storing it
    /// as evidence and settling the loop it closes (settlement, slashes, invalidations, and
    /// release of the root's stake locks).
    ///
    /// # Errors
    /// [`Rejection::Record`] when the core refuses it; [`Rejection::AlreadySettled`] when the
    /// root is settled; [`StoreError::Conflict`] when (dest, nonce) is used by a different
    /// receipt.
    async fn record_receipt(
        &self,
        receipt: NewReceipt,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<RecordOutcome>;

    /// The audit trail of a root transaction.
    async fn forward_trail(&self, root_tx: &Hash32) -> Result<ForwardTrail>;

    /// Settles a reported loop: under the root's lock, the valid receipts plus `evidence`
    /// (receipts not yet stored; verified by the caller) must contain a loop
    /// (`kagami_core::decide::DetectedLoop::find`). The evidence is stored, the loop settled
    /// with the reporter's bounty.
    ///
    /// # Errors
    /// [`Rejection::AlreadySettled`], [`Rejection::NoLoop`] (nothing stored).
    async fn report_cycle(
        &self,
        root_tx: &Hash32,
        reporter: &EthAddress,
        evidence: Vec<NewReceipt>,
        now: Timestamp,
    ) -> Result<(Settlement, Vec<SlashRecord>)>;

    /// The settlement of a root, if any.
    async fn settlement_of(&self, root_tx: &Hash32) -> Result<Option<Settlement>>;

    // ---- commitments and MEV ---------------------------------------------------------

    /// Creates a pending commitment.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the root already has one; [`StoreError::NotFound`] for
    /// an unknown first-hop agent.
    async fn create_commitment(
        &self,
        commitment: NewCommitment,
        now: Timestamp,
    ) -> Result<Commitment>;

    /// Marks a pending commitment confirmed on chain.
    ///
    /// # Errors
    /// [`Rejection::CommitmentState`] unless pending; [`StoreError::NotFound`].
    async fn confirm_commitment(
        &self,
        id: Uuid,
        onchain_tx_hash: &Hash32,
        now: Timestamp,
    ) -> Result<Commitment>;

    /// Marks a confirmed commitment settled.
    ///
    /// # Errors
    /// [`Rejection::CommitmentState`] unless confirmed; [`StoreError::NotFound`].
    async fn settle_commitment(&self, id: Uuid, now: Timestamp) -> Result<Commitment>;

    /// The commitment with this id.
    async fn commitment(&self, id: Uuid) -> Result<Option<Commitment>>;

    /// Records an MEV incident and slashes the attacker per `kagami_core::settlement::mev_slash`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown attacker or victim.
    async fn record_mev_incident(
        &self,
        incident: NewMevIncident,
        now: Timestamp,
    ) -> Result<MevIncident>;

    /// Totals per attack type.
    async fn mev_summary(&self) -> Result<Vec<MevSummaryRow>>;

    // ---- API keys --------------------------------------------------------------------

    /// Stores a key's HMAC.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the HMAC exists.
    async fn create_api_key(
        &self,
        key_hmac: [u8; 32],
        role: Role,
        label: &str,
        now: Timestamp,
    ) -> Result<ApiKeyRecord>;

    /// The unrevoked key with this HMAC.
    async fn api_key_by_hmac(&self, key_hmac: &[u8; 32]) -> Result<Option<ApiKeyRecord>>;

    /// All keys, oldest first.
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>>;

    /// Revokes a key (idempotent).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown id.
    async fn revoke_api_key(&self, id: Uuid, now: Timestamp) -> Result<ApiKeyRecord>;

    // ---- metrics views ---------------------------------------------------------------

    /// Flip statistics of an agent and the time they were computed (`as_of`): from the
    /// materialized view on PostgreSQL, computed directly on SQLite.
    async fn flip_metrics(&self, agent: Uuid, now: Timestamp) -> Result<(FlipMetrics, Timestamp)>;

    /// Refreshes the materialized view (concurrently) on PostgreSQL; a no-op on SQLite.
    async fn refresh_flip_metrics(&self) -> Result<()>;
}
