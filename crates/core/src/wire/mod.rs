//! Raw wire submissions and their checked counterparts ("parse, don't validate").
//!
//! The raw structs are exactly what clients send as JSON (unknown fields are rejected, so a
//! misspelt optional field is an error rather than silently ignored). Each has a `parse`
//! that checks every field against the protocol and the [`Policy`] and yields a typed
//! value that the rest of the code never re-checks.

mod api;
mod code;
pub mod integer;
pub mod page;
#[cfg(feature = "openapi")]
pub mod schema;

pub use api::*;
pub use code::ErrorCode;
use kagami_crypto::{
    Chain, EndpointManifest, ForwardOrder, ForwardReceipt, Hash32, Pubkey, Signable, Signature,
    Signed, Timestamp, Uuid, parse_uuid,
};
use serde::{Deserialize, Serialize};

use crate::{EndpointUri, Policy, ValidationError, check_nonce, manifest::check_window};

/// `POST /api/v1/agents/manifests/publish` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishManifestRequest {
    /// The agent's UUID.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Uuid))]
    pub agent_uuid: String,
    /// Absolute https URI (http for loopback).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::EndpointUri))]
    pub endpoint_uri: String,
    /// Address or secp256k1 public key.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Pubkey))]
    pub pubkey: String,
    /// Strictly increasing per agent, `0..=i64::MAX`.
    #[cfg_attr(feature = "openapi", schema(maximum = 9_223_372_036_854_775_807_i64))]
    #[serde(deserialize_with = "integer::u64")]
    pub nonce: u64,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Timestamp))]
    pub valid_from: String,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Timestamp))]
    pub valid_until: String,
    /// The owner's signature over the manifest message.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Signature))]
    pub signature: String,
    /// Chain name.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Chain))]
    pub chain: String,
}

/// A manifest whose every field is canonical and within policy, with a well-formed (not yet
/// verified) signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestSubmission {
    /// The signed fields.
    pub manifest: EndpointManifest,
    /// The endpoint, policy-checked.
    pub endpoint: EndpointUri,
    /// The signature to verify against the agent's owner.
    pub signature: Signature,
}

/// A manifest submission whose signer was recovered: ready for the store, which checks the
/// signer against the agent's owner inside its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedManifest {
    /// The signed fields, their id and signer.
    pub manifest: Signed<EndpointManifest>,
    /// The endpoint, policy-checked.
    pub endpoint: EndpointUri,
}

impl ManifestSubmission {
    /// Recovers the signer of the manifest message.
    ///
    /// # Errors
    /// [`kagami_crypto::Error::RecoveryFailed`] when no key corresponds to the signature.
    pub fn recover(self) -> Result<SignedManifest, kagami_crypto::Error> {
        Ok(SignedManifest {
            manifest: Signed::recover(self.manifest, self.signature)?,
            endpoint: self.endpoint,
        })
    }
}

impl ReceiptSubmission {
    /// Recovers the signer of the receipt message.
    ///
    /// # Errors
    /// [`kagami_crypto::Error::RecoveryFailed`] when no key corresponds to the signature.
    pub fn recover(self) -> Result<Signed<ForwardReceipt>, kagami_crypto::Error> {
        Signed::recover(self.receipt, self.signature)
    }
}

impl PublishManifestRequest {
    /// Checks every field.
    ///
    /// # Errors
    /// The first invalid field, in wire order.
    pub fn parse(&self, policy: &Policy) -> Result<ManifestSubmission, ValidationError> {
        let agent = parse_uuid(&self.agent_uuid).map_err(ValidationError::format("agent_uuid"))?;
        let endpoint = EndpointUri::parse(&self.endpoint_uri, policy)?;
        if self.pubkey.chars().count() > policy.max_pubkey_chars {
            return Err(ValidationError::TooLong {
                field: "pubkey",
                max: policy.max_pubkey_chars,
                len: self.pubkey.chars().count(),
            });
        }
        let pubkey: Pubkey = self
            .pubkey
            .parse()
            .map_err(ValidationError::format("pubkey"))?;
        let nonce = check_nonce("nonce", self.nonce)?;
        let valid_from: Timestamp = self
            .valid_from
            .parse()
            .map_err(ValidationError::format("valid_from"))?;
        let valid_until: Timestamp = self
            .valid_until
            .parse()
            .map_err(ValidationError::format("valid_until"))?;
        let signature: Signature = self
            .signature
            .parse()
            .map_err(ValidationError::format("signature"))?;
        let chain: Chain = self
            .chain
            .parse()
            .map_err(ValidationError::format("chain"))?;
        check_window(valid_from, valid_until, policy)?;
        let manifest = EndpointManifest {
            chain,
            agent,
            endpoint: endpoint.as_free_text().clone(),
            pubkey,
            nonce,
            valid_from,
            valid_until,
        };
        Ok(ManifestSubmission {
            manifest,
            endpoint,
            signature,
        })
    }
}

/// `POST /api/v1/agents/manifests/record-forward` body (also one item of a cycle report's
/// evidence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RecordForwardRequest {
    /// The root transaction.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Hash))]
    pub root_tx_hash: String,
    /// The paying agent.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Uuid))]
    pub source_agent_uuid: String,
    /// The receiving agent, who signed.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Uuid))]
    pub dest_agent_uuid: String,
    /// 0 for the first forward.
    #[cfg_attr(feature = "openapi", schema(maximum = 10))]
    #[serde(deserialize_with = "integer::u64")]
    pub hop: u64,
    /// The destination's manifest the source checked.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Hash))]
    pub manifest_hash: String,
    /// The id of the order this receipt acknowledges (receipt v2); absent for a v1 receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::wire::schema::Hash>))]
    pub order_hash: Option<String>,
    /// The destination's next-hop commitment; absent or null for a terminal hop.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::wire::schema::Hash>))]
    pub next_hop_hash: Option<String>,
    /// Unique per destination, `0..=i64::MAX`.
    #[cfg_attr(feature = "openapi", schema(maximum = 9_223_372_036_854_775_807_i64))]
    #[serde(deserialize_with = "integer::u64")]
    pub receipt_nonce: u64,
    /// The destination's signature over the receipt message.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Signature))]
    pub signature: String,
    /// Chain name.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Chain))]
    pub chain: String,
}

/// A receipt whose every field is canonical and within policy, with a well-formed (not yet
/// verified) signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptSubmission {
    /// The signed fields.
    pub receipt: ForwardReceipt,
    /// The destination's signature.
    pub signature: Signature,
}

impl RecordForwardRequest {
    /// The wire form of `receipt` signed with `signature`, every field canonical: what
    /// [`Self::parse`] turns back into the same receipt.
    pub fn of(receipt: &ForwardReceipt, signature: &Signature) -> Self {
        Self {
            root_tx_hash: receipt.root_tx.to_string(),
            source_agent_uuid: receipt.from.to_string(),
            dest_agent_uuid: receipt.to.to_string(),
            hop: u64::from(receipt.hop),
            manifest_hash: receipt.manifest.to_string(),
            order_hash: receipt.order.map(|h| h.to_string()),
            next_hop_hash: receipt.next_hop.map(|h| h.to_string()),
            receipt_nonce: receipt.nonce,
            signature: signature.to_string(),
            chain: receipt.chain.to_string(),
        }
    }

    /// Checks every field. A hop above `max_hop_depth` is a validation error.
    ///
    /// # Errors
    /// The first invalid field, in wire order.
    pub fn parse(&self, policy: &Policy) -> Result<ReceiptSubmission, ValidationError> {
        let root_tx: Hash32 = self
            .root_tx_hash
            .parse()
            .map_err(ValidationError::format("root_tx_hash"))?;
        let from = parse_uuid(&self.source_agent_uuid)
            .map_err(ValidationError::format("source_agent_uuid"))?;
        let to = parse_uuid(&self.dest_agent_uuid)
            .map_err(ValidationError::format("dest_agent_uuid"))?;
        let hop = parse_hop("hop", self.hop, policy)?;
        let manifest: Hash32 = self
            .manifest_hash
            .parse()
            .map_err(ValidationError::format("manifest_hash"))?;
        let next_hop = self
            .next_hop_hash
            .as_deref()
            .map(str::parse::<Hash32>)
            .transpose()
            .map_err(ValidationError::format("next_hop_hash"))?;
        let order = self
            .order_hash
            .as_deref()
            .map(str::parse::<Hash32>)
            .transpose()
            .map_err(ValidationError::format("order_hash"))?;
        let nonce = check_nonce("receipt_nonce", self.receipt_nonce)?;
        let signature: Signature = self
            .signature
            .parse()
            .map_err(ValidationError::format("signature"))?;
        let chain: Chain = self
            .chain
            .parse()
            .map_err(ValidationError::format("chain"))?;
        Ok(ReceiptSubmission {
            receipt: ForwardReceipt {
                chain,
                root_tx,
                hop,
                from,
                to,
                manifest,
                order,
                next_hop,
                nonce,
            },
            signature,
        })
    }
}

/// A hop number within the policy's depth.
fn parse_hop(field: &'static str, hop: u64, policy: &Policy) -> Result<u32, ValidationError> {
    u32::try_from(hop)
        .ok()
        .filter(|h| *h <= policy.max_hop_depth)
        .ok_or_else(|| ValidationError::OutOfRange {
            field,
            reason: format!(
                "hop {hop} exceeds the maximum hop depth {}",
                policy.max_hop_depth
            ),
        })
}

/// The paying agent's order of one hop, as sent (part of a record-forward body and of a
/// report-cycle evidence item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ForwardOrderRequest {
    /// Chain name.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Chain))]
    pub chain: String,
    /// The root transaction.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Hash))]
    pub root_tx_hash: String,
    /// 0 for the first forward.
    #[cfg_attr(feature = "openapi", schema(maximum = 10))]
    #[serde(deserialize_with = "integer::u64")]
    pub hop: u64,
    /// The paying agent, who signed.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Uuid))]
    pub source_agent_uuid: String,
    /// The receiving agent.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Uuid))]
    pub dest_agent_uuid: String,
    /// The destination's manifest the payer checked.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Hash))]
    pub manifest_hash: String,
    /// The amount paid, exactly as signed: decimal USDC with exactly six decimals, e.g.
    /// `"12.500000"` (`docs/PROTOCOL.md`, section 11.1).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Amount))]
    pub amount_usdc: String,
    /// Unique per paying agent, `0..=i64::MAX`.
    #[cfg_attr(feature = "openapi", schema(maximum = 9_223_372_036_854_775_807_i64))]
    #[serde(deserialize_with = "integer::u64")]
    pub order_nonce: u64,
    /// The payer's signature over the order message.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::wire::schema::Signature))]
    pub signature: String,
}

/// One hop of protocol v2: the payer's order and the destination's receipt of it.
/// `POST /api/v1/agents/manifests/record-forward` body and one report-cycle evidence item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ForwardPairRequest {
    /// The payer's order.
    pub order: ForwardOrderRequest,
    /// The destination's receipt v2 naming the order (`order_hash`).
    pub receipt: RecordForwardRequest,
}

/// An order and its receipt, every field canonical and the two agreeing field by field,
/// signatures well-formed (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairSubmission {
    /// The order's signed fields.
    pub order: ForwardOrder,
    /// The payer's signature.
    pub order_signature: Signature,
    /// The receipt's signed fields (`order` is the order's id).
    pub receipt: ForwardReceipt,
    /// The destination's signature.
    pub receipt_signature: Signature,
}

/// An order and its receipt with both signers recovered: ready for the store, which checks
/// each signer against the keys the agent had authorised when the pair arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPair {
    /// The payer's order.
    pub order: Signed<ForwardOrder>,
    /// The destination's receipt.
    pub receipt: Signed<ForwardReceipt>,
}

impl ForwardOrderRequest {
    /// The wire form of `order` signed with `signature`, every field canonical: what
    /// [`Self::parse`] turns back into the same order.
    pub fn of(order: &ForwardOrder, signature: &Signature) -> Self {
        Self {
            chain: order.chain.to_string(),
            root_tx_hash: order.root_tx.to_string(),
            hop: u64::from(order.hop),
            source_agent_uuid: order.from.to_string(),
            dest_agent_uuid: order.to.to_string(),
            manifest_hash: order.manifest.to_string(),
            amount_usdc: order.amount.to_string(),
            order_nonce: order.nonce,
            signature: signature.to_string(),
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// The first invalid field, in wire order (named `order.<field>`).
    pub fn parse(&self, policy: &Policy) -> Result<(ForwardOrder, Signature), ValidationError> {
        let chain: Chain = self
            .chain
            .parse()
            .map_err(ValidationError::format("order.chain"))?;
        let root_tx: Hash32 = self
            .root_tx_hash
            .parse()
            .map_err(ValidationError::format("order.root_tx_hash"))?;
        let hop = parse_hop("order.hop", self.hop, policy)?;
        let from = parse_uuid(&self.source_agent_uuid)
            .map_err(ValidationError::format("order.source_agent_uuid"))?;
        let to = parse_uuid(&self.dest_agent_uuid)
            .map_err(ValidationError::format("order.dest_agent_uuid"))?;
        let manifest: Hash32 = self
            .manifest_hash
            .parse()
            .map_err(ValidationError::format("order.manifest_hash"))?;
        // Signed, so canonical: exactly six decimals (`kagami_crypto::Amount`).
        let amount: kagami_crypto::Amount = self
            .amount_usdc
            .parse()
            .map_err(ValidationError::format("order.amount_usdc"))?;
        let nonce = check_nonce("order.order_nonce", self.order_nonce)?;
        let signature: Signature = self
            .signature
            .parse()
            .map_err(ValidationError::format("order.signature"))?;
        let order = ForwardOrder {
            chain,
            root_tx,
            hop,
            from,
            to,
            manifest,
            amount,
            nonce,
        };
        Ok((order, signature))
    }
}

impl ForwardPairRequest {
    /// Checks every field of both parts, then that the receipt acknowledges exactly this
    /// order: the same chain, root, hop, payer, destination and manifest, and `order_hash`
    /// equal to the order's id.
    ///
    /// # Errors
    /// The first invalid field ([`ValidationError`]), or [`ValidationError::OrderMismatch`]
    /// naming the first receipt field that disagrees.
    pub fn parse(&self, policy: &Policy) -> Result<PairSubmission, ValidationError> {
        let (order, order_signature) = self.order.parse(policy)?;
        let receipt = self
            .receipt
            .parse(policy)
            .map_err(|e| e.within("receipt"))?;
        let r = &receipt.receipt;
        let mismatch = |field: &'static str| ValidationError::OrderMismatch { field };
        let Some(order_id) = r.order else {
            return Err(ValidationError::OrderMismatch {
                field: "receipt.order_hash",
            });
        };
        if r.chain != order.chain {
            return Err(mismatch("receipt.chain"));
        }
        if r.root_tx != order.root_tx {
            return Err(mismatch("receipt.root_tx_hash"));
        }
        if r.hop != order.hop {
            return Err(mismatch("receipt.hop"));
        }
        if r.from != order.from {
            return Err(mismatch("receipt.source_agent_uuid"));
        }
        if r.to != order.to {
            return Err(mismatch("receipt.dest_agent_uuid"));
        }
        if r.manifest != order.manifest {
            return Err(mismatch("receipt.manifest_hash"));
        }
        if order_id != order.id() {
            return Err(mismatch("receipt.order_hash"));
        }
        Ok(PairSubmission {
            order,
            order_signature,
            receipt: receipt.receipt,
            receipt_signature: receipt.signature,
        })
    }
}

impl PairSubmission {
    /// Recovers both signers.
    ///
    /// # Errors
    /// [`kagami_crypto::Error::RecoveryFailed`] when no key corresponds to a signature.
    pub fn recover(self) -> Result<SignedPair, kagami_crypto::Error> {
        Ok(SignedPair {
            order: Signed::recover(self.order, self.order_signature)?,
            receipt: Signed::recover(self.receipt, self.receipt_signature)?,
        })
    }
}

/// A watcher's cycle report, checked field by field, with the evidence receipts' signers
/// recovered; the reporter's signature is checked by the store, once it knows the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleReportSubmission {
    /// The root transaction whose forwards form a loop.
    pub root: Hash32,
    /// Credited with the bounty; must be the report's signer.
    pub reporter: kagami_crypto::EthAddress,
    /// The reporter's signature over the cycle report message.
    pub signature: Signature,
    /// The chain named in the report; when absent, the evidence's or the recorded receipts'.
    pub chain: Option<Chain>,
    /// Signed hops (order and receipt) not recorded yet.
    pub evidence: Vec<SignedPair>,
}

/// A commitment whose fields are canonical, with both signatures well-formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentSubmission {
    /// The signed fields.
    pub commitment: kagami_crypto::Commitment,
    /// The root payer's signature.
    pub payer_signature: Signature,
    /// The first-hop agent's signature.
    pub first_hop_signature: Signature,
}

/// A commitment with both signers recovered, for the store to check against the agents'
/// keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignedCommitment {
    /// Signed by the root payer.
    pub payer: Signed<kagami_crypto::Commitment>,
    /// The same message, signed by the first hop.
    pub first_hop: Signed<kagami_crypto::Commitment>,
}

impl CosignedCommitment {
    /// The signed fields.
    pub const fn commitment(&self) -> &kagami_crypto::Commitment {
        self.payer.value()
    }
}

impl crate::wire::CommitmentRequest {
    /// Checks every field: the amount at least the policy's high-value threshold.
    ///
    /// # Errors
    /// The first invalid field, in wire order.
    pub fn parse(&self, policy: &Policy) -> Result<CommitmentSubmission, ValidationError> {
        let chain: Chain = self
            .chain
            .parse()
            .map_err(ValidationError::format("chain"))?;
        let root_tx: Hash32 = self
            .root_tx_hash
            .parse()
            .map_err(ValidationError::format("root_tx_hash"))?;
        let payer = parse_uuid_field("payer_agent_uuid", &self.payer_agent_uuid)?;
        let first_hop = parse_uuid_field("first_hop_agent_uuid", &self.first_hop_agent_uuid)?;
        let routing: Hash32 = self
            .routing_hash
            .parse()
            .map_err(ValidationError::format("routing_hash"))?;
        // Signed, so canonical: exactly six decimals (`kagami_crypto::Amount`).
        let amount: kagami_crypto::Amount = self
            .amount_usdc
            .parse()
            .map_err(ValidationError::format("amount_usdc"))?;
        if crate::Usdc::from(amount) < policy.high_value_threshold {
            return Err(ValidationError::OutOfRange {
                field: "amount_usdc",
                reason: format!(
                    "commitments are for flows of at least {} USDC",
                    policy.high_value_threshold
                ),
            });
        }
        let lock_until: Timestamp = self
            .lock_until
            .parse()
            .map_err(ValidationError::format("lock_until"))?;
        let payer_signature: Signature = self
            .payer_signature
            .parse()
            .map_err(ValidationError::format("payer_signature"))?;
        let first_hop_signature: Signature = self
            .first_hop_signature
            .parse()
            .map_err(ValidationError::format("first_hop_signature"))?;
        Ok(CommitmentSubmission {
            commitment: kagami_crypto::Commitment {
                chain,
                root_tx,
                payer,
                first_hop,
                routing,
                amount,
                lock_until,
            },
            payer_signature,
            first_hop_signature,
        })
    }
}

impl CommitmentSubmission {
    /// Recovers both signers.
    ///
    /// # Errors
    /// [`kagami_crypto::Error::RecoveryFailed`] when no key corresponds to a signature.
    pub fn recover(self) -> Result<CosignedCommitment, kagami_crypto::Error> {
        Ok(CosignedCommitment {
            payer: Signed::recover(self.commitment.clone(), self.payer_signature)?,
            first_hop: Signed::recover(self.commitment, self.first_hop_signature)?,
        })
    }
}

/// Parses a UUID path or body field.
///
/// # Errors
/// [`ValidationError::Format`] naming `field`.
pub fn parse_uuid_field(field: &'static str, raw: &str) -> Result<Uuid, ValidationError> {
    parse_uuid(raw).map_err(ValidationError::format(field))
}

#[cfg(test)]
mod tests {
    use kagami_crypto::{PrivateKeySigner, Signable};

    use super::*;

    fn publish() -> PublishManifestRequest {
        PublishManifestRequest {
            agent_uuid: "0B6F2A1C-3D4E-4F50-8A9B-0C1D2E3F4A5B".into(),
            endpoint_uri: "https://agent.example/x402".into(),
            pubkey: "0x52908400098527886E0F7030069857D2E4169EE7".into(),
            nonce: 1,
            valid_from: "2026-01-16T01:00:00+01:00".into(),
            valid_until: "2026-01-17T00:00:00Z".into(),
            signature: format!("0x{}1b", "11".repeat(64)),
            chain: "base".into(),
        }
    }

    #[test]
    fn publish_request_canonicalises_every_field() {
        let parsed = publish().parse(&Policy::default()).unwrap();
        let text = parsed.manifest.message();
        assert_eq!(
            text.as_str(),
            "Kagami endpoint manifest v1\nchain: base\nagent: 0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b\n\
             endpoint: https://agent.example/x402\npubkey: 0x52908400098527886e0f7030069857d2e4169ee7\n\
             nonce: 1\nvalid-from: 2026-01-16T00:00:00Z\nvalid-until: 2026-01-17T00:00:00Z"
        );
    }

    type Mutation = fn(&mut PublishManifestRequest);

    #[test]
    fn publish_request_errors_name_the_field() {
        let cases: Vec<(Mutation, &str)> = vec![
            (|r| r.agent_uuid = "nope".into(), "agent_uuid"),
            (
                |r| r.endpoint_uri = "http://agent.example".into(),
                "endpoint_uri",
            ),
            (|r| r.pubkey = "0x1234".into(), "pubkey"),
            (|r| r.pubkey = "x".repeat(513), "pubkey"),
            (|r| r.nonce = u64::MAX, "nonce"),
            (|r| r.valid_from = "yesterday".into(), "valid_from"),
            (
                |r| r.valid_until = "2026-01-17T00:00:00.5Z".into(),
                "valid_until",
            ),
            (
                |r| r.valid_until = "2026-01-17T00:00:01Z".into(),
                "valid_until",
            ),
            (|r| r.signature = "0x12".into(), "signature"),
            (|r| r.chain = "Base".into(), "chain"),
        ];
        for (mutate, field) in cases {
            let mut request = publish();
            mutate(&mut request);
            assert_eq!(
                request.parse(&Policy::default()).unwrap_err().field(),
                field
            );
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let mut json = serde_json::to_value(publish()).unwrap();
        json["next_hop_hsh"] = "0x".into();
        assert!(serde_json::from_value::<PublishManifestRequest>(json).is_err());
    }

    #[test]
    fn receipt_request_round_trips_to_the_signed_message() {
        let key = PrivateKeySigner::random();
        let receipt = ForwardReceipt {
            chain: "base".parse().unwrap(),
            root_tx: Hash32::from([1; 32]),
            hop: 2,
            from: Uuid::from_u128(1),
            to: Uuid::from_u128(2),
            manifest: Hash32::from([2; 32]),
            order: None,
            next_hop: None,
            nonce: 9,
        };
        let signature = receipt.message().sign(&key).unwrap();
        let request = RecordForwardRequest {
            root_tx_hash: receipt.root_tx.to_string(),
            source_agent_uuid: receipt.from.to_string(),
            dest_agent_uuid: receipt.to.to_string(),
            hop: 2,
            manifest_hash: receipt.manifest.to_string(),
            order_hash: None,
            next_hop_hash: None,
            receipt_nonce: 9,
            signature: signature.to_string(),
            chain: "base".into(),
        };
        let parsed = request.parse(&Policy::default()).unwrap();
        assert_eq!(parsed.receipt, receipt);
        parsed
            .receipt
            .message()
            .verify(&parsed.signature, &key.address().into())
            .unwrap();
        let too_deep = RecordForwardRequest { hop: 11, ..request };
        assert_eq!(
            too_deep.parse(&Policy::default()).unwrap_err().field(),
            "hop"
        );
    }
}
