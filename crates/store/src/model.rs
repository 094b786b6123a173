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

/// A receipt's fields as stored: the signed fields, the destination's signature, the store
/// id of the manifest it cites and the cost figures derived from its hop.
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
    /// This receipt as an edge of its root's forward graph.
    pub const fn edge(&self) -> kagami_core::Edge {
        kagami_core::Edge {
            from: self.source,
            to: self.dest,
            hop: self.hop,
            receipt: self.receipt_hash,
            next_hop: self.next_hop,
        }
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
    /// The agents slashed, in path order.
    pub cycle_agents: Vec<Uuid>,
    /// Number of agents.
    pub depth: u32,
    /// Sum of the slashes.
    pub total_slashed: Usdc,
    /// Who reported it (none when recorded through record-forward).
    pub reporter: Option<EthAddress>,
    /// The reporter's bounty.
    pub bounty: Option<Usdc>,
    /// Provisional or final.
    pub status: SettlementStatus,
    /// When.
    pub created_at: Timestamp,
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

/// An agent, its stake and its manifests, read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentDetails {
    /// The agent.
    pub agent: Agent,
    /// Its stake now.
    pub stake: StakeAccount,
    /// Its manifests, highest nonce first.
    pub manifests: Vec<ManifestRecord>,
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
    /// The settlement, for loop slashes.
    pub settlement_id: Option<Uuid>,
    /// The MEV incident, for MEV slashes.
    pub incident_id: Option<Uuid>,
    /// The commitment, for dispute slashes.
    pub commitment_id: Option<Uuid>,
    /// When.
    pub created_at: Timestamp,
}

/// The result of recording a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// `kagami_core::decide::commitment_hash(..)`.
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
    /// When.
    pub created_at: Timestamp,
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
