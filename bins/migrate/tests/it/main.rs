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
    let before = migrate(&db.url, &["--status"]);
    assert!(before.status.success(), "{before:?}");
    assert!(
        stdout(&before).contains("0 applied, 1 pending"),
        "{}",
        stdout(&before)
    );

    let first = migrate(&db.url, &[]);
    assert!(first.status.success(), "{first:?}");
    assert!(
        stdout(&first).contains("applied  V1__schema"),
        "{}",
        stdout(&first)
    );

    let status = migrate(&db.url, &["--status"]);
    assert!(
        stdout(&status).contains("1 applied, 0 pending"),
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
