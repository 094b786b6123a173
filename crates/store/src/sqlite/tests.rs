//! SQLite-specific tests: opening and migrating, the schema's own guards, and error
//! classification. The use cases themselves are covered by the conformance suite
//! (`tests/tests/store`), which runs on both backends.

use std::{path::PathBuf, time::Duration};

use rusqlite::types::Value;

use kagami_core::{
    EndpointUri, Usdc,
    crypto::{
        B256, Chain, EndpointManifest, EthAddress, Hash32, PrivateKeySigner, Signed, Timestamp,
        Uuid, sha256,
    },
    wire::SignedManifest,
};

use crate::{Agent, NewAgent, Store, StoreError};

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

/// Runs `f` on the store's writer connection.
fn with_writer<T>(store: &Store, f: impl FnOnce(&rusqlite::Connection) -> crate::Result<T>) -> T {
    let crate::Backend::Sqlite(backend) = &store.backend else {
        panic!("not an embedded store")
    };
    let conn = backend.writer.lock().unwrap();
    f(&conn).unwrap()
}

fn signer(tag: &str, n: u64) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::from(sha256(&[tag.as_bytes(), &n.to_be_bytes()]))).unwrap()
}

async fn agent(store: &Store, n: u64, stake: &str) -> Agent {
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
        .set_stake(agent.uuid, stake.parse::<Usdc>().unwrap(), t(0))
        .await
        .unwrap();
    agent
}

async fn published(store: &Store, agent: &Agent) {
    let endpoint = format!("https://agent-{}.example/x402", agent.agent_id);
    let fields = EndpointManifest {
        chain: agent.chain.clone(),
        agent: agent.uuid,
        endpoint: endpoint.parse().unwrap(),
        pubkey: EthAddress::from(signer("hot", agent.agent_id).address())
            .to_string()
            .parse()
            .unwrap(),
        nonce: 1,
        valid_from: t(-60),
        valid_until: t(3600),
    };
    let manifest = SignedManifest {
        manifest: Signed::sign(fields, &signer("owner", agent.agent_id)).unwrap(),
        endpoint: EndpointUri::from_stored(&endpoint).unwrap(),
    };
    store
        .publish_manifest(manifest, t(0), &kagami_core::Policy::default())
        .await
        .unwrap();
}

fn usdc(s: &str) -> Usdc {
    s.parse().unwrap()
}

#[tokio::test]
async fn reopening_keeps_data_and_does_not_migrate_twice() {
    let dir = TempDir::new();
    let uuid = {
        let store = Store::open_sqlite(&dir.db()).unwrap();
        agent(&store, 1, "5").await.uuid
    };
    let store = Store::open_sqlite(&dir.db()).unwrap();
    assert_eq!(store.agent(uuid).await.unwrap().unwrap().uuid, uuid);
    let (journal, foreign_keys, synchronous, migrations) = with_writer(&store, |conn| {
        let q = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, Value>(0));
        Ok((
            q("PRAGMA journal_mode").unwrap(),
            q("PRAGMA foreign_keys").unwrap(),
            q("PRAGMA synchronous").unwrap(),
            q("SELECT count(*) FROM refinery_schema_history").unwrap(),
        ))
    });
    assert_eq!(journal, Value::Text("wal".to_owned()));
    assert_eq!(foreign_keys, Value::Integer(1));
    assert_eq!(synchronous, Value::Integer(2), "FULL");
    assert_eq!(
        migrations,
        Value::Integer(5),
        "V1 schema, V2 protocol_v2, V3 locked_stake_total, V5 keyset_indexes, V7 audit_log \
         (V4 and V6 are PostgreSQL's)"
    );
    assert_eq!(store.pool_status(), (5, 5), "one writer, four readers");
    assert_eq!(store.backend(), "sqlite");
    store.ping().await.unwrap();
}

#[tokio::test]
async fn schema_has_the_named_indexes_and_the_churn_view() {
    let dir = TempDir::new();
    let store = Store::open_sqlite(&dir.db()).unwrap();
    let a = agent(&store, 1, "0").await;
    published(&store, &a).await;
    let (indexes, churn) = with_writer(&store, |conn| {
        let mut stmt = conn
                .prepare(
                    "SELECT name FROM sqlite_schema WHERE type = 'index' \
                     AND tbl_name = 'erc8004_endpoint_manifests' AND name LIKE 'idx_%' ORDER BY name",
                )
                .unwrap();
        let indexes: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        // The view is over the last 24 h of the database clock; the fixture's times are
        // fixed, so only check that it runs.
        let churn: i64 = conn
            .query_row(
                "SELECT count(*) FROM v_forward_path_churn_metrics",
                [],
                |r| r.get(0),
            )
            .unwrap();
        Ok((indexes, churn))
    });
    assert_eq!(
        indexes,
        [
            "idx_manifests_agent",
            "idx_manifests_agent_until",
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
    let store = Store::open_sqlite(&dir.db()).unwrap();
    let a = agent(&store, 1, "10").await;
    let id = a.uuid.to_string();
    let failures = with_writer(&store, move |conn| {
        let attempts = [
            format!(
                "UPDATE erc8004_agent_stakes SET slashed = staked + 1 WHERE agent_uuid = '{id}'"
            ),
            format!(
                "UPDATE erc8004_agent_stakes SET staked = -1, slashed = -1 WHERE agent_uuid = '{id}'"
            ),
            format!("UPDATE erc8004_agents SET status = 'gone' WHERE id = '{id}'"),
            format!(
                "UPDATE erc8004_agents SET owner_address = '0xABCDEF0000000000000000000000000000000000' WHERE id = '{id}'"
            ),
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
                "INSERT INTO erc8004_stake_utilization (id, agent_uuid, root_tx_hash, amount, \
                 created_at, expires_at, released_at, counted) \
                 VALUES ('{}', '{}', '{}', 1, 0, 1, NULL, 1)",
                Uuid::new_v4(),
                Uuid::new_v4(),
                hash("r")
            ),
        ];
        Ok(attempts.map(|sql| conn.execute(&sql, []).is_err()))
    });
    assert_eq!(failures, [true; 9], "each statement must be refused");
    let stake = store.stake(a.uuid, t(0)).await.unwrap().unwrap();
    assert_eq!((stake.staked, stake.slashed), (usdc("10"), Usdc::ZERO));
}

#[test]
fn a_path_that_cannot_be_created_is_unavailable() {
    let dir = TempDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("plain-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let err = Store::open_sqlite(&file.join("kagami.db")).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[test]
fn a_file_that_is_not_a_database_is_internal() {
    let dir = TempDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("kagami.db");
    std::fs::write(&file, vec![b'x'; 4096]).unwrap();
    let err = Store::open_sqlite(&file).unwrap_err();
    assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
}

#[tokio::test]
async fn a_database_locked_by_another_writer_is_busy_after_the_busy_timeout() {
    let dir = TempDir::new();
    let store = Store::open_sqlite(&dir.db()).unwrap();
    with_writer(&store, |conn| {
        conn.busy_timeout(Duration::from_millis(50))
            .map_err(StoreError::internal)
    });
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
    assert!(matches!(err, StoreError::Busy(_)), "{err:?}");
    other.execute_batch("ROLLBACK").unwrap();
    agent(&store, 1, "0").await;
}

/// A database written by protocol v1 (every loop agent slashed, a bounty above what its
/// settlement slashed, incident and dispute slashes), upgraded to v2: every slash kept,
/// bounties capped at their settlement's slashes, the ledger balanced per cause, and the
/// backfilled payouts readable by the store's row mapping.
#[test]
fn upgrading_a_v1_database_keeps_every_slash_and_balances_the_ledger() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(include_str!("../../../../migrations/sqlite/V1__schema.sql"))
        .unwrap();
    let (a, b, c) = (
        "00000000-0000-4000-8000-00000000000a",
        "00000000-0000-4000-8000-00000000000b",
        "00000000-0000-4000-8000-00000000000c",
    );
    let (s1, s2, inc, com) = (
        "00000000-0000-4000-8000-000000000101",
        "00000000-0000-4000-8000-000000000102",
        "00000000-0000-4000-8000-000000000201",
        "00000000-0000-4000-8000-000000000301",
    );
    let addr = |n: u8| format!("0x{}", format!("{n:02x}").repeat(20));
    let h = |n: u8| format!("0x{}", format!("{n:02x}").repeat(32));
    let mut sql = String::new();
    for (id, n) in [(a, 1u8), (b, 2), (c, 3)] {
        sql += &format!(
            "INSERT INTO erc8004_agents (id, agent_id, chain, registry_address, owner_address, \
             status, created_at, updated_at) VALUES ('{id}', {n}, 'base', '{}', '{}', 'active', \
             {T0}, {T0});
             INSERT INTO erc8004_agent_stakes (agent_uuid, staked, slashed, updated_at) \
             VALUES ('{id}', 1000000000, 0, {T0});",
            addr(0x80),
            addr(n)
        );
    }
    sql += &format!(
        "INSERT INTO erc8004_settlements (id, root_tx_hash, kind, cycle_agents, depth, \
             total_slashed, reporter_address, bounty, status, created_at) VALUES \
             ('{s1}', '{}', 'cycle', '[\"{a}\",\"{b}\"]', 2, 200000000, '{}', 250000000, \
              'provisional', {T0}), \
             ('{s2}', '{}', 'extraction_loop', '[\"{c}\"]', 1, 50000000, NULL, NULL, \
              'provisional', {T0});
         INSERT INTO erc8004_mev_incidents (id, root_tx_hash, attack_type, attacker_agent_uuid, \
             extracted_value, block_number, tx_index, evidence_hash, slashed_amount, created_at) \
             VALUES ('{inc}', '{}', 'frontrun', '{a}', 15000000, 1, 0, '{}', 30000000, {T0});
         INSERT INTO erc8004_onchain_commitments (id, root_tx_hash, commitment_hash, chain, \
             first_hop_agent, routing_hash, amount, time_lock_until, status, created_at, \
             updated_at) VALUES ('{com}', '{}', '{}', 'base', '{b}', '{}', 10000000000, {T0}, \
             'disputed', {T0}, {T0});
         INSERT INTO erc8004_slashes (id, agent_uuid, amount, reason, settlement_id, \
             incident_id, commitment_id, created_at) VALUES \
             ('00000000-0000-4000-8000-000000000401', '{a}', 100000000, 'cycle_detected', '{s1}', NULL, NULL, {T0}), \
             ('00000000-0000-4000-8000-000000000402', '{b}', 100000000, 'cycle_detected', '{s1}', NULL, NULL, {T0}), \
             ('00000000-0000-4000-8000-000000000403', '{c}', 50000000, 'extraction_loop_detected', '{s2}', NULL, NULL, {T0}), \
             ('00000000-0000-4000-8000-000000000404', '{a}', 30000000, 'mev_incident', NULL, '{inc}', NULL, {T0}), \
             ('00000000-0000-4000-8000-000000000405', '{b}', 20000000, 'commitment_dispute', NULL, NULL, '{com}', {T0});",
        h(1),
        addr(0x99),
        h(2),
        h(3),
        h(4),
        h(5),
        h(6),
        h(7),
    );
    conn.execute_batch(&sql).unwrap();
    conn.execute_batch(include_str!(
        "../../../../migrations/sqlite/V2__protocol_v2.sql"
    ))
    .unwrap();
    let one = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(one("SELECT sum(amount) FROM erc8004_slashes"), 300_000_000);
    assert_eq!(one("SELECT sum(amount) FROM kagami_payouts"), 300_000_000);
    assert_eq!(
        one(&format!(
            "SELECT amount FROM kagami_payouts WHERE kind = 'bounty' AND settlement_id = '{s1}'"
        )),
        200_000_000,
        "the minted 50 USDC is not paid"
    );
    assert_eq!(
        one(
            "SELECT count(*) FROM (SELECT coalesce(settlement_id, incident_id, commitment_id), \
             sum(CASE WHEN entry = 'slash' THEN amount ELSE -amount END) AS net \
             FROM kagami_ledger GROUP BY 1) WHERE net <> 0"
        ),
        0,
        "every cause balances"
    );
    // The store reads what the migration wrote.
    let mut statement = conn
        .prepare(
            "SELECT id, entry, agent_uuid, reporter_address, amount, settlement_id, \
             incident_id, commitment_id, created_at FROM kagami_ledger",
        )
        .unwrap();
    let entries: Vec<_> = statement
        .query_map([], super::rows::ledger_row)
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(entries.len(), 5 + 4);
}
