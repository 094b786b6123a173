//! Builders for the conformance cases: agents with deterministic keys, signed manifests,
//! orders and receipts, co-signed commitments, signed MEV evidence, fixed times.

use std::sync::atomic::{AtomicU64, Ordering};

use kagami_core::{
    EndpointUri, ManifestRecord, Policy, Usdc,
    crypto::{
        B256, Commitment, CycleReport, EndpointManifest, EthAddress, ForwardOrder, ForwardReceipt,
        Hash32, ManifestRevocation, NextHop, PrivateKeySigner, Signable, Signature, Signed,
        Timestamp, sha256,
    },
    settlement::{Operation, hop_cost},
    wire::{CosignedCommitment, CycleReportSubmission, SignedManifest, SignedPair},
};
use kagami_store::{Agent, AttackType, NewAgent, NewMevIncident, NewReceipt, Store, StoredOrder};

/// 2026-01-16T00:00:00Z, the suite's "now".
pub(crate) const T0: i64 = 1_768_521_600;

pub(crate) fn t(offset: i64) -> Timestamp {
    Timestamp::from_unix(T0 + offset).unwrap()
}

pub(crate) fn now() -> Timestamp {
    t(0)
}

/// A runtime for a property test's case (proptest drives synchronous closures).
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub(crate) fn policy() -> Policy {
    Policy::default()
}

pub(crate) fn usdc(s: &str) -> Usdc {
    s.parse().unwrap()
}

pub(crate) fn hash(tag: &str) -> Hash32 {
    Hash32::from(sha256(&[tag.as_bytes()]))
}

fn key(purpose: &str, n: u64) -> PrivateKeySigner {
    let seed = sha256(&[purpose.as_bytes(), &n.to_be_bytes()]);
    PrivateKeySigner::from_bytes(&B256::from(seed)).unwrap()
}

/// The owner key of the agent with ERC-8004 id `n`.
pub(crate) fn owner_key(n: u64) -> PrivateKeySigner {
    key("owner", n)
}

/// The operational (manifest) key of the agent with ERC-8004 id `n`.
pub(crate) fn hot_key(n: u64) -> PrivateKeySigner {
    key("hot", n)
}

pub(crate) fn new_agent(n: u64) -> NewAgent {
    NewAgent {
        agent_id: n,
        chain: "base".parse().unwrap(),
        registry_address: "0x8004000000000000000000000000000000008004"
            .parse()
            .unwrap(),
        owner_address: EthAddress::from(owner_key(n).address()),
        token_uri: Some(format!("ipfs://agent-{n}")),
        registration_file: Some(serde_json::json!({ "name": format!("agent {n}"), "x402": true })),
    }
}

/// Registers agent `n` with `stake` USDC staked.
pub(crate) async fn agent(store: &Store, n: u64, stake: &str) -> Agent {
    let agent = store.register_agent(new_agent(n), now()).await.unwrap();
    store
        .set_stake(agent.uuid, usdc(stake), now())
        .await
        .unwrap();
    agent
}

/// A manifest of `agent` signed by its owner.
pub(crate) fn manifest(
    agent: &Agent,
    nonce: u64,
    endpoint: &str,
    from: Timestamp,
    until: Timestamp,
) -> SignedManifest {
    manifest_with_key(
        agent,
        nonce,
        endpoint,
        &hot_key(agent.agent_id),
        from,
        until,
    )
}

pub(crate) fn manifest_with_key(
    agent: &Agent,
    nonce: u64,
    endpoint: &str,
    hot: &PrivateKeySigner,
    from: Timestamp,
    until: Timestamp,
) -> SignedManifest {
    let fields = EndpointManifest {
        chain: agent.chain.clone(),
        agent: agent.uuid,
        endpoint: endpoint.parse().unwrap(),
        pubkey: EthAddress::from(hot.address()).to_string().parse().unwrap(),
        nonce,
        valid_from: from,
        valid_until: until,
    };
    SignedManifest {
        manifest: Signed::sign(fields, &owner_key(agent.agent_id)).unwrap(),
        endpoint: EndpointUri::parse(endpoint, &policy()).unwrap(),
    }
}

/// Publishes a day-long manifest for `agent` starting an hour ago.
pub(crate) async fn published(store: &Store, agent: &Agent) -> ManifestRecord {
    let m = manifest(
        agent,
        1,
        &format!("https://agent-{}.example/x402", agent.agent_id),
        t(-3600),
        t(20 * 3600),
    );
    store
        .publish_manifest(m, now(), &policy())
        .await
        .unwrap()
        .manifest
}

/// A fresh order nonce (unique in this test process).
pub(crate) fn order_nonce() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The hop `from → to` at `hop` for 1 USDC, citing `to`'s manifest: the order signed by
/// `from`'s owner, the receipt v2 (committing to `next`, or none) by `to`'s operational key.
pub(crate) fn receipt(
    root: Hash32,
    hop: u32,
    from: &Agent,
    to: &Agent,
    to_manifest: &ManifestRecord,
    next: Option<&Agent>,
    nonce: u64,
) -> SignedPair {
    let order = ForwardOrder {
        chain: to.chain.clone(),
        root_tx: root,
        hop,
        from: from.uuid,
        to: to.uuid,
        manifest: to_manifest.hash,
        amount: "1.000000".parse().unwrap(),
        nonce: order_nonce(),
    };
    signed_pair(
        order,
        &owner_key(from.agent_id),
        next.map(|n| {
            NextHop {
                root_tx: root,
                to: n.uuid,
            }
            .id()
        }),
        nonce,
        &hot_key(to.agent_id),
    )
}

/// `order` signed by `payer`, and the receipt of it signed by `destination`.
pub(crate) fn signed_pair(
    order: ForwardOrder,
    payer: &PrivateKeySigner,
    next_hop: Option<Hash32>,
    nonce: u64,
    destination: &PrivateKeySigner,
) -> SignedPair {
    let receipt = ForwardReceipt::for_order(&order, next_hop, nonce);
    SignedPair {
        order: Signed::sign(order, payer).unwrap(),
        receipt: Signed::sign(receipt, destination).unwrap(),
    }
}

/// A commitment of `payer`'s payment `root` through `first_hop`, signed by both owners.
pub(crate) fn commitment(
    payer: &Agent,
    first_hop: &Agent,
    root: &str,
    amount: &str,
    lock_until: Timestamp,
) -> CosignedCommitment {
    let fields = Commitment {
        chain: payer.chain.clone(),
        root_tx: hash(root),
        payer: payer.uuid,
        first_hop: first_hop.uuid,
        routing: hash("routing"),
        amount: usdc(amount).into(),
        lock_until,
    };
    CosignedCommitment {
        payer: Signed::sign(fields.clone(), &owner_key(payer.agent_id)).unwrap(),
        first_hop: Signed::sign(fields, &owner_key(first_hop.agent_id)).unwrap(),
    }
}

/// An MEV incident naming `attacker`, on a transaction signed by its owner (`tx_nonce` tells
/// transactions apart).
pub(crate) fn mev(
    attacker: &Agent,
    attack_type: AttackType,
    extracted: &str,
    tx_nonce: u64,
) -> NewMevIncident {
    NewMevIncident {
        root_tx: hash(&format!("mev {extracted}")),
        attack_type,
        attacker: attacker.uuid,
        victim: None,
        extracted_value: usdc(extracted),
        block_number: 19_000_000,
        tx_index: 0,
        evidence_hash: hash("evidence"),
        attack_tx: kagami_tests::signed_transaction(&owner_key(attacker.agent_id), tx_nonce),
    }
}

/// The reporter key of watcher `n`.
pub(crate) fn reporter_key(n: u64) -> PrivateKeySigner {
    key("reporter", n)
}

/// The address of watcher `n`.
pub(crate) fn reporter_address(n: u64) -> EthAddress {
    EthAddress::from(reporter_key(n).address())
}

/// Watcher 1's report of a loop on `root` (chain `base`), with `evidence`.
pub(crate) fn report(root: Hash32, evidence: Vec<SignedPair>) -> CycleReportSubmission {
    let reporter = reporter_address(1);
    let message = CycleReport {
        chain: "base".parse().unwrap(),
        root_tx: root,
        reporter,
    }
    .message();
    CycleReportSubmission {
        root,
        reporter,
        signature: message.sign(&reporter_key(1)).unwrap(),
        chain: None,
        evidence,
    }
}

/// `agent`'s owner signature over the revocation of `manifest`.
pub(crate) fn revocation(agent: &Agent, manifest: &ManifestRecord) -> Signature {
    ManifestRevocation {
        chain: manifest.chain.clone(),
        agent: agent.uuid,
        manifest: manifest.hash,
    }
    .message()
    .sign(&owner_key(agent.agent_id))
    .unwrap()
}

/// What the store records for `pair`, citing `manifest`.
pub(crate) fn as_stored(pair: &SignedPair, manifest: &ManifestRecord) -> NewReceipt {
    let receipt = &pair.receipt;
    let r = receipt.value();
    NewReceipt {
        chain: r.chain.clone(),
        root_tx: r.root_tx,
        hop: r.hop,
        source: r.from,
        dest: r.to,
        manifest_id: manifest.id,
        manifest_hash: manifest.hash,
        order: Some(StoredOrder::of(&pair.order)),
        next_hop: r.next_hop,
        nonce: r.nonce,
        receipt_hash: receipt.id(),
        signature: *receipt.signature(),
        hop_irrational: kagami_core::graph::is_irrational_hop(r.hop, &policy()),
        computational_cost: hop_cost(Operation::Forward, r.hop).amount,
    }
}
