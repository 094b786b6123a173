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
    EndpointUri, Policy, Usdc, ValidationError, check_nonce,
    wire::{
        CommitmentRequest, ForwardOrderRequest, ForwardPairRequest, ManifestResponse,
        PublishManifestRequest, RecordForwardRequest, ReportCycleRequest, RevokeManifestRequest,
        VerifyForwardRequest,
    },
};
use kagami_crypto::{
    Amount, CanonicalMessage, Chain, Commitment, CycleReport, EndpointManifest, EthAddress,
    ForwardOrder, ForwardReceipt, Hash32, ManifestRevocation, NextHop, PrivateKeySigner, Pubkey,
    Signable, Signature, Timestamp, Uuid, parse_uuid,
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

/// Builds a forward order — the paying agent's signed instruction to pay one hop — and signs
/// it with the payer's key (its manifest's operational key, or its owner) into a
/// [`ForwardOrderRequest`]. The destination acknowledges it with [`ReceiptBuilder`]; the
/// two together are one hop (protocol v2, `docs/PROTOCOL.md` section 11).
///
/// Required: [`chain`](Self::chain), [`root_tx`](Self::root_tx), [`hop`](Self::hop),
/// [`from`](Self::from), [`to`](Self::to), [`manifest`](Self::manifest),
/// [`amount`](Self::amount) and [`nonce`](Self::nonce).
#[derive(Debug, Clone, Default)]
pub struct OrderBuilder {
    chain: Option<String>,
    root_tx: Option<String>,
    hop: Option<u32>,
    from: Option<String>,
    to: Option<String>,
    manifest: Option<String>,
    amount: Option<String>,
    nonce: Option<u64>,
}

impl OrderBuilder {
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

    /// The paying agent, who signs.
    #[must_use]
    pub fn from(mut self, source_agent_uuid: impl Display) -> Self {
        self.from = Some(source_agent_uuid.to_string());
        self
    }

    /// The receiving agent.
    #[must_use]
    pub fn to(mut self, dest_agent_uuid: impl Display) -> Self {
        self.to = Some(dest_agent_uuid.to_string());
        self
    }

    /// The id of the receiving agent's manifest the payer checked (see
    /// [`crate::KagamiClient::verify_forward`]).
    #[must_use]
    pub fn manifest(mut self, manifest_hash: impl Display) -> Self {
        self.manifest = Some(manifest_hash.to_string());
        self
    }

    /// The amount paid, decimal USDC with at most six decimals (`12.5`); it is signed in its
    /// canonical form with exactly six (`12.500000`).
    #[must_use]
    pub fn amount(mut self, amount_usdc: impl Display) -> Self {
        self.amount = Some(amount_usdc.to_string());
        self
    }

    /// The order nonce, unique per paying agent.
    #[must_use]
    pub const fn nonce(mut self, order_nonce: u64) -> Self {
        self.nonce = Some(order_nonce);
        self
    }

    /// The typed order, every field in canonical form.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first missing or invalid field by its wire name
    /// (a field of [`ForwardOrderRequest`]).
    pub fn order(&self) -> Result<ForwardOrder> {
        let chain = parse_chain(self.chain.as_deref())?;
        let root_tx = parse_hash(
            "root_tx_hash",
            required("root_tx_hash", self.root_tx.as_deref())?,
        )?;
        let hop = parse_hop(required("hop", self.hop)?)?;
        let from = parse_uuid(required("source_agent_uuid", self.from.as_deref())?)
            .map_err(|e| Error::invalid("source_agent_uuid", e))?;
        let to = parse_uuid(required("dest_agent_uuid", self.to.as_deref())?)
            .map_err(|e| Error::invalid("dest_agent_uuid", e))?;
        let manifest = parse_hash(
            "manifest_hash",
            required("manifest_hash", self.manifest.as_deref())?,
        )?;
        let amount = parse_amount(
            "amount_usdc",
            required("amount_usdc", self.amount.as_deref())?,
        )?;
        let nonce = check_nonce("order_nonce", required("order_nonce", self.nonce)?)
            .map_err(|e| Error::invalid("order_nonce", e))?;
        Ok(ForwardOrder {
            chain,
            root_tx,
            hop,
            from,
            to,
            manifest,
            amount,
            nonce,
        })
    }

    /// Builds the order and signs its canonical message (`Kagami forward order v1`) with the
    /// payer's key: EIP-191 `personal_sign` over the message bytes.
    ///
    /// # Errors
    /// See [`Self::order`].
    pub fn sign(&self, payer: &PrivateKeySigner) -> Result<ForwardOrderRequest> {
        let order = self.order()?;
        let signature = sign(&order.message(), payer)?;
        Ok(ForwardOrderRequest::of(&order, &signature))
    }
}

/// Where the receiving agent commits to forward the payment next.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NextChoice {
    Agent(String),
    Hash(String),
    Terminal,
}

/// The destination's side of a hop: acknowledges a payer-signed order with a receipt v2
/// (`Kagami forward receipt v2`, which names the order's id) signed with the destination's
/// key (its manifest's operational key, or its owner), into the [`ForwardPairRequest`] the
/// service records (`POST /api/v1/agents/manifests/record-forward`, also one item of a cycle
/// report's evidence).
///
/// Start from the order with [`acknowledging`](Self::acknowledging): chain, root, hop, payer,
/// destination and manifest are the order's, so the receipt cannot disagree with it. Required
/// then: [`nonce`](Self::nonce) and the next-hop commitment — exactly one of
/// [`next_agent`](Self::next_agent) (the commitment is computed for you),
/// [`next_hop_hash`](Self::next_hop_hash) or [`terminal`](Self::terminal). There is no
/// default: committing to `none` by accident would make any later forward provable fraud.
#[derive(Debug, Clone)]
pub struct ReceiptBuilder {
    request: ForwardOrderRequest,
    order: ForwardOrder,
    next: Option<NextChoice>,
    nonce: Option<u64>,
}

impl ReceiptBuilder {
    /// Starts the receipt of `order` (as the payer sent it): every field is checked as the
    /// service checks it.
    ///
    /// The payer's signature is checked for form only: which keys may sign for the payer is
    /// the service's knowledge (see [`crate::KagamiClient::agent`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first invalid field of the order (`order.<field>`).
    pub fn acknowledging(order: &ForwardOrderRequest) -> Result<Self> {
        let (parsed, _signature) = order.parse(&Policy::default()).map_err(invalid_field)?;
        Ok(Self {
            request: order.clone(),
            order: parsed,
            next: None,
            nonce: None,
        })
    }

    /// The order being acknowledged, in canonical form.
    pub const fn order(&self) -> &ForwardOrder {
        &self.order
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

    /// The typed receipt v2 of the order ([`ForwardReceipt::for_order`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the missing or invalid field by its wire name
    /// (`next_hop_hash`, `next_agent`, `receipt_nonce`).
    pub fn receipt(&self) -> Result<ForwardReceipt> {
        let next_hop = match required("next_hop_hash", self.next.as_ref()).map_err(|_| {
            Error::invalid(
                "next_hop_hash",
                "missing: choose next_agent, next_hop_hash or terminal",
            )
        })? {
            NextChoice::Agent(agent) => {
                let next = parse_uuid(agent).map_err(|e| Error::invalid("next_agent", e))?;
                Some(next_hop_hash(self.order.root_tx, next))
            }
            NextChoice::Hash(hash) => Some(parse_hash("next_hop_hash", hash)?),
            NextChoice::Terminal => None,
        };
        let nonce = check_nonce("receipt_nonce", required("receipt_nonce", self.nonce)?)
            .map_err(|e| Error::invalid("receipt_nonce", e))?;
        Ok(ForwardReceipt::for_order(&self.order, next_hop, nonce))
    }

    /// Builds the receipt and signs its canonical message (`Kagami forward receipt v2`) with
    /// the destination's key (EIP-191 `personal_sign` over the message bytes); returns it
    /// with the order, as sent by the payer.
    ///
    /// # Errors
    /// See [`Self::receipt`].
    pub fn sign(&self, destination: &PrivateKeySigner) -> Result<ForwardPairRequest> {
        let receipt = self.receipt()?;
        let signature = sign(&receipt.message(), destination)?;
        Ok(ForwardPairRequest {
            order: self.request.clone(),
            receipt: RecordForwardRequest::of(&receipt, &signature),
        })
    }
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

/// Builds the time-lock commitment of a high-value payment (`Kagami commitment v1`), which
/// the root payer and the first-hop agent each sign with their own key; then assembles the
/// [`CommitmentRequest`] (`POST /api/v1/agents/manifests/onchain-commitment`) from the two
/// signatures.
///
/// Both parties build the same commitment from the same fields, each signs it with
/// [`sign`](Self::sign) and hands the signature over; either assembles the body with
/// [`request`](Self::request). Required: [`chain`](Self::chain), [`root_tx`](Self::root_tx),
/// [`payer`](Self::payer), [`first_hop`](Self::first_hop), [`routing`](Self::routing),
/// [`amount`](Self::amount) and [`lock_until`](Self::lock_until).
#[derive(Debug, Clone, Default)]
pub struct CommitmentBuilder {
    chain: Option<String>,
    root_tx: Option<String>,
    payer: Option<String>,
    first_hop: Option<String>,
    routing: Option<String>,
    amount: Option<String>,
    lock_until: Option<String>,
}

impl CommitmentBuilder {
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

    /// The root transaction (one commitment per root).
    #[must_use]
    pub fn root_tx(mut self, root_tx_hash: impl Display) -> Self {
        self.root_tx = Some(root_tx_hash.to_string());
        self
    }

    /// The root payer.
    #[must_use]
    pub fn payer(mut self, payer_agent_uuid: impl Display) -> Self {
        self.payer = Some(payer_agent_uuid.to_string());
        self
    }

    /// The first agent the payment goes to, which keeps its routing during the lock.
    #[must_use]
    pub fn first_hop(mut self, first_hop_agent_uuid: impl Display) -> Self {
        self.first_hop = Some(first_hop_agent_uuid.to_string());
        self
    }

    /// The committed routing, chosen by the payer (e.g. a hash of its route plan).
    #[must_use]
    pub fn routing(mut self, routing_hash: impl Display) -> Self {
        self.routing = Some(routing_hash.to_string());
        self
    }

    /// The amount, decimal USDC with at most six decimals; signed with exactly six. The
    /// service takes commitments from the high-value threshold up (10,000 USDC by default).
    #[must_use]
    pub fn amount(mut self, amount_usdc: impl Display) -> Self {
        self.amount = Some(amount_usdc.to_string());
        self
    }

    /// The end of the time lock (RFC 3339; any UTC offset).
    #[must_use]
    pub fn lock_until(mut self, lock_until: impl Display) -> Self {
        self.lock_until = Some(lock_until.to_string());
        self
    }

    /// The typed commitment, every field in canonical form.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first missing or invalid field by its wire name (a
    /// field of [`CommitmentRequest`]).
    pub fn commitment(&self) -> Result<Commitment> {
        let chain = parse_chain(self.chain.as_deref())?;
        let root_tx = parse_hash(
            "root_tx_hash",
            required("root_tx_hash", self.root_tx.as_deref())?,
        )?;
        let payer = parse_uuid(required("payer_agent_uuid", self.payer.as_deref())?)
            .map_err(|e| Error::invalid("payer_agent_uuid", e))?;
        let first_hop = parse_uuid(required("first_hop_agent_uuid", self.first_hop.as_deref())?)
            .map_err(|e| Error::invalid("first_hop_agent_uuid", e))?;
        let routing = parse_hash(
            "routing_hash",
            required("routing_hash", self.routing.as_deref())?,
        )?;
        let amount = parse_amount(
            "amount_usdc",
            required("amount_usdc", self.amount.as_deref())?,
        )?;
        let lock_until = parse_timestamp(
            "lock_until",
            required("lock_until", self.lock_until.as_deref())?,
        )?;
        Ok(Commitment {
            chain,
            root_tx,
            payer,
            first_hop,
            routing,
            amount,
            lock_until,
        })
    }

    /// One party's signature over the commitment's canonical message (EIP-191
    /// `personal_sign` over the message bytes): the payer's with the payer's key, the first
    /// hop's with the first hop's (each the agent's owner or its manifest key in force).
    ///
    /// # Errors
    /// See [`Self::commitment`].
    pub fn sign(&self, party: &PrivateKeySigner) -> Result<Signature> {
        sign(&self.commitment()?.message(), party)
    }

    /// The create-commitment body with both parties' signatures (`0x` + 130 hex each). The
    /// signer of each over this commitment is recovered and the two must differ (the payer
    /// and the first hop are different agents); whether each is its agent's key is the
    /// service's to check, as only it knows the keys.
    ///
    /// # Errors
    /// See [`Self::commitment`]; [`Error::InvalidInput`] naming `payer_signature` or
    /// `first_hop_signature` when it is malformed or no key recovers from it, or
    /// `first_hop_signature` when both come from the same key.
    pub fn request(
        &self,
        payer_signature: impl Display,
        first_hop_signature: impl Display,
    ) -> Result<CommitmentRequest> {
        let commitment = self.commitment()?;
        let message = commitment.message();
        let recover = |field: &str, text: String| -> Result<(Signature, EthAddress)> {
            let signature: Signature = text.trim().parse().map_err(|e| Error::invalid(field, e))?;
            let signer = message
                .recover(&signature)
                .map_err(|e| Error::invalid(field, e))?;
            Ok((signature, signer))
        };
        let (payer_signature, payer) = recover("payer_signature", payer_signature.to_string())?;
        let (first_hop_signature, first_hop) =
            recover("first_hop_signature", first_hop_signature.to_string())?;
        if payer == first_hop {
            return Err(Error::invalid(
                "first_hop_signature",
                format!("signed by {first_hop}, the key that signed for the payer"),
            ));
        }
        Ok(CommitmentRequest {
            chain: commitment.chain.to_string(),
            root_tx_hash: commitment.root_tx.to_string(),
            payer_agent_uuid: commitment.payer.to_string(),
            first_hop_agent_uuid: commitment.first_hop.to_string(),
            routing_hash: commitment.routing.to_string(),
            amount_usdc: commitment.amount.to_string(),
            lock_until: commitment.lock_until.to_string(),
            payer_signature: payer_signature.to_string(),
            first_hop_signature: first_hop_signature.to_string(),
        })
    }
}

/// Signs a cycle report for the payment `root_tx_hash` with the reporter's key into a
/// [`ReportCycleRequest`]: the reporter's address (the bounty's beneficiary) is the key's
/// address and the signed message binds chain, root and reporter, so a copied report cannot
/// redirect the bounty. `evidence` holds the signed hops (order and receipt, see
/// [`ReceiptBuilder::sign`]) the service has not recorded.
///
/// # Errors
/// [`Error::InvalidInput`] for an invalid chain or root hash.
pub fn sign_cycle_report(
    chain: impl Display,
    root_tx_hash: impl Display,
    evidence: Vec<ForwardPairRequest>,
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

fn parse_hop(hop: u32) -> Result<u32> {
    if hop > MAX_HOP {
        return Err(Error::invalid(
            "hop",
            format!("{hop} exceeds the maximum hop {MAX_HOP}"),
        ));
    }
    Ok(hop)
}

/// Decimal USDC with at most six decimals ([`Usdc`]), as the canonical signed [`Amount`].
fn parse_amount(field: &str, text: &str) -> Result<Amount> {
    let usdc: Usdc = text.trim().parse().map_err(|e| Error::invalid(field, e))?;
    Ok(Amount::from(usdc))
}

/// A core validation error as the client's, keeping the wire name of the field.
fn invalid_field(error: ValidationError) -> Error {
    let field = error.field();
    let text = error.to_string();
    let reason = text
        .strip_prefix(field)
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or(&text);
    Error::invalid(field, reason)
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

    fn order() -> OrderBuilder {
        OrderBuilder::new()
            .chain("base")
            .root_tx(ROOT)
            .hop(1)
            .from(PAYER.to_uppercase())
            .to(AGENT)
            .manifest(MANIFEST)
            .amount("12.5")
            .nonce(5)
    }

    /// The receipt of `order()` signed by a random payer key.
    fn receipt() -> ReceiptBuilder {
        let payer = PrivateKeySigner::random();
        ReceiptBuilder::acknowledging(&order().sign(&payer).unwrap())
            .unwrap()
            .nonce(42)
    }

    fn commitment() -> CommitmentBuilder {
        CommitmentBuilder::new()
            .chain("base")
            .root_tx(ROOT)
            .payer(PAYER)
            .first_hop(AGENT)
            .routing(MANIFEST)
            .amount("25000")
            .lock_until("2026-01-16T02:00:00+01:00")
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
    fn an_order_is_a_canonical_body_that_core_parses_and_the_payer_signed() {
        let payer = PrivateKeySigner::random();
        let request = order().sign(&payer).unwrap();
        assert_eq!(request.amount_usdc, "12.500000");
        assert_eq!(request.source_agent_uuid, PAYER);
        assert_eq!(request.root_tx_hash, ROOT.to_lowercase());
        let (parsed, signature) = request.parse(&Policy::default()).unwrap();
        assert_eq!(parsed, order().order().unwrap());
        assert_eq!(parsed.amount.micros(), 12_500_000);
        parsed
            .message()
            .verify(&signature, &payer.address().into())
            .unwrap();
        let other = PrivateKeySigner::random();
        assert!(
            parsed
                .message()
                .verify(&signature, &other.address().into())
                .is_err()
        );
    }

    #[test]
    fn order_errors_name_the_wire_field() {
        let key = PrivateKeySigner::random();
        let cases: Vec<(OrderBuilder, &str)> = vec![
            (order().chain("Base"), "chain"),
            (order().root_tx("0x12"), "root_tx_hash"),
            (order().hop(11), "hop"),
            (order().from("x"), "source_agent_uuid"),
            (order().to("x"), "dest_agent_uuid"),
            (order().manifest("x"), "manifest_hash"),
            (order().amount("1.0000001"), "amount_usdc"),
            (order().amount("-1"), "amount_usdc"),
            (order().nonce(u64::MAX), "order_nonce"),
            (OrderBuilder::new().chain("base"), "root_tx_hash"),
        ];
        for (builder, expected) in cases {
            assert_eq!(field(builder.sign(&key).unwrap_err()), expected);
        }
    }

    #[test]
    fn a_receipt_acknowledges_the_order_and_commits_to_the_next_agent() {
        let payer = PrivateKeySigner::random();
        let hot = PrivateKeySigner::random();
        let order_request = order().sign(&payer).unwrap();
        let pair = ReceiptBuilder::acknowledging(&order_request)
            .unwrap()
            .next_agent(NEXT)
            .nonce(42)
            .sign(&hot)
            .unwrap();
        assert_eq!(pair.order, order_request);
        let order = order().order().unwrap();
        assert_eq!(pair.receipt.order_hash, Some(order.id().to_string()));
        let commitment = NextHop {
            root_tx: ROOT.parse().unwrap(),
            to: NEXT.parse().unwrap(),
        }
        .id();
        assert_eq!(pair.receipt.next_hop_hash, Some(commitment.to_string()));
        // The service's own parse accepts the pair: the receipt agrees with the order.
        let parsed = pair.parse(&Policy::default()).unwrap();
        assert!(parsed.receipt.acknowledges(&order));
        assert!(
            parsed
                .receipt
                .message()
                .as_str()
                .starts_with(ForwardReceipt::TAG_V2)
        );
        parsed
            .receipt
            .message()
            .verify(&parsed.receipt_signature, &hot.address().into())
            .unwrap();
        assert!(
            parsed
                .receipt
                .message()
                .verify(&parsed.receipt_signature, &payer.address().into())
                .is_err()
        );
        // The same commitment given precomputed signs the same receipt.
        let again = ReceiptBuilder::acknowledging(&order_request)
            .unwrap()
            .next_hop_hash(commitment)
            .nonce(42)
            .sign(&hot)
            .unwrap();
        assert_eq!(again, pair);
    }

    #[test]
    fn a_terminal_receipt_says_none() {
        let hot = PrivateKeySigner::random();
        let pair = receipt().terminal().sign(&hot).unwrap();
        assert_eq!(pair.receipt.next_hop_hash, None);
        let parsed = pair.parse(&Policy::default()).unwrap();
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
            (receipt().next_agent("x"), "next_agent"),
            (receipt().next_hop_hash("x"), "next_hop_hash"),
            (receipt().terminal().nonce(u64::MAX), "receipt_nonce"),
        ];
        for (builder, expected) in cases {
            assert_eq!(field(builder.sign(&key).unwrap_err()), expected);
        }
        // An order that is not canonical is refused as the service would, by its field.
        let mut bad = order().sign(&key).unwrap();
        bad.amount_usdc = "12.5".into();
        let error = ReceiptBuilder::acknowledging(&bad).unwrap_err();
        assert_eq!(field(error), "order.amount_usdc");
        let mut bad = order().sign(&key).unwrap();
        bad.signature = "0x12".into();
        assert_eq!(
            field(ReceiptBuilder::acknowledging(&bad).unwrap_err()),
            "order.signature"
        );
    }

    #[test]
    fn a_commitment_is_signed_by_each_party_and_assembled_from_both_signatures() {
        let payer = PrivateKeySigner::random();
        let first_hop = PrivateKeySigner::random();
        let payer_signature = commitment().sign(&payer).unwrap();
        let first_hop_signature = commitment().sign(&first_hop).unwrap();
        let request = commitment()
            .request(payer_signature, first_hop_signature)
            .unwrap();
        assert_eq!(request.amount_usdc, "25000.000000");
        assert_eq!(request.lock_until, "2026-01-16T01:00:00Z");
        let parsed = request.parse(&Policy::default()).unwrap();
        assert_eq!(parsed.commitment, commitment().commitment().unwrap());
        let message = parsed.commitment.message();
        message
            .verify(&parsed.payer_signature, &payer.address().into())
            .unwrap();
        message
            .verify(&parsed.first_hop_signature, &first_hop.address().into())
            .unwrap();
    }

    #[test]
    fn commitment_errors_name_the_wire_field() {
        let payer = PrivateKeySigner::random();
        let first_hop = PrivateKeySigner::random();
        let cases: Vec<(CommitmentBuilder, &str)> = vec![
            (commitment().chain(""), "chain"),
            (commitment().root_tx("x"), "root_tx_hash"),
            (commitment().payer("x"), "payer_agent_uuid"),
            (commitment().first_hop("x"), "first_hop_agent_uuid"),
            (commitment().routing("x"), "routing_hash"),
            (commitment().amount("ten"), "amount_usdc"),
            (commitment().lock_until("soon"), "lock_until"),
        ];
        for (builder, expected) in cases {
            assert_eq!(field(builder.sign(&payer).unwrap_err()), expected);
        }
        let payer_signature = commitment().sign(&payer).unwrap();
        let first_hop_signature = commitment().sign(&first_hop).unwrap();
        assert_eq!(
            field(
                commitment()
                    .request("0x12", first_hop_signature)
                    .unwrap_err()
            ),
            "payer_signature"
        );
        // The same key twice is not two parties.
        assert_eq!(
            field(
                commitment()
                    .request(payer_signature, payer_signature)
                    .unwrap_err()
            ),
            "first_hop_signature"
        );
        // A signature over another commitment recovers someone else: the two keys differ,
        // but the one recovered for the first hop is not `first_hop`.
        let other = commitment().amount("30000").sign(&first_hop).unwrap();
        let request = commitment().request(payer_signature, other).unwrap();
        let parsed = request.parse(&Policy::default()).unwrap();
        assert!(
            parsed
                .commitment
                .message()
                .verify(&parsed.first_hop_signature, &first_hop.address().into())
                .is_err()
        );
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
        let other = PrivateKeySigner::random();
        assert!(
            report
                .message()
                .verify(&request.signature.parse().unwrap(), &other.address().into())
                .is_err()
        );
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
