//! PgTx: LogRows.

use kagami_tlog::Hash;

use super::*;

/// The sequencer's transaction-scoped advisory lock: one sequencer integrates at a time.
const SEQUENCER_LOCK: &str = "kagami:log:sequencer";

fn indexes_i64(indexes: &[u64]) -> Result<Vec<i64>> {
    indexes.iter().map(|&i| to_i64(i, "log index")).collect()
}

impl<C: GenericClient + Sync> LogRows for PgTx<'_, C> {
    async fn insert_log_entry(&self, entry: &LogEntry) -> Result<()> {
        self.execute(
            "INSERT INTO kagami_log_entries (kind, object_key, entry, leaf_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &entry.kind,
                &entry.key,
                &entry.entry,
                &entry.leaf_hash.as_bytes().as_slice(),
                &ts(entry.created_at),
            ],
        )
        .await
        .map(drop)
    }

    async fn try_lock_log(&self) -> Result<bool> {
        let row = self
            .query_opt(
                "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked",
                &[&SEQUENCER_LOCK],
            )
            .await?;
        row.map_or(Ok(false), |row| get(&row, "locked"))
    }

    async fn log_head(&self) -> Result<Option<LogHead>> {
        self.one(
            "SELECT tree_size, root, checkpoint FROM kagami_log_checkpoints \
             ORDER BY tree_size DESC LIMIT 1",
            &[],
            sql::log_head,
        )
        .await
    }

    async fn pending_log_entries(&self, limit: u32) -> Result<Vec<(i64, Hash)>> {
        self.all(
            "SELECT seq, leaf_hash FROM kagami_log_entries WHERE leaf_index IS NULL \
             ORDER BY seq LIMIT $1",
            &[&i64::from(limit)],
            |row| Ok((get(row, "seq")?, sql::get_hash(row, "leaf_hash")?)),
        )
        .await
    }

    async fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>> {
        let wanted = indexes_i64(indexes)?;
        let rows: Vec<(i64, Hash)> = self
            .all(
                "SELECT idx, hash FROM kagami_log_hashes WHERE idx = ANY($1)",
                &[&wanted],
                |row| Ok((get(row, "idx")?, sql::get_hash(row, "hash")?)),
            )
            .await?;
        let found: std::collections::HashMap<i64, Hash> = rows.into_iter().collect();
        wanted
            .iter()
            .map(|i| {
                found
                    .get(i)
                    .copied()
                    .ok_or_else(|| StoreError::internal(format!("log hash {i} is not stored")))
            })
            .collect()
    }

    async fn insert_log_hashes(&self, first: u64, hashes: &[Hash]) -> Result<()> {
        let first = to_i64(first, "log index")?;
        let values: Vec<&[u8]> = hashes.iter().map(|h| h.as_bytes().as_slice()).collect();
        self.execute(
            "INSERT INTO kagami_log_hashes (idx, hash) \
             SELECT $1 + ordinality - 1, hash FROM unnest($2::bytea[]) WITH ORDINALITY AS t(hash)",
            &[&first, &values],
        )
        .await
        .map(drop)
    }

    async fn set_log_indexes(&self, seqs: &[i64], first: u64, now: Timestamp) -> Result<()> {
        let first = to_i64(first, "log index")?;
        let rows = self
            .execute(
                "UPDATE kagami_log_entries AS e SET leaf_index = $2 + t.ordinality - 1, \
             integrated_at = $3 \
             FROM unnest($1::bigint[]) WITH ORDINALITY AS t(seq) \
             WHERE e.seq = t.seq AND e.leaf_index IS NULL",
                &[&seqs, &first, &ts(now)],
            )
            .await?;
        // Every entry the tree now holds got its index, or the transaction rolls back.
        if usize::try_from(rows).ok() != Some(seqs.len()) {
            return Err(StoreError::internal(format!(
                "{rows} of {} log entries were pending",
                seqs.len()
            )));
        }
        Ok(())
    }

    async fn insert_checkpoint(&self, head: &LogHead, now: Timestamp) -> Result<()> {
        self.execute(
            "INSERT INTO kagami_log_checkpoints (tree_size, root, checkpoint, created_at) \
             VALUES ($1, $2, $3, $4)",
            &[
                &to_i64(head.size, "tree size")?,
                &head.root.as_bytes().as_slice(),
                &head.checkpoint,
                &ts(now),
            ],
        )
        .await
        .map(drop)
    }

    async fn log_entries(&self, start: u64, end: u64) -> Result<Vec<LogEntry>> {
        self.all(
            concat!(
                "SELECT ",
                log_entry_columns!(),
                " FROM kagami_log_entries WHERE leaf_index >= $1 AND leaf_index < $2 \
                 ORDER BY leaf_index"
            ),
            &[&to_i64(start, "log index")?, &to_i64(end, "log index")?],
            sql::log_entry,
        )
        .await
    }

    async fn log_entry_by_leaf(&self, leaf: &Hash) -> Result<Option<LogEntry>> {
        self.one(
            concat!(
                "SELECT ",
                log_entry_columns!(),
                " FROM kagami_log_entries WHERE leaf_hash = $1 AND leaf_index IS NOT NULL \
                 ORDER BY leaf_index LIMIT 1"
            ),
            &[&leaf.as_bytes().as_slice()],
            sql::log_entry,
        )
        .await
    }

    async fn log_entry_of(&self, kind: &str, key: &str) -> Result<Option<LogEntry>> {
        self.one(
            concat!(
                "SELECT ",
                log_entry_columns!(),
                " FROM kagami_log_entries WHERE kind = $1 AND object_key = $2 \
                 ORDER BY seq LIMIT 1"
            ),
            &[&kind, &key],
            sql::log_entry,
        )
        .await
    }
}
