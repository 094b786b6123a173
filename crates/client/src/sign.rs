//! Builds and signs protocol objects with a local key, producing the exact request bodies of
//! the API.
//!
//! Setters take anything that displays as the field's text (`&str`, `String`, `Uuid`,
//! `Hash32`, ...); every field is parsed into its canonical protocol form when the object is
//! built, and a bad value is an [`Error::InvalidInput`] naming the request field. The
//! signature is always made over the canonical message rebuilt from the parsed fields
//! (`docs/PROTOCOL.md`), so the body sent is exactly what was signed.

use std::{
    fmt::Display,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use kagami_core::{
    EndpointUri, Policy, check_nonce,
    wire::{
        ManifestResponse, PublishManifestRequest, RecordForwardRequest, ReportCycleRequest,
        RevokeManifestRequest, VerifyForwardRequest,
    },
};
use kagami_crypto::{
    CanonicalMessage, Chain, CycleReport, EndpointManifest, EthAddress, ForwardReceipt, Hash32,
    ManifestRevocation, NextHop, PrivateKeySigner, Pubkey, Signable, Signature, Timestamp, Uuid,
    parse_uuid,
};

use crate::{Error, Result};

/// The highest hop the protocol allows (hops are `0..=10`).
pub const MAX_HOP: u32 = 10;

/// Builds an endpoint manifest and signs it with the agent owner's key into a
/// [`PublishManifestRequest`] (the body of `POST /api/v1/agents/manifests/publish`).
///
/// Required: [`agent`](Self::agent), [`chain`](Self::chain), [`endpoint`](Self::endpoint),
/// [`pubkey`](Self::pubkey) (or [`pubkey_of`](Self::pubkey_of)), [`nonce`](Self::nonce), and a
/// window: [`valid_until`](Self::valid_until) or [`valid_for`](Self::valid_for), starting at
/// [`valid_from`](Self::valid_from) or, when that is not set, at the current second.
#[derive(Debug, Clone, Default)]
pub struct ManifestBuilder {
    agent: Option<String>,
    chain: Option<String>,
    endpoint: Option<String>,
    pubkey: Option<String>,
    nonce: Option<u64>,
    valid_from: Option<String>,
    valid_until: Option<String>,
    valid_for: Option<Duration>,
}

impl ManifestBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The agent's Kagami UUID.
    #[must_use]
    pub fn agent(mut self, agent_uuid: impl Display) -> Self {
        self.agent = Some(agent_uuid.to_string());
        self
    }

    /// The chain the agent is registered on, e.g. `base`.
    #[must_use]
    pub fn chain(mut self, chain: impl Display) -> Self {
        self.chain = Some(chain.to_string());
        self
    }

    /// Where the agent receives forwards: an absolute `https` URL (`http` only to a loopback
    /// host). Signed verbatim.
    #[must_use]
    pub fn endpoint(mut self, endpoint_uri: impl Display) -> Self {
        self.endpoint = Some(endpoint_uri.to_string());
        self
    }

    /// The operational key that will sign the agent's receipts: an address or a secp256k1
    /// public key.
    #[must_use]
    pub fn pubkey(mut self, pubkey: impl Display) -> Self {
        self.pubkey = Some(pubkey.to_string());
        self
    }

    /// Declares `key`'s address as the operational key.
    #[must_use]
    pub fn pubkey_of(self, key: &PrivateKeySigner) -> Self {
        self.pubkey(EthAddress::from(key.address()))
    }

    /// The manifest nonce: strictly increasing per agent (see
    /// [`crate::KagamiClient::next_manifest_nonce`]).
    #[must_use]
    pub const fn nonce(mut self, nonce: u64) -> Self {
        self.nonce = Some(nonce);
        self
    }

    /// The first second the manifest is in force (RFC 3339; any UTC offset). Defaults to the
    /// current second.
    #[must_use]
    pub fn valid_from(mut self, valid_from: impl Display) -> Self {
        self.valid_from = Some(valid_from.to_string());
        self
    }

    /// The first second the manifest is no longer in force (RFC 3339).
    #[must_use]
    pub fn valid_until(mut self, valid_until: impl Display) -> Self {
        self.valid_until = Some(valid_until.to_string());
        self
    }

    /// The window's length from `valid_from` (or now), in whole seconds; an alternative to
    /// [`Self::valid_until`]. The service caps windows (24 h by default).
    #[must_use]
    pub const fn valid_for(mut self, duration: Duration) -> Self {
        self.valid_for = Some(duration);
        self
    }

    /// The typed manifest, every field in canonical form. A missing `valid_from` is the
    /// current second, so two calls may differ then.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first missing or invalid field (by its wire name),
    /// an endpoint outside the service's URL policy, or a window that does not end after it
    /// starts.
    pub fn manifest(&self) -> Result<EndpointManifest> {
        let agent = parse_uuid(required("agent_uuid", self.agent.as_deref())?)
            .map_err(|e| Error::invalid("agent_uuid", e))?;
        let chain = parse_chain(self.chain.as_deref())?;
        let endpoint = EndpointUri::parse(
            required("endpoint_uri", self.endpoint.as_deref())?,
            &Policy::default(),
        )
        .map_err(|e| Error::invalid("endpoint_uri", e))?;
        let pubkey: Pubkey = required("pubkey", self.pubkey.as_deref())?
            .parse()
            .map_err(|e| Error::invalid("pubkey", e))?;
        let nonce = check_nonce("nonce", required("nonce", self.nonce)?)
            .map_err(|e| Error::invalid("nonce", e))?;
        let valid_from = match &self.valid_from {
            Some(text) => parse_timestamp("valid_from", text)?,
            None => now()?,
        };
        let valid_until = match (&self.valid_until, self.valid_for) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "valid_until",
                    "set valid_until or valid_for, not both",
                ));
            }
            (Some(text), None) => parse_timestamp("valid_until", text)?,
            (None, Some(duration)) => {
                let seconds = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
                valid_from.add_seconds(seconds)
            }
            (None, None) => {
                return Err(Error::invalid(
                    "valid_until",
                    "missing: set valid_until or valid_for",
                ));
            }
        };
        if valid_until <= valid_from {
            return Err(Error::invalid(
                "valid_until",
                format!("{valid_until} is not after valid_from {valid_from}"),
            ));
        }
        Ok(EndpointManifest {
            chain,
            agent,
            endpoint: endpoint.as_free_text().clone(),
            pubkey,
            nonce,
            valid_from,
            valid_until,
        })
    }

    /// Builds the manifest and signs its canonical message with the owner's key (EIP-191
    /// `personal_sign` over the message bytes, see [`CanonicalMessage::sign`]).
    ///
    /// # Errors
    /// See [`Self::manifest`].
    pub fn sign(&self, owner: &PrivateKeySigner) -> Result<PublishManifestRequest> {
        publish_request(&self.manifest()?, owner)
    }
}

/// Signs `manifest` with the owner's key into the publish body.
///
/// # Errors
/// [`Error::InvalidInput`] when the signer fails (a local key does not).
pub fn publish_request(
    manifest: &EndpointManifest,
    owner: &PrivateKeySigner,
) -> Result<PublishManifestRequest> {
    let signature = sign(&manifest.message(), owner)?;
    Ok(PublishManifestRequest {
        agent_uuid: manifest.agent.to_string(),
        endpoint_uri: manifest.endpoint.to_string(),
        pubkey: manifest.pubkey.to_string(),
        nonce: manifest.nonce,
        valid_from: manifest.valid_from.to_string(),
        valid_until: manifest.valid_until.to_string(),
        signature: signature.to_string(),
        chain: manifest.chain.to_string(),
    })
}

/// Where the receiving agent commits to forward the payment next.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NextChoice {
    Agent(String),
    Hash(String),
    Terminal,
}

/// Builds a forward receipt and signs it with the destination agent's key (its manifest's
/// operational key, or its owner) into a [`RecordForwardRequest`] (the body of
/// `POST /api/v1/agents/manifests/record-forward`, also one item of a cycle report's
/// evidence).
///
/// Required: [`chain`](Self::chain), [`root_tx`](Self::root_tx), [`hop`](Self::hop),
/// [`from`](Self::from), [`to`](Self::to), [`manifest`](Self::manifest),
/// [`nonce`](Self::nonce), and the next-hop commitment — exactly one of
/// [`next_agent`](Self::next_agent) (the commitment is computed for you),
/// [`next_hop_hash`](Self::next_hop_hash) or [`terminal`](Self::terminal). There is no
/// default: committing to `none` by accident would make any later forward provable fraud.
#[derive(Debug, Clone, Default)]
pub struct ReceiptBuilder {
    chain: Option<String>,
    root_tx: Option<String>,
    hop: Option<u32>,
    from: Option<String>,
    to: Option<String>,
    manifest: Option<String>,
    next: Option<NextChoice>,
    nonce: Option<u64>,
}

impl ReceiptBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The chain of the payment.
    #[must_use]
    pub fn chain(mut self, chain: impl Display) -> Self {
        self.chain = Some(chain.to_string());
        self
    }

    /// The root transaction the payment started with (`0x` + 64 hex).
    #[must_use]
    pub fn root_tx(mut self, root_tx_hash: impl Display) -> Self {
        self.root_tx = Some(root_tx_hash.to_string());
        self
    }

    /// The hop: 0 for the first forward after the root payment, at most [`MAX_HOP`].
    #[must_use]
    pub const fn hop(mut self, hop: u32) -> Self {
        self.hop = Some(hop);
        self
    }

    /// The paying agent.
    #[must_use]
    pub fn from(mut self, source_agent_uuid: impl Display) -> Self {
        self.from = Some(source_agent_uuid.to_string());
        self
    }

    /// The receiving agent, who signs.
    #[must_use]
    pub fn to(mut self, dest_agent_uuid: impl Display) -> Self {
        self.to = Some(dest_agent_uuid.to_string());
        self
    }

    /// The id of the receiving agent's manifest that the payer checked.
    #[must_use]
    pub fn manifest(mut self, manifest_hash: impl Display) -> Self {
        self.manifest = Some(manifest_hash.to_string());
        self
    }

    /// Commits to forwarding the payment to `next_agent_uuid`; the commitment
    /// `NextHop { root_tx, to: next_agent }.id()` is computed when the receipt is built.
    #[must_use]
    pub fn next_agent(mut self, next_agent_uuid: impl Display) -> Self {
        self.next = Some(NextChoice::Agent(next_agent_uuid.to_string()));
        self
    }

    /// Commits with a next-hop id computed elsewhere.
    #[must_use]
    pub fn next_hop_hash(mut self, next_hop_hash: impl Display) -> Self {
        self.next = Some(NextChoice::Hash(next_hop_hash.to_string()));
        self
    }

    /// Commits to not forwarding this payment at all (`next-hop: none`).
    #[must_use]
    pub fn terminal(mut self) -> Self {
        self.next = Some(NextChoice::Terminal);
        self
    }

    /// The receipt nonce, unique per receiving agent.
    #[must_use]
    pub const fn nonce(mut self, receipt_nonce: u64) -> Self {
        self.nonce = Some(receipt_nonce);
        self
    }

    /// The typed receipt, every field in canonical form.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first missing or invalid field by its wire name.
    pub fn receipt(&self) -> Result<ForwardReceipt> {
        let chain = parse_chain(self.chain.as_deref())?;
        let root_tx = parse_hash(
            "root_tx_hash",
            required("root_tx_hash", self.root_tx.as_deref())?,
        )?;
        let hop = required("hop", self.hop)?;
        if hop > MAX_HOP {
            return Err(Error::invalid(
                "hop",
                format!("{hop} exceeds the maximum hop {MAX_HOP}"),
            ));
        }
        let from = parse_uuid(required("source_agent_uuid", self.from.as_deref())?)
            .map_err(|e| Error::invalid("source_agent_uuid", e))?;
        let to = parse_uuid(required("dest_agent_uuid", self.to.as_deref())?)
            .map_err(|e| Error::invalid("dest_agent_uuid", e))?;
        let manifest = parse_hash(
            "manifest_hash",
            required("manifest_hash", self.manifest.as_deref())?,
        )?;
        let next_hop = match required("next_hop_hash", self.next.as_ref()).map_err(|_| {
            Error::invalid(
                "next_hop_hash",
                "missing: choose next_agent, next_hop_hash or terminal",
            )
        })? {
            NextChoice::Agent(agent) => {
                let next = parse_uuid(agent).map_err(|e| Error::invalid("next_agent", e))?;
                Some(next_hop_hash(root_tx, next))
            }
            NextChoice::Hash(hash) => Some(parse_hash("next_hop_hash", hash)?),
            NextChoice::Terminal => None,
        };
        let nonce = check_nonce("receipt_nonce", required("receipt_nonce", self.nonce)?)
            .map_err(|e| Error::invalid("receipt_nonce", e))?;
        Ok(ForwardReceipt {
            chain,
            root_tx,
            hop,
            from,
            to,
            manifest,
            order: None,
            next_hop,
            nonce,
        })
    }

    /// Builds the receipt and signs its canonical message with the destination's key
    /// (EIP-191 `personal_sign` over the message bytes).
    ///
    /// # Errors
    /// See [`Self::receipt`].
    pub fn sign(&self, destination: &PrivateKeySigner) -> Result<RecordForwardRequest> {
        record_request(&self.receipt()?, destination)
    }
}

/// Signs `receipt` with the destination's key into the record-forward body.
///
/// # Errors
/// [`Error::InvalidInput`] when the signer fails (a local key does not).
pub fn record_request(
    receipt: &ForwardReceipt,
    destination: &PrivateKeySigner,
) -> Result<RecordForwardRequest> {
    let signature = sign(&receipt.message(), destination)?;
    Ok(RecordForwardRequest {
        root_tx_hash: receipt.root_tx.to_string(),
        source_agent_uuid: receipt.from.to_string(),
        dest_agent_uuid: receipt.to.to_string(),
        hop: u64::from(receipt.hop),
        manifest_hash: receipt.manifest.to_string(),
        next_hop_hash: receipt.next_hop.map(|h| h.to_string()),
        receipt_nonce: receipt.nonce,
        signature: signature.to_string(),
        chain: receipt.chain.to_string(),
    })
}

/// The next-hop commitment a receiving agent puts in its receipt when it will forward the
/// payment of `root_tx` to `next_agent`: the id (SHA-256) of the `Kagami next hop v1`
/// message.
pub fn next_hop_hash(root_tx: Hash32, next_agent: Uuid) -> Hash32 {
    NextHop {
        root_tx,
        to: next_agent,
    }
    .id()
}

/// Signs a cycle report for the payment `root_tx_hash` with the reporter's key into a
/// [`ReportCycleRequest`]: the reporter's address (the bounty's beneficiary) is the key's
/// address and the signed message binds chain, root and reporter, so a copied report cannot
/// redirect the bounty. `evidence` holds the destination-signed receipts the service has not
/// recorded (see [`ReceiptBuilder`]).
///
/// # Errors
/// [`Error::InvalidInput`] for an invalid chain or root hash.
pub fn sign_cycle_report(
    chain: impl Display,
    root_tx_hash: impl Display,
    evidence: Vec<RecordForwardRequest>,
    reporter: &PrivateKeySigner,
) -> Result<ReportCycleRequest> {
    let report = CycleReport {
        chain: parse_chain(Some(&chain.to_string()))?,
        root_tx: parse_hash("root_tx_hash", &root_tx_hash.to_string())?,
        reporter: EthAddress::from(reporter.address()),
    };
    let signature = sign(&report.message(), reporter)?;
    Ok(ReportCycleRequest {
        root_tx_hash: report.root_tx.to_string(),
        reporter_address: report.reporter.to_string(),
        signature: signature.to_string(),
        chain: Some(report.chain.to_string()),
        evidence,
    })
}

/// Signs the revocation of `manifest_hash` with the agent owner's key into a
/// [`RevokeManifestRequest`]. `chain` is the agent's chain (it is signed, though the body
/// does not carry it: the service takes it from the agent).
///
/// # Errors
/// [`Error::InvalidInput`] for an invalid chain, agent UUID or manifest hash.
pub fn sign_revocation(
    chain: impl Display,
    agent_uuid: impl Display,
    manifest_hash: impl Display,
    owner: &PrivateKeySigner,
) -> Result<RevokeManifestRequest> {
    let revocation = ManifestRevocation {
        chain: parse_chain(Some(&chain.to_string()))?,
        agent: parse_uuid(&agent_uuid.to_string()).map_err(|e| Error::invalid("agent_uuid", e))?,
        manifest: parse_hash("manifest_hash", &manifest_hash.to_string())?,
    };
    let signature = sign(&revocation.message(), owner)?;
    Ok(RevokeManifestRequest {
        agent_uuid: revocation.agent.to_string(),
        manifest_hash: revocation.manifest.to_string(),
        signature: signature.to_string(),
    })
}

/// The verify-forward body for paying the agent whose manifest is `manifest` (as returned by
/// [`crate::KagamiClient::agent`] or [`crate::KagamiClient::manifest`]) from
/// `source_agent_uuid`, within the payment `root_tx_hash`. Nothing is signed: the check
/// carries the destination's manifest signature.
///
/// # Errors
/// [`Error::InvalidInput`] for an invalid root hash or source UUID.
pub fn verify_forward_request(
    root_tx_hash: impl Display,
    source_agent_uuid: impl Display,
    manifest: &ManifestResponse,
) -> Result<VerifyForwardRequest> {
    let root_tx = parse_hash("root_tx_hash", &root_tx_hash.to_string())?;
    let source = parse_uuid(&source_agent_uuid.to_string())
        .map_err(|e| Error::invalid("source_agent_uuid", e))?;
    Ok(VerifyForwardRequest {
        root_tx_hash: root_tx.to_string(),
        source_agent_uuid: source.to_string(),
        dest_agent_uuid: manifest.agent_uuid.clone(),
        manifest_hash: manifest.manifest_hash.clone(),
        manifest_nonce: manifest.nonce,
        manifest_signature: manifest.signature.clone(),
    })
}

fn sign(message: &CanonicalMessage, key: &PrivateKeySigner) -> Result<Signature> {
    message
        .sign(key)
        .map_err(|e| Error::invalid("signature", e))
}

fn required<T>(field: &str, value: Option<T>) -> Result<T> {
    value.ok_or_else(|| Error::invalid(field, "missing"))
}

fn parse_chain(chain: Option<&str>) -> Result<Chain> {
    required("chain", chain)?
        .parse()
        .map_err(|e| Error::invalid("chain", e))
}

fn parse_hash(field: &str, text: &str) -> Result<Hash32> {
    text.parse().map_err(|e| Error::invalid(field, e))
}

fn parse_timestamp(field: &str, text: &str) -> Result<Timestamp> {
    text.parse().map_err(|e| Error::invalid(field, e))
}

/// The current second.
fn now() -> Result<Timestamp> {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::invalid("valid_from", "the system clock is before 1970"))?
        .as_secs();
    Timestamp::from_unix(i64::try_from(seconds).unwrap_or(i64::MAX))
        .map_err(|e| Error::invalid("valid_from", e))
}

#[cfg(test)]
mod tests {
    use kagami_crypto::EthAddress;

    use super::*;

    const AGENT: &str = "0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b";
    const PAYER: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    const NEXT: &str = "f47ac10b-58cc-4372-a567-0e02b2c3d479";
    const ROOT: &str = "0x9F2C4A8E1B7D3F6A0C5E9B2D8F4A7C1E3B6D9F0A2C5E8B1D4F7A0C3E6B9D2F5A";
    const MANIFEST: &str = "0xb6fdaabee6c503eef2b75b5759d7e5415b6475a2cffb90dcaed4572c39921ecf";

    fn manifest() -> ManifestBuilder {
        ManifestBuilder::new()
            .agent(AGENT.to_uppercase())
            .chain("base")
            .endpoint("https://agent.example/x402")
            .pubkey("0x52908400098527886E0F7030069857D2E4169EE7")
            .nonce(7)
            .valid_from("2026-01-16T01:00:00+01:00")
            .valid_until("2026-01-17T00:00:00Z")
    }

    fn receipt() -> ReceiptBuilder {
        ReceiptBuilder::new()
            .chain("base")
            .root_tx(ROOT)
            .hop(1)
            .from(PAYER)
            .to(AGENT)
            .manifest(MANIFEST)
            .nonce(42)
    }

    fn field(error: Error) -> String {
        match error {
            Error::InvalidInput { field, .. } => field,
            other => panic!("not invalid input: {other:?}"),
        }
    }

    #[test]
    fn a_signed_manifest_is_a_canonical_body_that_core_parses_and_the_owner_signed() {
        let owner = PrivateKeySigner::random();
        let request = manifest().sign(&owner).unwrap();
        assert_eq!(request.agent_uuid, AGENT);
        assert_eq!(request.pubkey, "0x52908400098527886e0f7030069857d2e4169ee7");
        assert_eq!(request.valid_from, "2026-01-16T00:00:00Z");
        let parsed = request.parse(&Policy::default()).unwrap();
        assert_eq!(parsed.manifest, manifest().manifest().unwrap());
        parsed
            .manifest
            .message()
            .verify(&parsed.signature, &owner.address().into())
            .unwrap();
        // Deterministic (RFC 6979): signing again yields the same body.
        assert_eq!(manifest().sign(&owner).unwrap(), request);
    }

    #[test]
    fn valid_for_counts_from_valid_from_or_from_now() {
        let day = Duration::from_secs(86_400);
        let m = ManifestBuilder::new()
            .agent(AGENT)
            .chain("base")
            .endpoint("https://agent.example/x402")
            .nonce(1)
            .valid_from("2026-01-16T00:00:00Z")
            .valid_for(day);
        let key = PrivateKeySigner::random();
        let request = m.clone().pubkey_of(&key).sign(&key).unwrap();
        assert_eq!(request.valid_until, "2026-01-17T00:00:00Z");
        assert_eq!(request.pubkey, EthAddress::from(key.address()).to_string());

        let before = now().unwrap();
        let from_now = ManifestBuilder::new()
            .agent(AGENT)
            .chain("base")
            .endpoint("http://127.0.0.1:9000/pay")
            .pubkey_of(&key)
            .nonce(1)
            .valid_for(day)
            .manifest()
            .unwrap();
        assert!(from_now.valid_from >= before);
        assert_eq!(
            from_now.valid_until.unix() - from_now.valid_from.unix(),
            86_400
        );
    }

    #[test]
    fn manifest_errors_name_the_wire_field() {
        let key = PrivateKeySigner::random();
        let cases: Vec<(ManifestBuilder, &str)> = vec![
            (manifest().agent("nope"), "agent_uuid"),
            (manifest().chain("Base"), "chain"),
            (
                manifest().endpoint("http://agent.example/x402"),
                "endpoint_uri",
            ),
            (manifest().pubkey("0x1234"), "pubkey"),
            (manifest().nonce(u64::MAX), "nonce"),
            (manifest().valid_from("yesterday"), "valid_from"),
            (
                manifest().valid_until("2026-01-15T00:00:00Z"),
                "valid_until",
            ),
            (manifest().valid_for(Duration::from_secs(60)), "valid_until"),
            (ManifestBuilder::new(), "agent_uuid"),
        ];
        for (builder, expected) in cases {
            assert_eq!(field(builder.sign(&key).unwrap_err()), expected);
        }
    }

    #[test]
    fn a_receipt_commits_to_the_next_agent_and_the_destination_signed_it() {
        let hot = PrivateKeySigner::random();
        let request = receipt().next_agent(NEXT).sign(&hot).unwrap();
        let root: Hash32 = ROOT.parse().unwrap();
        let next: Uuid = NEXT.parse().unwrap();
        let commitment = NextHop {
            root_tx: root,
            to: next,
        }
        .id();
        assert_eq!(request.next_hop_hash, Some(commitment.to_string()));
        assert_eq!(request.root_tx_hash, ROOT.to_lowercase());
        let parsed = request.parse(&Policy::default()).unwrap();
        assert_eq!(parsed.receipt.next_hop, Some(commitment));
        parsed
            .receipt
            .message()
            .verify(&parsed.signature, &hot.address().into())
            .unwrap();
        // The same commitment given precomputed signs the same receipt.
        assert_eq!(
            receipt().next_hop_hash(commitment).sign(&hot).unwrap(),
            request
        );
    }

    #[test]
    fn a_terminal_receipt_says_none() {
        let hot = PrivateKeySigner::random();
        let request = receipt().terminal().sign(&hot).unwrap();
        assert_eq!(request.next_hop_hash, None);
        let parsed = request.parse(&Policy::default()).unwrap();
        assert!(
            parsed
                .receipt
                .message()
                .as_str()
                .contains("\nnext-hop: none\n")
        );
    }

    #[test]
    fn receipt_errors_name_the_wire_field() {
        let key = PrivateKeySigner::random();
        assert_eq!(field(receipt().sign(&key).unwrap_err()), "next_hop_hash");
        let cases: Vec<(ReceiptBuilder, &str)> = vec![
            (receipt().terminal().hop(11), "hop"),
            (receipt().terminal().root_tx("0x12"), "root_tx_hash"),
            (receipt().terminal().from("x"), "source_agent_uuid"),
            (receipt().terminal().to("x"), "dest_agent_uuid"),
            (receipt().terminal().manifest("x"), "manifest_hash"),
            (receipt().next_agent("x"), "next_agent"),
            (receipt().next_hop_hash("x"), "next_hop_hash"),
            (receipt().terminal().nonce(u64::MAX), "receipt_nonce"),
            (receipt().terminal().chain(""), "chain"),
        ];
        for (builder, expected) in cases {
            assert_eq!(field(builder.sign(&key).unwrap_err()), expected);
        }
    }

    #[test]
    fn a_cycle_report_is_signed_by_the_reporter_it_names() {
        let reporter = PrivateKeySigner::random();
        let evidence = vec![receipt().terminal().sign(&reporter).unwrap()];
        let request = sign_cycle_report("base", ROOT, evidence.clone(), &reporter).unwrap();
        assert_eq!(request.evidence, evidence);
        assert_eq!(request.chain.as_deref(), Some("base"));
        let me = EthAddress::from(reporter.address());
        assert_eq!(request.reporter_address, me.to_string());
        let report = CycleReport {
            chain: "base".parse().unwrap(),
            root_tx: ROOT.parse().unwrap(),
            reporter: me,
        };
        report
            .message()
            .verify(&request.signature.parse().unwrap(), &me)
            .unwrap();
    }

    #[test]
    fn a_revocation_is_signed_by_the_owner() {
        let owner = PrivateKeySigner::random();
        let request = sign_revocation("base", AGENT, MANIFEST, &owner).unwrap();
        let revocation = ManifestRevocation {
            chain: "base".parse().unwrap(),
            agent: AGENT.parse().unwrap(),
            manifest: MANIFEST.parse().unwrap(),
        };
        assert_eq!(request.manifest_hash, MANIFEST);
        revocation
            .message()
            .verify(&request.signature.parse().unwrap(), &owner.address().into())
            .unwrap();
        assert_eq!(
            field(sign_revocation("base", "nope", MANIFEST, &owner).unwrap_err()),
            "agent_uuid"
        );
    }

    #[test]
    fn a_verify_forward_request_carries_the_destination_manifest() {
        let manifest = ManifestResponse {
            manifest_id: "m".into(),
            manifest_hash: MANIFEST.into(),
            agent_uuid: AGENT.into(),
            chain: "base".into(),
            endpoint_uri: "https://agent.example/x402".into(),
            pubkey: "0x52908400098527886e0f7030069857d2e4169ee7".into(),
            nonce: 3,
            valid_from: "2026-01-16T00:00:00Z".into(),
            valid_until: "2026-01-17T00:00:00Z".into(),
            signature: "0xsig".into(),
            status: "active".into(),
            created_at: "2026-01-16T00:00:00Z".into(),
            revoked_at: None,
        };
        let request = verify_forward_request(ROOT, PAYER, &manifest).unwrap();
        assert_eq!(request.dest_agent_uuid, AGENT);
        assert_eq!(request.manifest_nonce, 3);
        assert_eq!(request.manifest_signature, "0xsig");
        assert_eq!(request.root_tx_hash, ROOT.to_lowercase());
    }
}
