//! The PostgreSQL backend (production): `tokio-postgres` through a `deadpool-postgres` pool.
//!
//! A write use case is one READ COMMITTED transaction whose first statements take
//! transaction-scoped advisory locks on what it writes (`root:<hash>`, then `agent:<uuid>`s in
//! sorted order), so racing writers on one agent or one root transaction run one after the
//! other and each sees what the previous one committed (a REPEATABLE READ snapshot would
//! predate the lock). Record-forward takes the agents' locks shared (hops for one agent run
//! side by side). Stake rows are locked `FOR UPDATE`, in `agent_uuid` order, by a statement
//! of their own before any stake is read, locked or slashed, so the reading statement's
//! snapshot follows the lock. A read use case runs its statements on one pooled connection.
//! Deadlocks, serialization failures and lock or statement timeouts are retried a bounded
//! number of times, each attempt in a new transaction, then reported as
//! [`StoreError::Busy`].
//!
//! Money is `NUMERIC(20,6)`: written as `$n::bigint * 0.000001` from micro-USDC and read as
//! `(col * 1000000)::bigint`, both exact for every `Usdc` (a division by `1000000` would
//! round to 16 significant digits above a billion USDC).
//!
//! Statements go through each connection's prepared-statement cache; the server enforces
//! [`PostgresConfig::command_timeout`] as `statement_timeout`.

mod classify;
mod config;
mod migrations;
mod sql;
#[cfg(test)]
mod tests;
mod tls;
mod tx;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::IsolationLevel;

use self::{
    classify::{classify, classify_pool},
    tx::PgTx,
};
pub use self::{
    config::PostgresConfig,
    migrations::{MigrationInfo, MigrationStatus, migrate, migration_status},
    tls::{PostgresTls, SslMode, TlsError},
};
use crate::{
    Result, StoreError,
    usecase::{Access, UseCase},
};

/// How many times a use case runs before contention is reported as [`StoreError::Busy`].
const ATTEMPTS: u32 = 4;

/// The production backend: a pool of PostgreSQL connections.
#[derive(Clone)]
pub struct PostgresBackend {
    pool: Pool,
    round_trips: Arc<AtomicU64>,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PostgresBackend")
            .field("pool_size", &status.size)
            .field("pool_available", &status.available)
            .field("pool_max_size", &status.max_size)
            .field("closed", &self.pool.is_closed())
            .finish()
    }
}

impl PostgresBackend {
    /// Builds the pool and opens its first connections.
    ///
    /// The first connection must succeed, so a wrong URL or an unreachable database fails
    /// start-up at once instead of on the first request. The remaining
    /// `min(pool_min_size, pool_max_size) - 1` connections are opened best-effort: a failure
    /// is logged, and the pool opens connections on demand later.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached (within
    /// `connect_timeout`) or the TLS handshake fails (a certificate `sslmode` refuses);
    /// [`StoreError::Internal`] for anything else (authentication, unknown database, invalid
    /// settings, an unreadable CA file).
    pub async fn connect(config: &PostgresConfig) -> Result<Self> {
        let tls = PostgresTls::new(config).map_err(StoreError::internal)?;
        let manager = Manager::from_config(
            config.connection_config(),
            tls.connector(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let max_size = config.pool_max_size.max(1);
        let timeout = Some(config.connect_timeout);
        let pool = Pool::builder(manager)
            .max_size(max_size)
            .wait_timeout(timeout)
            .create_timeout(timeout)
            .recycle_timeout(timeout)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(StoreError::internal)?;
        let backend = Self {
            pool,
            round_trips: Arc::new(AtomicU64::new(0)),
        };
        let first = backend.client().await?;
        let warm = config.pool_min_size.min(max_size).saturating_sub(1);
        let extra = futures::future::join_all((0..warm).map(|_| backend.pool.get())).await;
        if let Some(Err(e)) = extra.iter().find(|c| c.is_err()) {
            tracing::warn!(error = %e, "could not open all of the pool's initial connections");
        }
        drop(extra);
        drop(first);
        Ok(backend)
    }

    /// Closes the pool: connections are closed as they are returned, and every later call
    /// fails with [`StoreError::Unavailable`].
    pub fn close(&self) {
        self.pool.close();
    }

    /// The embedded migrations not applied to this database yet (the server refuses to start
    /// on a database that is behind).
    ///
    /// # Errors
    /// As [`migration_status`].
    pub async fn pending_migrations(&self) -> Result<Vec<MigrationInfo>> {
        let mut client = self.client().await?;
        let client: &mut tokio_postgres::Client = &mut client;
        Ok(migrations::status_on(client).await?.pending)
    }

    /// Whether a pooled connection is encrypted (PostgreSQL's `pg_stat_ssl` for its own
    /// session): what `sslmode=prefer` negotiated, for the start-up log.
    ///
    /// # Errors
    /// As any read: [`StoreError::Unavailable`] when no connection can be had.
    pub async fn connection_encrypted(&self) -> Result<bool> {
        let client = self.client().await?;
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        client
            .query_one(
                "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
                &[],
            )
            .await
            .map_err(classify)?
            .try_get(0)
            .map_err(classify)
    }

    pub(crate) fn pool_status(&self) -> (usize, usize) {
        let status = self.pool.status();
        (status.size, status.available)
    }

    /// Statements sent so far, `BEGIN` and `COMMIT` included: each use case's cost in round
    /// trips is the difference around it (the store crate's README lists them).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    async fn client(&self) -> Result<deadpool_postgres::Client> {
        self.pool.get().await.map_err(classify_pool)
    }

    /// Runs a use case: a write in one READ COMMITTED transaction committed only on success
    /// (an error drops the transaction, which rolls it back), a read on one connection.
    /// Contention ([`StoreError::Busy`]) is retried with a short, growing pause.
    pub(crate) async fn run<U: UseCase>(&self, use_case: U) -> Result<U::Output> {
        let mut attempt = 1;
        loop {
            let outcome = self.run_once(use_case.clone()).await;
            match outcome {
                Err(StoreError::Busy(e)) if attempt < ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "store contention; retrying");
                    tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn run_once<U: UseCase>(&self, use_case: U) -> Result<U::Output> {
        let mut client = self.client().await?;
        let round_trips = &self.round_trips;
        match U::ACCESS {
            Access::Read => {
                use_case
                    .run(&PgTx {
                        client: &client,
                        round_trips,
                    })
                    .await
            }
            Access::Write => {
                round_trips.fetch_add(2, Ordering::Relaxed);
                let transaction = client
                    .build_transaction()
                    .isolation_level(IsolationLevel::ReadCommitted)
                    .start()
                    .await
                    .map_err(classify)?;
                let tx = PgTx {
                    client: &transaction,
                    round_trips,
                };
                let output = use_case.run(&tx).await?;
                transaction.commit().await.map_err(classify)?;
                Ok(output)
            }
        }
    }
}
