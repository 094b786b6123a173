//! What must hold of a store whatever happened to it — a random sequence of operations, a
//! process killed mid-write, a connection cut mid-transaction: the money invariants, read
//! through the [`Store`], and the absence of partial state, read straight from the tables.

use std::{collections::BTreeMap, path::PathBuf, str::FromStr};

use kagami_core::{Usdc, crypto::Timestamp};
use kagami_store::Store;
use tokio_postgres::NoTls;
use uuid::Uuid;

use crate::database_url;

/// Asserts the ledger's invariants at `at`: the ledger balances (Σ slashed = Σ bounties +
/// Σ retained, in total and per cause), no stake of `agents` is below zero, each agent's
/// slashed amount is the sum of its slashes, and the ledger holds every slash of `agents`
/// (pass every agent that was ever slashed).
///
/// # Panics
/// When an invariant does not hold, or the store fails.
pub async fn assert_ledger_invariants(store: &Store, agents: &[Uuid], at: Timestamp) {
    let (totals, _) = store
        .ledger(0, None)
        .await
        .unwrap_or_else(|e| panic!("read the ledger: {e:?}"));
    assert!(totals.balanced(), "the ledger does not balance: {totals:?}");
    let mut slashed = Usdc::ZERO;
    for &agent in agents {
        let stake = store
            .stake(agent, at)
            .await
            .unwrap_or_else(|e| panic!("read the stake of {agent}: {e:?}"))
            .unwrap_or_else(|| panic!("no stake row for {agent}"));
        assert!(
            stake.slashed <= stake.staked,
            "stake below zero: {stake:?} of {agent}"
        );
        let own = store
            .slashes_of(agent)
            .await
            .unwrap_or_else(|e| panic!("read the slashes of {agent}: {e:?}"))
            .iter()
            .try_fold(Usdc::ZERO, |sum, s| sum.checked_add(s.amount))
            .unwrap_or_else(|| panic!("the slashes of {agent} overflow"));
        assert_eq!(
            own, stake.slashed,
            "the agent's slashes are its slashed amount"
        );
        slashed = slashed
            .checked_add(own)
            .unwrap_or_else(|| panic!("the slashes overflow"));
    }
    assert_eq!(
        totals.slashed,
        slashed.into(),
        "the ledger holds every slash"
    );
}

/// Each kind of partial state, as a query counting the rows that show it. Written once in
/// the SQL both backends understand (booleans are 0/1 integers on SQLite, which `WHERE x`
/// and `NOT x` read the same way).
const PARTIAL_STATE: &[(&str, &str)] = &[
    (
        "a settlement whose slashes do not add up to its total",
        "SELECT count(*) FROM erc8004_settlements s WHERE s.total_slashed <> \
         (SELECT coalesce(sum(x.amount), 0) FROM erc8004_slashes x WHERE x.settlement_id = s.id)",
    ),
    (
        "a settlement whose ledger lines (bounty, retained) do not add up to its total",
        "SELECT count(*) FROM erc8004_settlements s WHERE s.total_slashed <> \
         (SELECT coalesce(sum(p.amount), 0) FROM kagami_payouts p WHERE p.settlement_id = s.id)",
    ),
    (
        "a settlement without its closing receipt",
        "SELECT count(*) FROM erc8004_settlements s WHERE s.closing_receipt_hash IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM erc8004_forward_receipts r \
                         WHERE r.receipt_hash = s.closing_receipt_hash)",
    ),
    (
        "an invalidated receipt on a root without a settlement",
        "SELECT count(*) FROM erc8004_forward_receipts r WHERE NOT r.is_valid \
         AND NOT EXISTS (SELECT 1 FROM erc8004_settlements s WHERE s.root_tx_hash = r.root_tx_hash)",
    ),
    (
        "a stake lock still held on a settled root",
        "SELECT count(*) FROM erc8004_stake_utilization u WHERE u.released_at IS NULL \
         AND EXISTS (SELECT 1 FROM erc8004_settlements s WHERE s.root_tx_hash = u.root_tx_hash)",
    ),
    (
        "an accepted hop (a valid receipt with its order, on an unsettled root) without its stake lock",
        "SELECT count(*) FROM erc8004_forward_receipts r WHERE r.is_valid \
         AND r.order_hash IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM erc8004_settlements s WHERE s.root_tx_hash = r.root_tx_hash) \
         AND NOT EXISTS (SELECT 1 FROM erc8004_stake_utilization u \
                         WHERE u.agent_uuid = r.dest_agent_uuid AND u.root_tx_hash = r.root_tx_hash \
                         AND u.created_at = r.created_at)",
    ),
    (
        "a stake lock without the hop that took it",
        "SELECT count(*) FROM erc8004_stake_utilization u WHERE NOT EXISTS \
         (SELECT 1 FROM erc8004_forward_receipts r WHERE r.dest_agent_uuid = u.agent_uuid \
          AND r.root_tx_hash = u.root_tx_hash AND r.created_at = u.created_at \
          AND r.order_hash IS NOT NULL)",
    ),
    (
        "a stake row whose running total `locked` is not the sum of its counted locks",
        "SELECT count(*) FROM erc8004_agent_stakes s WHERE s.locked <> \
         (SELECT coalesce(sum(u.amount), 0) FROM erc8004_stake_utilization u \
          WHERE u.agent_uuid = s.agent_uuid AND u.counted)",
    ),
    (
        "a stake row whose `slashed` is not the sum of the agent's slashes",
        "SELECT count(*) FROM erc8004_agent_stakes s WHERE s.slashed <> \
         (SELECT coalesce(sum(x.amount), 0) FROM erc8004_slashes x WHERE x.agent_uuid = s.agent_uuid)",
    ),
    (
        "a stake below zero",
        "SELECT count(*) FROM erc8004_agent_stakes s WHERE s.slashed > s.staked",
    ),
    (
        "a commitment slash without the commitment's dispute",
        "SELECT count(*) FROM erc8004_slashes x JOIN erc8004_onchain_commitments c \
         ON c.id = x.commitment_id WHERE c.status <> 'disputed'",
    ),
    (
        "a manifest without its audit log entry",
        "SELECT count(*) FROM erc8004_endpoint_manifests m WHERE NOT EXISTS (SELECT 1 FROM \
         kagami_log_entries e WHERE e.kind = 'manifest' AND e.object_key = m.manifest_hash)",
    ),
    (
        "a revoked manifest without its revocation's audit log entry",
        "SELECT count(*) FROM erc8004_endpoint_manifests m WHERE m.revoked_at IS NOT NULL AND \
         NOT EXISTS (SELECT 1 FROM kagami_log_entries e WHERE e.kind = 'revocation' \
         AND e.object_key = m.manifest_hash)",
    ),
    (
        "a receipt without its audit log entry",
        "SELECT count(*) FROM erc8004_forward_receipts r WHERE NOT EXISTS (SELECT 1 FROM \
         kagami_log_entries e WHERE e.kind = 'forward' AND e.object_key = r.receipt_hash)",
    ),
    (
        "a settlement without its audit log entry",
        "SELECT count(*) FROM erc8004_settlements s WHERE NOT EXISTS (SELECT 1 FROM \
         kagami_log_entries e WHERE e.kind = 'settlement' AND e.object_key = CAST(s.id AS TEXT))",
    ),
    (
        "a slash without its audit log entry",
        "SELECT count(*) FROM erc8004_slashes x WHERE NOT EXISTS (SELECT 1 FROM \
         kagami_log_entries e WHERE e.kind = 'slash' AND e.object_key = CAST(x.id AS TEXT))",
    ),
    (
        "a payout without its audit log entry",
        "SELECT count(*) FROM kagami_payouts p WHERE NOT EXISTS (SELECT 1 FROM \
         kagami_log_entries e WHERE e.kind = 'payout' AND e.object_key = CAST(p.id AS TEXT))",
    ),
    (
        "a commitment without its audit log entry",
        "SELECT count(*) FROM erc8004_onchain_commitments c WHERE NOT EXISTS (SELECT 1 FROM \
         kagami_log_entries e WHERE e.kind = 'commitment' AND e.object_key = CAST(c.id AS TEXT))",
    ),
    (
        "a commitment's status without its audit log entry",
        "SELECT count(*) FROM erc8004_onchain_commitments c WHERE c.status <> 'pending' AND \
         NOT EXISTS (SELECT 1 FROM kagami_log_entries e WHERE e.kind = 'commitment_status' \
         AND e.object_key = CAST(c.id AS TEXT) || ':' || c.status)",
    ),
    (
        "an MEV incident without its audit log entry",
        "SELECT count(*) FROM erc8004_mev_incidents i WHERE NOT EXISTS (SELECT 1 FROM \
         kagami_log_entries e WHERE e.kind = 'mev_incident' AND e.object_key = CAST(i.id AS TEXT))",
    ),
    (
        "an MEV incident whose slashes or ledger lines do not add up to its slashed amount",
        "SELECT count(*) FROM erc8004_mev_incidents i WHERE i.slashed_amount <> \
         (SELECT coalesce(sum(x.amount), 0) FROM erc8004_slashes x WHERE x.incident_id = i.id) \
         OR i.slashed_amount <> \
         (SELECT coalesce(sum(p.amount), 0) FROM kagami_payouts p WHERE p.incident_id = i.id)",
    ),
];

/// What a write can change, as counts: the rows of every table it can add to, and of the
/// states its updates move rows between. [`Direct::snapshot`] takes them all.
const SNAPSHOT: &[(&str, &str)] = &[
    ("agents", "SELECT count(*) FROM erc8004_agents"),
    ("stake rows", "SELECT count(*) FROM erc8004_agent_stakes"),
    (
        "stake rows with a slash",
        "SELECT count(*) FROM erc8004_agent_stakes WHERE slashed > 0",
    ),
    (
        "stake rows with a lock",
        "SELECT count(*) FROM erc8004_agent_stakes WHERE locked > 0",
    ),
    (
        "manifests",
        "SELECT count(*) FROM erc8004_endpoint_manifests",
    ),
    (
        "revoked manifests",
        "SELECT count(*) FROM erc8004_endpoint_manifests WHERE revoked_at IS NOT NULL",
    ),
    ("flips", "SELECT count(*) FROM erc8004_manifest_flips"),
    ("receipts", "SELECT count(*) FROM erc8004_forward_receipts"),
    (
        "valid receipts",
        "SELECT count(*) FROM erc8004_forward_receipts WHERE is_valid",
    ),
    ("settlements", "SELECT count(*) FROM erc8004_settlements"),
    (
        "stake locks",
        "SELECT count(*) FROM erc8004_stake_utilization",
    ),
    (
        "stake locks held",
        "SELECT count(*) FROM erc8004_stake_utilization WHERE released_at IS NULL",
    ),
    (
        "stake locks counted",
        "SELECT count(*) FROM erc8004_stake_utilization WHERE counted",
    ),
    (
        "commitments",
        "SELECT count(*) FROM erc8004_onchain_commitments",
    ),
    (
        "commitments confirmed",
        "SELECT count(*) FROM erc8004_onchain_commitments WHERE status = 'confirmed'",
    ),
    (
        "commitments settled",
        "SELECT count(*) FROM erc8004_onchain_commitments WHERE status = 'settled'",
    ),
    (
        "commitments disputed",
        "SELECT count(*) FROM erc8004_onchain_commitments WHERE status = 'disputed'",
    ),
    (
        "MEV incidents",
        "SELECT count(*) FROM erc8004_mev_incidents",
    ),
    ("slashes", "SELECT count(*) FROM erc8004_slashes"),
    ("ledger lines", "SELECT count(*) FROM kagami_payouts"),
    (
        "audit log entries",
        "SELECT count(*) FROM kagami_log_entries",
    ),
];

/// A store's database read directly, bypassing the store (and any proxy in front of it).
#[derive(Debug, Clone)]
pub enum Direct {
    /// The embedded store's database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database on the server at [`database_url`], by name.
    Postgres(String),
}

impl Direct {
    /// The embedded store kept in `data_dir` (its `kagami.db`).
    pub fn sqlite(data_dir: &std::path::Path) -> Self {
        Self::Sqlite(data_dir.join("kagami.db"))
    }

    /// Runs `sql`, which returns one integer (a count); returns it.
    ///
    /// # Panics
    /// When the database cannot be opened or the query fails.
    pub async fn count(&self, sql: &str) -> i64 {
        self.counts(&[sql]).await[0]
    }

    /// Runs each query of `sqls` (each returns one integer) on one connection; returns the
    /// integers.
    ///
    /// # Panics
    /// When the database cannot be opened or a query fails.
    pub async fn counts(&self, sqls: &[&str]) -> Vec<i64> {
        match self {
            Self::Sqlite(path) => {
                let db = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
                sqls.iter()
                    .map(|sql| {
                        db.query_row(sql, [], |row| row.get(0))
                            .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    })
                    .collect()
            }
            Self::Postgres(name) => {
                let mut config = tokio_postgres::Config::from_str(&database_url())
                    .unwrap_or_else(|e| panic!("DATABASE_URL: {e}"));
                config.dbname(name);
                let (client, connection) = config
                    .connect(NoTls)
                    .await
                    .unwrap_or_else(|e| panic!("connect to {name}: {e}"));
                let driver = tokio::spawn(connection);
                let mut counts = Vec::with_capacity(sqls.len());
                for sql in sqls {
                    counts.push(
                        client
                            .query_one(*sql, &[])
                            .await
                            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
                            .get(0),
                    );
                }
                drop(client);
                let _ = driver.await;
                counts
            }
        }
    }

    /// What a write can change, as named counts: two equal snapshots around a request show
    /// that it wrote nothing.
    pub async fn snapshot(&self) -> BTreeMap<&'static str, i64> {
        let sqls: Vec<&str> = SNAPSHOT.iter().map(|(_, sql)| *sql).collect();
        let counts = self.counts(&sqls).await;
        SNAPSHOT.iter().map(|(what, _)| *what).zip(counts).collect()
    }

    /// The kinds of partial state found, each with how many rows show it (empty: none).
    pub async fn partial_state(&self) -> Vec<(&'static str, i64)> {
        let sqls: Vec<&str> = PARTIAL_STATE.iter().map(|(_, sql)| *sql).collect();
        let counts = self.counts(&sqls).await;
        PARTIAL_STATE
            .iter()
            .map(|(what, _)| *what)
            .zip(counts)
            .filter(|(_, rows)| *rows != 0)
            .collect()
    }

    /// Asserts that no partial state is found.
    ///
    /// # Panics
    /// When some is, naming each kind.
    pub async fn assert_no_partial_state(&self) {
        let found = self.partial_state().await;
        assert!(found.is_empty(), "partial state in {self:?}: {found:#?}");
    }
}
