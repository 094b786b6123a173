//! Drives the real `kagami-migrate` binary against a real, empty PostgreSQL database.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test by panicking"
)]

use std::process::{Command, Output};

use tokio_postgres::NoTls;

struct EmptyDatabase {
    name: String,
    url: String,
}

impl EmptyDatabase {
    async fn create() -> Option<Self> {
        let admin = kagami_tests::database_url();
        let (client, conn) = match tokio_postgres::connect(&admin, NoTls).await {
            Ok(c) => c,
            Err(e) if !kagami_tests::in_ci() => {
                eprintln!(
                    "*** PostgreSQL unreachable ({e}); SKIPPING the kagami-migrate tests (CI=true makes this a failure) ***"
                );
                return None;
            }
            Err(e) => panic!("PostgreSQL unreachable in CI: {e}"),
        };
        let driver = tokio::spawn(conn);
        let name = format!("kagami_migrate_test_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        drop(client);
        let _ = driver.await;
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base)
            .to_owned();
        Some(Self {
            url: format!("{base}/{name}"),
            name,
        })
    }

    async fn execute(&self, sql: &str) {
        let (client, conn) = tokio_postgres::connect(&self.url, NoTls).await.unwrap();
        let driver = tokio::spawn(conn);
        client.batch_execute(sql).await.unwrap();
        drop(client);
        let _ = driver.await;
    }

    async fn drop_it(self) {
        let (client, conn) = tokio_postgres::connect(&kagami_tests::database_url(), NoTls)
            .await
            .unwrap();
        let driver = tokio::spawn(conn);
        client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .unwrap();
        drop(client);
        let _ = driver.await;
    }
}

fn migrate(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kagami-migrate"))
        .args(args)
        .env_remove("POSTGRES_HOST")
        .env("DATABASE_URL", url)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn migrates_an_empty_database_once_and_then_is_a_no_op() {
    let Some(db) = EmptyDatabase::create().await else {
        return;
    };
    let shipped = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../migrations/postgres"
    ))
    .unwrap()
    .count();
    assert!(shipped >= 2, "V1 and V2 at least");
    let before = migrate(&db.url, &["--status"]);
    assert!(before.status.success(), "{before:?}");
    assert!(
        stdout(&before).contains(&format!("0 applied, {shipped} pending")),
        "{}",
        stdout(&before)
    );

    let first = migrate(&db.url, &[]);
    assert!(first.status.success(), "{first:?}");
    for name in [
        "applied  V1__schema",
        "applied  V2__protocol_v2",
        "applied  V3__locked_stake_total",
        "applied  V4__detect_functions",
        "applied  V5__keyset_indexes",
        "applied  V6__active_locks_index",
        "applied  V7__audit_log",
    ] {
        assert!(stdout(&first).contains(name), "{}", stdout(&first));
    }

    let status = migrate(&db.url, &["--status"]);
    assert!(
        stdout(&status).contains(&format!("{shipped} applied, 0 pending")),
        "{}",
        stdout(&status)
    );

    let second = migrate(&db.url, &[]);
    assert!(second.status.success());
    assert!(
        stdout(&second).contains("nothing to apply"),
        "{}",
        stdout(&second)
    );

    // The schema really is there.
    db.execute("SELECT count(*) FROM erc8004_agents; REFRESH MATERIALIZED VIEW CONCURRENTLY v_agent_manifest_flip_metrics").await;
    db.drop_it().await;
}

#[tokio::test]
async fn refuses_to_run_when_an_applied_migration_changed() {
    let Some(db) = EmptyDatabase::create().await else {
        return;
    };
    assert!(migrate(&db.url, &[]).status.success());
    db.execute("UPDATE refinery_schema_history SET checksum = '1' WHERE version = 1")
        .await;
    for args in [&[][..], &["--status"][..]] {
        let out = migrate(&db.url, args);
        assert!(
            !out.status.success(),
            "{args:?} must refuse a changed migration"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains("V1"), "{err}");
    }
    db.drop_it().await;
}

/// `sslmode=verify-full` with the test CA migrates over TLS; the same URL with an unrelated CA
/// is refused, so the migration really went through the verified connection.
#[cfg(unix)]
#[tokio::test]
async fn migrates_over_tls_with_verify_full_and_refuses_another_ca() {
    let Some(tls) = kagami_tests::PostgresTls::installed().await else {
        return;
    };
    let Some(db) = EmptyDatabase::create().await else {
        return;
    };
    let url =
        |ca: &std::path::Path| tls.conninfo("localhost", None, &db.name, "verify-full", Some(ca));
    let refused = migrate(&url(tls.wrong_ca_file()), &[]);
    assert!(!refused.status.success(), "{refused:?}");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("UnknownIssuer"), "{err}");

    let out = migrate(&url(tls.ca_file()), &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("applied  V1__schema"),
        "{}",
        stdout(&out)
    );
    db.execute("SELECT count(*) FROM erc8004_agents").await;
    db.drop_it().await;
}

#[test]
fn unreachable_database_is_a_one_line_error() {
    let out = migrate("postgres://postgres@127.0.0.1:1/kagami", &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("kagami-migrate: error:"), "{err}");
}

#[test]
fn no_configuration_says_what_to_set() {
    let out = Command::new(env!("CARGO_BIN_EXE_kagami-migrate"))
        .env_remove("DATABASE_URL")
        .env_remove("POSTGRES_HOST")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
}

/// A database written by protocol v1 — every loop agent slashed, a bounty above what was
/// slashed (v1 could mint), incident and dispute slashes — upgraded to v2: every slash is
/// kept, bounties are capped at what their settlement slashed, and the ledger balances per
/// cause.
#[tokio::test]
async fn upgrading_a_v1_database_keeps_every_slash_and_balances_the_ledger() {
    let Some(db) = EmptyDatabase::create().await else {
        return;
    };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/postgres");
    db.execute(&std::fs::read_to_string(format!("{dir}/V1__schema.sql")).unwrap())
        .await;
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
    let hash = |n: u8| format!("0x{}", format!("{n:02x}").repeat(32));
    let mut sql = String::new();
    for (id, n) in [(a, 1u8), (b, 2), (c, 3)] {
        sql += &format!(
            "INSERT INTO erc8004_agents VALUES ('{id}', {n}, 'base', '{}', '{}', NULL, NULL, \
             'active', now(), now());
             INSERT INTO erc8004_agent_stakes VALUES ('{id}', 1000, 0, now());",
            addr(0x80),
            addr(n)
        );
    }
    // s1: a cycle of A and B slashed 100 each, its reporter paid 250 (minted 50).
    // s2: an extraction loop of C, 50 slashed, no reporter.
    sql += &format!(
        "INSERT INTO erc8004_settlements (id, root_tx_hash, kind, cycle_agents, depth, \
             total_slashed, reporter_address, bounty, created_at) VALUES \
             ('{s1}', '{}', 'cycle', ARRAY['{a}', '{b}']::uuid[], 2, 200, '{}', 250, now()), \
             ('{s2}', '{}', 'extraction_loop', ARRAY['{c}']::uuid[], 1, 50, NULL, NULL, now());
         INSERT INTO erc8004_mev_incidents (id, root_tx_hash, attack_type, attacker_agent_uuid, \
             extracted_value, block_number, tx_index, evidence_hash, slashed_amount, created_at) \
             VALUES ('{inc}', '{}', 'frontrun', '{a}', 15, 1, 0, '{}', 30, now());
         INSERT INTO erc8004_onchain_commitments (id, root_tx_hash, commitment_hash, chain, \
             first_hop_agent, routing_hash, amount, time_lock_until, status, created_at, \
             updated_at) VALUES ('{com}', '{}', '{}', 'base', '{b}', '{}', 10000, now(), \
             'disputed', now(), now());
         INSERT INTO erc8004_slashes (id, agent_uuid, amount, reason, settlement_id, \
             incident_id, commitment_id, created_at) VALUES \
             (gen_random_uuid(), '{a}', 100, 'cycle_detected', '{s1}', NULL, NULL, now()), \
             (gen_random_uuid(), '{b}', 100, 'cycle_detected', '{s1}', NULL, NULL, now()), \
             (gen_random_uuid(), '{c}', 50, 'extraction_loop_detected', '{s2}', NULL, NULL, now()), \
             (gen_random_uuid(), '{a}', 30, 'mev_incident', NULL, '{inc}', NULL, now()), \
             (gen_random_uuid(), '{b}', 20, 'commitment_dispute', NULL, NULL, '{com}', now());",
        hash(1),
        addr(0x99),
        hash(2),
        hash(3),
        hash(4),
        hash(5),
        hash(6),
        hash(7),
    );
    db.execute(&sql).await;
    db.execute(&std::fs::read_to_string(format!("{dir}/V2__protocol_v2.sql")).unwrap())
        .await;

    let (client, conn) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    let driver = tokio::spawn(conn);
    let micros = |sql: &str| {
        let client = &client;
        let sql = sql.to_owned();
        async move {
            let row = client.query_one(&sql, &[]).await.unwrap();
            row.get::<_, i64>(0)
        }
    };
    let slashed = micros("SELECT (sum(amount) * 1000000)::bigint FROM erc8004_slashes").await;
    let paid = micros("SELECT (sum(amount) * 1000000)::bigint FROM kagami_payouts").await;
    assert_eq!((slashed, paid), (300_000_000, 300_000_000));
    let bounty = micros(&format!(
        "SELECT (amount * 1000000)::bigint FROM kagami_payouts WHERE kind = 'bounty' \
         AND settlement_id = '{s1}'"
    ))
    .await;
    assert_eq!(bounty, 200_000_000, "the minted 50 is not paid");
    let unbalanced: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT coalesce(settlement_id, incident_id, commitment_id) AS cause, \
             sum(CASE WHEN entry = 'slash' THEN amount ELSE -amount END) AS net \
             FROM kagami_ledger GROUP BY 1) AS per_cause WHERE net <> 0",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unbalanced, 0, "every cause balances");
    let liable: Vec<uuid::Uuid> = client
        .query_one(
            &format!("SELECT liable_agents FROM erc8004_settlements WHERE id = '{s1}'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        liable.len(),
        2,
        "v1 slashed every loop agent; the record says so"
    );
    drop(client);
    let _ = driver.await;
    db.drop_it().await;
}
