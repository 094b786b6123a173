//! The embedded SQLite backend (default): `rusqlite` (bundled), WAL, `synchronous=FULL`,
//! foreign keys on; it migrates itself on open.
//!
//! One writer connection and a few read-only ones, each used on a blocking thread. A write
//! use case is one `BEGIN IMMEDIATE` transaction on the writer, which takes SQLite's write
//! lock up front: writers are serialized (also across processes sharing the file, up to the
//! busy timeout), so a check and the write it guards never interleave with another writer.
//! Reads run in deferred transactions on the reader connections, each seeing one consistent
//! snapshot, and with WAL they never wait behind the writer. The use cases are `async` only
//! because PostgreSQL's are: on SQLite every primitive completes at once, so a use case runs
//! to completion on its blocking thread.

mod classify;
mod rows;
#[cfg(test)]
mod tests;
mod tx;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::Semaphore;

use self::{
    classify::{Db, classify_open},
    tx::SqliteTx,
};
use crate::{
    Result, StoreError,
    usecase::{Access, UseCase},
};

mod embedded {
    refinery::embed_migrations!("../../migrations/sqlite");
}

/// How long a statement waits for another connection's lock before it is busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read-only connections beside the writer.
const READERS: usize = 4;

/// How many times a write runs before contention is reported as [`StoreError::Busy`].
const ATTEMPTS: u32 = 3;

/// The embedded backend: one SQLite database file, one writer connection and
/// [`READERS`] read-only ones.
///
/// Cloning is cheap and shares the connections.
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    pub(crate) writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
    path: PathBuf,
}

impl SqliteBackend {
    /// Opens (creating if needed, with its parent directory) the database at `path`,
    /// configures the connections (WAL, `synchronous=FULL`, foreign keys, busy timeout) and
    /// applies the embedded migrations (`migrations/sqlite`).
    ///
    /// This blocks the calling thread while it opens and migrates; call it at start-up.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the directory or the file cannot be created or opened,
    /// or the database stays locked; [`StoreError::Internal`] when the file is not a database
    /// or a migration fails.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(StoreError::unavailable)?;
        }
        let mut writer = Connection::open(path).map_err(classify_open)?;
        writer.busy_timeout(BUSY_TIMEOUT).map_err(classify_open)?;
        let journal_mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(classify_open)?;
        if !journal_mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                sqlite.journal_mode = %journal_mode,
                "sqlite refused WAL mode; continuing with its journal mode"
            );
        }
        // FULL: a write is on disk (the WAL fsynced) before it is acknowledged, so a power
        // loss cannot undo a settlement the caller was told about. NORMAL would be durable
        // against a crash of the process but not of the machine.
        writer
            .pragma_update(None, "synchronous", "FULL")
            .map_err(classify_open)?;
        writer
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(classify_open)?;
        embedded::migrations::runner()
            .run(&mut writer)
            .map_err(classify_migration)?;
        let readers = (0..READERS)
            .map(|_| open_reader(path))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(readers)),
            permits: Arc::new(Semaphore::new(READERS)),
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) const fn pool_status(&self) -> (usize, usize) {
        (READERS + 1, READERS + 1)
    }

    /// Runs a use case on a blocking thread: a write in one `BEGIN IMMEDIATE` transaction on
    /// the writer, committed only when it succeeds (dropping the transaction on an error
    /// rolls it back), retried while the database stays busy; a read in a deferred
    /// transaction on a reader.
    pub(crate) async fn run<U: UseCase>(&self, use_case: U) -> Result<U::Output> {
        match U::ACCESS {
            Access::Write => {
                let writer = Arc::clone(&self.writer);
                tokio::task::spawn_blocking(move || {
                    let mut conn = writer
                        .lock()
                        .map_err(|_| StoreError::internal("the sqlite writer mutex is poisoned"))?;
                    let mut attempt = 1;
                    loop {
                        match write_once(&mut conn, use_case.clone()) {
                            Err(StoreError::Busy(e)) if attempt < ATTEMPTS => {
                                tracing::debug!(error = %e, attempt, "sqlite busy; retrying");
                                attempt += 1;
                            }
                            other => return other,
                        }
                    }
                })
                .await
                .map_err(StoreError::internal)?
            }
            Access::Read => {
                let _permit = self.permits.acquire().await.map_err(StoreError::internal)?;
                let readers = Arc::clone(&self.readers);
                tokio::task::spawn_blocking(move || {
                    let taken = readers
                        .lock()
                        .map_err(|_| StoreError::internal("the sqlite reader pool is poisoned"))?
                        .pop();
                    let mut conn =
                        taken.ok_or_else(|| StoreError::internal("no sqlite reader is free"))?;
                    let output = read_once(&mut conn, use_case);
                    if let Ok(mut pool) = readers.lock() {
                        pool.push(conn);
                    }
                    output
                })
                .await
                .map_err(StoreError::internal)?
            }
        }
    }
}

fn write_once<U: UseCase>(conn: &mut Connection, use_case: U) -> Result<U::Output> {
    let transaction = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let output = futures::executor::block_on(use_case.run(&SqliteTx(&transaction)))?;
    transaction.commit().db()?;
    Ok(output)
}

fn read_once<U: UseCase>(conn: &mut Connection, use_case: U) -> Result<U::Output> {
    let transaction = conn.transaction().db()?;
    let output = futures::executor::block_on(use_case.run(&SqliteTx(&transaction)))?;
    transaction.commit().db()?;
    Ok(output)
}

/// A read-only connection to the database at `path`.
fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(classify_open)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(classify_open)?;
    Ok(conn)
}

/// A migration failure: the database staying locked is [`StoreError::Unavailable`]; anything
/// else (a bad migration, a diverging history) is [`StoreError::Internal`].
fn classify_migration(error: refinery::Error) -> StoreError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if let Some(sqlite) = e.downcast_ref::<rusqlite::Error>()
            && matches!(
                sqlite.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            )
        {
            return StoreError::unavailable(error);
        }
        source = e.source();
    }
    StoreError::internal(error)
}
