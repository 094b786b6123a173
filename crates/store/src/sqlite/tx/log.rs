//! SqliteTx: LogRows.

use kagami_tlog::Hash;

use super::{
    super::rows::{LOG_ENTRY_COLUMNS, log_entry_row, log_hash, log_head_row},
    *,
};

impl LogRows for SqliteTx<'_> {
    async fn insert_log_entry(&self, entry: &LogEntry) -> Result<()> {
        self.execute(
            "INSERT INTO kagami_log_entries (kind, object_key, entry, leaf_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                entry.kind,
                entry.key,
                entry.entry,
                entry.leaf_hash.as_bytes().as_slice(),
                entry.created_at.unix()
            ],
        )
        .map(drop)
    }

    async fn try_lock_log(&self) -> Result<bool> {
        Ok(true)
    }

    async fn log_head(&self) -> Result<Option<LogHead>> {
        self.one(
            "SELECT tree_size, root, checkpoint FROM kagami_log_checkpoints \
             ORDER BY tree_size DESC LIMIT 1",
            [],
            log_head_row,
        )
    }

    async fn pending_log_entries(&self, limit: u32) -> Result<Vec<(i64, Hash)>> {
        self.all(
            "SELECT seq, leaf_hash FROM kagami_log_entries WHERE leaf_index IS NULL \
             ORDER BY seq LIMIT ?1",
            params![limit],
            |row| Ok((row.get(0)?, log_hash(row, 1)?)),
        )
    }

    async fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>> {
        indexes
            .iter()
            .map(|&i| {
                self.one(
                    "SELECT hash FROM kagami_log_hashes WHERE idx = ?1",
                    params![to_i64(i)?],
                    |row| log_hash(row, 0),
                )?
                .ok_or_else(|| StoreError::internal(format!("log hash {i} is not stored")))
            })
            .collect()
    }

    async fn insert_log_hashes(&self, first: u64, hashes: &[Hash]) -> Result<()> {
        for (idx, hash) in (first..).zip(hashes) {
            self.execute(
                "INSERT INTO kagami_log_hashes (idx, hash) VALUES (?1, ?2)",
                params![to_i64(idx)?, hash.as_bytes().as_slice()],
            )?;
        }
        Ok(())
    }

    async fn set_log_indexes(&self, seqs: &[i64], first: u64, now: Timestamp) -> Result<()> {
        for (index, seq) in (first..).zip(seqs) {
            let rows = self.execute(
                "UPDATE kagami_log_entries SET leaf_index = ?2, integrated_at = ?3 \
                 WHERE seq = ?1 AND leaf_index IS NULL",
                params![seq, to_i64(index)?, now.unix()],
            )?;
            if rows == 0 {
                return Err(StoreError::internal(format!(
                    "log entry {seq} is not pending"
                )));
            }
        }
        Ok(())
    }

    async fn insert_checkpoint(&self, head: &LogHead, now: Timestamp) -> Result<()> {
        self.execute(
            "INSERT INTO kagami_log_checkpoints (tree_size, root, checkpoint, created_at) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                to_i64(head.size)?,
                head.root.as_bytes().as_slice(),
                head.checkpoint,
                now.unix()
            ],
        )
        .map(drop)
    }

    async fn log_entries(&self, start: u64, end: u64) -> Result<Vec<LogEntry>> {
        self.all(
            &format!(
                "SELECT {LOG_ENTRY_COLUMNS} FROM kagami_log_entries \
                 WHERE leaf_index >= ?1 AND leaf_index < ?2 ORDER BY leaf_index"
            ),
            params![to_i64(start)?, to_i64(end)?],
            log_entry_row,
        )
    }

    async fn log_entry_by_leaf(&self, leaf: &Hash) -> Result<Option<LogEntry>> {
        self.one(
            &format!(
                "SELECT {LOG_ENTRY_COLUMNS} FROM kagami_log_entries \
                 WHERE leaf_hash = ?1 AND leaf_index IS NOT NULL ORDER BY leaf_index LIMIT 1"
            ),
            params![leaf.as_bytes().as_slice()],
            log_entry_row,
        )
    }

    async fn log_entry_of(&self, kind: &str, key: &str) -> Result<Option<LogEntry>> {
        self.one(
            &format!(
                "SELECT {LOG_ENTRY_COLUMNS} FROM kagami_log_entries \
                 WHERE kind = ?1 AND object_key = ?2 ORDER BY seq LIMIT 1"
            ),
            params![kind, key],
            log_entry_row,
        )
    }
}
