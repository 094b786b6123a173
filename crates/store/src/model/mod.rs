//! What the store holds and returns.

pub use kagami_core::{AgentStatus, CommitmentStatus, StakeAccount};
use kagami_core::{
    Flip, LoopKind, ManifestRecord, ManifestStatus, Usdc,
    crypto::{Chain, EthAddress, Hash32, Signature, Timestamp, Uuid},
};
use serde::Serialize;

/// An agent to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAgent {
    /// The ERC-8004 token id, > 0 and ≤ `i64::MAX`.
    pub agent_id: u64,
    /// The chain of the registry.
    pub chain: Chain,
    /// The ERC-8004 identity registry contract.
    pub registry_address: EthAddress,
    /// The owner, who signs manifests and revocations.
    pub owner_address: EthAddress,
    /// The token URI, if known.
    pub token_uri: Option<String>,
    /// The ERC-8004 registration file, if known.
    pub registration_file: Option<serde_json::Value>,
}

/// A registered agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// Kagami's id of the agent.
    pub uuid: Uuid,
    /// The ERC-8004 token id.
    pub agent_id: u64,
    /// The chain of the registry.
    pub chain: Chain,
    /// The identity registry contract.
    pub registry_address: EthAddress,
    /// The owner.
    pub owner_address: EthAddress,
    /// The token URI.
    pub token_uri: Option<String>,
    /// The registration file.
    pub registration_file: Option<serde_json::Value>,
    /// Lifecycle status.
    pub status: AgentStatus,
    /// Registration time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A stored manifest flip (a replacement of an agent's current manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlipRecord {
    /// Store id.
    pub id: Uuid,
    /// The agent.
    pub agent: Uuid,
    /// The replaced manifest's hash.
    pub old_manifest: Hash32,
    /// The new manifest's hash.
    pub new_manifest: Hash32,
    /// The score and its parts.
    pub flip: Flip,
    /// `kagami_core::decide::flip_hash(old, new)`.
    pub flip_hash: Hash32,
    /// Whether it was suspicious (score ≥ 70) and alerted.
    pub alerted: bool,
    /// When.
    pub created_at: Timestamp,
}

/// The result of publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOutcome {
    /// The stored manifest (the existing one for a replay).
    pub manifest: ManifestRecord,
    /// Its status at publication time.
    pub status: ManifestStatus,
    /// The flip recorded, if it replaced a manifest (the original flip for a replay).
    pub flip: Option<FlipRecord>,
    /// The identical manifest had been published before; nothing was written.
    pub replayed: bool,
    /// Commitments this publication disputed (first-hop endpoint flip during a time lock).
    pub disputed_commitments: Vec<Commitment>,
}

/// The payer's order a receipt v2 acknowledges, as stored beside the receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredOrder {
    /// The order's id.
    pub hash: Hash32,
    /// Unique per payer.
    pub nonce: u64,
    /// The amount paid.
    pub amount: Usdc,
    /// The payer's signature.
    pub signature: Signature,
}

impl StoredOrder {
    /// What is stored of a signed order.
    pub fn of(order: &kagami_core::crypto::Signed<kagami_core::crypto::ForwardOrder>) -> Self {
        Self {
            hash: order.id(),
            nonce: order.value().nonce,
            amount: order.value().amount.into(),
            signature: *order.signature(),
        }
    }
}

/// A receipt's fields as stored: the signed fields, the destination's signature, the order
/// it acknowledges (none for a v1 receipt), the store id of the manifest it cites and the
/// cost figures derived from its hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceipt {
    /// The chain.
    pub chain: Chain,
    /// The root transaction.
    pub root_tx: Hash32,
    /// The hop.
    pub hop: u32,
    /// The paying agent.
    pub source: Uuid,
    /// The receiving agent.
    pub dest: Uuid,
    /// The store id of the cited manifest.
    pub manifest_id: Uuid,
    /// The cited manifest's hash.
    pub manifest_hash: Hash32,
    /// The payer's order (receipt v2); `None` for a v1 receipt.
    pub order: Option<StoredOrder>,
    /// The destination's next-hop commitment.
    pub next_hop: Option<Hash32>,
    /// Unique per destination.
    pub nonce: u64,
    /// The receipt's id.
    pub receipt_hash: Hash32,
    /// The destination's signature.
    pub signature: Signature,
    /// `hop > max_rational_hops`.
    pub hop_irrational: bool,
    /// Forward cost at this hop.
    pub computational_cost: Usdc,
}

impl NewReceipt {
    /// This receipt as a hop of its root's settlement graph: only an order and its receipt
    /// are one (a v1 receipt alone is evidence, never a hop).
    pub const fn edge(&self) -> Option<kagami_core::Edge> {
        if self.order.is_none() {
            return None;
        }
        Some(kagami_core::Edge {
            from: self.source,
            to: self.dest,
            hop: self.hop,
            receipt: self.receipt_hash,
            next_hop: self.next_hop,
        })
    }
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    /// Store id.
    pub id: Uuid,
    /// The fields as recorded.
    pub receipt: NewReceipt,
    /// False once invalidated (evidence of a loop).
    pub is_valid: bool,
    /// When it was invalidated.
    pub invalidated_at: Option<Timestamp>,
    /// Why: the loop it was evidence of (`LoopKind::reason` on the wire).
    pub invalidation_reason: Option<LoopKind>,
    /// When it was recorded.
    pub created_at: Timestamp,
}

impl ReceiptRecord {
    /// A receipt about to be stored at `now`: valid, or invalidated at `now` for
    /// `invalid_because` (evidence of a loop).
    pub fn new(receipt: NewReceipt, invalid_because: Option<LoopKind>, now: Timestamp) -> Self {
        Self {
            id: Uuid::new_v4(),
            is_valid: invalid_because.is_none(),
            invalidated_at: invalid_because.map(|_| now),
            invalidation_reason: invalid_because,
            created_at: now,
            receipt,
        }
    }

    /// This receipt as an edge of its root's settlement graph — the graph every forward rule
    /// and loop settlement is decided on: a hop ([`NewReceipt::edge`]) that is still valid (not
    /// invalidated as evidence of a settled loop). The PostgreSQL audit functions
    /// (`detect_forward_cycles`, `detect_extraction_loops`) select the same edges.
    pub const fn valid_edge(&self) -> Option<kagami_core::Edge> {
        if !self.is_valid {
            return None;
        }
        self.receipt.edge()
    }
}

/// A settlement's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementStatus {
    /// Settled by the service, may still be disputed on chain.
    Provisional,
    /// Final.
    Final,
}

impl SettlementStatus {
    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Provisional => "provisional",
            Self::Final => "final",
        }
    }

    /// Parses the stored and wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Provisional, Self::Final]
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

/// One settlement of a root transaction's loop (at most one per root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// Store id.
    pub id: Uuid,
    /// The root transaction.
    pub root_tx: Hash32,
    /// Cycle or extraction loop.
    pub kind: LoopKind,
    /// The loop's agents, in path order.
    pub cycle_agents: Vec<Uuid>,
    /// Number of agents.
    pub depth: u32,
    /// The agents liable for the loop (slashed).
    pub liable: Vec<Uuid>,
    /// The receipt whose recording closed the loop.
    pub closing_receipt: Option<Hash32>,
    /// Sum of the slashes.
    pub total_slashed: Usdc,
    /// Who reported it (none when recorded through record-forward).
    pub reporter: Option<EthAddress>,
    /// The reporter's bounty, paid out of the slashes.
    pub bounty: Option<Usdc>,
    /// Provisional or final.
    pub status: SettlementStatus,
    /// When.
    pub created_at: Timestamp,
}

impl Settlement {
    /// What the slashes left after the bounty.
    pub const fn retained(&self) -> Usdc {
        match self.bounty {
            Some(bounty) => self.total_slashed.saturating_sub(bounty),
            None => self.total_slashed,
        }
    }
}

/// Why an agent was slashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlashReason {
    /// A loop it was liable for.
    Loop(LoopKind),
    /// An MEV incident.
    MevIncident,
    /// A commitment it broke.
    CommitmentDispute,
}

impl SlashReason {
    /// The stored and wire name: `cycle_detected`, `extraction_loop_detected`,
    /// `mev_incident`, `commitment_dispute`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Loop(kind) => kind.reason(),
            Self::MevIncident => "mev_incident",
            Self::CommitmentDispute => "commitment_dispute",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mev_incident" => Some(Self::MevIncident),
            "commitment_dispute" => Some(Self::CommitmentDispute),
            other => LoopKind::parse_reason(other).map(Self::Loop),
        }
    }
}

/// verify-forward's answer, and whether a commitment dispute of the destination fell due
/// (the caller settles it and asks again: a read cannot write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardVerdict {
    /// Safe, with where to pay; or why not.
    pub verdict: Result<kagami_core::verify::SafeForward, kagami_core::verify::Unsafe>,
    /// The destination's routing changed during a commitment it co-signed, not yet settled.
    pub disputes_due: bool,
}

/// An agent, its stake and its manifests, read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentDetails {
    /// The agent.
    pub agent: Agent,
    /// Its stake now.
    pub stake: StakeAccount,
    /// Its manifest in force now, if any (what its effective manifest and that manifest's
    /// status depend on; never its whole history).
    pub manifests: Vec<ManifestRecord>,
    /// A commitment dispute of the agent fell due and is not settled yet.
    pub disputes_due: bool,
}

/// One entry of the slash ledger: every change of an agent's `slashed` has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlashRecord {
    /// Store id.
    pub id: Uuid,
    /// The slashed agent.
    pub agent: Uuid,
    /// The amount taken.
    pub amount: Usdc,
    /// Why.
    pub reason: SlashReason,
    /// The settlement, incident or commitment it is for.
    pub cause: Cause,
    /// When.
    pub created_at: Timestamp,
}

/// The result of recording a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per request, moved once into the answer; never stored in bulk"
)]
pub enum RecordOutcome {
    /// Stored as valid, stake locked.
    Recorded {
        /// The stored receipt.
        receipt: ReceiptRecord,
        /// The identical receipt had been recorded before; nothing was written.
        replayed: bool,
    },
    /// Stored as evidence; the loop it closed was settled.
    Settled {
        /// The stored (invalid) receipt.
        receipt: ReceiptRecord,
        /// The settlement.
        settlement: Settlement,
        /// Its slashes.
        slashes: Vec<SlashRecord>,
        /// The receipts invalidated (including this one).
        invalidated: Vec<Hash32>,
        /// The identical pair had closed the loop before; nothing was written.
        replayed: bool,
    },
}

/// A root transaction's audit trail, or one page of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForwardTrail {
    /// Every receipt, valid or not, in (hop, recording, id) order; one page of them when the
    /// trail was read a page at a time.
    pub receipts: Vec<ReceiptRecord>,
    /// Whether receipts follow the last one here (only ever true for a page).
    pub more: bool,
    /// Its settlement, if any.
    pub settlement: Option<Settlement>,
    /// The settlement's slashes.
    pub slashes: Vec<SlashRecord>,
}

/// One page of a list, in the list's order, and whether more items follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// At most the page size asked for.
    pub items: Vec<T>,
    /// Whether items follow the last one here.
    pub more: bool,
}

impl<T> Default for Page<T> {
    /// An empty last page.
    fn default() -> Self {
        Self {
            items: Vec::new(),
            more: false,
        }
    }
}

impl<T> Page<T> {
    /// A page of at most `limit` items from `rows`, read with a limit of `limit + 1`: an extra
    /// row says that more follow.
    pub(crate) fn of(mut rows: Vec<T>, limit: u32) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        Self { items: rows, more }
    }
}

mod money;
pub use money::*;
mod log;
pub use log::*;
