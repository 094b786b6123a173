//! SQLite-specific tests: opening and migrating, the schema's own guards, and error
//! classification. The use cases themselves are covered by the conformance suite
//! (`tests/tests/store`), which runs on both backends; one smoke test here walks the main
//! path so this module stands on its own.

use std::{path::PathBuf, time::Duration};

use rusqlite::types::Value;

use kagami_core::{
    EndpointUri, ManifestRecord, Policy, Usdc,
    crypto::{
        B256, Chain, EndpointManifest, EthAddress, ForwardReceipt, Hash32, NextHop,
        PrivateKeySigner, Signable, Timestamp, Uuid, sha256,
    },
};

use super::SqliteStore;
use crate::{
    Agent, NewAgent, NewManifest, NewReceipt, RecordOutcome, Rejection, Store, StoreError,
};

const T0: i64 = 1_768_521_600;

fn t(offset: i64) -> Timestamp {
    Timestamp::from_unix(T0 + offset).unwrap()
}

fn hash(tag: &str) -> Hash32 {
    Hash32::from(sha256(&[tag.as_bytes()]))
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("kagami-sqlite-{}", Uuid::new_v4().simple())))
    }

    fn db(&self) -> PathBuf {
        self.0.join("nested").join("kagami.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn signer(tag: &str, n: u64) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::from(sha256(&[tag.as_bytes(), &n.to_be_bytes()]))).unwrap()
}

async fn agent(store: &SqliteStore, n: u64, stake: &str) -> Agent {
    let agent = store
        .register_agent(
            NewAgent {
                agent_id: n,
                chain: "base".parse().unwrap(),
                registry_address: "0x8004000000000000000000000000000000008004"
                    .parse()
                    .unwrap(),
                owner_address: EthAddress::from(signer("owner", n).address()),
                token_uri: None,
                registration_file: None,
            },
            t(0),
        )
        .await
        .unwrap();
    store
        .set_stake(agent.uuid, stake.parse().unwrap(), t(0))
        .await
        .unwrap();
    agent
}

fn manifest(agent: &Agent, nonce: u64, endpoint: &str) -> NewManifest {
    let fields = EndpointManifest {
        chain: agent.chain.clone(),
        agent: agent.uuid,
        endpoint: endpoint.parse().unwrap(),
        pubkey: EthAddress::from(signer("hot", agent.agent_id).address())
            .to_string()
            .parse()
            .unwrap(),
        nonce,
        valid_from: t(-60),
        valid_until: t(3600),
    };
    let message = fields.message();
    NewManifest {
        record: ManifestRecord {
            id: Uuid::nil(),
            hash: message.id(),
            agent: agent.uuid,
            chain: fields.chain.clone(),
            endpoint: EndpointUri::parse(endpoint, &Policy::default()).unwrap(),
            pubkey: fields.pubkey.clone(),
            nonce,
            valid_from: fields.valid_from,
            valid_until: fields.valid_until,
            signature: message.sign(&signer("owner", agent.agent_id)).unwrap(),
            created_at: t(0),
            revoked_at: None,
        },
    }
}

async fn published(store: &SqliteStore, agent: &Agent) -> ManifestRecord {
    let endpoint = format!("https://agent-{}.example/x402", agent.agent_id);
    store
        .publish_manifest(manifest(agent, 1, &endpoint), t(0), &Policy::default())
        .await
        .unwrap()
        .manifest
}

fn receipt(
    root: Hash32,
    hop: u32,
    (from, to): (&Agent, &Agent),
    to_manifest: &ManifestRecord,
    next: Option<&Agent>,
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
        nonce: 1,
    };
    let message = fields.message();
    NewReceipt {
        chain: fields.chain.clone(),
        root_tx: root,
        hop,
        source: from.uuid,
        dest: to.uuid,
        manifest_id: to_manifest.id,
        manifest_hash: to_manifest.hash,
        next_hop: fields.next_hop,
        nonce: 1,
        receipt_hash: message.id(),
        signature: message.sign(&signer("hot", to.agent_id)).unwrap(),
        hop_irrational: false,
        computational_cost: "0.005".parse().unwrap(),
    }
}

fn usdc(s: &str) -> Usdc {
    s.parse().unwrap()
}

#[tokio::test]
async fn register_publish_record_settle_and_report_smoke() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.db()).unwrap();
    let [a, b, c] = [
        agent(&store, 1, "1000").await,
        agent(&store, 2, "1000").await,
        agent(&store, 3, "1000").await,
    ];
    let (ma, mb, mc) = (
        published(&store, &a).await,
        published(&store, &b).await,
        published(&store, &c).await,
    );
    let replay = store
        .publish_manifest(
            manifest(&a, 1, "https://agent-1.example/x402"),
            t(9),
            &Policy::default(),
        )
        .await
        .unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.manifest, ma);

    // A→B→C→A on one root: the closing receipt settles the cycle.
    let root = hash("root");
    for r in [
        receipt(root, 0, (&a, &b), &mb, Some(&c)),
        receipt(root, 1, (&b, &c), &mc, Some(&a)),
    ] {
        let out = store
            .record_receipt(r, t(0), &Policy::default())
            .await
            .unwrap();
        assert!(
            matches!(
                out,
                RecordOutcome::Recorded {
                    replayed: false,
                    ..
                }
            ),
            "{out:?}"
        );
    }
    assert_eq!(
        store.stake(b.uuid, t(0)).await.unwrap().unwrap().locked,
        usdc("100")
    );
    let out = store
        .record_receipt(
            receipt(root, 2, (&c, &a), &ma, None),
            t(1),
            &Policy::default(),
        )
        .await
        .unwrap();
    let RecordOutcome::Settled {
        settlement,
        slashes,
        ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(settlement.total_slashed, usdc("900"));
    assert_eq!(slashes.len(), 3);
    let trail = store.forward_trail(&root).await.unwrap();
    assert_eq!(
        trail.slashes, slashes,
        "the trail lists the slashes in plan order"
    );
    assert_eq!(
        store.stake(b.uuid, t(1)).await.unwrap().unwrap().locked,
        Usdc::ZERO
    );

    // The same loop reported on another root, as evidence only, earns a bounty.
    let other = hash("other");
    let evidence = vec![
        NewReceipt {
            nonce: 11,
            ..receipt(other, 0, (&a, &b), &mb, Some(&c))
        },
        NewReceipt {
            nonce: 12,
            ..receipt(other, 1, (&b, &c), &mc, Some(&a))
        },
        NewReceipt {
            nonce: 13,
            ..receipt(other, 2, (&c, &a), &ma, None)
        },
    ];
    // Receipt hashes are over the signed fields, which include the nonce: re-hash.
    let evidence: Vec<NewReceipt> = evidence
        .into_iter()
        .map(|r| NewReceipt {
            receipt_hash: hash(&format!("evidence {}", r.nonce)),
            ..r
        })
        .collect();
    let reporter: EthAddress = "0x00000000000000000000000000000000000000aa"
        .parse()
        .unwrap();
    let (settlement, slashes) = store
        .report_cycle(&other, &reporter, evidence, t(2))
        .await
        .unwrap();
    assert_eq!(settlement.reporter, Some(reporter));
    assert!(settlement.bounty.is_some());
    assert_eq!(slashes.len(), 3);
    // 30 % of the 700 left.
    assert_eq!(slashes[0].amount, usdc("210"));
}

#[tokio::test]
async fn reopening_keeps_data_and_does_not_migrate_twice() {
    let dir = TempDir::new();
    let uuid = {
        let store = SqliteStore::open(&dir.db()).unwrap();
        agent(&store, 1, "5").await.uuid
    };
    let store = SqliteStore::open(&dir.db()).unwrap();
    assert_eq!(store.agent(uuid).await.unwrap().unwrap().uuid, uuid);
    let (journal, foreign_keys, synchronous, migrations) = store
        .with_conn(|conn| {
            let q = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, Value>(0));
            Ok((
                q("PRAGMA journal_mode").unwrap(),
                q("PRAGMA foreign_keys").unwrap(),
                q("PRAGMA synchronous").unwrap(),
                q("SELECT count(*) FROM refinery_schema_history").unwrap(),
            ))
        })
        .await
        .unwrap();
    assert_eq!(journal, Value::Text("wal".to_owned()));
    assert_eq!(foreign_keys, Value::Integer(1));
    assert_eq!(synchronous, Value::Integer(1), "NORMAL");
    assert_eq!(migrations, Value::Integer(1));
    assert_eq!(store.pool_status(), (1, 1));
    assert_eq!(store.backend(), "sqlite");
    store.ping().await.unwrap();
}

#[tokio::test]
async fn schema_has_the_named_indexes_and_the_churn_view() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.db()).unwrap();
    let a = agent(&store, 1, "0").await;
    published(&store, &a).await;
    let (indexes, churn) = store
        .with_conn(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT name FROM sqlite_schema WHERE type = 'index' \
                     AND tbl_name = 'erc8004_endpoint_manifests' AND name LIKE 'idx_%' ORDER BY name",
                )
                .unwrap();
            let indexes: Vec<String> =
                stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
            // The view is over the last 24 h of the database clock; the fixture's times are
            // fixed, so only check that it runs.
            let churn: i64 = conn
                .query_row("SELECT count(*) FROM v_forward_path_churn_metrics", [], |r| r.get(0))
                .unwrap();
            Ok((indexes, churn))
        })
        .await
        .unwrap();
    assert_eq!(
        indexes,
        [
            "idx_manifests_agent",
            "idx_manifests_hash",
            "idx_manifests_nonce",
            "idx_manifests_status"
        ]
    );
    assert!(churn >= 0);
}

#[tokio::test]
async fn schema_refuses_what_the_domain_forbids() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.db()).unwrap();
    let a = agent(&store, 1, "10").await;
    let id = a.uuid.to_string();
    let failures = store
        .with_conn(move |conn| {
            let attempts = [
                format!("UPDATE erc8004_agent_stakes SET slashed = staked + 1 WHERE agent_uuid = '{id}'"),
                format!("UPDATE erc8004_agent_stakes SET staked = -1, slashed = -1 WHERE agent_uuid = '{id}'"),
                format!("UPDATE erc8004_agents SET status = 'gone' WHERE id = '{id}'"),
                format!("UPDATE erc8004_agents SET owner_address = '0xABCDEF0000000000000000000000000000000000' WHERE id = '{id}'"),
                format!("UPDATE erc8004_agents SET agent_id = 0 WHERE id = '{id}'"),
                format!("UPDATE erc8004_agents SET created_at = 'yesterday' WHERE id = '{id}'"),
                format!(
                    "INSERT INTO erc8004_mev_incidents VALUES ('{}', '{}', 'frontrun', '{id}', NULL, 0, 0, 0, '{}', 0, 0)",
                    Uuid::new_v4(),
                    hash("r"),
                    hash("e"),
                ),
                format!(
                    "INSERT INTO erc8004_slashes VALUES ('{}', '{id}', 5, 'mev_incident', NULL, NULL, NULL, 0)",
                    Uuid::new_v4()
                ),
                format!(
                    "INSERT INTO erc8004_stake_utilization VALUES ('{}', '{}', '{}', 1, 0, 1, NULL)",
                    Uuid::new_v4(),
                    Uuid::new_v4(),
                    hash("r")
                ),
            ];
            Ok(attempts.map(|sql| conn.execute(&sql, []).is_err()))
        })
        .await
        .unwrap();
    assert_eq!(failures, [true; 9], "each statement must be refused");
    let stake = store.stake(a.uuid, t(0)).await.unwrap().unwrap();
    assert_eq!((stake.staked, stake.slashed), (usdc("10"), Usdc::ZERO));
}

#[tokio::test]
async fn a_receipt_citing_an_unknown_manifest_is_not_found_and_writes_nothing() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.db()).unwrap();
    let (a, b) = (
        agent(&store, 1, "1000").await,
        agent(&store, 2, "1000").await,
    );
    let mb = ManifestRecord {
        id: Uuid::new_v4(),
        ..published(&store, &b).await
    };
    let root = hash("root");
    let err = store
        .record_receipt(
            receipt(root, 0, (&a, &b), &mb, None),
            t(0),
            &Policy::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "manifest" }),
        "{err:?}"
    );
    let ghost = Agent {
        uuid: Uuid::new_v4(),
        ..b.clone()
    };
    let err = store
        .record_receipt(
            receipt(root, 0, (&a, &ghost), &mb, None),
            t(0),
            &Policy::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "agent" }),
        "{err:?}"
    );
    assert!(
        store
            .forward_trail(&root)
            .await
            .unwrap()
            .receipts
            .is_empty()
    );
    assert_eq!(
        store.stake(b.uuid, t(0)).await.unwrap().unwrap().locked,
        Usdc::ZERO
    );
}

#[tokio::test]
async fn a_root_without_a_settlement_reports_no_loop() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.db()).unwrap();
    let reporter: EthAddress = "0x00000000000000000000000000000000000000aa"
        .parse()
        .unwrap();
    let err = store
        .report_cycle(&hash("empty"), &reporter, Vec::new(), t(0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Rejected(Rejection::NoLoop)),
        "{err:?}"
    );
}

#[test]
fn a_path_that_cannot_be_created_is_unavailable() {
    let dir = TempDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("plain-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let err = SqliteStore::open(&file.join("kagami.db")).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[test]
fn a_file_that_is_not_a_database_is_internal() {
    let dir = TempDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("kagami.db");
    std::fs::write(&file, vec![b'x'; 4096]).unwrap();
    let err = SqliteStore::open(&file).unwrap_err();
    assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
}

#[tokio::test]
async fn a_database_locked_by_another_writer_is_unavailable_after_the_busy_timeout() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.db()).unwrap();
    store
        .with_conn(|conn| {
            conn.busy_timeout(Duration::from_millis(50))
                .map_err(StoreError::internal)
        })
        .await
        .unwrap();
    let other = rusqlite::Connection::open(dir.db()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let chain: Chain = "base".parse().unwrap();
    let err = store
        .register_agent(
            NewAgent {
                agent_id: 1,
                chain,
                registry_address: "0x8004000000000000000000000000000000008004"
                    .parse()
                    .unwrap(),
                owner_address: "0x8004000000000000000000000000000000008004"
                    .parse()
                    .unwrap(),
                token_uri: None,
                registration_file: None,
            },
            t(0),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    other.execute_batch("ROLLBACK").unwrap();
    agent(&store, 1, "0").await;
}

#[tokio::test]
async fn evidence_of_another_root_is_ignored() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.db()).unwrap();
    let [a, b] = [
        agent(&store, 1, "1000").await,
        agent(&store, 2, "1000").await,
    ];
    let (ma, mb) = (published(&store, &a).await, published(&store, &b).await);
    let root = hash("root");
    store
        .record_receipt(
            receipt(root, 0, (&a, &b), &mb, Some(&a)),
            t(0),
            &Policy::default(),
        )
        .await
        .unwrap();
    let reporter: EthAddress = "0x00000000000000000000000000000000000000aa"
        .parse()
        .unwrap();
    // B→A would close the cycle, but it belongs to another root.
    let elsewhere = receipt(hash("elsewhere"), 1, (&b, &a), &ma, None);
    let err = store
        .report_cycle(&root, &reporter, vec![elsewhere.clone()], t(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Rejected(Rejection::NoLoop)),
        "{err:?}"
    );
    assert_eq!(store.forward_trail(&root).await.unwrap().receipts.len(), 1);
    assert!(
        store
            .forward_trail(&hash("elsewhere"))
            .await
            .unwrap()
            .receipts
            .is_empty()
    );
    // The same receipt on this root settles it.
    let here = receipt(root, 1, (&b, &a), &ma, None);
    let (settlement, _) = store
        .report_cycle(&root, &reporter, vec![here], t(1))
        .await
        .unwrap();
    assert_eq!(settlement.cycle_agents, vec![a.uuid, b.uuid]);
}
