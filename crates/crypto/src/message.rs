//! The five canonical messages of the Kagami v1 protocol and what is done with them.

use alloy_primitives::{B256, eip191_hash_message};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    Amount, Chain, Error, EthAddress, FreeText, Hash32, Pubkey, Result, Signature, Timestamp,
};

/// The exact bytes of a canonical message: UTF-8 lines joined by a single LF, no trailing
/// LF, first line the type tag, then `key: value` lines in the protocol's fixed order.
///
/// Only the typed builders of this crate ([`Signable::message`]) create one, so a
/// `CanonicalMessage` is canonical by construction.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CanonicalMessage(String);

impl CanonicalMessage {
    /// The message text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The message bytes, exactly as hashed and signed.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The object id: SHA-256 over the message bytes exactly as they are (no prefix, no
    /// trailing LF).
    pub fn id(&self) -> Hash32 {
        Hash32::from(<[u8; 32]>::from(Sha256::digest(self.as_bytes())))
    }

    /// The EIP-191 version 0x45 digest that is signed:
    /// `keccak256("\x19Ethereum Signed Message:\n" || decimal(len(bytes)) || bytes)`.
    pub fn eip191_hash(&self) -> B256 {
        eip191_hash_message(self.as_bytes())
    }

    /// Signs the message the way `personal_sign` does: the key signs [`Self::eip191_hash`]
    /// (the message is prefixed and hashed according to EIP-191, not signed raw).
    ///
    /// # Errors
    /// [`Error::Signing`] if the signer fails (it does not for a valid local key).
    pub fn sign(&self, signer: &PrivateKeySigner) -> Result<Signature> {
        let signature = signer
            .sign_message_sync(self.as_bytes())
            .map_err(|e| Error::Signing {
                reason: e.to_string(),
            })?;
        Signature::from_alloy(signature)
    }

    /// Recovers the address that signed this message under EIP-191 (see
    /// [`Self::eip191_hash`] for exactly what is hashed).
    ///
    /// # Errors
    /// [`Error::RecoveryFailed`] when the signature corresponds to no public key.
    pub fn recover(&self, signature: &Signature) -> Result<EthAddress> {
        signature.recover_prehash(&self.eip191_hash())
    }

    /// Checks that `signature` over this message was made by `expected`.
    ///
    /// # Errors
    /// [`Error::WrongSigner`] with both addresses when another key signed, or the errors of
    /// [`Self::recover`].
    pub fn verify(&self, signature: &Signature, expected: &EthAddress) -> Result<()> {
        self.verify_any(signature, std::slice::from_ref(expected))
            .map(|_| ())
    }

    /// Checks that `signature` over this message was made by one of `allowed`, returning
    /// which one.
    ///
    /// # Errors
    /// [`Error::WrongSigner`] (naming the first allowed address) when none of them signed,
    /// or the errors of [`Self::recover`].
    pub fn verify_any<'a>(
        &self,
        signature: &Signature,
        allowed: &'a [EthAddress],
    ) -> Result<&'a EthAddress> {
        let recovered = self.recover(signature)?;
        allowed
            .iter()
            .find(|a| **a == recovered)
            .ok_or_else(|| Error::WrongSigner {
                expected: allowed.first().map(ToString::to_string).unwrap_or_default(),
                recovered: recovered.to_string(),
            })
    }
}

impl std::fmt::Display for CanonicalMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for CanonicalMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

/// A protocol object with a canonical message.
pub trait Signable {
    /// The first line of the message, e.g. `Kagami endpoint manifest v1`.
    const TAG: &'static str;

    /// Builds the canonical message from the typed fields.
    fn message(&self) -> CanonicalMessage;

    /// The object id: SHA-256 of the canonical message (see [`CanonicalMessage::id`]).
    fn id(&self) -> Hash32 {
        self.message().id()
    }
}

/// Accumulates `key: value` lines after the tag.
struct Lines(String);

impl Lines {
    fn new(tag: &str) -> Self {
        let mut text = String::with_capacity(320);
        text.push_str(tag);
        Self(text)
    }

    fn line(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        use std::fmt::Write;
        self.0.push('\n');
        self.0.push_str(key);
        self.0.push_str(": ");
        // Writing into a String cannot fail.
        let _ = write!(self.0, "{value}");
        self
    }

    fn finish(self) -> CanonicalMessage {
        CanonicalMessage(self.0)
    }
}

/// `Kagami endpoint manifest v1`: where an agent receives forwards, under which operational
/// key, for which window. Signed by the agent's owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointManifest {
    /// The chain the agent is registered on.
    pub chain: Chain,
    /// The agent's Kagami UUID.
    pub agent: Uuid,
    /// The endpoint URI, verbatim (policy checks live in `kagami-core`).
    pub endpoint: FreeText,
    /// The operational key that signs this agent's receipts.
    pub pubkey: Pubkey,
    /// Strictly increasing per agent.
    pub nonce: u64,
    /// First second the manifest is in force.
    pub valid_from: Timestamp,
    /// First second the manifest is no longer in force.
    pub valid_until: Timestamp,
}

impl Signable for EndpointManifest {
    const TAG: &'static str = "Kagami endpoint manifest v1";

    fn message(&self) -> CanonicalMessage {
        Lines::new(Self::TAG)
            .line("chain", &self.chain)
            .line("agent", self.agent)
            .line("endpoint", &self.endpoint)
            .line("pubkey", &self.pubkey)
            .line("nonce", self.nonce)
            .line("valid-from", self.valid_from)
            .line("valid-until", self.valid_until)
            .finish()
    }
}

/// `Kagami forward order v1`: the paying agent's instruction to pay one hop of a root
/// payment, naming the destination's manifest it checked and the amount. Signed by the payer
/// (the key of its manifest in force, or its owner). Protocol v2: every hop of the settlement
/// graph is an order and the receipt that acknowledges it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardOrder {
    /// The chain of the payment.
    pub chain: Chain,
    /// The root transaction the payment started with.
    pub root_tx: Hash32,
    /// 0 for the first forward after the root payment.
    pub hop: u32,
    /// The paying (signing) agent.
    pub from: Uuid,
    /// The receiving agent.
    pub to: Uuid,
    /// The id of the receiving agent's manifest the payer checked.
    pub manifest: Hash32,
    /// The amount paid.
    pub amount: Amount,
    /// Unique per paying agent.
    pub nonce: u64,
}

impl Signable for ForwardOrder {
    const TAG: &'static str = "Kagami forward order v1";

    fn message(&self) -> CanonicalMessage {
        Lines::new(Self::TAG)
            .line("chain", &self.chain)
            .line("root-tx", self.root_tx)
            .line("hop", self.hop)
            .line("from", self.from)
            .line("to", self.to)
            .line("manifest", self.manifest)
            .line("amount", self.amount)
            .line("nonce", self.nonce)
            .finish()
    }
}

/// A forward receipt: the destination's acknowledgement of one hop of a payment, committing
/// to where it forwards next. Signed by the destination agent's manifest key (or its owner).
///
/// With `order` it is `Kagami forward receipt v2`, which binds the exact order it
/// acknowledges (and so the amount); without, the legacy `Kagami forward receipt v1`, still
/// verifiable but no longer grounds for any penalty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardReceipt {
    /// The chain of the payment.
    pub chain: Chain,
    /// The root transaction the payment started with.
    pub root_tx: Hash32,
    /// 0 for the first forward after the root payment.
    pub hop: u32,
    /// The paying agent.
    pub from: Uuid,
    /// The receiving (signing) agent.
    pub to: Uuid,
    /// The id of the receiving agent's manifest the payer checked.
    pub manifest: Hash32,
    /// The id of the order acknowledged ([`ForwardOrder`]); `None` for a v1 receipt.
    pub order: Option<Hash32>,
    /// The receiving agent's commitment ([`NextHop::id`]), or `None` ("none") for a
    /// terminal hop: the receiver will not forward this payment.
    pub next_hop: Option<Hash32>,
    /// Unique per receiving agent.
    pub nonce: u64,
}

impl ForwardReceipt {
    /// The v2 type tag, used when the receipt binds an order.
    pub const TAG_V2: &'static str = "Kagami forward receipt v2";

    /// The receipt v2 of `order`: its chain, root, hop, payer, destination and manifest, and
    /// its id, with the destination's choice of `next_hop` and `nonce` — the only receipt
    /// that makes a hop with `order` (`docs/PROTOCOL.md`, section 11.6).
    pub fn for_order(order: &ForwardOrder, next_hop: Option<Hash32>, nonce: u64) -> Self {
        Self {
            chain: order.chain.clone(),
            root_tx: order.root_tx,
            hop: order.hop,
            from: order.from,
            to: order.to,
            manifest: order.manifest,
            order: Some(order.id()),
            next_hop,
            nonce,
        }
    }

    /// Whether this receipt acknowledges exactly `order`: it names the order's id and agrees
    /// with it on chain, root, hop, payer, destination and manifest.
    pub fn acknowledges(&self, order: &ForwardOrder) -> bool {
        *self == Self::for_order(order, self.next_hop, self.nonce)
    }
}

impl Signable for ForwardReceipt {
    const TAG: &'static str = "Kagami forward receipt v1";

    /// `Kagami forward receipt v2` (with an `order` line after `manifest`) when the receipt
    /// binds an order, `Kagami forward receipt v1` otherwise.
    fn message(&self) -> CanonicalMessage {
        let tag = if self.order.is_some() {
            Self::TAG_V2
        } else {
            Self::TAG
        };
        let mut lines = Lines::new(tag)
            .line("chain", &self.chain)
            .line("root-tx", self.root_tx)
            .line("hop", self.hop)
            .line("from", self.from)
            .line("to", self.to)
            .line("manifest", self.manifest);
        if let Some(order) = &self.order {
            lines = lines.line("order", order);
        }
        let lines = match &self.next_hop {
            Some(hash) => lines.line("next-hop", hash),
            None => lines.line("next-hop", "none"),
        };
        lines.line("nonce", self.nonce).finish()
    }
}

/// `Kagami next hop v1`: the commitment a receiving agent makes to where it will forward
/// the root payment next. Never signed on its own; its id is embedded in a receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHop {
    /// The root transaction.
    pub root_tx: Hash32,
    /// The agent the payment will be forwarded to.
    pub to: Uuid,
}

impl Signable for NextHop {
    const TAG: &'static str = "Kagami next hop v1";

    fn message(&self) -> CanonicalMessage {
        Lines::new(Self::TAG)
            .line("root-tx", self.root_tx)
            .line("to", self.to)
            .finish()
    }
}

/// `Kagami cycle report v1`: a watcher's claim to the bounty for a cycle, signed by the
/// reporter so a copied report cannot redirect the bounty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleReport {
    /// The chain of the payment.
    pub chain: Chain,
    /// The root transaction whose forwards form a cycle.
    pub root_tx: Hash32,
    /// The address credited with the bounty; must be the signer.
    pub reporter: EthAddress,
}

impl Signable for CycleReport {
    const TAG: &'static str = "Kagami cycle report v1";

    fn message(&self) -> CanonicalMessage {
        Lines::new(Self::TAG)
            .line("chain", &self.chain)
            .line("root-tx", self.root_tx)
            .line("reporter", self.reporter)
            .finish()
    }
}

/// `Kagami commitment v1`: a high-value payment's time lock, signed by the root payer and by
/// the first-hop agent, who consents to keep its routing until `lock-until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commitment {
    /// The chain of the payment.
    pub chain: Chain,
    /// The root transaction.
    pub root_tx: Hash32,
    /// The paying agent.
    pub payer: Uuid,
    /// The first agent the payment goes to.
    pub first_hop: Uuid,
    /// The committed routing (chosen by the payer, e.g. a hash of its route plan).
    pub routing: Hash32,
    /// The amount committed.
    pub amount: Amount,
    /// The end of the time lock.
    pub lock_until: Timestamp,
}

impl Signable for Commitment {
    const TAG: &'static str = "Kagami commitment v1";

    fn message(&self) -> CanonicalMessage {
        Lines::new(Self::TAG)
            .line("chain", &self.chain)
            .line("root-tx", self.root_tx)
            .line("payer", self.payer)
            .line("first-hop", self.first_hop)
            .line("routing", self.routing)
            .line("amount", self.amount)
            .line("lock-until", self.lock_until)
            .finish()
    }
}

/// `Kagami manifest revocation v1`: withdraws a manifest. Signed by the agent's owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestRevocation {
    /// The chain the agent is registered on.
    pub chain: Chain,
    /// The agent's Kagami UUID.
    pub agent: Uuid,
    /// The id of the revoked manifest.
    pub manifest: Hash32,
}

impl Signable for ManifestRevocation {
    const TAG: &'static str = "Kagami manifest revocation v1";

    fn message(&self) -> CanonicalMessage {
        Lines::new(Self::TAG)
            .line("chain", &self.chain)
            .line("agent", self.agent)
            .line("manifest", self.manifest)
            .finish()
    }
}

/// A protocol object, its signature, its id and the address that made the signature,
/// recovered once.
///
/// Constructed only by [`Signed::recover`] (or [`Signed::sign`]), so `signer` is always the
/// address that really signed `value`'s canonical message; whether that address was allowed
/// to sign for the agent is decided by whoever holds the agent's keys ([`Signed::check_signer`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed<T> {
    value: T,
    id: Hash32,
    signature: Signature,
    signer: EthAddress,
}

impl<T: Signable> Signed<T> {
    /// Builds `value`'s canonical message, hashes it (EIP-191, see
    /// [`CanonicalMessage::eip191_hash`]) and recovers the signer of `signature`.
    ///
    /// # Errors
    /// [`Error::RecoveryFailed`] when no public key corresponds to the signature.
    pub fn recover(value: T, signature: Signature) -> Result<Self> {
        let message = value.message();
        let signer = message.recover(&signature)?;
        Ok(Self {
            id: message.id(),
            value,
            signature,
            signer,
        })
    }

    /// Signs `value`'s canonical message with `key` (EIP-191 `personal_sign`).
    ///
    /// # Errors
    /// [`Error::Signing`] if the signer fails.
    pub fn sign(value: T, key: &PrivateKeySigner) -> Result<Self> {
        let message = value.message();
        let signature = message.sign(key)?;
        Ok(Self {
            id: message.id(),
            value,
            signature,
            signer: EthAddress::from(key.address()),
        })
    }
}

impl<T> Signed<T> {
    /// The signed fields.
    pub const fn value(&self) -> &T {
        &self.value
    }

    /// The object id (SHA-256 of the canonical message).
    pub const fn id(&self) -> Hash32 {
        self.id
    }

    /// The signature.
    pub const fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The address that signed.
    pub const fn signer(&self) -> &EthAddress {
        &self.signer
    }

    /// The signed fields, by value.
    pub fn into_value(self) -> T {
        self.value
    }

    /// Checks that the signer is one of `allowed`, returning which one.
    ///
    /// # Errors
    /// [`Error::WrongSigner`] naming the first allowed address and the actual signer.
    pub fn check_signer<'a>(&self, allowed: &'a [EthAddress]) -> Result<&'a EthAddress> {
        signer_among(&self.signer, allowed)
    }
}

/// `signer` if it is one of `allowed`, else [`Error::WrongSigner`] naming the first allowed.
pub(crate) fn signer_among<'a>(
    signer: &EthAddress,
    allowed: &'a [EthAddress],
) -> Result<&'a EthAddress> {
    allowed
        .iter()
        .find(|a| *a == signer)
        .ok_or_else(|| Error::WrongSigner {
            expected: allowed.first().map(ToString::to_string).unwrap_or_default(),
            recovered: signer.to_string(),
        })
}
