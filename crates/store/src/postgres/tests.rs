//! Smoke tests against a real PostgreSQL (`DATABASE_URL`, default the local cluster). Each
//! test migrates its own database and drops it afterwards. Where PostgreSQL is unreachable
//! the database tests are skipped with a message, except in CI (`CI` set), where that fails.
//! The full behaviour is covered by the conformance suite in `tests/tests/store`.

use std::time::Duration;

use kagami_core::{
    Usdc,
    crypto::{EthAddress, Timestamp, Uuid},
};
use tokio_postgres::NoTls;

use super::*;
use crate::NewAgent;

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

fn new_agent(n: u64) -> NewAgent {
    NewAgent {
        agent_id: n,
        chain: "base".parse().unwrap(),
        registry_address: "0x8004000000000000000000000000000000008004"
            .parse()
            .unwrap(),
        owner_address: EthAddress::from(kagami_core::crypto::Address::with_last_byte(n as u8)),
        token_uri: None,
        registration_file: Some(serde_json::json!({ "name": format!("agent {n}") })),
    }
}

#[tokio::test]
async fn migrations_apply_once_and_detect_edited_history() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let applied = migrate(&db.config).await.unwrap();
    let shipped = vec![
        MigrationInfo {
            version: 1,
            name: "schema".to_owned(),
        },
        MigrationInfo {
            version: 2,
            name: "protocol_v2".to_owned(),
        },
        MigrationInfo {
            version: 3,
            name: "locked_stake_total".to_owned(),
        },
        MigrationInfo {
            version: 4,
            name: "detect_functions".to_owned(),
        },
        MigrationInfo {
            version: 5,
            name: "keyset_indexes".to_owned(),
        },
    ];
    assert_eq!(applied, shipped, "every shipped migration, in order");
    assert!(migrate(&db.config).await.unwrap().is_empty());
    let status = migration_status(&db.config).await.unwrap();
    assert_eq!((status.applied, status.pending.len()), (shipped, 0));
    let store = PostgresBackend::connect(&db.config).await.unwrap();
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
    assert_eq!(
        status
            .pending
            .iter()
            .map(|m| (m.version, m.name.as_str()))
            .collect::<Vec<_>>(),
        [
            (1, "schema"),
            (2, "protocol_v2"),
            (3, "locked_stake_total"),
            (4, "detect_functions"),
            (5, "keyset_indexes")
        ]
    );
    db.drop_database().await;
}

#[tokio::test]
async fn money_is_exact_up_to_the_largest_amount() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    migrate(&db.config).await.unwrap();
    let store = crate::Store::connect_postgres(&db.config).await.unwrap();
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
    let err = PostgresBackend::connect(&config).await.unwrap_err();
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
