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
        MigrationInfo {
            version: 6,
            name: "active_locks_index".to_owned(),
        },
        MigrationInfo {
            version: 7,
            name: "audit_log".to_owned(),
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
            (5, "keyset_indexes"),
            (6, "active_locks_index"),
            (7, "audit_log")
        ]
    );
    db.drop_database().await;
}

/// Every session plans the cached statements once (generic plans) and enforces the command
/// timeout; an operator's own `options` override the plan mode, never the timeout.
#[tokio::test]
async fn sessions_use_generic_plans_and_the_command_timeout() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let settings = async |config: &PostgresConfig| -> (String, String) {
        let (client, connection) = config.connection_config().connect(NoTls).await.unwrap();
        tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT current_setting('plan_cache_mode'), current_setting('statement_timeout')",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    let mut config = db.config.clone();
    config.command_timeout = std::time::Duration::from_millis(1234);
    assert_eq!(
        settings(&config).await,
        ("force_generic_plan".to_owned(), "1234ms".to_owned())
    );
    let url = format!(
        "{}?options=-c%20plan_cache_mode%3Dauto%20-c%20statement_timeout%3D1",
        database_url().split('?').next().unwrap()
    );
    let mut operator = PostgresConfig::from_url(&url)
        .unwrap()
        .with_database(&db.name);
    operator.command_timeout = std::time::Duration::from_millis(1234);
    assert_eq!(
        settings(&operator).await,
        ("auto".to_owned(), "1234ms".to_owned())
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

/// Buffers the leaf nodes of an `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` plan touched: what
/// the statement read from tables and indexes (parents repeat their children's counts).
fn leaf_buffers(node: &serde_json::Value) -> u64 {
    match node["Plans"].as_array() {
        Some(children) => children.iter().map(leaf_buffers).sum(),
        None => ["Shared Hit Blocks", "Shared Read Blocks"]
            .iter()
            .map(|k| node[*k].as_u64().unwrap_or(0))
            .sum(),
    }
}

/// The buffers each stake statement reads for two agents, run (and rolled back) in one
/// transaction, with a root of their own among their locks.
async fn stake_statement_buffers(
    client: &mut tokio_postgres::Client,
    agents: &[Uuid],
    root: &str,
) -> [u64; 2] {
    let now = time::OffsetDateTime::now_utc();
    let root = Some(root.to_owned());
    let mut found = [0; 2];
    for (i, statement) in [tx::STAKE_ACCOUNTS, tx::STAKE_ACCOUNTS_FOR_UPDATE]
        .iter()
        .enumerate()
    {
        let t = client.transaction().await.unwrap();
        let explained = t
            .query_one(
                &format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}"),
                &[&agents, &now, &root],
            )
            .await
            .unwrap();
        let plan: serde_json::Value = explained.get(0);
        found[i] = leaf_buffers(&plan[0]["Plan"]);
        t.rollback().await.unwrap();
    }
    found
}

/// The root the measured agents' own locks are on.
const ROOT: &str = "0xabababababababababababababababababababababababababababababababab";

/// A root of its own for each lock (an SQL expression).
const RANDOM_ROOT: &str = "'0x' || md5(random()::text) || md5(random()::text)";

/// SQL adding `per_agent` counted locks of an hour, on `root` (an SQL expression), for each
/// agent `a` of the table `from`; `released` ones are released now.
fn insert_locks(from: &str, per_agent: u32, root: &str, released: bool) -> String {
    let released = if released { "now()" } else { "NULL" };
    format!(
        "INSERT INTO erc8004_stake_utilization (id, agent_uuid, root_tx_hash, amount, created_at, \
                                               expires_at, released_at, counted) \
         SELECT gen_random_uuid(), a, {root}, 1, now(), \
                now() + interval '1 hour' + g * interval '1 ms', {released}, true \
           FROM {from}, generate_series(1, {per_agent}) g;"
    )
}

/// The soak found the stake read walking every unreleased lock of every agent (the planner,
/// without statistics yet, took a partial index by a non-leading key): each record-forward
/// cost more than the last. Both stake statements must read the same few pages whether the
/// table holds a hundred locks of eight agents or, besides those, a hundred thousand more and
/// twenty thousand other agents with released locks, before statistics exist and after.
#[tokio::test]
async fn stake_reads_cost_the_same_whatever_the_history() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    migrate(&db.config).await.unwrap();
    let (mut client, connection) = db.config.connection_config().connect(NoTls).await.unwrap();
    let driver = tokio::spawn(connection);
    // Locks without agents behind them (no foreign-key checks), and statistics that stay as
    // they are until the test asks for new ones.
    client
        .batch_execute(
            "SET session_replication_role = replica; \
             ALTER TABLE erc8004_stake_utilization SET (autovacuum_enabled = false); \
             CREATE TEMP TABLE agents AS SELECT gen_random_uuid() AS a FROM generate_series(1, 8); \
             INSERT INTO erc8004_agent_stakes (agent_uuid, staked, slashed, updated_at) \
             SELECT a, 1000000, 0, now() FROM agents",
        )
        .await
        .unwrap();
    // Ten active locks of each agent; the two measured also have a lock on `ROOT` and a
    // released lock (something for the writer to take off its total).
    client
        .batch_execute(&format!(
            "CREATE TEMP TABLE measured AS SELECT a FROM agents LIMIT 2; {} {} {}",
            insert_locks("agents", 10, RANDOM_ROOT, false),
            insert_locks("measured", 1, &format!("'{ROOT}'"), false),
            insert_locks("measured", 1, RANDOM_ROOT, true),
        ))
        .await
        .unwrap();
    let agents: Vec<Uuid> = client
        .query("SELECT a FROM measured", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    // The running totals the invariant asks for (locked = the counted locks).
    let recount = "UPDATE erc8004_agent_stakes s SET locked = u.total \
                     FROM (SELECT agent_uuid, sum(amount) AS total \
                             FROM erc8004_stake_utilization WHERE counted GROUP BY agent_uuid) u \
                    WHERE s.agent_uuid = u.agent_uuid";
    client.batch_execute(recount).await.unwrap();
    let small = stake_statement_buffers(&mut client, &agents, ROOT).await;
    // A hundred thousand more locks of the eight agents, and twenty thousand other agents,
    // each with a released lock its next write will take off its total.
    client
        .batch_execute(&format!(
            "{} CREATE TEMP TABLE others AS SELECT gen_random_uuid() AS a \
               FROM generate_series(1, 20000); \
             INSERT INTO erc8004_agent_stakes (agent_uuid, staked, slashed, updated_at) \
             SELECT a, 1000000, 0, now() FROM others; {}",
            insert_locks("agents", 12_500, RANDOM_ROOT, false),
            insert_locks("others", 1, RANDOM_ROOT, true),
        ))
        .await
        .unwrap();
    client.batch_execute(recount).await.unwrap();
    let large = stake_statement_buffers(&mut client, &agents, ROOT).await;
    client.batch_execute("ANALYZE").await.unwrap();
    let analysed = stake_statement_buffers(&mut client, &agents, ROOT).await;
    for (history, buffers) in [("120,000 locks", large), ("analysed", analysed)] {
        for (i, statement) in ["read", "write"].iter().enumerate() {
            // One more B-tree level per index descent at most.
            assert!(
                buffers[i] <= small[i] + 16,
                "the {statement} stake statement read {} buffers with {history}, {} with 80",
                buffers[i],
                small[i]
            );
        }
    }
    drop(client);
    driver.await.unwrap().unwrap();
    db.drop_database().await;
}

/// Several replicas' sequencers racing (small batches, four at once) build one log: every
/// entry gets exactly one index, in a gapless sequence; each checkpoint is consistent with the
/// next; the newest root is the tree of the entries in index order. Then the evidence refuses
/// to be rewritten, whoever asks.
#[tokio::test]
async fn racing_sequencers_build_one_log_and_evidence_is_append_only() {
    use kagami_tlog::{SignerKey, leaf_hash, verify_consistency};

    let Some(db) = TestDb::create().await else {
        return;
    };
    migrate(&db.config).await.unwrap();
    let store = crate::Store::connect_postgres(&db.config).await.unwrap();
    let (client, connection) = db.config.connection_config().connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    let entries: Vec<Vec<u8>> = (0..60).map(|i| format!("entry {i}").into_bytes()).collect();
    for entry in &entries {
        client
            .execute(
                "INSERT INTO kagami_log_entries (kind, object_key, entry, leaf_hash, created_at) \
                 VALUES ('payout', $1, $2, $3, date_trunc('second', now()))",
                &[
                    &String::from_utf8(entry.clone()).unwrap(),
                    entry,
                    &leaf_hash(entry).as_bytes().as_slice(),
                ],
            )
            .await
            .unwrap();
    }
    let signer = SignerKey::from_seed("kagami.test/log", &[3; 32]).unwrap();
    let racers = (0..4).map(|_| {
        let (store, signer) = (store.clone(), signer.clone());
        tokio::spawn(async move {
            let mut skipped = 0;
            // Until the log holds every entry: how often a racer skips (another holds the
            // lock) depends on the machine's load, not on a fixed number of runs.
            for _ in 0..10_000 {
                match store.integrate_log(signer.clone(), 7, t(0)).await.unwrap() {
                    None => skipped += 1,
                    Some(head) if head.size == 60 => break,
                    Some(_) => {}
                }
            }
            skipped
        })
    });
    let skipped: u32 = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    let head = store.log_head().await.unwrap().unwrap();
    assert_eq!(head.size, 60, "{skipped} runs skipped");
    let logged = store.log_entries(0, 60).await.unwrap();
    assert_eq!(
        logged.iter().map(|e| e.index.unwrap()).collect::<Vec<_>>(),
        (0..60).collect::<Vec<_>>()
    );
    let mut stored = Vec::new();
    for (n, entry) in (0u64..).zip(&logged) {
        stored.extend(kagami_tlog::stored_hashes(n, &leaf_hash(&entry.entry), &stored).unwrap());
    }
    assert_eq!(head.root, kagami_tlog::tree_hash(60, &stored).unwrap());
    let sizes: Vec<i64> = client
        .query(
            "SELECT tree_size FROM kagami_log_checkpoints ORDER BY tree_size",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    for pair in sizes.windows(2) {
        let (from, to) = (pair[0] as u64, pair[1] as u64);
        let proof = store.log_consistency(from, to).await.unwrap().unwrap();
        let root = |size| kagami_tlog::tree_hash(size, &stored).unwrap();
        verify_consistency(from, to, &proof, &root(from), &root(to)).unwrap();
    }

    for sql in [
        "DELETE FROM kagami_log_entries WHERE leaf_index = 0",
        "UPDATE kagami_log_entries SET entry = 'x' WHERE leaf_index = 0",
        "UPDATE kagami_log_entries SET leaf_index = 99 WHERE leaf_index = 0",
        "TRUNCATE kagami_log_entries",
        "UPDATE kagami_log_hashes SET hash = hash WHERE idx = 0",
        "DELETE FROM kagami_log_checkpoints",
        "TRUNCATE kagami_log_hashes",
        "DELETE FROM erc8004_endpoint_manifests",
        "DELETE FROM erc8004_forward_receipts",
        "DELETE FROM erc8004_slashes",
        "DELETE FROM kagami_payouts",
    ] {
        let outcome = client.batch_execute(sql).await;
        // An empty table has no row for a row trigger to refuse: those statements are
        // checked on the log's tables, which have rows.
        if sql.contains("kagami_log") {
            let error = outcome.expect_err(sql);
            assert_eq!(
                error.code().map(tokio_postgres::error::SqlState::code),
                Some("KG001"),
                "{sql}: {error:?}"
            );
        }
    }
    assert_eq!(store.log_head().await.unwrap().unwrap().size, 60);
    store.close();
    db.drop_database().await;
}
