//! What the store holds and returns.

pub use kagami_core::{AgentStatus, CommitmentStatus, StakeAccount};
use kagami_core::{
    Flip, LoopKind, ManifestRecord, ManifestStatus, Usdc,
    crypto::{Chain, EthAddress, Hash32, Signature, SignedTransaction, Timestamp, Uuid},
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
    /// Its manifests, highest nonce first.
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

/// A root transaction's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForwardTrail {
    /// Every receipt, valid or not, in (hop, recording) order.
    pub receipts: Vec<ReceiptRecord>,
    /// Its settlement, if any.
    pub settlement: Option<Settlement>,
    /// The settlement's slashes.
    pub slashes: Vec<SlashRecord>,
}

/// A high-value commitment to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCommitment {
    /// The root transaction (one commitment per root).
    pub root_tx: Hash32,
    /// The id of the `Kagami commitment v1` message.
    pub commitment_hash: Hash32,
    /// The chain.
    pub chain: Chain,
    /// The first agent the payment goes to.
    pub first_hop_agent: Uuid,
    /// The committed routing.
    pub routing_hash: Hash32,
    /// ≥ the high-value threshold.
    pub amount: Usdc,
    /// End of the time lock.
    pub time_lock_until: Timestamp,
    /// The signatures of both agents and the routing the first hop holds; `None` for a
    /// commitment made before protocol v2, which binds nobody.
    pub cosigned: Option<Cosignatures>,
}

/// What makes a commitment bind its first hop: both agents' signatures and the first hop's
/// manifest in force when it was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cosignatures {
    /// The root payer.
    pub payer: Uuid,
    /// The payer's signature.
    pub payer_signature: Signature,
    /// The first hop's signature.
    pub first_hop_signature: Signature,
    /// The first hop's manifest in force when the commitment was accepted.
    pub first_hop_manifest: Hash32,
}

/// A stored commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commitment {
    /// Store id.
    pub id: Uuid,
    /// The fields as created.
    pub commitment: NewCommitment,
    /// Status.
    pub status: CommitmentStatus,
    /// The on-chain transaction, once confirmed.
    pub onchain_tx_hash: Option<Hash32>,
    /// When disputed: the first hop's manifest that changed its routing during the lock.
    pub disputed_by: Option<Hash32>,
    /// When.
    pub created_at: Timestamp,
}

/// What became of slashed money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutKind {
    /// Paid to the reporter of a loop.
    Bounty {
        /// The reporter.
        reporter: EthAddress,
    },
    /// Kept.
    Retained,
}

/// A slash's cause, shared by both sides of the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// A loop settlement.
    Settlement(Uuid),
    /// An MEV incident.
    Incident(Uuid),
    /// A disputed commitment.
    Commitment(Uuid),
}

impl Cause {
    /// `settlement`, `incident` or `commitment`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Settlement(_) => "settlement",
            Self::Incident(_) => "incident",
            Self::Commitment(_) => "commitment",
        }
    }

    /// The settlement's, incident's or commitment's id.
    pub const fn id(&self) -> Uuid {
        match self {
            Self::Settlement(id) | Self::Incident(id) | Self::Commitment(id) => *id,
        }
    }
}

/// One payout of slashed money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payout {
    /// Store id.
    pub id: Uuid,
    /// Bounty or retained.
    pub kind: PayoutKind,
    /// What was slashed.
    pub cause: Cause,
    /// Amount (> 0).
    pub amount: Usdc,
    /// When.
    pub created_at: Timestamp,
}

/// One line of the ledger: a slash, or a payout of slashed money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerEntry {
    /// Money taken from an agent.
    Slash {
        /// The agent.
        agent: Uuid,
        /// The cause.
        cause: Cause,
        /// Amount.
        amount: Usdc,
        /// When.
        created_at: Timestamp,
    },
    /// What became of it.
    Payout(Payout),
}

/// The ledger's totals, and the causes whose own lines do not balance (none, unless
/// something wrote outside the use cases).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LedgerTotals {
    /// Everything slashed.
    pub slashed: Usdc,
    /// Everything paid to reporters.
    pub bounties: Usdc,
    /// Everything retained.
    pub retained: Usdc,
    /// Causes whose slashes differ from their payouts.
    pub unbalanced: Vec<Cause>,
}

impl LedgerTotals {
    /// Σ slashed = Σ bounties + Σ retained, and every cause balances.
    pub fn balanced(&self) -> bool {
        self.unbalanced.is_empty() && self.bounties.checked_add(self.retained) == Some(self.slashed)
    }
}

/// An MEV attack type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackType {
    /// Front-running.
    Frontrun,
    /// Sandwich.
    Sandwich,
    /// Time-bandit reorg.
    Timebandit,
    /// Extraction loop.
    ExtractionLoop,
}

impl AttackType {
    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Frontrun => "frontrun",
            Self::Sandwich => "sandwich",
            Self::Timebandit => "timebandit",
            Self::ExtractionLoop => "extraction_loop",
        }
    }

    /// Parses the stored and wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "frontrun" => Some(Self::Frontrun),
            "sandwich" => Some(Self::Sandwich),
            "timebandit" => Some(Self::Timebandit),
            "extraction_loop" => Some(Self::ExtractionLoop),
            _ => None,
        }
    }
}

/// An MEV incident to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMevIncident {
    /// The root transaction.
    pub root_tx: Hash32,
    /// The kind of attack.
    pub attack_type: AttackType,
    /// The attacking agent (slashed).
    pub attacker: Uuid,
    /// The victim agent, if an agent.
    pub victim: Option<Uuid>,
    /// Value extracted.
    pub extracted_value: Usdc,
    /// Block number, > 0.
    pub block_number: u64,
    /// Transaction index in the block.
    pub tx_index: u32,
    /// Hash of the evidence.
    pub evidence_hash: Hash32,
    /// The transaction the attacker signed: its signature is what makes the attacker liable,
    /// its hash what makes a retried report the same incident. (Incidents recorded before
    /// protocol v2 have none; they are only ever read as totals.)
    pub attack_tx: SignedTransaction,
}

/// The result of recording an MEV incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentOutcome {
    /// The stored incident (the original one for a replay).
    pub incident: MevIncident,
    /// The same transaction was reported before, with the same fields; nothing was written.
    pub replayed: bool,
}

/// A stored MEV incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MevIncident {
    /// Store id.
    pub id: Uuid,
    /// The fields as recorded.
    pub incident: NewMevIncident,
    /// What the attacker was slashed.
    pub slashed_amount: Usdc,
    /// When.
    pub created_at: Timestamp,
}

/// Totals per attack type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MevSummaryRow {
    /// The attack type.
    pub attack_type: AttackType,
    /// Number of incidents.
    pub incidents: u64,
    /// Sum extracted.
    pub extracted_value: Usdc,
    /// Sum slashed.
    pub slashed_amount: Usdc,
}

/// An API key's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Submissions (publish, record, report, commitments).
    Client,
}

impl Role {
    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Client => "client",
        }
    }

    /// Parses the stored and wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "client" => Some(Self::Client),
            _ => None,
        }
    }
}

/// A stored API key. The key itself is never stored, only its HMAC-SHA256 under the salt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Store id (shown to operators, used to revoke).
    pub id: Uuid,
    /// HMAC-SHA256 of the key under `API_KEY_SALT`.
    pub key_hmac: [u8; 32],
    /// Role.
    pub role: Role,
    /// Operator's label.
    pub label: String,
    /// When.
    pub created_at: Timestamp,
    /// When revoked.
    pub revoked_at: Option<Timestamp>,
}

/// Per-agent flip statistics.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FlipMetrics {
    /// All flips.
    pub total_flips: u64,
    /// Flips less than 60 s after the previous manifest.
    pub rapid_flips_1min: u64,
    /// Flips that changed the endpoint.
    pub endpoint_changes: u64,
    /// Flips scoring ≥ 70.
    pub high_suspicion_flips: u64,
    /// Mean score, two decimals (display only; not money).
    pub avg_suspicion_score: f64,
    /// The latest flip.
    pub last_flip_at: Option<Timestamp>,
}
