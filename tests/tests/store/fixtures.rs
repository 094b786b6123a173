//! Builders for the conformance cases: agents with deterministic keys, signed manifests and
//! receipts, fixed times.

use std::sync::Arc;

use kagami_core::{
    EndpointUri, ManifestRecord, Policy, Usdc,
    crypto::{
        B256, EndpointManifest, EthAddress, ForwardReceipt, Hash32, NextHop, PrivateKeySigner,
        Signable, Timestamp, Uuid, sha256,
    },
    settlement::{Operation, hop_cost},
};
use kagami_store::{Agent, NewAgent, NewManifest, NewReceipt, Store};

/// 2026-01-16T00:00:00Z, the suite's "now".
pub(crate) const T0: i64 = 1_768_521_600;

pub(crate) fn t(offset: i64) -> Timestamp {
    Timestamp::from_unix(T0 + offset).unwrap()
}

pub(crate) fn now() -> Timestamp {
    t(0)
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
pub(crate) async fn agent(store: &Arc<dyn Store>, n: u64, stake: &str) -> Agent {
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
) -> NewManifest {
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
) -> NewManifest {
    let fields = EndpointManifest {
        chain: agent.chain.clone(),
        agent: agent.uuid,
        endpoint: endpoint.parse().unwrap(),
        pubkey: EthAddress::from(hot.address()).to_string().parse().unwrap(),
        nonce,
        valid_from: from,
        valid_until: until,
    };
    let message = fields.message();
    let signature = message.sign(&owner_key(agent.agent_id)).unwrap();
    NewManifest {
        record: ManifestRecord {
            id: Uuid::nil(),
            hash: message.id(),
            agent: agent.uuid,
            chain: fields.chain.clone(),
            endpoint: EndpointUri::parse(endpoint, &policy()).unwrap(),
            pubkey: fields.pubkey.clone(),
            nonce,
            valid_from: from,
            valid_until: until,
            signature,
            created_at: now(),
            revoked_at: None,
        },
    }
}

/// Publishes a day-long manifest for `agent` starting an hour ago.
pub(crate) async fn published(store: &Arc<dyn Store>, agent: &Agent) -> ManifestRecord {
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

/// A receipt `from → to` at `hop` citing `to`'s manifest, committing to `next` (or none),
/// signed by `to`'s operational key.
pub(crate) fn receipt(
    root: Hash32,
    hop: u32,
    from: &Agent,
    to: &Agent,
    to_manifest: &ManifestRecord,
    next: Option<&Agent>,
    nonce: u64,
) -> NewReceipt {
    let fields = ForwardReceipt {
        chain: to.chain.clone(),
        root_tx: root,
        hop,
        from: from.uuid,
        to: to.uuid,
        manifest: to_manifest.hash,
        next_hop: next.map(|n| {
            NextHop {
                root_tx: root,
                to: n.uuid,
            }
            .id()
        }),
        nonce,
    };
    let message = fields.message();
    let policy = policy();
    let cost = hop_cost(Operation::Forward, hop);
    NewReceipt {
        chain: fields.chain.clone(),
        root_tx: root,
        hop,
        source: from.uuid,
        dest: to.uuid,
        manifest_id: to_manifest.id,
        manifest_hash: to_manifest.hash,
        next_hop: fields.next_hop,
        nonce,
        receipt_hash: message.id(),
        signature: message.sign(&hot_key(to.agent_id)).unwrap(),
        hop_irrational: kagami_core::graph::is_irrational_hop(hop, &policy),
        computational_cost: cost.amount,
    }
}
