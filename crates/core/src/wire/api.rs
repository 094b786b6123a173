//! The HTTP API's JSON bodies, shared by the server (`kagami-api`) and the client SDK
//! (`kagami-client`) so the two can never disagree about a field.
//!
//! Values are carried in their canonical text forms (hashes, UUIDs, timestamps, and money as
//! decimal strings with six decimals — never JSON numbers). Requests reject unknown fields.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

use super::{ErrorCode, ForwardPairRequest};

/// `POST /api/v1/agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterAgentRequest {
    /// ERC-8004 token id (> 0).
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)
    )]
    #[serde(deserialize_with = "super::integer::u64")]
    pub agent_id: u64,
    /// Chain name, e.g. `base`.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Chain))]
    pub chain: String,
    /// The ERC-8004 identity registry contract.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Address))]
    pub registry_address: String,
    /// The owner address (signs manifests and revocations).
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Address))]
    pub owner_address: String,
    /// Token URI.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<super::schema::FreeText>))]
    pub token_uri: Option<String>,
    /// ERC-8004 registration file (any JSON object; no U+0000 in its strings or keys).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<super::schema::RegistrationFile>))]
    pub registration_file: Option<Value>,
}

/// `PUT /api/v1/agents/{agent_uuid}/stake`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetStakeRequest {
    /// Decimal string, at most 6 decimals, e.g. `"1500.25"`.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Decimal))]
    pub staked_amount_usdc: String,
}

/// `PATCH /api/v1/agents/{agent_uuid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateAgentRequest {
    /// `active`, `suspended` or `revoked`.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::AgentStatus))]
    pub status: String,
}

/// `POST /api/v1/agents/manifests/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RevokeManifestRequest {
    /// The agent.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Uuid))]
    pub agent_uuid: String,
    /// The manifest to revoke.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Hash))]
    pub manifest_hash: String,
    /// The owner's signature over the manifest revocation message.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Signature))]
    pub signature: String,
}

/// `POST /api/v1/agents/manifests/verify-forward`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyForwardRequest {
    /// The root transaction of the payment.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Hash))]
    pub root_tx_hash: String,
    /// The agent about to pay.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Uuid))]
    pub source_agent_uuid: String,
    /// The agent about to be paid.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Uuid))]
    pub dest_agent_uuid: String,
    /// The destination's manifest the source checked.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Hash))]
    pub manifest_hash: String,
    /// Its nonce.
    #[cfg_attr(feature = "openapi", schema(maximum = 9_223_372_036_854_775_807_i64))]
    #[serde(deserialize_with = "super::integer::u64")]
    pub manifest_nonce: u64,
    /// Its owner signature.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Signature))]
    pub manifest_signature: String,
}

/// `POST /api/v1/agents/manifests/report-cycle`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReportCycleRequest {
    /// The root transaction whose forwards form a loop.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Hash))]
    pub root_tx_hash: String,
    /// Credited with the bounty; must sign the cycle report message.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Address))]
    pub reporter_address: String,
    /// The reporter's signature over the cycle report message.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Signature))]
    pub signature: String,
    /// The chain named in the signed report; defaults to the chain of the first evidence
    /// item (or of the root's recorded receipts).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<super::schema::Chain>))]
    pub chain: Option<String>,
    /// Signed hops not recorded yet, each like a record-forward body (order and receipt); at
    /// most 32 (`ReportCycleRequest::MAX_EVIDENCE_ITEMS`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 32))]
    pub evidence: Vec<ForwardPairRequest>,
}

impl ReportCycleRequest {
    /// The most evidence items one report may carry. A loop has at most `MAX_HOP_DEPTH + 1`
    /// hops (11 by default), so this leaves room for the hops of several branches while
    /// bounding the signatures one request makes the service recover.
    pub const MAX_EVIDENCE_ITEMS: usize = 32;

    /// Checks the evidence count.
    ///
    /// # Errors
    /// [`crate::ValidationError::OutOfRange`] naming `evidence` when there are more than
    /// [`Self::MAX_EVIDENCE_ITEMS`] items.
    pub fn check_evidence_count(&self) -> Result<(), crate::ValidationError> {
        if self.evidence.len() > Self::MAX_EVIDENCE_ITEMS {
            return Err(crate::ValidationError::OutOfRange {
                field: "evidence",
                reason: format!(
                    "{} items exceeds the limit of {}",
                    self.evidence.len(),
                    Self::MAX_EVIDENCE_ITEMS
                ),
            });
        }
        Ok(())
    }
}

/// `POST /api/v1/agents/manifests/onchain-commitment`: a `Kagami commitment v1` signed by the
/// root payer and by the first-hop agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommitmentRequest {
    /// Chain name.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Chain))]
    pub chain: String,
    /// The root transaction (one commitment per root).
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Hash))]
    pub root_tx_hash: String,
    /// The paying agent.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Uuid))]
    pub payer_agent_uuid: String,
    /// The first agent the payment goes to, which holds its routing during the lock.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Uuid))]
    pub first_hop_agent_uuid: String,
    /// The committed routing.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Hash))]
    pub routing_hash: String,
    /// At least the high-value threshold (10,000 USDC), exactly as signed: six decimals, e.g.
    /// `"10000.000000"`.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Amount))]
    pub amount_usdc: String,
    /// End of the time lock (RFC 3339), in the future and within the policy's longest lock.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Timestamp))]
    pub lock_until: String,
    /// The payer's signature over the commitment message.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Signature))]
    pub payer_signature: String,
    /// The first-hop agent's signature over the same message.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Signature))]
    pub first_hop_signature: String,
}

/// `POST /api/v1/commitments/{id}/confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfirmCommitmentRequest {
    /// The on-chain transaction that carries the commitment.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Hash))]
    pub onchain_tx_hash: String,
}

/// `POST /api/v1/mev/incidents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MevIncidentRequest {
    /// The root transaction.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Hash))]
    pub root_tx_hash: String,
    /// `frontrun`, `sandwich`, `timebandit` or `extraction_loop`.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::AttackType))]
    pub attack_type: String,
    /// The attacking agent (slashed).
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Uuid))]
    pub attacker_agent_uuid: String,
    /// The victim agent, if an agent.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<super::schema::Uuid>))]
    pub victim_agent_uuid: Option<String>,
    /// Value extracted, decimal string.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Decimal))]
    pub extracted_value_usdc: String,
    /// Block number (> 0).
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)
    )]
    #[serde(deserialize_with = "super::integer::u64")]
    pub block_number: u64,
    /// Transaction index in the block.
    #[serde(deserialize_with = "super::integer::u32")]
    pub tx_index: u32,
    /// Hash of the evidence.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::Hash))]
    pub evidence_hash: String,
    /// The attacker's transaction, signed, EIP-2718 encoded, `0x` hex: signed by the
    /// attacker's owner or the key of its manifest in force, it is what makes the attacker
    /// liable; its hash identifies the incident (a retry is answered with the original).
    pub attack_tx: String,
}

/// An agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AgentResponse {
    /// Kagami's id of the agent.
    pub agent_uuid: String,
    /// ERC-8004 token id.
    pub agent_id: u64,
    /// Chain.
    pub chain: String,
    /// Identity registry.
    pub registry_address: String,
    /// Owner.
    pub owner_address: String,
    /// Token URI.
    pub token_uri: Option<String>,
    /// Registration file.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub registration_file: Option<Value>,
    /// `active`, `suspended` or `revoked`.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// An agent's stake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StakeResponse {
    /// Mirrors the on-chain stake.
    pub staked_usdc: String,
    /// Slashed so far.
    pub slashed_usdc: String,
    /// Locked by hops in flight.
    pub locked_usdc: String,
    /// `staked − slashed − locked`.
    pub available_usdc: String,
    /// `bronze` (≥ 100), `silver` (≥ 1,000), `gold` (≥ 5,000), `platinum` (≥ 10,000), or null.
    pub tier: Option<String>,
}

/// `GET /api/v1/agents/{agent_uuid}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AgentDetailsResponse {
    /// The agent.
    #[serde(flatten)]
    pub agent: AgentResponse,
    /// Its stake.
    pub stake: StakeResponse,
    /// Its effective manifest now, if any.
    pub effective_manifest: Option<ManifestResponse>,
}

/// A manifest with its computed status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ManifestResponse {
    /// Store id.
    pub manifest_id: String,
    /// SHA-256 id of the canonical message.
    pub manifest_hash: String,
    /// The agent.
    pub agent_uuid: String,
    /// Chain.
    pub chain: String,
    /// Endpoint, as signed.
    pub endpoint_uri: String,
    /// Operational key.
    pub pubkey: String,
    /// Nonce.
    pub nonce: u64,
    /// RFC 3339.
    pub valid_from: String,
    /// RFC 3339.
    pub valid_until: String,
    /// The owner's signature.
    pub signature: String,
    /// `active`, `pending`, `superseded`, `expired` or `revoked`, computed now.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, when revoked.
    pub revoked_at: Option<String>,
}

/// A manifest replacement's score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FlipResponse {
    /// 0..=100; ≥ 70 is suspicious.
    pub suspicion_score: u8,
    /// The endpoint changed (+50).
    pub endpoint_changed: bool,
    /// The key changed (+30).
    pub pubkey_changed: bool,
    /// Seconds since the replaced manifest (+20 under 60).
    pub time_delta_seconds: i64,
}

/// `POST /api/v1/agents/manifests/publish`: 201 when created, 200 for an identical replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PublishManifestResponse {
    /// Store id.
    pub manifest_id: String,
    /// SHA-256 id.
    pub manifest_hash: String,
    /// Computed status now.
    pub status: String,
    /// RFC 3339.
    pub valid_from: String,
    /// RFC 3339.
    pub valid_until: String,
    /// The flip, when it replaced a manifest.
    pub flip: Option<FlipResponse>,
    /// Commitments disputed by this endpoint change.
    #[serde(default)]
    pub disputed_commitments: Vec<String>,
}

/// `POST /api/v1/agents/manifests/verify-forward`: always 200; `safe` says whether to pay.
///
/// When safe: `manifest_hash`, `manifest_nonce`, `endpoint_uri`, `pubkey`, `hop`,
/// `valid_until`, `verified_at`. When not: `reason` (a stable code), `message`, and the
/// reason's details in `details` (flattened into the object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct VerifyForwardResponse {
    /// Whether the forward is safe.
    pub safe: bool,
    /// Why not: `agent_not_found`, `agent_suspended`, `manifest_not_found`,
    /// `invalid_signature`, `manifest_not_effective`, `self_forward`, `hop_limit_exceeded`,
    /// `cycle_detected`, `would_create_cycle`, `extraction_loop_detected`,
    /// `next_hop_mismatch`, `insufficient_stake`, `already_settled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub reason: Option<ErrorCode>,
    /// A human sentence for `reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The verified manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_hash: Option<String>,
    /// Its nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_nonce: Option<u64>,
    /// Where to send the payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_uri: Option<String>,
    /// The key that will sign the receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubkey: Option<String>,
    /// The hop this forward would be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hop: Option<u32>,
    /// End of the manifest's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// When the check ran (RFC 3339).
    pub verified_at: String,
    /// Reason-specific details (e.g. `cycle_agents`, `cycle_depth`, `manifest_status`).
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: Map<String, Value>,
}

/// `POST /api/v1/agents/manifests/record-forward`: 201 recorded, 200 identical replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RecordForwardResponse {
    /// Store id.
    pub receipt_id: String,
    /// SHA-256 id of the receipt message.
    pub receipt_hash: String,
    /// When it was recorded (RFC 3339).
    pub timestamp: String,
    /// Beyond the rational hop depth.
    pub hop_irrational: bool,
    /// Forward cost at this hop.
    pub computational_cost_usdc: String,
    /// The id of the order the receipt acknowledges.
    pub order_hash: Option<String>,
    /// The amount of the order.
    pub amount_usdc: Option<String>,
}

/// One receipt of a forward trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ReceiptResponse {
    /// Store id.
    pub receipt_id: String,
    /// SHA-256 id.
    pub receipt_hash: String,
    /// Hop.
    pub hop: u32,
    /// Paying agent.
    pub source_agent_uuid: String,
    /// Receiving agent.
    pub dest_agent_uuid: String,
    /// The destination's manifest.
    pub manifest_hash: String,
    /// The destination's commitment, or null for a terminal hop.
    pub next_hop_hash: Option<String>,
    /// Receipt nonce.
    pub receipt_nonce: u64,
    /// Chain.
    pub chain: String,
    /// The destination's signature.
    pub signature: String,
    /// The id of the payer's order (receipt v2); null for a v1 receipt, which is readable
    /// evidence but never a hop of the settlement graph.
    pub order_hash: Option<String>,
    /// The order's nonce.
    pub order_nonce: Option<u64>,
    /// The payer's signature over the order.
    pub order_signature: Option<String>,
    /// The order's amount.
    pub amount_usdc: Option<String>,
    /// False once invalidated as evidence of a loop.
    pub is_valid: bool,
    /// RFC 3339.
    pub invalidated_at: Option<String>,
    /// `cycle_detected` or `extraction_loop_detected`.
    pub invalidation_reason: Option<String>,
    /// Beyond the rational hop depth.
    pub hop_irrational: bool,
    /// Forward cost at this hop.
    pub computational_cost_usdc: String,
    /// RFC 3339.
    pub created_at: String,
}

/// One slash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SlashResponse {
    /// The slashed agent.
    pub agent_uuid: String,
    /// Amount.
    pub amount_usdc: String,
    /// Why.
    pub reason: String,
}

/// A settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SettlementResponse {
    /// Store id.
    pub settlement_id: String,
    /// `cycle` or `extraction_loop`.
    pub kind: String,
    /// The loop's agents, in path order.
    pub cycle_agents: Vec<String>,
    /// Number of agents.
    pub cycle_depth: u32,
    /// The agents liable for the loop, who were slashed (PROTOCOL.md, "Liability").
    pub liable_agents: Vec<String>,
    /// Sum of slashes.
    pub total_slashed_usdc: String,
    /// The reporter, if reported.
    pub reporter_address: Option<String>,
    /// The reporter's bounty, paid out of the slashes.
    pub bounty_usdc: Option<String>,
    /// What the slashes left after the bounty: `total_slashed − bounty`.
    pub retained_usdc: String,
    /// `provisional` or `final`.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
    /// The slashes.
    pub slashes: Vec<SlashResponse>,
}

/// `GET /api/v1/forwards/{root_tx_hash}`: the audit trail of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ForwardTrailResponse {
    /// The root transaction.
    pub root_tx_hash: String,
    /// Every receipt, valid or not, by hop.
    pub receipts: Vec<ReceiptResponse>,
    /// The settlement, if any.
    pub settlement: Option<SettlementResponse>,
}

/// `POST /api/v1/agents/manifests/report-cycle`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ReportCycleResponse {
    /// Always true.
    pub reported: bool,
    /// The settlement.
    pub settlement_id: String,
    /// The reporter's bounty.
    pub bounty_usdc: String,
    /// The loop's agents.
    pub cycle_agents: Vec<String>,
    /// Their number.
    pub cycle_depth: u32,
    /// The agents liable for the loop, who were slashed.
    pub liable_agents: Vec<String>,
    /// Total slashed.
    pub slashed_usdc: String,
}

/// A time-locked commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CommitmentResponse {
    /// Store id.
    pub commitment_id: String,
    /// The id of the `Kagami commitment v1` message both agents signed.
    pub commitment_hash: String,
    /// Chain.
    pub chain: String,
    /// Root transaction.
    pub root_tx_hash: String,
    /// The root payer (null for a commitment made before protocol v2).
    pub payer_agent_uuid: Option<String>,
    /// First-hop agent.
    pub first_hop_agent_uuid: String,
    /// The committed routing.
    pub routing_hash: String,
    /// The first hop's manifest in force when the commitment was accepted: the routing it
    /// holds during the lock.
    pub first_hop_manifest_hash: Option<String>,
    /// The payer's signature.
    pub payer_signature: Option<String>,
    /// The first hop's signature.
    pub first_hop_signature: Option<String>,
    /// When disputed: the first hop's manifest that changed its routing during the lock.
    pub disputed_by_manifest_hash: Option<String>,
    /// Amount.
    pub amount_usdc: String,
    /// End of the time lock (RFC 3339).
    pub time_lock_until: String,
    /// `pending`, `confirmed`, `settled` or `disputed`.
    pub status: String,
    /// On-chain transaction, once confirmed.
    pub onchain_tx_hash: Option<String>,
}

/// `POST /api/v1/mev/incidents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MevIncidentResponse {
    /// Store id.
    pub incident_id: String,
    /// The attacker's slash.
    pub slashed_usdc: String,
    /// RFC 3339.
    pub reported_at: String,
    /// The attack transaction's hash (the incident's idempotency key).
    pub attack_tx_hash: String,
    /// The key that signed it: the attacker's owner or manifest key.
    pub attack_signer: String,
}

/// Totals of one attack type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MevSummaryRowResponse {
    /// Attack type.
    pub attack_type: String,
    /// Incidents.
    pub incidents: u64,
    /// Sum extracted.
    pub extracted_usdc: String,
    /// Sum slashed.
    pub slashed_usdc: String,
}

/// `GET /api/v1/mev/summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MevSummaryResponse {
    /// Per attack type.
    pub attack_types: Vec<MevSummaryRowResponse>,
    /// All incidents.
    pub total_incidents: u64,
    /// Sum extracted.
    pub total_extracted_usdc: String,
    /// Sum slashed.
    pub total_slashed_usdc: String,
}

/// `GET /api/v1/agents/manifests/{agent_uuid}/flip-metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FlipMetricsResponse {
    /// The agent.
    pub agent_uuid: String,
    /// All flips.
    pub total_flips: u64,
    /// Flips < 60 s after the previous manifest.
    pub rapid_flips_1min: u64,
    /// Endpoint changes.
    pub endpoint_changes: u64,
    /// Scores ≥ 70.
    pub high_suspicion_flips: u64,
    /// Mean score (not money).
    pub avg_suspicion_score: f64,
    /// RFC 3339.
    pub last_flip_at: Option<String>,
    /// When these figures were computed (RFC 3339).
    pub as_of: String,
}

/// One movement of slashed money: a slash from an agent, or what became of it — a bounty to
/// a reporter, or retained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LedgerEntryResponse {
    /// `slash`, `bounty` or `retained`.
    pub entry: String,
    /// `settlement`, `commitment` or `incident`.
    pub cause: String,
    /// The settlement, commitment or incident.
    pub cause_id: String,
    /// The slashed agent (slashes).
    pub agent_uuid: Option<String>,
    /// The reporter (bounties).
    pub reporter_address: Option<String>,
    /// Amount.
    pub amount_usdc: String,
    /// RFC 3339.
    pub created_at: String,
}

/// `GET /api/v1/ledger`: the totals of every money movement, whether they balance, and a
/// page of entries (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LedgerResponse {
    /// Everything slashed.
    pub total_slashed_usdc: String,
    /// Everything paid to reporters.
    pub total_bounties_usdc: String,
    /// Everything retained.
    pub total_retained_usdc: String,
    /// `total_slashed = total_bounties + total_retained`, and the same for every cause.
    pub balanced: bool,
    /// Causes whose own entries do not balance (empty when `balanced`).
    pub unbalanced_causes: Vec<String>,
    /// Entries, newest first.
    pub entries: Vec<LedgerEntryResponse>,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HealthResponse {
    /// `healthy`; `degraded` (still 200) when Redis is configured but unreachable, so rate
    /// limits are not enforced; `unhealthy` (503) when the database is unreachable.
    pub status: String,
    /// `connected` or `unreachable`.
    pub db: String,
    /// `connected`, `unreachable`, or `disabled` (no `REDIS_URL`).
    pub redis: String,
}

/// `GET /ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ReadyResponse {
    /// Ready for traffic.
    pub ready: bool,
    /// Connections in the pool.
    pub db_pool_size: usize,
    /// `connected`, `unreachable`, or `disabled` (no `REDIS_URL`). An unreachable Redis does
    /// not make the replica unready: rate limits fail open.
    pub redis_ping: String,
}

/// Every error: `{"error": code, "message": sentence, "field": name?, ...details}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorResponse {
    /// Stable snake_case code.
    #[cfg_attr(feature = "openapi", schema(value_type = super::schema::ErrorCodes))]
    pub error: ErrorCode,
    /// Human sentence.
    pub message: String,
    /// The offending request field, for validation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Code-specific details, flattened.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: Map<String, Value>,
}

// ---- the audit log ---------------------------------------------------------------------------

/// One integrated entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LogEntryResponse {
    /// Its index in the log.
    pub index: u64,
    /// What it records: `manifest`, `revocation`, `forward`, `settlement`, `slash`, `payout`,
    /// `commitment`, `commitment_status`, `mev_incident`.
    pub kind: String,
    /// The recorded object's key for its kind.
    pub key: String,
    /// The entry's bytes (standard base64): hash these, `SHA-256(0x00 || entry)`.
    pub entry: String,
    /// Its leaf hash (standard base64).
    pub leaf_hash: String,
}

/// `GET /api/v1/log/entries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LogEntriesResponse {
    /// The entries, in index order.
    pub entries: Vec<LogEntryResponse>,
}

/// `GET /api/v1/log/proof/inclusion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InclusionProofResponse {
    /// The entry's index.
    pub leaf_index: u64,
    /// The tree the proof is for.
    pub tree_size: u64,
    /// The proof (standard base64 hashes), leaf's sibling first (RFC 9162 §2.1.3).
    pub hashes: Vec<String>,
}

/// `GET /api/v1/log/proof/consistency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConsistencyProofResponse {
    /// The older tree's size.
    pub from: u64,
    /// The newer tree's size.
    pub to: u64,
    /// The proof (standard base64 hashes, RFC 9162 §2.1.4).
    pub hashes: Vec<String>,
}
