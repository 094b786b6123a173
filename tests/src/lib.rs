//! The harness Kagami's integration tests share: real databases, one per test.
//!
//! PostgreSQL tests each get a fresh database cloned from a template that is migrated once
//! per set of migrations (the template's name carries a hash of `migrations/postgres`), and
//! dropped afterwards. SQLite tests each get a store in a fresh temporary directory.
//!
//! Where PostgreSQL is unreachable: with `CI` set, that is a test failure; elsewhere the
//! PostgreSQL half of a suite is skipped with a loud message on stderr.

#![expect(
    clippy::panic,
    reason = "a test harness fails the test by panicking, with the cause"
)]

mod interloper;
mod invariants;
mod pg_tls;
mod process;
mod proxy;

use std::{
    path::{Path, PathBuf},
    str::FromStr,
};

use alloy_consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, TxKind, U256};
use alloy_signer::SignerSync;
pub use interloper::Interloper;
pub use invariants::{Direct, assert_ledger_invariants};
use kagami_crypto::{PrivateKeySigner, SignedTransaction};
#[cfg(unix)]
pub use pg_tls::{PostgresTls, SERVER_NAMES};
pub use process::{ServerProcess, server_binary, server_command};
pub use proxy::{Cut, Proxy};

use kagami_store::{Store, postgres::PostgresConfig};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use tokio_postgres::NoTls;
use uuid::Uuid;

/// The server tests connect to: `DATABASE_URL`, or the local cluster.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The Redis tests use: `REDIS_URL`, or the local server.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// `host:port` of [`redis_url`].
pub fn redis_address() -> String {
    let url = redis_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host_port)| host_port);
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    }
}

/// A Redis key prefix no other test uses, so tests sharing one Redis do not share budgets.
pub fn redis_key_prefix() -> String {
    format!("kagami-test:{}:", Uuid::new_v4().simple())
}

/// Whether Redis answers `PING` at [`redis_address`]. Unreachable: with `CI` set, the test
/// fails; elsewhere it is skipped with a loud message on stderr.
///
/// # Panics
/// When Redis is unreachable in CI.
pub async fn redis_available() -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = redis_address();
    let ping = async {
        let mut stream = tokio::net::TcpStream::connect(&address).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut answer = [0u8; 7];
        stream.read_exact(&mut answer).await?;
        if &answer == b"+PONG\r\n" {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "answered {:?}",
                String::from_utf8_lossy(&answer)
            )))
        }
    };
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(2), ping)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("no answer within 2 s")));
    match outcome {
        Ok(()) => true,
        Err(e) if !in_ci() => {
            eprintln!(
                "\n*** Redis unreachable at {address} ({e}); SKIPPING this Redis test. Set CI=true to make this a failure. ***\n"
            );
            false
        }
        Err(e) => panic!("Redis unreachable at {address} in CI: {e}"),
    }
}

/// Whether this run is CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// A store on an embedded SQLite database in its own temporary directory, removed on drop.
#[derive(Debug)]
pub struct TestSqlite {
    store: Store,
    dir: PathBuf,
}

impl TestSqlite {
    /// Opens (and migrates) a fresh store.
    ///
    /// # Panics
    /// When the store cannot be opened.
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("kagami-test-{}", Uuid::new_v4().simple()));
        let store = Store::open_sqlite(&dir.join("kagami.db"))
            .unwrap_or_else(|e| panic!("open sqlite store: {e:?}"));
        Self { store, dir }
    }

    /// The store.
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// The directory holding the database file.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file, read directly.
    pub fn direct(&self) -> Direct {
        Direct::sqlite(&self.dir)
    }
}

impl Default for TestSqlite {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestSqlite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh, migrated PostgreSQL database for one test.
#[derive(Debug)]
pub struct TestPostgres {
    store: Store,
    config: PostgresConfig,
    name: String,
}

static TEMPLATE: OnceCell<Option<String>> = OnceCell::const_new();

impl TestPostgres {
    /// Creates a database from the migrated template and connects a store to it. `None` only
    /// outside CI when PostgreSQL is unreachable (announced on stderr).
    ///
    /// # Panics
    /// When PostgreSQL is unreachable in CI, or on any other setup failure.
    pub async fn new() -> Option<Self> {
        let template = TEMPLATE.get_or_init(create_template).await.clone()?;
        let name = format!("kagami_test_{}", Uuid::new_v4().simple());
        admin_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")).await;
        let config = base_config().with_database(&name);
        let store = Store::connect_postgres(&config)
            .await
            .unwrap_or_else(|e| panic!("connect to {name}: {e:?}"));
        Some(Self {
            store,
            config,
            name,
        })
    }

    /// The store.
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// The connection settings of this test's database.
    pub const fn config(&self) -> &PostgresConfig {
        &self.config
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A connection of its own to this test's database, outside the store's pool: for SQL the
    /// store does not send (holding a lock, calling the operators' audit functions).
    ///
    /// # Panics
    /// When the database cannot be reached.
    pub async fn client(&self) -> tokio_postgres::Client {
        let mut config = tokio_postgres::Config::from_str(&database_url())
            .unwrap_or_else(|e| panic!("DATABASE_URL: {e}"));
        config.dbname(self.name());
        let (client, connection) = config
            .connect(NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.name));
        tokio::spawn(connection);
        client
    }

    /// The database, read directly (not through the store's pool).
    pub fn direct(&self) -> Direct {
        Direct::Postgres(self.name.clone())
    }

    /// Closes the pool and drops the database.
    pub async fn cleanup(self) {
        self.store.close();
        drop(self.store);
        admin_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await;
    }
}

fn base_config() -> PostgresConfig {
    let mut config = PostgresConfig::from_url(&database_url())
        .unwrap_or_else(|e| panic!("DATABASE_URL is not usable: {e:?}"));
    // Tests open many small pools at once; keep each one small.
    config.pool_min_size = 1;
    config.pool_max_size = 8;
    config
}

/// Runs one statement on the server's maintenance database.
async fn admin_execute(sql: &str) {
    let (client, connection) = tokio_postgres::connect(&database_url(), NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", database_url()));
    let driver = tokio::spawn(connection);
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    drop(client);
    let _ = driver.await;
}

/// A hash of the PostgreSQL migrations, so a changed migration gets a new template.
fn migrations_fingerprint() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/postgres");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(
            file.file_name()
                .map(|n| n.as_encoded_bytes().to_vec())
                .unwrap_or_default(),
        );
        hasher.update(std::fs::read(&file).unwrap_or_default());
    }
    hex::encode(&hasher.finalize()[..6])
}

/// Creates (once per migration set) the migrated template database, returning its name.
async fn create_template() -> Option<String> {
    match tokio_postgres::connect(&database_url(), NoTls).await {
        Ok(_) => {}
        Err(e) if !in_ci() => {
            eprintln!(
                "\n*** PostgreSQL unreachable at {} ({e}); SKIPPING the PostgreSQL half of this suite. Set CI=true to make this a failure. ***\n",
                database_url()
            );
            return None;
        }
        Err(e) => panic!("PostgreSQL unreachable at {} in CI: {e}", database_url()),
    }
    let template = format!("kagami_tpl_{}", migrations_fingerprint());
    let (client, connection) = tokio_postgres::connect(&database_url(), NoTls).await.ok()?;
    let driver = tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await
        .unwrap_or_else(|e| panic!("look up template: {e:?}"))
        .is_some();
    if !exists {
        // Build under a temporary name and rename, so a half-built template is never used.
        let building = format!("{template}_{}", Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE DATABASE {building}"))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let config = base_config().with_database(&building);
        kagami_store::postgres::migrate(&config)
            .await
            .unwrap_or_else(|e| panic!("migrate template: {e:?}"));
        let renamed = client
            .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
            .await;
        if renamed.is_err() {
            // Another process won the race; ours is redundant.
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                .await;
        }
    }
    drop(client);
    let _ = driver.await;
    Some(template)
}

/// A signed EIP-155 transaction from `key` (a 1-wei transfer on chain 8453 with `nonce`): the
/// kind of evidence an MEV incident names. Distinct nonces give distinct hashes.
///
/// # Panics
/// Never for a local key.
pub fn signed_transaction(key: &PrivateKeySigner, nonce: u64) -> SignedTransaction {
    let tx = TxLegacy {
        chain_id: Some(8453),
        nonce,
        gas_price: 1_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(Address::repeat_byte(0x35)),
        value: U256::from(1),
        input: Default::default(),
    };
    let signature = key
        .sign_hash_sync(&tx.signature_hash())
        .unwrap_or_else(|e| panic!("signing a transaction: {e}"));
    let raw = TxEnvelope::Legacy(tx.into_signed(signature)).encoded_2718();
    SignedTransaction::decode(&raw).unwrap_or_else(|e| panic!("decoding our own transaction: {e}"))
}
