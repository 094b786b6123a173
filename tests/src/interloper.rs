//! Another writer on a test database, for the race tests: it takes the lock an agent's
//! writers take (PostgreSQL: the agent's advisory lock; SQLite: the write lock itself), lets a
//! use case start and queue behind it, commits a change the use case depends on, and only then
//! lets it go. A use case that made its checks before taking the lock would act on what it
//! read before the change; one that checks inside its transaction sees the change.
//!
//! The changes are written as the store writes them (same tables, same encodings): they stand
//! for the write of a concurrent use case that committed first.

use std::time::Duration;

use kagami_core::{
    ManifestRecord,
    crypto::{Hash32, Timestamp},
};
use uuid::Uuid;

use crate::{TestPostgres, TestSqlite};

/// A transaction holding an agent's writers' lock.
#[expect(
    missing_debug_implementations,
    reason = "a database client and connection, nothing to show"
)]
pub enum Interloper {
    /// On PostgreSQL.
    Postgres(tokio_postgres::Client),
    /// On SQLite (`BEGIN IMMEDIATE`).
    Sqlite(rusqlite::Connection),
}

impl Interloper {
    /// Begins a transaction on `db` holding `agent`'s writers' lock.
    ///
    /// # Panics
    /// On any database error.
    pub async fn postgres(db: &TestPostgres, agent: Uuid) -> Self {
        let client = db.client().await;
        client
            .batch_execute("BEGIN")
            .await
            .unwrap_or_else(|e| panic!("begin: {e}"));
        client
            .execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                &[&format!("agent:{agent}")],
            )
            .await
            .unwrap_or_else(|e| panic!("lock: {e}"));
        Self::Postgres(client)
    }

    /// Begins a write transaction on `db`'s file: every other writer waits.
    ///
    /// # Panics
    /// On any database error.
    pub fn sqlite(db: &TestSqlite) -> Self {
        let conn = rusqlite::Connection::open(db.dir().join("kagami.db"))
            .unwrap_or_else(|e| panic!("open: {e}"));
        conn.execute_batch("BEGIN IMMEDIATE")
            .unwrap_or_else(|e| panic!("begin: {e}"));
        Self::Sqlite(conn)
    }

    /// Waits until another transaction queues behind this one (PostgreSQL: a waiting
    /// advisory lock; SQLite, which cannot show it: a pause long enough for the writer to
    /// reach its `BEGIN IMMEDIATE`).
    ///
    /// # Panics
    /// When nobody queues within 10 s.
    pub async fn wait_for_a_waiter(&self) {
        match self {
            Self::Postgres(client) => {
                for _ in 0..200 {
                    let waiting: i64 = client
                        .query_one(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
                             AND NOT granted AND database = \
                             (SELECT oid FROM pg_database WHERE datname = current_database())",
                            &[],
                        )
                        .await
                        .unwrap_or_else(|e| panic!("pg_locks: {e}"))
                        .get(0);
                    if waiting > 0 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                panic!("no transaction queued behind the interloper");
            }
            Self::Sqlite(_) => tokio::time::sleep(Duration::from_millis(400)).await,
        }
    }

    /// What revoking `manifest` at `at` writes.
    ///
    /// # Panics
    /// On any database error.
    pub async fn revoke_manifest(&self, manifest: &Hash32, at: Timestamp) {
        let hash = manifest.to_string();
        match self {
            Self::Postgres(client) => {
                client
                    .execute(
                        "UPDATE erc8004_endpoint_manifests SET status = 'revoked', \
                         revoked_at = to_timestamp($2) WHERE manifest_hash = $1",
                        &[&hash, &(at.unix() as f64)],
                    )
                    .await
                    .unwrap_or_else(|e| panic!("revoke: {e}"));
            }
            Self::Sqlite(conn) => {
                conn.execute(
                    "UPDATE erc8004_endpoint_manifests SET status = 'revoked', revoked_at = ?2 \
                     WHERE manifest_hash = ?1",
                    rusqlite::params![hash, at.unix()],
                )
                .unwrap_or_else(|e| panic!("revoke: {e}"));
            }
        }
    }

    /// What changing `agent`'s status to `status` (`suspended`, ...) writes.
    ///
    /// # Panics
    /// On any database error.
    pub async fn set_agent_status(&self, agent: Uuid, status: &str) {
        match self {
            Self::Postgres(client) => {
                client
                    .execute(
                        "UPDATE erc8004_agents SET status = $2 WHERE id = $1",
                        &[&agent, &status],
                    )
                    .await
                    .unwrap_or_else(|e| panic!("status: {e}"));
            }
            Self::Sqlite(conn) => {
                conn.execute(
                    "UPDATE erc8004_agents SET status = ?2 WHERE id = ?1",
                    rusqlite::params![agent.to_string(), status],
                )
                .unwrap_or_else(|e| panic!("status: {e}"));
            }
        }
    }

    /// What publishing `m` writes (the manifest row; a replacement's flip row is not needed
    /// by the readers under test).
    ///
    /// # Panics
    /// On any database error.
    pub async fn insert_manifest(&self, m: &ManifestRecord) {
        match self {
            Self::Postgres(client) => {
                client
                    .execute(
                        "INSERT INTO erc8004_endpoint_manifests (id, agent_uuid, endpoint_uri, \
                         pubkey, nonce, valid_from, valid_until, manifest_hash, signature, chain, \
                         status, created_at) VALUES ($1, $2, $3, $4, $5, to_timestamp($6), \
                         to_timestamp($7), $8, $9, $10, 'active', to_timestamp($11))",
                        &[
                            &m.id,
                            &m.agent,
                            &m.endpoint.as_str(),
                            &m.pubkey.as_str(),
                            &(m.nonce as i64),
                            &(m.valid_from.unix() as f64),
                            &(m.valid_until.unix() as f64),
                            &m.hash.to_string(),
                            &m.signature.to_string(),
                            &m.chain.as_str(),
                            &(m.created_at.unix() as f64),
                        ],
                    )
                    .await
                    .unwrap_or_else(|e| panic!("insert manifest: {e}"));
            }
            Self::Sqlite(conn) => {
                conn.execute(
                    "INSERT INTO erc8004_endpoint_manifests (id, agent_uuid, endpoint_uri, pubkey, \
                     nonce, valid_from, valid_until, manifest_hash, signature, chain, status, \
                     created_at, revoked_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'active', ?11, NULL)",
                    rusqlite::params![
                        m.id.to_string(),
                        m.agent.to_string(),
                        m.endpoint.as_str(),
                        m.pubkey.as_str(),
                        m.nonce as i64,
                        m.valid_from.unix(),
                        m.valid_until.unix(),
                        m.hash.to_string(),
                        m.signature.to_string(),
                        m.chain.as_str(),
                        m.created_at.unix(),
                    ],
                )
                .unwrap_or_else(|e| panic!("insert manifest: {e}"));
            }
        }
    }

    /// Commits, releasing the lock: the queued use case runs.
    ///
    /// # Panics
    /// On any database error.
    pub async fn commit(self) {
        match self {
            Self::Postgres(client) => client
                .batch_execute("COMMIT")
                .await
                .unwrap_or_else(|e| panic!("commit: {e}")),
            Self::Sqlite(conn) => conn
                .execute_batch("COMMIT")
                .unwrap_or_else(|e| panic!("commit: {e}")),
        }
    }
}
