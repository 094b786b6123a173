//! Money outside the forward graph: commitments, the ledger, MEV incidents; and API keys and
//! flip metrics.

use kagami_core::{
    CommitmentStatus, Usdc, UsdcSum,
    crypto::{Chain, EthAddress, Hash32, Signature, SignedTransaction, Timestamp, Uuid},
};
use serde::Serialize;

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
        /// The slash's id.
        id: Uuid,
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

impl LedgerEntry {
    /// The line's id (its slash's or payout's): the ledger's page cursor.
    pub const fn id(&self) -> Uuid {
        match self {
            Self::Slash { id, .. } => *id,
            Self::Payout(payout) => payout.id,
        }
    }
}

/// The ledger's totals, and the causes whose own lines do not balance (none, unless
/// something wrote outside the use cases).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LedgerTotals {
    /// Everything slashed (a sum: it may exceed one amount's range).
    pub slashed: UsdcSum,
    /// Everything paid to reporters.
    pub bounties: UsdcSum,
    /// Everything retained.
    pub retained: UsdcSum,
    /// Causes whose slashes differ from their payouts.
    pub unbalanced: Vec<Cause>,
}

impl LedgerTotals {
    /// Σ slashed = Σ bounties + Σ retained, and every cause balances.
    pub fn balanced(&self) -> bool {
        self.unbalanced.is_empty() && self.bounties.plus(self.retained) == self.slashed
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
    /// Sum extracted (exact and wide: never overflows).
    pub extracted_value: UsdcSum,
    /// Sum slashed.
    pub slashed_amount: UsdcSum,
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
