//! The use cases, each written once as an `async fn` over [`Tx`]: load what a
//! `kagami-core` decision needs, call it, write the outcome — inside one transaction, so every
//! check a write depends on is made under the locks the write holds. Backends only run them
//! (`postgres::PostgresBackend::run`, `sqlite::SqliteBackend::run`).
//!
//! [`use_cases!`] declares each one once more, as a line: it becomes a [`Store`] method and
//! the [`UseCase`] value the backends run (its inputs, owned, so a backend can run it on a
//! blocking thread or again after a transient conflict).

pub(crate) mod agents;
pub(crate) mod commitments;
pub(crate) mod forwards;
pub(crate) mod keys;
pub(crate) mod log;
pub(crate) mod manifests;

use std::borrow::Borrow;

use kagami_core::{
    AgentStatus, ManifestRecord, ManifestStatus, Policy, StakeAccount, Usdc,
    crypto::{Chain, EthAddress, Hash32, Signature, Timestamp, Uuid},
    verify::ForwardQuery,
    wire::{CosignedCommitment, CycleReportSubmission, SignedManifest, SignedPair},
};

use crate::{
    Agent, AgentDetails, ApiKeyRecord, Commitment, FlipMetrics, FlipRecord, ForwardTrail,
    ForwardVerdict, IncidentOutcome, LedgerEntry, LedgerTotals, LogBundle, LogEntry, LogHead,
    LogInclusion, MevSummaryRow, NewAgent, NewMevIncident, Page, PublishOutcome, RecordOutcome,
    Result, Role, Settlement, SlashRecord, Store, tx::Tx,
};
use kagami_tlog::{Hash, SignerKey};

/// Whether a use case writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reads only: runs on a (read-only) connection, without a write transaction.
    Read,
    /// Writes: runs in one transaction, committed only when it succeeds.
    Write,
}

/// One use case and its inputs, as a backend runs it.
pub(crate) trait UseCase: Clone + Send + 'static {
    /// What it returns: everything the caller's answer needs, so nothing is read again
    /// after the commit.
    type Output: Send + 'static;

    /// Read or write.
    const ACCESS: Access;

    /// Runs it on `tx`.
    fn run<T: Tx>(self, tx: &T) -> impl Future<Output = Result<Self::Output>>;
}

/// For each `Read|Write fn method(arg: Type, ..) -> Output = function;` line: a module
/// `method` holding the use case's input struct and its [`UseCase`] impl (which calls
/// `function(tx, args..)`), and the `Store::method`, whose arguments are `impl Borrow<Type>`
/// so callers pass values or references alike.
macro_rules! use_cases {
    ($(
        $(#[doc = $doc:literal])*
        $access:ident fn $method:ident($($arg:ident: $ty:ty),* $(,)?) -> $out:ty = $function:path;
    )*) => {
        $(
            mod $method {
                use super::*;

                #[derive(Debug, Clone)]
                pub(crate) struct Case {
                    $(pub(super) $arg: <$ty as ToOwned>::Owned,)*
                }

                impl UseCase for Case {
                    type Output = $out;
                    const ACCESS: Access = Access::$access;

                    async fn run<T: Tx>(self, tx: &T) -> Result<$out> {
                        $function(tx, $(self.$arg),*).await
                    }
                }
            }
        )*

        impl Store {
            $(
                $(#[doc = $doc])*
                pub async fn $method(&self, $($arg: impl Borrow<$ty>),*) -> Result<$out> {
                    self.run($method::Case { $($arg: $arg.borrow().to_owned()),* }).await
                }
            )*
        }
    };
}

use_cases! {
    // ---- agents --------------------------------------------------------------------------

    /// Registers an agent with a zero stake, status active.
    ///
    /// # Errors
    /// [`crate::StoreError::Conflict`] ([`crate::ConflictKind::AgentRegistered`]) when
    /// (chain, registry, agent id) is already registered.
    Write fn register_agent(agent: NewAgent, now: Timestamp) -> Agent = agents::register;

    /// The agent with this Kagami id.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn agent(uuid: Uuid) -> Option<Agent> = agents::get;

    /// The agent, its stake and its manifests, read together.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn agent_details(uuid: Uuid, now: Timestamp) -> Option<AgentDetails> = agents::details;

    /// The agent with this registry identity.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn agent_by_registry(chain: Chain, registry: EthAddress, agent_id: u64)
        -> Option<Agent> = agents::by_registry;

    /// Changes an agent's status, under the agent's lock: publishing and recording see the
    /// old or the new status, never a check against one and a write under the other.
    ///
    /// # Errors
    /// [`crate::StoreError::NotFound`] for an unknown agent.
    Write fn set_agent_status(uuid: Uuid, status: AgentStatus, now: Timestamp)
        -> Agent = agents::set_status;

    /// Sets the staked amount (mirroring the on-chain stake).
    ///
    /// # Errors
    /// [`crate::Rejection::StakeBelowSlashed`] when `staked` is below what is already slashed;
    /// [`crate::StoreError::NotFound`] for an unknown agent.
    Write fn set_stake(uuid: Uuid, staked: Usdc, now: Timestamp) -> StakeAccount = agents::set_stake;

    /// The agent's stake at `now` (locks that expired before `now` do not count).
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn stake(uuid: Uuid, now: Timestamp) -> Option<StakeAccount> = agents::stake;

    /// The stake available for a hop of `root_tx`: locks held for `root_tx` itself do not
    /// count against it.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn stake_for_root(uuid: Uuid, root_tx: Hash32, now: Timestamp)
        -> Option<StakeAccount> = agents::stake_for_root;

    /// The slash ledger of an agent, oldest first.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn slashes_of(uuid: Uuid) -> Vec<SlashRecord> = agents::slashes;

    // ---- manifests -------------------------------------------------------------------------

    /// Publishes a manifest: under the agent's lock, checks that the agent is registered on
    /// the manifest's chain and active, that the owner signed it, and
    /// `kagami_core::manifest::check_publish`; inserts it, records the flip when it replaces
    /// one, and disputes the agent's open commitments when the endpoint changed. Publishing
    /// the identical manifest again returns the stored one with `replayed: true`.
    ///
    /// # Errors
    /// [`crate::StoreError::NotFound`] for an unknown agent; [`crate::Rejection::ChainMismatch`],
    /// [`crate::Rejection::AgentNotActive`], [`crate::Rejection::Signature`],
    /// [`crate::Rejection::Publish`].
    Write fn publish_manifest(manifest: SignedManifest, now: Timestamp, policy: Policy)
        -> PublishOutcome = manifests::publish;

    /// Revokes a manifest of `agent` with the owner's signature over the revocation message;
    /// revoking a revoked manifest returns it unchanged. Returns the manifest and its status
    /// after the revocation.
    ///
    /// # Errors
    /// [`crate::StoreError::NotFound`] for an unknown agent or when the agent has no manifest
    /// with this hash; [`crate::Rejection::Signature`].
    Write fn revoke_manifest(agent: Uuid, manifest: Hash32, signature: Signature, now: Timestamp)
        -> (ManifestRecord, ManifestStatus) = manifests::revoke;

    /// The manifest with this hash.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn manifest_by_hash(hash: Hash32) -> Option<ManifestRecord> = manifests::by_hash;

    /// The manifest with this hash and its status at `now`.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn manifest_with_status(hash: Hash32, now: Timestamp)
        -> Option<(ManifestRecord, ManifestStatus)> = manifests::with_status;

    /// All manifests of an agent, highest nonce first.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn manifests_of(agent: Uuid) -> Vec<ManifestRecord> = manifests::of;

    /// All manifests of a registered agent, highest nonce first.
    ///
    /// # Errors
    /// [`crate::StoreError::NotFound`] for an unknown agent.
    Read fn manifests_of_agent(agent: Uuid) -> Vec<ManifestRecord> = manifests::of_known_agent;

    /// One page of a registered agent's manifests, highest nonce first, each with its status
    /// at `now`: at most `limit`, with a nonce below `before_nonce` when given. Index range
    /// scans only: the cost does not grow with the agent's history.
    ///
    /// # Errors
    /// [`crate::StoreError::NotFound`] for an unknown agent.
    Read fn manifests_page(agent: Uuid, before_nonce: Option<u64>, limit: u32, now: Timestamp)
        -> Page<(ManifestRecord, ManifestStatus)> = manifests::page;

    /// The flips of an agent, newest first.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn flips_of(agent: Uuid) -> Vec<FlipRecord> = manifests::flips;

    /// Flip statistics of an agent (zeros without flips) and when they were computed: from
    /// the materialized view on PostgreSQL, computed directly on SQLite.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn flip_metrics(agent: Uuid, now: Timestamp) -> (FlipMetrics, Timestamp) = manifests::metrics;

    /// [`Store::flip_metrics`] of a registered agent.
    ///
    /// # Errors
    /// [`crate::StoreError::NotFound`] for an unknown agent.
    Read fn agent_flip_metrics(agent: Uuid, now: Timestamp)
        -> (FlipMetrics, Timestamp) = manifests::agent_metrics;

    /// Refreshes the flip statistics (concurrently) on PostgreSQL; a no-op on SQLite.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn refresh_flip_metrics() -> () = manifests::refresh_metrics;

    // ---- forwards ----------------------------------------------------------------------------

    /// verify-forward: loads what `kagami_core::verify::verify_forward` needs and returns its
    /// verdict, and whether a dispute of the destination fell due (settle it with
    /// [`Store::touch_agent`] and ask again).
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn verify_forward(query: ForwardQuery, now: Timestamp, policy: Policy)
        -> ForwardVerdict = forwards::verify;

    /// Records one hop, an order and the receipt that acknowledges it: under the root's and
    /// both agents' locks, a replay returns the original outcome; the receipt must cite the
    /// destination's manifest in force now and be signed by that manifest's key or the
    /// destination's owner, the order by the payer's owner or the key of its manifest in
    /// force now, and the destination must be active; then
    /// `kagami_core::decide::decide_record` decides between storing the hop with a stake lock
    /// on the destination, or storing it as evidence and settling the loop it closes (only the
    /// agents liable for it are slashed).
    ///
    /// # Errors
    /// [`crate::StoreError::NotFound`] for unknown agents; [`crate::Rejection`]s for every
    /// refused rule; [`crate::StoreError::Conflict`] ([`crate::ConflictKind::ReceiptNonce`])
    /// when the destination used the nonce for a different receipt.
    Write fn record_forward(pair: SignedPair, now: Timestamp, policy: Policy)
        -> RecordOutcome = forwards::record;

    /// Settles a reported loop: under the root's lock, the reporter's signature over the cycle
    /// report (on `chain`, or the evidence's or the recorded receipts' chain) is checked, each
    /// evidence item passes the receipt checks, and the valid receipts plus the evidence must
    /// contain a loop. The evidence is stored and the loop settled with the reporter's bounty.
    ///
    /// # Errors
    /// [`crate::Rejection::AlreadySettled`], [`crate::Rejection::Signature`],
    /// [`crate::Rejection::InvalidEvidence`], [`crate::Rejection::NoLoop`] (nothing stored).
    Write fn report_cycle(report: CycleReportSubmission, now: Timestamp, policy: Policy)
        -> (Settlement, Vec<SlashRecord>) = forwards::report;

    /// The audit trail of a root transaction.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn forward_trail(root: Hash32) -> ForwardTrail = forwards::trail;

    /// One page of the audit trail of a root transaction: at most `limit` receipts in (hop,
    /// recording time, id) order, after the root's receipt `after` when given, whether more
    /// follow, and the settlement.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn forward_trail_page(root: Hash32, after: Option<Uuid>, limit: u32)
        -> ForwardTrail = forwards::trail_page;

    /// The settlement of a root, if any.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn settlement_of(root: Hash32) -> Option<Settlement> = forwards::settlement_of;

    // ---- commitments and MEV -----------------------------------------------------------------

    /// Accepts a commitment co-signed by the root payer and the first-hop agent (each by its
    /// owner or the key of its manifest in force): the first hop holds the routing of its
    /// manifest in force now until the lock ends.
    ///
    /// # Errors
    /// [`crate::StoreError::Conflict`] when the root already has one;
    /// [`crate::StoreError::NotFound`] for an unknown agent; [`crate::Rejection`]s for a
    /// signature by another key, a lock out of range, a first hop without a manifest in
    /// force or not active.
    Write fn create_commitment(commitment: CosignedCommitment, now: Timestamp, policy: Policy)
        -> Commitment = commitments::create;

    /// Settles the commitment disputes due on `agent` (its routing changed during a lock it
    /// co-signed), under its lock; returns the commitments disputed.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Write fn touch_agent(agent: Uuid, now: Timestamp) -> Vec<Commitment> = commitments::touch;

    /// The agents with open co-signed commitments (whose disputes the sweep evaluates).
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn disputable_agents() -> Vec<Uuid> = commitments::disputable_agents;

    /// The ledger's totals and one page of its lines, newest first: at most `limit`, those
    /// after the line `after` when given, and whether more follow.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn ledger(limit: u32, after: Option<Uuid>)
        -> (LedgerTotals, Page<LedgerEntry>) = commitments::ledger;

    /// Marks a pending commitment confirmed on chain.
    ///
    /// # Errors
    /// [`crate::Rejection::CommitmentState`] unless pending; [`crate::StoreError::NotFound`].
    Write fn confirm_commitment(id: Uuid, onchain_tx_hash: Hash32, now: Timestamp)
        -> Commitment = commitments::confirm;

    /// Marks a confirmed commitment settled.
    ///
    /// # Errors
    /// [`crate::Rejection::CommitmentState`] unless confirmed; [`crate::StoreError::NotFound`].
    Write fn settle_commitment(id: Uuid, now: Timestamp) -> Commitment = commitments::settle;

    /// The commitment with this id.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn commitment(id: Uuid) -> Option<Commitment> = commitments::get;

    /// Records an MEV incident and slashes the attacker per
    /// `kagami_core::settlement::mev_slash`.
    ///
    /// # Errors
    /// [`crate::StoreError::NotFound`] for an unknown attacker or victim;
    /// [`crate::Rejection::Signature`] when the attack transaction is not signed by the
    /// attacker's owner or the key of its manifest in force; [`crate::ConflictKind::MevAttack`]
    /// when the transaction was reported before with other fields.
    Write fn record_mev_incident(incident: NewMevIncident, now: Timestamp)
        -> IncidentOutcome = commitments::record_incident;

    /// Totals per attack type.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn mev_summary() -> Vec<MevSummaryRow> = commitments::mev_summary;

    // ---- API keys ------------------------------------------------------------------------------

    /// Stores a key's HMAC.
    ///
    /// # Errors
    /// [`crate::StoreError::Conflict`] ([`crate::ConflictKind::ApiKey`]) if the HMAC exists.
    Write fn create_api_key(key_hmac: [u8; 32], role: Role, label: str, now: Timestamp)
        -> ApiKeyRecord = keys::create;

    /// The unrevoked key with this HMAC.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn api_key_by_hmac(key_hmac: [u8; 32]) -> Option<ApiKeyRecord> = keys::by_hmac;

    /// All keys, oldest first.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn list_api_keys() -> Vec<ApiKeyRecord> = keys::list;

    /// Revokes a key (idempotent).
    ///
    /// # Errors
    /// [`crate::StoreError::NotFound`] for an unknown id.
    Write fn revoke_api_key(id: Uuid, now: Timestamp) -> ApiKeyRecord = keys::revoke;

    /// A cheap round trip to the database.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`] when the database cannot be reached.
    Read fn ping() -> () = ping;

    // ---- the audit log -------------------------------------------------------------------

    /// The sequencer: integrates at most `max` pending log entries, oldest first, and signs
    /// a checkpoint of the new tree with `signer` (on the first run, of the empty tree).
    /// Returns the newest checkpoint, or `None` when another sequencer is integrating.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Write fn integrate_log(signer: SignerKey, max: u32, now: Timestamp)
        -> Option<LogHead> = log::integrate;

    /// The log's newest signed checkpoint; `None` before the sequencer's first run.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn log_head() -> Option<LogHead> = log::head;

    /// The integrated entries with indexes in `[start, end)`, in order (bound the range).
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn log_entries(start: u64, end: u64) -> Vec<LogEntry> = log::entries;

    /// The integrated entry with this leaf hash and its inclusion proof in the tree of
    /// `tree_size` entries (default: the newest checkpoint's).
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn log_inclusion(leaf: Hash, tree_size: Option<u64>)
        -> Option<LogInclusion> = log::inclusion;

    /// The consistency proof between two tree sizes; `None` unless `from <= to <=` the
    /// newest checkpoint's size.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn log_consistency(from: u64, to: u64) -> Option<Vec<Hash>> = log::consistency;

    /// The first entry recording object `key` of `kind`, with its offline proof bundle once
    /// integrated.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`], [`crate::StoreError::Internal`].
    Read fn log_bundle(kind: str, key: str) -> Option<LogBundle> = log::bundle;
}

async fn ping<T: Tx>(tx: &T) -> Result<()> {
    tx.ping().await
}
