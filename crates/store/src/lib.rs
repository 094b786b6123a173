#![doc = include_str!("../README.md")]

mod error;
mod model;
pub mod postgres;
pub mod sqlite;
mod tx;
mod usecase;

use std::path::Path;

pub use error::{ConflictKind, Entity, Rejection, StoreError};
pub use model::*;
use usecase::UseCase;

use crate::{postgres::PostgresConfig, sqlite::SqliteBackend};

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The store: every use case of the service, each one atomic, on PostgreSQL or on the
/// embedded SQLite database.
///
/// Cloning is cheap and shares the backend (its pool or its connections).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) backend: Backend,
}

#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Postgres(postgres::PostgresBackend),
    Sqlite(SqliteBackend),
}

impl Store {
    /// Connects to PostgreSQL (see [`postgres::PostgresBackend::connect`]).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached;
    /// [`StoreError::Internal`] for anything else (authentication, unknown database).
    pub async fn connect_postgres(config: &PostgresConfig) -> Result<Self> {
        Ok(Self {
            backend: Backend::Postgres(postgres::PostgresBackend::connect(config).await?),
        })
    }

    /// Opens (creating and migrating if needed) the embedded database at `path` (see
    /// [`SqliteBackend::open`]). Blocks while it opens; call it at start-up.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be created or opened;
    /// [`StoreError::Internal`] when it is not a database or a migration fails.
    pub fn open_sqlite(path: &Path) -> Result<Self> {
        Ok(Self {
            backend: Backend::Sqlite(SqliteBackend::open(path)?),
        })
    }

    /// Which backend this is (`"postgres"` or `"sqlite"`), for logs and health.
    pub const fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite(_) => "sqlite",
        }
    }

    /// The PostgreSQL backend, if this store runs on it.
    pub const fn as_postgres(&self) -> Option<&postgres::PostgresBackend> {
        match &self.backend {
            Backend::Postgres(pg) => Some(pg),
            Backend::Sqlite(_) => None,
        }
    }

    /// Connection statistics `(open, idle)`.
    pub fn pool_status(&self) -> (usize, usize) {
        match &self.backend {
            Backend::Postgres(b) => b.pool_status(),
            Backend::Sqlite(b) => b.pool_status(),
        }
    }

    /// Closes the store: later calls fail with [`StoreError::Unavailable`] (PostgreSQL); the
    /// embedded store closes when its last clone is dropped.
    pub fn close(&self) {
        if let Backend::Postgres(b) = &self.backend {
            b.close();
        }
    }

    async fn run<U: UseCase>(&self, use_case: U) -> Result<U::Output> {
        match &self.backend {
            Backend::Postgres(b) => b.run(use_case).await,
            Backend::Sqlite(b) => b.run(use_case).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use kagami_core::{
        Usdc,
        crypto::{Hash32, Timestamp, Uuid},
    };

    use super::*;

    fn send<T: Send>(_: &T) {}

    /// The futures of the use cases are `Send` on both backends, so the server may run them on
    /// any thread (`tokio::spawn`).
    #[test]
    fn use_case_futures_are_send() {
        let dir = std::env::temp_dir().join(format!("kagami-send-{}", Uuid::new_v4().simple()));
        let store = Store::open_sqlite(&dir.join("kagami.db"));
        if let Ok(store) = store {
            let root = Hash32::from([1; 32]);
            send(&store.forward_trail(root));
            send(&store.refresh_flip_metrics());
            send(&store.set_stake(Uuid::nil(), Usdc::ZERO, Timestamp::from_unix(0).unwrap()));
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
