//! Schema migrations: the SQL files of `migrations/postgres`, embedded at build time and
//! applied by refinery, each in its own transaction.

use tokio::task::JoinHandle;
use tokio_postgres::Client;

use super::{PostgresConfig, PostgresTls, classify::classify};
use crate::{Result, StoreError};

mod embedded {
    refinery::embed_migrations!("../../migrations/postgres");
}

/// A migration, as the embedded files and refinery's history table name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MigrationInfo {
    /// The version (`V1__schema.sql` is version 1).
    pub version: i64,
    /// The name (`schema`).
    pub name: String,
}

impl MigrationInfo {
    fn of(m: &refinery::Migration) -> Self {
        Self {
            version: i64::from(m.version()),
            name: m.name().to_owned(),
        }
    }
}

/// What [`migration_status`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MigrationStatus {
    /// Applied migrations, oldest first.
    pub applied: Vec<MigrationInfo>,
    /// Embedded migrations not applied yet, in the order they would be applied.
    pub pending: Vec<MigrationInfo>,
}

/// Applies the pending migrations on a dedicated connection (not a pooled one), each in its
/// own transaction, and returns the ones it applied (empty when the schema is current).
/// Concurrent runs are serialized by a session advisory lock; the session has no statement
/// timeout, since a migration may legitimately run long.
///
/// # Errors
/// [`StoreError::Unavailable`] when the database cannot be reached; [`StoreError::Internal`]
/// when a migration fails (it is rolled back; earlier ones stay applied), or when an applied
/// migration differs from the embedded one or is missing from this build.
pub async fn migrate(config: &PostgresConfig) -> Result<Vec<MigrationInfo>> {
    let (mut client, driver) = connect(config).await?;
    let outcome = async {
        client
            .batch_execute(
                "SET statement_timeout = 0; \
                 SELECT pg_advisory_lock(hashtextextended('kagami:migrate', 0))",
            )
            .await
            .map_err(classify)?;
        let report = embedded::migrations::runner()
            .set_grouped(false)
            .set_abort_divergent(true)
            .set_abort_missing(true)
            .run_async(&mut client)
            .await
            .map_err(StoreError::internal)?;
        Ok(report
            .applied_migrations()
            .iter()
            .map(MigrationInfo::of)
            .collect())
    }
    .await;
    disconnect(client, driver).await;
    outcome
}

/// The applied and pending migrations, on a dedicated connection.
///
/// # Errors
/// [`StoreError::Unavailable`] when the database cannot be reached; [`StoreError::Internal`]
/// when an applied migration's checksum (or name) differs from the embedded one, or an
/// applied migration is missing from this build.
pub async fn migration_status(config: &PostgresConfig) -> Result<MigrationStatus> {
    let (mut client, driver) = connect(config).await?;
    let status = status_on(&mut client).await;
    disconnect(client, driver).await;
    status
}

/// [`migration_status`] on an open connection.
pub(super) async fn status_on(client: &mut Client) -> Result<MigrationStatus> {
    let runner = embedded::migrations::runner();
    let history_exists: bool = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await
        .map_err(classify)?
        .try_get(0)
        .map_err(classify)?;
    let applied = if history_exists {
        runner
            .get_applied_migrations_async(client)
            .await
            .map_err(StoreError::internal)?
    } else {
        Vec::new()
    };
    let mut embedded: Vec<&refinery::Migration> = runner.get_migrations().iter().collect();
    embedded.sort_by_key(|m| m.version());
    for done in &applied {
        let Some(ours) = embedded.iter().find(|m| m.version() == done.version()) else {
            return Err(StoreError::internal(format!(
                "applied migration V{}__{} is not part of this build",
                done.version(),
                done.name()
            )));
        };
        if ours.checksum() != done.checksum() || ours.name() != done.name() {
            return Err(StoreError::internal(format!(
                "applied migration V{}__{} differs from the embedded one (checksum {} applied, \
                 {} embedded); migrations must never be edited once applied",
                done.version(),
                done.name(),
                done.checksum(),
                ours.checksum()
            )));
        }
    }
    Ok(MigrationStatus {
        applied: applied.iter().map(MigrationInfo::of).collect(),
        pending: embedded
            .into_iter()
            .filter(|m| !applied.iter().any(|a| a.version() == m.version()))
            .map(MigrationInfo::of)
            .collect(),
    })
}

async fn connect(config: &PostgresConfig) -> Result<(Client, JoinHandle<()>)> {
    let tls = PostgresTls::new(config).map_err(StoreError::internal)?;
    let (client, connection) = config
        .connection_config()
        .connect(tls.connector())
        .await
        .map_err(classify)?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "migration connection failed");
        }
    });
    Ok((client, driver))
}

/// Closes the connection and waits until it is closed, so that the caller may rename or
/// use the database as a template right away.
async fn disconnect(client: Client, driver: JoinHandle<()>) {
    drop(client);
    if let Err(e) = driver.await {
        tracing::warn!(error = %e, "migration connection task failed");
    }
}
