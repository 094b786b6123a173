//! Agents with real keys, and the signed protocol objects they send: manifests, orders and
//! receipts, revocations, cycle reports, co-signed commitments, MEV evidence. Everything is signed client-side with `PrivateKeySigner`,
//! exactly as an agent would, and sent as the wire JSON.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use kagami_core::crypto::{
    Commitment, CycleReport, EndpointManifest, EthAddress, ForwardOrder, ForwardReceipt, Hash32,
    ManifestRevocation, NextHop, PrivateKeySigner, Signable, Signature, SignedTransaction,
    Timestamp, Uuid, sha256,
};
use serde_json::{Value, json};

use crate::app::{Auth, Reply, TestApp};

pub(crate) const CHAIN: &str = "base";
pub(crate) const REGISTRY: &str = "0x8004000000000000000000000000000000008004";

/// The wall clock in whole seconds (the server stamps with the same clock).
pub(crate) fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// `now() + offset` as a protocol timestamp.
pub(crate) fn from_now(offset: i64) -> Timestamp {
    Timestamp::from_unix(now() + offset).unwrap()
}

/// A root transaction hash derived from `tag`.
pub(crate) fn root(tag: &str) -> Hash32 {
    Hash32::from(sha256(&[b"root:", tag.as_bytes()]))
}

pub(crate) fn address(key: &PrivateKeySigner) -> String {
    EthAddress::from(key.address()).to_string()
}

/// A registered agent and its two keys: the owner's (signs manifests and revocations) and the
/// operational one named in its manifests (signs its receipts).
#[derive(Debug)]
pub(crate) struct Agent {
    pub(crate) agent_id: u64,
    pub(crate) uuid: Uuid,
    pub(crate) owner: PrivateKeySigner,
    pub(crate) hot: PrivateKeySigner,
}

impl Agent {
    pub(crate) fn label(&self) -> String {
        self.uuid.to_string()
    }
}

/// The registration body of ERC-8004 agent `agent_id` owned by `owner`.
pub(crate) fn registration(agent_id: u64, owner: &PrivateKeySigner) -> Value {
    json!({
        "agent_id": agent_id,
        "chain": CHAIN,
        "registry_address": REGISTRY,
        "owner_address": address(owner),
        "token_uri": format!("ipfs://agent-{agent_id}"),
        "registration_file": { "name": format!("agent {agent_id}"), "x402": true },
    })
}

/// Registers agent `agent_id` (admin) with fresh keys and sets its stake, asserting both
/// answers.
pub(crate) async fn register(app: &TestApp, agent_id: u64, stake: &str) -> Agent {
    let owner = PrivateKeySigner::random();
    let hot = PrivateKeySigner::random();
    let body = app
        .post(
            "/api/v1/agents",
            Auth::Admin,
            &registration(agent_id, &owner),
        )
        .await
        .expect(201);
    assert_eq!(body["agent_id"], agent_id);
    assert_eq!(body["chain"], CHAIN);
    assert_eq!(body["registry_address"], REGISTRY);
    assert_eq!(body["owner_address"], address(&owner));
    assert_eq!(body["status"], "active");
    assert!(
        body["created_at"]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .is_ok(),
        "{body}"
    );
    let uuid: Uuid = body["agent_uuid"].as_str().unwrap().parse().unwrap();
    let agent = Agent {
        agent_id,
        uuid,
        owner,
        hot,
    };
    let stake_body = set_stake(app, &agent, stake).await.expect(200);
    assert_eq!(stake_body["staked_usdc"], usdc(stake));
    assert_eq!(stake_body["slashed_usdc"], "0.000000");
    assert_eq!(stake_body["available_usdc"], usdc(stake));
    agent
}

pub(crate) async fn set_stake(app: &TestApp, agent: &Agent, stake: &str) -> Reply {
    app.put(
        &format!("/api/v1/agents/{}/stake", agent.uuid),
        Auth::Admin,
        &json!({ "staked_amount_usdc": stake }),
    )
    .await
}

/// A whole-USDC amount in the wire form (six decimals).
pub(crate) fn usdc(whole: &str) -> String {
    format!("{whole}.000000")
}

/// An agent's details (`GET /api/v1/agents/{uuid}`), asserting 200.
pub(crate) async fn details(app: &TestApp, agent: &Agent) -> Value {
    app.get(&format!("/api/v1/agents/{}", agent.uuid))
        .await
        .expect(200)
}

/// A manifest signed client-side.
#[derive(Debug, Clone)]
pub(crate) struct SignedManifest {
    pub(crate) fields: EndpointManifest,
    pub(crate) signature: Signature,
}

impl SignedManifest {
    /// Its id, computed the way the protocol defines it.
    pub(crate) fn hash(&self) -> Hash32 {
        self.fields.id()
    }

    /// The publish request body.
    pub(crate) fn body(&self) -> Value {
        json!({
            "agent_uuid": self.fields.agent.to_string(),
            "endpoint_uri": self.fields.endpoint.to_string(),
            "pubkey": self.fields.pubkey.to_string(),
            "nonce": self.fields.nonce,
            "valid_from": self.fields.valid_from.to_string(),
            "valid_until": self.fields.valid_until.to_string(),
            "signature": self.signature.to_string(),
            "chain": self.fields.chain.to_string(),
        })
    }
}

/// A manifest of `agent` naming its operational key, signed by `signer`.
pub(crate) fn manifest_signed_by(
    agent: &Agent,
    signer: &PrivateKeySigner,
    nonce: u64,
    endpoint: &str,
    valid_from: Timestamp,
    valid_until: Timestamp,
) -> SignedManifest {
    let fields = EndpointManifest {
        chain: CHAIN.parse().unwrap(),
        agent: agent.uuid,
        endpoint: endpoint.parse().unwrap(),
        pubkey: address(&agent.hot).parse().unwrap(),
        nonce,
        valid_from,
        valid_until,
    };
    let signature = fields.message().sign(signer).unwrap();
    SignedManifest { fields, signature }
}

/// A manifest of `agent` signed by its owner.
pub(crate) fn manifest(
    agent: &Agent,
    nonce: u64,
    endpoint: &str,
    valid_from: Timestamp,
    valid_until: Timestamp,
) -> SignedManifest {
    manifest_signed_by(
        agent,
        &agent.owner,
        nonce,
        endpoint,
        valid_from,
        valid_until,
    )
}

pub(crate) fn endpoint(agent: &Agent) -> String {
    format!("https://agent-{}.example/x402", agent.agent_id)
}

/// Nonce 1, the agent's usual endpoint, in force from an hour ago for 20 hours.
pub(crate) fn first_manifest(agent: &Agent) -> SignedManifest {
    manifest(
        agent,
        1,
        &endpoint(agent),
        from_now(-3600),
        from_now(20 * 3600),
    )
}

pub(crate) async fn publish(app: &TestApp, manifest: &SignedManifest) -> Reply {
    app.post(
        "/api/v1/agents/manifests/publish",
        Auth::Client,
        &manifest.body(),
    )
    .await
}

/// Publishes `manifest`, asserting 201 and the hash the protocol defines; returns the body.
pub(crate) async fn published(app: &TestApp, manifest: &SignedManifest) -> Value {
    let body = publish(app, manifest).await.expect(201);
    assert_eq!(body["manifest_hash"], manifest.hash().to_string());
    assert_eq!(body["valid_from"], manifest.fields.valid_from.to_string());
    assert_eq!(body["valid_until"], manifest.fields.valid_until.to_string());
    body
}

/// Registers an agent with `stake` and publishes its first manifest.
pub(crate) async fn ready_agent(
    app: &TestApp,
    agent_id: u64,
    stake: &str,
) -> (Agent, SignedManifest) {
    let agent = register(app, agent_id, stake).await;
    let m = first_manifest(&agent);
    let body = published(app, &m).await;
    assert_eq!(body["status"], "active");
    assert_eq!(body["flip"], Value::Null);
    (agent, m)
}

/// One hop of protocol v2, signed client-side: the payer's order and the destination's
/// receipt v2 naming it.
#[derive(Debug, Clone)]
pub(crate) struct SignedPair {
    pub(crate) order: ForwardOrder,
    pub(crate) order_signature: Signature,
    pub(crate) receipt: ForwardReceipt,
    pub(crate) receipt_signature: Signature,
}

impl SignedPair {
    /// Signs `order` with `payer` and a receipt of it (committing to `next_hop`, with
    /// `receipt_nonce`) with `destination`.
    pub(crate) fn sign(
        order: ForwardOrder,
        payer: &PrivateKeySigner,
        next_hop: Option<Hash32>,
        receipt_nonce: u64,
        destination: &PrivateKeySigner,
    ) -> Self {
        let receipt = ForwardReceipt::for_order(&order, next_hop, receipt_nonce);
        Self {
            order_signature: order.message().sign(payer).unwrap(),
            receipt_signature: receipt.message().sign(destination).unwrap(),
            order,
            receipt,
        }
    }

    /// The receipt's id (what the service calls the receipt hash).
    pub(crate) fn hash(&self) -> Hash32 {
        self.receipt.id()
    }

    /// The order's id.
    pub(crate) fn order_hash(&self) -> Hash32 {
        self.order.id()
    }

    /// The same pair with the receipt signed by `signer` instead.
    pub(crate) fn receipt_signed_by(&self, signer: &PrivateKeySigner) -> Self {
        Self {
            receipt_signature: self.receipt.message().sign(signer).unwrap(),
            ..self.clone()
        }
    }

    /// The same pair with the order signed by `signer` instead.
    pub(crate) fn order_signed_by(&self, signer: &PrivateKeySigner) -> Self {
        Self {
            order_signature: self.order.message().sign(signer).unwrap(),
            ..self.clone()
        }
    }

    /// The order's wire body.
    pub(crate) fn order_body(&self) -> Value {
        let o = &self.order;
        json!({
            "chain": o.chain.to_string(),
            "root_tx_hash": o.root_tx.to_string(),
            "hop": o.hop,
            "source_agent_uuid": o.from.to_string(),
            "dest_agent_uuid": o.to.to_string(),
            "manifest_hash": o.manifest.to_string(),
            "amount_usdc": o.amount.to_string(),
            "order_nonce": o.nonce,
            "signature": self.order_signature.to_string(),
        })
    }

    /// The receipt's wire body (the v2 receipt, naming its order).
    pub(crate) fn receipt_body(&self) -> Value {
        let r = &self.receipt;
        json!({
            "root_tx_hash": r.root_tx.to_string(),
            "source_agent_uuid": r.from.to_string(),
            "dest_agent_uuid": r.to.to_string(),
            "hop": r.hop,
            "manifest_hash": r.manifest.to_string(),
            "order_hash": r.order.map(|h| h.to_string()),
            "next_hop_hash": r.next_hop.map(|h| h.to_string()),
            "receipt_nonce": r.nonce,
            "signature": self.receipt_signature.to_string(),
            "chain": r.chain.to_string(),
        })
    }

    /// The record-forward body (also one evidence item of a cycle report).
    pub(crate) fn body(&self) -> Value {
        json!({ "order": self.order_body(), "receipt": self.receipt_body() })
    }
}

/// The commitment `to` makes in a receipt: it will forward `root` to `next`.
pub(crate) fn next_hop(root: Hash32, next: &Agent) -> Hash32 {
    NextHop {
        root_tx: root,
        to: next.uuid,
    }
    .id()
}

/// A fresh order nonce (unique in this test process).
pub(crate) fn order_nonce() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The order of `from → to` at `hop` for `amount` USDC, citing `to_manifest`.
pub(crate) fn order(
    root: Hash32,
    hop: u32,
    from: &Agent,
    to: &Agent,
    to_manifest: &SignedManifest,
    amount: &str,
) -> ForwardOrder {
    ForwardOrder {
        chain: CHAIN.parse().unwrap(),
        root_tx: root,
        hop,
        from: from.uuid,
        to: to.uuid,
        manifest: to_manifest.hash(),
        amount: amount.parse().unwrap(),
        nonce: order_nonce(),
    }
}

/// The hop `from → to` at `hop`, citing `to_manifest`, for 1 USDC: the order signed by
/// `from`'s operational key, the receipt (committing to `next`, or to nothing) by `to`'s.
pub(crate) fn pair(
    root: Hash32,
    hop: u32,
    from: &Agent,
    to: &Agent,
    to_manifest: &SignedManifest,
    next: Option<&Agent>,
    nonce: u64,
) -> SignedPair {
    SignedPair::sign(
        order(root, hop, from, to, to_manifest, "1.000000"),
        &from.hot,
        next.map(|n| next_hop(root, n)),
        nonce,
        &to.hot,
    )
}

pub(crate) async fn record(app: &TestApp, pair: &SignedPair) -> Reply {
    app.post(
        "/api/v1/agents/manifests/record-forward",
        Auth::Client,
        &pair.body(),
    )
    .await
}

/// Records `pair`, asserting 201 and its protocol hashes; returns the body.
pub(crate) async fn recorded(app: &TestApp, pair: &SignedPair) -> Value {
    let body = record(app, pair).await.expect(201);
    assert_eq!(body["receipt_hash"], pair.hash().to_string());
    assert_eq!(body["order_hash"], pair.order_hash().to_string());
    assert_eq!(body["hop_irrational"], false);
    body
}

/// The verify-forward body for paying `to` (whose manifest is `m`) from `from`.
pub(crate) fn verify_body(root: Hash32, from: &Agent, to: &Agent, m: &SignedManifest) -> Value {
    json!({
        "root_tx_hash": root.to_string(),
        "source_agent_uuid": from.uuid.to_string(),
        "dest_agent_uuid": to.uuid.to_string(),
        "manifest_hash": m.hash().to_string(),
        "manifest_nonce": m.fields.nonce,
        "manifest_signature": m.signature.to_string(),
    })
}

/// Runs verify-forward (public), asserting 200; returns the verdict.
pub(crate) async fn verify(
    app: &TestApp,
    root: Hash32,
    from: &Agent,
    to: &Agent,
    m: &SignedManifest,
) -> Value {
    app.post(
        "/api/v1/agents/manifests/verify-forward",
        Auth::Public,
        &verify_body(root, from, to, m),
    )
    .await
    .expect(200)
}

/// The owner-signed revocation body of `m`.
pub(crate) fn revocation(agent: &Agent, m: &SignedManifest, signer: &PrivateKeySigner) -> Value {
    let message = ManifestRevocation {
        chain: CHAIN.parse().unwrap(),
        agent: agent.uuid,
        manifest: m.hash(),
    }
    .message();
    json!({
        "agent_uuid": agent.uuid.to_string(),
        "manifest_hash": m.hash().to_string(),
        "signature": message.sign(signer).unwrap().to_string(),
    })
}

/// A cycle report on `root` credited to `reporter`, signed by `signer`, with `evidence`.
pub(crate) fn cycle_report(
    root: Hash32,
    reporter: &PrivateKeySigner,
    signer: &PrivateKeySigner,
    evidence: &[&SignedPair],
) -> Value {
    let reporter_address: EthAddress = EthAddress::from(reporter.address());
    let message = CycleReport {
        chain: CHAIN.parse().unwrap(),
        root_tx: root,
        reporter: reporter_address,
    }
    .message();
    json!({
        "root_tx_hash": root.to_string(),
        "reporter_address": reporter_address.to_string(),
        "signature": message.sign(signer).unwrap().to_string(),
        "evidence": evidence.iter().map(|r| r.body()).collect::<Vec<_>>(),
    })
}

/// A commitment of `payer`'s payment `root` through `first_hop`, locked until `lock_until`.
pub(crate) fn commitment(
    root: Hash32,
    payer: &Agent,
    first_hop: &Agent,
    amount: &str,
    lock_until: Timestamp,
) -> Commitment {
    Commitment {
        chain: CHAIN.parse().unwrap(),
        root_tx: root,
        payer: payer.uuid,
        first_hop: first_hop.uuid,
        routing: Hash32::from(sha256(&[b"routing:", root.to_string().as_bytes()])),
        amount: amount.parse().unwrap(),
        lock_until,
    }
}

/// The create-commitment body of `c`, signed by `payer_key` and `first_hop_key`.
pub(crate) fn commitment_body(
    c: &Commitment,
    payer_key: &PrivateKeySigner,
    first_hop_key: &PrivateKeySigner,
) -> Value {
    let message = c.message();
    json!({
        "chain": c.chain.to_string(),
        "root_tx_hash": c.root_tx.to_string(),
        "payer_agent_uuid": c.payer.to_string(),
        "first_hop_agent_uuid": c.first_hop.to_string(),
        "routing_hash": c.routing.to_string(),
        "amount_usdc": c.amount.to_string(),
        "lock_until": c.lock_until.to_string(),
        "payer_signature": message.sign(payer_key).unwrap().to_string(),
        "first_hop_signature": message.sign(first_hop_key).unwrap().to_string(),
    })
}

/// An MEV incident naming `attacker` and the transaction `attack_tx`.
pub(crate) fn mev_incident(
    attacker: &Agent,
    extracted: &str,
    attack_tx: &SignedTransaction,
) -> Value {
    json!({
        "root_tx_hash": root(&format!("mev-{}", attack_tx.hash)).to_string(),
        "attack_type": "frontrun",
        "attacker_agent_uuid": attacker.uuid.to_string(),
        "extracted_value_usdc": extracted,
        "block_number": 19_000_000,
        "tx_index": 4,
        "evidence_hash": Hash32::from(sha256(&[b"evidence"])).to_string(),
        "attack_tx": attack_tx.to_hex(),
    })
}

/// The ledger (public), asserting 200 and that it balances.
pub(crate) async fn ledger(app: &TestApp) -> Value {
    let body = app.get("/api/v1/ledger?limit=1000").await.expect(200);
    assert_eq!(body["balanced"], true, "{body}");
    assert_eq!(body["unbalanced_causes"], json!([]), "{body}");
    body
}

/// An agent's stake figures: (staked, slashed, available).
pub(crate) async fn stake_of(app: &TestApp, agent: &Agent) -> (String, String, String) {
    let d = details(app, agent).await;
    let s = &d["stake"];
    (
        s["staked_usdc"].as_str().unwrap().to_owned(),
        s["slashed_usdc"].as_str().unwrap().to_owned(),
        s["available_usdc"].as_str().unwrap().to_owned(),
    )
}

/// The forward trail of `root`, asserting 200.
pub(crate) async fn trail(app: &TestApp, root: Hash32) -> Value {
    app.get(&format!("/api/v1/forwards/{root}"))
        .await
        .expect(200)
}

/// The strings of a JSON array, sorted (for sets such as `cycle_agents`).
pub(crate) fn sorted(value: &Value) -> Vec<String> {
    let mut items: Vec<String> = value
        .as_array()
        .unwrap_or_else(|| panic!("expected an array, got {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    items.sort();
    items
}

/// The sorted uuids of `agents`.
pub(crate) fn uuids(agents: &[&Agent]) -> Vec<String> {
    let mut items: Vec<String> = agents.iter().map(|a| a.uuid.to_string()).collect();
    items.sort();
    items
}
