//! The primitives every backend provides to the use cases: locks, row reads, row writes.
//! No business rule lives behind this trait; the use cases (`usecase/`) combine the
//! primitives with `kagami-core`'s decisions, once for both backends.
//!
//! A use case runs inside one transaction (a write) or on one connection (a read). Lock
//! order, always: the root transaction ([`Tx::lock_root`]), then agents ([`Tx::lock_agents`]
//! or [`Tx::share_agents`], sorted), then commitment rows, then stake rows
//! ([`AgentRows::stake_accounts`] with `for_update`, sorted). Every writer that depends on an
//! agent's state (status, manifests, stake, commitments) holds that agent's lock, so a check
//! and the write it guards never interleave with another writer. Record-forward holds it
//! shared: two hops for one agent may interleave, and what they both write is guarded by
//! rows (unique nonces and orders, the stake row, open commitments locked `FOR UPDATE`).

use kagami_core::{
    AgentStatus, LoopKind, ManifestRecord, StakeAccount, Usdc,
    crypto::{Chain, EthAddress, Hash32, Timestamp, Uuid},
};

use kagami_tlog::Hash;

use crate::{
    Agent, ApiKeyRecord, Commitment, FlipMetrics, FlipRecord, LedgerEntry, LedgerTotals, LogEntry,
    LogHead, MevIncident, MevSummaryRow, Payout, ReceiptRecord, Result, Settlement, SlashRecord,
};

/// Which once-only values of a new hop are taken ([`ForwardRows::values_used`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ValuesUsed {
    /// The destination's receipt nonce.
    pub receipt_nonce: bool,
    /// The order's id.
    pub order: bool,
    /// The payer's order nonce.
    pub order_nonce: bool,
}

/// A transaction (or, for reads, a connection) of a backend.
///
/// Lookups return `Ok(None)` (or an empty list) for missing rows; writes to rows that must
/// exist fail with [`crate::StoreError::NotFound`].
pub(crate) trait Tx:
    AgentRows + ManifestRows + ForwardRows + CommitmentRows + KeyRows + LogRows
{
    /// A cheap round trip.
    async fn ping(&self) -> Result<()>;

    /// Serializes writers of `root` until the transaction ends (a no-op where the backend
    /// serializes all writers).
    async fn lock_root(&self, root: &Hash32) -> Result<()>;

    /// Serializes writers of these agents until the transaction ends, locking them in
    /// sorted order.
    async fn lock_agents(&self, agents: &[Uuid]) -> Result<()>;

    /// Takes these agents' locks shared until the transaction ends, in sorted order: waits
    /// for and excludes their exclusive writers ([`Tx::lock_agents`]: publish, revoke,
    /// status, stake, commitments), but not other sharers. Sharers of an agent (hops
    /// recorded for it) conflict on rows instead: the unique nonces and orders, and the
    /// stake row, which [`AgentRows::stake_accounts`] with `for_update` locks before reading.
    async fn share_agents(&self, agents: &[Uuid]) -> Result<()>;
}

/// Agents, their stake rows, stake locks and the slash ledger.
pub(crate) trait AgentRows {
    /// Inserts an agent and its zero stake row.
    async fn insert_agent(&self, agent: &Agent) -> Result<()>;

    /// The agent with this id.
    async fn agent(&self, uuid: Uuid) -> Result<Option<Agent>>;

    /// The agents with these ids that exist, in any order, in one lookup where the backend
    /// can.
    async fn agents(&self, uuids: &[Uuid]) -> Result<Vec<Agent>>;

    /// The agent with this registry identity.
    async fn agent_by_registry(
        &self,
        chain: &Chain,
        registry: &EthAddress,
        agent_id: u64,
    ) -> Result<Option<Agent>>;

    /// Sets an existing agent's status.
    async fn set_agent_status(&self, uuid: Uuid, status: AgentStatus, now: Timestamp)
    -> Result<()>;

    /// The stake accounts of `agents` at `now` (expired locks do not count; with
    /// `except_root`, that root's locks do not count either), in the order asked; missing
    /// agents are left out. With `for_update`, the stake rows stay locked until the
    /// transaction ends, and locks released or expired since the agents' last write leave
    /// their running totals. Index lookups only: the cost does not grow with the number of
    /// locks an agent ever held.
    async fn stake_accounts(
        &self,
        agents: &[Uuid],
        except_root: Option<&Hash32>,
        now: Timestamp,
        for_update: bool,
    ) -> Result<Vec<(Uuid, StakeAccount)>>;

    /// Sets the staked amount of an existing agent.
    async fn set_staked(&self, uuid: Uuid, staked: Usdc, now: Timestamp) -> Result<()>;

    /// Adds the slash to the agent's slashed amount and writes its ledger row.
    async fn insert_slash(&self, slash: &SlashRecord) -> Result<()>;

    /// Writes a payout of slashed money (a bounty or what is retained).
    async fn insert_payout(&self, payout: &Payout) -> Result<()>;

    /// The ledger's totals, and every cause whose slashes differ from its payouts.
    async fn ledger_totals(&self) -> Result<LedgerTotals>;

    /// The newest `limit` lines of the ledger, newest first (created at descending, then entry
    /// kind and id ascending); with `after`, those that follow the line with this id in that
    /// order (none when there is no such line).
    async fn ledger_entries(&self, limit: u32, after: Option<Uuid>) -> Result<Vec<LedgerEntry>>;

    /// The slash ledger of an agent, oldest first.
    async fn slashes_of_agent(&self, uuid: Uuid) -> Result<Vec<SlashRecord>>;

    /// The slashes of a settlement, oldest first.
    async fn slashes_of_settlement(&self, settlement: Uuid) -> Result<Vec<SlashRecord>>;

    /// Locks `amount` of the agent's stake for `root` until `expires_at`, adding it to the
    /// agent's running total; the caller holds the agent's stake row
    /// ([`AgentsTx::stake_accounts`] with `for_update`).
    async fn insert_stake_lock(
        &self,
        agent: Uuid,
        root: &Hash32,
        amount: Usdc,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()>;

    /// Releases every active stake lock held for `root`.
    async fn release_root_locks(&self, root: &Hash32, now: Timestamp) -> Result<()>;
}

/// Manifests, flips and flip statistics.
pub(crate) trait ManifestRows {
    /// Inserts a manifest.
    async fn insert_manifest(&self, manifest: &ManifestRecord) -> Result<()>;

    /// The manifest with this hash.
    async fn manifest_by_hash(&self, hash: &Hash32) -> Result<Option<ManifestRecord>>;

    /// The manifests of an agent, highest nonce first.
    async fn manifests_of(&self, agent: Uuid) -> Result<Vec<ManifestRecord>>;

    /// The manifests of an agent that publishing one with `nonce` at `now` is decided on
    /// (`kagami_core::manifest::check_publish`, `status_at`): the one with this nonce, the one
    /// with the highest nonce, and every one whose window has not ended at `now`; highest nonce
    /// first. Three index lookups: the agent's expired history is not read.
    async fn manifests_for_publish(
        &self,
        agent: Uuid,
        nonce: u64,
        now: Timestamp,
    ) -> Result<Vec<ManifestRecord>>;

    /// At most `limit` manifests of an agent, highest nonce first, with a nonce below
    /// `before_nonce` when given (an index range scan).
    async fn manifests_page(
        &self,
        agent: Uuid,
        before_nonce: Option<u64>,
        limit: u32,
    ) -> Result<Vec<ManifestRecord>>;

    /// The agent's manifest in force at `at` (`kagami_core::manifest::effective_at` over all
    /// of them), and its manifest with hash `also` when given and the agent's: everything a
    /// status or an authorised key at `at` depends on, read without the agent's history (the
    /// scan covers only the manifests whose window has not ended at `at`).
    async fn manifests_in_force(
        &self,
        agent: Uuid,
        at: Timestamp,
        also: Option<&Hash32>,
    ) -> Result<Vec<ManifestRecord>>;

    /// The manifests of an agent whose window meets `[from, until)` (`valid_until > from`
    /// and `valid_from < until`), highest nonce first: every manifest that can be in force
    /// at a moment of that span.
    async fn manifests_overlapping(
        &self,
        agent: Uuid,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<ManifestRecord>>;

    /// Marks a manifest revoked at `at`.
    async fn set_manifest_revoked(&self, id: Uuid, at: Timestamp) -> Result<()>;

    /// Inserts a flip.
    async fn insert_flip(&self, flip: &FlipRecord) -> Result<()>;

    /// The flip that introduced the manifest `new`, if it replaced one.
    async fn flip_introducing(&self, new: &Hash32) -> Result<Option<FlipRecord>>;

    /// The flips of an agent, newest first.
    async fn flips_of(&self, agent: Uuid) -> Result<Vec<FlipRecord>>;

    /// An agent's flip statistics and when they were computed.
    async fn flip_metrics(&self, agent: Uuid, now: Timestamp) -> Result<(FlipMetrics, Timestamp)>;

    /// Recomputes the flip statistics where the backend keeps them precomputed.
    async fn refresh_flip_metrics(&self) -> Result<()>;
}

/// Receipts and settlements.
pub(crate) trait ForwardRows {
    /// The receipt with this hash.
    async fn receipt_by_hash(&self, hash: &Hash32) -> Result<Option<ReceiptRecord>>;

    /// Which of a new hop's once-only values recorded receipts already hold, in one
    /// lookup: the destination's receipt nonce and, for an order, its id and the payer's
    /// order nonce (`order`: the id and the nonce).
    async fn values_used(
        &self,
        dest: Uuid,
        receipt_nonce: u64,
        source: Uuid,
        order: Option<(&Hash32, u64)>,
    ) -> Result<ValuesUsed>;

    /// Every receipt of a root, valid or not, in (hop, recording) order.
    async fn receipts_of_root(&self, root: &Hash32) -> Result<Vec<ReceiptRecord>>;

    /// At most `limit` receipts of a root in (hop, recording time, id) order; with `after`,
    /// those that follow the root's receipt with this id (none when the root has no such
    /// receipt).
    async fn receipts_page(
        &self,
        root: &Hash32,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ReceiptRecord>>;

    /// Inserts a receipt.
    async fn insert_receipt(&self, receipt: &ReceiptRecord) -> Result<()>;

    /// Invalidates the still-valid receipts of `root` among `hashes`.
    async fn invalidate_receipts(
        &self,
        root: &Hash32,
        hashes: &[Hash32],
        kind: LoopKind,
        now: Timestamp,
    ) -> Result<()>;

    /// The settlement of a root.
    async fn settlement_of(&self, root: &Hash32) -> Result<Option<Settlement>>;

    /// Inserts a settlement.
    async fn insert_settlement(&self, settlement: &Settlement) -> Result<()>;
}

/// Commitments and MEV incidents.
pub(crate) trait CommitmentRows {
    /// Inserts a commitment.
    async fn insert_commitment(&self, commitment: &Commitment) -> Result<()>;

    /// The commitment with this id; with `for_update`, its row stays locked until the
    /// transaction ends.
    async fn commitment(&self, id: Uuid, for_update: bool) -> Result<Option<Commitment>>;

    /// Writes a commitment's status and on-chain transaction.
    async fn update_commitment(&self, commitment: &Commitment, now: Timestamp) -> Result<()>;

    /// The co-signed commitments still pending or confirmed whose first hop is `agent`, in
    /// creation order; with `for_update`, locked until the transaction ends.
    async fn open_commitments_of(&self, agent: Uuid, for_update: bool) -> Result<Vec<Commitment>>;

    /// The first hops of co-signed commitments still pending or confirmed.
    async fn agents_with_open_commitments(&self) -> Result<Vec<Uuid>>;

    /// Inserts an MEV incident.
    async fn insert_incident(&self, incident: &MevIncident) -> Result<()>;

    /// The incident recorded for the attack transaction `hash`.
    async fn incident_by_attack_tx(&self, hash: &Hash32) -> Result<Option<MevIncident>>;

    /// Incident totals per attack type.
    async fn mev_summary(&self) -> Result<Vec<MevSummaryRow>>;
}

/// API keys.
pub(crate) trait KeyRows {
    /// Inserts a key.
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()>;

    /// The key with this id.
    async fn api_key(&self, id: Uuid) -> Result<Option<ApiKeyRecord>>;

    /// The unrevoked key with this HMAC.
    async fn api_key_by_hmac(&self, hmac: &[u8; 32]) -> Result<Option<ApiKeyRecord>>;

    /// All keys, oldest first.
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>>;

    /// Marks a key revoked at `at`.
    async fn set_api_key_revoked(&self, id: Uuid, at: Timestamp) -> Result<()>;
}

/// The audit log: entries, stored tree hashes, checkpoints.
pub(crate) trait LogRows {
    /// Writes a pending entry.
    async fn insert_log_entry(&self, entry: &LogEntry) -> Result<()>;

    /// Takes the sequencer's lock until the transaction ends; `false` when another
    /// sequencer holds it (always `true` where the backend serializes all writers).
    async fn try_lock_log(&self) -> Result<bool>;

    /// The newest checkpoint.
    async fn log_head(&self) -> Result<Option<LogHead>>;

    /// At most `limit` pending entries' sequence numbers and leaf hashes, oldest first.
    async fn pending_log_entries(&self, limit: u32) -> Result<Vec<(i64, Hash)>>;

    /// The stored tree hashes at `indexes`, in the order asked.
    ///
    /// # Errors
    /// [`crate::StoreError::Internal`] when one is missing.
    async fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>>;

    /// Stores tree hashes at consecutive indexes from `first`.
    async fn insert_log_hashes(&self, first: u64, hashes: &[Hash]) -> Result<()>;

    /// Gives the pending entries `seqs` the indexes `first`, `first + 1`, … in that order.
    async fn set_log_indexes(&self, seqs: &[i64], first: u64, now: Timestamp) -> Result<()>;

    /// Stores a signed checkpoint.
    async fn insert_checkpoint(&self, head: &LogHead, now: Timestamp) -> Result<()>;

    /// The integrated entries with indexes in `[start, end)`, in index order.
    async fn log_entries(&self, start: u64, end: u64) -> Result<Vec<LogEntry>>;

    /// The first integrated entry with this leaf hash.
    async fn log_entry_by_leaf(&self, leaf: &Hash) -> Result<Option<LogEntry>>;

    /// The first entry (pending or integrated) of this kind and key.
    async fn log_entry_of(&self, kind: &str, key: &str) -> Result<Option<LogEntry>>;
}
