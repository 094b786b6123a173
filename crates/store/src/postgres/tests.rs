//! Smoke tests against a real PostgreSQL (`DATABASE_URL`, default the local cluster). Each
//! test migrates its own database and drops it afterwards. Where PostgreSQL is unreachable
//! the database tests are skipped with a message, except in CI (`CI` set), where that fails.
//! The full behaviour is covered by the conformance suite in `tests/tests/store`.

use std::{sync::Arc, time::Duration};

use kagami_core::{
    EndpointUri, ManifestRecord, Policy, Usdc,
    crypto::{
        B256, EndpointManifest, EthAddress, ForwardReceipt, Hash32, NextHop, PrivateKeySigner,
        Signable, Timestamp, Uuid, sha256,
    },
};
use tokio_postgres::NoTls;

use super::*;
use crate::{RecordOutcome, Rejection};

const T0: i64 = 1_768_521_600;

fn t(offset: i64) -> Timestamp {
    Timestamp::from_unix(T0 + offset).unwrap()
}

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// A migrated database of its own; dropped by [`TestDb::drop_database`].
struct TestDb {
    config: PostgresConfig,
    name: String,
}

impl TestDb {
    async fn create() -> Option<Self> {
        let admin = match tokio_postgres::connect(&database_url(), NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                client
            }
            Err(e) if !in_ci() => {
                eprintln!(
                    "PostgreSQL unreachable at {} ({e}); skipping",
                    database_url()
                );
                return None;
            }
            Err(e) => panic!("PostgreSQL unreachable at {} in CI: {e}", database_url()),
        };
        let name = format!("kagami_store_unit_{}", Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let mut config = PostgresConfig::from_url(&database_url())
            .unwrap()
            .with_database(&name);
        config.pool_min_size = 2;
        config.pool_max_size = 8;
        Some(Self { config, name })
    }

    async fn drop_database(self) {
        let (admin, connection) = tokio_postgres::connect(&database_url(), NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .unwrap();
    }
}

fn signer(purpose: &str, n: u64) -> PrivateKeySigner {
    let seed = sha256(&[purpose.as_bytes(), &n.to_be_bytes()]);
    PrivateKeySigner::from_bytes(&B256::from(seed)).unwrap()
}

fn new_agent(n: u64) -> NewAgent {
    NewAgent {
        agent_id: n,
        chain: "base".parse().unwrap(),
        registry_address: "0x8004000000000000000000000000000000008004"
            .parse()
            .unwrap(),
        owner_address: EthAddress::from(signer("owner", n).address()),
        token_uri: None,
        registration_file: Some(serde_json::json!({ "name": format!("agent {n}") })),
    }
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

fn receipt(
    root: Hash32,
    hop: u32,
    from: &Agent,
    to: &Agent,
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

#[tokio::test]
async fn migrations_apply_once_and_detect_edited_history() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let applied = migrate(&db.config).await.unwrap();
    assert_eq!(
        applied,
        vec![MigrationInfo {
            version: 1,
            name: "schema".to_owned()
        }]
    );
    assert!(migrate(&db.config).await.unwrap().is_empty());
    let status = migration_status(&db.config).await.unwrap();
    assert_eq!((status.applied.len(), status.pending.len()), (1, 0));
    let store = PostgresStore::connect(&db.config).await.unwrap();
    assert!(store.pending_migrations().await.unwrap().is_empty());
    store.close();

    let (client, connection) = db.config.connection_config().connect(NoTls).await.unwrap();
    let driver = tokio::spawn(connection);
    client
        .batch_execute("UPDATE refinery_schema_history SET checksum = '1'")
        .await
        .unwrap();
    drop(client);
    driver.await.unwrap().unwrap();
    let err = migration_status(&db.config).await.unwrap_err();
    assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
    assert!(format!("{:?}", err).contains("differs from the embedded one"));
    assert!(matches!(
        migrate(&db.config).await.unwrap_err(),
        StoreError::Internal(_)
    ));
    db.drop_database().await;
}

#[tokio::test]
async fn pending_migrations_are_listed_on_an_empty_database() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let status = migration_status(&db.config).await.unwrap();
    assert!(status.applied.is_empty());
    assert_eq!(status.pending.len(), 1);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_publish_record_and_settle_a_cycle() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    migrate(&db.config).await.unwrap();
    let store = Arc::new(PostgresStore::connect(&db.config).await.unwrap());
    let policy = Policy::default();

    let mut trio = Vec::new();
    for n in 1..=3 {
        let agent = store.register_agent(new_agent(n), t(0)).await.unwrap();
        store
            .set_stake(agent.uuid, "1000".parse().unwrap(), t(0))
            .await
            .unwrap();
        let published = store
            .publish_manifest(
                manifest(&agent, 1, &format!("https://agent-{n}.example/pay")),
                t(0),
                &policy,
            )
            .await
            .unwrap();
        assert!(!published.replayed);
        trio.push((agent, published.manifest));
    }
    let conflict = store.register_agent(new_agent(1), t(0)).await.unwrap_err();
    assert!(
        matches!(&conflict, StoreError::Conflict { constraint } if constraint == "uq_agents_registry"),
        "{conflict:?}"
    );
    assert_eq!(
        store.agent(trio[0].0.uuid).await.unwrap(),
        Some(trio[0].0.clone())
    );

    let root = Hash32::from(sha256(&[b"root"]));
    let [(a, ma), (b, mb), (c, mc)] = [&trio[0], &trio[1], &trio[2]].map(|(x, m)| (x, m));
    for r in [
        receipt(root, 0, a, b, mb, Some(c)),
        receipt(root, 1, b, c, mc, Some(a)),
    ] {
        let out = store.record_receipt(r, t(1), &policy).await.unwrap();
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
        store.stake(b.uuid, t(1)).await.unwrap().unwrap().locked,
        "100".parse::<Usdc>().unwrap()
    );
    let out = store
        .record_receipt(receipt(root, 2, c, a, ma, None), t(2), &policy)
        .await
        .unwrap();
    let RecordOutcome::Settled {
        settlement,
        slashes,
        ..
    } = out
    else {
        panic!("expected a settlement, got {out:?}")
    };
    assert_eq!(settlement.total_slashed, "900".parse().unwrap());
    assert_eq!(slashes.len(), 3);
    assert_eq!(
        store.settlement_of(&root).await.unwrap(),
        Some(settlement.clone())
    );
    let trail = store.forward_trail(&root).await.unwrap();
    assert_eq!(trail.receipts.len(), 3);
    assert!(trail.receipts.iter().all(|r| !r.is_valid));
    for agent in [a, b, c] {
        let stake = store.stake(agent.uuid, t(2)).await.unwrap().unwrap();
        assert_eq!(
            (stake.slashed, stake.locked),
            ("300".parse().unwrap(), Usdc::ZERO)
        );
    }
    let again = store
        .record_receipt(receipt(root, 0, a, c, mc, None), t(3), &policy)
        .await;
    // C's nonce 1 is taken by the hop-1 receipt, which is checked before the settlement.
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );
    let err = store
        .set_stake(a.uuid, "299".parse().unwrap(), t(3))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Rejected(Rejection::StakeBelowSlashed { .. })
    ));

    store.refresh_flip_metrics().await.unwrap();
    let (metrics, _) = store.flip_metrics(a.uuid, t(3)).await.unwrap();
    assert_eq!(metrics.total_flips, 0);
    assert!(store.pool_status().0 >= 1);
    store.ping().await.unwrap();
    store.close();
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    db.drop_database().await;
}

#[tokio::test]
async fn money_is_exact_up_to_the_largest_amount() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    migrate(&db.config).await.unwrap();
    let store = PostgresStore::connect(&db.config).await.unwrap();
    let agent = store.register_agent(new_agent(1), t(0)).await.unwrap();
    for micros in [
        1,
        999_999,
        123_456_789_012_345,
        1_000_000_000_000_001,
        i64::MAX,
    ] {
        let amount = Usdc::from_micros(micros).unwrap();
        store.set_stake(agent.uuid, amount, t(0)).await.unwrap();
        let stake = store.stake(agent.uuid, t(0)).await.unwrap().unwrap();
        assert_eq!(stake.staked, amount);
    }
    store.close();
    db.drop_database().await;
}

#[tokio::test]
async fn unreachable_database_is_unavailable_quickly() {
    let mut config = PostgresConfig::from_parts("127.0.0.1", 1, "kagami", "kagami", None);
    config.connect_timeout = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let err = PostgresStore::connect(&config).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = migrate(&config).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[test]
fn debug_output_never_shows_the_password() {
    let from_url =
        PostgresConfig::from_url("postgres://kagami:s3cret@db.example:5433/kagami").unwrap();
    let parts = PostgresConfig::from_parts("db", 5432, "kagami", "kagami", Some("s3cret".into()));
    for config in [from_url, parts] {
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("[REDACTED]"), "{debug}");
        assert_eq!(config.database_name(), "kagami");
        assert_eq!(config.with_database("other").database_name(), "other");
    }
    let defaults = PostgresConfig::from_url("postgres://u@h/d").unwrap();
    assert_eq!(
        (
            defaults.pool_min_size,
            defaults.pool_max_size,
            defaults.command_timeout
        ),
        (10, 50, Duration::from_secs(60))
    );
    assert!(PostgresConfig::from_url("not a url").is_err());
}
